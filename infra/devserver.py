"""`make run`: the whole platform on one machine, on moto's server as the embedded stand-in.

Starts the stand-in (moto behind infra/standin.py, on 127.0.0.1, its state kept under
`.local/`), creates the spec's resources that do not exist yet, loads the demo region on first
start, serves the Chalice API in-process on 127.0.0.1:8000, the staff sign-in's authorization
server (infra/oidc_standin.py: the hosted-UI endpoints moto's Cognito lacks, on 127.0.0.1:8002),
runs the event runner, a demo partner receiving status callbacks, and a demo feeder sending
signed appeals. Ctrl-C or SIGTERM
stops all of it within seconds; what was acknowledged is already on disk.
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
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEMO_REGION = ROOT / "regions" / "shenzhen"
RECEIVER_KEEPS = 1000


def _aws_env(endpoint: str, region: str) -> None:
    os.environ.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": region, "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
        "POWERTOOLS_METRICS_DISABLED": "true",
    })


def route_only_handler():
    """Chalice's local request handler, whose access log line names the route, never the query
    string (a query may carry what does not belong in a log), and which answers an unknown path
    as the deployed API Gateway does (infra/render.py's GatewayResponse)."""
    from chalice.local import ChaliceRequestHandler

    from chalice.local import ForbiddenError as NoRoute

    from infra.render import UNKNOWN_PATH_BODY

    class RouteOnly(ChaliceRequestHandler):
        def log_request(self, code="-", size="-"):
            path = urllib.parse.urlsplit(self.path).path
            self.log_message('"%s %s" %s', self.command, path, str(code))

        def _send_error_response(self, error):
            # A path the API does not have: answered as the deployed stack's GatewayResponse does.
            # (chalice local's no-route answers, one of which echoes the Authorization header)
            body = error.body or b""
            if isinstance(error, NoRoute) and (b"Missing Authentication Token" in body or b"Authorization=" in body):
                self._send_http_response(404, {"Content-Type": "application/json"}, UNKNOWN_PATH_BODY)
                return
            super()._send_error_response(error)

    return RouteOnly


STOP_WITHIN_S = 8.0  # SIGINT/SIGTERM: everything stopped, state closed, process gone by then


class Stack:
    """Everything `make run` starts, so tests can start the same thing and stop it by itself."""

    def __init__(self, api_port: int = 8000, moto_port: int = 4566, receiver_port: int = 8001,
                 feed_every_s: float = 3.0, region: str = "us-east-1", stage: str = "local", log=print,
                 callback_url: str | None = None, state_dir: Path = ROOT / ".local", demo_days: int = 0,
                 demo_units: bool = False, idp_port: int = 8002):
        self.api_port, self.moto_port, self.receiver_port = api_port, moto_port, receiver_port
        self.idp_port = idp_port
        self.feed_every_s, self.region, self.stage, self.log = feed_every_s, region, stage, log
        self.state_dir = Path(state_dir)
        self.demo_days = demo_days
        self.demo_units = demo_units
        self.live_units = None
        self.external_callbacks = callback_url is not None
        self.callback_url = callback_url or f"http://127.0.0.1:{receiver_port}/callbacks"
        self.stop_event = threading.Event()
        self.callbacks: list[dict] = []
        self._servers: list = []

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def idp_url(self) -> str:
        return f"http://127.0.0.1:{self.idp_port}"

    @property
    def sign_in_url(self) -> str:
        return f"{self.api_url}/staff/sign-in"

    @property
    def credentials_file(self) -> Path:
        return self.state_dir / "credentials.json"

    @property
    def staff_logins_file(self) -> Path:
        return self.state_dir / "staff-logins.json"

    def start(self) -> None:
        from infra.standin import StandInProcess

        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.standin = StandInProcess(self.moto_port, state_file=self.state_dir / "standin.sqlite3")
        self.standin.start()
        self._servers.append(self.standin)
        if self.standin.restored.get("services"):
            self.log(f"[stand-in] state restored from {self.state_dir}: "
                     f"{self.standin.restored['items']} DynamoDB items, {self.standin.restored['services']} services")
        _aws_env(self.standin.url, self.region)

        import boto3

        from infra.local import bootstrap

        self.session = boto3.session.Session(region_name=self.region)
        res = bootstrap(self.session, self.stage)
        os.environ.update(res.env(self.stage, DEMO_REGION.name))
        self.resources = res

        from infra.identity import create_demo_pool

        self.identity = create_demo_pool(self.session, self.standin.url)
        os.environ.update(self.identity.env())
        os.environ["JIESU_PUBLIC_BASE_URL"] = self.api_url   # tracking links open this API's pages
        self._start_idp()
        (self.state_dir / "identity.json").write_text(json.dumps({
            "endpoint": self.standin.url, "identity": self.identity.__dict__}))

        # Only now may chalicelib be imported: its models read the table name from the environment.
        from infra.demo_region import live_demo_credentials, load_demo_region

        if not self.external_callbacks:
            self._start_receiver()
        # First start: the demo region is loaded as an admin would (python -m infra.admin load
        # regions/shenzhen). A restart serves what the stand-in kept, whatever was loaded since.
        creds = live_demo_credentials(self.session, self.stage, DEMO_REGION.name)
        if creds is None or self.external_callbacks:
            creds = load_demo_region(self.session, self.stage, DEMO_REGION, callback_url=self.callback_url)
        self.creds = creds
        self._write_credentials()
        self._start_api()
        from infra.runner import Runner

        self.runner = Runner(self.session, res.queue_urls, res.rule_names, log=self.log)
        self.runner.start()
        if self.demo_days > 0:
            threading.Thread(target=self._seed_history, name="demo-history", daemon=True).start()
        if self.feed_every_s > 0:
            if self.demo_units:
                threading.Thread(target=self._handle_live, name="demo-units", daemon=True).start()
            threading.Thread(target=self._feed, name="demo-feeder", daemon=True).start()

    def _handle_live(self) -> None:
        """The demo's units handle the fed appeals (infra/demo_history.LiveUnits)."""
        from chalicelib.bootstrap import bootstrap
        from infra.demo_history import LiveUnits

        self.live_units = LiveUnits(bootstrap())
        while not self.stop_event.wait(5):
            try:
                self.live_units.tick()
            except Exception as exc:  # noqa: BLE001 - the demo goes on
                self.log(f"[demo units] {exc.__class__.__name__}: {exc}")

    def _seed_history(self) -> None:
        """First start: `demo_days` of demo history through the pipeline (infra/demo_history.py),
        then, once the analytics stage has counted it, the rankings and the due reports."""
        from chalicelib.bootstrap import bootstrap
        from chalicelib.services import public_record, reports
        from chalicelib.storage.queues import QueuePublisher
        from chalicelib.storage.store import DynamoStore
        from infra import demo_history

        store = DynamoStore()
        p = bootstrap(store=store, publisher=demo_history.SeedPublisher(store, QueuePublisher().send))
        region = DEMO_REGION.name
        try:
            if demo_history.already_seeded(p, region):
                return
            self.log(f"[demo history] seeding {self.demo_days} days of demo appeals in the background (演示数据)")
            made = demo_history.seed(p, region, self.creds, demo_history.examples_of(DEMO_REGION),
                                     days=self.demo_days, log=self.log)
            # Counted once the analytics queue's backlog is gone (the live feed keeps a batch or two
            # in flight, so "empty" would never come while it runs): twice in a row, then a batch's time.
            sqs, url, calm = self.session.client("sqs"), self.resources.queue_urls["analytics"], 0
            while calm < 2 and not self.stop_event.wait(2):
                backlog = int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                    "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
                calm = calm + 1 if backlog == 0 else 0
            self.stop_event.wait(5)
            live = bootstrap()
            public_record.refresh(live)
            written = reports.run(live)["written"]
            self.log(f"[demo history] done: {made['appeals']} appeals counted, {written} reports written; "
                     f"screen: {self.api_url}/staff/screen")
        except Exception as exc:  # noqa: BLE001 - the demo runs on without its history
            self.log(f"[demo history] stopped: {exc.__class__.__name__}: {exc}")

    def _write_credentials(self) -> None:
        """Demo credentials a program can read; the same across restarts (the stand-in keeps them)."""
        from infra.identity import DEMO_PASSWORD, DEMO_USERS

        doc = {code: {"key_id": k, "secret": s} for code, (k, s) in sorted(self.creds.items())}
        if "open311" in doc:
            doc["open311"]["api_key"] = f"{doc['open311']['key_id']}.{doc['open311']['secret']}"
        self.credentials_file.write_text(json.dumps(doc, indent=2))
        self.staff_logins_file.write_text(json.dumps({
            "password": DEMO_PASSWORD,
            "users": {u: {"role": r, "unit_id": unit, "jurisdiction": j} for u, (r, unit, j) in DEMO_USERS.items()},
            "sign_in": self.sign_in_url, "identity_provider": self.idp_url,
            "token": ".venv/bin/python infra/identity.py USER"}, indent=2, ensure_ascii=False))
        for f in (self.credentials_file, self.staff_logins_file):
            f.chmod(0o600)

    def _start_idp(self) -> None:
        """The staff sign-in's authorization server (moto's Cognito has no hosted UI): the app
        client's callback and sign-out return registered on the moto pool, Cognito's own
        admin_initiate_auth behind the form, and the app pointed at its endpoints."""
        from infra.identity import authenticator, register_redirects
        from infra.oidc_standin import OidcStandIn

        client = register_redirects(self.session, self.identity, f"{self.api_url}/staff/auth/callback",
                                    self.sign_in_url)
        self.idp = OidcStandIn(authenticator(self.session, self.identity), [client], issuer=self.identity.issuer,
                               jwks_url=self.identity.jwks_url, port=self.idp_port, log=self._log_now)
        self.idp.start()
        self._servers.append(self.idp)
        os.environ.update(self.idp.env())

    def _log_now(self, line: str) -> None:
        """A line written out at once (stdout into a file is block-buffered)."""
        self.log(line)
        sys.stdout.flush()

    def _start_api(self) -> None:
        import functools

        from chalice.config import Config
        from chalice.local import create_local_server

        import app as chalice_app

        config = Config.create(chalice_stage="dev", app_name="jiesu", project_dir=str(ROOT))
        server = create_local_server(chalice_app.app, config, "127.0.0.1", self.api_port)
        server.server.RequestHandlerClass = functools.partial(route_only_handler(), app_object=server.app_object,
                                                              config=config)
        threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
        self._servers.append(server)

    def _start_receiver(self) -> None:
        stack = self

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    msg = json.loads(body)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                stack.callbacks.append({"received_at": time.time(), "path": self.path, "body": msg,
                                        "idempotency_key": self.headers.get("Idempotency-Key")})
                del stack.callbacks[:-RECEIVER_KEEPS]
                stack.log(f"[partner:{msg.get('channel')}] appeal {msg.get('appeal_id')} is now {msg.get('status')}")
                self.send_response(204)
                self.end_headers()

            def do_GET(self):  # noqa: N802
                """The callbacks received so far, newest last, as JSON (?appeal_id= narrows it)."""
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                wanted = (query.get("appeal_id") or [None])[0]
                rows = [c for c in stack.callbacks if wanted is None or c["body"].get("appeal_id") == wanted]
                out = json.dumps({"count": len(rows), "callbacks": rows}, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

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
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def _feed(self) -> None:
        from infra.samples import sample_payload

        examples = [json.loads(line) for line in
                    (DEMO_REGION / "examples" / "history-train.jsonl").read_text(encoding="utf-8").splitlines()]
        rng = random.Random()
        channels = [c for c in self.creds if c != "open311"]
        # Ticket numbers go on from the last one sent (kept beside the state), so a restarted feed
        # at a high rate never repeats a ticket of an earlier run.
        seq_file = self.state_dir / "feeder-seq"
        seq = max(int(time.time()), int(seq_file.read_text()) if seq_file.exists() else 0)
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            next_at += self.feed_every_s
            ex = rng.choice(examples)
            channel = rng.choice(channels)
            seq += 1
            seq_file.write_text(str(seq))
            try:
                status, body = self.post_appeal(channel, sample_payload(channel, rng, ex["text"], ex["address"],
                                                                        ex["appeal_type"], seq))
                self.log(f"[feeder:{channel}] HTTP {status} {body.get('appeal_id') or body.get('error')}")
                if self.live_units is not None and status == 201:
                    self.live_units.note(body["appeal_id"])
            except Exception as exc:  # noqa: BLE001 - the demo keeps feeding
                self.log(f"[feeder] {exc.__class__.__name__}: {exc}")
            if self.stop_event.wait(max(0.0, next_at - time.monotonic())):
                return

    def stop(self) -> None:
        """Stop the feeder and the runner first (no new work), then the servers, the stand-in last
        (it closes its state file once no request is half-way)."""
        self.stop_event.set()
        if hasattr(self, "runner"):
            self.runner.stop(timeout_s=4.0)
        for s in reversed(self._servers):  # http servers shut down; the stand-in stops
            try:
                (getattr(s, "stop", None) or s.shutdown)()
            except Exception as exc:  # noqa: BLE001 - stop the rest all the same
                self.log(f"[stop] {s.__class__.__name__}: {exc.__class__.__name__}")

    def banner(self) -> str:
        lines = [
            "Jiesu is running on the embedded stand-in (moto). Ctrl-C stops everything.",
            f"  API (Chalice)         {self.api_url}    e.g. GET {self.api_url}/channels",
            f"  public record (web)   {self.api_url}/public   (rankings refresh every 15 min); each intake "
            "answer and callback carries the citizen's tracking_url",
            f"  one screen (staff)    {self.api_url}/staff/screen   (sends you to sign in first)",
            f"  AWS stand-in (moto)   {self.standin.url}",
            f"  state kept in         {self.state_dir}   (make reset wipes it)",
        ]
        if self.external_callbacks:
            lines.append(f"  status callbacks go to {self.callback_url}")
        else:
            lines.append(f"  demo partner receiver {self.callback_url}   (GET it: the callbacks received, as JSON)")
        lines.append(f"  channel credentials (demo only): {self.credentials_file}")
        lines += [f"    {c:13} {k}  {s}" for c, (k, s) in sorted(self.creds.items())]
        from infra.identity import DEMO_PASSWORD, DEMO_USERS

        lines.append(f"  staff sign-in (browser)  {self.sign_in_url}   (OIDC code flow + PKCE; the form is the "
                     f"identity provider's at {self.idp_url}, Cognito's sign-in on moto behind it)")
        lines.append(f"  staff users (Cognito on moto), password for all: {DEMO_PASSWORD}"
                     f"   ({self.staff_logins_file})")
        for user, (role, unit, jurisdiction) in DEMO_USERS.items():
            lines.append(f"    {user:16} {role:13} unit={unit or '-':16} jurisdiction={jurisdiction}")
        lines.append("  API clients, get a token:  TOKEN=$(.venv/bin/python infra/identity.py dispatcher1)")
        lines.append(f"  then:                      curl -H \"Authorization: Bearer $TOKEN\" {self.api_url}/staff/appeals")
        return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("JIESU_API_PORT", 8000)))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("JIESU_MOTO_PORT", 4566)))
    parser.add_argument("--receiver-port", type=int, default=int(os.environ.get("JIESU_RECEIVER_PORT", 8001)))
    parser.add_argument("--idp-port", type=int, default=int(os.environ.get("JIESU_IDP_PORT", 8002)),
                        help="the staff sign-in's identity provider stand-in (OIDC authorize/token/logout)")
    parser.add_argument("--feed-every", type=float, default=3.0, help="seconds between demo appeals (0: off)")
    parser.add_argument("--callback-url", help="send every channel's status callbacks here instead of the demo receiver")
    parser.add_argument("--state-dir", default=os.environ.get("JIESU_STATE_DIR", str(ROOT / ".local")),
                        help="where the stand-in keeps its state, credentials.json and identity.json")
    parser.add_argument("--demo-days", type=int, default=int(os.environ.get("JIESU_DEMO_DAYS", 35)),
                        help="days of demo history seeded on first start (0: none)")
    parser.add_argument("--no-demo-units", action="store_true",
                        help="leave the fed appeals to you (by default demo units sign, answer and rate them)")
    args = parser.parse_args()
    started = time.monotonic()
    stack = Stack(args.api_port, args.moto_port, args.receiver_port, args.feed_every, callback_url=args.callback_url,
                  state_dir=Path(args.state_dir), demo_days=args.demo_days, demo_units=not args.no_demo_units,
                  idp_port=args.idp_port)
    # Ctrl-C (SIGINT) and SIGTERM both stop everything this process started, in order; a
    # watchdog ends the process if an in-flight handler holds the stop up.
    def on_signal(*_):
        if not stack.stop_event.is_set():
            stack.stop_event.set()
            threading.Timer(STOP_WITHIN_S, lambda: os._exit(1)).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        stack.start()
        print(stack.banner(), flush=True)
        print(f"ready in {time.monotonic() - started:.1f}s", flush=True)
        while not stack.stop_event.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("stopped", flush=True)
    os._exit(0)  # daemon threads (a handler mid-batch) do not hold the process


if __name__ == "__main__":
    main()
