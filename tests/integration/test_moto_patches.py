"""infra/moto_patches changes no DynamoDB or SQS behaviour: one scenario, stock and patched moto, same answers."""
from __future__ import annotations

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from infra import moto_patches


def _s(v: str) -> dict:
    return {"S": v}


def scenario() -> list:
    """Conditions, transactions (success, cancellation, rollback of earlier actions), GSIs, paging,
    base-table queries in both directions with every key condition, SQS redrive and double delete."""
    out: list = []
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "G")],
                     KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                     GlobalSecondaryIndexes=[{"IndexName": "GSI1", "Projection": {"ProjectionType": "ALL"},
                                              "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"},
                                                            {"AttributeName": "SK", "KeyType": "RANGE"}]}])
    for i in range(12):
        ddb.put_item(TableName="t", Item={"PK": _s("P"), "SK": _s(f"E#{i:03d}"), "G": _s(f"g{i % 3}"), "n": {"N": str(i)}})
    ddb.put_item(TableName="t", Item={"PK": _s("Q"), "SK": _s("E#000"), "G": _s("g0")})

    def err(fn, **kw):
        try:
            return {k: v for k, v in fn(**kw).items() if k != "ResponseMetadata"}
        except ClientError as exc:
            return {"error": exc.response["Error"]["Code"],
                    "reasons": [r.get("Code") for r in exc.response.get("CancellationReasons", [])]}

    out.append(err(ddb.put_item, TableName="t", Item={"PK": _s("P"), "SK": _s("E#000")},
                   ConditionExpression="attribute_not_exists(PK)"))
    # cancelled: the first action's put and the update must be rolled back
    out.append(err(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": "t", "Item": {"PK": _s("P"), "SK": _s("E#100"), "G": _s("g9")}}},
        {"Update": {"TableName": "t", "Key": {"PK": _s("P"), "SK": _s("E#001")}, "UpdateExpression": "SET n = :z",
                    "ExpressionAttributeValues": {":z": {"N": "99"}}}},
        {"Delete": {"TableName": "t", "Key": {"PK": _s("P"), "SK": _s("E#002")}}},
        {"ConditionCheck": {"TableName": "t", "Key": {"PK": _s("Q"), "SK": _s("E#000")},
                            "ConditionExpression": "attribute_not_exists(PK)"}}]))
    out.append(err(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": "t", "Item": {"PK": _s("P"), "SK": _s("E#200"), "G": _s("g1")},
                 "ConditionExpression": "attribute_not_exists(PK)"}},
        {"Update": {"TableName": "t", "Key": {"PK": _s("P"), "SK": _s("E#003")}, "UpdateExpression": "SET n = n + :o",
                    "ExpressionAttributeValues": {":o": {"N": "1"}}}},
        {"Delete": {"TableName": "t", "Key": {"PK": _s("P"), "SK": _s("E#004")}}}]))
    out.append(err(ddb.transact_write_items, TransactItems=[  # two actions on one item
        {"Put": {"TableName": "t", "Item": {"PK": _s("P"), "SK": _s("E#300")}}},
        {"Delete": {"TableName": "t", "Key": {"PK": _s("P"), "SK": _s("E#300")}}}]))
    out.append(sorted((i["PK"]["S"], i["SK"]["S"], i.get("n", {}).get("N", "-")) for i in ddb.scan(TableName="t")["Items"]))
    conditions = [("PK = :p", {}), ("PK = :p AND SK > :a", {":a": _s("E#005")}),
                  ("PK = :p AND SK >= :a", {":a": _s("E#005")}), ("PK = :p AND SK < :a", {":a": _s("E#005")}),
                  ("PK = :p AND SK <= :a", {":a": _s("E#005")}), ("PK = :p AND SK = :a", {":a": _s("E#005")}),
                  ("PK = :p AND SK BETWEEN :a AND :b", {":a": _s("E#003"), ":b": _s("E#008")}),
                  ("PK = :p AND begins_with(SK, :a)", {":a": _s("E#01")})]
    for expr, values in conditions:
        for forward in (True, False):
            for limit in (None, 1, 3, 50):
                kw = {"Limit": limit} if limit else {}
                pages, start = [], None
                while True:
                    resp = ddb.query(TableName="t", KeyConditionExpression=expr, ScanIndexForward=forward,
                                     ExpressionAttributeValues={":p": _s("P"), **values},
                                     **kw, **({"ExclusiveStartKey": start} if start else {}))
                    pages.append([i["SK"]["S"] for i in resp["Items"]])
                    start = resp.get("LastEvaluatedKey")
                    if not start:
                        break
                out.append((expr, forward, limit, pages))
    out.append([i["SK"]["S"] for i in ddb.query(
        TableName="t", KeyConditionExpression="PK = :p", FilterExpression="n > :n", Limit=4,
        ExpressionAttributeValues={":p": _s("P"), ":n": {"N": "5"}})["Items"]])
    out.append([(i["PK"]["S"], i["SK"]["S"]) for i in ddb.query(
        TableName="t", IndexName="GSI1", KeyConditionExpression="G = :g", ScanIndexForward=False,
        ExpressionAttributeValues={":g": _s("g0")})["Items"]])

    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.create_queue(QueueName="d")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q = sqs.create_queue(QueueName="q", Attributes={
        "RedrivePolicy": f'{{"deadLetterTargetArn": "{arn}", "maxReceiveCount": 2}}'})["QueueUrl"]
    sqs.send_message(QueueUrl=q, MessageBody="poison")
    sqs.send_message(QueueUrl=q, MessageBody="good")
    for _ in range(3):
        for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", []):
            if m["Body"] == "good":
                sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
                sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])  # a second delete succeeds
    out.append([m["Body"] for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])])
    return out


def run(patched: bool) -> list:
    if patched:
        moto_patches.apply()
    else:
        moto_patches.revert()
    try:
        with mock_aws():
            return scenario()
    finally:
        moto_patches.apply()  # the suite runs patched (tests/conftest.py)


def test_patched_moto_answers_exactly_as_stock_moto():
    stock, patched = run(False), run(True)
    assert stock[1]["error"] == "TransactionCanceledException"  # the scenario does exercise cancellation
    assert stock == patched


def test_patches_are_in_place_and_revert_cleanly():
    import moto.dynamodb.models as mm

    moto_patches.apply()
    patched = mm.DynamoDBBackend.transact_write_items
    moto_patches.revert()
    try:
        assert mm.DynamoDBBackend.transact_write_items is not patched
    finally:
        moto_patches.apply()
    assert getattr(mm.DynamoDBBackend.transact_write_items, "__name__", "") == "transact_write_items"
    assert mm.copy is not __import__("copy")  # the table-copy guard is back
