"""The outbox repair sweep gives a hand-off up after `outbox_max_resends` re-sends (on moto, through
functions/outbox/handler with EventBridge's Scheduled Event): closed as abandoned, off the repair
index, never sent again, and one error line that names ids only."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from chalice.test import Client

from tests.conftest import channel_fixture
from tests.integration.helpers import signed_post

RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/jiesu-test-outbox"


@pytest.fixture
def client(aws):
    import app

    with Client(app.app) as c:
        yield c


def run_sweep() -> dict:
    """One schedule firing into the real handler (it reads the system clock)."""
    from functions.outbox import handler
    from infra.runner import LambdaContext, scheduled_event
    from infra.spec import SPEC

    fn = next(f for f in SPEC.functions if f.name == "outbox")
    return handler.lambda_handler(scheduled_event(RULE_ARN, "us-east-1", datetime.now(timezone.utc)),
                                  LambdaContext(fn, "us-east-1", "aws"))


def outbox_row(aws, appeal_id: str, sk: str) -> dict:
    return aws.session.client("dynamodb").get_item(
        TableName=aws.resources.table_name, Key={"PK": {"S": f"APPEAL#{appeal_id}"}, "SK": {"S": sk}},
        ConsistentRead=True)["Item"]


def age(aws, appeal_id: str, sk: str, minutes: int = 60) -> None:
    """Move a pending hand-off's place in the repair index back, past the grace period (what the
    passing of time does; the sweep itself reads the system clock)."""
    old = (datetime.now(timezone.utc) - timedelta(minutes=minutes)).isoformat(timespec="milliseconds")
    aws.session.client("dynamodb").update_item(
        TableName=aws.resources.table_name, Key={"PK": {"S": f"APPEAL#{appeal_id}"}, "SK": {"S": sk}},
        UpdateExpression="SET GSI1SK = :old", ConditionExpression="attribute_exists(GSI1PK)",
        ExpressionAttributeValues={":old": {"S": f"{old}#{appeal_id}"}})


def drain(aws, queue: str) -> list[dict]:
    sqs = aws.session.client("sqs")
    got = []
    while msgs := aws.receive(queue):
        for m in msgs:
            got.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=aws.resources.queue_urls[queue], ReceiptHandle=m["ReceiptHandle"])
    return got


def test_a_handoff_is_resent_max_times_then_abandoned_and_never_sent_again(aws, client, caplog):
    from chalicelib.settings import get_settings

    max_resends = get_settings().outbox_max_resends
    assert max_resends == 5
    payload = channel_fixture("hotline")
    resp = signed_post(client, aws.creds, "hotline", payload)
    assert resp.status_code == 201, resp.body
    appeal_id = json.loads(resp.body)["appeal_id"]
    dedup_sk = "OUT#dedup#1"
    # Nobody consumes the queues here, so both hand-offs of intake stay open.
    assert [m["appeal_id"] for m in drain(aws, "dedup")] == [appeal_id]
    assert [m["status"] for m in drain(aws, "notify")] == ["accepted"]

    for n in range(1, max_resends + 1):
        age(aws, appeal_id, dedup_sk)
        assert run_sweep() == {"resent": 1, "abandoned": 0}, n
        assert [m["appeal_id"] for m in drain(aws, "dedup")] == [appeal_id]
        row = outbox_row(aws, appeal_id, dedup_sk)
        assert int(row["resends"]["N"]) == n and "done_at" not in row
        assert run_sweep() == {"resent": 0, "abandoned": 0}   # a re-sent one waits out a fresh grace period

    caplog.clear()
    age(aws, appeal_id, dedup_sk)
    before = datetime.now(timezone.utc)
    assert run_sweep() == {"resent": 0, "abandoned": 1}
    after = datetime.now(timezone.utc)

    row = outbox_row(aws, appeal_id, dedup_sk)
    assert int(row["resends"]["N"]) == max_resends
    assert "GSI1PK" not in row and "GSI1SK" not in row          # off the repair index
    closed, _, at = row["done_at"]["S"].partition(":")
    assert closed == "abandoned" and before - timedelta(milliseconds=1) <= datetime.fromisoformat(at) <= after
    assert drain(aws, "dedup") == [] and drain(aws, "notify") == []

    from chalicelib.observability import logger

    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    line = json.loads(logger.registered_formatter.format(record))   # the line as the function writes it
    assert line["message"] == "hand-off abandoned after repeated re-sends"
    assert {k: line[k] for k in ("level", "appeal_id", "queue")} == {"level": "ERROR", "appeal_id": appeal_id,
                                                                        "queue": "dedup"}
    assert set(line) <= {"level", "location", "message", "timestamp", "service", "appeal_id", "queue",
                         "function_name", "function_memory_size", "function_arn", "function_request_id",
                         "cold_start", "xray_trace_id", "sampling_rate"}
    written = json.dumps(line, ensure_ascii=False)
    for personal in (payload["ldrxm"], payload["lxdh"], payload["zjhm"], payload["sqnr"], payload["fsdz"]):
        assert personal not in written

    # Later sweeps never see it again, however old it gets; the other hand-off is untouched.
    assert run_sweep() == {"resent": 0, "abandoned": 0}
    assert drain(aws, "dedup") == []
    status_rows = [i for i in aws.table_items()
                   if i["PK"]["S"] == f"APPEAL#{appeal_id}" and i["SK"]["S"].startswith("OUT#status#")]
    assert [("done_at" in r, int(r.get("resends", {"N": "0"})["N"])) for r in status_rows] == [(False, 0)]
