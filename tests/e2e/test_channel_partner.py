"""A channel partner's view of the running platform: submit over HTTP, get signed status back."""
from __future__ import annotations

import json
import random

import requests

from infra.samples import sample_payload
from chalicelib.channels.signing import H_KEY_ID, H_NONCE, H_SIGNATURE, H_TIMESTAMP, sign

CHANNELS = ["hotline", "app", "wechat", "web", "mailbox", "leader_board", "grid", "police", "deputy", "party",
            "qrcode"]


def post(stack, channel, payload):
    from chalicelib.channels.signing import signed_headers

    key_id, secret = stack["creds"][channel]
    path = f"/channels/{channel}/appeals"
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", **signed_headers(key_id, secret, "POST", path, body)}
    return requests.post(stack["url"] + path, data=body, headers=headers, timeout=10)


def test_every_channel_submits_and_hears_accepted_with_a_valid_signature(local_stack, receiver):
    rng = random.Random(7)
    sent = {}
    for i, channel in enumerate(CHANNELS):
        payload = sample_payload(channel, rng, "小区门口路灯坏了一周，晚上很黑，请尽快维修。",
                                 "南山区粤海街道科技园科苑路", "投诉", 9000 + i)
        resp = post(local_stack, channel, payload)
        assert resp.status_code == 201, resp.text
        sent[resp.json()["appeal_id"]] = (channel, payload)
        # A retry of the same ticket gets the same answer.
        again = post(local_stack, channel, payload)
        assert again.status_code == 201 and again.json() == resp.json()

    for appeal_id, (channel, _) in sent.items():
        hits = receiver.wait_for(lambda r, a=appeal_id: json.loads(r["body"])["appeal_id"] == a
                                 and json.loads(r["body"])["status"] == "accepted")
        assert len(hits) == 1, f"{channel}: expected exactly one accepted callback"
        cb = hits[0]
        msg = json.loads(cb["body"])
        assert msg["status"] == "accepted" and msg["channel"] == channel
        key_id, secret = local_stack["creds"][channel]
        headers = {k.lower(): v for k, v in cb["headers"].items()}
        assert headers[H_KEY_ID.lower()] == key_id
        expected = sign(secret, "POST", "/partner/callbacks", headers[H_TIMESTAMP.lower()],
                        headers[H_NONCE.lower()], cb["body"])
        assert headers[H_SIGNATURE.lower()] == expected

    # Personal data never reaches the logs: scan everything the stack printed.
    log = local_stack["log_path"].read_text(encoding="utf-8", errors="replace")
    assert "appeal accepted" in log  # the capture really holds the service's log lines
    personal = [v for _, payload in sent.values() for v in _personal_values(payload)]
    assert len(personal) >= 10  # the scan has something to look for
    for value in personal:
        assert value not in log


def test_bad_requests_get_json_errors_over_http(local_stack):
    resp = requests.post(local_stack["url"] + "/channels/hotline/appeals", data=b"{}",
                         headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 401 and resp.json()["error"]["field"] == H_KEY_ID
    resp = requests.post(local_stack["url"] + "/channels/telegraph/appeals", data=b"{}",
                         headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 404 and resp.json()["error"]["field"] == "channel"


def _personal_values(payload) -> list[str]:
    """Every ID-number-like or phone-like string in a payload, wherever the partner put it."""
    import re

    text = json.dumps(payload, ensure_ascii=False)
    return re.findall(r"\d{17}[\dX]", text) + re.findall(r"(?<!\d)1[3-9]\d{9}(?!\d)", text)


def test_errors_the_stack_answers_over_http_keep_the_documented_shape(local_stack):
    url = local_stack["url"]
    index = requests.get(url + "/", timeout=10)
    assert index.status_code == 200 and index.json()["links"]["channels"] == "/channels"
    wrong_method = requests.get(url + "/channels/hotline/appeals", timeout=10)
    assert (wrong_method.status_code, wrong_method.json()["error"]["field"]) == (405, "method")
    unknown = requests.get(url + "/no/such/path", headers={"Authorization": "Bearer secret-token-xyz"}, timeout=10)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": {"code": "not_found", "message": "no such path", "field": "path"}}
    assert "secret-token-xyz" not in unknown.text


def test_the_access_log_names_the_route_not_the_query(local_stack):
    marker = "q9marker7x"
    requests.get(local_stack["url"] + f"/open311/v2/requests.json?service_request_id={marker}", timeout=10)
    log = local_stack["log_path"].read_text(encoding="utf-8", errors="replace")
    assert '"GET /open311/v2/requests.json"' in log
    assert marker not in log
