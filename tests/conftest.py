"""Shared fixtures: an in-process moto stack built from the spec (integration tests)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REGION_DIR = ROOT / "regions" / "shenzhen"
EVENTS = Path(__file__).resolve().parent / "events"

from infra.local import offline_aws_env  # noqa: E402 - must run before chalicelib is imported

offline_aws_env("test")

from infra import moto_patches  # noqa: E402
from chalicelib.policy import runtime  # noqa: E402
from chalicelib.policy.pack.parse import read_pack  # noqa: E402

# The tests run on moto as the stand-in runs it (tests/integration/test_moto_patches.py checks
# that the patches change no DynamoDB or SQS behaviour).
moto_patches.apply()


@dataclass
class AwsStack:
    session: object
    resources: object
    creds: dict

    def queue_depth(self, name: str, dlq: bool = False) -> int:
        sqs = self.session.client("sqs")
        url = (self.resources.dlq_urls if dlq else self.resources.queue_urls)[name]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def receive(self, name: str, max_messages: int = 10) -> list[dict]:
        sqs = self.session.client("sqs")
        msgs = sqs.receive_message(QueueUrl=self.resources.queue_urls[name], MaxNumberOfMessages=max_messages,
                                   AttributeNames=["All"]).get("Messages", [])
        return msgs

    def table_items(self) -> list[dict]:
        ddb = self.session.client("dynamodb")
        return ddb.scan(TableName=self.resources.table_name)["Items"]


@pytest.fixture
def aws():
    """Moto in-process with every resource of the spec and the demo region's channels.

    Stages run on the region's runtime; here it is built from the repo's demo folder as pack
    version 1 without loading it (tests/integration/test_region_admin.py covers loading packs
    for real). The runtime stays cached across tests (same version); every test has a fresh
    table, so its corrections are read from the start again.
    """
    import boto3
    from moto import mock_aws

    runtime.serve_packs({"shenzhen": demo_pack()})
    runtime.rewind_corrections()
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        from infra.local import in_process_stack, register_channels, reset_process_caches

        res = in_process_stack(session)
        creds = register_channels(session, REGION_DIR, "test", callback_url="http://127.0.0.1:9/callbacks")
        yield AwsStack(session, res, creds)
        reset_process_caches()
    runtime.serve_packs(None)


@lru_cache(maxsize=1)
def demo_pack():
    """The repo's Shenzhen folder as a parsed pack, version 1 (parsed once per test session)."""
    return read_pack(REGION_DIR).with_version(1)


@pytest.fixture
def fixed_now():
    return datetime(2026, 5, 6, 2, 30, tzinfo=timezone.utc)


# Every partner channel the platform takes (F-IN-1), each with a sample at tests/events/channels/.
PARTNER_CHANNELS = ["hotline", "app", "wechat", "web", "mailbox", "leader_board", "grid", "police", "deputy",
                    "party", "qrcode", "mediation"]


def channel_fixture(code: str) -> dict:
    return json.loads((EVENTS / "channels" / f"{code}.json").read_text(encoding="utf-8"))
