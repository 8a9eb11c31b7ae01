"""Return visits (回访, F-EV-3): the region's visit policy, the visit tasks and what a visit does to an appeal.

A handling round that was answered (``Replied``) leaves a candidate in the hour bucket of its
reply; the planner (services/visits.py) turns the candidates the region's policy selects into
visit tasks in the visitors' queue, due ``after_hours`` after the reply. A visitor (回访员)
records each call: reached or not, and when reached whether the matter was resolved (解决 /
部分解决 / 未解决) and the citizen satisfied (满意 / 基本满意 / 不满意). ``ReturnVisits`` is a
mixin of ``domain.appeal.Appeal`` (as ``HandlingSteps`` is): what a recorded visit changes on
the appeal, through ``Appeal.move_to`` and the one transition table. Pure: times are passed in.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from chalicelib.domain import events as ev
from chalicelib.domain.errors import ConflictError, ValidationError
from chalicelib.domain.lifecycle import Status

SELECT_MODES = ("all", "sample", "unsatisfied")
RESOLVED = ("解决", "部分解决", "未解决")
SATISFIED = ("满意", "基本满意", "不满意")
NOT_RESOLVED, NOT_SATISFIED = "未解决", "不满意"

OPEN, DONE, UNREACHED = "open", "done", "unreached"    # a visit task's states
# The case file names the command centre's return-visit desk on the citizen-visible events,
# never the person who called: the caller and the note go into an internal event of their own.
VISIT_ACTOR = "centre:return_visit"
CLOCK_SKEW = timedelta(minutes=1)   # a called_at this little ahead of the platform's clock is "now"
MAX_NOTE = 2000


# --- the region's policy (policy.json "return_visit") -------------------------------------------

class VisitPolicyError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


_POLICY_KEYS = ("select", "sample_rate", "after_hours", "max_attempts", "retry_after_hours", "note")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def policy_problems(doc: Any) -> list[tuple[str, str]]:
    """Every problem of a "return_visit" section, as (field, message): the pack check names them
    all at once; ``VisitPolicy.from_dict`` refuses the first."""
    if not isinstance(doc, Mapping):
        return [("", "must be an object")]
    allowed = ", ".join(sorted(_POLICY_KEYS))
    out = [(k, f"unknown key (allowed: {allowed})") for k in sorted(set(doc) - set(_POLICY_KEYS))]
    select = doc.get("select", "all")
    if select not in SELECT_MODES:
        out.append(("select", f"{select!r} is not one of {', '.join(SELECT_MODES)}"))
    rate = doc.get("sample_rate")
    if select == "sample" and rate is None:
        out.append(("sample_rate", "required when select is sample"))
    elif rate is not None and select != "sample":
        out.append(("sample_rate", "only with select sample"))
    elif rate is not None and not (_number(rate) and 0 <= rate <= 1):
        out.append(("sample_rate", f"{rate!r} must be a number between 0 and 1"))
    for key, low, high in (("after_hours", 0, 24 * 30), ("retry_after_hours", 0.25, 24 * 7)):
        v = doc.get(key)
        if v is not None and not (_number(v) and low <= v <= high):
            out.append((key, f"{v!r} must be a number of hours from {low} to {high}"))
    attempts = doc.get("max_attempts")
    if attempts is not None and not (isinstance(attempts, int) and not isinstance(attempts, bool)
                                     and 1 <= attempts <= 10):
        out.append(("max_attempts", f"{attempts!r} must be a whole number from 1 to 10"))
    if "note" in doc and not isinstance(doc["note"], str):
        out.append(("note", "must be text"))
    return out


@dataclass(frozen=True)
class VisitPolicy:
    """Which answered handling rounds get a return visit, when, and how often an unreached one is
    tried again. ``select``: all (every round), sample (a deterministic ``sample_rate`` of the
    rounds plus every round the citizen rated unsatisfied) or unsatisfied (only those)."""

    select: str = "all"
    sample_rate: float | None = None
    after_hours: float = 24
    max_attempts: int = 3
    retry_after_hours: float = 4

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any] | None) -> "VisitPolicy":
        problems = policy_problems(doc or {})
        if problems:
            raise VisitPolicyError(*problems[0])
        return cls(**{k: v for k, v in (doc or {}).items() if k in _POLICY_KEYS and k != "note"})

    @property
    def after(self) -> timedelta:
        return timedelta(hours=self.after_hours)

    @property
    def retry_after(self) -> timedelta:
        return timedelta(hours=self.retry_after_hours)

    def selects(self, appeal_id: str, round_: int, rated_unsatisfied: bool) -> bool:
        if self.select == "all" or rated_unsatisfied:
            return True
        return self.select == "sample" and sampled(appeal_id, round_, float(self.sample_rate or 0))


def sampled(appeal_id: str, round_: int, rate: float) -> bool:
    """Whether the round is in a ``rate`` sample: a hash of the appeal id and the round, so a
    rerun (or another process) picks the same rounds."""
    digest = hashlib.sha256(f"{appeal_id}#{int(round_)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < rate


def rated_unsatisfied(evaluation, round_: int) -> bool:
    """Whether the citizen rated handling round ``round_`` unsatisfied: its rating says so, or a
    later round exists (only an unsatisfied conclusion opens one; the rating kept is the newest)."""
    rating = evaluation.rating
    return round_ < evaluation.redo_count or (rating is not None and rating.round == round_ and rating.unsatisfied)


# --- hour buckets of the candidates --------------------------------------------------------------

def hour_bucket(dt: datetime) -> str:
    """The UTC hour of ``dt`` as ``YYYY-MM-DDTHH`` (a candidate's bucket: its reply's hour)."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H")


