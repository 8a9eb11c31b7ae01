"""Deadline sweep (F-HD-3): cost per sweep against the number of open appeals, and alert lateness.

Usage: python bench/sweep.py [--sizes 1000,10000,100000] [--due 50] [--repeat 3] [--sim-minutes 80]
The last stdout line is one JSON object.

Part 1 (flat cost). moto in-process, the spec's table (stage "test"). Open appeals are bulk-loaded
with BatchWriteItem: an appeal item (a real aggregate's item, re-keyed) and the DueItems of its
running reply deadline (warning / overdue / supervise) at random instants over the next days.
Each measured sweep is one schedule firing that reads one minute bucket in which exactly `--due`
real appeals (intake-shaped, dispatched with start_clock) reach their sign warning. Request units
are counted by bench/capacity.py from the requests actually made; wall time is the handler's.
Target: units and wall time at 100k open appeals ≤ 1.3 x those at 1k.

moto's own costs grow with the table where DynamoDB's do not: a base-table Query sorts every
item of the table (moto/dynamodb/models/table.py, Table.query → all_items()), and every
TransactWriteItems deep-copies the whole table once per action as its rollback backup
(moto/dynamodb/models/__init__.py). The bench gives moto a partition lookup for Query and a
rollback backup of only the items a transaction touches (`--moto-raw` keeps moto as is; at 100k
it then needs minutes and gigabytes per sweep). Results are identical; only moto's cost changes.

Part 2 (lateness). A FixedClock advanced minute by minute over `--sim-minutes`, one sweep per
minute as the schedule fires (on the minute), over deadlines with random seconds: appeals
dispatched during the run (sign/contact warnings and red alerts; 30 % sign in time and must not
alert), and consultations dispatched the day before whose reply falls due during the run. Each
raised alert's lateness is its raise time minus its deadline instant; target ≤ 60 s.
"""
from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.local import offline_aws_env  # noqa: E402 - must run before chalicelib is imported

offline_aws_env("test", quiet=True)

REGION_DIR = ROOT / "regions" / "shenzhen"
LEAD = "U440303001-JD"
SHANGHAI_OFFSET = timezone(timedelta(hours=8))


def touched_item_rollback() -> None:
    """moto backs up whole tables before a transaction; back up only the touched items instead."""
    import copy

    import moto.dynamodb.models as backend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class _NoTableCopy:
        @staticmethod
        def deepcopy(obj, memo=None):
            return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)

    backend.copy = _NoTableCopy
    original = backend.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        saved = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or op.get("Item") or {}
            if table.hash_key_attr not in key or table.range_key_attr not in key:
                continue
            h, r = DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr])
            saved.append((table, h, r, copy.deepcopy(table.items[h].get(r)) if h in table.items else None))
        try:
            return original(self, transact_items)
        except Exception:
            for table, h, r, item in reversed(saved):
                if item is None:
                    if h in table.items:
                        table.items[h].pop(r, None)
                else:
                    table.items[h][r] = item
            raise

    backend.DynamoDBBackend.transact_write_items = transact_write_items


def partition_queries() -> None:
    """Give moto's base-table Query DynamoDB's partition lookup (see the module docstring)."""
    from moto.dynamodb.models.table import Table

    original = Table.query
    sig = inspect.signature(original)

    def query(self, *args, **kwargs):
        bound = sig.bind(self, *args, **kwargs)
        hash_key, index = bound.arguments.get("hash_key"), bound.arguments.get("index_name")
        if index is None and hash_key is not None and self.range_key_attr:
            part = list(self.items.get(hash_key, {}).values())
            self.all_items = lambda: sorted(part, key=lambda x: x.range_key)
            try:
                return original(self, *args, **kwargs)
            finally:
                del self.all_items
        return original(self, *args, **kwargs)

    Table.query = query


def start_stack():
    import boto3
    from moto import mock_aws

    mock = mock_aws()
    mock.start()
    session = boto3.session.Session(region_name="us-east-1")
    from infra.local import in_process_stack

    res = in_process_stack(session)
    from chalicelib.policy import runtime
    from chalicelib.policy.pack.parse import read_pack

    runtime.serve_packs({"shenzhen": read_pack(REGION_DIR).with_version(1)})   # the demo pack, not loaded
    return mock, session, res


