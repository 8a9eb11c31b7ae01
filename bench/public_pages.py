"""Read cost of the public pages and Open311 listings as the store grows: request units per view.

    python bench/public_pages.py [--sizes 1000,100000] [--views 5] [--real 30] [--seed 11]

The issue: "the public pages and Open311 listings read precomputed views, never scan appeals at
read time; a page's reads are bounded whatever the number of stored appeals". For each size, in a
fresh in-process moto stack (infra.local.in_process_stack, the demo region loaded as an admin
would, infra.demo_region):

1. `--real` appeals go the whole way through the real services, on a clock a few days before the
   measured instant: signed hotline requests (intake.take_in), dedup.process, dispatch.process,
   staff.perform sign / contact / reply by a handler of the unit given the appeal, and the
   citizen's rating on the tracking page (evaluation.rate_on_page), which closes it. One in eight
   (3 of 30) stop earlier (dispatched, signed, replied and not rated) and stay open; an appeal the
   model leaves to a dispatcher, or that dedup joins to another, is not counted. Every change writes the
   appeal's public view, its Open311 listing, its public-record rows and its unit's counters, as
   in production (services/public_views.py).
2. The store is filled to the size with clones of those real appeals, written straight into
   moto's backend (no request): for a closed one its appeal item, its public view (GSI2 listing
   O311#<region>#<bucket>#<month>) and its public-record rows (one per list); for an open one (6 %, received in the
   last 20 days) its appeal item and view. Each clone has a new id and every timestamp of every
   item shifted to a new receipt time spread over the last 12 months (month/year partitions
   recomputed from the shifted times); its unit counters (STAT#...) are added to the real ones.
   Then the rankings job runs (public_record.refresh), as scheduled.
3. Each page is read through the Chalice app in-process (chalice.test.Client, JSON), with
   chalicelib.api.wiring.PLATFORM on a clock fixed at the measured instant: one warm-up view (not
   metered), then --views metered views; DynamoDB read request units are counted from the actual
   requests by bench.capacity (AWS's on-demand rules). Every answer must be a 200 with rows in it
   (an error page reads nothing and would look cheap).

The last stdout line is one JSON object: per page the RRU and requests per view at each size and
the ratio largest/smallest size, `max_ratio` (the issue asks <= 1.1), and the fill times; under
`detail`, per size and page, each request shape (operation, index, partition key with ids masked,
Limit) with its calls, items returned and RRU per view, which names the read that grows.

moto's artefacts are patched as everywhere else (infra.moto_patches), and one more for the
measured views only (IndexPartitions below: moto walks the whole table for every page of a GSI
query; --check-index compares every answer with stock moto). The fill writes straight into moto's
backend, whose per-item size check is quadratic in attributes: about 2 ms per appeal (~3.5 min at
100k); the whole 1000,100000 run takes about 10 minutes and 3 GB.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.local import offline_aws_env  # noqa: E402 - must run before chalicelib is imported

offline_aws_env("test", quiet=True)

from bench.store_fill import ACCOUNT, LOCAL, Template, hotline_appeal, place_clones, text_of  # noqa: E402

REGION_DIR = ROOT / "regions" / "shenzhen"
HISTORY = REGION_DIR / "examples" / "history-train.jsonl"
NOW = datetime(2026, 6, 20, 4, 0, tzinfo=timezone.utc)        # the measured instant: 12:00 in Shenzhen
REAL_START = NOW - timedelta(days=3)                           # the real appeals' clock starts here
OPEN_SHARE = 0.06                                              # clones still open (views only)
OPEN_WITHIN = timedelta(days=20)                               # ... received this recently
SPREAD = timedelta(days=365)                                   # closed clones: received over a year
ANSWER = "已现场处置完毕，经复查问题已解决，已向诉求人说明处理结果"
GOOD = {"speed": "5", "effect": "5", "service": "4", "reply_quality": "5"}
FAIR = {"speed": "3", "effect": "4", "service": "4", "reply_quality": "3"}
OPEN_STAGES = ("dispatched", "signed", "replied", "contacted")   # where the open real appeals stop


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- 1. real appeals through the real services ---------------------------------------------------

def make_real(p, clock, creds: dict, n_real: int, rng: random.Random) -> list[dict]:
    """n_real appeals taken in, de-duplicated, dispatched and handled; the last few stay open."""
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services import dedup, dispatch, evaluation, staff

    rt = p.region(p.settings.region_code)
    history = [json.loads(line) for line in HISTORY.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng.shuffle(history)
    n_open = min(len(OPEN_STAGES), max(1, n_real // 8))
    made: list[dict] = []
    tried = 0
    for h in history:
        if len(made) >= n_real:
            break
        tried += 1
        if tried > 4 * n_real:
            raise SystemExit(f"only {len(made)} of {n_real} real appeals could be dispatched automatically")
        appeal_id, token = hotline_appeal(p, creds, clock.now(), tried, h["text"], h["address"], rng,
                                          h.get("appeal_type") or "投诉")
        clock.advance(minutes=5)
        if dedup.process(p, appeal_id).outcome != "new_master":
            clock.advance(minutes=5)
            continue
        clock.advance(minutes=5)
        dispatch.process(p, appeal_id)
        appeal = p.store.load_appeal(appeal_id)
        if appeal.status.value != "dispatched":    # left for a dispatcher: not one of ours
            clock.advance(minutes=5)
            continue
        unit = appeal.assignment.unit_id
        who = Principal("bench-h1", "handler", Role.UNIT_HANDLER, appeal.region, unit, rt.unit_jurisdictions[unit])
        left = n_real - len(made)
        stop = OPEN_STAGES[left - 1] if left <= n_open else None
        steps = [("sign", {}), ("contact", {"note": "已电话联系诉求人", "how": "direct"}), ("reply", {"answer": ANSWER})]
        done = "dispatched"
        for action, fields in steps:
            if stop == done:
                break
            clock.advance(minutes=20)
            staff.perform(p, appeal_id, action, who, fields)
            done = {"sign": "signed", "contact": "contacted", "reply": "replied"}[action]
        if stop is None:
            clock.advance(minutes=40)
            evaluation.rate_on_page(p, token, GOOD if rng.random() < 0.8 else FAIR)
        status = p.store.load_appeal(appeal_id).status.value
        made.append({"appeal_id": appeal_id, "token": token, "status": status, "unit": unit,
                     "district": appeal.district_code, "street": appeal.street_code})
        clock.advance(minutes=10)
    if len(made) < n_real:
        raise SystemExit(f"only {len(made)} of {n_real} real appeals were made")
    return made


def count_changes(p, session, res) -> int:
    """The analytics stage over what the real appeals handed off (functions/analytics does the
    same in production): the unit counters the rankings and the public record read. Returns the
    messages counted."""
    from chalicelib.services import analytics

    sqs, url, n = session.client("sqs"), res.queue_urls["analytics"], 0
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        result = analytics.process(p, [json.loads(m["Body"]) for m in msgs])
        if result["failed"]:
            raise SystemExit(f"analytics: counting failed for {result['failed']}")
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
        n += len(msgs)
    if not n:
        raise SystemExit("the real appeals handed nothing to analytics: the rankings would show nothing")
    return n


# --- 2. clones, straight into moto's backend ----------------------------------------------------

def collect_templates(session, table: str, real: list[dict]) -> tuple[list[Template], list[Template]]:
    """The real appeals' items: closed and open templates, each with what analytics counted of it
    (`contribution`; none where the analytics stage did not run)."""
    from chalicelib.domain.metrics import decode
    from chalicelib.services.public_views import RECORD_FACETS

    ddb = session.client("dynamodb")
    items, kwargs = [], {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    by_pk = {(i["PK"]["S"], i["SK"]["S"]): i for i in items}
    rows = defaultdict(list)
    for i in items:
        if i["PK"]["S"].startswith("PUBREC#"):
            rows[i["appeal_id"]["S"]].append(i)
    closed, open_ = [], []
    for r in real:
        a = by_pk.get((f"APPEAL#{r['appeal_id']}", "A"))
        v = by_pk.get((f"VIEW#{r['appeal_id']}", "V"))
        if a is None or v is None:
            raise SystemExit(f"real appeal {r['appeal_id']} has no appeal item or no public view")
        summary = json.loads(text_of(v["body"]))
        if "GSI2PK" not in v or summary.get("master_id") or not summary.get("listed"):
            continue   # clone only what a listed master looks like
        t = Template(r["appeal_id"], a, v, sorted(rows.get(r["appeal_id"], []), key=lambda i: i["PK"]["S"]))
        state = by_pk.get((f"APPEAL#{r['appeal_id']}", "AN"))   # what analytics counted of it
        t.contribution = decode(json.loads(text_of(state["contribution"]))) if state else {}
        if t.closed:
            if len(t.rows) != len(RECORD_FACETS):
                raise SystemExit(f"closed appeal {t.appeal_id} has {len(t.rows)} public-record rows, "
                                 f"not {len(RECORD_FACETS)}")
            closed.append(t)
        else:
            open_.append(t)
    if not closed or not open_:
        raise SystemExit(f"templates: {len(closed)} closed, {len(open_)} open; need both")
    return closed, open_


def counter_rows(session, table: str) -> list[dict]:
    """The counter rows the real appeals' analytics wrote."""
    ddb = session.client("dynamodb")
    rows, kwargs = [], {"TableName": table, "FilterExpression": "#k = :c", "ExpressionAttributeNames": {"#k": "kind"},
                        "ExpressionAttributeValues": {":c": {"S": "counter"}}}
    while True:
        page = ddb.scan(**kwargs)
        rows += page["Items"]
        if "LastEvaluatedKey" not in page:
            return rows
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def fill(n: int, closed: list[Template], open_: list[Template], counters: list[dict], table: str,
         rng: random.Random) -> dict:
    """n clones straight into moto's backend, each adding what its template's appeal added to the
    counters (its analytics contribution, days and months shifted with it), so the rankings and
    the record rank units over as many appeals as the store holds; the counter rows are then
    written once each, the real appeals' own counts included."""
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.domain.metrics import COUNTERS
    from chalicelib.storage import keys

    if not any(t.contribution for t in closed):
        raise SystemExit("no closed template was counted by analytics: the clones would add no counters")
    sums: dict[tuple, Counter] = defaultdict(Counter)
    for row in counters:
        _, region, grain, period = row["PK"]["S"].split("#", 3)
        sums[(region, grain, period, row["dimension"]["S"], row["ident"]["S"])].update(
            {c: int(row[c]["N"]) for c in COUNTERS if c in row})

    def each(t: Template, received: datetime, delta: timedelta) -> None:
        was, now = t.received.astimezone(LOCAL).date(), received.astimezone(LOCAL).date()
        days, months = (now - was).days, (now.year - was.year) * 12 + now.month - was.month
        for (grain, period, dim, ident), counts in t.contribution.items():
            if grain == "D":
                period = (datetime.fromisoformat(period) + timedelta(days=days)).date().isoformat()
            else:
                y, m = divmod(int(period[:4]) * 12 + int(period[5:7]) - 1 + months, 12)
                period = f"{y:04d}-{m + 1:02d}"
            sums[(t.appeal["region"]["S"], grain, period, dim, ident)].update(counts)

    written, n_open = place_clones(n, closed, open_, table, rng, NOW, OPEN_SHARE, OPEN_WITHIN, SPREAD, each, log)
    backend = dynamodb_backends[ACCOUNT]["us-east-1"]
    for (region, grain, period, dim, ident), counts in sums.items():
        backend.put_item(table, {"PK": {"S": keys.counters_pk(region, grain, period)},
                                 "SK": {"S": keys.counter_sk(dim, ident)}, "kind": {"S": "counter"},
                                 "region": {"S": region}, "dimension": {"S": dim}, "ident": {"S": ident},
                                 **{c: {"N": str(v)} for c, v in counts.items() if v}})
    return {"clones": n, "open_clones": n_open, "items": written, "counter_rows": len(sums)}


