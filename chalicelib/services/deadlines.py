"""Deadlines (限时办理, F-HD-2): started at dispatch, indexed by minute bucket for the sweeps."""
from __future__ import annotations

import collections
import dataclasses
from datetime import datetime, timedelta, timezone

from chalicelib.domain.appeal import Appeal
from chalicelib.domain.calendar import to_local
from chalicelib.domain.deadlines import Deadline, compute_deadline, minute_bucket, minute_buckets
from chalicelib.domain.errors import AlreadyCreated, ConflictError, NotFoundError
from chalicelib.domain.records import AlertRecord, CalendarAlert, DueEntry, SupervisionCopy
from chalicelib.observability import logger, metrics
from chalicelib.services import work

CLOCK_STEPS = ("sign", "contact", "reply")
ALERTS = (("warning", "warn_at"), ("overdue", "due_at"), ("supervise", "supervise_at"))


def due_items(appeal_id: str, deadline: Deadline) -> list[DueEntry]:
    """One index entry per alert instant of a deadline version (no warning entry when the
    deadline has no working-hours time before due: the red alert is then the first alert)."""
    items = []
    for alert, attr in ALERTS:
        if alert == "warning" and not deadline.warns:
            continue
        at: datetime = getattr(deadline, attr)
        items.append(DueEntry(appeal_id, deadline.step, alert, deadline.version, at,
                              minute_bucket(at, round_up=True)))
    return items


def start_clock(p, appeal: Appeal, now: datetime) -> list[DueEntry]:
    """Set the sign, contact and reply deadlines from `now` (a new dispatch restarts the clock)."""
    model = p.region(appeal.region)
    items: list[DueEntry] = []
    provisional_years: set[int] = set()
    fresh = [compute_deadline(model.deadline_policy, model.calendar, step, appeal.appeal_type.value,
                              appeal.urgency.value, now) for step in CLOCK_STEPS]
    for d in appeal.start_clock(fresh, now, "system:deadlines"):
        items += due_items(appeal.appeal_id, d)
        provisional_years.update(d.missing_years)
    if provisional_years:
        appeal.record(now, "calendar_missing", "system:deadlines",
                      {"years": sorted(provisional_years), "note": "deadline computed on weekends only; "
                       "region admins alerted"}, public=False)
        # The event says the admins were alerted: do it (once per region and year; never raises).
        alert_calendar_missing(p, appeal.region, provisional_years, now, appeal.appeal_id)
    return items


def raise_urgency(p, appeal: Appeal, urgency, now: datetime, actor: str, reason: str) -> list[DueEntry]:
    """The appeal takes `urgency` if it is higher (a more urgent report joined it). Running deadlines
    are recomputed for it from the region's limits as new versions; returns their index entries,
    to be saved with the appeal. Before dispatch only the urgency changes (dispatch reads it)."""
    if not appeal.outranked_by(urgency):
        return []
    running = bool(appeal.handling_clock.running_steps())
    model = p.region(appeal.region) if running else None
    new = appeal.raise_urgency(urgency, now, actor, reason,
                               model.deadline_policy if model else None, model.calendar if model else None)
    items: list[DueEntry] = []
    years: set[int] = set()
    for d in new:
        items += due_items_from(appeal.appeal_id, d, now)
        years.update(d.missing_years)
    if years:
        alert_calendar_missing(p, appeal.region, years, now, appeal.appeal_id)
    return items


# --- sweeps (F-HD-3): warnings, red alerts and supervision notices, each raised exactly once ------

SWEEP_ACTOR = "system:deadlines"
FIRST_RUN_LOOKBACK = timedelta(minutes=5)
CATCH_UP_LIMIT = timedelta(hours=24)   # older buckets are given up (logged + metric), never read
BUCKETS_PER_RUN = 60                   # a longer gap is caught up over successive runs, oldest first
SAVE_ATTEMPTS = 3
ALERT_ATTR = dict(ALERTS)


