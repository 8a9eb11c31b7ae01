"""Working-day calendar (工作日历) and working-time arithmetic; pure, stdlib only.

Counting rule (the "working-time clock", 节假日顺延)
---------------------------------------------------
A working-day time limit is a clock that runs only on working days (工作日) and stops on
rest days (weekends and statutory holidays, 法定节假日). Working days are whole local
calendar days in Asia/Shanghai (00:00-24:00); office hours do not stop the limits, because the
hotline takes appeals 7x24 and the units' reply windows are measured in days.

* N working days from a receipt on a working day = the same clock time on the N-th working
  day after the receipt day.  Fri 10:00 + 1 working day = Mon 10:00 (weekend skipped);
  2026-02-13 (Fri) 10:00 + 1 = 2026-02-14 (Sat, 调休 working day) 10:00.
* A receipt on a rest day starts the clock at 00:00 of the next working day, and the limit
  ends at the end (24:00) of the N-th working day counted from that day inclusive, returned
  as the instant 00:00 of the following calendar day.  Sat 10:00 + 1 working day = end of
  Monday = Tue 00:00; this is right even if Tuesday is itself a holiday.
* Fractions are allowed (the 75 % warning point): Fri 10:00 + 0.5 working day = Fri 22:00.
* When the clock reaches the limit exactly at a day boundary the earliest instant is used,
  so a deadline never slides over a following rest day.

Working hours (办公时间) are modelled only for when people are told things: warnings and
supervision notices go out inside a region's ``WorkingHours`` (default 09:00-18:00) on working
days. ``office_time_between`` / ``add_office_time`` count only that time; ``next_office_moment``
moves an instant outside it to the next opening (an instant inside it, both ends included, stays).

Days of years the calendar does not know (chinese-calendar covers 2004-2026; a region file
may add later years) follow the weekend rule (Sat/Sun off, everything else working) and every
result that consulted such a day is flagged ``provisional`` so the service can alert the
region admins to load the State Council schedule. Nothing here raises for unknown years.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.errors import ValidationError

try:
    SHANGHAI = ZoneInfo("Asia/Shanghai")
except ZoneInfoNotFoundError:  # pragma: no cover - only without a tz database
    # China has had no DST since 1991, so a fixed +08:00 offset is exact for our dates.
    SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

_DAY = timedelta(days=1)


class NaiveDatetimeError(ValidationError):
    """A datetime without a timezone offset reached working-time arithmetic."""

    code = "naive_datetime"


class CalendarError(ValidationError):
    """A calendar was built from contradictory or malformed data."""

    code = "invalid_calendar"


class DayStatus(NamedTuple):
    """Whether a day is worked, and whether that answer comes from a known schedule."""

    working: bool
    known: bool


class WorkTime(NamedTuple):
    """Result of working-time arithmetic: the instant and whether it relied on guessed days."""

    at: datetime
    provisional: bool


def ensure_aware(dt: datetime, field: str = "datetime") -> datetime:
    """Reject naive datetimes (a naive time is ambiguous between UTC and Beijing time)."""
    if not isinstance(dt, datetime):
        raise ValidationError(f"{field} must be a datetime", field=field)
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise NaiveDatetimeError(f"{field} needs a timezone offset", field=field)
    return dt


def to_local(dt: datetime, field: str = "datetime") -> datetime:
    """The same instant in Asia/Shanghai, where day boundaries are drawn."""
    return ensure_aware(dt, field).astimezone(SHANGHAI)


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=SHANGHAI)


def _clock_time(value: object, field: str) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            parsed = time.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            return parsed
    raise CalendarError(f"{field} must be a local time like '09:00', got {value!r}", field=field)


@dataclass(frozen=True)
class WorkingHours:
    """Office hours on working days (local time): when warnings and notices may go out."""

    start: time = time(9)
    end: time = time(18)

    def __post_init__(self) -> None:
        start, end = _clock_time(self.start, "start"), _clock_time(self.end, "end")
        if start.tzinfo is not None or end.tzinfo is not None:
            raise CalendarError("working hours are local times without an offset", field="start")
        if not start < end:
            raise CalendarError("working hours must start before they end", field="end")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def parse(cls, value: object) -> "WorkingHours":
        """From WorkingHours, ``{"start": "09:00", "end": "18:00"}`` or ``"09:00-18:00"``."""
        if isinstance(value, WorkingHours):
            return value
        if isinstance(value, dict):
            if set(value) != {"start", "end"}:
                raise CalendarError("working hours need exactly 'start' and 'end'", field="working_hours")
            return cls(value["start"], value["end"])
        if isinstance(value, str) and value.count("-") == 1:
            start, end = value.split("-")
            return cls(start, end)
        raise CalendarError(f"cannot read working hours from {value!r}", field="working_hours")

    def window(self, d: date) -> tuple[datetime, datetime]:
        """Opening and closing instants of day ``d`` (whether or not it is a working day)."""
        return (datetime.combine(d, self.start, tzinfo=SHANGHAI),
                datetime.combine(d, self.end, tzinfo=SHANGHAI))

    def to_dict(self) -> dict[str, str]:
        def fmt(t: time) -> str:
            return t.isoformat(timespec="minutes" if not (t.second or t.microsecond) else "auto")

        return {"start": fmt(self.start), "end": fmt(self.end)}


@dataclass(frozen=True, init=False)
class WorkCalendar:
    """A working-day calendar: explicit exceptions on top of the Mon-Fri rule.

    ``holidays``: days off that would otherwise be worked (and holiday-period weekends);
    ``workdays``: days worked that would otherwise be off (调休 Saturdays/Sundays);
    ``known_years``: years whose official schedule is fully loaded. A day in any other year is
    guessed by the weekend rule unless it is listed explicitly in ``holidays``/``workdays``.
    """

    holidays: frozenset[date]
    workdays: frozenset[date]
    known_years: frozenset[int]

    def __init__(self, holidays: Iterable[date] = (), workdays: Iterable[date] = (),
                 known_years: Iterable[int] = ()):
        hol, work, years = frozenset(holidays), frozenset(workdays), frozenset(known_years)
        for d in hol | work:
            if isinstance(d, datetime) or not isinstance(d, date):
                raise CalendarError(f"calendar days must be dates, got {d!r}")
        both = hol & work
        if both:
            first = min(both).isoformat()
            raise CalendarError(f"{first} is listed both as holiday and as workday", field=first)
        object.__setattr__(self, "holidays", hol)
        object.__setattr__(self, "workdays", work)
        object.__setattr__(self, "known_years", years)

    @classmethod
    def weekends_only(cls) -> "WorkCalendar":
        """No official schedule at all: every answer is the provisional weekend rule."""
        return cls()

    def with_overrides(self, holidays: Iterable[date] = (), workdays: Iterable[date] = (),
                       known_years: Iterable[int] = ()) -> "WorkCalendar":
        """A new calendar where the given days win over this one (a region's local changes)."""
        hol, work = frozenset(holidays), frozenset(workdays)
        return WorkCalendar(
            holidays=(self.holidays - work) | hol,
            workdays=(self.workdays - hol) | work,
            known_years=self.known_years | frozenset(known_years),
        )

    # -- single days -------------------------------------------------------------------
    def day_status(self, d: date) -> DayStatus:
        """Is ``d`` a working day, and is the answer official (known) or the weekend guess."""
        if isinstance(d, datetime):
            d = to_local(d, "day").date()
        if d in self.workdays:
            return DayStatus(True, True)
        if d in self.holidays:
            return DayStatus(False, True)
        return DayStatus(d.weekday() < 5, d.year in self.known_years)

    def is_working_day(self, d: date) -> bool:
        """Best answer for ``d`` (the weekend rule when the year is unknown)."""
        return self.day_status(d).working

    def is_known(self, d: date) -> bool:
        return self.day_status(d).known

    def next_working_day(self, d: date) -> tuple[date, bool]:
        """The first working day strictly after ``d`` and whether it is provisional."""
        provisional = False
        while True:
            d += _DAY
            status = self.day_status(d)
            provisional |= not status.known
            if status.working:
                return d, provisional

    def unknown_years_between(self, start: date, end: date) -> frozenset[int]:
        """Years in [start, end] (dates, either order) the calendar only guesses."""
        if isinstance(start, datetime):
            start = to_local(start, "start").date()
        if isinstance(end, datetime):
            end = to_local(end, "end").date()
        lo, hi = min(start.year, end.year), max(start.year, end.year)
        return frozenset(y for y in range(lo, hi + 1) if y not in self.known_years)

    # -- working time ------------------------------------------------------------------
    def add_working_time(self, start: datetime, duration: timedelta) -> WorkTime:
        """The instant at which ``duration`` of working time has elapsed since ``start``.

        See the module docstring for the counting rule. The result is in Asia/Shanghai.
        """
        cursor = to_local(start, "start")
        if not isinstance(duration, timedelta):
            raise ValidationError("duration must be a timedelta", field="duration")
        if duration < timedelta(0):
            raise ValidationError("working time cannot be negative", field="duration")
        if duration == timedelta(0):
            return WorkTime(cursor, False)
        remaining = duration
        day = cursor.date()
        provisional = False
        # Walks day by day: limits are days to weeks, so this is a handful of set look-ups.
        # It terminates because only finitely many days can be listed as holidays.
        while True:
            status = self.day_status(day)
            # A guessed rest day decides the result too (it may really be a 调休 workday).
            provisional |= not status.known
            day_end = _midnight(day + _DAY)
            if status.working:
                available = day_end - cursor
                if remaining <= available:
                    return WorkTime(cursor + remaining, provisional)
                remaining -= available
            cursor = day_end
            day += _DAY

    def add_working_days(self, start: datetime, n: float) -> WorkTime:
        """``start`` plus ``n`` working days (fractions allowed); returns (instant, provisional)."""
        _check_amount(n, "n")
        return self.add_working_time(start, timedelta(days=n))

    def add_working_hours(self, start: datetime, hours: float) -> WorkTime:
        """``start`` plus ``hours`` of working-day time (the clock stops on rest days)."""
        _check_amount(hours, "hours")
        return self.add_working_time(start, timedelta(hours=hours))

    def working_time_between(self, start: datetime, end: datetime) -> tuple[timedelta, bool]:
        """Working time elapsed from ``start`` to ``end`` (negative if end is earlier)."""
        a, b = to_local(start, "start"), to_local(end, "end")
        if b < a:
            elapsed, provisional = self.working_time_between(b, a)
            return -elapsed, provisional
        total = timedelta(0)
        provisional = False
        day = a.date()
        while _midnight(day) < b:
            status = self.day_status(day)
            provisional |= not status.known
            if status.working:
                total += min(b, _midnight(day + _DAY)) - max(a, _midnight(day))
            day += _DAY
        return total, provisional

    # -- working hours (when warnings and notices go out) ---------------------------------
    def _office_days(self, first: date, hours: WorkingHours):
        """Every day from ``first`` on: (day, its (opens, closes) if a working day else None,
        whether any day so far was provisional). The one walk the three methods below share."""
        provisional, day = False, first
        while True:
            status = self.day_status(day)
            provisional |= not status.known
            yield day, (hours.window(day) if status.working else None), provisional
            day += _DAY

    def next_office_moment(self, at: datetime, hours: WorkingHours) -> WorkTime:
        """``at`` if it falls inside working hours of a working day, else the next opening."""
        cursor = to_local(at, "at")
        for _, window, provisional in self._office_days(cursor.date(), hours):
            if window and cursor <= window[1]:
                return WorkTime(max(cursor, window[0]), provisional)

    def office_time_between(self, start: datetime, end: datetime,
                            hours: WorkingHours) -> tuple[timedelta, bool]:
        """Time inside working hours of working days from ``start`` to ``end`` (0 if not later)."""
        a, b = to_local(start, "start"), to_local(end, "end")
        total, provisional = timedelta(0), False
        if not _midnight(a.date()) < b:
            return total, provisional
        for day, window, provisional in self._office_days(a.date(), hours):
            if window:
                lo, hi = max(a, window[0]), min(b, window[1])
                if hi > lo:
                    total += hi - lo
            if not _midnight(day + _DAY) < b:
                return total, provisional

    def add_office_time(self, start: datetime, duration: timedelta, hours: WorkingHours) -> WorkTime:
        """The instant at which ``duration`` of working-hours time has elapsed since ``start``.

        The result always lies inside working hours (zero from outside them: the next opening).
        """
        cursor = to_local(start, "start")
        if not isinstance(duration, timedelta):
            raise ValidationError("duration must be a timedelta", field="duration")
        if duration < timedelta(0):
            raise ValidationError("working time cannot be negative", field="duration")
        if duration == timedelta(0):
            return self.next_office_moment(cursor, hours)
        remaining = duration
        for _, window, provisional in self._office_days(cursor.date(), hours):
            if window:
                opens, closes = window
                lo = max(cursor, opens)
                if closes > lo:
                    if remaining <= closes - lo:
                        return WorkTime(lo + remaining, provisional)
                    remaining -= closes - lo

    def working_days_between(self, start: date, end: date) -> tuple[int, bool]:
        """Number of working days in [start, end) (negative if end is earlier), provisional."""
        if isinstance(start, datetime):
            start = to_local(start, "start").date()
        if isinstance(end, datetime):
            end = to_local(end, "end").date()
        sign = 1
        if end < start:
            start, end, sign = end, start, -1
        count, provisional, day = 0, False, start
        while day < end:
            status = self.day_status(day)
            provisional |= not status.known
            count += status.working
            day += _DAY
        return sign * count, provisional


def _check_amount(value: float, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{field} must be a number", field=field)
    if value < 0:
        raise ValidationError(f"{field} cannot be negative", field=field)
