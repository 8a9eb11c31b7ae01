"""What the citizen and the public read: the tracking page, the public record, units' records and
the rankings (F-AR-2, F-AR-3). Reads only the precomputed views (services/public_views.py writes
them with each change; `refresh` below computes the rankings on a schedule): a page's reads are
bounded whatever the number of stored appeals (bench/public_pages.py measures it)."""
from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, time, timedelta
from typing import Any, Mapping

from chalicelib.domain import ranking
from chalicelib.domain.calendar import SHANGHAI, to_local
from chalicelib.domain.errors import NotFoundError, ValidationError
from chalicelib.domain.public_view import RATING_LABELS
from chalicelib.domain.records import PublicView, Snapshot
from chalicelib.domain.timefmt import iso
from chalicelib.services import tracking

PAGE = 20                 # rows of the public record per page
READ_BUDGET = 200         # rows one page reads at most when a filter narrows inside a list
MAX_PARTITIONS = 13       # months (or years) one page walks back at most
MASTER_HOPS = 3           # a report joined to a master that was merged into another ...
RANKINGS = "rankings"     # the snapshot of every metric's top of the list
RANKED_LIST = "ranking:{period}:{metric}:{page}"
RANK_PAGE = 50            # units on one page of a ranking
UNIT = "unit:{unit_id}"
UNITS = "units"
PERIODS = {"30d": "近30天", "year": "本年度"}
TOP = 10

# What the citizen's JSON view leaves out of the stored summary (internal to the lists).
_NOT_SHOWN = ("master_id", "listed", "private")


# --- the citizen's page ----------------------------------------------------------------------

def handled_as(p, view: PublicView) -> PublicView | None:
    """The view of the appeal whose handling this one shows: its master's (and, if that master was
    merged into another, the one it joined), or None for an appeal handled as itself."""
    current, hops = view, 0
    while current.summary.get("master_id") and hops < MASTER_HOPS:
        nxt = p.store.get_view(current.summary["master_id"])
        if nxt is None:
            break
        current, hops = nxt, hops + 1
    return current if current is not view else None


def citizen_view(p, token: str) -> dict[str, Any]:
    """The tracking page's content: the citizen's own appeal and timeline and, for a report joined
    to others, the handling it shares; whether (and on what) the citizen may rate now."""
    appeal_id = tracking.resolve(p, token)
    own = p.store.get_view(appeal_id)
    if own is None:
        raise NotFoundError("this appeal's progress is not available yet", field="token",
                            code="unknown_tracking_link")
    shared = handled_as(p, own)
    handling = shared or own
    status = handling.summary["status"]
    own_rating = own.summary.get("rating")
    rounds = handling.summary.get("redo_count", 0)
    can_rate = status in ("replied", "closed") and (own_rating is None or own_rating.get("round", 0) != rounds)
    return {
        "appeal": {k: v for k, v in own.summary.items() if k not in _NOT_SHOWN},
        "timeline": list(own.timeline),
        "handled_with_others": None if shared is None else {
            **{k: v for k, v in shared.summary.items() if k not in _NOT_SHOWN and k != "appeal_id"},
            "timeline": list(shared.timeline)},
        "status": status,
        "status_label": handling.summary["status_label"],
        "can_rate": can_rate,
        "rating_dimensions": [{"name": k, "label": v} for k, v in RATING_LABELS.items()],
    }


# --- the public record -----------------------------------------------------------------------

_CODE = re.compile(r"[0-9A-Za-z.\-]{1,32}")
FILTERS = ("category", "district", "street", "unit", "from", "to", "before")


def _param(params: Mapping[str, str], name: str) -> str | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if name in ("from", "to"):
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"{name}: use a date as YYYY-MM-DD", field=name) from None
        return value
    if name == "before":
        if len(value) > 80 or "#" not in value:
            raise ValidationError("before: not a cursor this page gave", field=name)
        return value
    if not _CODE.fullmatch(value):
        raise ValidationError(f"{name}: not a code", field=name)
    return value


def _months_back(newest: date, oldest: date) -> list[str]:
    months, y, m = [], newest.year, newest.month
    while (y, m) >= (oldest.year, oldest.month) and len(months) < MAX_PARTITIONS:
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return months


