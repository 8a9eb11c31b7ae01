"""The handling clock (限时办理, F-HD-2) of one appeal: each step's deadline as a value object.

Part of the Appeal aggregate (``Appeal.handling_clock``), changed only through the appeal. A step
(sign, contact, reply, ...) has one current ``StepClock``: the ``Deadline`` version running,
when the step was done (its clock stopped), which alerts the sweep raised for that version and
the unit's pending extension request. A new dispatch or an approved extension replaces the
step's StepClock whole, so marks and requests never leak into a newer version.

Stored (and shown to staff) as today's JSON: ``deadlines`` = {step: Deadline.to_dict() plus
"done_at", "alerted", "pending_extension" when set} and ``alerts`` = ["step:alert", ...].
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from chalicelib.domain.calendar import WorkCalendar
from chalicelib.domain.deadlines import Deadline, DeadlinePolicy, extend, recompute
from chalicelib.domain.errors import ConflictError, ValidationError

# Where each alert falls on a deadline.
ALERT_INSTANTS = {"warning": "warn_at", "overdue": "due_at", "supervise": "supervise_at"}
# Alerts that stay on a unit's record when the step was taken after the instant but before the
# sweep reached it; a warning for a step already taken warns nobody.
RECORD_WHEN_LATE = ("overdue", "supervise")
# The case-file kind of each alert.
ALERT_KINDS = {"warning": "deadline_warning", "overdue": "red_alert", "supervise": "supervision_notice"}


@dataclass(frozen=True)
class ExtensionRequest:
    """延期申请: the lead unit asks that ``version`` of a step's deadline fall due at ``new_due_at``."""

    unit_id: str | None
    reason: str
    new_due_at: datetime
    requested_at: datetime
    actor: str
    version: int

    def to_dict(self) -> dict[str, Any]:
        return {"unit_id": self.unit_id, "reason": self.reason, "new_due_at": self.new_due_at.isoformat(),
                "requested_at": self.requested_at.isoformat(), "actor": self.actor, "version": self.version}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ExtensionRequest":
        return cls(d["unit_id"], d["reason"], datetime.fromisoformat(d["new_due_at"]),
                   datetime.fromisoformat(d["requested_at"]), d["actor"], int(d["version"]))


@dataclass(frozen=True)
class StepClock:
    """One step's current deadline version and what happened to it."""

    deadline: Deadline
    done_at: datetime | None = None
    alerted: tuple[str, ...] = ()
    pending_extension: ExtensionRequest | None = None
    # Stored before deadlines carried working hours (they ran on the default): written back the
    # same way, so an old item's body does not grow.
    hours_implicit: bool = field(default=False, compare=False, repr=False)

    @property
    def version(self) -> int:
        return self.deadline.version

    @property
    def running(self) -> bool:
        return self.done_at is None

    def to_dict(self, with_pending: bool = True) -> dict[str, Any]:
        """The stored form; without the pending request it is the version the case file keeps."""
        d = self.deadline.to_dict()
        if self.hours_implicit:
            d.pop("working_hours")
        if self.pending_extension is not None and with_pending:
            d["pending_extension"] = self.pending_extension.to_dict()
        if self.alerted:
            d["alerted"] = list(self.alerted)
        if self.done_at is not None:
            d["done_at"] = self.done_at.isoformat()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StepClock":
        pending = d.get("pending_extension")
        return cls(Deadline.from_dict(d), datetime.fromisoformat(d["done_at"]) if d.get("done_at") else None,
                   tuple(d.get("alerted") or ()), ExtensionRequest.from_dict(pending) if pending else None,
                   hours_implicit="working_hours" not in d)


@dataclass(frozen=True)
class Countdown:
    """A running step's deadline as a person at work reads it (the inbox's countdown)."""

    step: str
    due_at: datetime
    minutes_left: int           # working time; negative once overdue
    state: str                  # ok, warning, overdue or supervise (the alert instant passed)
    extension_pending: bool


