"""Intake through the Chalice app on moto: signed, validated, stored once, handed on."""
from __future__ import annotations

import json
import time

import pytest
from chalice.test import Client

from tests.conftest import PARTNER_CHANNELS, channel_fixture
from tests.integration.helpers import signed_post

CHANNELS = PARTNER_CHANNELS


@pytest.fixture
def client(aws):
    import app

    with Client(app.app) as c:
        yield c


def snapshot(aws):
    return (sorted(json.dumps(i, sort_keys=True, default=repr) for i in aws.table_items()),
            {q: aws.queue_depth(q) for q in aws.resources.queue_urls})


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_channel_is_taken_in_once_and_handed_to_dedup(aws, client, channel):
    resp = signed_post(client, aws.creds, channel, channel_fixture(channel))
    assert resp.status_code == 201, resp.body
    body = json.loads(resp.body)
    assert body["status"] == "accepted" and body["channel"] == channel
    kinds = sorted(i["kind"]["S"] for i in aws.table_items() if i["PK"]["S"].startswith("APPEAL#"))
    assert kinds.count("appeal") == 1 and kinds.count("event") == 1 and kinds.count("outbox") == 2
    [msg] = aws.receive("dedup")
    assert json.loads(msg["Body"])["appeal_id"] == body["appeal_id"]
    [note] = aws.receive("notify")
    assert json.loads(note["Body"])["status"] == "accepted"


def test_retry_with_same_ticket_returns_same_answer_and_writes_nothing_new(aws, client):
    payload = channel_fixture("hotline")
    first = signed_post(client, aws.creds, "hotline", payload)
    before = snapshot(aws)
    again = signed_post(client, aws.creds, "hotline", payload)  # a new nonce, as a real retry
    assert (again.status_code, json.loads(again.body)) == (first.status_code, json.loads(first.body))
    items, queues = snapshot(aws)
    assert queues == before[1]
    assert len([i for i in items if '"appeal"' in i]) == 1


def test_same_ticket_different_payload_is_409_naming_ticket(aws, client):
    payload = channel_fixture("hotline")
    signed_post(client, aws.creds, "hotline", payload)
    changed = dict(payload, sqnr=payload["sqnr"] + "（补充）")
    resp = signed_post(client, aws.creds, "hotline", changed)
    assert resp.status_code == 409
    assert json.loads(resp.body)["error"]["field"] == "ticket_id"


def test_party_data_is_encrypted_and_never_stored_in_clear(aws, client):
    payload = channel_fixture("hotline")
    signed_post(client, aws.creds, "hotline", payload)
    dump = json.dumps(aws.table_items(), ensure_ascii=False, default=repr)
    for secret in (payload["zjhm"], payload["lxdh"], payload["ldrxm"]):
        assert secret not in dump
    party = [i for i in aws.table_items() if i["SK"]["S"] == "PARTY"][0]
    assert party["id_hash"]["S"] and party["id_hint"]["S"].startswith(payload["zjhm"][:6])
    from chalicelib.storage import pii

    restored = pii.decrypt_party(party["wrapped_key"]["B"], party["nonce"]["B"], party["ciphertext"]["B"],
                                 party["appeal_id"]["S"])
    assert restored.id_number == payload["zjhm"]


BAD_SIGNATURES = {
    "wrong_secret": dict(secret="not-the-secret"),
    "unknown_key": dict(key_id="someone-else"),
    "stale": dict(now=time.time() - 600),
    "future": dict(now=time.time() + 600),
    "missing_signature": dict(headers_override={"X-Jiesu-Signature": ""}),
    "missing_nonce": dict(headers_override={"X-Jiesu-Nonce": ""}),
}


