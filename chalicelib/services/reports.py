"""Reports (F-AN-5): 每日快报 (08:00 local, the day before), 周分析 (Mondays, the week before) and
月研判 (the 1st, the month before), for the city and for each district, written as files a
person opens (an HTML page with charts, drawn by the platform's vendored ECharts, and a CSV of
its tables) into the report bucket and listed
through the staff API.

`run` is the scheduled job (hourly): it writes every report that has fallen due and is not yet
written, so a missed run catches up (the last `CATCH_UP` periods of each kind). A report is
written once; its row (REPORT#<region>#<scope>) lists it.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Any

from chalicelib.domain import metrics as m
from chalicelib.domain.access import Principal, covers, require
from chalicelib.domain.calendar import to_local
from chalicelib.domain.errors import ForbiddenError, NotFoundError, ValidationError
from chalicelib.domain.records import ReportEntry
from chalicelib.services import analytics_read as ar
from chalicelib.web.render import render, static_url

KINDS = {"daily": "每日快报", "weekly": "周分析", "monthly": "月研判"}
FORMATS = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8"}
RELEASE = time(8, 0)      # local time a report falls due
CATCH_UP = 3              # periods of each kind a run looks back for a missing report
OVERDUE_ROWS = 50


def due(now: datetime) -> list[tuple[str, date]]:
    """The (kind, first day) of every report that has fallen due by `now`, newest first."""
    local = to_local(now)
    today = local.date() if local.time() >= RELEASE else local.date() - timedelta(days=1)
    out = [("daily", today - timedelta(days=i)) for i in range(1, CATCH_UP + 1)]
    monday = today - timedelta(days=today.weekday())
    out += [("weekly", monday - timedelta(days=7 * i)) for i in range(1, CATCH_UP + 1)]
    first = today.replace(day=1)
    for _ in range(CATCH_UP):
        first = (first - timedelta(days=1)).replace(day=1)
        out.append(("monthly", first))
    return out


def label(kind: str, start: date, end: date) -> str:
    if kind == "daily":
        return f"{start.year}年{start.month}月{start.day}日"
    if kind == "weekly":
        return f"{start.year}年{start.month}月{start.day}日—{end.month}月{end.day}日"
    return f"{start.year}年{start.month}月"


def build(p, region: str, scope: ar.Scope, kind: str, start: date) -> dict[str, Any]:
    """The report's content (the template's `report`)."""
    rt = p.region(region)
    names = rt.names
    grain_kind = {"daily": "day", "weekly": "week", "monthly": "month"}[kind]
    periods, previous, first, last = ar.period_of(grain_kind, start)
    _, _, pfirst, plast = ar.period_of(grain_kind, date.fromisoformat(first) - timedelta(days=1))
    reader = ar.Reader(p, region)
    now_t, before_t = reader.total(periods, scope.key), reader.total(previous, scope.key)
    chans = ar.channel_names(rt)

    def volumes(what: str, name) -> list[dict]:
        a, b = ar.breakdown(reader, scope, periods, what), ar.breakdown(reader, scope, previous, what)
        return [{"code": c, "name": name(c), "count": a.get(c, {}).get("received", 0),
                 "previous": b.get(c, {}).get("received", 0),
                 "change": ar.change(a.get(c, {}).get("received", 0), b.get(c, {}).get("received", 0))}
                for c in sorted(set(a) | set(b), key=lambda c: (-a.get(c, {}).get("received", 0), c))]

    ranks = ar.ranked_units(rt, ar.units_totals(reader, rt, scope, periods))
    days_ = [date.fromisoformat(first) + timedelta(days=i)
             for i in range((date.fromisoformat(last) - date.fromisoformat(first)).days + 1)]
    hot = ar.hotspots(reader, rt, scope, [("D", d.isoformat()) for d in days_])
    alerts = [a for d in days_ for a in ar.alerts_in(p, region, scope, d, names) if a["at"][:10] == d.isoformat()]
    return {
        "kind": kind, "title": KINDS[kind], "scope": scope.to_dict(),
        "period": {"from": first, "to": last, "label": label(kind, date.fromisoformat(first), date.fromisoformat(last))},
        "previous": {"from": pfirst, "to": plast,
                     "label": label(kind, date.fromisoformat(pfirst), date.fromisoformat(plast))},
        "generated_at": to_local(p.now()).isoformat(timespec="seconds"), "demo": ar.demo_data(p, region),
        "volume": {"count": now_t["received"], "previous": before_t["received"],
                   "change": ar.change(now_t["received"], before_t["received"])},
        "by_channel": volumes("channel", lambda c: chans.get(c, c)),
        "by_type": volumes("type", lambda c: ar.TYPE_NAMES.get(c, c)),
        "by_category": volumes("group", lambda c: ar.group_name(names, c)),
        "rates": [{"key": k, "name": m.RATES[k][0], "value": m.rate(now_t, k), "previous": m.rate(before_t, k)}
                  for k in m.RATES],
        "times_h": m.figures(now_t)["times_h"],
        "rankings": ranks["ranked"][:20], "red": ranks["red"], "black": ranks["black"],
        "overdue": overdue(p, region, scope, rt, days_),
        "hotspots": hot["hotspots"], "hot_words": hot["hot_words"],
        "alerts": [{**a, "appeals": len(a["appeals"])} for a in alerts],
        "redo": {"replied": now_t["replied"], "redone": now_t["redone"], "redo_rate": m.rate(now_t, "redo_rate"),
                 "returned": now_t["returned"], "return_rate": m.rate(now_t, "return_rate")},
    }


def overdue(p, region: str, scope: ar.Scope, rt, days_: list[date]) -> list[dict[str, Any]]:
    """The work that went overdue (红色预警) or was sent a supervision notice (督办) in the period,
    from the deadline sweep's alerts of each day (one query a day)."""
    names = rt.names
    juris = rt.unit_jurisdictions
    rows = []
    for d in days_:
        for a in p.store.alerts_of_day(region, d.isoformat()):
            if a.alert not in ("overdue", "supervise"):
                continue
            if scope.kind == "unit" and a.unit_id != scope.code:
                continue
            if scope.kind in ("district", "street") and not (juris.get(a.unit_id or "") or "").startswith(scope.code):
                continue
            rows.append({"appeal_id": a.appeal_id, "unit": names.units.get(a.unit_id or "", a.unit_id or ""),
                         "step": a.step, "category": "", "due_at": to_local(a.at).isoformat(timespec="minutes"),
                         "red": a.alert == "supervise"})
    return rows[:OVERDUE_ROWS]


