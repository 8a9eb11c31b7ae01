"""`make run` keeps its data: stop it (SIGTERM, or SIGKILL right after an answer) and start it again."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from chalicelib.channels.signing import signed_headers
from tests.conftest import channel_fixture
from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def on_any_port(answer):
    """An intake answer with its tracking link's origin left out: a restarted stack serves its pages
    (and so its links) on its own new port; the link's token is what must stay the same."""
    if isinstance(answer, tuple):
        return answer[0], on_any_port(answer[1])
    return {**answer, "tracking_url": urlsplit(answer["tracking_url"]).path}


class Devserver:
    def __init__(self, state: Path, feed_every: float = 0):
        self.state, self.feed_every = state, feed_every
        self.api_port = free_port()
        self.ports = [str(free_port()), str(free_port()), str(free_port())]

    def start(self) -> "Devserver":
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JIESU_"))}
        self.log_path = self.state / f"stack-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "infra" / "devserver.py"), "--api-port", str(self.api_port),
             "--moto-port", self.ports[0], "--receiver-port", self.ports[1], "--idp-port", self.ports[2], "--feed-every", str(self.feed_every), "--demo-days", "0", "--no-demo-units",
             "--state-dir", str(self.state)], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while b"ready in" not in self.log_path.read_bytes():
            assert self.proc.poll() is None, self.log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "not ready in 90 s"
            time.sleep(0.2)
        return self

    def stop(self, sig=signal.SIGTERM) -> float:
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()
        return time.monotonic() - started

    def request(self, method, path, body=None, headers=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}", data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def submit(self, channel: str, payload: dict):
        creds = json.loads((self.state / "credentials.json").read_text())[channel]
        path = f"/channels/{channel}/appeals"
        body = json.dumps(payload, ensure_ascii=False).encode()
        return self.request("POST", path, body, {"Content-Type": "application/json",
                                                 **signed_headers(creds["key_id"], creds["secret"], "POST", path, body)})

    def token(self, user: str) -> str:
        return subprocess.run([sys.executable, str(ROOT / "infra" / "identity.py"), user, "--state",
                               str(self.state / "identity.json")], capture_output=True, text=True,
                              check=True).stdout.strip()


def test_a_restart_serves_the_same_appeals_credentials_logins_and_ciphertext(tmp_path):
    stack = Devserver(tmp_path, feed_every=0.2).start()  # under its own feed while it stops
    payload = channel_fixture("hotline")
    status, first = stack.submit("hotline", payload)
    assert status == 201
    creds = (tmp_path / "credentials.json").read_text()
    assert set(json.loads(creds)["open311"]) == {"key_id", "secret", "api_key"}
    staff = json.loads((tmp_path / "staff-logins.json").read_text())
    assert staff["users"]["dispatcher1"]["role"] == "dispatcher"
    token = stack.token("dispatcher1")
    took = stack.stop(signal.SIGTERM)
    assert took < 10
    assert b"stopped" in stack.log_path.read_bytes()

    stack = Devserver(tmp_path).start()
    try:
        assert (tmp_path / "credentials.json").read_text() == creds
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        assert stack.request("GET", "/staff/me", headers=auth)[0] == 200  # issued before the restart
        assert on_any_port(stack.submit("hotline", payload)) == (201, on_any_port(first))  # the retry: same answer
        status, clear = stack.request("POST", f"/staff/appeals/{first['appeal_id']}/unmask",
                                      json.dumps({"reason": "restart check"}).encode(), auth)
        assert status == 200
        assert (clear["phone"], clear["id_number"]) == (payload["lxdh"], payload["zjhm"])  # KMS still decrypts
    finally:
        stack.stop()


def test_an_acknowledged_appeal_survives_sigkill_right_after_the_answer(tmp_path):
    stack = Devserver(tmp_path).start()
    payload = dict(channel_fixture("hotline"), gdbh="SZ20260402000999")
    status, first = stack.submit("hotline", payload)
    assert status == 201
    stack.stop(signal.SIGKILL)
    stack = Devserver(tmp_path).start()
    try:
        assert on_any_port(stack.submit("hotline", payload)) == (201, on_any_port(first))
    finally:
        stack.stop()
