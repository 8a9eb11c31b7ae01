"""Status callbacks: signed, once per (appeal, status), retried with backoff, then the DLQ."""
from __future__ import annotations

import json

import pytest
from chalice.test import Client

from tests.conftest import channel_fixture
from tests.integration.helpers import signed_post, status_notices


@pytest.fixture
def accepted(aws):
    import app

    with Client(app.app) as c:
        resp = signed_post(c, aws.creds, "hotline", channel_fixture("hotline"))
    return json.loads(resp.body)["appeal_id"]


def runner(aws):
    from infra.runner import Runner

    return Runner(aws.session, aws.resources.queue_urls, aws.resources.rule_names, log=lambda *_: None, wait_s=0)


def notify_fn():
    from infra.spec import SPEC

    return next(f for f in SPEC.functions if f.name == "notify")


def test_delivered_once_per_status_even_when_redelivered(aws, accepted, monkeypatch):
    from chalicelib.services import notify

    calls = []
    monkeypatch.setattr(notify, "http_post", lambda url, body, headers: calls.append((url, body, headers))
                        or notify.HttpResult(204))
    [msg] = aws.receive("notify")
    from functions.notify.handler import lambda_handler
    from infra.runner import sqs_event

    event = sqs_event([msg], "arn:aws:sqs:us-east-1:123456789012:jiesu-test-notify", "us-east-1")
    assert lambda_handler(event, None) == {"batchItemFailures": []}
    assert lambda_handler(event, None) == {"batchItemFailures": []}  # redelivered: nothing sent again
    assert len(calls) == 1
    url, body, headers = calls[0]
    assert json.loads(body)["status"] == "accepted" and headers["Idempotency-Key"] == f"{accepted}:1:accepted"
    assert headers["X-Jiesu-Signature"]


def test_a_refusing_partner_gets_retries_with_backoff_then_the_message_goes_to_the_dlq(aws, accepted, monkeypatch):
    from chalicelib.services import notify

    attempts = []
    monkeypatch.setattr(notify, "http_post", lambda url, body, headers: attempts.append(1) or notify.HttpResult(503))
    delays = []
    real = notify.backoff_seconds
    monkeypatch.setattr(notify, "backoff_seconds", lambda n: delays.append(real(n)) or 0)
    r = runner(aws)  # the real notify handler, with the real backoff policy observed
    for _ in range(8):
        r.poll_once(notify_fn())
    assert len(attempts) == 5  # maxReceiveCount
    assert delays[:4] == [10, 20, 40, 80]
    assert aws.queue_depth("notify") == 0 and aws.queue_depth("notify", dlq=True) == 1
    from chalicelib.storage import repository

    [notice] = status_notices(accepted)
    assert notice["status"] == "accepted" and notice["done_at"] is None  # still owed, visible to ops
