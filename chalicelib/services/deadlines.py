"""Deadlines (限时办理, F-HD-2): started at dispatch, indexed by minute bucket for the sweeps."""
from __future__ import annotations

import collections
from datetime import datetime, timedelta, timezone

from pynamodb.exceptions import PutError

from chalicelib.domain.appeal import Appeal
from chalicelib.domain.calendar import to_local
from chalicelib.domain.deadlines import Deadline, compute_deadline, minute_bucket, minute_buckets
from chalicelib.domain.errors import ConflictError, NotFoundError
from chalicelib.observability import logger, metrics
from chalicelib.services.clock import Clock
from chalicelib.services.dispatch_model import model_for
from chalicelib.storage import keys, repository
from chalicelib.storage.models import AlertItem, CalendarAlertItem, DueItem, MarkerItem, SweepStateItem

CLOCK_STEPS = ("sign", "contact", "reply")
ALERTS = (("warning", "warn_at"), ("overdue", "due_at"), ("supervise", "supervise_at"))


def due_items(appeal_id: str, deadline: Deadline) -> list[DueItem]:
    """One index entry per alert instant of a deadline version (no warning entry when the
    deadline has no working-hours time before due: the red alert is then the first alert)."""
    items = []
    for alert, attr in ALERTS:
        if alert == "warning" and not deadline.warns:
            continue
        at: datetime = getattr(deadline, attr)
        items.append(DueItem(keys.due_pk(minute_bucket(at, round_up=True), appeal_id),
                             keys.due_sk(appeal_id, deadline.step, deadline.version, alert),
                             appeal_id=appeal_id, step=deadline.step, alert=alert,
                             deadline_version=deadline.version, at=repository.iso(at)))
    return items


def start_clock(appeal: Appeal, now: datetime) -> list[DueItem]:
    """Set the sign, contact and reply deadlines from `now` (a new dispatch restarts the clock)."""
    model = model_for(appeal.region)
    items: list[DueItem] = []
    provisional_years: set[int] = set()
    for step in CLOCK_STEPS:
        d = compute_deadline(model.deadline_policy, model.calendar, step, appeal.appeal_type.value,
                             appeal.urgency.value, now)
        previous = appeal.deadlines.get(step)
        if previous:
            d = Deadline(**{**d.__dict__, "version": int(previous.get("version", 1)) + 1})
        appeal.deadlines[step] = d.to_dict()
        items += due_items(appeal.appeal_id, d)
        provisional_years.update(d.missing_years)
    appeal.record(now, "deadlines_set", "system:deadlines",
                  {s: appeal.deadlines[s]["due_at"] for s in CLOCK_STEPS}, public=True)
    if provisional_years:
        appeal.record(now, "calendar_missing", "system:deadlines",
                      {"years": sorted(provisional_years), "note": "deadline computed on weekends only; "
                       "region admins alerted"}, public=False)
        # The event says the admins were alerted: do it (once per region and year; never raises).
        alert_calendar_missing(appeal.region, provisional_years, now, appeal.appeal_id)
    return items


def raise_urgency(appeal: Appeal, urgency, now: datetime, actor: str, reason: str) -> list[DueItem]:
    """The appeal takes `urgency` if it is higher (a more urgent report joined it). Running deadlines
    are recomputed for it from the region's limits as new versions; returns their index entries,
    to be saved with the appeal. Before dispatch only the urgency changes (dispatch reads it)."""
    if not appeal.outranked_by(urgency):
        return []
    running = any(not d.get("done_at") for d in appeal.deadlines.values())
    model = model_for(appeal.region) if running else None
    new = appeal.raise_urgency(urgency, now, actor, reason,
                               model.deadline_policy if model else None, model.calendar if model else None)
    items: list[DueItem] = []
    years: set[int] = set()
    for d in new:
        items += due_items_from(appeal.appeal_id, d, now)
        years.update(d.missing_years)
    if years:
        alert_calendar_missing(appeal.region, years, now, appeal.appeal_id)
    return items


# --- sweeps (F-HD-3): warnings, red alerts and supervision notices, each raised exactly once ------

SWEEP_ACTOR = "system:deadlines"
FIRST_RUN_LOOKBACK = timedelta(minutes=5)
CATCH_UP_LIMIT = timedelta(hours=24)   # older buckets are given up (logged + metric), never read
BUCKETS_PER_RUN = 60                   # a longer gap is caught up over successive runs, oldest first
SAVE_ATTEMPTS = 3
ALERT_ATTR = dict(ALERTS)
# Who gets a copy of a supervision notice (督办函) by default: the government of the level above.
DEFAULT_COPY_UNIT_TYPES = ("街道办事处", "区政务服务数据管理局")


