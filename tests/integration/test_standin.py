"""The stand-in keeps what it acknowledged: restart it (even after SIGKILL) and read it all back."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import boto3
import pytest

from infra import standin
from tests.e2e.conftest import free_port



class StandInProcess(standin.StandInProcess):
    """The stand-in as `make run` starts it (a child process), with boto3 clients for the test."""

    def __init__(self, state: Path):
        super().__init__(free_port(), state_file=state)

    def __enter__(self):
        self.start()
        return self

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")

    def stop(self, sig=signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=10)

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _table(ddb) -> None:
    ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "G")],
                     KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                     GlobalSecondaryIndexes=[{"IndexName": "GSI1", "Projection": {"ProjectionType": "ALL"},
                                              "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"},
                                                            {"AttributeName": "SK", "KeyType": "RANGE"}]}])


def test_every_kind_of_state_survives_a_restart(tmp_path):
    state = tmp_path / "state.sqlite3"
    with StandInProcess(state) as s:
        ddb, kms, sm, sqs, s3 = (s.client(n) for n in ("dynamodb", "kms", "secretsmanager", "sqs", "s3"))
        _table(ddb)
        ddb.put_item(TableName="t", Item={"PK": {"S": "A#1"}, "SK": {"S": "v"}, "G": {"S": "g"}, "n": {"N": "1"}})
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {"PK": {"S": "A#2"}, "SK": {"S": "v"}, "G": {"S": "g"}}}},
            {"Update": {"TableName": "t", "Key": {"PK": {"S": "A#1"}, "SK": {"S": "v"}},
                        "UpdateExpression": "SET n = n + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}}])
        ddb.put_item(TableName="t", Item={"PK": {"S": "gone"}, "SK": {"S": "v"}})
        ddb.delete_item(TableName="t", Key={"PK": {"S": "gone"}, "SK": {"S": "v"}})
        with pytest.raises(ddb.exceptions.TransactionCanceledException):  # refused: nothing of it is kept
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": "t", "Item": {"PK": {"S": "A#3"}, "SK": {"S": "v"}}}},
                {"Put": {"TableName": "t", "Item": {"PK": {"S": "A#2"}, "SK": {"S": "v"}},
                         "ConditionExpression": "attribute_not_exists(PK)"}}])
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/pii", TargetKeyId=key_id)
        blob = kms.encrypt(KeyId="alias/pii", Plaintext=b"440305199001011234",
                           EncryptionContext={"appeal": "A#1"})["CiphertextBlob"]
        sm.create_secret(Name="jiesu/x", SecretString="s3cret")
        q = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=q, MessageBody=json.dumps({"appeal_id": "A#1"}))
        sqs.send_message(QueueUrl=q, MessageBody="second")
        got = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=1, VisibilityTimeout=0)["Messages"][0]
        sqs.delete_message(QueueUrl=q, ReceiptHandle=got["ReceiptHandle"])
        s3.create_bucket(Bucket="packs")
        s3.put_object(Bucket="packs", Key="shenzhen/v1.tgz", Body=b"pack-bytes")
        s.stop()

    with StandInProcess(state) as s:
        ddb, kms, sm, sqs, s3 = (s.client(n) for n in ("dynamodb", "kms", "secretsmanager", "sqs", "s3"))
        items = {i["PK"]["S"]: i for i in ddb.scan(TableName="t")["Items"]}
        assert sorted(items) == ["A#1", "A#2"]
        assert items["A#1"]["n"] == {"N": "2"}
        by_index = ddb.query(TableName="t", IndexName="GSI1", KeyConditionExpression="G = :g",
                             ExpressionAttributeValues={":g": {"S": "g"}})["Items"]
        assert sorted(i["PK"]["S"] for i in by_index) == ["A#1", "A#2"]
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"appeal": "A#1"})["Plaintext"] == b"440305199001011234"
        assert sm.get_secret_value(SecretId="jiesu/x")["SecretString"] == "s3cret"
        q = sqs.get_queue_url(QueueName="q")["QueueUrl"]
        left = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10)["Messages"]
        assert [m["Body"] for m in left] == ["second"]
        assert s3.get_object(Bucket="packs", Key="shenzhen/v1.tgz")["Body"].read() == b"pack-bytes"


def test_what_was_acknowledged_survives_sigkill_right_after(tmp_path):
    state = tmp_path / "state.sqlite3"
    with StandInProcess(state) as s:
        ddb, sqs = s.client("dynamodb"), s.client("sqs")
        _table(ddb)
        q = sqs.create_queue(QueueName="q")["QueueUrl"]
        for i in range(50):
            ddb.put_item(TableName="t", Item={"PK": {"S": f"A#{i}"}, "SK": {"S": "v"}})
        sqs.send_message(QueueUrl=q, MessageBody="last")
        s.proc.send_signal(signal.SIGKILL)  # no chance to flush anything: the answer came after the write
        s.proc.wait()
    with StandInProcess(state) as s:
        assert s.client("dynamodb").scan(TableName="t", Select="COUNT")["Count"] == 50
        q = s.client("sqs").get_queue_url(QueueName="q")["QueueUrl"]
        assert [m["Body"] for m in s.client("sqs").receive_message(QueueUrl=q)["Messages"]] == ["last"]


def test_long_polls_wait_outside_the_lock_and_wake_on_a_send(tmp_path):
    with StandInProcess(tmp_path / "state.sqlite3") as s:
        sqs, ddb = s.client("sqs"), s.client("dynamodb")
        _table(ddb)
        q = sqs.create_queue(QueueName="q")["QueueUrl"]
        import threading

        got = {}

        def poll():
            started = time.monotonic()
            got["msgs"] = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=5).get("Messages", [])
            got["waited"] = time.monotonic() - started

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)
        started = time.monotonic()
        ddb.put_item(TableName="t", Item={"PK": {"S": "x"}, "SK": {"S": "y"}})  # not blocked by the poll
        put_took = time.monotonic() - started
        sqs.send_message(QueueUrl=q, MessageBody="wake")
        t.join(10)
        assert put_took < 1.0
        assert [m["Body"] for m in got["msgs"]] == ["wake"]
        assert got["waited"] < 3.0


def test_a_queue_still_redrives_to_its_dlq_after_a_restart(tmp_path):
    state = tmp_path / "state.sqlite3"
    with StandInProcess(state) as s:
        sqs = s.client("sqs")
        dlq = sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        q = sqs.create_queue(QueueName="work", Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2})})["QueueUrl"]
        sqs.send_message(QueueUrl=q, MessageBody="poison")
        assert len(sqs.receive_message(QueueUrl=q, VisibilityTimeout=0)["Messages"]) == 1  # first try
        s.stop()
    with StandInProcess(state) as s:
        sqs = s.client("sqs")
        q, dlq = (sqs.get_queue_url(QueueName=n)["QueueUrl"] for n in ("work", "work-dlq"))
        assert len(sqs.receive_message(QueueUrl=q, VisibilityTimeout=0)["Messages"]) == 1  # second try
        assert sqs.receive_message(QueueUrl=q).get("Messages", []) == []  # moved on the third
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0)["Messages"]] == ["poison"]
        s.stop()
    with StandInProcess(state) as s:  # and the move itself was kept
        sqs = s.client("sqs")
        dlq = sqs.get_queue_url(QueueName="work-dlq")["QueueUrl"]
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0)["Messages"]] == ["poison"]
