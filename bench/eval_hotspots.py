"""Hotspot early warning: replay an appeal stream in time order through the detector and score it.

    python bench/eval_hotspots.py --cases hotspots-dev.jsonl --spikes hotspots-dev-spikes.jsonl
    make eval-hotspots CASES=... SPIKES=...

Every appeal becomes the event the analytics stage gives the detector (``AppealEvent.from_codes``:
id, received_at, group = code[:5], street, district = street[:6]) and goes through
``HotspotDetector.observe`` in (received_at, id) order, the detector deciding at each appeal
with only what came before. The calendar is the region pack's (``--region``, default Shenzhen).
With ``--roundtrip`` each event loads only its six state records from a JSON store and writes
them back, as a Lambda keeping its state in DynamoDB would (same answers, slower).

Scoring, as ../shared/data/README.md ("Hotspot early warning") states it:

    - A spike is **caught** when an alert for its group, on its street or its district, is raised
      between the spike's first appeal and the end of the day after `end`.
    - **Precision** is the share of alerts that match some spike in that sense; **false alerts
      per 1,000 cell-days** counts the others against (group, area) cells x days scored.
    - **Lag** is hours from a spike's first appeal to its first matching alert.
    - The detector may use only appeals received before the moment it decides (replay in time
      order); the first 28 days are history only.

Read here as: the days are local (Asia/Shanghai) dates; the first 28 dates from the stream's
first appeal are history, and alerts raised in them are not scored; a spike's first appeal is
the first appeal of its group on its street received from 00:00 of ``start`` to the end of
``end`` (the spike's own 00:00 when it has none); cells are the (group, street) and
(group, district) pairs that occur in the stream; the median lag is over caught spikes (null
when none is caught). The last stdout line is one JSON object.

``--protocol`` also prints JSON lines before it: the ceiling (the share of spikes whose street
cell has at least 2, 3 appeals in the scoring window, and the median hours from the first
appeal to that one: no detector alerting only from that count can do better), then the scored
days cut in two halves by time (a spike counts in the half of its start; an alert in the half
of its day, true if it matches any spike) and the groups cut in three folds by a stable hash (a
group's street and district cells stay together). Only the scoring is restricted: the detector
always runs on the whole stream. ``--inject N --seeds 1,2,3`` adds N synthetic spikes per seed
the README's way (for tuning with more than the gold's 24; figures pooled over the seeds).
``--method reference`` runs the data README's reference instead (a day-level Poisson test per
cell against the previous 28 days, Bonferroni over cells, at least 3 appeals, raised at the end
of the day), which checks this scorer against the README's figures (0.83 recall, 0.95 precision;
this scorer gives 0.83 and 0.93).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from pathlib import Path

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")   # the stage's metrics: not on stdout
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.domain.calendar import SHANGHAI  # noqa: E402
from chalicelib.domain.hotspots import (  # noqa: E402
    CLOCKS, METHODS, SPENDS, Alert, AppealEvent, HotspotDetector, HotspotState, Params, cell_key, poisson_sf,
)

HISTORY_DAYS = 28


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def region_calendar(region: Path):
    from chalicelib.policy import build
    from chalicelib.policy.pack.parse import read_pack

    return build.work_calendar(read_pack(region))


def events_of(cases: list[dict]) -> list[AppealEvent]:
    events = [AppealEvent.from_codes(c["id"], datetime.fromisoformat(c["received_at"]), c["code"], c["street"])
              for c in cases]
    return sorted(events, key=lambda e: (e.received_at, e.appeal_id))


def local_day(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def day_end(d: date) -> datetime:
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=SHANGHAI)


# -- detectors ------------------------------------------------------------------------------

def run_stage(cases: list[dict], region: Path, batch: int = 10) -> list[Alert]:
    """The stream through the analytics stage itself (services/analytics.process, the function's
    code): each appeal becomes the hand-off its intake and its dispatch commit (profile and slim
    case events), delivered in time order in SQS-sized batches; the stage keeps its counters, its
    detector state and its alerts in the store (the in-memory one of the tests: the same reads and
    writes as DynamoDB, in a second rather than an hour), and the alerts are read back from it."""
    from chalicelib.domain import metrics as m
    from chalicelib.services import analytics
    from chalicelib.services.clock import FixedClock
    from tests.fakes import fake_platform, region_runtime

    rt = region_runtime(str(region))
    ordered = sorted(cases, key=lambda c: (c["received_at"], c["id"]))
    clock = FixedClock(datetime.fromisoformat(ordered[0]["received_at"]))
    p = fake_platform(clock, region=rt)
    for i in range(0, len(ordered), batch):
        msgs = []
        for c in ordered[i:i + batch]:
            at = datetime.fromisoformat(c["received_at"])
            profile = m.Profile(c["id"], rt.region, "hotline", "投诉", at.isoformat(), c["street"][:6], c["street"],
                                c["code"], None, None, analytics.hot_words(c.get("text", "")))
            msgs.append({"topic": "analytics", "key": f"{2:08d}", "appeal_id": c["id"], "seq": 2, "from_seq": 1,
                         "profile": profile.to_dict(), "events": [
                             {"seq": 2, "at": at.isoformat(), "kind": "dispatched", "data": {"unit_id": None}}]})
        clock.at = datetime.fromisoformat(ordered[min(i + batch, len(ordered)) - 1]["received_at"])
        result = analytics.process(p, msgs)
        if result["failed"]:
            raise SystemExit(f"the stage failed appeals {result['failed'][:3]}")
    alerts = []
    for item in p.store.items_of("hotspot_alert"):
        b = item.body
        alerts.append(Alert(b["alert_id"], b["group"], b["area"], b["level"], datetime.fromisoformat(b["raised_at"]),
                            datetime.fromisoformat(b["window_start"]), datetime.fromisoformat(b["window_end"]),
                            b["expected"], b["observed"], b["p_value"], tuple(b["appeal_ids"])))
    return sorted(alerts, key=lambda a: (a.raised_at, a.alert_id))


def run_detector(events: list[AppealEvent], calendar, params: Params, roundtrip: bool = False) -> list[Alert]:
    detector = HotspotDetector(calendar, params)
    alerts: list[Alert] = []
    if not roundtrip:
        state = HotspotState()
        for event in events:
            state, raised = detector.observe(state, event)
            alerts.extend(raised)
        return alerts
    store: dict[str, str] = {}  # key -> JSON, as items in a table
    for event in events:
        keys = HotspotState.keys_for(event)
        state = HotspotState.from_dict({k: json.loads(store[k]) for k in keys if k in store})
        state, raised = detector.observe(state, event)
        records = state.to_dict()
        for key in state.dirty:
            store[key] = json.dumps(records[key])
        alerts.extend(raised)
    return alerts


def run_reference(events: list[AppealEvent], alpha: float = 0.05, min_count: int = 3) -> list[Alert]:
    """The README's reference: day counts per cell vs the mean of the previous 28 days."""
    daily: dict[date, Counter] = defaultdict(Counter)
    ids: dict[tuple[date, str], list[str]] = defaultdict(list)
    for e in events:
        d = local_day(e.received_at)
        for area in (e.street, e.district):
            daily[d][(e.group, area)] += 1
            ids[(d, cell_key(e.group, area))].append(e.appeal_id)
    days = sorted(daily)
    alerts: list[Alert] = []
    for n, d in enumerate(days):
        if n < HISTORY_DAYS:
            continue
        past = days[n - HISTORY_DAYS:n]
        hist = Counter()
        for p in past:
            hist.update(daily[p])
        seen = set(hist) | set(daily[d])
        for (group, area), obs in sorted(daily[d].items()):
            mean = hist[(group, area)] / HISTORY_DAYS
            pval = poisson_sf(obs, mean)
            if obs >= min_count and pval < alpha / len(seen):
                at = day_end(d)
                alerts.append(Alert(f"ref:{group}:{area}:{d}", group, area, "street" if len(area) > 6 else "district",
                                    at, day_end(d - timedelta(days=1)), at, mean, obs, pval,
                                    tuple(ids[(d, cell_key(group, area))])))
    return alerts


