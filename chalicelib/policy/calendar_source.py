"""Builds a region's WorkCalendar from chinese-calendar's official tables plus the region's overrides.

The overrides are the pack's ``calendar.json`` (``regions/<city>/calendar.json``), a JSON object::

    {"years": [2027],
     "holidays": ["2027-01-01", ...],      # days off (whole holiday periods, weekends included)
     "workdays": ["2027-02-07", ...],      # 调休 working weekend days
     "note": "free text, ignored"}

``years`` are declared fully loaded (known); listed days override chinese-calendar's answer
for single days (a local holiday, a corrected 调休). Days in a listed year that are in neither
list follow Mon-Fri. The State Council publishes the next year's schedule each November;
until an admin adds it, deadlines reaching into that year are computed on the weekend rule
and flagged provisional (see chalicelib.domain.calendar).
"""
from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any, Mapping

import chinese_calendar

from chalicelib.domain.calendar import CalendarError, WorkCalendar

_ALLOWED_KEYS = {"years", "holidays", "workdays", "note"}


@lru_cache(maxsize=1)
def official_calendar() -> WorkCalendar:
    """chinese-calendar's tables as a WorkCalendar (cached: warm Lambdas build it once)."""
    holidays = frozenset(chinese_calendar.holidays)
    workdays = frozenset(chinese_calendar.workdays)
    if not holidays:
        return WorkCalendar.weekends_only()
    first, last = min(holidays).year, max(holidays).year
    known = set()
    for year in range(first, last + 1):
        # Ask the public API rather than trusting the table range: it raises
        # NotImplementedError for years it does not cover.
        try:
            chinese_calendar.is_workday(date(year, 7, 1))
        except NotImplementedError:
            continue
        known.add(year)
    return WorkCalendar(holidays=holidays, workdays=workdays, known_years=known)


def parse_override(data: Mapping[str, Any]) -> WorkCalendar:
    """Validate a region calendar document and return it as a (partial) WorkCalendar."""
    if not isinstance(data, Mapping):
        raise CalendarError("calendar file must be a JSON object")
    unknown = set(data) - _ALLOWED_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise CalendarError(f"unknown key {key!r} in calendar file", field=key)
    years = data.get("years", [])
    if not isinstance(years, list) or not all(
            isinstance(y, int) and not isinstance(y, bool) and 1900 < y < 3000 for y in years):
        raise CalendarError("years must be a list of 4-digit years", field="years")
    holidays = _parse_days(data.get("holidays", []), "holidays")
    workdays = _parse_days(data.get("workdays", []), "workdays")
    for year in years:
        # Every Chinese year has 元旦 off; a declared year without holidays is a half-done
        # file, and accepting it would silently turn provisional deadlines into "exact" ones.
        if not any(d.year == year for d in holidays):
            raise CalendarError(f"year {year} is declared but has no holidays listed",
                                field="years")
    return WorkCalendar(holidays=holidays, workdays=workdays, known_years=years)


def _parse_days(values: Any, field: str) -> set[date]:
    if not isinstance(values, list):
        raise CalendarError(f"{field} must be a list of YYYY-MM-DD dates", field=field)
    days = set()
    for value in values:
        try:
            days.add(date.fromisoformat(value))
        except (TypeError, ValueError):
            raise CalendarError(f"{field}: {value!r} is not a YYYY-MM-DD date", field=field) from None
    return days


def build_calendar(override: Mapping[str, Any] | None = None,
                   base: WorkCalendar | None = None) -> WorkCalendar:
    """The official calendar with a region override document applied on top."""
    base = official_calendar() if base is None else base
    if not override:
        return base
    extra = parse_override(override)
    return base.with_overrides(extra.holidays, extra.workdays, extra.known_years)
