"""The assessment metrics (三率 and the rest, F-AN-1), defined once. Pure.

Every figure is a ratio of counters, and every counter is what appeals contribute to it. An
appeal's contribution is a function of its case file (folded into `Facts`) and of what the
appeal is (`Profile`: channel, type, category, place, unit), so:

- the analytics stage keeps, per appeal, the facts and the contribution it last added, and on
  each change adds the *difference* (a redelivered or an older change adds nothing);
- `rebuild` folds every case file from the start and sums the contributions: the same numbers.

Counters are kept per local day ("D") and month ("M") for each dimension (`DIMENSIONS`): the
city, a unit (its lead 主办 work), a district, a street, a channel, an appeal type, a category
group (LL.MM), a hot cell (group x street), a hot word, and a district's channels and types
(`dchannel`, `dtype`: district|code). A week is its seven days.

Formulas (README "Analytics" has the same table):

    签收率     sign_rate         = signed_in_time / dispatched          (by the dispatch's day)
    响应率     response_rate     = responded_in_time / dispatched       (signed and first contact
                                                                          both within limit)
    按时办结率 on_time_rate      = on_time / due                        (an appeal is due once it is
    超期率     overdue_rate      = overdue / due                         replied, by the reply's day,
                                                                          or past its deadline, by the
                                                                          deadline's day)
    退回率     return_rate       = returned / dispatched
    重办率     redo_rate         = redone / replied                     (by the reply's day)
    解决率     resolve_rate      = resolved / rated                     (ratings and reached return
    满意率     satisfaction_rate = satisfied / rated                     visits, by their day)

`satisfied` counts 满意 + 基本满意 (the region's `satisfied_levels`); a rating's level comes
from the mean of its scores (`rating_levels`), a return visit states it. Time to sign and to
reply is working time (the region's calendar) in a histogram (`TIME_BOUNDS_H`, hours), from
which the median and p90 are read. The open backlog is a gauge: an appeal counts as open on the
day it was received until it is replied (again after a redo), and as overdue while its running
deadline's red alert stands.
"""
from __future__ import annotations

import bisect
import copy
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Iterable, Mapping

from chalicelib.domain.calendar import WorkCalendar, to_local
from chalicelib.domain.lifecycle import CaseEvent
from chalicelib.domain.timefmt import iso, parse_iso

# Histogram bounds of working time (hours): the last bucket is everything above.
TIME_BOUNDS_H = (0.25, 0.5, 1, 2, 4, 8, 24, 48, 72, 120, 240)
SIGN_BUCKETS = tuple(f"sign_h{i}" for i in range(len(TIME_BOUNDS_H) + 1))
REPLY_BUCKETS = tuple(f"reply_h{i}" for i in range(len(TIME_BOUNDS_H) + 1))

FLOW = ("received", "joined", "dispatched", "signed_in_time", "responded_in_time", "returned",
        "due", "on_time", "overdue", "replied", "redone", "rated", "satisfied", "resolved", "visited",
        "closed")
GAUGES = ("open", "open_overdue", "open_supervised")
COUNTERS = FLOW + GAUGES + SIGN_BUCKETS + REPLY_BUCKETS

DIMENSIONS = ("city", "unit", "district", "street", "channel", "type", "group", "hot", "word", "dchannel", "dtype")
GRAINS = ("D", "M")

RATES = {
    "sign_rate": ("签收率", "signed_in_time", "dispatched"),
    "response_rate": ("响应率", "responded_in_time", "dispatched"),
    "on_time_rate": ("按时办结率", "on_time", "due"),
    "overdue_rate": ("超期率", "overdue", "due"),
    "return_rate": ("退回率", "returned", "dispatched"),
    "redo_rate": ("重办率", "redone", "replied"),
    "resolve_rate": ("解决率", "resolved", "rated"),
    "satisfaction_rate": ("满意率", "satisfied", "rated"),
}
THREE_RATES = ("response_rate", "resolve_rate", "satisfaction_rate")   # 三率

