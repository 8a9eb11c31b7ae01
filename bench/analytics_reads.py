"""Read cost of the analytics views as the number of appeals grows: request units per view.

    python bench/analytics_reads.py [--sizes 300,1500] [--views 3] [--seed 5]

The issue: "reading any dashboard or ranking costs request units bounded by the number of units
and days shown, never by the number of appeals". For each size, in a fresh in-process moto stack
(the demo region loaded as an admin would), that many appeals' analytics hand-offs go through the
analytics stage itself (services/analytics.process, in time order, batches of 10): each appeal
received at a random moment of the last 30 days, in a street and category group of the demo
region's own history (regions/shenzhen/examples), dispatched to a unit of its district, and for
most of them signed, contacted, replied and rated (some late, some unhappy, some still open).
Then each view is read through the staff API in-process (chalice.test.Client, the dispatcher's
and a district leader's tokens), one warm-up and --views metered views; DynamoDB read request
units are counted from the actual requests (bench.capacity, on-demand rules).

Views: the one screen's data for the city and for a district, the city's 30-day dashboard, the
month's dashboard, the alert feed, and the public rankings job (public_record.refresh), which
reads the same counters. The last stdout line is one JSON object: per view RRU and requests per
view at each size, the ratio largest/smallest, the counter rows each view's partitions hold, and
`max_ratio`.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.local import offline_aws_env  # noqa: E402 - must run before chalicelib is imported

offline_aws_env("test", quiet=True)

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=timezone.utc)     # a Thursday, 14:00 local
REGION_DIR = ROOT / "regions" / "shenzhen"


def messages(n: int, rng: random.Random, rt) -> list[dict]:
    """n appeals' analytics hand-offs (one per commit of their life), in time order."""
    from chalicelib.domain import metrics as m
    from chalicelib.services import analytics

    history = [json.loads(line) for line in (REGION_DIR / "examples" / "history-train.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip()]
    units_by_district: dict[str, list[str]] = {}
    for u in rt.pack.units:
        units_by_district.setdefault(u.jurisdiction_code[:6], []).append(u.unit_id)
    out = []
    for i in range(n):
        ex = rng.choice(history)
        received = NOW - timedelta(seconds=rng.randrange(30 * 86400))
        district = ex["street"][:6]
        unit = rng.choice(units_by_district.get(district) or units_by_district[rt.city_code[:6]])
        appeal_id = f"B{i:07d}"
        profile = m.Profile(appeal_id, rt.region, ex["channel"], ex["appeal_type"], received.isoformat(), district,
                            ex["street"], ex["code"], unit, None, analytics.hot_words(ex["text"])).to_dict()
        steps = [("dispatched", 1, {"unit_id": unit}),
                 ("deadlines_set", 1, {"sign": iso(received + timedelta(hours=1)),
                                       "contact": iso(received + timedelta(hours=2)),
                                       "reply": iso(received + timedelta(days=3))})]
        if rng.random() < 0.92:
            steps += [("signed", rng.choice((0.2, 0.5, 1.5)), {"unit_id": unit}),
                      ("contacted", 1.8, {"unit_id": unit})]
            if rng.random() < 0.85:
                steps.append(("replied", rng.choice((20, 50, 80)), {"unit_id": unit}))
                if rng.random() < 0.7:
                    good = rng.random() < 0.9
                    steps.append(("rated", 90, {"speed": 5 if good else 2, "effect": 5 if good else 1,
                                                "service": 5, "reply_quality": 5 if good else 2, "round": 0}))
                    steps.append(("closed" if good else "sent_back_for_redo", 90, {}))
        events, seq = [], 1
        for kind, hours, data in steps:
            at = received + timedelta(hours=hours)
            if at > NOW:
                break
            seq += 1
            events.append((at, {"seq": seq, "at": iso(at), "kind": kind, "data": data}))
        out.append((received, {"topic": "analytics", "key": "00000001", "appeal_id": appeal_id, "seq": 1,
                               "from_seq": 1, "profile": profile, "events": []}))
        for at, e in events:   # one hand-off per change, as the pipeline commits them
            out.append((at, {"topic": "analytics", "key": f"{e['seq']:08d}", "appeal_id": appeal_id,
                             "seq": e["seq"], "from_seq": e["seq"], "profile": profile, "events": [e]}))
    return [msg for _, msg in sorted(out, key=lambda x: (x[0], x[1]["appeal_id"], x[1]["seq"]))]


def iso(at: datetime) -> str:
    return at.isoformat()


def measure(n: int, views: int, seed: int) -> dict:
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from bench.capacity import CapacityMeter
    from infra import moto_patches

    moto_patches.apply()
    with mock_aws():
        from infra.local import in_process_stack

        session = boto3.session.Session(region_name="us-east-1")
        in_process_stack(session)
        from infra.demo_region import load_demo_region

        load_demo_region(session, "test", REGION_DIR)
        from chalicelib.api import wiring
        from chalicelib.bootstrap import bootstrap
        from chalicelib.services import analytics, public_record
        from chalicelib.services.clock import FixedClock
        from tests.integration.staff_fixtures import AUDIENCE, ISSUER, IdP

        import os

        idp = IdP()
        os.environ.update({"JIESU_OIDC_ISSUER": ISSUER, "JIESU_OIDC_AUDIENCE": AUDIENCE,
                           "JIESU_OIDC_JWKS_URL": idp.jwks_url})
        from chalicelib.settings import get_settings

        get_settings.cache_clear()
        clock = FixedClock(NOW)
        p = bootstrap(clock=clock)
        rt = p.region("shenzhen")
        rng = random.Random(seed)
        msgs = messages(n, rng, rt)
        started = time.monotonic()
        for i in range(0, len(msgs), 10):
            result = analytics.process(p, msgs[i:i + 10])
            assert not result["failed"], result
        fill_s = time.monotonic() - started
        import app as chalice_app

        before, wiring.PLATFORM = wiring.PLATFORM, p
        out = {}
        try:
            with Client(chalice_app.app) as client:
                paths = {"screen_city": ("dispatcher", "/staff/analytics/screen"),
                         "screen_district": ("baoan_leader", "/staff/analytics/screen"),
                         "dashboard_30d": ("dispatcher", "/staff/analytics?period=30d"),
                         "dashboard_month": ("dispatcher", "/staff/analytics?period=month"),
                         "alerts": ("dispatcher", "/staff/analytics/alerts")}
                for name, (person, path) in paths.items():
                    headers = idp.headers(person)
                    assert client.http.get(path, headers=headers).status_code == 200
                    with CapacityMeter() as meter:
                        for _ in range(views):
                            resp = client.http.get(path, headers=headers)
                            assert resp.status_code == 200, resp.body
                    snap = meter.snapshot()
                    out[name] = {"rru_per_view": round(snap["read_units"] / views, 1),
                                 "requests_per_view": round(sum(snap["requests_by_op"].values()) / views, 1)}
                with CapacityMeter() as meter:
                    public_record.refresh(p)
                snap = meter.snapshot()
                out["rankings_job"] = {"rru_per_view": round(snap["read_units"], 1),
                                       "requests_per_view": sum(v for k, v in snap["requests_by_op"].items()
                                                                if k in ("Query", "GetItem", "BatchGetItem"))}
        finally:
            wiring.PLATFORM = before
            idp.server.shutdown()
        rows = sum(1 for _ in p.store.every_counter("shenzhen"))
        return {"appeals": n, "messages": len(msgs), "counter_rows": rows, "fill_s": round(fill_s, 1),
                "views": out}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="300,1500")
    ap.add_argument("--views", type=int, default=3)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    runs = [measure(n, args.views, args.seed) for n in sizes]
    for r in runs:
        print(json.dumps(r, ensure_ascii=False))
    small, large = runs[0], runs[-1]
    ratios = {v: round(large["views"][v]["rru_per_view"] / small["views"][v]["rru_per_view"], 2)
              for v in small["views"] if small["views"][v]["rru_per_view"]}
    print(json.dumps({"sizes": sizes, "appeal_ratio": round(large["appeals"] / small["appeals"], 1),
                      "rru_per_view": {v: [r["views"][v]["rru_per_view"] for r in runs] for v in small["views"]},
                      "requests_per_view": {v: [r["views"][v]["requests_per_view"] for r in runs]
                                            for v in small["views"]},
                      "counter_rows": [r["counter_rows"] for r in runs], "ratio": ratios,
                      "max_ratio": max(ratios.values()) if ratios else None}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