def dispatched(now: datetime, seq: int, appeal_type: str = "投诉"):
    """A real appeal aggregate, dispatched at `now` with its clocks started (no storage yet)."""
    from chalicelib.bootstrap import bootstrap
    from chalicelib.domain.appeal import Appeal, AppealType, NewAppeal, Urgency
    from chalicelib.services import deadlines

    cmd = NewAppeal(channel="hotline", ticket_id=f"B-{seq}", appeal_type=AppealType(appeal_type),
                    urgency=Urgency.NORMAL, content="桂园路路灯不亮，晚上出行很不安全，请尽快修复",
                    reported_at=now,
                    title="路灯不亮")
    a = Appeal.take_in(cmd, f"{now:%Y%m%d}-B{seq:08d}", "shenzhen", now)
    a.district_code, a.street_code = "440303", "440303001"
    a.dispatch_to(LEAD, "01.01.001", "bench", "440303", now, "system:dispatch", "auto")
    due = deadlines.start_clock(bootstrap(), a, now)
    a.pull_events()
    a.version = 1
    return a, due


class Loader:
    """BatchWriteItem in chunks of 25, retrying unprocessed items."""

    def __init__(self, session, table: str):
        self.client = session.client("dynamodb")
        self.table = table
        self.pending: list[dict] = []
        self.written = 0

    def put(self, item: dict) -> None:
        self.pending.append({"PutRequest": {"Item": item}})
        if len(self.pending) == 25:
            self.flush()

    def flush(self) -> None:
        req = {self.table: self.pending}
        while req and req.get(self.table):
            out = self.client.batch_write_item(RequestItems=req)
            self.written += len(req[self.table]) - len(out.get("UnprocessedItems", {}).get(self.table, []))
            req = out.get("UnprocessedItems") or {}
        self.pending = []


def _s(v: str) -> dict:
    return {"S": v}


def load_background(loader: Loader, template: dict, start: int, count: int, base: datetime, rng: random.Random) -> None:
    """`count` open appeals, each with its reply DueItems at random instants 8 h .. 4 days ahead
    (clear of the measured minutes, which must hold exactly the fixed number of due instants)."""
    from chalicelib.domain.deadlines import minute_bucket
    from chalicelib.storage import keys

    for n in range(start, start + count):
        appeal_id = f"20260511-OPEN{n:07d}"
        item = dict(template)
        item.update(PK=_s(keys.appeal_pk(appeal_id)), appeal_id=_s(appeal_id), ticket_id=_s(f"OPEN-{n}"),
                    GSI2SK=_s(keys.time_id_sk(template["received_at"]["S"], appeal_id)),
                    GSI1SK=_s(f"signed#{n}#{appeal_id}"))
        loader.put(item)
        warn = base + timedelta(hours=8) + timedelta(seconds=rng.uniform(0, 3 * 86400))
        for alert, at in (("warning", warn), ("overdue", warn + timedelta(hours=6)),
                          ("supervise", warn + timedelta(days=1, hours=6))):
            loader.put({"PK": _s(keys.due_pk(minute_bucket(at, round_up=True), appeal_id)),
                        "SK": _s(keys.due_sk(appeal_id, "reply", 1, alert)), "kind": _s("due"),
                        "appeal_id": _s(appeal_id), "step": _s("reply"), "alert": _s(alert),
                        "deadline_version": {"N": "1"}, "at": _s(at.astimezone(timezone.utc).isoformat())})
    loader.flush()


def put_appeals(appeals) -> None:
    """Write real appeals and their DueItems (one batch per 25 items, through PynamoDB)."""
    from chalicelib.storage import repository
    from chalicelib.storage.models import Item

    with Item.batch_write() as batch:
        for a, due in appeals:
            batch.save(repository.appeal_to_item(a))
            for d in due:
                batch.save(d)


def set_state(at: datetime) -> None:
    from chalicelib.domain.deadlines import minute_bucket
    from chalicelib.storage import keys
    from chalicelib.storage.models import SweepStateItem

    SweepStateItem(keys.SWEEP_DEADLINES_PK, keys.SWEEP_SK, last_bucket=minute_bucket(at), updated_at="bench").save()