def due_items_from(appeal_id: str, deadline: Deadline, now: datetime) -> list[DueEntry]:
    """`due_items` for a deadline set at `now` (e.g. an extension): an instant already past goes
    into the next minute's bucket, because the sweep has read (or is reading) the past ones."""
    nxt = minute_bucket(now + timedelta(minutes=1))
    return [dataclasses.replace(it, bucket=nxt) if it.bucket <= minute_bucket(now) else it
            for it in due_items(appeal_id, deadline)]


def alert_calendar_missing(p, region: str, years, now: datetime, appeal_id: str | None = None) -> list[int]:
    """Tell the region admins, once per region and year, that a deadline relied on a year the
    official calendar lacks (an item in the admins' list + an error log + a metric). Never raises."""
    newly = []
    for year in sorted({int(y) for y in years}):
        try:
            if not p.store.put_once(CalendarAlert(region, year, now, appeal_id), now):
                continue
        except Exception:  # noqa: BLE001 - an alert about alerts must never stop the work itself
            logger.exception("could not record the missing-calendar alert", extra={"region": region, "year": year})
            continue
        logger.error("official working-day calendar missing: deadlines are provisional; load the year",
                     extra={"region": region, "year": year, "appeal_id": appeal_id})
        metrics.add_metric(name="CalendarYearMissing", unit="Count", value=1)
        newly.append(year)
    return newly


def supervision_copies(model, unit_id: str | None) -> tuple[list[str], str]:
    """Who a supervision notice to `unit_id` is copied to: the level above, or the command centre."""
    centre = model.units.fallback.unit_id
    unit = model.units.by_id(unit_id)
    if unit is None:
        return [centre], "city command centre (unit unknown)"
    code = unit.jurisdiction_code
    parent = code[:-3] if len(code) > 6 else None   # community → street → district; district → city
    # The region names which of the level above's units get the copy (its policy.json, supervision);
    # a region that names none copies its command centre.
    types = tuple(model.policy.get("supervision", {}).get("copy_unit_types", ()))
    if parent and parent != model.city_code:
        found = sorted(u.unit_id for u in model.units.units
                       if u.jurisdiction_code == parent and u.unit_type in types and u.unit_id != unit_id)
        if found:
            return found, f"level above ({parent})"
    return [centre], "city command centre"