# --- 3. the pages -------------------------------------------------------------------------------

class RequestLog:
    """Which reads a page makes: per request shape (operation, index, partition key with ids
    masked, Limit) the calls, items returned and read units, to name the one that grows. Wraps
    botocore's one API call path outside bench.capacity's hook; the meter's own shadow reads are
    not logged."""

    _ID = re.compile(r"\d{8}-[0-9A-Z]{10}")
    _HASH = re.compile(r"[0-9a-f]{32,64}")

    def __init__(self) -> None:
        self.entries: dict[str, list[float]] | None = None

    def install(self) -> None:
        import botocore.client

        from bench import capacity

        capacity.install()
        inner = botocore.client.BaseClient._make_api_call
        log = self

        def _make_api_call(client, operation_name, api_params):
            response = inner(client, operation_name, api_params)
            if log.entries is not None and not getattr(capacity._local, "shadow", 0) and \
                    client.meta.service_model.service_name == "dynamodb":
                log.note(operation_name, api_params, response)
            return response

        botocore.client.BaseClient._make_api_call = _make_api_call

    def note(self, op: str, params: dict, response: dict) -> None:
        from bench.capacity import item_size, query_read_units, read_units

        if op == "GetItem":
            key = params["Key"].get("PK", {}).get("S", "?")
            item = response.get("Item")
            n, rru = int(item is not None), read_units(item_size(item), bool(params.get("ConsistentRead")))
        elif op in ("Query", "Scan"):
            values = params.get("ExpressionAttributeValues") or {}
            key = (values.get(":0") or next(iter(values.values()), {})).get("S", "?") if op == "Query" else "(scan)"
            items = response.get("Items") or []
            n = len(items)
            rru = query_read_units([item_size(i) for i in items], bool(params.get("ConsistentRead")))
            if params.get("IndexName"):
                key = f"{params['IndexName']}:{key}"
            if params.get("Limit"):
                key += f" Limit={params['Limit']}"
        elif op == "BatchGetItem":
            got = [i for items in (response.get("Responses") or {}).values() for i in items]
            keys_ = [k.get("PK", {}).get("S", "?") for r in params["RequestItems"].values() for k in r["Keys"]]
            key = f"{len(keys_)} keys " + ",".join(sorted({self._mask(k) for k in keys_}))
            n, rru = len(got), sum(read_units(item_size(i), False) for i in got)
        else:
            key, n, rru = "", 0, 0.0
        row = self.entries.setdefault(f"{op} {self._mask(key)}", [0, 0, 0.0])
        row[0] += 1
        row[1] += n
        row[2] += rru

    def _mask(self, key: str) -> str:
        return self._HASH.sub("<hash>", self._ID.sub("<id>", key))

    def start(self) -> None:
        self.entries = {}

    def stop(self, views: int) -> dict[str, dict[str, float]]:
        entries, self.entries = self.entries or {}, None
        return {k: {"calls": round(c / views, 2), "items": round(n / views, 1), "rru": round(r / views, 2)}
                for k, (c, n, r) in sorted(entries.items())}


