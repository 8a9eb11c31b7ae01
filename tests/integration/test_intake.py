"""Intake through the Chalice app on moto: signed, validated, stored once, handed on."""
from __future__ import annotations

from chalicelib.bootstrap import bootstrap
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
    # the dedup stage's hand-off, the "accepted" notice and the analytics stage's hand-off
    assert kinds.count("appeal") == 1 and kinds.count("event") == 1 and kinds.count("outbox") == 3
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
    "stale": dict(now_offset=-600),      # seconds from the moment the request is sent
    "future": dict(now_offset=+600),
    "missing_signature": dict(headers_override={"X-Jiesu-Signature": ""}),
    "missing_nonce": dict(headers_override={"X-Jiesu-Nonce": ""}),
}


@pytest.mark.parametrize("case", sorted(BAD_SIGNATURES))
def test_bad_signatures_are_401_and_change_nothing(aws, client, case):
    before = snapshot(aws)
    bad = dict(BAD_SIGNATURES[case])
    if "now_offset" in bad:                # timed at the request, not when the module was collected
        bad["now"] = time.time() + bad.pop("now_offset")
    resp = signed_post(client, aws.creds, "hotline", channel_fixture("hotline"), **bad)
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
    assert outbox.sweep(bootstrap(clock=clock), ) == {"resent": 0, "abandoned": 0}  # still inside the grace period
    clock.advance(minutes=6)
    assert outbox.sweep(bootstrap(clock=clock), )["resent"] == 3     # dedup, the "accepted" notice, analytics
    [msg] = aws.receive("dedup")
    assert json.loads(msg["Body"])["appeal_id"] == json.loads(resp.body)["appeal_id"]
    assert outbox.sweep(bootstrap(clock=clock), )["resent"] == 0  # re-sent ones wait out a fresh grace period


# ------------------------------------------------------------------ issue 14: 12, 13, 15, 16

@pytest.mark.parametrize("signature", ["é", "é" * 64, "０" * 64, "abc", "g" * 64])
def test_a_signature_that_is_not_64_hex_digits_is_401_naming_the_header(aws, client, signature):
    before = snapshot(aws)
    resp = signed_post(client, aws.creds, "hotline", channel_fixture("hotline"),
                       headers_override={"X-Jiesu-Signature": signature})
    assert resp.status_code == 401, resp.body
    err = json.loads(resp.body)["error"]
    assert (err["field"], err["code"]) == ("X-Jiesu-Signature", "bad_signature")
    assert snapshot(aws) == before


def post_signed(client, creds, channel, body: bytes, *, url_query: str = "", signed_query=None, path=None):
    """POST `body` to `path` (+ `?url_query`), signed over `signed_query` (None: the bare path)."""
    from chalicelib.channels.signing import signed_headers

    path = path or f"/channels/{channel}/appeals"
    kid, sec = creds[channel]
    headers = {"Content-Type": "application/json",
               **signed_headers(kid, sec, "POST", path, body, query=signed_query)}
    return client.http.post(path + (f"?{url_query}" if url_query else ""), headers=headers, body=body)


def fixture_body(channel="hotline") -> bytes:
    return json.dumps(channel_fixture(channel), ensure_ascii=False).encode()


def test_the_query_string_is_signed_as_readme_says(aws, client):
    from chalicelib.channels.signing import H_KEY_ID, H_NONCE, H_SIGNATURE, H_TIMESTAMP, sign

    body = fixture_body()
    kid, sec = aws.creds["hotline"]
    ts, nonce = str(int(time.time())), "readme-nonce-1"
    # By hand, as README's Signing paragraph puts it: pairs sorted, re-encoded, joined with &.
    signed = "/channels/hotline/appeals?a=x%20y&b=2"
    headers = {"Content-Type": "application/json", H_KEY_ID: kid, H_TIMESTAMP: ts, H_NONCE: nonce,
               H_SIGNATURE: sign(sec, "POST", signed, ts, nonce, body)}
    resp = client.http.post("/channels/hotline/appeals?b=2&a=x+y", headers=headers, body=body)
    assert resp.status_code == 201, resp.body