def _bucket_start(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y-%m-%dT%H:%M").replace(tzinfo=timezone.utc)


def sweep(p) -> dict:
    """Read the minute buckets since the last run and raise every alert that is due, once.

    Cost follows the due work, not the open appeals: one state read, DUE_SHARDS queries per
    minute bucket, and per due instant one appeal read and one transaction.
    """
    now = p.now()
    mark = p.store.sweep_mark()
    start = _bucket_start(mark) if mark else now - FIRST_RUN_LOOKBACK
    skipped = 0
    oldest = now - CATCH_UP_LIMIT
    if start < oldest:
        skipped = len(minute_buckets(start, oldest))
        logger.error("deadline sweep gap longer than the catch-up limit; older buckets skipped",
                     extra={"from": start.isoformat(), "skipped_minutes": skipped})
        metrics.add_metric(name="DeadlineSweepBucketsSkipped", unit="Count", value=skipped)
        start = oldest
    buckets = minute_buckets(start, now)[:BUCKETS_PER_RUN]
    counts: collections.Counter = collections.Counter()
    by_appeal: dict[str, list[DueEntry]] = collections.defaultdict(list)
    for bucket in buckets:
        for due in p.store.due_in_bucket(bucket):
            by_appeal[due.appeal_id].append(due)
            counts["due_read"] += 1
    for appeal_id, dues in by_appeal.items():
        _raise_for_appeal(p, appeal_id, sorted(dues, key=_due_order), now, counts)
    if buckets:
        p.store.move_sweep_mark(buckets[-1], now)
    result = {"buckets": len(buckets), "skipped_buckets": skipped, "last_bucket": buckets[-1] if buckets else None,
              **{k: counts[k] for k in ("due_read", "warning", "overdue", "supervise", "duplicate", "stale",
                                        "done", "inactive", "already", "missing")}}
    raised = counts["warning"] + counts["overdue"] + counts["supervise"]
    if raised:
        metrics.add_metric(name="DeadlineAlertsRaised", unit="Count", value=raised)
    return result


def _due_order(d: DueEntry) -> tuple:
    """Instants in time order; at one instant, the index's key order."""
    return d.at, d.appeal_id, d.step, d.deadline_version, d.alert


def _verdict(appeal: Appeal, due: DueEntry) -> str:
    return appeal.alert_verdict(due.step, int(due.deadline_version), due.alert)


def _raise_for_appeal(p, appeal_id: str, dues: list[DueEntry], now: datetime, counts) -> None:
    appeal: Appeal | None = None
    for due in dues:
        for _ in range(SAVE_ATTEMPTS):
            if appeal is None:
                try:
                    appeal = p.store.load_appeal(appeal_id)
                except NotFoundError:
                    counts["missing"] += len(dues)
                    return
            verdict = _verdict(appeal, due)
            if verdict != "raise":
                counts[verdict] += 1
                break
            uow = p.store.unit_of_work(now)
            _apply_alert(p, uow, appeal, due, now)
            try:
                work.commit(p, uow)
            except AlreadyCreated:
                counts["duplicate"] += 1     # an overlapping sweep raised it first
                appeal = None
                break
            except ConflictError:
                appeal = None                # changed meanwhile: read again and decide again
                continue
            counts[due.alert] += 1
            break
        else:
            logger.warning("alert not raised after retries; the next sweep of the bucket will not see it",
                           extra={"appeal_id": appeal_id, "step": due.step, "alert": due.alert})
            metrics.add_metric(name="DeadlineAlertRetriesExhausted", unit="Count", value=1)


def _apply_alert(p, uow, appeal: Appeal, due: DueEntry, now: datetime) -> None:
    """Raise the alert on the appeal and put into `uow` what it writes: the appeal, the alert
    (once), and for a supervision notice the copied units' inbox entries."""
    step, d = appeal.handling_clock.get(due.step), appeal.handling_clock.deadline(due.step)
    instant = getattr(d, ALERT_ATTR[due.alert]).isoformat()
    late = (now - datetime.fromisoformat(instant)).total_seconds()
    unit_id = appeal.assignment.unit_id
    data = {"unit_id": unit_id, "instant": instant, "due_at": d.due_at.isoformat(), "lateness_s": round(late, 3)}
    if step.done_at:
        data["done_late_at"] = step.done_at.isoformat()  # recorded for the unit's record; nothing left to chase
    if due.alert == "supervise" and not step.done_at:
        model = p.region(appeal.region)
        copies, rule = supervision_copies(model, unit_id)
        data.update({"notice": "督办函", "to_unit_id": unit_id, "copied_to": copies, "copy_rule": rule})
        # The copied units above may open the appeal from their inbox (jurisdiction by unit).
        appeal.add_overseers(copies)
        uow.add(*[SupervisionCopy(appeal.appeal_id, due.step, int(due.deadline_version), u, unit_id, now)
                  for u in copies])
    if d.provisional:
        data["provisional"] = True
        alert_calendar_missing(p, appeal.region, d.missing_years, now, appeal.appeal_id)
    appeal.raise_alert(due.step, int(due.deadline_version), due.alert, now, SWEEP_ACTOR, data)
    uow.track(appeal)
    uow.add_once(AlertRecord(appeal.appeal_id, appeal.region, due.step, due.alert, int(due.deadline_version), now,
                             instant, unit_id, to_local(now).date().isoformat(), data))