REQUESTS = RequestLog()


class IndexPartitions:
    """A moto artefact removed for the measured views only: moto answers a query on a global
    secondary index by walking every item of the table, once per page (O(table) per 1 MB page:
    minutes per Open311 listing at 100k appeals). While active, moto is handed the items of the
    queried index partition instead (built once, after the fill); it then applies the same key
    condition, order, Limit and 1 MB paging, so the answers and their items are the same (check
    with --check-index on a small size: every page's answer both ways). The pages write nothing (WRU per view is checked to
    be 0), so the partitions stay exact."""

    def __init__(self) -> None:
        self.parts: dict[tuple[str, str], list] | None = None
        self.table = None
        self.hits = 0
        self._hint = threading.local()

    def install(self) -> None:
        from moto.dynamodb.models.table import Table

        inner_query, inner_all = Table.query, Table.all_items
        ix = self

        def query(table, hash_key, *args, **kwargs):
            index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
            conds = kwargs.get("hash_key_conditions") or []
            part = None
            if ix.parts is not None and table is ix.table and index_name and len(conds) == 1:
                part = ix.parts.get((index_name, conds[0][1].value), [])
                ix.hits += 1
            ix._hint.part = part
            try:
                return inner_query(table, hash_key, *args, **kwargs)
            finally:
                ix._hint.part = None

        def all_items(table):
            part = getattr(ix._hint, "part", None)
            return iter(part) if part is not None else inner_all(table)

        Table.query, Table.all_items = query, all_items

    def build(self, table_name: str) -> int:
        from moto.dynamodb.models import dynamodb_backends

        self.table = dynamodb_backends[ACCOUNT]["us-east-1"].get_table(table_name)
        hashes = [(gsi.name, k["AttributeName"]) for gsi in self.table.global_indexes for k in gsi.schema
                  if k["KeyType"] == "HASH"]
        parts: dict[tuple[str, str], list] = defaultdict(list)
        for item in self.table.all_items():
            for name, attr in hashes:
                v = item.attrs.get(attr)
                if v is not None:
                    parts[(name, v.value)].append(item)
        self.parts = dict(parts)
        return len(self.parts)

    def drop(self) -> None:
        self.parts, self.table = None, None


