"""bench/capacity.py counts real requests on moto: boto3 clients and PynamoDB, transactions, queries."""
from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws
from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from bench import capacity
from bench.capacity import CapacityMeter

TABLE = "capacity-hook-test"


class ByG(GlobalSecondaryIndex):
    class Meta:
        index_name = "ByG"
        projection = AllProjection()

    g = UnicodeAttribute(hash_key=True)


class Thing(Model):
    class Meta:
        table_name = TABLE
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    g = UnicodeAttribute(null=True)
    body = UnicodeAttribute(null=True)
    by_g = ByG()


@pytest.fixture
def ddb():
    with mock_aws():
        Thing.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield boto3.client("dynamodb", region_name="us-east-1")


def body_of(total: int, pk: str, sk: str, g: str | None = None) -> str:
    """A body that makes Thing(pk, sk, g, body) exactly `total` bytes."""
    fixed = (2 + len(pk)) + (2 + len(sk)) + ((1 + len(g)) if g else 0) + 4
    return "y" * (total - fixed)


def test_pynamodb_put_get_query_update_and_delete(ddb):
    with CapacityMeter() as meter:
        Thing("a", "1", g="G", body=body_of(1500, "a", "1", "G")).save()        # 2 + GSI 2
        Thing("a", "2", body=body_of(3000, "a", "2")).save()                     # 3, not in the GSI
        Thing.get("a", "1", consistent_read=True)                                # 1
        Thing.get("a", "2")                                                      # 0.5 (eventual)
        assert len(list(Thing.query("a"))) == 2                                  # 4,500 B: 2 x 0.5
        assert len(list(Thing.by_g.query("G"))) == 1                             # 0.5
        Thing("a", "2").update(actions=[Thing.g.set("H")])                       # 3 + GSI appears 3
        Thing("a", "1").delete()                                                 # 2 + GSI entry 2
    snap = meter.snapshot()
    assert snap["requests_by_op"] == {"DeleteItem": 1, "GetItem": 2, "PutItem": 2, "Query": 2, "UpdateItem": 1}
    assert snap["units_by_op"]["PutItem"]["write"] == 7
    assert snap["units_by_op"]["GetItem"]["read"] == 1.5
    assert snap["units_by_op"]["Query"]["read"] == 1.5
    assert snap["units_by_op"]["UpdateItem"]["write"] == 6
    assert snap["units_by_op"]["DeleteItem"]["write"] == 4
    assert (snap["read_units"], snap["write_units"]) == (3.0, 17.0)
    assert snap["approximate"] == 0 and snap["errors"] == {}


def test_pynamodb_transaction_doubles_items_and_charges_condition_checks_as_writes(ddb):
    Thing("a", "1", g="G", body=body_of(1500, "a", "1", "G")).save()
    Thing("c", "1", g="G", body=body_of(900, "c", "1", "G")).save()
    with CapacityMeter() as meter:
        with TransactWrite(connection=Thing._get_connection().connection) as tx:
            tx.save(Thing("b", "1", body="x"), condition=Thing.pk.does_not_exist())  # 2 x 1
            tx.condition_check(Thing, "a", "1", condition=Thing.pk.exists())         # 2 x 2 (1,500 B item)
            tx.update(Thing("c", "1"), actions=[Thing.body.set(body_of(2500, "c", "1", "G"))])
            # update: 2 x 3 (2,500 B after); GSI entry rewritten once at the standard rate: 3
    snap = meter.snapshot()
    assert snap["requests_by_op"] == {"TransactWriteItems": 1}
    assert snap["write_units"] == 2 + 4 + 6 + 3


def test_cancelled_transaction_and_failed_condition_still_cost_writes(ddb):
    Thing("a", "1", body=body_of(2500, "a", "1")).save()
    with CapacityMeter() as meter:
        with pytest.raises(PutError):
            Thing("a", "1", body="new").save(condition=Thing.pk.does_not_exist())     # 3: existing item
        with pytest.raises(TransactWriteError):
            with TransactWrite(connection=Thing._get_connection().connection) as tx:
                tx.save(Thing("a", "1"), condition=Thing.pk.does_not_exist())          # prepare: 3
                tx.save(Thing("z", "9"))                                              # prepare: 1
    snap = meter.snapshot()
    assert snap["units_by_op"]["PutItem"]["write"] == 3
    assert snap["units_by_op"]["TransactWriteItems"]["write"] == 4
    assert set(snap["errors"]) == {"PutItem:ConditionalCheckFailedException",
                                   "TransactWriteItems:TransactionCanceledException"}


def test_raw_client_batch_and_transact_get(ddb):
    item = lambda pk: {"pk": {"S": pk}, "sk": {"S": "1"}, "body": {"S": "z" * 5000}}  # 5,012 B
    with CapacityMeter() as meter:
        ddb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": item(p)}} for p in "pqr"]})  # 3 x 5
        got = ddb.batch_get_item(RequestItems={TABLE: {"Keys": [
            {"pk": {"S": p}, "sk": {"S": "1"}} for p in "pqx"]}})                   # 2 x 1 (EC of 8 KB) + 0.5
        assert len(got["Responses"][TABLE]) == 2
        ddb.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": {"pk": {"S": "p"},
                                                                                    "sk": {"S": "1"}}}}])  # 2 x 2
        ddb.scan(TableName=TABLE, ConsistentRead=True)                          # 15,036 B: 4
        ddb.describe_table(TableName=TABLE)                                     # a request, no units
    snap = meter.snapshot()
    assert snap["units_by_op"]["BatchWriteItem"]["write"] == 15
    assert snap["units_by_op"]["BatchGetItem"]["read"] == 2.5
    assert snap["units_by_op"]["TransactGetItems"]["read"] == 4
    assert snap["units_by_op"]["Scan"]["read"] == 4
    assert snap["requests_by_op"]["DescribeTable"] == 1
    assert snap["read_units"] == 10.5 and snap["write_units"] == 15


def test_idle_meters_count_nothing_install_is_idempotent_and_reset_clears(ddb):
    capacity.install()
    capacity.install()
    meter = CapacityMeter()
    Thing("a", "1").save()                       # before start: not counted
    meter.start()
    Thing("a", "2").save()
    meter.stop()
    Thing("a", "3").save()                       # after stop: not counted
    assert meter.snapshot()["requests_by_op"] == {"PutItem": 1} and meter.snapshot()["write_units"] == 1
    meter.reset()
    assert meter.snapshot()["requests"] == 0 and meter.snapshot()["write_units"] == 0


def test_concurrent_threads_are_all_counted(ddb):
    def work(i):
        for j in range(5):
            Thing(f"t{i}", str(j)).save()

    with CapacityMeter() as meter:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert meter.snapshot()["requests_by_op"] == {"PutItem": 20}
    assert meter.snapshot()["write_units"] == 20
