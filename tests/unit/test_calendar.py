"""Working-day calendar: official 2026 holidays, 调休 Saturdays, unknown years, region overrides."""
from __future__ import annotations

import ast
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from chalicelib.domain.calendar import (
    SHANGHAI, CalendarError, DayStatus, NaiveDatetimeError, WorkCalendar,
)
from chalicelib.domain.errors import ValidationError
from chalicelib.policy import build
from chalicelib.policy.calendar_source import build_calendar, official_calendar, parse_override
from chalicelib.policy.pack.parse import read_pack

ROOT = Path(__file__).resolve().parents[2]

# A made-up 2027 override for the tests only (NOT the official schedule): 元旦 off,
# one 调休 Sunday, so the tests can tell the override from the weekend rule.
TEST_2027 = {"years": [2027], "holidays": ["2027-01-01"], "workdays": ["2027-01-10"]}


def at(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return official_calendar()


@pytest.fixture(scope="module")
def cal_2027_unknown(cal) -> WorkCalendar:
    if 2027 in cal.known_years:  # a newer chinese-calendar would make these cases exact
        pytest.skip("installed chinese-calendar already knows 2027")
    return cal


# -- the official data ------------------------------------------------------------------

def test_official_calendar_covers_2004_to_2026(cal):
    assert min(cal.known_years) == 2004
    assert 2026 in cal.known_years


def test_spring_festival_2026_and_swapped_saturdays(cal):
    for day in range(15, 24):  # 春节 2026-02-15 .. 2026-02-23, weekends inside included
        assert cal.day_status(date(2026, 2, day)) == DayStatus(False, True)
    assert cal.is_working_day(date(2026, 2, 14))   # Saturday, 调休 working day
    assert cal.is_working_day(date(2026, 2, 28))   # Saturday, 调休 working day
    assert not cal.is_working_day(date(2026, 3, 7))  # an ordinary Saturday
    assert cal.is_working_day(date(2026, 2, 24))


def test_national_day_2026(cal):
    for day in range(1, 8):
        assert not cal.is_working_day(date(2026, 10, day))
    assert cal.is_working_day(date(2026, 10, 10))  # Saturday 调休


# -- the counting rule ------------------------------------------------------------------

def test_same_clock_time_on_nth_working_day(cal):
    # Mon 09:00 + 3 working days = Thu 09:00
    assert cal.add_working_days(at(2026, 3, 2, 9), 3) == (at(2026, 3, 5, 9), False)


def test_weekend_is_skipped(cal):
    assert cal.add_working_days(at(2026, 3, 6, 10), 1).at == at(2026, 3, 9, 10)  # Fri → Mon


def test_working_saturday_counts(cal):
    # Fri 2026-02-27 + 1 working day lands on the 调休 Saturday 2026-02-28.
    assert cal.add_working_days(at(2026, 2, 27, 10), 1).at == at(2026, 2, 28, 10)
    # Fri 2026-02-13 + 1 = Sat 02-14 (worked); + 2 jumps the whole 春节 break to 02-24.
    assert cal.add_working_days(at(2026, 2, 13, 10), 1).at == at(2026, 2, 14, 10)
    assert cal.add_working_days(at(2026, 2, 13, 10), 2).at == at(2026, 2, 24, 10)
    assert cal.add_working_days(at(2026, 2, 13, 10), 3).at == at(2026, 2, 25, 10)


def test_receipt_on_rest_day_counts_from_next_working_day(cal):
    # Received during 春节: the clock starts 2026-02-24 00:00; 1 working day = end of 02-24.
    assert cal.add_working_days(at(2026, 2, 18, 15), 1) == (at(2026, 2, 25), False)
    # Received on an ordinary Saturday: end of Monday, returned as Tuesday 00:00.
    assert cal.add_working_days(at(2026, 3, 7, 10), 1).at == at(2026, 3, 10)


def test_boundary_does_not_slide_over_following_holiday(cal):
    # Received Sun 2026-09-27 (holiday); Mon 09-28..Wed 09-30 are worked, then National Day.
    # 3 working days end exactly at the end of 09-30, i.e. 10-01 00:00, not after the break.
    assert cal.add_working_days(at(2026, 9, 27, 12), 3).at == at(2026, 10, 1)


def test_national_day_span(cal):
    # Wed 2026-09-30 09:00 + 3 working days: 09-30, (10-01..07 off), 10-08, 10-09, 10-10 Sat.
    assert cal.add_working_days(at(2026, 9, 30, 9), 3) == (at(2026, 10, 10, 9), False)


def test_fractions_and_hours(cal):
    assert cal.add_working_days(at(2026, 3, 6, 10), 0.5).at == at(2026, 3, 6, 22)
    assert cal.add_working_hours(at(2026, 3, 6, 20), 6).at == at(2026, 3, 9, 2)
    assert cal.add_working_days(at(2026, 3, 7, 10), 0).at == at(2026, 3, 7, 10)


def test_results_are_shanghai_time_from_any_offset(cal):
    start_utc = datetime(2026, 3, 6, 2, 0, tzinfo=timezone.utc)  # = Fri 10:00 Beijing
    due = cal.add_working_days(start_utc, 1).at
    assert due == at(2026, 3, 9, 10) and due.utcoffset() == timedelta(hours=8)
    # 2026-03-06 20:00 UTC is already Saturday in Beijing: a rest-day receipt.
    assert cal.add_working_days(datetime(2026, 3, 6, 20, tzinfo=timezone.utc), 1).at \
        == at(2026, 3, 10)


def test_naive_datetime_rejected(cal):
    with pytest.raises(NaiveDatetimeError):
        cal.add_working_days(datetime(2026, 3, 2, 9), 1)
    with pytest.raises(NaiveDatetimeError):
        cal.working_time_between(datetime(2026, 3, 2), at(2026, 3, 3))


def test_negative_amount_rejected(cal):
    with pytest.raises(ValidationError):
        cal.add_working_days(at(2026, 3, 2), -1)


def test_working_days_and_time_between(cal):
    # [02-09, 03-02): 02-09..13 (5), 02-14 Sat (1), 02-24..27 (4), 02-28 Sat (1)
    assert cal.working_days_between(date(2026, 2, 9), date(2026, 3, 2)) == (11, False)
    assert cal.working_days_between(date(2026, 3, 2), date(2026, 2, 9)) == (-11, False)
    elapsed, provisional = cal.working_time_between(at(2026, 2, 13, 10), at(2026, 2, 24, 10))
    assert elapsed == timedelta(hours=14 + 24 + 10) and not provisional


# -- unknown years and region overrides -------------------------------------------------

def test_year_end_into_unknown_2027_is_provisional(cal_2027_unknown):
    # Weekend rule for 2027: 01-01 (Fri) is guessed a working day.
    due, provisional = cal_2027_unknown.add_working_days(at(2026, 12, 31, 10), 1)
    assert due == at(2027, 1, 1, 10) and provisional
    assert cal_2027_unknown.add_working_days(at(2026, 12, 30, 10), 3) == (at(2027, 1, 4, 10), True)
    assert cal_2027_unknown.day_status(date(2027, 1, 1)) == DayStatus(True, False)


def test_year_end_exact_with_region_override(cal_2027_unknown):
    region = build_calendar(TEST_2027, base=cal_2027_unknown)
    assert region.add_working_days(at(2026, 12, 31, 10), 1) == (at(2027, 1, 4, 10), False)
    assert region.add_working_days(at(2026, 12, 30, 10), 3) == (at(2027, 1, 5, 10), False)
    assert region.is_working_day(date(2027, 1, 10))  # the override's 调休 Sunday


def test_result_inside_known_year_is_exact(cal):
    assert not cal.add_working_days(at(2026, 12, 28, 10), 2).provisional


def test_far_future_and_past_never_crash():
    cal = official_calendar()
    due, provisional = cal.add_working_days(at(2031, 5, 1, 9), 5)
    assert provisional and due == at(2031, 5, 8, 9)
    assert cal.add_working_days(at(2003, 12, 31, 9), 1).provisional
    assert WorkCalendar.weekends_only().add_working_days(at(2026, 3, 2), 1).provisional


def test_override_days_win_over_official(cal):
    region = cal.with_overrides(holidays=[date(2026, 2, 28)], workdays=[date(2026, 3, 7)])
    assert not region.is_working_day(date(2026, 2, 28))
    assert region.is_working_day(date(2026, 3, 7))
    assert cal.is_working_day(date(2026, 2, 28))  # the base is unchanged


def test_single_listed_day_in_unknown_year_is_known():
    region = WorkCalendar(holidays=[date(2028, 5, 1)])
    assert region.day_status(date(2028, 5, 1)) == DayStatus(False, True)
    assert region.day_status(date(2028, 5, 2)) == DayStatus(True, False)


def test_day_in_both_lists_rejected():
    with pytest.raises(CalendarError):
        WorkCalendar(holidays=[date(2027, 1, 1)], workdays=[date(2027, 1, 1)])


@pytest.mark.parametrize("doc", [
    {"years": [2027], "holidays": [], "workdays": []},          # declared but empty
    {"years": ["2027"], "holidays": ["2027-01-01"]},
    {"holidays": ["2027-13-01"]},
    {"holidays": "2027-01-01"},
    {"holiday": ["2027-01-01"]},                                 # typo in a key
    {"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]},
])
def test_bad_override_documents_rejected(doc):
    with pytest.raises(CalendarError):
        parse_override(doc)


def test_a_pack_without_overrides_has_the_official_calendar(cal):
    assert build_calendar(None) == cal and build_calendar({}) == cal
    assert 2027 in build_calendar(TEST_2027).known_years


def test_shipped_shenzhen_calendar_loads(cal):
    pack = read_pack(ROOT / "regions/shenzhen")
    assert pack.calendar["note"]
    region = build.work_calendar(pack)
    assert region.known_years >= cal.known_years


# -- layering ---------------------------------------------------------------------------

@pytest.mark.parametrize("module", ["calendar.py", "deadlines.py"])
def test_domain_modules_import_stdlib_only(module):
    tree = ast.parse((ROOT / "chalicelib/domain" / module).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("chalicelib.domain"), name


# -- working hours: when warnings and notices go out ---------------------------------------

def test_next_office_moment(cal):
    from chalicelib.domain.calendar import WorkingHours

    h = WorkingHours()
    assert cal.next_office_moment(at(2026, 3, 4, 10, 30), h) == (at(2026, 3, 4, 10, 30), False)
    assert cal.next_office_moment(at(2026, 3, 4, 18, 0), h).at == at(2026, 3, 4, 18, 0)   # closing included
    assert cal.next_office_moment(at(2026, 3, 4, 21, 29), h).at == at(2026, 3, 5, 9)
    assert cal.next_office_moment(at(2026, 3, 5, 5, 25), h).at == at(2026, 3, 5, 9)
    assert cal.next_office_moment(at(2026, 3, 6, 19), h).at == at(2026, 3, 9, 9)           # Fri evening → Mon
    assert cal.next_office_moment(at(2026, 2, 13, 19), h).at == at(2026, 2, 14, 9)         # 调休 Saturday
    assert cal.next_office_moment(at(2026, 2, 14, 19), h).at == at(2026, 2, 24, 9)         # over 春节
    assert cal.next_office_moment(datetime(2026, 3, 4, 14, tzinfo=timezone.utc), h).at == at(2026, 3, 5, 9)


def test_office_time_between_and_add_office_time(cal):
    from chalicelib.domain.calendar import WorkingHours

    h = WorkingHours.parse("08:30-17:30")
    assert h.to_dict() == {"start": "08:30", "end": "17:30"}
    span, provisional = cal.office_time_between(at(2026, 3, 6, 16), at(2026, 3, 9, 10), h)   # Fri → Mon
    assert span == timedelta(hours=3) and not provisional      # Fri 1.5 h + Mon 1.5 h
    assert cal.office_time_between(at(2026, 3, 7, 10), at(2026, 3, 8, 10), h) == (timedelta(0), False)
    assert cal.add_office_time(at(2026, 3, 6, 16), timedelta(hours=2), h).at == at(2026, 3, 9, 9)
    assert cal.add_office_time(at(2026, 3, 6, 20), timedelta(0), h).at == at(2026, 3, 9, 8, 30)
    assert cal.add_office_time(at(2026, 3, 6, 16), timedelta(hours=1, minutes=30), h).at == at(2026, 3, 6, 17, 30)
    with pytest.raises(ValidationError):
        cal.add_office_time(at(2026, 3, 6, 16), timedelta(hours=-1), h)
    with pytest.raises(CalendarError):
        WorkingHours.parse({"start": "18:00", "end": "09:00"})
