"""De-duplication cost per appeal as the store grows: 1k, 10k and 100k stored appeals.

    python bench/dedup.py [--sizes 1000,10000,100000] [--sample 40] [--seed 7]

For each size, a fresh in-process moto table (infra.local.bootstrap) is filled with that many
appeals received over the last 34 days (all inside the 35-day window: the worst case). The fill
writes what the real path stores for a decided appeal - the appeal item, a posting per blocking
key with the appeal's features and party hashes, and each key's head counter - straight into
moto's backend (no HTTP round trip; the items are built by the same code as the real path):
texts and addresses from regions/shenzhen/examples/history-train.jsonl, addresses re-written
over regions/shenzhen/roads.csv and communities.csv, random party hashes.

Then the same fixed sample of new appeals (the first --sample records of
tests/data/dedup-dev.jsonl, moved to just after the fill) is taken in through intake.store()
and de-duplicated through dedup.process(), the real path. Measured per appeal: wall time
in-process (moto included, the meter's own time removed) and DynamoDB read/write request units
counted from the actual requests by bench.capacity (AWS's on-demand rules), plus a price-weighted
cost (1 WRU = 5 RRU, the on-demand price ratio). The last stdout line is one JSON object with
each size and the 100k/1k (largest/smallest) ratios.

Two moto artefacts are removed (infra.moto_patches, as on the stand-in; same semantics):
TransactWriteItems deep-copying the whole table per action, and a base-table Query sorting
every item of the table with Python-level comparisons.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.local import offline_aws_env  # noqa: E402 - must run before chalicelib is imported

offline_aws_env("test", quiet=True)

REGION_DIR = ROOT / "regions" / "shenzhen"
HISTORY = REGION_DIR / "examples" / "history-train.jsonl"
DEV = ROOT / "tests" / "data" / "dedup-dev.jsonl"
BASE = datetime(2026, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))
WRU_PRICE_IN_RRU = 5.0   # on-demand: a write request unit costs five read request units
ACCOUNT = "123456789012"



# --- synthetic but realistic stored appeals ----------------------------------------------------

def _csv(name: str) -> list[dict]:
    with (REGION_DIR / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def build_pool(size: int, rng: random.Random) -> list[dict]:
    """(text, address, features) combinations; features are computed once per combination."""
    from chalicelib.nlp.dedup_features import dispatch_view, extract_features
    from chalicelib.policy import build
    from chalicelib.policy.pack.parse import read_pack

    pack = read_pack(REGION_DIR)
    lexicon = build.place_lexicon(pack)
    # Stored features carry the dispatch model's view, as the dedup stage keeps it (once per text).
    classifier = build.classifier(pack)
    views: dict[str, tuple] = {}
    history = [json.loads(line) for line in HISTORY.read_text(encoding="utf-8").splitlines() if line.strip()]
    streets = {r["code"]: r for r in _csv("streets.csv")}
    districts = {r["code"]: r["name"] for r in _csv("districts.csv")}
    places = [(r["name"], r["street_code"]) for r in _csv("roads.csv")] + \
             [(r["name"], r["street_code"]) for r in _csv("communities.csv")]
    premises = ["某小区", "某大厦", "附近", "旁", "某商铺", "某工地", "路口", "某出租屋", "某学校"]
    pool = []
    for i in range(size):
        h = rng.choice(history)
        if i % 3 == 0:
            address = h["address"]   # as the citizen wrote it
        else:
            name, code = rng.choice(places)
            st = streets.get(code, {})
            district = districts.get(st.get("district_code", ""), "")
            form = rng.randrange(3)
            address = (f"{district}{st.get('name', '')}{name}{rng.choice(premises)}" if form == 0 else
                       f"{name}{rng.choice(premises)}" if form == 1 else f"{st.get('name', '')}{name}")
        if h["text"] not in views:
            views[h["text"]] = dispatch_view(sorted(classifier.scores(h["text"])[0].items(), key=lambda kv: -kv[1]))
        feats = extract_features({"id": "x", "received_at": BASE, "text": h["text"], "address": address,
                                  "channel": h["channel"], "appeal_type": h.get("appeal_type", "")}, lexicon,
                                 dispatch=views[h["text"]])
        pool.append({"text": h["text"], "address": address, "channel": h["channel"],
                     "appeal_type": h.get("appeal_type") or "投诉", "features": feats})
    return pool


def fill(n: int, pool: list[dict], rng: random.Random, table_name: str) -> dict:
    """Write n decided appeals (appeal item, postings, heads) straight into moto's backend."""
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.domain.appeal import Appeal, AppealType, Location, Urgency
    from chalicelib.nlp.dedup_features import blocking_keys
    from chalicelib.services.ids import new_appeal_id
    from chalicelib.domain.records import Posting
    from chalicelib.storage import keys
    from chalicelib.storage.dedup_index import DedupHeadItem
    from chalicelib.storage.records import to_item
    from chalicelib.storage.repository import appeal_to_item

    backend = dynamodb_backends[ACCOUNT]["us-east-1"]
    heads: Counter[str] = Counter()
    items = 0
    for _ in range(n):
        e = rng.choice(pool)
        at = BASE - timedelta(seconds=rng.uniform(60, 34 * 86400))
        appeal_id = new_appeal_id(at)
        hashes = [f"{rng.getrandbits(128):032x}" if rng.random() < p else "" for p in (0.7, 0.85)]
        hashes = [h for h in hashes if h]
        appeal = Appeal(appeal_id=appeal_id, region="shenzhen", channel=e["channel"], ticket_id=appeal_id,
                        appeal_type=AppealType(e["appeal_type"]), urgency=Urgency.NORMAL, title="",
                        content=e["text"], location=Location(address=e["address"]), attachments=(),
                        reported_at=at, received_at=at, has_party=bool(hashes), channels=[e["channel"]],
                        last_report_at=at, reporter_hashes=hashes[:1], version=2, last_seq=2)
        backend.put_item(table_name, appeal_to_item(appeal).serialize())
        feats = dict(e["features"].to_dict(), appeal_id=appeal_id, received_at=at.timestamp() / 3600.0)
        for k in blocking_keys(e["features"], hashes):
            backend.put_item(table_name, to_item(Posting(k, appeal_id, at, feats, tuple(hashes), None, 42), at)
                             .serialize())
            heads[k] += 1
            items += 1
    for k, count in heads.items():
        backend.put_item(table_name, DedupHeadItem(keys.dedup_pk(k), keys.DEDUP_HEAD_SK, n=count)
                         .serialize())
    return {"postings": items, "keys": len(heads), "max_postings_per_key": max(heads.values()) if heads else 0}