def public_list(p, params: Mapping[str, str]) -> dict[str, Any]:
    """Recent closed appeals, newest first, filtered by category, area, unit and dates; PAGE rows
    and a cursor (`before`) for the next page. One list is read (a unit's, a district's, a
    category's, or all), the other filters apply to its rows; a page reads at most READ_BUDGET
    rows over at most MAX_PARTITIONS partitions."""
    unknown = sorted(set(params) - set(FILTERS) - {"format"})
    if unknown:
        name = unknown[0] or "query"   # `?=x` has no name: the field is never empty
        raise ValidationError(f"{name}: no such filter (use {', '.join(FILTERS)})", field=name)
    f = {name: _param(params, name) for name in FILTERS}
    region = p.settings.region_code
    today = to_local(p.now()).date()
    newest = date.fromisoformat(f["to"]) if f["to"] else today
    oldest = date.fromisoformat(f["from"]) if f["from"] else newest - timedelta(days=365)
    if oldest > newest:
        raise ValidationError("from: after to", field="from")
    if f["unit"]:
        facet, value = "unit", f["unit"]
        partitions = [str(y) for y in range(newest.year, oldest.year - 1, -1)][:MAX_PARTITIONS]
    else:
        facet, value = (("street", f["street"]) if f["street"] else ("district", f["district"]) if f["district"]
                        else ("category", f["category"][:2]) if f["category"] else ("all", "-"))
        partitions = _months_back(newest, oldest)
    # Filters the list read does not answer itself are applied to its rows: then a page reads a
    # few times what it still needs (never more than READ_BUDGET); else exactly what it needs.
    covered = {"unit": {"unit"}, "street": {"street", "district"}, "district": {"district"},
               "category": {"category"} if f["category"] and len(f["category"]) <= 2 else set(), "all": set()}[facet]
    narrowed = any(f[k] for k in ("category", "district", "street", "unit") if k not in covered)
    low = _utc_sk(oldest, start=True)
    below = min(_utc_sk(newest, start=False), f["before"] or "~")
    rows, read, cursor = [], 0, None
    for part in partitions:
        upper = below
        # Ask for what the page still needs; when a filter narrows inside the list, ask again
        # below the last row read until the page is full or the partition ends (never more than
        # READ_BUDGET rows): a page then reads about what it shows over the filter's share.
        while read < READ_BUDGET and len(rows) <= PAGE:
            need = min(PAGE + 1 - len(rows), READ_BUDGET - read)
            batch = p.store.public_records(region, facet, value, part, low, upper, need)
            read += len(batch)
            rows += [row for row in batch if _matches(row.summary, f)]
            if batch and read >= READ_BUDGET:
                cursor = f"{batch[-1].closed_at}#{batch[-1].appeal_id}"
            if len(batch) < need or not narrowed:
                break
            upper = f"{batch[-1].closed_at}#{batch[-1].appeal_id}"
        if read >= READ_BUDGET or len(rows) > PAGE:
            break
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    if more:
        cursor = f"{rows[-1].closed_at}#{rows[-1].appeal_id}"
    return {"filters": {k: v for k, v in f.items() if v and k != "before"}, "rows": [r.summary for r in rows],
            "next": cursor, "rows_read": read}


def _utc_sk(d: date, start: bool) -> str:
    """The sort-key bound of a local day: its start, or the next day's (rows are keyed by their
    UTC closing instant)."""
    moment = datetime.combine(d, time(0), tzinfo=SHANGHAI) + (timedelta(0) if start else timedelta(days=1))
    return iso(moment)


def _matches(row: Mapping[str, Any], f: Mapping[str, str | None]) -> bool:
    if f["category"] and not ((row.get("category") or {}).get("code") or "").startswith(f["category"]):
        return False
    if f["district"] and (row.get("district") or {}).get("code") != f["district"]:
        return False
    if f["street"] and (row.get("street") or {}).get("code") != f["street"]:
        return False
    if f["unit"] and (row.get("unit") or {}).get("id") != f["unit"]:
        return False
    return True


# --- units' records and the rankings -----------------------------------------------------------

def unit_page(p, unit_id: str) -> dict[str, Any]:
    """A unit's record (30 days and the year, with its ranks) and its recent closed appeals."""
    region = p.settings.region_code
    rt = p.region(region)
    unit = rt.units.by_id(unit_id)
    if unit is None:
        raise NotFoundError("no such unit", field="unit_id")
    snap = p.store.get_snapshot(region, UNIT.format(unit_id=unit_id))
    recent = public_list(p, {"unit": unit_id})
    return {"unit": {"id": unit.unit_id, "name": unit.name, "type": unit.unit_type, "level": unit.level},
            "periods": (snap.body.get("periods") if snap else None) or
            {k: {"label": v, "record": ranking.record(ranking.totals([])), "ranks": {}} for k, v in PERIODS.items()},
            "updated_at": snap.body.get("updated_at") if snap else None,
            "recent": recent["rows"], "next": recent["next"]}


