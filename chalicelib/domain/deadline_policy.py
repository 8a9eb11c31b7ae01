"""A region's deadline policy (办理时限): time limits per handling step, type and urgency; pure.

Defaults follow the seeds: sign for (签收) in 15 minutes, contact the citizen (联系) in 30
minutes; reply (办结答复) to a consultation (咨询) in 1 working day and a complaint (投诉) in
3 working days (Zichuan); urgent (急件) in 3 days and immediate (即办件) in 15 hours (Wuwei).
Minutes, hours and days are elapsed time (the hotline runs 7x24); working days/hours run on
the working-time clock of chalicelib.domain.calendar.

An urgency limit only ever tightens: the earlier of the type limit and the urgency limit
wins, the type limit on a tie (an urgent consultation on a Monday still gets 1 working day,
not 3 calendar days). The deadlines these limits give are in chalicelib.domain.deadlines.
"""
from __future__ import annotations

import copy
import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from chalicelib.domain.calendar import CalendarError, WorkCalendar, WorkingHours, WorkTime, to_local
from chalicelib.domain.errors import ValidationError


class PolicyError(ValidationError):
    """A deadline policy document is malformed."""

    code = "invalid_policy"


class UnknownStepError(ValidationError):
    """No time limit is configured for the requested handling step."""

    code = "unknown_step"


class LimitKind(str, enum.Enum):
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WORKING_DAYS = "working_days"
    WORKING_HOURS = "working_hours"


_ELAPSED_UNIT = {
    LimitKind.MINUTES: timedelta(minutes=1),
    LimitKind.HOURS: timedelta(hours=1),
    LimitKind.DAYS: timedelta(days=1),
    LimitKind.WORKING_DAYS: timedelta(days=1),
    LimitKind.WORKING_HOURS: timedelta(hours=1),
}


class Step(str, enum.Enum):
    """Handling steps with a default time limit; regions may configure further steps."""

    SIGN = "sign"          # 签收
    CONTACT = "contact"    # 联系诉求人
    REPLY = "reply"        # 办结答复
    REDO = "redo"          # 重办 after an unsatisfied rating


@dataclass(frozen=True)
class TimeLimit:
    """An amount of time of one kind, e.g. ``TimeLimit("working_days", 3)``."""

    kind: LimitKind
    amount: float

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", LimitKind(self.kind))
        except ValueError:
            kinds = ", ".join(k.value for k in LimitKind)
            raise PolicyError(f"time limit kind must be one of {kinds}, got {self.kind!r}",
                              field="kind") from None
        amount = self.amount
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not amount > 0:
            raise PolicyError(f"time limit amount must be a positive number, got {amount!r}",
                              field="amount")

    @classmethod
    def parse(cls, value: Any) -> "TimeLimit":
        """From a TimeLimit, ``{"kind": ..., "amount": ...}`` or a string ``"3 working_days"``."""
        if isinstance(value, TimeLimit):
            return value
        if isinstance(value, Mapping):
            if set(value) != {"kind", "amount"}:
                raise PolicyError("a time limit needs exactly 'kind' and 'amount'", field="limit")
            return cls(value["kind"], value["amount"])
        if isinstance(value, str):
            parts = value.split()
            if len(parts) == 2:
                try:
                    amount = float(parts[0])
                except ValueError:
                    amount = None
                if amount is not None:
                    return cls(parts[1], int(amount) if amount.is_integer() else amount)
        raise PolicyError(f"cannot read a time limit from {value!r}", field="limit")

    @property
    def uses_calendar(self) -> bool:
        return self.kind in (LimitKind.WORKING_DAYS, LimitKind.WORKING_HOURS)

    @property
    def duration(self) -> timedelta:
        """Elapsed time for calendar-free kinds; working time for working kinds."""
        return _ELAPSED_UNIT[self.kind] * self.amount

    def add(self, start: datetime, calendar: WorkCalendar, fraction: float = 1.0) -> WorkTime:
        """``start`` plus ``fraction`` of this limit, on the clock this kind runs on."""
        span = self.duration * fraction
        if self.uses_calendar:
            return calendar.add_working_time(start, span)
        return WorkTime(to_local(start, "start") + span, False)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "amount": self.amount}

    def __str__(self) -> str:
        return f"{self.amount:g} {self.kind.value}"


@dataclass(frozen=True)
class StepLimits:
    """The limits of one step: a default, per appeal type, and per urgency."""

    default: TimeLimit
    by_type: Mapping[str, TimeLimit] = field(default_factory=dict)
    by_urgency: Mapping[str, TimeLimit] = field(default_factory=dict)


