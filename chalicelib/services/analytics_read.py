"""What dashboards, the one screen, rankings and reports read (F-AN-1..5): the analytics
counters, by local day and month, scoped by the reader's jurisdiction.

Every read is of counter partitions (a day's or a month's rows, one per active scope): what a
view costs grows with the days it shows and the units, streets and groups active in them, never
with the number of appeals (bench/analytics_reads.py measures it). A `Reader` reads each
partition once per request.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable

from chalicelib.domain import metrics as m
from chalicelib.domain import ranking
from chalicelib.domain.access import UNIT_SCOPED, Principal, covers, require
from chalicelib.domain.calendar import to_local
from chalicelib.domain.errors import ForbiddenError, ValidationError

WINDOW_DAYS = 30          # "近30天": rates, rankings and trend
USUAL_DAYS = 28           # "usual" volume: the daily mean of the 28 days before today
BACKLOG_MONTHS = 12       # open work older than a year is not on the backlog
ALERT_DAYS = 2            # the alert feed: today's and yesterday's spikes
TOP_UNITS = 10

TYPE_NAMES = {"咨询": "咨询", "求助": "求助", "投诉": "投诉", "举报": "举报", "建议": "建议"}


@dataclass(frozen=True)
class Scope:
    """Whose figures: the city, a district, a street, or one unit."""

    kind: str          # city | district | street | unit
    code: str
    name: str

    @property
    def key(self) -> tuple[str, str]:
        """The counter row of the scope itself."""
        return {"city": ("city", "-"), "district": ("district", self.code), "street": ("street", self.code),
                "unit": ("unit", self.code)}[self.kind]

    def holds_area(self, area: str | None) -> bool:
        return self.kind == "city" or (self.kind in ("district", "street") and bool(area)
                                       and area.startswith(self.code))

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "code": self.code, "name": self.name}


def scope_of(p, who: Principal, requested: str | None = None) -> Scope:
    """The scope a signed-in person reads: their jurisdiction, or a part of it they ask for
    (`scope`: a district or street code). A unit's staff read their unit's figures."""
    require(who, "analytics.read")
    rt = p.region(who.region)
    names = rt.names
    if who.role in UNIT_SCOPED:
        if requested and requested != who.unit_id:
            raise ForbiddenError("a unit's staff read only their unit's figures", field="scope",
                                 code="outside_jurisdiction")
        return Scope("unit", who.unit_id or "", names.units.get(who.unit_id or "", who.unit_id or ""))
    code = requested or who.jurisdiction
    if code in ("city", rt.city_code):
        code = rt.city_code
    if code not in rt.areas:
        raise ValidationError("scope: a district or street code of this region", field="scope")
    if not covers(who.jurisdiction, code, rt.city_code):
        raise ForbiddenError("scope: outside your jurisdiction", field="scope", code="outside_jurisdiction")
    if code == rt.city_code:
        return Scope("city", code, rt.pack.name)
    if code in names.districts:
        return Scope("district", code, names.districts[code])
    if code in names.streets:
        return Scope("street", code, names.streets[code])
    raise ValidationError("scope: a district or street code of this region (not a community)", field="scope")


class Reader:
    """Counter rows of one region, read by (grain, period, dimension): one Query of one
    partition's rows of one dimension, each read once (`reads` counts the queries)."""

    def __init__(self, p, region: str) -> None:
        self.p, self.region = p, region
        self._parts: dict[tuple[str, str, str], dict[str, dict[str, int]]] = {}
        self.reads = 0

    def part(self, grain: str, period: str, dimension: str) -> dict[str, dict[str, int]]:
        key = (grain, period, dimension)
        if key not in self._parts:
            self.reads += 1
            self._parts[key] = {r.ident: r.counts for r in self.p.store.counters(self.region, grain, period,
                                                                                  dimension)}
        return self._parts[key]

    def total(self, periods: Iterable[tuple[str, str]], row: tuple[str, str]) -> dict[str, int]:
        return m.total(self.part(g, k, row[0]).get(row[1], {}) for g, k in periods)

    def by_ident(self, periods: Iterable[tuple[str, str]], dimension: str) -> dict[str, dict[str, int]]:
        rows: dict[str, list] = {}
        for g, k in periods:
            for ident, counts in self.part(g, k, dimension).items():
                rows.setdefault(ident, []).append(counts)
        return {ident: m.total(r) for ident, r in rows.items()}


def days(end: date, n: int) -> list[tuple[str, str]]:
    """The n local days up to and including `end`, oldest first, as (grain, period)."""
    return [("D", (end - timedelta(days=i)).isoformat()) for i in range(n - 1, -1, -1)]


def months_back(end: date, n: int) -> list[tuple[str, str]]:
    out, y, mo = [], end.year, end.month
    for _ in range(n):
        out.append(("M", f"{y:04d}-{mo:02d}"))
        y, mo = (y, mo - 1) if mo > 1 else (y - 1, 12)
    return out[::-1]