def rankings(p, period: str | None = None, metric: str | None = None, page: int = 1) -> dict[str, Any]:
    """The top of every ranking (a snapshot), or one page of one metric's ranking of one period."""
    region = p.settings.region_code
    if metric is None:
        snap = p.store.get_snapshot(region, RANKINGS)
        return snap.body if snap else {"updated_at": None, "periods": {}, "totals": {}}
    if period not in PERIODS:
        raise ValidationError(f"period: one of {', '.join(PERIODS)}", field="period")
    if metric not in {m.name for m in ranking.METRICS}:
        raise ValidationError(f"metric: one of {', '.join(m.name for m in ranking.METRICS)}", field="metric")
    snap = p.store.get_snapshot(region, RANKED_LIST.format(period=period, metric=metric, page=page))
    if snap is None and page != 1:
        raise NotFoundError("page: this ranking has no such page", field="page")
    return snap.body if snap else {"label": "", "ranked": [], "unranked_count": 0, "count": 0, "page": 1,
                                   "pages": 1, "min_volume": p.region(region).public_policy.min_volume}


def _period_days(today: date) -> dict[str, tuple[str, list[str]]]:
    return {"30d": ("D", [(today - timedelta(days=i)).isoformat() for i in range(30)]),
            "year": ("M", [f"{today.year:04d}-{m:02d}" for m in range(1, today.month + 1)])}


def refresh(p) -> dict[str, int]:
    """The scheduled job: sum every unit's counters over the last 30 days and this year (one
    partition read per day or month, whatever the number of units or appeals), rank them, and
    write the rankings and each unit's record (only the units whose record changed)."""
    region = p.settings.region_code
    rt = p.region(region)
    now = p.now()
    today = to_local(now).date()
    policy = rt.public_policy
    names = rt.names
    per_period: dict[str, dict[str, dict[str, int]]] = {}
    for period, (kind, keys_) in _period_days(today).items():
        rows: dict[str, list] = {}
        for key in keys_:
            for s in p.store.counters(region, kind, key, "unit"):
                rows.setdefault(s.ident, []).append(s.counts)
        per_period[period] = {u: ranking.totals(r) for u, r in rows.items()}
    ranks = {period: ranking.rank(t, policy.min_volume, policy.confidence, rt.assessment_policy)
             for period, t in per_period.items()}
    stamp = now.isoformat()
    top = {"updated_at": stamp, "min_volume": policy.min_volume, "confidence": policy.confidence, "periods": {},
           "totals": {}}
    written = 0
    for period, by_metric in ranks.items():
        top["totals"][period] = ranking.record(ranking.totals(per_period[period].values()))
        top["periods"][period] = {"label": PERIODS[period], "metrics": {}}
        for metric, r in by_metric.items():
            ranked = [{**e, "unit_name": names.units.get(e["unit_id"], e["unit_id"])} for e in r["ranked"]]
            head = {"label": r["label"], "min_volume": r["min_volume"], "unranked_count": len(r["unranked"]),
                    "count": len(ranked)}
            top["periods"][period]["metrics"][metric] = {**head, "ranked": ranked[:TOP]}
            pages = max(1, -(-len(ranked) // RANK_PAGE))
            for page in range(1, pages + 1):   # a page of a ranking is one item, whatever the number of units
                p.store.put_snapshot(Snapshot(region, RANKED_LIST.format(period=period, metric=metric, page=page),
                                              {**head, "ranked": ranked[(page - 1) * RANK_PAGE:page * RANK_PAGE],
                                               "page": page, "pages": pages, "period": period,
                                               "updated_at": stamp}, now), now)
                written += 1
    p.store.put_snapshot(Snapshot(region, RANKINGS, top, now), now)
    written += 1
    units = sorted({u for t in per_period.values() for u in t})
    previous = p.store.get_snapshot(region, UNITS)
    before = previous.body.get("units", {}) if previous else {}
    records: dict[str, str] = {}
    changed = 0
    for unit_id in units:
        periods = {}
        for period in PERIODS:
            t = per_period[period].get(unit_id) or ranking.totals([])
            unit_ranks = {m: next(({"rank": e["rank"], "of": len(r["ranked"])} for e in r["ranked"]
                                   if e["unit_id"] == unit_id), None) for m, r in ranks[period].items()}
            periods[period] = {"label": PERIODS[period], "record": ranking.record(t), "ranks": unit_ranks}
        digest = hashlib.sha256(json.dumps(periods, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
        records[unit_id] = digest
        if before.get(unit_id) != digest:
            p.store.put_snapshot(Snapshot(region, UNIT.format(unit_id=unit_id),
                                          {"periods": periods, "updated_at": stamp}, now), now)
            changed += 1
    # Only a digest per unit: the records themselves would outgrow an item (400 KB) in a big city.
    p.store.put_snapshot(Snapshot(region, UNITS, {"units": records, "updated_at": stamp}, now), now)
    return {"units": len(units), "units_changed": changed, "rankings": written}