DEFAULT_POLICY: dict[str, Any] = {
    "warn_fraction": 0.75,
    "working_hours": {"start": "09:00", "end": "18:00"},
    "supervise_after": {"kind": "working_days", "amount": 1},
    "steps": {
        "sign": {"default": {"kind": "minutes", "amount": 15}},
        "contact": {"default": {"kind": "minutes", "amount": 30}},
        "reply": {
            "default": {"kind": "working_days", "amount": 5},
            "by_type": {
                "咨询": {"kind": "working_days", "amount": 1},
                "投诉": {"kind": "working_days", "amount": 3},
                "求助": {"kind": "working_days", "amount": 3},
                "举报": {"kind": "working_days", "amount": 5},
                "建议": {"kind": "working_days", "amount": 5},
            },
            "by_urgency": {
                "急件": {"kind": "days", "amount": 3},
                "即办件": {"kind": "hours", "amount": 15},
            },
        },
        "redo": {
            "default": {"kind": "working_days", "amount": 3},
            "by_urgency": {
                "急件": {"kind": "days", "amount": 3},
                "即办件": {"kind": "hours", "amount": 15},
            },
        },
    },
}

_POLICY_KEYS = {"warn_fraction", "supervise_after", "working_hours", "steps", "note"}
_STEP_KEYS = {"default", "by_type", "by_urgency"}


def _key(value: Any) -> str:
    # AppealType / Urgency are str enums; their value is the Chinese term used as the key.
    return str(getattr(value, "value", value))


@dataclass(frozen=True)
class DeadlinePolicy:
    """Time limits per step, warning fraction, supervision delay and working hours (one per region)."""

    steps: Mapping[str, StepLimits]
    warn_fraction: float = 0.75
    supervise_after: TimeLimit = TimeLimit(LimitKind.WORKING_DAYS, 1)
    working_hours: WorkingHours = WorkingHours()

    def __post_init__(self) -> None:
        f = self.warn_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
            raise PolicyError("warn_fraction must be between 0 and 1", field="warn_fraction")

    @classmethod
    def default(cls) -> "DeadlinePolicy":
        return cls.from_dict({})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any],
                  defaults: Mapping[str, Any] | None = DEFAULT_POLICY) -> "DeadlinePolicy":
        """Read a region's JSON policy, filled in from ``defaults`` key by key.

        A region lists only what differs, e.g. ``{"steps": {"reply": {"by_type":
        {"投诉": "5 working_days"}}}}`` keeps every other default. Pass ``defaults=None`` for
        a policy that is exactly the document.
        """
        if not isinstance(data, Mapping):
            raise PolicyError("a deadline policy must be a JSON object")
        merged = _merge(copy.deepcopy(dict(defaults or {})), data)
        unknown = set(merged) - _POLICY_KEYS
        if unknown:
            raise PolicyError(f"unknown policy key {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
        steps_doc = merged.get("steps") or {}
        if not isinstance(steps_doc, Mapping):
            raise PolicyError("steps must be an object", field="steps")
        steps = {}
        for name, doc in steps_doc.items():
            if not isinstance(doc, Mapping) or "default" not in doc:
                raise PolicyError(f"step {name!r} needs a default limit", field=f"steps.{name}")
            extra = set(doc) - _STEP_KEYS
            if extra:
                raise PolicyError(f"unknown key {sorted(extra)[0]!r} in step {name!r}",
                                  field=f"steps.{name}")
            steps[name] = StepLimits(
                default=TimeLimit.parse(doc["default"]),
                by_type={k: TimeLimit.parse(v) for k, v in (doc.get("by_type") or {}).items()},
                by_urgency={k: TimeLimit.parse(v)
                            for k, v in (doc.get("by_urgency") or {}).items()},
            )
        kwargs: dict[str, Any] = {"steps": steps}
        if "warn_fraction" in merged:
            kwargs["warn_fraction"] = merged["warn_fraction"]
        if "supervise_after" in merged:
            kwargs["supervise_after"] = TimeLimit.parse(merged["supervise_after"])
        if "working_hours" in merged:
            try:
                kwargs["working_hours"] = WorkingHours.parse(merged["working_hours"])
            except CalendarError as exc:
                raise PolicyError(f"working_hours: {exc}", field="working_hours") from None
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "warn_fraction": self.warn_fraction,
            "supervise_after": self.supervise_after.to_dict(),
            "working_hours": self.working_hours.to_dict(),
            "steps": {
                name: {
                    "default": s.default.to_dict(),
                    "by_type": {k: v.to_dict() for k, v in s.by_type.items()},
                    "by_urgency": {k: v.to_dict() for k, v in s.by_urgency.items()},
                } for name, s in self.steps.items()
            },
        }

    def limits_for(self, step: Any, appeal_type: Any = None,
                   urgency: Any = None) -> tuple[TimeLimit, TimeLimit | None]:
        """(type-or-default limit, urgency limit or None) for one step."""
        try:
            limits = self.steps[_key(step)]
        except KeyError:
            raise UnknownStepError(f"no time limit configured for step {_key(step)!r}",
                                   field="step") from None
        base = limits.by_type.get(_key(appeal_type), limits.default)
        return base, limits.by_urgency.get(_key(urgency)) if urgency is not None else None


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict) \
                and not {"kind", "amount"} & set(value):
            base[key] = _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base