def test_a_query_signed_with_the_helper_is_accepted(aws, client):
    resp = post_signed(client, aws.creds, "hotline", fixture_body(), url_query="source=feeder&v=2",
                       signed_query="source=feeder&v=2")
    assert resp.status_code == 201, resp.body


@pytest.mark.parametrize("url_query, signed_query", [
    ("source=feeder", None),          # an unsigned query added to a request signed without one
    ("source=other", "source=feeder"),  # a signed query changed
    ("", "source=feeder"),            # a signed query dropped
])
def test_an_unsigned_or_changed_query_is_401(aws, client, url_query, signed_query):
    before = snapshot(aws)
    resp = post_signed(client, aws.creds, "hotline", fixture_body(), url_query=url_query, signed_query=signed_query)
    assert resp.status_code == 401, resp.body
    assert json.loads(resp.body)["error"]["field"] == "X-Jiesu-Signature"
    assert snapshot(aws) == before


def test_the_rating_route_signs_its_query_too(aws, client):
    path = "/channels/hotline/appeals/SZ20260402009999/rating"
    body = json.dumps({"speed": 5, "effect": 5, "service": 5, "reply_quality": 5}).encode()
    resp = post_signed(client, aws.creds, "hotline", body, path=path, url_query="x=1")
    assert resp.status_code == 401 and json.loads(resp.body)["error"]["field"] == "X-Jiesu-Signature"
    resp = post_signed(client, aws.creds, "hotline", body, path=path, url_query="x=1", signed_query={"x": "1"})
    assert resp.status_code == 404 and json.loads(resp.body)["error"]["field"] == "ticket_id"  # signed: goes on


DECODER_REFUSES = {
    "nested_2000_deep": b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    "nested_33_deep": b'{"a": ' + b"[" * 32 + b"]" * 32 + b"}",
    "int_5000_digits": b'{"a": ' + b"7" * 5000 + b"}",
    "float_5000_digits": b'{"a": ' + b"7" * 5000 + b".5}",
    "nan": b'{"a": NaN}',
    "infinity": b'{"a": -Infinity}',
}


@pytest.mark.parametrize("channel", CHANNELS)
def test_bodies_the_decoder_refuses_are_400_naming_body_on_every_channel(aws, client, channel):
    before = snapshot(aws)
    for case, raw in DECODER_REFUSES.items():
        resp = signed_post(client, aws.creds, channel, None, raw=raw)
        assert resp.status_code == 400, (case, resp.body[:300])
        assert json.loads(resp.body)["error"]["field"] == "body", case
        assert len(resp.body) < 300, case  # nothing of the body comes back
    assert snapshot(aws) == before


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_key_named_twice_is_400_naming_it_on_every_channel(aws, client, channel):
    payload = channel_fixture(channel)
    first = next(iter(payload))
    text = json.dumps(payload, ensure_ascii=False)
    raw = ("{" + json.dumps(first) + ": " + json.dumps(payload[first], ensure_ascii=False) + ", " + text[1:]).encode()
    before = snapshot(aws)
    resp = signed_post(client, aws.creds, channel, None, raw=raw)
    assert resp.status_code == 400, resp.body
    assert json.loads(resp.body)["error"]["field"] == first
    assert snapshot(aws) == before


def test_a_nested_key_named_twice_is_named_by_its_path(aws, client):
    text = json.dumps(channel_fixture("app"), ensure_ascii=False)
    raw = text.replace('"location": {', '"location": {"lat": 1.5, ', 1).encode()
    resp = signed_post(client, aws.creds, "app", None, raw=raw)
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "location.lat"


def test_control_characters_in_qrcode_msg_are_400_naming_it(aws, client):
    payload = dict(channel_fixture("qrcode"), msg="扫码反映：\x00B口流动摊贩占道")
    resp = signed_post(client, aws.creds, "qrcode", payload)
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "msg"


def test_a_boolean_latitude_is_400_naming_it(aws, client):
    resp = signed_post(client, aws.creds, "grid", dict(channel_fixture("grid"), lat=True))
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "lat"


def test_a_yes_for_a_yes_no_field_is_400_naming_it(aws, client):
    resp = signed_post(client, aws.creds, "hotline", dict(channel_fixture("hotline"), sfnm="yes"))
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "sfnm"


