"""Deadlines (办理时限) of handling steps: the versioned value object and its arithmetic; pure.

The limits come from the region's policy (chalicelib.domain.deadline_policy, re-exported here).
A deadline has three instants: ``warn_at`` (预警), ``due_at`` (overdue → 红色预警) and
``supervise_at`` (``supervise_after`` past due → 发函督办). People are warned and sent notices
inside the region's ``working_hours`` (default 09:00-18:00 on working days of the region
calendar): the warning falls at ``warn_fraction`` of the working-hours time between start and
due, and the supervision instant is moved to the next working-hours moment when it falls outside
them. The red alert stays at the due instant itself. When no working-hours time lies between
start and due (a 15-minute step at night) there is no separate warning: ``warn_at`` is the due
instant and the red alert is the first alert (``Deadline.warns`` is false).
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from chalicelib.domain.calendar import SHANGHAI, WorkCalendar, WorkingHours, WorkTime, ensure_aware, to_local
from chalicelib.domain.deadline_policy import (
    DEFAULT_POLICY, DeadlinePolicy, LimitKind, PolicyError, Step, StepLimits, TimeLimit, UnknownStepError, _key,
)
from chalicelib.domain.errors import ValidationError


class ExtensionError(ValidationError):
    """An extension (延期) that does not move the deadline later, or has no reason."""

    code = "invalid_extension"


class DeadlineState(str, enum.Enum):
    ON_TIME = "on_time"
    WARNING = "warning"        # 黄色预警: approaching the deadline
    OVERDUE = "overdue"        # 红色预警: past due
    SUPERVISE = "supervise"    # 发函督办: overdue long enough for a supervision notice


@dataclass(frozen=True)
class Extension:
    """One granted extension (延期): which version it produced and why."""

    version: int
    previous_due_at: datetime
    new_due_at: datetime
    reason: str


@dataclass(frozen=True)
class Deadline:
    """The deadline of one step of one appeal (versioned: an extension makes a new one).

    ``provisional`` is true when any of the three instants relied on a day of a year the
    calendar does not know; ``missing_years`` lists those years for the admins' alert.
    """

    step: str
    start: datetime
    due_at: datetime
    warn_at: datetime
    supervise_at: datetime
    provisional: bool
    limit: TimeLimit
    warn_fraction: float = 0.75
    supervise_after: TimeLimit = TimeLimit(LimitKind.WORKING_DAYS, 1)
    missing_years: tuple[int, ...] = ()
    version: int = 1
    extensions: tuple[Extension, ...] = ()
    working_hours: WorkingHours = WorkingHours()

    @property
    def warns(self) -> bool:
        """False when no working-hours time lies before due: the red alert is the first alert."""
        return self.warn_at < self.due_at

    def state_at(self, now: datetime) -> DeadlineState:
        """Where ``now`` falls: on time, warning, overdue, or due for supervision."""
        now = ensure_aware(now, "now")
        if now >= self.supervise_at:
            return DeadlineState.SUPERVISE
        if now >= self.due_at:
            return DeadlineState.OVERDUE
        if now >= self.warn_at:
            return DeadlineState.WARNING
        return DeadlineState.ON_TIME

    @property
    def warn_bucket(self) -> str:
        return minute_bucket(self.warn_at, round_up=True)

    @property
    def due_bucket(self) -> str:
        return minute_bucket(self.due_at, round_up=True)

    @property
    def supervise_bucket(self) -> str:
        return minute_bucket(self.supervise_at, round_up=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO-8601 instants with offset) for storage and case events."""
        return {
            "step": self.step,
            "start": self.start.isoformat(),
            "due_at": self.due_at.isoformat(),
            "warn_at": self.warn_at.isoformat(),
            "supervise_at": self.supervise_at.isoformat(),
            "provisional": self.provisional,
            "limit": self.limit.to_dict(),
            "warn_fraction": self.warn_fraction,
            "supervise_after": self.supervise_after.to_dict(),
            "missing_years": list(self.missing_years),
            "working_hours": self.working_hours.to_dict(),
            "version": self.version,
            "extensions": [
                {"version": e.version, "previous_due_at": e.previous_due_at.isoformat(),
                 "new_due_at": e.new_due_at.isoformat(), "reason": e.reason}
                for e in self.extensions
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Deadline":
        def at(value: str, name: str) -> datetime:
            return to_local(datetime.fromisoformat(value), name)

        return cls(
            step=d["step"],
            start=at(d["start"], "start"),
            due_at=at(d["due_at"], "due_at"),
            warn_at=at(d["warn_at"], "warn_at"),
            supervise_at=at(d["supervise_at"], "supervise_at"),
            provisional=bool(d["provisional"]),
            limit=TimeLimit.parse(d["limit"]),
            warn_fraction=d.get("warn_fraction", 0.75),
            supervise_after=TimeLimit.parse(d.get("supervise_after", "1 working_days")),
            missing_years=tuple(d.get("missing_years", ())),
            working_hours=WorkingHours.parse(d.get("working_hours") or WorkingHours()),
            version=int(d.get("version", 1)),
            extensions=tuple(
                Extension(e["version"], at(e["previous_due_at"], "previous_due_at"),
                          at(e["new_due_at"], "new_due_at"), e["reason"])
                for e in d.get("extensions", ())
            ),
        )


def compute_deadline(policy: DeadlinePolicy, calendar: WorkCalendar, step: Any,
                     appeal_type: Any, urgency: Any, start: datetime) -> Deadline:
    """The deadline of ``step`` for an appeal of ``appeal_type``/``urgency`` from ``start``."""
    start = to_local(start, "start")
    base, urgent = policy.limits_for(step, appeal_type, urgency)
    limit, due = base, base.add(start, calendar)
    if urgent is not None:
        urgent_due = urgent.add(start, calendar)
        if urgent_due.at < due.at:
            limit, due = urgent, urgent_due
    return _assemble(calendar, _key(step), start, limit, due, policy.warn_fraction,
                     policy.supervise_after, policy.working_hours, version=1, extensions=())


def recompute(deadline: Deadline, policy: DeadlinePolicy, calendar: WorkCalendar,
              appeal_type: Any, urgency: Any) -> Deadline:
    """The next version of ``deadline``: the region's limits for ``appeal_type``/``urgency`` counted
    from the same start (an urgency raised while the step runs). The extension history is kept."""
    fresh = compute_deadline(policy, calendar, deadline.step, appeal_type, urgency, deadline.start)
    return dataclasses.replace(fresh, version=deadline.version + 1, extensions=deadline.extensions)


def extend(deadline: Deadline, new_due_at: datetime, reason: str,
           calendar: WorkCalendar) -> Deadline:
    """A new version of ``deadline`` due at ``new_due_at`` (延期); the old one is unchanged.

    The warning moves to the same fraction of the working-hours time of the whole extended
    window (start → new due); supervision follows the new due instant.
    """
    new_due = to_local(new_due_at, "new_due_at")
    if not isinstance(reason, str) or not reason.strip():
        raise ExtensionError("an extension needs a reason", field="reason")
    if new_due <= deadline.due_at:
        raise ExtensionError("an extension must move the deadline later", field="new_due_at")
    start, limit = deadline.start, deadline.limit
    if limit.uses_calendar:
        _, due_provisional = calendar.working_time_between(start, new_due)
    else:
        due_provisional = False
    version = deadline.version + 1
    record = Extension(version, deadline.due_at, new_due, reason.strip())
    return _assemble(calendar, deadline.step, start, limit, WorkTime(new_due, due_provisional),
                     deadline.warn_fraction, deadline.supervise_after, deadline.working_hours,
                     version=version, extensions=deadline.extensions + (record,))


def extend_by(deadline: Deadline, limit: Any, reason: str, calendar: WorkCalendar) -> Deadline:
    """Extend by a time limit counted from the current due instant (e.g. "2 working_days")."""
    new_due = TimeLimit.parse(limit).add(deadline.due_at, calendar).at
    return extend(deadline, new_due, reason, calendar)


def warning_point(calendar: WorkCalendar, hours: WorkingHours, start: datetime, due: datetime,
                  fraction: float) -> WorkTime:
    """``fraction`` of the working-hours time from ``start`` to ``due``, always inside working
    hours; ``due`` itself when there is no working-hours time before it."""
    window, provisional = calendar.office_time_between(start, due, hours)
    if window <= timedelta(0):
        return WorkTime(to_local(due, "due"), provisional)
    warn = calendar.add_office_time(start, window * fraction, hours)
    return WorkTime(warn.at, provisional or warn.provisional)


def _assemble(calendar: WorkCalendar, step: str, start: datetime, limit: TimeLimit,
              due: WorkTime, warn_fraction: float, supervise_after: TimeLimit,
              hours: WorkingHours, *, version: int, extensions: tuple[Extension, ...]) -> Deadline:
    warn = warning_point(calendar, hours, start, due.at, warn_fraction)
    after_due = supervise_after.add(due.at, calendar)
    supervise = calendar.next_office_moment(after_due.at, hours)
    provisional = due.provisional or warn.provisional or after_due.provisional \
        or supervise.provisional
    missing = tuple(sorted(calendar.unknown_years_between(start, supervise.at))) \
        if provisional else ()
    return Deadline(step=step, start=start, due_at=due.at, warn_at=warn.at,
                    supervise_at=supervise.at, provisional=provisional, limit=limit,
                    warn_fraction=warn_fraction, supervise_after=supervise_after,
                    missing_years=missing, version=version, extensions=extensions,
                    working_hours=hours)


def minute_bucket(dt: datetime, *, round_up: bool = False) -> str:
    """The UTC minute of ``dt`` as ``YYYY-MM-DDTHH:MM`` (the sweep's deadline-bucket key).

    Index deadlines with ``round_up=True`` and let the sweep read every bucket up to
    ``minute_bucket(now)``: everything in those buckets is then already due, never early.
    """
    utc = ensure_aware(dt, "dt").astimezone(timezone.utc)
    floor = utc.replace(second=0, microsecond=0)
    if round_up and floor != utc:
        floor += timedelta(minutes=1)
    return floor.strftime("%Y-%m-%dT%H:%M")


def minute_buckets(start: datetime, end: datetime) -> list[str]:
    """Bucket keys for minutes in (minute_bucket(start), minute_bucket(end)], oldest first.

    What a sweep that last read up to ``start`` must read now; the caller bounds the span.
    """
    a = ensure_aware(start, "start").astimezone(timezone.utc).replace(second=0, microsecond=0)
    b = ensure_aware(end, "end").astimezone(timezone.utc).replace(second=0, microsecond=0)
    out = []
    while a < b:
        a += timedelta(minutes=1)
        out.append(a.strftime("%Y-%m-%dT%H:%M"))
    return out


__all__ = [
    "SHANGHAI", "PolicyError", "UnknownStepError", "ExtensionError", "LimitKind", "Step",
    "TimeLimit", "StepLimits", "DeadlinePolicy", "DEFAULT_POLICY", "DeadlineState",
    "Extension", "Deadline", "WorkingHours", "compute_deadline", "recompute", "extend", "extend_by",
    "warning_point", "minute_bucket", "minute_buckets",
]