# --- scope-restricted breakdowns ----------------------------------------------------------------

def _units_in(rt, scope: Scope, idents: Iterable[str]) -> list[str]:
    if scope.kind == "unit":
        return [u for u in idents if u == scope.code]
    if scope.kind == "city":
        return list(idents)
    juris = rt.unit_jurisdictions
    return [u for u in idents if (juris.get(u) or "").startswith(scope.code)]


def units_totals(reader: Reader, rt, scope: Scope, periods: list) -> dict[str, dict[str, int]]:
    every = reader.by_ident(periods, "unit")
    return {u: every[u] for u in _units_in(rt, scope, every)}


def breakdown(reader: Reader, scope: Scope, periods: list, what: str) -> dict[str, dict[str, int]]:
    """Volume by channel, type or category group within the scope: city-wide rows for the city,
    district|code rows for a district, hot cells (group|street) for groups of a district or
    street."""
    if scope.kind == "city":
        return reader.by_ident(periods, {"channel": "channel", "type": "type", "group": "group"}[what])
    if scope.kind == "unit":
        return {}
    if what == "group":
        out: dict[str, list] = {}
        for ident, t in reader.by_ident(periods, "hot").items():
            group, _, street = ident.partition("|")
            if street.startswith(scope.code):
                out.setdefault(group, []).append(t)
        return {g: m.total(r) for g, r in out.items()}
    if scope.kind == "street":
        return {}
    dim = {"channel": "dchannel", "type": "dtype"}[what]
    return {ident.split("|", 1)[1]: t for ident, t in reader.by_ident(periods, dim).items()
            if ident.startswith(scope.code + "|")}


def group_name(names, group: str) -> str:
    hit = next(((l1, l2) for code, (l1, l2, _) in names.categories.items() if code.startswith(group)), None)
    return f"{hit[0]}·{hit[1]}" if hit else group


def channel_names(rt) -> dict[str, str]:
    return {c.code: c.name for c in rt.pack.channels}


def ranked_units(rt, per_unit: dict[str, dict[str, int]], names: dict[str, str] | None = None) -> dict[str, Any]:
    """Composite ranking of the units (or of the districts, with their `names`) and the red and
    black lists, named; `by_metric` holds the ranking of each single metric."""
    policy = rt.public_policy
    result = ranking.rank(per_unit, policy.min_volume, policy.confidence, rt.assessment_policy)
    comp = result["composite"]
    lists = ranking.red_black(comp, rt.assessment_policy)
    name = (names if names is not None else rt.names.units).get

    def named(e: dict) -> dict:
        t = per_unit[e["unit_id"]]
        return {"rank": e.get("rank"), "unit_id": e["unit_id"], "name": name(e["unit_id"], e["unit_id"]),
                "score": e["value"], "volume": t["dispatched"], "on_time_rate": m.rate(t, "on_time_rate"),
                "satisfaction_rate": m.rate(t, "satisfaction_rate")}

    return {"ranked": [named(e) for e in comp["ranked"]], "unranked": len(comp["unranked"]),
            "red": [named(e) for e in lists["red"]], "black": [named(e) for e in lists["black"]],
            "min_volume": policy.min_volume, "by_metric": {k: v for k, v in result.items() if k != "composite"}}


def alert_in_scope(scope: Scope, area: str) -> bool:
    """A spike on a street or a district concerns the city, the district it is in, and the
    street it is on (a district-wide spike concerns each of its streets)."""
    if scope.kind == "city":
        return True
    if scope.kind == "district":
        return area.startswith(scope.code)
    if scope.kind == "street":
        return area == scope.code or scope.code.startswith(area)
    return False


def alerts_in(p, region: str, scope: Scope, today: date, names) -> list[dict[str, Any]]:
    out = []
    for i in range(ALERT_DAYS):
        for a in p.store.hotspot_alerts(region, (today - timedelta(days=i)).isoformat()):
            b = a.body
            area = b.get("area", "")
            if not alert_in_scope(scope, area):
                continue
            out.append({"alert_id": a.alert_id, "at": to_local(a.raised_at).isoformat(), "group": b.get("group"),
                        "group_name": group_name(names, b.get("group", "")), "area": area,
                        "area_name": names.streets.get(area) or names.districts.get(area) or area,
                        "level": b.get("level"), "expected": b.get("expected"), "observed": b.get("observed"),
                        "appeals": list(b.get("appeal_ids", []))})
    return sorted(out, key=lambda a: a["at"], reverse=True)


# --- the one screen (一屏观全市) -------------------------------------------------------------------