SATISFACTION_LEVELS = ("满意", "基本满意", "不满意")
RESOLUTION_LEVELS = ("解决", "部分解决", "未解决")
SCORE_KEYS = ("speed", "effect", "service", "reply_quality")


@dataclass(frozen=True)
class MetricsPolicy:
    """Region policy `analytics` (its metric half): which satisfaction levels count as
    satisfied, the mean score from which a rating is 满意 / 基本满意, which visit answers count as
    resolved, and the `effect` score from which a rating counts as resolved."""

    satisfied_levels: tuple[str, ...] = ("满意", "基本满意")
    rating_levels: tuple[tuple[str, float], ...] = (("满意", 4.5), ("基本满意", 3.5))
    resolved_levels: tuple[str, ...] = ("解决",)
    resolved_effect: int = 4

    def rating_level(self, scores: Mapping[str, Any]) -> str:
        values = [int(scores[k]) for k in SCORE_KEYS if k in scores]
        mean = sum(values) / len(values) if values else 0.0
        return next((level for level, low in self.rating_levels if mean >= low), "不满意")


@dataclass(frozen=True)
class Profile:
    """What the appeal is, as of its latest change (its place and unit may change)."""

    appeal_id: str
    region: str
    channel: str
    appeal_type: str
    received_at: str
    district: str | None = None
    street: str | None = None
    category: str | None = None        # the catalog leaf once dispatched
    unit: str | None = None            # the lead unit now
    master_id: str | None = None       # a joined duplicate's master
    words: tuple[str, ...] = ()        # its hot words (catalog concepts named in its text)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Profile":
        return cls(**{**d, "words": tuple(d.get("words") or ())})

    @property
    def group(self) -> str | None:
        return self.category[:5] if self.category else None


# --- the fold: a case file into the facts the metrics need -----------------------------------

@dataclass
class Facts:
    """An appeal's handling as the metrics see it (JSON-able; `seq` is the last event folded)."""

    seq: int = 0
    dues: dict[str, str] = field(default_factory=dict)          # step -> due (ISO), the running ones
    dispatches: list[dict] = field(default_factory=list)        # unit, at, signed, sign_due, contacted, ...
    replies: list[dict] = field(default_factory=list)           # unit, at, due, redone
    evaluations: list[dict] = field(default_factory=list)       # at, level, resolved, visit
    closings: list[str] = field(default_factory=list)
    overdue: dict[str, str] = field(default_factory=dict)       # step -> when its red alert came
    supervised: bool = False
    redo_open: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "Facts":
        return cls(**{k: v for k, v in (d or {}).items()}) if d else cls()


# The case-event kinds (and their fields) the fold reads; `slim` keeps only these.
FIELDS = {"dispatched": ("unit_id",), "deadlines_set": ("sign", "contact", "reply", "redo"),
          "deadline_recomputed": ("step", "due_at"), "extension_approved": ("step", "deadline"),
          "signed": ("unit_id",), "contacted": ("unit_id",), "returned": ("unit_id",),
          "escalated": ("from_unit_id",), "replied": ("unit_id",),
          "rated": (*SCORE_KEYS, "round"), "duplicate_rated": SCORE_KEYS,
          "sent_back_for_redo": (), "special_supervision": (), "reopened_after_visit": ("to",),
          "closed": (), "red_alert": ("step",), "supervision_notice": ("step",),
          "return_visit": ("reached", "resolved", "satisfied")}


def slim(event: CaseEvent) -> dict[str, Any] | None:
    """The part of a case event the fold reads (None for a kind it ignores): what the analytics
    hand-off carries, so no answer text or note travels with it."""
    keep = FIELDS.get(event.kind)
    if keep is None:
        return None
    data = {k: event.data[k] for k in keep if k in event.data}
    if event.kind == "extension_approved":
        data["deadline"] = {"due_at": (event.data.get("deadline") or {}).get("due_at")}
    return {"seq": event.seq, "at": iso(event.at), "kind": event.kind, "data": data}