@dataclass
class HandlingClock:
    """The appeal's step clocks, and every alert raised on it ("step:alert", e.g. "reply:warning")."""

    steps: dict[str, StepClock] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)

    def get(self, step: str) -> StepClock | None:
        return self.steps.get(step)

    def deadline(self, step: str) -> Deadline | None:
        clock = self.steps.get(step)
        return clock.deadline if clock else None

    def running_steps(self) -> list[str]:
        return [step for step, clock in self.steps.items() if clock.running]

    def countdowns(self, calendar: WorkCalendar, now: datetime) -> list["Countdown"]:
        """Each running step's time left, in working time (negative once overdue), and where it
        stands against its warning, due and supervision instants; soonest first."""
        out = []
        for step in self.running_steps():
            clock = self.steps[step]
            d = clock.deadline
            left, _ = calendar.working_time_between(now, d.due_at)
            state = next((name for name, at in (("supervise", d.supervise_at), ("overdue", d.due_at),
                                                ("warning", d.warn_at)) if now >= at), "ok")
            out.append(Countdown(step, d.due_at, int(left.total_seconds() // 60), state,
                                 clock.pending_extension is not None))
        return sorted(out, key=lambda c: c.due_at)

    def start(self, fresh: Deadline) -> Deadline:
        """Run ``fresh`` for its step from now on (a new dispatch restarts the clock): the next
        version after the step's current one, if any."""
        previous = self.steps.get(fresh.step)
        if previous is not None:
            fresh = dataclasses.replace(fresh, version=previous.version + 1)
        self.steps[fresh.step] = StepClock(fresh)
        return fresh

    def stop(self, step: str, at: datetime) -> None:
        """The step is done: its clock stops (a step done already keeps its first time)."""
        clock = self.steps.get(step)
        if clock is not None and clock.running:
            self.steps[step] = dataclasses.replace(clock, done_at=at)

    def _replace(self, step: str, new: Deadline, keep_pending: bool) -> dict[str, Any]:
        """Replace the step's version by ``new``; the old version's alerts no longer describe the
        step (the new one raises its own). Returns the old version as the case file keeps it."""
        current = self.steps[step]
        before = current.to_dict(with_pending=False)
        self.steps[step] = StepClock(new, pending_extension=current.pending_extension if keep_pending else None)
        self.alerts = [a for a in self.alerts if not a.startswith(f"{step}:")]
        return before

    def tighten(self, policy: DeadlinePolicy | None, calendar: WorkCalendar | None, appeal_type: str,
                urgency: str) -> list[tuple[Deadline, dict[str, Any]]]:
        """Recompute every running step for a raised urgency from its start; a step that falls due
        earlier takes the new version (its pending request stays). Returns (new, old as kept)."""
        running = self.running_steps()
        if running and (policy is None or calendar is None):
            raise ValueError("running deadlines need the region's deadline policy and calendar")
        changed = []
        for step in running:
            old = self.steps[step].deadline
            fresh = recompute(old, policy, calendar, appeal_type, urgency)
            if fresh.due_at >= old.due_at:
                continue   # a raised urgency never gives a step more time
            changed.append((fresh, self._replace(step, fresh, keep_pending=True)))
        return changed

    def request_extension(self, step: str, unit_id: str | None, reason: str, new_due_at: datetime,
                          at: datetime, actor: str) -> ExtensionRequest:
        """One pending request at most, for a running step, asking for a later due time."""
        clock = self.steps.get(step)
        if clock is None:
            raise ConflictError(f"no {step} deadline is running", field="step", code="no_deadline")
        if not clock.running:
            raise ConflictError(f"the {step} step is already done", field="step", code="step_done")
        if clock.pending_extension is not None:
            raise ConflictError("an extension request is already pending", field="new_due_at",
                                code="extension_pending")
        if not isinstance(new_due_at, datetime) or new_due_at.tzinfo is None:
            raise ValidationError("new_due_at is required, with a timezone offset", field="new_due_at")
        if new_due_at <= clock.deadline.due_at:
            raise ValidationError("the requested due time must be later than the current one",
                                  field="new_due_at")
        request = ExtensionRequest(unit_id, reason, new_due_at, at, actor, clock.version)
        self.steps[step] = dataclasses.replace(clock, pending_extension=request)
        return request

    def pending_extension(self, step: str) -> ExtensionRequest | None:
        clock = self.steps.get(step)
        return clock.pending_extension if clock else None

    def require_pending(self, step: str) -> ExtensionRequest:
        request = self.pending_extension(step)
        if request is None:
            raise ConflictError("no extension request is pending", field="step", code="no_pending_extension")
        return request

    def refuse_extension(self, step: str) -> ExtensionRequest:
        request = self.require_pending(step)
        self.steps[step] = dataclasses.replace(self.steps[step], pending_extension=None)
        return request

    def approve_extension(self, step: str, calendar: WorkCalendar
                          ) -> tuple[ExtensionRequest, Deadline, dict[str, Any]]:
        """The pending request becomes the step's next version (domain.deadlines.extend).
        Returns the request, the new version and the previous one as the case file keeps it."""
        request = self.require_pending(step)
        new = extend(self.steps[step].deadline, request.new_due_at, request.reason, calendar)
        return request, new, self._replace(step, new, keep_pending=False)

    def raise_alert(self, step: str, version: int, alert: str) -> None:
        """Mark ``alert`` raised for ``version`` of the step (once)."""
        clock = self.steps.get(step)
        if clock is None or clock.version != int(version):
            raise ConflictError(f"{step} deadline version {version} is not current", field="version",
                                code="stale_deadline")
        if alert not in clock.alerted:
            self.steps[step] = dataclasses.replace(clock, alerted=clock.alerted + (alert,))
        tag = f"{step}:{alert}"
        if tag not in self.alerts:
            self.alerts.append(tag)

    def alert_verdict(self, step: str, version: int, alert: str, handling: bool) -> str:
        """What the sweep should do with an alert instant of one deadline version: "raise", or
        why not: "stale" (a later version replaced it), "done" (the step was taken in time, or a
        warning for a step taken), "inactive" (nobody handles it now: ``handling`` is false),
        "already" (raised before)."""
        clock = self.steps.get(step)
        if clock is None or clock.version != int(version):
            return "stale"
        if clock.done_at is not None:
            # Taken after the instant (in the minute before this sweep): the lateness happened,
            # and the unit's record must show it.
            late = clock.done_at > getattr(clock.deadline, ALERT_INSTANTS[alert])
            if not late or alert not in RECORD_WHEN_LATE:
                return "done"
        elif not handling:
            return "inactive"
        if alert in clock.alerted:
            return "already"
        return "raise"

    # --- the stored form: the `deadlines` and `alerts` attributes of the appeal's body ----------

    def to_fields(self) -> dict[str, Any]:
        return {"deadlines": {step: clock.to_dict() for step, clock in self.steps.items()},
                "alerts": list(self.alerts)}

    @classmethod
    def from_fields(cls, body: Mapping[str, Any]) -> "HandlingClock":
        return cls({step: StepClock.from_dict(d) for step, d in (body.get("deadlines") or {}).items()},
                   list(body.get("alerts") or ()))