# -- scoring --------------------------------------------------------------------------------

def score(events: list[AppealEvent], spikes: list[dict], alerts: list[Alert],
          days: set[date] | None = None, groups: set[str] | None = None) -> dict:
    """The README's scoring, optionally restricted to some scored days and some groups."""
    all_days = sorted({local_day(e.received_at) for e in events})
    scored = set(all_days[HISTORY_DAYS:]) if days is None else set(days)
    keep = (lambda g: True) if groups is None else (lambda g: g in groups)
    cells = {(e.group, a) for e in events for a in (e.street, e.district) if keep(e.group)}
    firsts = {}
    by_cell: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for e in events:
        by_cell[(e.group, e.street)].append(e.received_at)
    gold = [s for s in spikes if keep(s["group"])]  # every spike can make an alert true ...
    counted = [i for i, s in enumerate(gold) if date.fromisoformat(s["start"]) in scored]  # ... these count
    for i, s in enumerate(gold):
        begin = datetime.combine(date.fromisoformat(s["start"]), time(0), tzinfo=SHANGHAI)
        until = day_end(date.fromisoformat(s["end"]))
        inside = [t for t in by_cell[(s["group"], s["street"])] if begin <= t < until]
        firsts[i] = min(inside) if inside else begin
    scored_alerts = [a for a in alerts if local_day(a.raised_at) in scored and keep(a.group)]

    def matches(a: Alert, i: int) -> bool:
        s = gold[i]
        return (a.group == s["group"] and a.area in (s["street"], s["district"])
                and firsts[i] <= a.raised_at < day_end(date.fromisoformat(s["end"]) + timedelta(days=1)))

    lags, true_alerts = [], 0
    for a in scored_alerts:
        true_alerts += any(matches(a, i) for i in range(len(gold)))
    caught = 0
    for i in counted:
        hits = [a.raised_at for a in scored_alerts if matches(a, i)]
        if hits:
            caught += 1
            lags.append((min(hits) - firsts[i]).total_seconds() / 3600)
    return {"caught": caught, "spikes": len(counted), "alerts": len(scored_alerts), "true_alerts": true_alerts,
            "cell_days": len(cells) * len(scored), "lags": lags, "cells": len(cells), "days_scored": len(scored)}