def fold(facts: Facts, events: Iterable[Mapping[str, Any]]) -> Facts:
    """`facts` with `events` (slim dicts, in seq order) applied; events at or below `facts.seq`
    are skipped."""
    f = Facts.from_dict(copy.deepcopy(facts.to_dict()))
    for e in events:
        if e["seq"] <= f.seq:
            continue
        f.seq = e["seq"]
        kind, at, d = e["kind"], e["at"], e.get("data") or {}
        current = f.dispatches[-1] if f.dispatches else None
        if kind == "dispatched":
            f.dispatches.append({"unit": d.get("unit_id"), "at": at})
            f.overdue = {}
        elif kind == "deadlines_set":
            f.dues.update({s: d[s] for s in ("sign", "contact", "reply", "redo") if s in d})
            if current is not None:
                for s in ("sign", "contact"):
                    if s in d and f"{s}_due" not in current:
                        current[f"{s}_due"] = d[s]
        elif kind in ("deadline_recomputed", "extension_approved"):
            step = d.get("step")
            due = d.get("due_at") if kind == "deadline_recomputed" else (d.get("deadline") or {}).get("due_at")
            if step and due:
                f.dues[step] = due
                f.overdue.pop(step, None)
                if current is not None and step in ("sign", "contact") and f"{step}ed" not in current:
                    current[f"{step}_due"] = due
        elif kind == "signed" and current is not None and "signed" not in current:
            current["signed"] = at
        elif kind == "contacted" and current is not None and "contacted" not in current:
            current["contacted"] = at
        elif kind in ("returned", "escalated") and current is not None:
            current["returned"] = at
        elif kind == "replied":
            step = "redo" if f.redo_open else "reply"
            f.replies.append({"unit": d.get("unit_id"), "at": at, "due": f.dues.get(step),
                              "late_alert": step in f.overdue,
                              "from": f.dispatches[-1]["at"] if f.dispatches else None})
            f.redo_open = False
        elif kind in ("rated", "duplicate_rated"):
            f.evaluations.append({"at": at, "scores": {k: int(d[k]) for k in SCORE_KEYS if k in d},
                                  "own": kind == "rated"})
        elif kind == "return_visit" and d.get("reached"):
            f.evaluations.append({"at": at, "visit": True, "resolved": d.get("resolved"),
                                  "level": d.get("satisfied")})
        elif kind in ("sent_back_for_redo", "special_supervision", "reopened_after_visit"):
            if f.replies:
                f.replies[-1]["redone"] = True
            f.redo_open = True
            f.overdue = {}
            f.supervised = f.supervised or kind == "special_supervision" or d.get("to") == "supervised"
        elif kind == "closed":
            f.closings.append(at)
        elif kind == "red_alert" and d.get("step") in ("reply", "redo"):
            f.overdue.setdefault(d["step"], at)
        elif kind == "supervision_notice":
            f.supervised = True
    return f


# --- contributions: facts into counters --------------------------------------------------------

Key = tuple[str, str, str, str]     # (grain, period, dimension, id)


def day_of(at: str) -> str:
    return to_local(parse_iso(at)).date().isoformat()


def time_bucket(hours: float) -> int:
    return bisect.bisect_left(TIME_BOUNDS_H, hours)


