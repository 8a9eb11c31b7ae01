"""The local stack (`make run`'s entry point) started as a subprocess, used over HTTP."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from tests.pii_scan import PiiScanner, free_text, merge, report, sent_by_channel

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


# --- the one personal-data scan of the e2e run (tests/pii_scan.py; issue 22, item 5) ----------

_CHANNEL_PATH = re.compile(r"^/channels/([a-z_]+)/appeals$")
# The one answer that shows personal data in clear: a staff member's unmask, with a reason (audited).
_UNMASK_PATH = re.compile(r"^/staff/(?:work/)?appeals/[^/]+/unmask$")


class PiiWatch:
    """Every HTTP exchange of the e2e tests (requests, through Session.send): what each request
    sent (a channel's party and any ID number or phone typed into a body) and each response's
    body, callback bodies included (the demo receiver's listing; `Receiver.requests`)."""

    def __init__(self):
        self.sent = PiiScanner()
        self.blobs: list[tuple[str, bytes]] = []

    def record(self, request, response) -> None:
        path = urlsplit(request.url).path
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        m = _CHANNEL_PATH.match(path)
        if m and request.method == "POST":
            merge(self.sent, sent_by_channel(m.group(1), body))
        elif body:
            text = body.decode("utf-8", "replace")
            try:
                doc = json.loads(text)
            except ValueError:
                doc = dict(parse_qsl(text))       # a form (Open311, a page's)
            if path.startswith("/open311/") and isinstance(doc, dict):
                self.sent.add("".join(str(doc.get(k, "")) for k in ("last_name", "first_name")).strip() or None,
                              None, doc.get("phone"))
            for typed in free_text(doc):
                self.sent.add_text(typed)
        if request.method == "POST" and _UNMASK_PATH.match(path) and response.status_code == 200:
            return      # shown in clear on purpose, to a permitted role that gave a reason
        self.blobs.append((f"{request.method} {path} {response.status_code}", response.content))


@pytest.fixture(scope="session", autouse=True)
def pii_watch(tmp_path_factory, receiver):
    """0 hits is a test: after the e2e session, the personal data it sent is searched for in
    every response body, every callback body, and every log the local stacks wrote."""
    watch = PiiWatch()
    send = requests.Session.send

    def recording_send(self, request, **kwargs):
        response = send(self, request, **kwargs)
        watch.record(request, response)
        return response

    requests.Session.send = recording_send
    try:
        yield watch
    finally:
        requests.Session.send = send
    blobs = list(watch.blobs)
    blobs += [(f"callback {r['path']}", r["body"]) for r in receiver.requests]
    blobs += [(f"log {p.name}", p.read_bytes()) for p in sorted(tmp_path_factory.getbasetemp().rglob("*.log"))]
    hits = watch.sent.scan_all(blobs)
    if hits:
        pytest.fail(f"personal data the e2e run sent was found {len(hits)} time(s):\n{report(hits)}", pytrace=False)
    print(f"\npii scan (e2e): {len(watch.sent.names)} names, {len(watch.sent.id_numbers)} ID numbers, "
          f"{len(watch.sent.phones)} phones sent; {len(blobs)} blobs scanned; 0 hits")