def bucket_start(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)


def hour_buckets(after: str, until: str) -> list[str]:
    """The buckets after ``after`` up to ``until`` (both bucket keys, ``until`` included), oldest first."""
    t, end, out = bucket_start(after), bucket_start(until), []
    while t < end:
        t += timedelta(hours=1)
        out.append(hour_bucket(t))
    return out


# --- candidates and tasks ------------------------------------------------------------------------

@dataclass(frozen=True)
class VisitCandidate:
    """An answered handling round (``round``: the appeal's redo count when it was answered), in
    the hour bucket of its reply."""

    region: str
    appeal_id: str
    round: int
    replied_at: datetime

    @property
    def bucket(self) -> str:
        return hour_bucket(self.replied_at)


@dataclass(frozen=True)
class VisitTask:
    """One round's return visit in the visitors' queue while ``state`` is open (done: reached;
    unreached: given up after the region's ``max_attempts``)."""

    region: str
    appeal_id: str
    round: int
    replied_at: datetime
    due_at: datetime
    created_at: datetime
    attempts: int = 0
    state: str = OPEN
    last_called_at: datetime | None = None

    @classmethod
    def plan(cls, candidate: VisitCandidate, policy: VisitPolicy, now: datetime) -> "VisitTask":
        return cls(candidate.region, candidate.appeal_id, candidate.round, candidate.replied_at,
                   candidate.replied_at + policy.after, now)

    @property
    def is_open(self) -> bool:
        return self.state == OPEN

    def after_call(self, outcome: "VisitOutcome", policy: VisitPolicy, at: datetime) -> "VisitTask":
        """The task after one more call: done when reached; when not, due again ``retry_after_hours``
        after the call was recorded, or closed as unreached at the region's ``max_attempts``."""
        attempts = self.attempts + 1
        if outcome.reached:
            state, due = DONE, self.due_at
        elif attempts >= policy.max_attempts:
            state, due = UNREACHED, self.due_at
        else:
            state, due = OPEN, at + policy.retry_after
        return dataclasses.replace(self, attempts=attempts, state=state, due_at=due, last_called_at=outcome.called_at)


# --- one call --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VisitOutcome:
    """What the visitor recorded of one call."""

    reached: bool
    resolved: str | None
    satisfied: str | None
    note: str
    called_at: datetime

    @property
    def unsatisfied(self) -> bool:
        """Reached, and the matter not resolved or the citizen not satisfied: the work goes back."""
        return self.reached and (self.resolved == NOT_RESOLVED or self.satisfied == NOT_SATISFIED)

    def check_against(self, task: VisitTask) -> None:
        """A call is not from before the round's reply, nor before the task's previous call."""
        if self.called_at < task.replied_at:
            raise ValidationError("called_at is before the reply this visit is about", field="called_at")
        if task.last_called_at is not None and self.called_at < task.last_called_at:
            raise ValidationError("called_at is before the previous call of this visit", field="called_at")