INDEXES = IndexPartitions()

def pages(real: list[dict], views: dict[str, dict]) -> dict[str, tuple[str, Callable[[Any], int]]]:
    """name -> (path, what counts as a non-empty answer: the number of rows it shows)."""
    closed = [r for r in real if r["status"] == "closed"]
    districts = Counter(r["district"] for r in closed)
    district = districts.most_common(1)[0][0]
    units = Counter(r["unit"] for r in closed)
    unit = units.most_common(1)[0][0]
    pick = max(closed, key=lambda r: len(views[r["appeal_id"]]["timeline"]))
    cat_street = next(r for r in closed if views[r["appeal_id"]]["summary"].get("category"))
    s = views[cat_street["appeal_id"]]["summary"]
    category, street = s["category"]["code"][:2], s["street"]["code"]
    service_code = s["service_code"]
    return {
        "track": (f"/track/{pick['token']}", lambda b: len(b["timeline"])),
        "public": ("/public", lambda b: len(b["rows"])),
        "public_district": (f"/public?district={district}", lambda b: len(b["rows"])),
        "public_category_street": (f"/public?category={category}&street={street}", lambda b: len(b["rows"])),
        "public_unit": (f"/public/units/{unit}", lambda b: len(b["recent"])),
        "public_rankings": ("/public/rankings?period=year&metric=satisfaction",
                            lambda b: len(b.get("ranked") or []) + len(b.get("unranked") or [])),
        "open311_list": ("/open311/v2/requests.json", lambda b: len(b)),
        "open311_list_filtered": (f"/open311/v2/requests.json?service_code={service_code}&status=closed",
                                  lambda b: len(b)),
        "open311_by_id": (f"/open311/v2/requests/{pick['appeal_id']}.json", lambda b: len(b)),
    }


