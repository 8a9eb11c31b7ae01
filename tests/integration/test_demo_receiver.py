"""make run's demo partner receiver shows what it received (GET) and the banner says where callbacks go."""
from __future__ import annotations

import json

import requests

from infra.devserver import Stack
from tests.e2e.conftest import free_port


def test_the_receiver_lists_the_callbacks_it_received_and_narrows_by_appeal():
    logged = []
    stack = Stack(receiver_port=free_port(), log=logged.append)
    stack._start_receiver()
    try:
        for appeal_id, status in (("A-1", "accepted"), ("A-2", "accepted"), ("A-1", "dispatched")):
            body = {"event_id": f"{appeal_id}:{status}", "appeal_id": appeal_id, "channel": "hotline",
                    "status": status}
            assert requests.post(stack.callback_url, data=json.dumps(body), timeout=5).status_code == 204
        listed = requests.get(stack.callback_url, timeout=5).json()
        assert listed["count"] == 3
        one = requests.get(stack.callback_url, params={"appeal_id": "A-1"}, timeout=5).json()
        assert [c["body"]["status"] for c in one["callbacks"]] == ["accepted", "dispatched"]
        assert logged[-1] == "[partner:hotline] appeal A-1 is now dispatched"
    finally:
        for s in stack._servers:
            s.shutdown()


def test_with_a_callback_url_the_banner_names_it_and_no_demo_receiver_is_advertised():
    stack = Stack(callback_url="https://partner.example.cn/jiesu/callbacks")
    stack.creds, stack.standin = {}, type("S", (), {"url": "http://127.0.0.1:1"})()
    banner = stack.banner()
    assert "status callbacks go to https://partner.example.cn/jiesu/callbacks" in banner
    assert "demo partner receiver" not in banner
