"""Staff over HTTP with tokens from the local identity provider (Cognito on moto), and the whole
pipeline: intake -> dedup -> dispatch -> callbacks, as the running stack does it."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.e2e.test_channel_partner import post

ROOT = Path(__file__).resolve().parents[2]


def token(stack, user: str) -> str:
    out = subprocess.run([sys.executable, str(ROOT / "infra" / "identity.py"), user, "--state",
                          str(stack["identity"])], capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


def test_a_clear_appeal_flows_to_a_unit_and_the_channel_hears_dispatched(local_stack, receiver):
    payload = json.loads((ROOT / "tests" / "events" / "channels" / "hotline.json").read_text(encoding="utf-8"))
    payload.update(gdbh="SZ20260402999001", sqnr="西乡大道坪洲地铁站C出口旁的井盖丢失了，一个黑洞很危险，请尽快补上井盖。",
                   fsdz="宝安区西乡街道西乡大道坪洲地铁站C出口", gdbt="井盖丢失")
    resp = post(local_stack, "hotline", payload)
    assert resp.status_code == 201, resp.text
    appeal_id = resp.json()["appeal_id"]
    hits = receiver.wait_for(lambda r: json.loads(r["body"]) == {**json.loads(r["body"]), "appeal_id": appeal_id,
                                                                  "status": "dispatched"}, timeout=60)
    assert hits, "no dispatched callback within 60 s"

    headers = {"Authorization": f"Bearer {token(local_stack, 'dispatcher1')}"}
    me = requests.get(local_stack["url"] + "/staff/me", headers=headers, timeout=10).json()
    assert me["role"] == "dispatcher" and me["jurisdiction"] == "440300"
    view = requests.get(f"{local_stack['url']}/staff/appeals/{appeal_id}", headers=headers, timeout=10)
    assert view.status_code == 200
    body = view.json()
    assert body["status"] == "dispatched" and body["catalog_version"].startswith("v1-")
    assert payload["zjhm"] not in view.text and body["party"]["masked"]
    kinds = [e["kind"] for e in body["case_file"]]
    assert kinds[0] == "accepted" and "dispatched" in kinds and "deadlines_set" in kinds

    # The leader of 宝安区 sees it (西乡 lies in 宝安); a bad token is refused.
    other = {"Authorization": f"Bearer {token(local_stack, 'baoan_leader')}"}
    assert requests.get(f"{local_stack['url']}/staff/appeals/{appeal_id}", headers=other,
                        timeout=10).status_code == 200
    bad = requests.get(local_stack["url"] + "/staff/me", headers={"Authorization": "Bearer x.y.z"}, timeout=10)
    assert bad.status_code == 401 and bad.json()["error"]["field"] == "Authorization"
