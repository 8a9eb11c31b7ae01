"""Open311 GeoReport v2 GET requests: the city's public requests, whatever channel brought them in
(as FixMyStreet and the 311 cities list them), read from the precomputed public views
(services/public_views.py), never from the appeals.

* Listed: what the public record lists (domain.public_view.is_listed): a master whose category
  is known and public, not kept private (保密) and not in a category the region keeps out of
  public lists. A report joined to another is not listed on its own (its master is, with the
  number of reports); asked for by its id it shows the handling it shares.
* ``status_notes`` carries the public answer once there is one; ``notes`` (the GeoReport v2
  updates extension) lists the public timeline: what was done, when.
* Reads: one query per local month of the window (at most four for 90 days), status list (open,
  closed, and joined reports, whose status is their master's) and service code (GSI3 when codes
  are given), newest first, asking for what the page still needs: a page of
  `page_size` requests (default 100, at most the spec's 1000) reads about that many views,
  whatever the number of stored appeals. Older pages: the same query with `end_date` set to the
  oldest `requested_datetime` of the page before.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from chalicelib.domain.calendar import to_local
from chalicelib.domain.errors import NotFoundError, ValidationError
from chalicelib.domain.records import PublicView
from chalicelib.domain.timefmt import iso, parse_iso
from chalicelib.services import public_record
from chalicelib.services.open311 import check_jurisdiction

MAX_RESULTS = 1000          # the spec's cap on one GET requests answer
DEFAULT_PAGE = 100          # requests in one answer unless page_size says otherwise
# Views read per listing at most: the window's newest first, until the page is full.
SCAN_LIMIT = 5 * MAX_RESULTS
MAX_CODES = 10              # service_code values in one listing
DEFAULT_WINDOW = timedelta(days=90)
MAX_IDS = 100               # service_request_id values in one listing
_ID_SHAPE = re.compile(r"[A-Za-z0-9\-]{1,64}")

STATUS_NOTES = {
    "accepted": "已受理 (accepted)",
    "dispatched": "已派单办理中 (dispatched to the responsible unit)",
    "replied": "已办结答复，待评价 (answered, awaiting the citizen's rating)",
    "redo": "市民不满意，重新办理中 (sent back to the unit after an unsatisfied rating)",
    "closed": "已办结 (closed)",
}


def find_requests(p, params: Mapping[str, str], now: datetime) -> list[dict[str, Any]]:
    """GET requests: by service_request_id (overrides the rest), else by code, status and window."""
    check_jurisdiction(p, params)
    ids = _csv(params.get("service_request_id"))
    if ids:
        if len(ids) > MAX_IDS:
            raise ValidationError(f"service_request_id: at most {MAX_IDS} ids", field="service_request_id")
        views = p.store.load_views([i for i in ids if _ID_SHAPE.fullmatch(i)])
        shared = _shared(p, list(views.values()))
        return [row(views[i], shared.get(i)) for i in dict.fromkeys(ids)
                if i in views and shown(views[i], shared.get(i))]
    codes = sorted(set(_csv(params.get("service_code"))))
    if len(codes) > MAX_CODES:
        raise ValidationError(f"service_code: at most {MAX_CODES} codes", field="service_code")
    statuses = set(_csv(params.get("status"))) or None
    if statuses and not statuses <= {"open", "closed"}:
        raise ValidationError("status: use open, closed or both", field="status")
    start, end = _window(params.get("start_date"), params.get("end_date"), now)
    size = _page_size(params.get("page_size"))
    region = p.settings.region_code
    # Each status has a list of its own; a joined report's status is its master's, so the joined
    # list is read with either and filtered by its master's status (the one filter no list answers).
    buckets: list[str | None] = [None] if statuses is None and not codes else \
        [*(["open", "closed"] if statuses is None else sorted(statuses)), "joined"]
    chosen: list[tuple[PublicView, PublicView | None]] = []
    read = 0
    for month in _months(start, end):
        if read >= SCAN_LIMIT or len(chosen) >= size:
            break
        need = size - len(chosen)
        batch: list[PublicView] = []
        for bucket in buckets:
            for code in codes or [None]:
                got = p.store.open311_views(region, bucket, month, iso(start), iso(end),
                                            max(0, min(need, SCAN_LIMIT - read)), service_code=code)
                read += len(got)
                batch += got
        batch.sort(key=lambda v: v.summary["received_at"], reverse=True)
        shared = _shared(p, batch)
        chosen += [(v, shared.get(v.appeal_id)) for v in batch if statuses is None or
                   open_or_closed((shared.get(v.appeal_id) or v).summary["status"]) in statuses][:need]
    return [row(v, m) for v, m in chosen[:size]]


def _page_size(value: str | None) -> int:
    """`page_size` (an extension, as Chicago's Open311 has it): requests per answer, newest first;
    an older page is asked for with `end_date` set to the oldest requested_datetime seen."""
    if value is None or not value.strip():
        return DEFAULT_PAGE
    if not value.strip().isdigit() or not 1 <= int(value) <= MAX_RESULTS:
        raise ValidationError(f"page_size: a whole number from 1 to {MAX_RESULTS}", field="page_size")
    return int(value)


def get_request(p, request_id: str) -> list[dict[str, Any]]:
    view = p.store.get_view(request_id) if _ID_SHAPE.fullmatch(request_id) else None
    shared = public_record.handled_as(p, view) if view is not None else None
    if view is None or not shown(view, shared):
        raise NotFoundError("service_request_id: no such service request", field="service_request_id")
    return [row(view, shared)]


def shown(view: PublicView, shared: PublicView | None) -> bool:
    """Open311 shows a request that is not private and whose category (its own, or that of the
    handling it joined) is known and public: an unsorted report might be one the region keeps
    out of public view."""
    return not view.summary.get("private") and (
        bool(view.listed_month) or (shared is not None and bool(shared.summary.get("listed"))))


def _shared(p, views: list[PublicView]) -> dict[str, PublicView]:
    """The handling each joined request shares (its master's view), read in one batch; a master
    merged into another is followed on (rare: one read per further hop)."""
    masters = p.store.load_views(sorted({v.summary["master_id"] for v in views if v.summary.get("master_id")}))
    out = {}
    for v in views:
        m = masters.get(v.summary.get("master_id") or "")
        if m is not None:
            out[v.appeal_id] = public_record.handled_as(p, m) or m
    return out


def _months(start: datetime, end: datetime) -> list[str]:
    """The local months of the window, newest first."""
    first, last = to_local(start), to_local(end)
    months, y, m = [], last.year, last.month
    while (y, m) >= (first.year, first.month):
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return months


def open_or_closed(status: str) -> str:
    return "closed" if status == "closed" else "open"


def row(view: PublicView, shared: PublicView | None) -> dict[str, Any]:
    """The spec's request fields from a public view, and nothing personal; a joined report's
    status, notes and update time follow the handling it shares (its master's view)."""
    s = view.summary
    shown = shared.summary if shared is not None else s
    answer = (shown.get("answer") or {}).get("text")
    timeline = sorted([*view.timeline, *(shared.timeline if shared is not None else ())], key=lambda e: e["at"])
    category = s.get("category") or shown.get("category") or {}
    return {
        "service_request_id": s["appeal_id"],
        "status": open_or_closed(shown["status"]),
        "status_notes": answer if answer and shown["status"] in ("replied", "closed") else
        STATUS_NOTES.get(shown["status"], shown["status"]),
        "service_name": category.get("level2") or None,
        "service_code": s.get("service_code") or shown.get("service_code"),
        "description": s.get("content") or "",
        "agency_responsible": (shown.get("unit") or {}).get("name"),
        "requested_datetime": _w3(s["received_at"]),
        "updated_datetime": _w3(max(s["updated_at"], shown["updated_at"])),
        "address": s.get("address") or None,
        "lat": s.get("lat"),
        "long": s.get("lng"),
        "media_url": s.get("media_url"),
        "notes": [{"datetime": _w3(e["at"]), "type": e["kind"], "description": _note(e)} for e in timeline],
    }


def _note(entry: Mapping[str, Any]) -> str:
    extra = entry.get("answer") or entry.get("reason")
    return f"{entry['label']}：{extra}" if extra else entry["label"]


def _w3(value: str) -> str:
    return parse_iso(value).astimezone(timezone.utc).isoformat(timespec="seconds")


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _parse_date(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip()) if len(value) <= 40 else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValidationError(f"{name}: use ISO 8601 with a timezone, e.g. 2026-05-01T00:00:00Z", field=name)
    return _in_range(parsed, name)


def _in_range(moment: datetime, name: str) -> datetime:
    """A bound the listing can use: representable in UTC too (0001-01-01T00:00+14:00 is not)."""
    try:
        moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValidationError(f"{name}: out of range; use a date between years 1 and 9999", field=name) from None
    return moment


def _shifted(moment: datetime, delta: timedelta, name: str) -> datetime:
    """`moment + delta` for the default window; near year 1 or 9999 that leaves the calendar,
    which is the given parameter's fault (named by `name`)."""
    try:
        return _in_range(moment + delta, name)
    except OverflowError:
        raise ValidationError(f"{name}: out of range; the default {DEFAULT_WINDOW.days}-day window around it "
                              "leaves the calendar (years 1 to 9999)", field=name) from None


def _window(start_s: str | None, end_s: str | None, now: datetime) -> tuple[datetime, datetime]:
    start = _parse_date(start_s, "start_date") if start_s else None
    end = _parse_date(end_s, "end_date") if end_s else None
    if start is None and end is None:
        end = now
    if start is None:
        start = _shifted(end, -DEFAULT_WINDOW, "end_date")
    if end is None:
        end = _shifted(start, DEFAULT_WINDOW, "start_date")
    if end < start:
        raise ValidationError("end_date: before start_date", field="end_date")
    if end - start > DEFAULT_WINDOW:
        raise ValidationError("end_date: the range may not span more than 90 days", field="end_date")
    return start, end