@pytest.mark.parametrize("case", sorted(BAD_SIGNATURES))
def test_bad_signatures_are_401_and_change_nothing(aws, client, case):
    before = snapshot(aws)
    resp = signed_post(client, aws.creds, "hotline", channel_fixture("hotline"), **BAD_SIGNATURES[case])
    assert resp.status_code == 401
    err = json.loads(resp.body)["error"]
    assert err["field"].startswith("X-Jiesu-") and err["code"]
    assert "secret" not in resp.body.decode().lower() or case == "wrong_secret" and "not-the-secret" not in resp.body.decode()
    assert snapshot(aws) == before


def test_a_nonce_seen_twice_is_refused(aws, client):
    import app as chalice_app  # noqa: F401
    from chalicelib.channels.signing import signed_headers

    payload = channel_fixture("hotline")
    body = json.dumps(payload, ensure_ascii=False).encode()
    kid, sec = aws.creds["hotline"]
    headers = {"Content-Type": "application/json",
               **signed_headers(kid, sec, "POST", "/channels/hotline/appeals", body)}
    assert client.http.post("/channels/hotline/appeals", headers=headers, body=body).status_code == 201
    replay = client.http.post("/channels/hotline/appeals", headers=headers, body=body)
    assert replay.status_code == 401
    assert json.loads(replay.body)["error"]["code"] == "replayed_nonce"


BAD_BODIES = {
    "not_json": (b"{not json", "body", 400),
    "array": (b"[1,2]", "body", 400),
    "missing_ticket": (None, "gdbh", 400),
    "wrong_type": (None, "ldsj", 400),
    "oversized": (b"{" + b" " * (70 * 1024) + b"}", "body", 413),
    "not_utf8": (b"\xff\xfe{}", "body", 400),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_bodies_get_4xx_naming_the_field_and_change_nothing(aws, client, case):
    raw, field, status = BAD_BODIES[case]
    payload = channel_fixture("hotline")
    if case == "missing_ticket":
        payload.pop("gdbh")
    if case == "wrong_type":
        payload["ldsj"] = 12345
    before = snapshot(aws)
    resp = signed_post(client, aws.creds, "hotline", payload, raw=raw)
    assert resp.status_code == status, resp.body
    assert json.loads(resp.body)["error"]["field"] == field
    assert snapshot(aws) == before


def test_unknown_channel_and_wrong_content_type(aws, client):
    before = snapshot(aws)
    resp = signed_post(client, aws.creds, "hotline", channel_fixture("hotline"), path_channel="fax")
    assert resp.status_code == 404 and json.loads(resp.body)["error"]["field"] == "channel"
    resp = signed_post(client, aws.creds, "hotline", channel_fixture("hotline"), content_type="text/plain")
    assert resp.status_code == 415 and json.loads(resp.body)["error"]["field"] == "Content-Type"
    assert snapshot(aws) == before


def test_a_failed_handoff_is_repaired_by_the_outbox_sweep(aws, client, monkeypatch):

    from chalicelib.services import outbox
    from chalicelib.services.clock import FixedClock, SYSTEM_CLOCK
    from chalicelib.storage import queues

    real_send = queues.send

    def broken(*args, **kwargs):
        raise ConnectionError("SQS unreachable")

    monkeypatch.setattr(queues, "send", broken)
    resp = signed_post(client, aws.creds, "hotline", channel_fixture("hotline"))
    assert resp.status_code == 201  # the appeal is safe in the table even though the hand-off failed
    assert aws.queue_depth("dedup") == 0
    monkeypatch.setattr(queues, "send", real_send)

    clock = FixedClock(SYSTEM_CLOCK.now())
    assert outbox.sweep(clock) == {"resent": 0, "abandoned": 0}  # still inside the grace period
    clock.advance(minutes=6)
    assert outbox.sweep(clock)["resent"] == 2
    [msg] = aws.receive("dedup")
    assert json.loads(msg["Body"])["appeal_id"] == json.loads(resp.body)["appeal_id"]
    assert outbox.sweep(clock)["resent"] == 0  # re-sent ones wait out a fresh grace period