def screen(p, who: Principal, requested: str | None = None) -> dict[str, Any]:
    """Everything the command centre's screen shows, for the reader's scope."""
    scope = scope_of(p, who, requested)
    rt = p.region(who.region)
    names = rt.names
    now = p.now()
    today = to_local(now).date()
    reader = Reader(p, who.region)
    recent = days(today, WINDOW_DAYS)
    usual = days(today - timedelta(days=1), USUAL_DAYS)
    older = months_back(today, BACKLOG_MONTHS)
    backlog = _backlog(reader, scope, recent, older, today)
    alerts = alerts_in(p, who.region, scope, today, names)
    hot_areas = {a["area"] for a in alerts}
    streets = []
    if scope.kind != "unit":
        street_open = reader.by_ident(older, "street")     # the gauges live on received days
        for s in rt.pack.streets:
            if not scope.holds_area(s.code):
                continue
            g = street_open.get(s.code, {})
            streets.append({"code": s.code, "name": s.name, "district": s.district_code,
                            "district_name": names.districts.get(s.district_code, ""), "lat": s.lat, "lng": s.lng,
                            "open": g.get("open", 0), "overdue": g.get("open_overdue", 0),
                            "hot": s.code in hot_areas or s.district_code in hot_areas})
    today_row = reader.total([("D", today.isoformat())], scope.key)
    window = reader.total(recent, scope.key)
    daily = [(k, reader.total([(g, k)], scope.key)) for g, k in recent]
    trend = [{"day": k, "received": t["received"], "replied": t["replied"]} for k, t in daily]
    per_unit = units_totals(reader, rt, scope, recent)
    ranks = ranked_units(rt, per_unit)
    chans = channel_names(rt)

    def versus(what: str, label) -> list[dict]:
        now_ = breakdown(reader, scope, [("D", today.isoformat())], what)
        before = breakdown(reader, scope, usual, what)
        codes = sorted(set(now_) | set(before), key=lambda c: (-now_.get(c, {}).get("received", 0), c))
        return [{"code": c, "name": label(c), "today": now_.get(c, {}).get("received", 0),
                 "usual": round(before.get(c, {}).get("received", 0) / USUAL_DAYS, 2)} for c in codes]

    rates = m.rates(window)
    return {
        "as_of": to_local(now).isoformat(timespec="seconds"),
        "scope": scope.to_dict(),
        "demo": demo_data(p, who.region),
        "counts": {"open": backlog["open"], "overdue": backlog["overdue"], "red": backlog["supervised"],
                   "received_today": today_row["received"], "alerts_open": len(alerts)},
        "backlog": backlog["bands"],
        "map": {"streets": streets, "geojson": None},
        "categories": versus("group", lambda c: group_name(names, c))[:12],
        "channels": versus("channel", lambda c: chans.get(c, c)),
        "rates": {"period": "近30天", **{k: rates[k] for k in m.RATES}},
        "times_h": m.figures(window)["times_h"],
        "trend": trend,
        "rankings": {"units": ranks["ranked"][:TOP_UNITS], "red": ranks["red"], "black": ranks["black"]},
        "alerts": alerts,
        "reads": reader.reads,
    }


def _backlog(reader: Reader, scope: Scope, recent: list, older: list, today: date) -> dict[str, Any]:
    """Open, overdue and supervised work of the scope, and the open work by age."""
    months = reader.total(older, scope.key)
    by_day = {k: reader.part(g, k, scope.key[0]).get(scope.key[1], {}).get("open", 0) for g, k in recent}
    in_window = sum(by_day.values())
    first = date.fromisoformat(recent[0][1])
    by_day[(first - timedelta(days=WINDOW_DAYS + 1)).isoformat()] = max(0, months["open"] - in_window)
    return {"open": months["open"], "overdue": months["open_overdue"], "supervised": months["open_supervised"],
            "bands": m.backlog(by_day, today)}


def demo_data(p, region: str) -> bool:
    """Whether the stack holds seeded demo history (infra/demo_history.py marks it)."""
    snap = p.store.get_snapshot(region, "demo")
    return bool(snap and snap.body.get("demo"))


# --- dashboards and rankings over a period ------------------------------------------------------

PERIODS = ("day", "week", "month", "30d")


def period_of(kind: str, on: date) -> tuple[list[tuple[str, str]], list[tuple[str, str]], str, str]:
    """(periods, the previous period's, first day, last day) of a day, ISO week, month or the 30
    days up to `on`."""
    if kind == "day":
        return [("D", on.isoformat())], [("D", (on - timedelta(days=1)).isoformat())], on.isoformat(), on.isoformat()
    if kind == "week":
        week = m.week_days(on)
        before = m.week_days(on - timedelta(days=7))
        return [("D", d) for d in week], [("D", d) for d in before], week[0], week[-1]
    if kind == "month":
        first = on.replace(day=1)
        prev = (first - timedelta(days=1)).replace(day=1)
        last = (first.replace(year=first.year + (first.month == 12), month=first.month % 12 + 1) - timedelta(days=1))
        return [("M", first.strftime("%Y-%m"))], [("M", prev.strftime("%Y-%m"))], first.isoformat(), last.isoformat()
    if kind == "30d":
        return days(on, WINDOW_DAYS), days(on - timedelta(days=WINDOW_DAYS), WINDOW_DAYS), \
            (on - timedelta(days=WINDOW_DAYS - 1)).isoformat(), on.isoformat()
    raise ValidationError(f"period: one of {', '.join(PERIODS)}", field="period")


