"""The local stack (`make run`'s entry point) started as a subprocess, used over HTTP."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """A channel partner's callback endpoint on 127.0.0.1, keeping every request it gets."""

    def __init__(self):
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/partner/callbacks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, predicate, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [r for r in self.requests if predicate(r)]
            if hits:
                return hits
            time.sleep(0.2)
        return []


@pytest.fixture(scope="session")
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def start_stack(tmp: Path, *args: str) -> dict:
    """Start infra/devserver.py (feeder off) with its state in `tmp`; wait for its ready line."""
    log_path = tmp / "stack.log"
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JIESU_"))}
    cmd = [sys.executable, str(ROOT / "infra" / "devserver.py"), "--api-port", str(api_port),
           "--moto-port", str(free_port()), "--idp-port", str(free_port()), "--feed-every", "0", "--demo-days", "0",
           "--state-dir", str(tmp), *args]
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and b"ready in" not in log_path.read_bytes():
        if proc.poll() is not None:
            raise RuntimeError("local stack exited:\n" + log_path.read_text(errors="replace"))
        time.sleep(0.2)
    else:
        if b"ready in" not in log_path.read_bytes():
            proc.kill()
            raise RuntimeError("local stack not ready in 60 s:\n" + log_path.read_text(errors="replace"))
    doc = json.loads((tmp / "credentials.json").read_text())
    creds = {k: (v["key_id"], v["secret"]) for k, v in doc.items()}
    return {"url": f"http://127.0.0.1:{api_port}", "creds": creds, "log_path": log_path, "proc": proc, "log": log,
            "identity": tmp / "identity.json", "open311_api_key": doc.get("open311", {}).get("api_key")}


def stop_stack(stack: dict) -> None:
    """Stop a stack started by start_stack, by its PID."""
    stack["proc"].terminate()
    try:
        stack["proc"].wait(timeout=15)
    except subprocess.TimeoutExpired:
        stack["proc"].kill()
    stack["log"].close()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory, receiver):
    """Start the platform as `make run` does (feeder off), capture all its output, stop it by PID.
    Status callbacks go to this test session's own receiver (`receiver`)."""
    stack = start_stack(tmp_path_factory.mktemp("stack"), "--receiver-port", str(free_port()),
                        "--callback-url", receiver.url)
    yield stack
    stop_stack(stack)


@pytest.fixture(scope="session")
def demo_stack(tmp_path_factory):
    """The platform as `make run` starts it, demo partner receiver included: every channel's status
    callbacks go to it, and `GET <receiver_url>` lists what it received."""
    receiver_port = free_port()
    stack = start_stack(tmp_path_factory.mktemp("demo-stack"), "--receiver-port", str(receiver_port))
    stack["receiver_url"] = f"http://127.0.0.1:{receiver_port}/callbacks"
    yield stack
    stop_stack(stack)