def sample_records(count: int) -> list[dict]:
    recs = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()][:count]
    first = datetime.fromisoformat(recs[0]["received_at"])
    for r in recs:   # keep their spacing, move them to just after the fill
        r["at"] = BASE + (datetime.fromisoformat(r["received_at"]) - first)
    return recs


# --- one size ----------------------------------------------------------------------------------

def measure(size: int, pool: list[dict], sample: list[dict], seed: int) -> dict:
    import boto3
    from moto import mock_aws

    from bench.capacity import CapacityMeter
    from bench.intake import drain_queues

    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        from infra.local import in_process_stack

        res = in_process_stack(session)
        # The region is loaded as an admin would: the dedup path reads places and policy from the live pack.
        from infra.demo_region import load_demo_region

        load_demo_region(session, "test", REGION_DIR)
        from chalicelib.bootstrap import bootstrap
        from chalicelib.domain.appeal import AppealType, Location, NewAppeal, Party, Urgency
        from chalicelib.observability import metrics
        from chalicelib.policy.runtime import runtime_for
        from chalicelib.services import dedup, intake
        from chalicelib.services.clock import FixedClock

        t0 = time.perf_counter()
        filled = fill(size, pool, random.Random(seed), res.table_name)
        fill_s = time.perf_counter() - t0

        ids = []
        for r in sample:
            cmd = NewAppeal(channel=r["channel"], ticket_id=r["id"], appeal_type=AppealType.COMPLAINT,
                            urgency=Urgency.NORMAL, content=r["text"], reported_at=r["at"],
                            location=Location(address=r["address"]),
                            party=Party(id_number=r["id_number"], phone=r["phone"]))
            ids.append((intake.store(bootstrap(), cmd, r["id"], None, r["at"]).body["appeal_id"], r["at"]))
        drain_queues(session, res)
        policy = runtime_for("shenzhen").dedup_policy
        dedup.process(bootstrap(clock=FixedClock(ids[0][1])), ids[0][0], policy)  # warm-up (imports, lexicon, clients)

        # The dispatch model's view the dedup stage computes per appeal (classifier already built).
        clf = runtime_for("shenzhen").classifier
        from chalicelib.nlp.dedup_features import dispatch_view
        classify_ms = []
        for r in sample[1:]:
            t = time.perf_counter()
            dispatch_view(sorted(clf.scores(r["text"])[0].items(), key=lambda kv: -kv[1]))
            classify_ms.append(1000 * (time.perf_counter() - t))

        meter = CapacityMeter()
        times, outcomes, candidates = [], Counter(), []
        with meter:
            start = time.perf_counter()
            for appeal_id, at in ids[1:]:
                hook_before = meter.snapshot()["hook_seconds"]
                t = time.perf_counter()
                r = dedup.process(bootstrap(clock=FixedClock(at)), appeal_id, policy)
                times.append(time.perf_counter() - t - (meter.snapshot()["hook_seconds"] - hook_before))
                outcomes[r.outcome] += 1
                candidates.append(r.candidates)
            total_s = time.perf_counter() - start
        snap = meter.snapshot()
        metrics.clear_metrics()
        n = len(times)
        rru, wru = snap["read_units"] / n, snap["write_units"] / n
        return {
            "stored_appeals": size,
            "fill_seconds": round(fill_s, 1),
            "index": filled,
            "sample": n,
            "outcomes": dict(outcomes),
            "candidates_mean": round(statistics.mean(candidates), 1),
            "wall_ms_mean": round(1000 * statistics.mean(times), 2),
            "wall_ms_p50": round(1000 * statistics.median(times), 2),
            "read_units": round(rru, 2),
            "write_units": round(wru, 2),
            "cost_rru_equivalent": round(rru + WRU_PRICE_IN_RRU * wru, 2),
            "requests": round(snap["requests"] / n, 2),
            "requests_by_op": {k: round(v / n, 2) for k, v in snap["requests_by_op"].items()},
            "units_by_op": {k: {"read": round(v["read"] / n, 2), "write": round(v["write"] / n, 2)}
                            for k, v in snap["units_by_op"].items()},
            "errors": snap["errors"],
            "meter_approximate": snap["approximate"],
            "loop_seconds": round(total_s, 2),
            "classify_ms_mean": round(statistics.mean(classify_ms), 2),
            "classify_ms_max": round(max(classify_ms), 2),
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--sample", type=int, default=40)
    ap.add_argument("--pool", type=int, default=2000, help="distinct (text, address) combinations")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    from infra import moto_patches

    moto_patches.apply()
    t0 = time.perf_counter()
    pool = build_pool(args.pool, random.Random(args.seed))
    print(f"pool of {len(pool)} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    sample = sample_records(args.sample + 1)
    # A throw-away round first: the first measured size would otherwise pay for cold caches.
    measure(200, pool, sample, args.seed)
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        t = time.perf_counter()
        r = measure(size, pool, sample, args.seed)
        results.append(r)
        print(f"{size:>7} stored: {r['wall_ms_mean']:.1f} ms/appeal, {r['read_units']:.2f} RRU + "
              f"{r['write_units']:.2f} WRU, {r['candidates_mean']} candidates "
              f"(fill {r['fill_seconds']}s, total {time.perf_counter() - t:.0f}s)", file=sys.stderr)
    lo, hi = results[0], results[-1]

    def ratio(k: str) -> float:
        return round(hi[k] / lo[k], 3) if lo[k] else float("nan")

    summary = {
        "sizes": results,
        "ratio_largest_to_smallest": {"of": f"{hi['stored_appeals']}/{lo['stored_appeals']}",
                                      "cost_rru_equivalent": ratio("cost_rru_equivalent"),
                                      "read_units": ratio("read_units"), "write_units": ratio("write_units"),
                                      "requests": ratio("requests"), "wall_ms_mean": ratio("wall_ms_mean")},
        "target_cost_ratio": 1.3,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if len(results) >= 3:
        mid = results[-2]
        summary["ratio_largest_to_middle"] = {
            "of": f"{hi['stored_appeals']}/{mid['stored_appeals']}",
            "cost_rru_equivalent": round(hi["cost_rru_equivalent"] / mid["cost_rru_equivalent"], 3),
            "read_units": round(hi["read_units"] / mid["read_units"], 3),
            "wall_ms_mean": round(hi["wall_ms_mean"] / mid["wall_ms_mean"], 3)}
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