def contributions(profile: Profile, facts: Facts, calendar: WorkCalendar, policy: MetricsPolicy
                  ) -> dict[Key, dict[str, int]]:
    """What the appeal adds to every counter: {(grain, period, dimension, id): {counter: n}}."""
    days: dict[tuple[str, str, str], Counter] = {}

    def add(day: str, dims: Iterable[tuple[str, str | None]], **counts: int) -> None:
        for dim, ident in dims:
            if ident:
                days.setdefault((day, dim, ident), Counter()).update({k: v for k, v in counts.items() if v})

    place = [("city", "-"), ("district", profile.district), ("street", profile.street)]
    received = day_of(profile.received_at)
    group = profile.group
    district = profile.district
    add(received, [*place, ("channel", profile.channel), ("type", profile.appeal_type), ("group", group),
                   ("hot", f"{group}|{profile.street}" if group and profile.street else None),
                   ("dchannel", f"{district}|{profile.channel}" if district else None),
                   ("dtype", f"{district}|{profile.appeal_type}" if district else None),
                   *[("word", w) for w in profile.words]],
        received=1, joined=int(bool(profile.master_id)))
    for disp in facts.dispatches:
        work = [*place, ("unit", disp["unit"])]
        signed_ok = _within(disp.get("signed"), disp.get("sign_due"))
        bucket = {}
        if disp.get("signed"):
            hours = calendar.working_time_between(parse_iso(disp["at"]), parse_iso(disp["signed"]))[0]
            bucket = {SIGN_BUCKETS[time_bucket(hours / timedelta(hours=1))]: 1}
        add(day_of(disp["at"]), work, dispatched=1, signed_in_time=int(signed_ok),
            responded_in_time=int(signed_ok and _within(disp.get("contacted"), disp.get("contact_due"))),
            returned=int("returned" in disp), **bucket)
    for reply in facts.replies:
        work = [*place, ("unit", reply["unit"])]
        late = reply["late_alert"] or (reply["due"] is not None and reply["at"] > reply["due"])
        bucket = {}
        if reply.get("from"):
            hours = calendar.working_time_between(parse_iso(reply["from"]), parse_iso(reply["at"]))[0]
            bucket = {REPLY_BUCKETS[time_bucket(hours / timedelta(hours=1))]: 1}
        add(day_of(reply["at"]), work, replied=1, redone=int(bool(reply.get("redone"))), **bucket)
        add(day_of(reply["at"]), work, due=1, on_time=int(not late), overdue=int(late))
    open_now = bool(facts.dispatches) and (not facts.replies or facts.redo_open) and not profile.master_id
    unit_dims = [*place, ("unit", profile.unit)]
    if open_now:
        overdue_step = "redo" if facts.redo_open else "reply"
        overdue_at = facts.overdue.get(overdue_step)
        add(received, unit_dims, open=1, open_overdue=int(overdue_at is not None),
            open_supervised=int(facts.supervised))
        if overdue_at is not None:   # past due and still not replied: due (and overdue) on its day
            add(day_of(facts.dues.get(overdue_step) or overdue_at), unit_dims, due=1, overdue=1)
    elif not facts.dispatches and not profile.master_id:
        add(received, place, open=1)
    for ev in facts.evaluations:
        if ev.get("own") and profile.master_id:   # a joined report's rating: its master counts it
            continue
        if ev.get("visit"):
            level, resolved, visited = ev.get("level"), ev.get("resolved") in policy.resolved_levels, 1
        else:
            level = policy.rating_level(ev["scores"])
            resolved, visited = int(ev["scores"].get("effect", 0)) >= policy.resolved_effect, 0
        add(day_of(ev["at"]), unit_dims, rated=1, satisfied=int(level in policy.satisfied_levels),
            resolved=int(resolved), visited=visited)
    for at in facts.closings:
        add(day_of(at), unit_dims, closed=1)
    out: dict[Key, Counter] = {}
    for (day, dim, ident), counts in days.items():
        if not counts:
            continue
        out.setdefault(("D", day, dim, ident), Counter()).update(counts)
        out.setdefault(("M", day[:7], dim, ident), Counter()).update(counts)
    return {k: dict(v) for k, v in out.items() if v}


def _within(at: str | None, due: str | None) -> bool:
    return at is not None and (due is None or parse_iso(at) <= parse_iso(due))


