"""Cost of one appeal's whole life: DynamoDB request units per stage, requests and SQS messages.

    python bench/lifecycle.py [--n 20] [--seed 7]

Issue 21. In one process, on moto (the spec's table, queues and the demo region loaded as an admin
would), N appeals go through their whole life the way production drives them:

- signed intake through the Chalice app (chalice.test.Client, the channel's HMAC headers);
- the dedup, dispatch and notify stages as Lambda runs them: the messages the pipeline sent are
  received from the real SQS queues and handed to functions/<stage>/handler.py as SQS event
  records (the notify stage posts each status callback to a receiver on 127.0.0.1, which answers
  204); the analytics stage (counters, hotspots: functions/analytics) likewise, metered as its own
  stage `analytics`: it runs for every change of every appeal, so its units are part of the whole
  life (the issue's table predates it; `wru_per_appeal_without_analytics` gives the figure
  comparable with that table);
- sign, contact and reply through the staff API (a unit handler's OIDC token), the citizen's
  rating through the channel's signed rating route, which closes the appeal;
- the deadline sweep (functions/deadlines/handler.py), once for each minute bucket that holds
  one of these appeals' deadline instants, after the life is over (as the schedule reaches them).

Every appeal does each step at the same simulated instant (a FixedClock in every entry point's
Platform), so they share minute buckets as a city's appeals of one minute do. The texts are the
demo region's examples that automatic dispatch routes to a unit, one per street and category
group, so none is joined to another. A second run does the same with one extension (requested by
the unit, granted by the dispatcher) and one redo (an unsatisfied rating, then sign, contact and
reply again, and a satisfied rating).

Request units come from bench/capacity.py's meter (AWS's on-demand rules, from the requests
themselves; one meter per stage). Item sizes are DynamoDB's (capacity.item_size) of the appeal's
own items (`A`, and `C` where the layout keeps the content apart), read unmetered after each
step. The last stdout line is one JSON object: `wru_per_appeal` and `rru_per_appeal` of the plain
life at the top level, then per variant the per-stage table, requests and SQS messages per appeal,
and the item sizes.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.local import offline_aws_env  # noqa: E402 - must run before chalicelib is imported

offline_aws_env("test", quiet=True)

REGION_DIR = ROOT / "regions" / "shenzhen"
T0 = datetime(2026, 11, 26, 1, 30, tzinfo=timezone.utc)          # a Thursday, 09:30 local
QUEUES = ("dedup", "dispatch", "notify", "analytics")
GOOD = {"speed": 5, "effect": 5, "service": 4, "reply_quality": 5}
BAD = {"speed": 3, "effect": 1, "service": 3, "reply_quality": 2}
ANSWER = "已到现场核实，补装井盖并设置围挡，复查已恢复安全通行"
REDONE = "重新更换加固底座，经现场复查不再松动"
PLAIN = ("intake", "dedup", "dispatch", "sign", "contact", "reply", "rating", "notify", "sweep")


class Receiver:
    """A partner's callback endpoint on 127.0.0.1: answers 204 and counts what it got."""

    def __init__(self) -> None:
        self.count = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.count += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/callbacks"


def pick_examples(rt, n: int, rng: random.Random) -> list[dict]:
    """n examples automatic dispatch sends to a unit, each of another street and category group."""
    from chalicelib.services import dispatch
    from infra.demo_history import examples_of

    examples = examples_of(REGION_DIR)
    rng.shuffle(examples)
    out, streets, groups = [], set(), set()
    for e in examples:
        if e["street"] in streets or e["code"][:5] in groups:
            continue
        choice = dispatch.decide(rt, e["address"], e["text"]).choice
        if choice is None or choice.fallback:
            continue
        out.append(e)
        streets.add(e["street"])
        groups.add(e["code"][:5])
        if len(out) == n:
            break
    return out