def figures(*raws: dict) -> dict:
    """The four figures (and their counts) of one or more scorings pooled (several injection seeds)."""
    tot = {k: sum(r[k] for r in raws) for k in ("caught", "spikes", "alerts", "true_alerts", "cell_days")}
    lags = [lag for r in raws for lag in r["lags"]]
    false_alerts = tot["alerts"] - tot["true_alerts"]
    return {
        "recall": round(tot["caught"] / tot["spikes"], 4) if tot["spikes"] else None,
        "precision": round(tot["true_alerts"] / tot["alerts"], 4) if tot["alerts"] else None,
        "false_alerts_per_1000_cell_days": round(1000 * false_alerts / tot["cell_days"], 4) if tot["cell_days"] else None,
        "median_lag_hours": round(statistics.median(lags), 2) if lags else None,
        "spikes": tot["spikes"], "caught": tot["caught"], "alerts": tot["alerts"], "false_alerts": false_alerts,
        "cells": raws[0]["cells"], "days_scored": raws[0]["days_scored"],
    }


def ceiling(events: list[AppealEvent], spikes: list[dict], min_count: int) -> dict:
    """What no detector with this minimum count can beat: spikes whose street cell has at least
    min_count appeals in the scoring window, and the median hours from the first to that one."""
    by_cell: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for e in events:
        by_cell[(e.group, e.street)].append(e.received_at)
    lags = []
    for s in spikes:
        begin = datetime.combine(date.fromisoformat(s["start"]), time(0), tzinfo=SHANGHAI)
        until = day_end(date.fromisoformat(s["end"]) + timedelta(days=1))
        inside = sorted(t for t in by_cell[(s["group"], s["street"])] if begin <= t < until)
        if len(inside) >= min_count:
            lags.append((inside[min_count - 1] - inside[0]).total_seconds() / 3600)
    return {"fold": f"ceiling:min_count={min_count}", "recall": round(len(lags) / len(spikes), 4) if spikes else None,
            "median_lag_hours": round(statistics.median(lags), 2) if lags else None, "spikes": len(spikes)}