def view_page(client, name: str, path: str, shown: Callable[[Any], int]) -> tuple[int, Any]:
    resp = client.http.get(path, headers={"Accept": "application/json"})
    if resp.status_code != 200:
        raise SystemExit(f"{name}: GET {path} answered {resp.status_code}: {resp.body[:300]!r}")
    try:
        rows = shown(json.loads(resp.body))
    except (ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{name}: GET {path}: not the page's JSON ({exc}): {resp.body[:300]!r}") from None
    if rows <= 0:
        raise SystemExit(f"{name}: GET {path} shows nothing: {resp.body[:300]!r}")
    body = json.loads(resp.body)
    return rows, body.get("rows_read") if isinstance(body, dict) else None


# --- one size -----------------------------------------------------------------------------------

def measure(size: int, n_views: int, n_real: int, seed: int, check_index: bool = False) -> dict:
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from bench.capacity import CapacityMeter
    from bench.intake import drain_queues

    rng = random.Random(seed)
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        from infra.demo_region import load_demo_region
        from infra.local import in_process_stack

        res = in_process_stack(session)
        creds = load_demo_region(session, "test", REGION_DIR)

        from chalicelib.bootstrap import bootstrap
        from chalicelib.observability import metrics
        from chalicelib.services import public_record
        from chalicelib.services.clock import FixedClock

        t = time.perf_counter()
        clock = FixedClock(REAL_START)
        p = bootstrap(clock=clock)
        real = make_real(p, clock, creds, n_real, rng)
        if clock.now() >= NOW:
            raise SystemExit("the real appeals ran past the measured instant")
        counted = count_changes(p, session, res)
        drain_queues(session, res)
        real_s = time.perf_counter() - t
        log(f"  {size}: {len(real)} real appeals ({Counter(r['status'] for r in real)}), {counted} changes "
            f"counted, in {real_s:.0f}s")

        closed, open_ = collect_templates(session, res.table_name, real)
        counters = counter_rows(session, res.table_name)
        t = time.perf_counter()
        filled = fill(max(0, size - len(real)), closed, open_, counters, res.table_name, rng)
        fill_s = time.perf_counter() - t
        log(f"  {size}: filled {filled} in {fill_s:.0f}s")
        at_now = bootstrap(clock=FixedClock(NOW))
        refreshed = public_record.refresh(at_now)
        log(f"  {size}: rankings refreshed: {refreshed}")

        views = {}
        for r in real:
            v = at_now.store.get_view(r["appeal_id"])
            views[r["appeal_id"]] = {"summary": v.summary, "timeline": v.timeline}

        INDEXES.build(res.table_name)
        import app
        from chalicelib.api import wiring

        wiring.PLATFORM = at_now
        out: dict[str, dict] = {}
        with Client(app.app) as client:
            for name, (path, shown) in pages(real, views).items():
                rows, rows_read = view_page(client, name, path, shown)   # warm-up, not metered
                if check_index:
                    fast = client.http.get(path, headers={"Accept": "application/json"}).body
                    parts, INDEXES.parts = INDEXES.parts, None
                    stock = client.http.get(path, headers={"Accept": "application/json"}).body
                    INDEXES.parts = parts
                    if fast != stock:
                        raise SystemExit(f"{name}: the answer differs on stock moto index queries")
                    log(f"  {size}: {name}: same answer on stock moto index queries")
                meter = CapacityMeter()
                t = time.perf_counter()
                REQUESTS.start()
                with meter:
                    for _ in range(n_views):
                        if view_page(client, name, path, shown) != (rows, rows_read):
                            raise SystemExit(f"{name}: the page changed between two views")
                secs = time.perf_counter() - t
                reads = REQUESTS.stop(n_views)
                snap = meter.snapshot()
                if snap["errors"]:
                    raise SystemExit(f"{name}: DynamoDB errors while metered: {snap['errors']}")
                if snap["write_units"]:
                    raise SystemExit(f"{name}: a page view wrote to the table ({snap['requests_by_op']})")
                out[name] = {
                    "path": path,
                    "rows_shown": rows,
                    "rows_read": rows_read,
                    "rru_per_view": round(snap["read_units"] / n_views, 3),
                    "requests_per_view": round(snap["requests"] / n_views, 3),
                    "requests_by_op": {k: round(v / n_views, 3) for k, v in snap["requests_by_op"].items()},
                    "rru_by_op": {k: round(v["read"] / n_views, 3) for k, v in snap["units_by_op"].items()},
                    "wru_per_view": round(snap["write_units"] / n_views, 3),
                    "approximate": snap["approximate"],
                    "seconds_per_view": round((secs - snap["hook_seconds"]) / n_views, 3),
                    "reads": reads,
                }
                log(f"  {size}: {name:<24} {out[name]['rru_per_view']:>8} RRU  "
                    f"{out[name]['requests_per_view']:>6} requests  {rows:>5} rows  "
                    f"{out[name]['seconds_per_view']:.2f}s/view  {path}")
        log(f"  {size}: {INDEXES.hits} index queries answered from index partitions")
        INDEXES.drop()
        metrics.clear_metrics()
        return {"stored_appeals": size, "fill_seconds": round(fill_s, 1), "real_seconds": round(real_s, 1),
                "filled": filled, "pages": out}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--views", type=int, default=5, help="metered views per page (after one warm-up)")
    ap.add_argument("--real", type=int, default=30, help="appeals made through the real services")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--check-index", action="store_true",
                    help="also read every page on stock moto index queries and compare (slow: small sizes)")
    args = ap.parse_args(argv)

    from infra import moto_patches

    moto_patches.apply()
    REQUESTS.install()
    INDEXES.install()
    sizes = [int(s) for s in args.sizes.split(",")]
    t0 = time.perf_counter()
    results = []
    for size in sizes:
        t = time.perf_counter()
        log(f"{size} stored appeals:")
        results.append(measure(size, args.views, args.real, args.seed, args.check_index))
        log(f"{size} stored appeals: done in {time.perf_counter() - t:.0f}s")
    lo, hi = results[0], results[-1]
    summary_pages = {}
    for name in lo["pages"]:
        a, b = lo["pages"][name], hi["pages"][name]
        summary_pages[name] = {
            "rru_per_view": {str(r["stored_appeals"]): r["pages"][name]["rru_per_view"] for r in results},
            "requests_per_view": {str(r["stored_appeals"]): r["pages"][name]["requests_per_view"] for r in results},
            "rows_shown": {str(r["stored_appeals"]): r["pages"][name]["rows_shown"] for r in results},
            **({"rows_read": {str(r["stored_appeals"]): r["pages"][name]["rows_read"] for r in results}}
               if a["rows_read"] is not None else {}),
            "ratio": round(b["rru_per_view"] / a["rru_per_view"], 3) if a["rru_per_view"] else None,
        }
    ratios = [v["ratio"] for v in summary_pages.values() if v["ratio"] is not None]
    print(json.dumps({"sizes": sizes, "views_per_page": args.views, "pages": summary_pages,
                      "max_ratio": max(ratios) if ratios else None, "target_ratio": 1.1,
                      "fill_seconds": {str(r["stored_appeals"]): r["fill_seconds"] for r in results},
                      "detail": {str(r["stored_appeals"]): {n: {k: v for k, v in pg.items()
                                                                if k in ("requests_by_op", "reads")}
                                                            for n, pg in r["pages"].items()} for r in results},
                      "seconds": round(time.perf_counter() - t0, 1)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