class Life:
    """One stack, N appeals, a meter per stage."""

    def __init__(self, session, res, creds, idp, client, clock, rt) -> None:
        from bench.capacity import CapacityMeter

        self.session, self.res, self.creds, self.idp, self.client, self.clock, self.rt = (
            session, res, creds, idp, client, clock, rt)
        self.sqs = session.client("sqs")
        self.ddb = session.client("dynamodb")
        self.meters: dict[str, CapacityMeter] = {}
        self.order: list[str] = []
        self.messages = {q: 0 for q in QUEUES}
        self.sizes: dict[str, list[int]] = {}
        self.appeals: list[str] = []
        self.tickets: dict[str, str] = {}

    def meter(self, stage: str):
        from bench.capacity import CapacityMeter

        if stage not in self.meters:
            self.meters[stage] = CapacityMeter()
            self.order.append(stage)
        return self.meters[stage]

    # --- the pipeline's queues ---------------------------------------------------------------

    def drain(self, queue: str) -> int:
        """Deliver what `queue` holds to its function as SQS event records, until it is empty."""
        from infra.runner import sqs_event

        url = self.res.queue_urls[queue]
        arn = f"arn:aws:sqs:us-east-1:123456789012:{url.rsplit('/', 1)[1]}"
        handled = 0
        while True:
            msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                            WaitTimeSeconds=0).get("Messages", [])
            if not msgs:
                return handled
            self.messages[queue] += len(msgs)
            result = handler(queue).lambda_handler(sqs_event(msgs, arn, "us-east-1"), None)
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            if failed:
                raise RuntimeError(f"{queue}: {len(failed)} records failed")
            for m in msgs:
                if m["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            handled += len(msgs)

    def settle(self) -> None:
        """Deliver the status callbacks (metered as notify) and count the changes (analytics)."""
        with self.meter("notify"):
            self.drain("notify")
        with self.meter("analytics"):
            self.drain("analytics")

    # --- steps -----------------------------------------------------------------------------

    def take_in(self, examples: list[dict], rng: random.Random) -> None:
        from chalicelib.channels.signing import signed_headers
        from infra.samples import sample_payload

        path = "/channels/hotline/appeals"
        kid, secret = self.creds["hotline"]
        with self.meter("intake"):
            for i, ex in enumerate(examples):
                payload = sample_payload("hotline", rng, ex["text"], ex["address"], ex.get("appeal_type", "投诉"), i)
                body = json.dumps(payload, ensure_ascii=False).encode()
                headers = {"Content-Type": "application/json",
                           **signed_headers(kid, secret, "POST", path, body, self.clock.at.timestamp())}
                resp = self.client.http.post(path, headers=headers, body=body)
                assert resp.status_code == 201, resp.body
                answer = json.loads(resp.body)
                self.appeals.append(answer["appeal_id"])
        self.size("intake")
        self.settle()

    def stage(self, queue: str) -> None:
        with self.meter(queue):
            self.drain(queue)
        self.size(queue)
        self.settle()

    def act(self, stage: str, action: str, body: dict, who: str = "unit") -> None:
        with self.meter(stage):
            for appeal_id in self.appeals:
                data = body(appeal_id) if callable(body) else body
                resp = self.client.http.post(f"/staff/appeals/{appeal_id}/actions/{action}",
                                             headers=self._headers(appeal_id, who), body=json.dumps(data))
                assert resp.status_code == 200, (action, resp.body)
        self.size(stage)
        self.settle()

    def rate(self, stage: str, scores: dict) -> None:
        from chalicelib.channels.signing import signed_headers

        kid, secret = self.creds["hotline"]
        with self.meter(stage):
            for appeal_id in self.appeals:
                path = f"/channels/hotline/appeals/{self.ticket(appeal_id)}/rating"
                body = json.dumps(scores).encode()
                headers = {"Content-Type": "application/json",
                           **signed_headers(kid, secret, "POST", path, body, self.clock.at.timestamp())}
                resp = self.client.http.post(path, headers=headers, body=body)
                assert resp.status_code == 200, resp.body
        self.size(stage)
        self.settle()

    def sweep(self) -> dict:
        """The schedule reaching every minute bucket that holds these appeals' deadline instants."""
        from chalicelib.services.deadlines import _bucket_start
        from chalicelib.storage.store import DynamoStore

        buckets = sorted({item["PK"]["S"].split("#")[1] for item in self._scan()
                          if item["PK"]["S"].startswith("DUE#")})
        store = DynamoStore()
        raised = 0
        for b in buckets:
            start = _bucket_start(b)
            store.move_sweep_mark((start - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"), start)
            self.clock.at = start + timedelta(seconds=30)
            with self.meter("sweep"):
                result = handler("deadlines").lambda_handler({}, None)
            raised += result["warning"] + result["overdue"] + result["supervise"]
        self.settle()
        return {"buckets": len(buckets), "alerts_raised": raised}

    # --- helpers ---------------------------------------------------------------------------

    def _headers(self, appeal_id: str, who: str) -> dict:
        if who == "dispatcher":
            return self.idp.headers("dispatcher")
        unit = self.load(appeal_id).assignment.unit_id
        return self.idp.headers("xixiang_handler", **{"custom:unit_id": unit,
                                                      "custom:jurisdiction": self.rt.unit_jurisdictions[unit]})

    def load(self, appeal_id: str):
        from chalicelib.storage import repository

        return repository.load_appeal(appeal_id)

    def ticket(self, appeal_id: str) -> str:
        if appeal_id not in self.tickets:
            self.tickets[appeal_id] = self.load(appeal_id).ticket_id
        return self.tickets[appeal_id]

    def _scan(self) -> list[dict]:
        items, kwargs = [], {"TableName": self.res.table_name}
        while True:
            page = self.ddb.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def size(self, step: str) -> None:
        """The appeal's own items (its record, and its content item where there is one), mean bytes."""
        from bench.capacity import item_size

        total = {"A": 0, "C": 0}
        for appeal_id in self.appeals:
            for sk in total:
                got = self.ddb.get_item(TableName=self.res.table_name,
                                        Key={"PK": {"S": f"APPEAL#{appeal_id}"}, "SK": {"S": sk}}).get("Item")
                total[sk] += item_size(got)
        n = max(1, len(self.appeals))
        self.sizes[step] = [round(total["A"] / n), round(total["C"] / n)]

    def report(self, n: int) -> dict:
        stages, rru, wru, requests, analytics = {}, 0.0, 0.0, 0, (0.0, 0.0)
        for name in self.order:
            snap = self.meters[name].snapshot()
            stages[name] = {"rru": round(snap["read_units"] / n, 2), "wru": round(snap["write_units"] / n, 2),
                            "requests": round(snap["requests"] / n, 2), "by_op": {
                                op: round(c / n, 2) for op, c in snap["requests_by_op"].items()}}
            if snap["errors"]:
                stages[name]["errors"] = snap["errors"]
            rru += snap["read_units"]
            wru += snap["write_units"]
            if name == "analytics":
                analytics = (snap["read_units"], snap["write_units"])
            requests += snap["requests"]
        return {"appeals": n, "rru_per_appeal": round(rru / n, 2), "wru_per_appeal": round(wru / n, 2),
                "rru_per_appeal_without_analytics": round((rru - analytics[0]) / n, 2),
                "wru_per_appeal_without_analytics": round((wru - analytics[1]) / n, 2),
                "requests_per_appeal": round(requests / n, 2),
                "sqs_messages_per_appeal": {q: round(c / n, 2) for q, c in self.messages.items()},
                "sqs_messages_total_per_appeal": round(sum(self.messages.values()) / n, 2),
                "stages": stages, "appeal_item_bytes": {k: {"A": a, "C": c} for k, (a, c) in self.sizes.items()}}


def handler(name: str):
    import importlib

    return importlib.import_module(f"functions.{name}.handler")


def run(n: int, seed: int, variant: str) -> dict:
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from infra import moto_patches

    moto_patches.apply()
    receiver = Receiver()
    with mock_aws():
        from infra.local import in_process_stack, reset_process_caches

        session = boto3.session.Session(region_name="us-east-1")
        res = in_process_stack(session)
        from infra.demo_region import load_demo_region

        creds = load_demo_region(session, "test", REGION_DIR, callback_url=receiver.url)
        from tests.integration.staff_fixtures import AUDIENCE, ISSUER, IdP

        idp = IdP()
        os.environ.update({"JIESU_OIDC_ISSUER": ISSUER, "JIESU_OIDC_AUDIENCE": AUDIENCE,
                           "JIESU_OIDC_JWKS_URL": idp.jwks_url})
        from chalicelib.api import wiring
        from chalicelib.bootstrap import bootstrap
        from chalicelib.services.clock import FixedClock
        from chalicelib.settings import get_settings

        get_settings.cache_clear()
        clock = FixedClock(T0)
        p = bootstrap(clock=clock)
        rt = p.region("shenzhen")
        rng = random.Random(seed)
        examples = pick_examples(rt, n, rng)
        import app as chalice_app

        saved = {"wiring": wiring.PLATFORM}
        wiring.PLATFORM = p
        for name in ("dedup", "dispatch", "notify", "analytics", "deadlines"):
            saved[name] = handler(name).PLATFORM
            handler(name).PLATFORM = p
        try:
            with Client(chalice_app.app) as client:
                life = Life(session, res, creds, idp, client, clock, rt)
                life.take_in(examples, rng)
                clock.at = T0 + timedelta(seconds=20)
                life.stage("dedup")
                joined = [a for a in life.appeals if life.load(a).status.value == "joined"]
                assert not joined, f"{len(joined)} appeals joined another"
                clock.at = T0 + timedelta(seconds=40)
                life.stage("dispatch")
                not_dispatched = [a for a in life.appeals if life.load(a).status.value != "dispatched"]
                assert not not_dispatched, [life.load(a).status.value for a in not_dispatched]
                handle(life, clock, variant)
                sweep = life.sweep()
                statuses = sorted({life.load(a).status.value for a in life.appeals})
                out = life.report(len(life.appeals))
                out.update(variant=variant, final_status=statuses, callbacks=receiver.count,
                           sweep_buckets=sweep["buckets"], alerts_raised=sweep["alerts_raised"])
                return out
        finally:
            wiring.PLATFORM = saved.pop("wiring")
            for name, platform in saved.items():
                handler(name).PLATFORM = platform
            idp.server.shutdown()
            receiver.server.shutdown()
            reset_process_caches()


def handle(life: Life, clock, variant: str) -> None:
    """The unit's steps and the citizen's ratings, at the same instants for every appeal."""
    def contact(note: str):
        # A confidential appeal's citizen is reached through the dispatch centre.
        return lambda appeal_id: {"note": note, "how": "relay" if life.load(appeal_id).anonymous else "direct"}

    at = T0 + timedelta(minutes=5)
    clock.at = at
    life.act("sign", "sign", {})
    clock.at = at + timedelta(minutes=10)
    life.act("contact", "contact", contact("已电话联系市民"))
    if variant == "redo_extension":
        clock.at = at + timedelta(minutes=30)
        due = datetime.fromisoformat(life.load(life.appeals[0]).to_dict()["deadlines"]["reply"]["due_at"])
        life.act("extension_request", "extension_request",
                 {"reason": "需协调供水公司", "new_due_at": (due + timedelta(days=5)).isoformat()})
        clock.at = at + timedelta(minutes=45)
        life.act("extension_decide", "extension_decide", {"approve": True, "reason": "同意"}, who="dispatcher")
    clock.at = at + timedelta(hours=3)
    life.act("reply", "reply", {"answer": ANSWER})
    clock.at = at + timedelta(hours=20)
    if variant == "redo_extension":
        life.rate("rating_redo", BAD)
        clock.at = at + timedelta(hours=21)
        life.act("sign_redo", "sign", {})
        clock.at = at + timedelta(hours=21, minutes=10)
        life.act("contact_redo", "contact", contact("再次联系市民"))
        clock.at = at + timedelta(hours=26)
        life.act("reply_redo", "reply", {"answer": REDONE})
        clock.at = at + timedelta(hours=44)
    life.rate("rating", GOOD)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="appeals per variant")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    plain = run(args.n, args.seed, "plain")
    redo = run(args.n, args.seed, "redo_extension")
    for r in (plain, redo):
        print(f"{r['variant']}: {r['appeals']} appeals, final {r['final_status']}")
        print(f"  {'stage':<18}{'RRU':>8}{'WRU':>8}{'req':>7}")
        for name, s in r["stages"].items():
            print(f"  {name:<18}{s['rru']:>8}{s['wru']:>8}{s['requests']:>7}")
        print(f"  {'whole life':<18}{r['rru_per_appeal']:>8}{r['wru_per_appeal']:>8}{r['requests_per_appeal']:>7}")
        print(f"  SQS messages per appeal: {r['sqs_messages_per_appeal']}; appeal item bytes (A, C) per step: "
              f"{ {k: (v['A'], v['C']) for k, v in r['appeal_item_bytes'].items()} }")
    print(json.dumps({"wru_per_appeal": plain["wru_per_appeal"], "rru_per_appeal": plain["rru_per_appeal"],
                      "wru_per_appeal_without_analytics": plain["wru_per_appeal_without_analytics"],
                      "rru_per_appeal_without_analytics": plain["rru_per_appeal_without_analytics"],
                      "targets": {"wru_per_appeal": 40, "rru_per_appeal": 12},
                      "plain": plain, "redo_extension": redo}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