def inject(cases: list[dict], spikes: list[dict], count: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Add ``count`` synthetic spikes the README's way (one group on one street for 1-3 days,
    Poisson(extra_per_day) extra appeals a day at 07:00-23:00, after the history), with their gold."""
    rng = random.Random(seed)
    days = sorted({c["received_at"][:10] for c in cases})
    groups = sorted({c["code"][:5] for c in cases})
    streets = sorted({c["street"] for c in cases})
    leaves = defaultdict(list)
    for c in cases:
        leaves[c["code"][:5]].append(c["code"])
    added, gold, taken = [], [], {(s["group"], s["district"]) for s in spikes}
    while len(gold) < count:
        group, street = rng.choice(groups), rng.choice(streets)
        if (group, street[:6]) in taken:
            continue
        taken.add((group, street[:6]))
        first = rng.randrange(HISTORY_DAYS + 2, len(days) - 4)
        length, extra = rng.randint(1, 3), rng.choice((3, 4, 6, 8, 12))
        for d in days[first:first + length]:
            for _ in range(_poisson(rng, extra)):
                at = datetime.fromisoformat(d + "T07:00:00+08:00") + timedelta(seconds=rng.uniform(0, 16 * 3600))
                added.append({"id": f"SYN{seed}-{len(added):05d}", "received_at": at.isoformat(timespec="seconds"),
                              "code": rng.choice(leaves[group]), "street": street})
        gold.append({"group": group, "street": street, "district": street[:6], "start": days[first],
                     "end": days[first + length - 1], "extra_per_day": extra})
    return cases + added, spikes + gold


def _poisson(rng: random.Random, mean: float) -> int:
    n, t = 0, rng.expovariate(1.0)
    while t < mean:
        n, t = n + 1, t + rng.expovariate(1.0)
    return n


def group_fold(group: str, folds: int = 3) -> int:
    return int(hashlib.sha256(group.encode()).hexdigest(), 16) % folds


def folds(events: list[AppealEvent]) -> list[tuple[str, dict]]:
    """The scoring restrictions of the protocol: two halves of the scored days, three group folds."""
    days = sorted({local_day(e.received_at) for e in events})[HISTORY_DAYS:]
    half = len(days) // 2
    out = [("all", {}), ("time:first-half", {"days": set(days[:half])}), ("time:second-half", {"days": set(days[half:])})]
    groups = sorted({e.group for e in events})
    for k in range(3):
        out.append((f"cells:{k + 1}/3", {"groups": {g for g in groups if group_fold(g) == k}}))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", required=True)
    ap.add_argument("--spikes", required=True)
    ap.add_argument("--region", default=str(ROOT / "regions" / "shenzhen"))
    ap.add_argument("--method", default=Params.method, help="a tail, optionally -<spend> (nb-appeal: the "
                    "level alpha per test instead of per cell-hour), or reference",
                    choices=METHODS + tuple(f"{m}-{s}" for m in METHODS for s in SPENDS) + ("reference",))
    ap.add_argument("--clock", default=Params.clock, choices=CLOCKS)
    ap.add_argument("--alpha", type=float, default=Params.alpha)
    ap.add_argument("--min-count", type=int, default=Params.min_count)
    ap.add_argument("--horizon-hours", type=float, default=Params.horizon_hours)
    ap.add_argument("--half-life-days", type=float, default=Params.half_life_days)
    ap.add_argument("--prior-weight", type=float, default=Params.prior_weight)
    ap.add_argument("--roundtrip", action="store_true", help="state through JSON records per event")
    ap.add_argument("--path", default="stage", choices=("stage", "detector"),
                    help="stage: through the analytics stage with its defaults (what make eval-hotspots "
                    "measures); detector: the detector alone with the parameters given (for tuning)")
    ap.add_argument("--protocol", action="store_true", help="also one JSON line per time half and cell fold")
    ap.add_argument("--inject", type=int, default=0, help="add this many synthetic spikes per seed (tuning only)")
    ap.add_argument("--seeds", default="1", help="injection seeds, comma-separated; figures are pooled")
    ap.add_argument("--alerts", help="write the alerts as JSONL here")
    args = ap.parse_args(argv)

    base_cases, base_spikes = read_jsonl(args.cases), read_jsonl(args.spikes)
    if args.method == "reference":
        params: dict = {"method": "reference"}
    else:
        method, _, spend = args.method.partition("-")
        p = Params(method=method, spend=spend or Params.spend, clock=args.clock, alpha=args.alpha, min_count=args.min_count,
                   horizon_hours=args.horizon_hours, half_life_days=args.half_life_days,
                   prior_weight=args.prior_weight)
        calendar = region_calendar(Path(args.region))
        params = {k: getattr(p, k) for k in ("method", "spend", "clock", "alpha", "min_count", "horizon_hours",
                                             "half_life_days", "prior_weight")}
    runs = []
    for seed in ([int(x) for x in args.seeds.split(",")] if args.inject else [None]):
        cases, spikes = (base_cases, base_spikes) if seed is None else inject(base_cases, base_spikes, args.inject, seed)
        events = events_of(cases)
        if args.method == "reference":
            alerts = run_reference(events)
        elif args.path == "stage":
            alerts = run_stage(cases, Path(args.region))
        else:
            alerts = run_detector(events, calendar, p, args.roundtrip)
        runs.append((events, spikes, alerts))
    if args.alerts:
        with open(args.alerts, "w", encoding="utf-8") as fh:
            for a in runs[0][2]:
                fh.write(json.dumps(a.to_dict(), ensure_ascii=False) + "\n")
    lines = folds(runs[0][0]) if args.protocol else [("all", {})]
    if args.protocol:
        for k in sorted({2, 3, args.min_count}):
            print(json.dumps(ceiling(events_of(base_cases), base_spikes, k)))
    for name, where in lines[1:] + lines[:1]:
        raws = [score(events, spikes, alerts, **where) for events, spikes, alerts in runs]
        fold = {} if name == "all" else {"fold": name}
        print(json.dumps({**fold, **figures(*raws), **params, "path": args.path,
                          **({"injected_per_seed": args.inject, "seeds": args.seeds} if args.inject else {})},
                         ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