def due_items_from(appeal_id: str, deadline: Deadline, now: datetime) -> list[DueItem]:
    """`due_items` for a deadline set at `now` (e.g. an extension): an instant already past goes
    into the next minute's bucket, because the sweep has read (or is reading) the past ones."""
    items = due_items(appeal_id, deadline)
    nxt = minute_bucket(now + timedelta(minutes=1))
    for it in items:
        if minute_bucket(datetime.fromisoformat(it.at), round_up=True) <= minute_bucket(now):
            it.PK = keys.due_pk(nxt, appeal_id)
    return items


def alert_calendar_missing(region: str, years, now: datetime, appeal_id: str | None = None) -> list[int]:
    """Tell the region admins, once per region and year, that a deadline relied on a year the
    official calendar lacks (an item in the admins' list + an error log + a metric). Never raises."""
    newly = []
    for year in sorted({int(y) for y in years}):
        item = CalendarAlertItem(keys.calendar_alert_pk(region, year), keys.CALENDAR_ALERT_SK, region=region,
                                 year=year, at=repository.iso(now), appeal_id=appeal_id,
                                 GSI1PK=keys.admin_queue(region),
                                 GSI1SK=f"{repository.iso(now)}#calendar#{year}")
        try:
            item.save(condition=CalendarAlertItem.PK.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                logger.exception("could not record the missing-calendar alert", extra={"region": region,
                                                                                        "year": year})
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
    unit = next((u for u in model.units.units if u.unit_id == unit_id), None)
    if unit is None:
        return [centre], "city command centre (unit unknown)"
    code = unit.jurisdiction_code
    parent = code[:-3] if len(code) > 6 else None   # community → street → district; district → city
    types = tuple(model.policy.get("supervision", {}).get("copy_unit_types", DEFAULT_COPY_UNIT_TYPES))
    if parent and parent != model.city_code:
        found = sorted(u.unit_id for u in model.units.units
                       if u.jurisdiction_code == parent and u.unit_type in types and u.unit_id != unit_id)
        if found:
            return found, f"level above ({parent})"
    return [centre], "city command centre"


def _load_state() -> SweepStateItem | None:
    try:
        return SweepStateItem.get(keys.SWEEP_DEADLINES_PK, keys.SWEEP_SK, consistent_read=True)
    except SweepStateItem.DoesNotExist:
        return None


def _save_state(last_bucket: str, now: datetime) -> None:
    """Move the mark forward only (an overlapping older run never moves it back)."""
    item = SweepStateItem(keys.SWEEP_DEADLINES_PK, keys.SWEEP_SK, last_bucket=last_bucket,
                          updated_at=repository.iso(now))
    try:
        item.save(condition=SweepStateItem.PK.does_not_exist() | (SweepStateItem.last_bucket < last_bucket))
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def _bucket_start(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y-%m-%dT%H:%M").replace(tzinfo=timezone.utc)


def sweep(clock: Clock) -> dict:
    """Read the minute buckets since the last run and raise every alert that is due, once.

    Cost follows the due work, not the open appeals: one state read, DUE_SHARDS queries per
    minute bucket, and per due instant one appeal read and one transaction.
    """
    now = clock.now()
    state = _load_state()
    start = _bucket_start(state.last_bucket) if state else now - FIRST_RUN_LOOKBACK
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
    by_appeal: dict[str, list[DueItem]] = collections.defaultdict(list)
    for bucket in buckets:
        for pk in keys.due_pks(bucket):
            for due in DueItem.query(pk):
                by_appeal[due.appeal_id].append(due)
                counts["due_read"] += 1
    for appeal_id, dues in by_appeal.items():
        _raise_for_appeal(appeal_id, sorted(dues, key=lambda d: (d.at, d.SK)), now, counts)
    if buckets:
        _save_state(buckets[-1], now)
    result = {"buckets": len(buckets), "skipped_buckets": skipped, "last_bucket": buckets[-1] if buckets else None,
              **{k: counts[k] for k in ("due_read", "warning", "overdue", "supervise", "duplicate", "stale",
                                        "done", "inactive", "already", "missing")}}
    raised = counts["warning"] + counts["overdue"] + counts["supervise"]
    if raised:
        metrics.add_metric(name="DeadlineAlertsRaised", unit="Count", value=raised)
    return result


# Alerts that stay on a unit's record when the step was taken after the instant but before the
# sweep reached it; a warning for a step already taken warns nobody.
RECORD_WHEN_LATE = ("overdue", "supervise")


def _verdict(appeal: Appeal, due: DueItem) -> str:
    d = appeal.deadlines.get(due.step)
    if not d or int(d.get("version", 1)) != int(due.deadline_version):
        return "stale"          # a later dispatch or an approved extension replaced this version
    if d.get("done_at"):
        # The clock stopped. Taken in time: nothing to raise. Taken after the instant (in the
        # minute before this sweep): the lateness happened, and the unit's record must show it.
        instant = d.get(ALERT_ATTR[due.alert])
        late = instant is not None and datetime.fromisoformat(d["done_at"]) > datetime.fromisoformat(instant)
        if not late or due.alert not in RECORD_WHEN_LATE:
            return "done"
    elif appeal.status not in Appeal.HANDLING_STATUSES or not appeal.unit_id:
        return "inactive"       # back in a dispatcher's queue, replied, closed...
    if due.alert in d.get("alerted", ()):
        return "already"
    return "raise"


def _raise_for_appeal(appeal_id: str, dues: list[DueItem], now: datetime, counts) -> None:
    appeal: Appeal | None = None
    for due in dues:
        for _ in range(SAVE_ATTEMPTS):
            if appeal is None:
                try:
                    appeal = repository.load_appeal(appeal_id)
                except NotFoundError:
                    counts["missing"] += len(dues)
                    return
            verdict = _verdict(appeal, due)
            if verdict != "raise":
                counts[verdict] += 1
                break
            alert_item, extra = _apply_alert(appeal, due, now)
            try:
                repository.save_appeal(appeal, now, extra_items=extra, create_once=[alert_item])
            except repository.AlreadyCreated:
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


def _apply_alert(appeal: Appeal, due: DueItem, now: datetime) -> tuple[AlertItem, list]:
    d = appeal.deadlines[due.step]
    instant = d[ALERT_ATTR[due.alert]]
    late = (now - datetime.fromisoformat(instant)).total_seconds()
    data = {"unit_id": appeal.unit_id, "instant": instant, "due_at": d["due_at"], "lateness_s": round(late, 3)}
    if d.get("done_at"):
        data["done_late_at"] = d["done_at"]     # recorded for the unit's record; nothing left to chase
    extra: list = []
    if due.alert == "supervise" and not d.get("done_at"):
        model = model_for(appeal.region)
        copies, rule = supervision_copies(model, appeal.unit_id)
        data.update({"notice": "督办函", "to_unit_id": appeal.unit_id, "copied_to": copies, "copy_rule": rule})
        # The copied units above may open the appeal from their inbox (jurisdiction by unit).
        appeal.overseeing_unit_ids = sorted(set(appeal.overseeing_unit_ids) | set(copies))
        extra = [MarkerItem(keys.appeal_pk(appeal.appeal_id),
                            keys.supervision_copy_sk(due.step, due.deadline_version, u),
                            appeal_id=appeal.appeal_id,
                            note={"role": "supervision_copy", "step": due.step, "unit_id": appeal.unit_id},
                            GSI1PK=keys.unit_queue(u), GSI1SK=f"supervision#{repository.iso(now)}#{appeal.appeal_id}")
                 for u in copies]
    if d.get("provisional"):
        data["provisional"] = True
        alert_calendar_missing(appeal.region, d.get("missing_years", ()), now, appeal.appeal_id)
    appeal.raise_alert(due.step, int(due.deadline_version), due.alert, now, SWEEP_ACTOR, data)
    at = repository.iso(now)
    item = AlertItem(keys.appeal_pk(appeal.appeal_id), keys.alert_sk(due.step, due.deadline_version, due.alert),
                     appeal_id=appeal.appeal_id, region=appeal.region, step=due.step, alert=due.alert,
                     deadline_version=int(due.deadline_version), at=at, instant=instant, unit_id=appeal.unit_id,
                     data=data, GSI2PK=keys.alerts_day_pk(appeal.region, to_local(now).date().isoformat()),
                     GSI2SK=keys.time_id_sk(at, appeal.appeal_id))
    return item, extra


def alerts_of_day(region: str, local_day: str, limit: int = 200) -> list[AlertItem]:
    """A region's alerts of one local day, newest first (the city dashboard's read)."""
    return list(AlertItem.gsi2.query(keys.alerts_day_pk(region, local_day), scan_index_forward=False, limit=limit))