def to_csv(report: dict[str, Any]) -> str:
    """The report's tables, one after another (a section line, a header, the rows); UTF-8 with
    a BOM so a spreadsheet opens the Chinese right."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([report["title"], report["scope"]["name"], report["period"]["label"],
                "演示数据" if report.get("demo") else ""])
    sections = [("受理量 按渠道", "by_channel"), ("受理量 按类型", "by_type"), ("受理量 按类别", "by_category")]
    for title, key in sections:
        w.writerow([])
        w.writerow([title])
        w.writerow(["代码", "名称", "本期", "上期", "变化"])
        for r in report[key]:
            w.writerow([r["code"], r["name"], r["count"], r["previous"], _num(r["change"])])
    w.writerow([])
    w.writerow(["考核指标"])
    w.writerow(["指标", "本期", "上期"])
    for r in report["rates"]:
        w.writerow([r["name"], _num(r["value"]), _num(r["previous"])])
    for title, key in (("综合排名", "rankings"), ("红榜", "red"), ("黑榜", "black")):
        w.writerow([])
        w.writerow([title])
        w.writerow(["名次", "单位编码", "单位", "综合得分", "办件量", "按时办结率", "满意率"])
        for r in report[key]:
            w.writerow([r.get("rank"), r["unit_id"], r["name"], _num(r["score"]), r["volume"],
                        _num(r.get("on_time_rate")), _num(r.get("satisfaction_rate"))])
    w.writerow([])
    w.writerow(["超期及督办件"])
    w.writerow(["诉求编号", "承办单位", "环节", "时间", "督办"])
    for r in report["overdue"]:
        w.writerow([r["appeal_id"], r["unit"], r["step"], r["due_at"], "是" if r["red"] else ""])
    w.writerow([])
    w.writerow(["热点问题"])
    w.writerow(["类别", "街道", "诉求数", "其中合并重复"])
    for r in report["hotspots"]:
        w.writerow([r["group_name"], r["area_name"], r["count"], r["joined"]])
    w.writerow([])
    w.writerow(["热点预警"])
    w.writerow(["时间", "类别", "区域", "预计", "实际", "诉求数"])
    for r in report["alerts"]:
        w.writerow([r["at"], r["group_name"], r["area_name"], r["expected"], r["observed"], r["appeals"]])
    redo = report["redo"]
    w.writerow([])
    w.writerow(["重办与退回"])
    w.writerow(["答复", "重办", "重办率", "退回", "退回率"])
    w.writerow([redo["replied"], redo["redone"], _num(redo["redo_rate"]), redo["returned"], _num(redo["return_rate"])])
    return "\ufeff" + out.getvalue()


def _num(v) -> str:
    return "" if v is None else str(v)


def file_key(region: str, scope: str, kind: str, start: str, fmt: str) -> str:
    return f"reports/{region}/{scope}/{kind}/{start}.{fmt}"


def write(p, region: str, scope: ar.Scope, kind: str, start: date) -> ReportEntry:
    report = build(p, region, scope, kind, start)
    # ECharts by the platform's own URL, not inlined: each report would otherwise carry 1 MB.
    html = render("report.html", report=report,
                  echarts_src=p.settings.public_base_url.rstrip("/") + static_url("echarts.min.js"))
    files = {}
    for fmt, body in (("html", html), ("csv", to_csv(report))):
        key = file_key(region, scope.code, kind, report["period"]["from"], fmt)
        p.files.put(key, body.encode("utf-8"), FORMATS[fmt])
        files[fmt] = key
    entry = ReportEntry(region, scope.code, kind, report["period"]["from"], report["period"]["to"],
                        f"{report['title']} · {report['scope']['name']} · {report['period']['label']}", files,
                        p.now(), bool(report["demo"]))
    uow = p.store.unit_of_work(p.now())
    uow.add(entry)
    uow.commit()
    return entry


def scopes(rt) -> list[ar.Scope]:
    return [ar.Scope("city", rt.city_code, rt.pack.name)] + [ar.Scope("district", d.code, d.name)
                                                            for d in rt.pack.districts]


def run(p, region: str | None = None) -> dict[str, int]:
    """The scheduled job: every due report of every scope that is not yet written."""
    region = region or p.settings.region_code
    rt = p.region(region)
    written = kept = 0
    for kind, start in due(p.now()):
        for scope in scopes(rt):
            if p.store.get_report(region, scope.code, kind, start.isoformat()) is not None:
                kept += 1
                continue
            write(p, region, scope, kind, start)
            written += 1
    return {"written": written, "already": kept}


# --- the staff API's side --------------------------------------------------------------------------

def _scope_code(p, who: Principal, requested: str | None) -> str:
    require(who, "reports.read")
    rt = p.region(who.region)
    code = requested or (rt.city_code if who.jurisdiction == rt.city_code else who.jurisdiction[:6])
    if code not in {s.code for s in scopes(rt)}:
        raise ValidationError("scope: the city code or a district code", field="scope")
    if not covers(who.jurisdiction, code, rt.city_code):
        raise ForbiddenError("scope: outside your jurisdiction", field="scope", code="outside_jurisdiction")
    return code


def listing(p, who: Principal, requested: str | None = None) -> dict[str, Any]:
    code = _scope_code(p, who, requested)
    base = p.settings.public_base_url.rstrip("/")
    entries = p.store.reports(who.region, code)
    return {"scope": code, "reports": [
        {"kind": e.kind, "title": e.title, "from": e.start, "to": e.end, "demo": e.demo,
         "created_at": to_local(e.created_at).isoformat(timespec="seconds"),
         "files": {fmt: f"{base}/staff/reports/{e.kind}/{e.start}.{fmt}?scope={code}" for fmt in e.files}}
        for e in entries]}


def download(p, who: Principal, kind: str, name: str, requested: str | None = None) -> tuple[bytes, str, str]:
    """(bytes, content type, file name) of one report file."""
    code = _scope_code(p, who, requested)
    if kind not in KINDS:
        raise ValidationError(f"kind: one of {', '.join(KINDS)}", field="kind")
    start, _, fmt = name.rpartition(".")
    if fmt not in FORMATS:
        raise ValidationError(f"format: one of {', '.join(FORMATS)}", field="format")
    try:
        date.fromisoformat(start)
    except ValueError:
        raise ValidationError("start: a day as YYYY-MM-DD", field="start") from None
    entry = p.store.get_report(who.region, code, kind, start)
    if entry is None or fmt not in entry.files:
        raise NotFoundError("no such report", field="start", code="unknown_report")
    body, content_type = p.files.get(entry.files[fmt])
    return body, content_type, f"{kind}-{code}-{start}.{fmt}"