def parse_day(value: str | None, today: date) -> date:
    if not value:
        return today
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError("date: a day as YYYY-MM-DD", field="date") from None


def dashboard(p, who: Principal, query: dict[str, str]) -> dict[str, Any]:
    """The scope's figures over one period (counts, the rates with the previous period's, times,
    volume by channel, type and category, the units' ranking and lists)."""
    unknown = set(query) - {"period", "date", "scope"}
    if unknown:
        name = sorted(unknown)[0] or "query"   # `?=x` has no name: the field is never empty
        raise ValidationError(f"{name}: unknown parameter (period, date, scope)", field=name)
    scope = scope_of(p, who, query.get("scope"))
    rt = p.region(who.region)
    today = to_local(p.now()).date()
    on = parse_day(query.get("date"), today)
    periods, previous, first, last = period_of(query.get("period") or "30d", on)
    reader = Reader(p, who.region)
    now_t, before_t = reader.total(periods, scope.key), reader.total(previous, scope.key)
    chans = channel_names(rt)
    label = {"channel": chans.get, "type": TYPE_NAMES.get, "group": lambda c, d=None: group_name(rt.names, c)}

    def volumes(what: str) -> list[dict]:
        a, b = breakdown(reader, scope, periods, what), breakdown(reader, scope, previous, what)
        return [{"code": c, "name": label[what](c, c), "count": a.get(c, {}).get("received", 0),
                 "previous": b.get(c, {}).get("received", 0),
                 "change": change(a.get(c, {}).get("received", 0), b.get(c, {}).get("received", 0))}
                for c in sorted(set(a) | set(b), key=lambda c: (-a.get(c, {}).get("received", 0), c))]

    return {"scope": scope.to_dict(), "period": {"kind": query.get("period") or "30d", "from": first, "to": last},
            **m.figures(now_t), "previous": m.figures(before_t),
            "volume": {"count": now_t["received"], "previous": before_t["received"],
                       "change": change(now_t["received"], before_t["received"])},
            "by_channel": volumes("channel"), "by_type": volumes("type"), "by_category": volumes("group"),
            "rankings": ranked_units(rt, units_totals(reader, rt, scope, periods)),
            "district_rankings": ranked_units(rt, reader.by_ident(periods, "district"), rt.names.districts)
            if scope.kind == "city" else None,
            "reads": reader.reads}


def change(now: int, before: int) -> float | None:
    return round((now - before) / before, 4) if before else None


def alert_feed(p, who: Principal, requested: str | None = None) -> dict[str, Any]:
    """The spike alerts of the reader's scope (today's and yesterday's), newest first."""
    scope = scope_of(p, who, requested)
    rt = p.region(who.region)
    return {"scope": scope.to_dict(), "alerts": alerts_in(p, who.region, scope, to_local(p.now()).date(), rt.names)}


def hot_problems(p, who: Principal, requested: str | None = None, when: datetime | None = None) -> dict[str, Any]:
    """热点问题: the category groups x streets most raised over the last 7 days (with the joined
    duplicates among them) and the hot words."""
    scope = scope_of(p, who, requested)
    rt = p.region(who.region)
    reader = Reader(p, who.region)
    week = days(to_local(when or p.now()).date(), 7)
    return {"scope": scope.to_dict(), **hotspots(reader, rt, scope, week)}


def hotspots(reader: Reader, rt, scope: Scope, periods: list, top: int = 15) -> dict[str, Any]:
    names = rt.names
    cells = []
    for ident, t in reader.by_ident(periods, "hot").items():
        group, _, street = ident.partition("|")
        if scope.kind != "unit" and scope.holds_area(street):
            cells.append({"group": group, "group_name": group_name(names, group), "area": street,
                          "area_name": names.streets.get(street, street), "count": t["received"], "joined": t["joined"]})
    cells.sort(key=lambda c: (-c["count"], c["group"], c["area"]))
    words = sorted(((w, t["received"]) for w, t in reader.by_ident(periods, "word").items()),
                   key=lambda x: (-x[1], x[0])) if scope.kind == "city" else []
    return {"hotspots": cells[:top], "hot_words": [{"word": w, "count": n} for w, n in words[:20]]}