RATING = {"speed": 5, "effect": 5, "service": 5, "reply_quality": 5}
RATING_REFUSED = {
    "nested_2000_deep": (b'{"comment": ' + b"[" * 2000 + b"]" * 2000 + b"}", "body"),
    "int_5000_digits": (b'{"speed": ' + b"5" * 5000 + b"}", "body"),
    "speed_twice": (b'{"speed": 1, ' + json.dumps(RATING).encode()[1:], "speed"),
    "nul_in_comment": (json.dumps({**RATING, "comment": "好\u0000"}).encode(), "comment"),
}


@pytest.mark.parametrize("case", sorted(RATING_REFUSED))
def test_the_rating_route_decodes_with_the_same_decoder(aws, client, case):
    raw, field = RATING_REFUSED[case]
    resp = post_signed(client, aws.creds, "hotline", raw, path="/channels/hotline/appeals/SZ20260402009999/rating")
    assert resp.status_code == 400, resp.body[:300]
    assert json.loads(resp.body)["error"]["field"] == field


def test_an_unknown_channel_name_is_not_echoed(aws, client):
    name = "fax" + "x" * 297
    resp = signed_post(client, aws.creds, "hotline", channel_fixture("hotline"), path_channel=name)
    assert resp.status_code == 404 and json.loads(resp.body)["error"]["field"] == "channel"
    assert "fax" not in resp.body.decode()


def test_a_channel_not_registered_is_404_without_echoing_it(aws, client):
    from chalicelib.storage.repository import get_channel

    channel = get_channel("hotline")
    channel.enabled = False
    channel.save()
    resp = signed_post(client, aws.creds, "hotline", channel_fixture("hotline"))
    assert resp.status_code == 404, resp.body
    err = json.loads(resp.body)["error"]
    assert (err["field"], err["code"]) == ("channel", "unknown_channel") and "hotline" not in err["message"]


def _conflict_once(monkeypatch, meanwhile=None):
    """The next TransactWriteItems is cancelled as real DynamoDB cancels the loser of two
    concurrent writes of one item (moto never does), after `meanwhile()` (the winner) ran;
    later calls go through."""
    from pynamodb.connection.base import Connection
    from pynamodb.exceptions import CancellationReason, VerboseClientError

    real = Connection._make_api_call
    calls = []

    def make_api_call(self, operation_name, operation_kwargs):
        if operation_name == "TransactWriteItems":
            calls.append(operation_name)
            if len(calls) == 1:
                if meanwhile is not None:
                    meanwhile()
                n = len(operation_kwargs["TransactItems"])
                raise VerboseClientError(
                    {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}},
                    operation_name, cancellation_reasons=[CancellationReason(code="None")] + [
                        CancellationReason(code="TransactionConflict")] + [None] * (n - 2))
        return real(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", make_api_call)
    return calls


def test_a_transaction_conflict_is_retried_and_a_concurrent_retry_gets_the_replay(aws, client, monkeypatch):
    payload = channel_fixture("hotline")
    winner = []
    # Two sends of one ticket at once: both find it new; the other one commits while ours is in
    # flight, and DynamoDB cancels ours with TransactionConflict.
    calls = _conflict_once(monkeypatch, lambda: winner.append(signed_post(client, aws.creds, "hotline", payload)))
    loser = signed_post(client, aws.creds, "hotline", payload)
    assert len(calls) == 2  # ours, the winner's; ours is then tried again from the ticket read, finds it taken
    assert winner[0].status_code == 201
    assert (loser.status_code, json.loads(loser.body)) == (201, json.loads(winner[0].body))
    assert len([i for i in aws.table_items() if i["SK"]["S"] == "A"]) == 1


def test_a_transaction_conflict_on_a_new_ticket_is_retried_to_success(aws, client, monkeypatch):
    calls = _conflict_once(monkeypatch)
    resp = signed_post(client, aws.creds, "hotline", channel_fixture("hotline"))
    assert resp.status_code == 201 and len(calls) == 2
    assert len([i for i in aws.table_items() if i["SK"]["S"] == "A"]) == 1
