"""Read cost and server time of the staff workbench pages as the store grows.

    python bench/workbench_pages.py [--sizes 1000,100000] [--views 5] [--real 30] [--share 0.06] [--seed 11]

The issue: "a page renders in under 300 ms server time with 10k appeals stored (`bench/`:
request units per inbox page at 1k and 100k stored appeals)". For each size, in a fresh
in-process moto stack (infra.local.in_process_stack, the demo region loaded as an admin would),
built the way bench/public_pages.py builds it and with its pieces:

1. `--real` appeals the whole way through the real services (public_pages.make_real: most
   closed, a few open), then the workbench's own real appeals, all in Xixiang street (西乡,
   440306002) of Bao'an district (440306), taken in as signed hotline work orders (the demo
   region's history of that street), de-duplicated and dispatched by the real stages, then
   worked by the staff use cases (staff.perform) as the demo people would:
   - `unit`: dispatched to the street office U440306002-JD (by the model, else the dispatcher
     assigns it there) and left dispatched, signed, contacted or replied by its handler;
   - `key`: the same, and flagged key work (重点办) by the dispatcher: a key marker in the
     leaders' queue of the district's loop (LEADERQ#440306);
   - `dispatch`: vague texts at a Xixiang address that the model leaves to a dispatcher: in the
     district's manual dispatch queue (DISPATCHQ#440306).
2. The store is filled to the size with clones written straight into moto's backend (no
   request; bench/store_fill.place_clones): `--share` of the size per kind above (6 %: 60 per
   queue at 1k, 6000 at 100k, so a bigger store is a fuller queue while a page shows at most
   50), each clone of that kind's real appeal with its appeal item (GSI1 UNIT#U440306002-JD or
   DISPATCHQ#440306 / <status>#<due>#<id>, GSI3 AREA#440306), its key marker (GSI1
   LEADERQ#440306 / <flagged at>#<id>), its party (the lists read it: masked hints) and its public
   view; new id, every timestamp shifted to a receipt in the last 20 days. Their case events are
   not cloned (no list reads them; the case file read is a real appeal's). The rest of the size
   is public_pages' clones of its real appeals (appeal, view, public-record rows; received over
   a year, 6 % open in their own units); the units' counters are not filled (no workbench page
   reads them).
3. Each page is read through the Chalice app in-process (chalice.test.Client) with the session
   cookie `jiesu_session=<ID token>` of a demo person (tests/integration/staff_fixtures.IdP: its
   JWKS served on 127.0.0.1, JIESU_OIDC_* pointed at it), chalicelib.api.wiring.PLATFORM on a
   clock fixed at the measured instant: the unit inbox (xixiang_handler, /staff/work?queue=unit),
   the dispatch queue (the demo dispatcher, city level: the city's loop and every district's,
   /staff/work?queue=dispatch), the key queue (baoan_leader, /staff/work?queue=key) and one case
   file (xixiang_handler, the real appeal of the unit with the most case events). One warm-up
   view (not metered), then --views metered views; each must answer 200 and show rows (an error
   or sign-in page reads nothing and would look cheap). DynamoDB read request units are counted
   from the actual requests by bench.capacity (AWS's on-demand rules).

Server time (`ms_per_view`) is the wall time of the in-process request, the meter's own work
taken out: routing, sign-in (the token's signature), the page's reads, rendering. The reads are
moto's in-process answers, whose cost is not DynamoDB's (a GetItem is a few ms of Python here;
a GSI query sorts the queried index partition, all of it, in Python: O(queue) where DynamoDB
reads only the page), so it is an upper bound of what the page costs against DynamoDB, where
each request adds a network round trip instead. `ms_in_moto_per_view` is the part spent in the
DynamoDB calls (botocore and moto, in-process); the rest is the app's own work.

The last stdout line is one JSON object: per page the RRU and requests per view at each size,
the rows shown, the entries in the queue's index partition, `ms_per_view` and
`ms_in_moto_per_view` at each size, and the ratio largest/smallest size of RRU per view;
`max_ratio`; `over_300ms` (pages slower than 300 ms at 10k stored appeals or more); under `detail`, per size and page, each request shape
(operation, index, partition key with ids masked, Limit; a GetItem's sort key too) with its
calls, items returned and RRU per view, which names a read that grows.

moto is patched as in public_pages (infra.moto_patches, and public_pages.IndexPartitions for the
measured views). A 1000,100000 run takes about 4 minutes (2 of them filling 100k) and 3 GB.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.local import offline_aws_env  # noqa: E402 - must run before chalicelib is imported

offline_aws_env("test", quiet=True)

from bench.public_pages import (  # noqa: E402
    HISTORY, INDEXES, NOW, OPEN_SHARE, OPEN_WITHIN, REAL_START, REGION_DIR, SPREAD, RequestLog, collect_templates,
    log, make_real)
from bench.store_fill import Template, hotline_appeal, place_clones  # noqa: E402

UNIT, STREET, DISTRICT = "U440306002-JD", "440306002", "440306"   # 西乡街道办事处, 西乡街道, 宝安区
CITY_DISPATCH = ("U440300-SMS", "440300")                         # the demo dispatcher's unit and area
KINDS = ("unit", "key", "dispatch")
STAGES = ("dispatched", "signed", "contacted", "replied")          # where the unit's real appeals stop
REAL_PER_KIND = {"unit": 8, "key": 3, "dispatch": 4}
VAGUE = ["有个事情想咨询一下，不知道该找哪个部门，麻烦帮忙看看。", "想反映一个情况，具体的电话里再说，请尽快联系我。",
         "我有个问题想问问，怎么办理比较好？", "请问这个事情归谁管？麻烦给个答复。", "家里遇到点麻烦事，想请政府帮忙协调一下。",
         "上次反映的事情还没有结果，想再问问进展。"]
ANSWER = "已现场核实并处置，已向诉求人说明处理结果"
SERIAL0 = 900000                                                  # hotline tickets apart from make_real's


class Requests(RequestLog):
    """public_pages.RequestLog, with a GetItem's sort key in its shape (an appeal and its party
    share a partition key), and the wall time spent in DynamoDB calls (moto, in-process) while
    logging."""

    seconds = 0.0

    def install(self) -> None:
        import botocore.client

        inner = botocore.client.BaseClient._make_api_call
        log, depth = self, threading.local()

        def _make_api_call(client, operation_name, api_params):
            if log.entries is None or getattr(depth, "n", 0) or client.meta.service_model.service_name != "dynamodb":
                return inner(client, operation_name, api_params)
            depth.n, t = 1, time.perf_counter()
            try:
                return inner(client, operation_name, api_params)
            finally:
                depth.n = 0
                log.seconds += time.perf_counter() - t

        botocore.client.BaseClient._make_api_call = _make_api_call
        super().install()   # the shapes' log wraps this (not timed); the meter's hooks run inside (taken out)

    def start(self) -> None:
        super().start()
        self.seconds = 0.0

    def note(self, op: str, params: dict, response: dict) -> None:
        if op == "GetItem" and "SK" in params.get("Key", {}):
            key = params["Key"]
            params = {**params, "Key": {**key, "PK": {"S": f"{key['PK'].get('S', '?')} SK={key['SK'].get('S', '?')}"}}}
        super().note(op, params, response)


REQUESTS = Requests()


# --- 1. the workbench's real appeals --------------------------------------------------------------

def make_queued(p, clock, creds: dict, rng: random.Random) -> dict[str, list[str]]:
    """Real appeals in the three lists: kind -> appeal ids (REAL_PER_KIND of each)."""
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services import dedup, dispatch, staff

    region = p.settings.region_code
    handler = Principal("bench-wh", "xixiang_bench", Role.UNIT_HANDLER, region, UNIT, STREET)
    dispatcher = Principal("bench-wd", "dispatcher_bench", Role.DISPATCHER, region, *CITY_DISPATCH)
    history = [json.loads(line) for line in HISTORY.read_text(encoding="utf-8").splitlines() if line.strip()]
    street = [h for h in history if h.get("street") == STREET]
    rng.shuffle(street)
    places = sorted({h["address"] for h in street if "西乡" in h["address"]})
    made: dict[str, list[str]] = {k: [] for k in KINDS}
    serial = SERIAL0

    def take(text: str, address: str, appeal_type: str) -> str | None:
        nonlocal serial
        serial += 1
        appeal_id, _ = hotline_appeal(p, creds, clock.now(), serial, text, address, rng, appeal_type)
        clock.advance(minutes=5)
        if dedup.process(p, appeal_id).outcome != "new_master":
            clock.advance(minutes=5)
            return None
        clock.advance(minutes=5)
        dispatch.process(p, appeal_id)
        clock.advance(minutes=5)
        return appeal_id

    # the unit's work, some of it key work
    wanted = [("key" if i < REAL_PER_KIND["key"] else "unit") for i in range(REAL_PER_KIND["key"] + REAL_PER_KIND["unit"])]
    for h in street:
        if not wanted:
            break
        appeal_id = take(h["text"], h["address"], h.get("appeal_type") or "投诉")
        if appeal_id is None:
            continue
        appeal = p.store.load_appeal(appeal_id)
        if appeal.status.value == "pending_dispatch":
            staff.perform(p, appeal_id, "dispatch", dispatcher, {"unit_id": UNIT, "reason": "属地处理（基准）"})
        elif appeal.status.value != "dispatched":
            continue
        elif appeal.assignment.unit_id != UNIT:
            staff.perform(p, appeal_id, "assign", dispatcher, {"unit_id": UNIT, "instruction": "属地处理（基准）"})
        clock.advance(minutes=10)
        kind = wanted.pop(0)
        if kind == "key":
            staff.perform(p, appeal_id, "flag_key", dispatcher, {"reason": "群众反映集中，列为重点（基准）"})
            clock.advance(minutes=10)
        stop = STAGES[len(made[kind]) % len(STAGES)]
        for action, fields, reached in (("sign", {}, "signed"),
                                        ("contact", {"note": "已电话联系诉求人", "how": "direct"}, "contacted"),
                                        ("reply", {"answer": ANSWER}, "replied")):
            if p.store.load_appeal(appeal_id).status.value == stop:
                break
            staff.perform(p, appeal_id, action, handler, fields)
            clock.advance(minutes=20)
        made[kind].append(appeal_id)
    # the district's manual dispatch queue
    for i in range(4 * REAL_PER_KIND["dispatch"]):
        if len(made["dispatch"]) >= REAL_PER_KIND["dispatch"]:
            break
        appeal_id = take(VAGUE[i % len(VAGUE)], places[i % len(places)], "求助")
        if appeal_id is None:
            continue
        a = p.store.load_appeal(appeal_id)
        if a.status.value == "pending_dispatch" and a.assignment.loop == DISTRICT:
            made["dispatch"].append(appeal_id)
    short = {k: f"{len(v)}/{REAL_PER_KIND[k]}" for k, v in made.items() if len(v) < REAL_PER_KIND[k]}
    if short:
        raise SystemExit(f"the workbench's real appeals could not all be made: {short}")
    return made


def queue_templates(session, table: str, made: dict[str, list[str]]) -> dict[str, list[Template]]:
    """Each real appeal's appeal item, public view, party and key markers, as a template; its span
    (receipt to last case event) in `t.span`."""
    from datetime import datetime

    ddb = session.client("dynamodb")
    out: dict[str, list[Template]] = {}
    for kind, ids in made.items():
        out[kind] = []
        for appeal_id in ids:
            items = ddb.query(TableName=table, KeyConditionExpression="PK = :pk", ConsistentRead=True,
                              ExpressionAttributeValues={":pk": {"S": f"APPEAL#{appeal_id}"}})["Items"]
            by_sk = {i["SK"]["S"]: i for i in items}
            view = ddb.get_item(TableName=table, Key={"PK": {"S": f"VIEW#{appeal_id}"}, "SK": {"S": "V"}}).get("Item")
            if "A" not in by_sk or view is None:
                raise SystemExit(f"{kind} appeal {appeal_id} has no appeal item or no public view")
            extra = [i for sk, i in sorted(by_sk.items()) if sk == "PARTY" or i["kind"]["S"] == "marker"]
            if kind == "key" and not any(i.get("GSI1PK", {}).get("S") == f"LEADERQ#{DISTRICT}" for i in extra):
                raise SystemExit(f"key appeal {appeal_id} has no marker in LEADERQ#{DISTRICT}")
            t = Template(appeal_id, by_sk["A"], view, [], extra)
            last = max(datetime.fromisoformat(i["at"]["S"]) for i in items if i["SK"]["S"].startswith("EV#"))
            t.span = last - t.received
            out[kind].append(t)
    return out


# --- 3. the pages -------------------------------------------------------------------------------

def pages(made: dict[str, list[str]], case_id: str) -> dict[str, tuple[str, str, str]]:
    """name -> (person, path, what a shown row looks like in the page's HTML)."""
    return {
        "unit_inbox": ("xixiang_handler", "/staff/work?queue=unit", 'data-appeal="'),
        "dispatch_queue": ("dispatcher", "/staff/work?queue=dispatch", 'data-appeal="'),
        "key_queue": ("baoan_leader", "/staff/work?queue=key", 'data-appeal="'),
        "case_file": ("xixiang_handler", f"/staff/work/appeals/{case_id}", 'data-kind="'),
    }


QUEUE_PARTITIONS = {"unit_inbox": ("GSI1", f"UNIT#{UNIT}"), "dispatch_queue": ("GSI1", f"DISPATCHQ#{DISTRICT}"),
                    "key_queue": ("GSI1", f"LEADERQ#{DISTRICT}")}


def view_page(client, name: str, path: str, cookie: str, row_mark: str) -> tuple[int, float]:
    """One view: the rows it shows and its wall time (s)."""
    t = time.perf_counter()
    resp = client.http.get(path, headers={"Cookie": cookie})
    secs = time.perf_counter() - t
    body = resp.body.decode("utf-8", "replace")
    if resp.status_code != 200:
        raise SystemExit(f"{name}: GET {path} answered {resp.status_code} {resp.headers.get('Location', '')}: "
                         f"{body[:300]!r}")
    rows = body.count(row_mark)
    if rows <= 0:
        raise SystemExit(f"{name}: GET {path} shows nothing: {body[:600]!r}")
    return rows, secs


# --- one size -----------------------------------------------------------------------------------

def measure(size: int, n_views: int, n_real: int, share: float, seed: int) -> dict:
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from bench.capacity import CapacityMeter
    from bench.intake import drain_queues
    from tests.integration.staff_fixtures import AUDIENCE, ISSUER, IdP

    rng = random.Random(seed)
    idp = IdP()
    os.environ.update({"JIESU_OIDC_ISSUER": ISSUER, "JIESU_OIDC_AUDIENCE": AUDIENCE,
                       "JIESU_OIDC_JWKS_URL": idp.jwks_url})
    try:
        with mock_aws():
            session = boto3.session.Session(region_name="us-east-1")
            from infra.demo_region import load_demo_region
            from infra.local import in_process_stack

            res = in_process_stack(session)
            creds = load_demo_region(session, "test", REGION_DIR)

            from chalicelib.bootstrap import bootstrap
            from chalicelib.observability import metrics
            from chalicelib.services.clock import FixedClock
            from chalicelib.settings import get_settings

            get_settings.cache_clear()
            t = time.perf_counter()
            clock = FixedClock(REAL_START)
            p = bootstrap(clock=clock)
            real = make_real(p, clock, creds, n_real, rng)
            made = make_queued(p, clock, creds, rng)
            if clock.now() >= NOW - timedelta(hours=1):
                raise SystemExit("the real appeals ran past the measured instant")
            drain_queues(session, res)
            real_s = time.perf_counter() - t
            log(f"  {size}: {len(real)} real appeals ({Counter(r['status'] for r in real)}) and "
                f"{ {k: len(v) for k, v in made.items()} } in the workbench's lists in {real_s:.0f}s")

            closed, open_ = collect_templates(session, res.table_name, real)
            queued = queue_templates(session, res.table_name, made)
            n_each = int(round(share * size))
            n_bulk = size - len(real) - sum(len(v) for v in made.values()) - len(KINDS) * n_each
            if n_bulk < 0:
                raise SystemExit(f"size {size} is too small for --share {share}")
            t = time.perf_counter()
            items, n_open = place_clones(n_bulk, closed, open_, res.table_name, rng, NOW, OPEN_SHARE, OPEN_WITHIN,
                                         SPREAD, log=log)
            filled = {"bulk": n_bulk, "bulk_open": n_open}
            for kind in KINDS:
                after = max(t_.span for t_ in queued[kind]) + timedelta(minutes=10)
                written, _ = place_clones(n_each, [], queued[kind], res.table_name, rng, NOW, 1.0, OPEN_WITHIN,
                                          SPREAD, log=log, open_after=after)
                items += written
                filled[kind] = n_each
            filled["items"] = items
            fill_s = time.perf_counter() - t
            log(f"  {size}: filled {filled} in {fill_s:.0f}s")

            INDEXES.build(res.table_name)
            depth = {name: len(INDEXES.parts.get(part, [])) for name, part in QUEUE_PARTITIONS.items()}
            log(f"  {size}: index partitions of the lists: {depth}")
            case_id = max(made["unit"], key=lambda i: len(p.store.load_case_file(i)))
            import app
            from chalicelib.api import wiring

            before, wiring.PLATFORM = wiring.PLATFORM, bootstrap(clock=FixedClock(NOW))
            out: dict[str, dict] = {}
            try:
                with Client(app.app) as client:
                    for name, (person, path, mark) in pages(made, case_id).items():
                        cookie = f"jiesu_session={idp.token(person)}"
                        rows, _ = view_page(client, name, path, cookie, mark)     # warm-up, not metered
                        meter = CapacityMeter()
                        secs = []
                        REQUESTS.start()
                        with meter:
                            for _ in range(n_views):
                                shown, s = view_page(client, name, path, cookie, mark)
                                if shown != rows:
                                    raise SystemExit(f"{name}: the page changed between two views")
                                secs.append(s)
                        in_moto = REQUESTS.seconds
                        reads = REQUESTS.stop(n_views)
                        snap = meter.snapshot()
                        if snap["errors"]:
                            raise SystemExit(f"{name}: DynamoDB errors while metered: {snap['errors']}")
                        if snap["write_units"]:
                            raise SystemExit(f"{name}: a page view wrote to the table ({snap['requests_by_op']})")
                        out[name] = {
                            "path": path, "person": person, "rows_shown": rows, "queue_entries": depth.get(name),
                            "rru_per_view": round(snap["read_units"] / n_views, 3),
                            "requests_per_view": round(snap["requests"] / n_views, 3),
                            "requests_by_op": {k: round(v / n_views, 3) for k, v in snap["requests_by_op"].items()},
                            "wru_per_view": round(snap["write_units"] / n_views, 3),
                            "approximate": snap["approximate"],
                            "ms_per_view": round(1000 * (sum(secs) - snap["hook_seconds"]) / n_views, 1),
                            "ms_max": round(1000 * max(secs), 1),
                            "ms_in_moto_per_view": round(1000 * (in_moto - snap["hook_seconds"]) / n_views, 1),
                            "reads": reads,
                        }
                        log(f"  {size}: {name:<15} {out[name]['rru_per_view']:>8} RRU  "
                            f"{out[name]['requests_per_view']:>6} requests  {rows:>4} rows  "
                            f"{out[name]['ms_per_view']:>7.1f} ms/view ({out[name]['ms_in_moto_per_view']:.1f} in moto)  "
                            f"{path}")
            finally:
                wiring.PLATFORM = before
            log(f"  {size}: {INDEXES.hits} index queries answered from index partitions")
            INDEXES.drop()
            metrics.clear_metrics()
            return {"stored_appeals": size, "fill_seconds": round(fill_s, 1), "real_seconds": round(real_s, 1),
                    "filled": filled, "pages": out}
    finally:
        idp.server.shutdown()
        idp.server.server_close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--views", type=int, default=5, help="metered views per page (after one warm-up)")
    ap.add_argument("--real", type=int, default=30, help="appeals made through the real services (public_pages)")
    ap.add_argument("--share", type=float, default=0.06, help="share of the size cloned into each list")
    ap.add_argument("--seed", type=int, default=11)
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
        results.append(measure(size, args.views, args.real, args.share, args.seed))
        log(f"{size} stored appeals: done in {time.perf_counter() - t:.0f}s")
    lo, hi = results[0], results[-1]
    per_size = lambda name, field: {str(r["stored_appeals"]): r["pages"][name][field] for r in results}  # noqa: E731
    summary = {}
    for name in lo["pages"]:
        a, b = lo["pages"][name], hi["pages"][name]
        summary[name] = {
            "rru_per_view": per_size(name, "rru_per_view"), "requests_per_view": per_size(name, "requests_per_view"),
            "ms_per_view": per_size(name, "ms_per_view"), "ms_in_moto_per_view": per_size(name, "ms_in_moto_per_view"),
            "rows_shown": per_size(name, "rows_shown"),
            **({"queue_entries": per_size(name, "queue_entries")} if a["queue_entries"] is not None else {}),
            "ratio": round(b["rru_per_view"] / a["rru_per_view"], 3) if a["rru_per_view"] else None,
        }
    ratios = [v["ratio"] for v in summary.values() if v["ratio"] is not None]
    slow = {str(r["stored_appeals"]): [n for n, pg in r["pages"].items() if pg["ms_per_view"] > 300]
            for r in results if r["stored_appeals"] >= 10000}
    print(json.dumps({"sizes": sizes, "views_per_page": args.views, "share_per_list": args.share, "pages": summary,
                      "max_ratio": max(ratios) if ratios else None, "target_ms": 300, "over_300ms": slow,
                      "fill_seconds": {str(r["stored_appeals"]): r["fill_seconds"] for r in results},
                      "detail": {str(r["stored_appeals"]): {n: {k: v for k, v in pg.items()
                                                                if k in ("requests_by_op", "reads")}
                                                            for n, pg in r["pages"].items()} for r in results},
                      "seconds": round(time.perf_counter() - t0, 1)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
