"""`make run`: the whole platform on one machine, on moto's server as the embedded stand-in.

Starts moto (127.0.0.1), creates the spec's resources, loads the demo region, serves the
Chalice API in-process on 127.0.0.1:8000, runs the event runner, a demo partner receiving
status callbacks, and a demo feeder sending signed appeals; Ctrl-C stops all of it.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEMO_REGION = ROOT / "regions" / "shenzhen"


def _aws_env(endpoint: str, region: str) -> None:
    os.environ.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": region, "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
        "POWERTOOLS_METRICS_DISABLED": "true",
    })


class Stack:
    """Everything `make run` starts, so tests can start the same thing and stop it by itself."""

    def __init__(self, api_port: int = 8000, moto_port: int = 4566, receiver_port: int = 8001,
                 feed_every_s: float = 3.0, region: str = "us-east-1", stage: str = "local", log=print,
                 callback_url: str | None = None, state_dir: Path = ROOT / ".local"):
        self.api_port, self.moto_port, self.receiver_port = api_port, moto_port, receiver_port
        self.feed_every_s, self.region, self.stage, self.log = feed_every_s, region, stage, log
        self.state_dir = Path(state_dir)
        self.callback_url = callback_url or f"http://127.0.0.1:{receiver_port}/callbacks"
        self.stop_event = threading.Event()
        self.callbacks: list[dict] = []
        self._servers: list = []

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self.moto.start()
        self._servers.append(self.moto)
        _aws_env(f"http://127.0.0.1:{self.moto_port}", self.region)

        import boto3

        from infra.local import bootstrap

        self.session = boto3.session.Session(region_name=self.region)
        res = bootstrap(self.session, self.stage)
        os.environ.update(res.env(self.stage, DEMO_REGION.name))
        self.resources = res

        from infra.identity import create_demo_pool

        self.identity = create_demo_pool(self.session, f"http://127.0.0.1:{self.moto_port}")
        os.environ.update(self.identity.env())
        state_dir = self.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "identity.json").write_text(json.dumps({
            "endpoint": f"http://127.0.0.1:{self.moto_port}", "identity": self.identity.__dict__}))

        # Only now may chalicelib be imported: its models read the table name from the environment.
        from infra.demo_region import load_demo_region

        self._start_receiver()
        # The demo region is loaded as an admin would (python -m infra.admin load regions/shenzhen).
        self.creds = load_demo_region(self.session, self.stage, DEMO_REGION, callback_url=self.callback_url)
        self._start_api()
        from infra.runner import Runner

        self.runner = Runner(self.session, res.queue_urls, res.rule_names, log=self.log)
        self.runner.start()
        if self.feed_every_s > 0:
            threading.Thread(target=self._feed, name="demo-feeder", daemon=True).start()

    def _start_api(self) -> None:
        from chalice.config import Config
        from chalice.local import create_local_server

        import app as chalice_app

        config = Config.create(chalice_stage="dev", app_name="jiesu", project_dir=str(ROOT))
        server = create_local_server(chalice_app.app, config, "127.0.0.1", self.api_port)
        threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
        self._servers.append(server)

    def _start_receiver(self) -> None:
        stack = self

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stack.callbacks.append({"path": self.path, "headers": dict(self.headers), "body": body})
                msg = json.loads(body)
                stack.log(f"[partner:{msg['channel']}] appeal {msg['appeal_id']} is now {msg['status']}")
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.receiver_port), Receiver)
        threading.Thread(target=server.serve_forever, name="receiver", daemon=True).start()
        self._servers.append(server)

    def post_appeal(self, channel: str, payload: dict) -> tuple[int, dict]:
        """Send one signed appeal as the channel partner would."""
        from chalicelib.channels.signing import signed_headers

        key_id, secret = self.creds[channel]
        path = f"/channels/{channel}/appeals"
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", **signed_headers(key_id, secret, "POST", path, body)}
        req = urllib.request.Request(self.api_url + path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def _feed(self) -> None:
        from chalicelib.channels.samples import sample_payload

        examples = [json.loads(line) for line in
                    (DEMO_REGION / "examples" / "history-train.jsonl").read_text(encoding="utf-8").splitlines()]
        rng = random.Random()
        channels = [c for c in self.creds if c != "open311"]
        seq = int(time.time())
        while not self.stop_event.wait(self.feed_every_s):
            ex = rng.choice(examples)
            channel = rng.choice(channels)
            seq += 1
            try:
                status, body = self.post_appeal(channel, sample_payload(channel, rng, ex["text"], ex["address"],
                                                                        ex["appeal_type"], seq))
                self.log(f"[feeder:{channel}] HTTP {status} {body.get('appeal_id') or body.get('error')}")
            except Exception as exc:  # noqa: BLE001 - the demo keeps feeding
                self.log(f"[feeder] {exc.__class__.__name__}: {exc}")

    def stop(self) -> None:
        self.stop_event.set()
        if hasattr(self, "runner"):
            self.runner.stop()
        for s in reversed(self._servers):
            try:
                if hasattr(s, "shutdown"):
                    s.shutdown()
                else:
                    s.stop()
            except Exception:  # noqa: BLE001
                pass

    def banner(self) -> str:
        lines = [
            "Jiesu is running on the embedded stand-in (moto). Ctrl-C stops everything.",
            f"  API (Chalice)         {self.api_url}    e.g. GET {self.api_url}/channels",
            f"  AWS stand-in (moto)   http://127.0.0.1:{self.moto_port}",
            f"  demo partner receiver http://127.0.0.1:{self.receiver_port}/callbacks",
            "  channel credentials (key id / HMAC secret, demo only):",
        ]
        lines += [f"    {c:13} {k}  {s}" for c, (k, s) in sorted(self.creds.items())]
        from infra.identity import DEMO_PASSWORD, DEMO_USERS

        lines.append(f"  staff sign-in (OIDC, Cognito on moto), password for all: {DEMO_PASSWORD}")
        for user, (role, unit, jurisdiction) in DEMO_USERS.items():
            lines.append(f"    {user:16} {role:13} unit={unit or '-':16} jurisdiction={jurisdiction}")
        lines.append("  get a token:  TOKEN=$(.venv/bin/python infra/identity.py dispatcher1)")
        lines.append(f"  then:         curl -H \"Authorization: Bearer $TOKEN\" {self.api_url}/staff/appeals")
        return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("JIESU_API_PORT", 8000)))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("JIESU_MOTO_PORT", 4566)))
    parser.add_argument("--receiver-port", type=int, default=int(os.environ.get("JIESU_RECEIVER_PORT", 8001)))
    parser.add_argument("--feed-every", type=float, default=3.0, help="seconds between demo appeals (0: off)")
    parser.add_argument("--callback-url", help="send every channel's status callbacks here instead of the demo receiver")
    parser.add_argument("--creds-file", help="also write the demo channel credentials to this JSON file")
    parser.add_argument("--state-dir", default=str(ROOT / ".local"), help="where identity.json (for tokens) goes")
    args = parser.parse_args()
    started = time.monotonic()
    stack = Stack(args.api_port, args.moto_port, args.receiver_port, args.feed_every, callback_url=args.callback_url,
                  state_dir=Path(args.state_dir))
    # Ctrl-C (SIGINT) and SIGTERM both stop everything this process started, in order.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stack.stop_event.set())
    try:
        stack.start()
        if args.creds_file:
            Path(args.creds_file).write_text(json.dumps(stack.creds))
        print(stack.banner(), flush=True)
        print(f"ready in {time.monotonic() - started:.1f}s", flush=True)
        while not stack.stop_event.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