def fire(at: datetime, meter=None) -> tuple[dict, float, dict]:
    """One schedule firing into the real handler, metered."""
    from bench.capacity import CapacityMeter
    from functions.deadlines import handler
    from infra.runner import LambdaContext, scheduled_event
    from infra.spec import SPEC

    from chalicelib.services.clock import FixedClock

    fn = next(f for f in SPEC.functions if f.name == "deadlines")
    handler.PLATFORM = handler.PLATFORM.with_clock(FixedClock(at))
    event = scheduled_event("arn:aws:events:us-east-1:123456789012:rule/jiesu-test-deadlines", "us-east-1", at)
    meter = CapacityMeter()
    with meter:
        t = time.perf_counter()
        result = handler.lambda_handler(event, LambdaContext(fn, "us-east-1", "aws"))
        wall = time.perf_counter() - t
    return result, wall, meter.snapshot()


def flat(session, table: str, sizes: list[int], due_n: int, repeat: int, rng: random.Random) -> dict:
    """Sweep cost at each size of the open backlog, with exactly `due_n` due in the swept minute."""
    from bench.capacity import CapacityMeter

    base = datetime(2026, 5, 12, 9, 0, tzinfo=SHANGHAI_OFFSET)   # a Tuesday
    template_appeal, _ = dispatched(base - timedelta(days=1), 0)
    template_appeal.status = template_appeal.status.__class__("signed")
    from chalicelib.storage import repository

    template = repository.appeal_to_item(template_appeal).serialize()
    loader = Loader(session, table)
    loaded, seq, window = 0, 1, 0
    rows = []
    CapacityMeter()  # installs the hook before timing anything (idle hooks return at once)
    for size in sizes:
        t = time.perf_counter()
        # The loaded table lives in this process (moto), not in the function's memory: keep
        # Python's collector from re-walking it on every sweep.
        gc.disable()
        load_background(loader, template, loaded, size - loaded, base, rng)
        gc.collect()
        gc.freeze()
        gc.enable()
        load_s = time.perf_counter() - t
        loaded = size
        sweeps = []
        for n in range(repeat + 1):
            # A fresh minute for every sweep, 40 minutes apart: the sign/contact instants of one
            # window's appeals (up to +30 min) never fall into another measured minute.
            minute = base + timedelta(minutes=40 * window)
            window += 1
            batch = []
            for _ in range(due_n):
                # Sign warning = dispatch + 11.25 min: lands inside `minute` with random seconds.
                warn = minute - timedelta(seconds=rng.uniform(0.001, 59.999))
                batch.append(dispatched(warn - timedelta(minutes=11, seconds=15), seq))
                seq += 1
            put_appeals(batch)
            set_state(minute - timedelta(minutes=1))
            result, wall, units = fire(minute + timedelta(seconds=1))
            assert result["warning"] == due_n and result["due_read"] == due_n and result["buckets"] == 1, result
            if n == 0:
                continue                                  # warm-up (first requests of this size)
            sweeps.append({"wall_s": wall, "read_units": units["read_units"], "write_units": units["write_units"],
                           "requests": units["requests"]})
        rows.append({
            "open_appeals": size, "items_loaded": loader.written, "load_s": round(load_s, 1),
            "wall_s_median": round(statistics.median(s["wall_s"] for s in sweeps), 4),
            "read_units": statistics.median(s["read_units"] for s in sweeps),
            "write_units": statistics.median(s["write_units"] for s in sweeps),
            "requests": statistics.median(s["requests"] for s in sweeps),
        })
        print(f"[flat] {rows[-1]}", file=sys.stderr)
    first, last = rows[0], rows[-1]
    units_first = first["read_units"] + first["write_units"]
    units_last = last["read_units"] + last["write_units"]
    return {"rows": rows, "due_per_sweep": due_n,
            "ratio_units": round(units_last / units_first, 3),
            "ratio_wall": round(last["wall_s_median"] / first["wall_s_median"], 3)}