def parse_instant(value: Any, name: str) -> datetime:
    """An ISO 8601 instant with its timezone (``Z`` or an offset)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} must be an ISO 8601 time with a timezone", field=name)
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(f"{name} must be an ISO 8601 time with a timezone", field=name) from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValidationError(f"{name} needs a timezone (Z or an offset such as +08:00)", field=name)
    return dt


def visit_outcome(reached: Any, resolved: Any, satisfied: Any, note: Any, called_at: Any,
                  now: datetime) -> VisitOutcome:
    """A call's fields, checked: resolved and satisfied are required when reached (and only then),
    called_at (default now) is an instant with a timezone, not in the future."""
    if not isinstance(reached, bool):
        raise ValidationError("reached must be true or false", field="reached")
    if reached:
        if resolved not in RESOLVED:
            raise ValidationError(f"resolved is one of {', '.join(RESOLVED)} when the citizen was reached",
                                  field="resolved")
        if satisfied not in SATISFIED:
            raise ValidationError(f"satisfied is one of {', '.join(SATISFIED)} when the citizen was reached",
                                  field="satisfied")
    else:
        for name, value in (("resolved", resolved), ("satisfied", satisfied)):
            if value is not None:
                raise ValidationError(f"{name} is given only when the citizen was reached", field=name)
    if note is not None and not isinstance(note, str):
        raise ValidationError("note must be text", field="note")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError(f"note is longer than {MAX_NOTE} characters", field="note")
    at = now if called_at is None else parse_instant(called_at, "called_at")
    if at > now + CLOCK_SKEW:
        raise ValidationError("called_at is in the future", field="called_at")
    return VisitOutcome(reached, resolved if reached else None, satisfied if reached else None, note, at)


class ReturnVisits:
    """回访: the Appeal root records a visitor's call (a mixin of ``domain.appeal.Appeal``)."""

    def record_return_visit(self, task: VisitTask, outcome: VisitOutcome, policy: VisitPolicy, at: datetime,
                            actor: str) -> VisitTask:
        """Record one call of ``task`` (recorded at ``at``, made at ``outcome.called_at``) and return
        the task as it is after it.

        The case file gets a public ``return_visit`` event (round, attempt, reached, resolved,
        satisfied) and, apart, an internal one with the caller and the note. A reached call about
        the current handling round changes the appeal: unsatisfied (未解决 or 不满意) concludes a
        REPLIED appeal as a bad rating does (redo, or special supervision after a redo) and
        reopens a CLOSED one; satisfied closes a REPLIED appeal the citizen has not rated. A REDO
        or SUPERVISED appeal, or a call about an earlier round, is recorded only."""
        if task.appeal_id != self.appeal_id or not task.is_open or self.evaluation.reply is None \
                or task.round > self.evaluation.redo_count:
            # (a visit follows an answer: of its round, or of an earlier one)
            raise ConflictError("this appeal has no open return visit", field="appeal_id", code="no_open_visit")
        outcome.check_against(task)
        attempt = task.attempts + 1
        self.record(outcome.called_at, "return_visit", VISIT_ACTOR,
                    {"round": task.round, "attempt": attempt, "reached": outcome.reached,
                     "resolved": outcome.resolved, "satisfied": outcome.satisfied})
        self.record(outcome.called_at, "return_visit_note", actor,
                    {"round": task.round, "attempt": attempt, "caller": actor, "note": outcome.note}, public=False)
        self._emit(ev.Visited(self.appeal_id, outcome.called_at, task.round, attempt, outcome.reached,
                              outcome.resolved, outcome.satisfied, outcome.unsatisfied))
        if outcome.reached and task.round == self.evaluation.redo_count:
            reason = f"return visit of round {task.round}: {outcome.resolved}, {outcome.satisfied}"
            rated = self.evaluation.rating is not None and self.evaluation.rating.round == task.round
            if self.status == Status.REPLIED and (outcome.unsatisfied or not rated):
                self.conclude(outcome.unsatisfied, at, VISIT_ACTOR, reason)
            elif self.status == Status.CLOSED and outcome.unsatisfied:
                self.reopen_after_visit(at, reason)
        return task.after_call(outcome, policy, at)

    def reopen_after_visit(self, at: datetime, reason: str) -> Status:
        """A closed appeal whose return visit found it unresolved or the citizen unsatisfied goes
        back to the unit: to redo (重办), or to special supervision (专项督办) when it was redone before."""
        self._require_status({Status.CLOSED}, "reopen it")
        if self.evaluation.redo_count == 0:
            self.evaluation.redo_count += 1
            self.move_to(Status.REDO, at, VISIT_ACTOR, "reopened_after_visit", {"reason": reason, "to": "redo"},
                         fact=ev.Redone(self.appeal_id, at, self.evaluation.redo_count))
        else:
            self.move_to(Status.SUPERVISED, at, VISIT_ACTOR, "reopened_after_visit",
                         {"reason": reason, "to": "supervised"}, fact=ev.Supervised(self.appeal_id, at))
        return self.status