def difference(new: Mapping[Key, Mapping[str, int]], old: Mapping[Key, Mapping[str, int]]
               ) -> dict[Key, dict[str, int]]:
    """What to add to the stored counters to go from `old` to `new` (zero entries left out)."""
    out: dict[Key, dict[str, int]] = {}
    for key in set(new) | set(old):
        a, b = new.get(key, {}), old.get(key, {})
        delta = {c: a.get(c, 0) - b.get(c, 0) for c in set(a) | set(b)}
        delta = {c: n for c, n in delta.items() if n}
        if delta:
            out[key] = delta
    return out


def encode(contribution: Mapping[Key, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """JSON-able form of a contribution (keys joined with `~`)."""
    return {"~".join(k): dict(v) for k, v in contribution.items()}


def decode(stored: Mapping[str, Mapping[str, int]] | None) -> dict[Key, dict[str, int]]:
    return {tuple(k.split("~", 3)): {c: int(n) for c, n in v.items()} for k, v in (stored or {}).items()}


# --- reading counters: rates, quantiles, backlog -----------------------------------------------

def total(rows: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out = {c: 0 for c in COUNTERS}
    for row in rows:
        for c in COUNTERS:
            out[c] += int(row.get(c, 0) or 0)
    return out


def rate(t: Mapping[str, int], name: str) -> float | None:
    _, num, den = RATES[name]
    return round(t[num] / t[den], 4) if t.get(den) else None


def rates(t: Mapping[str, int]) -> dict[str, float | None]:
    return {name: rate(t, name) for name in RATES}


def quantile_hours(t: Mapping[str, int], buckets: tuple[str, ...], q: float) -> float | None:
    """The q-quantile of a working-time histogram, interpolated inside its bucket (hours); the
    open last bucket answers its lower bound."""
    counts = [int(t.get(b, 0) or 0) for b in buckets]
    n = sum(counts)
    if not n:
        return None
    target, seen = q * n, 0
    for i, c in enumerate(counts):
        if c and seen + c >= target:
            low = TIME_BOUNDS_H[i - 1] if i else 0.0
            if i == len(TIME_BOUNDS_H):
                return float(low)
            return round(low + (TIME_BOUNDS_H[i] - low) * (target - seen) / c, 2)
        seen += c
    return float(TIME_BOUNDS_H[-1])


def figures(t: Mapping[str, int]) -> dict[str, Any]:
    """Everything a dashboard shows of one scope and period: counts, rates, times."""
    return {"counts": {c: int(t.get(c, 0)) for c in FLOW + GAUGES}, "rates": rates(t),
            "times_h": {"sign_median": quantile_hours(t, SIGN_BUCKETS, 0.5),
                        "sign_p90": quantile_hours(t, SIGN_BUCKETS, 0.9),
                        "reply_median": quantile_hours(t, REPLY_BUCKETS, 0.5),
                        "reply_p90": quantile_hours(t, REPLY_BUCKETS, 0.9)}}


AGE_BANDS = (("0-1天", 1), ("1-3天", 3), ("3-7天", 7), ("7-30天", 30), ("30天以上", None))


def backlog(open_by_day: Mapping[str, int], today: date) -> list[dict[str, Any]]:
    """Open work by age (calendar days since received): [{band, open}]."""
    out = {label: 0 for label, _ in AGE_BANDS}
    for day, n in open_by_day.items():
        age = (today - date.fromisoformat(day)).days
        label = next(lbl for lbl, upper in AGE_BANDS if upper is None or age < upper)
        out[label] += int(n)
    return [{"band": label, "open": n} for label, n in out.items()]


def week_days(d: date) -> list[str]:
    """The ISO week (Monday to Sunday) of `d`, as day keys."""
    monday = d - timedelta(days=d.weekday())
    return [(monday + timedelta(days=i)).isoformat() for i in range(7)]