def simulate(minutes: int, rng: random.Random) -> dict:
    """Minute-by-minute schedule over deadlines with random seconds; lateness of every alert."""
    from chalicelib.storage.store import DynamoStore
    from chalicelib.domain.appeal import Appeal
    from chalicelib.storage import keys, repository
    from chalicelib.storage.models import AlertItem

    start = datetime(2026, 5, 12, 13, 0, tzinfo=SHANGHAI_OFFSET)   # Tuesday afternoon, after part 1
    end = start + timedelta(minutes=minutes)
    live = []                       # (dispatch time, seq) created while the clock runs
    seq = 5_000_000
    for _ in range(300):
        live.append(start + timedelta(seconds=rng.uniform(0, (minutes - 35) * 60)))
    live.sort()
    signs = {}                      # appeal index -> sign time (30 % sign before the warning)
    # Consultations dispatched the day before: their 1-working-day reply falls due during the run.
    yesterday = []
    for _ in range(100):
        t = start - timedelta(days=1) + timedelta(seconds=rng.uniform(0, (minutes - 5) * 60))
        a, due = dispatched(t, seq, "咨询")
        seq += 1
        a.sign_for(LEAD, t + timedelta(minutes=1), "unit_handler:b")
        a.contact_citizen(LEAD, "已联系", t + timedelta(minutes=2), "unit_handler:b")
        a.pull_events()
        yesterday.append((a, due))
    put_appeals(yesterday)
    set_state(start)
    created: list[Appeal] = []
    pending_signs: list[tuple[datetime, str]] = []
    t = start
    idx = 0
    sweep_units, sweep_walls = [], []
    while t <= end:
        t += timedelta(minutes=1)
        # Work that happened during the minute before this firing, in time order.
        while idx < len(live) and live[idx] <= t:
            a, due = dispatched(live[idx], seq)
            seq += 1
            put_appeals([(a, due)])
            created.append(a)
            if rng.random() < 0.3:
                at = live[idx] + timedelta(seconds=rng.uniform(60, 600))
                signs[a.appeal_id] = at
                pending_signs.append((at, a.appeal_id))
            idx += 1
        pending_signs.sort()
        while pending_signs and pending_signs[0][0] <= t:
            at, appeal_id = pending_signs.pop(0)
            appeal = repository.load_appeal(appeal_id)
            appeal.sign_for(LEAD, at, "unit_handler:b")
            uow = DynamoStore().unit_of_work(at)
            uow.track(appeal)
            uow.commit()
        _, wall, units = fire(t)
        sweep_walls.append(wall)
        sweep_units.append(units["read_units"] + units["write_units"])
    # Expected: every instant inside the run whose step was not done before it.
    expected, late, unexpected = {}, [], 0
    for a in created + [x for x, _ in yesterday]:
        for step, clock in a.handling_clock.steps.items():
            dl = clock.deadline
            done = signs.get(a.appeal_id) if step == "sign" else None
            if clock.done_at:
                done = clock.done_at
            for alert, attr in (("warning", "warn_at"), ("overdue", "due_at"), ("supervise", "supervise_at")):
                instant = getattr(dl, attr)
                if start < instant <= end and (done is None or done > instant):
                    expected[(a.appeal_id, step, alert)] = instant
        for item in AlertItem.query(keys.appeal_pk(a.appeal_id), AlertItem.SK.startswith(keys.ALERT_SK_PREFIX)):
            k = (a.appeal_id, item.step, item.alert)
            if k not in expected:
                unexpected += 1
                continue
            late.append((datetime.fromisoformat(item.at) - expected.pop(k)).total_seconds())
    late.sort()
    p95 = late[min(len(late) - 1, int(round(0.95 * (len(late) - 1))))] if late else None
    return {"minutes": minutes, "sweeps": len(sweep_walls), "alerts": len(late), "missed": len(expected),
            "unexpected": unexpected, "signed_in_time": len(signs),
            "lateness_s": {"max": round(max(late), 3) if late else None, "p95": round(p95, 3) if late else None,
                           "min": round(min(late), 3) if late else None,
                           "mean": round(statistics.mean(late), 3) if late else None},
            "sweep_wall_s_max": round(max(sweep_walls), 4), "sweep_units_max": max(sweep_units)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--due", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sim-minutes", type=int, default=80)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--moto-raw", action="store_true", help="keep moto's whole-table Query")
    args = ap.parse_args()
    if not args.moto_raw:
        partition_queries()
        touched_item_rollback()
    mock, session, res = start_stack()
    rng = random.Random(args.seed)
    try:
        t = time.perf_counter()
        part1 = flat(session, res.table_name, [int(s) for s in args.sizes.split(",")], args.due, args.repeat, rng)
        part2 = simulate(args.sim_minutes, rng)
        out = {"bench": "deadline_sweep", "flat": part1, "simulation": part2,
               "targets": {"ratio_max": 1.3, "lateness_max_s": 60},
               "pass": part1["ratio_units"] <= 1.3 and part1["ratio_wall"] <= 1.3
               and part2["missed"] == 0 and part2["unexpected"] == 0
               and (part2["lateness_s"]["max"] or 0) <= 60,
               "moto_query": "raw" if args.moto_raw else "partition lookup",
               "total_s": round(time.perf_counter() - t, 1)}
    finally:
        mock.stop()
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
