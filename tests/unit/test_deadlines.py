"""Deadline policy: step limits, urgency overrides, warning point, supervision, extensions."""
from __future__ import annotations

import dataclasses
import enum
from datetime import datetime, time, timedelta, timezone

import pytest

from chalicelib.domain.calendar import SHANGHAI, NaiveDatetimeError
from chalicelib.domain.deadlines import (
    Deadline, DeadlinePolicy, DeadlineState, ExtensionError, LimitKind, PolicyError, TimeLimit,
    UnknownStepError, WorkingHours, compute_deadline, extend, extend_by, minute_bucket,
    minute_buckets, recompute,
)
from chalicelib.policy.calendar_source import build_calendar, official_calendar


def at(y, m, d, hh=0, mm=0, ss=0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def cal():
    return official_calendar()


@pytest.fixture(scope="module")
def policy():
    return DeadlinePolicy.default()


def reply(policy, cal, appeal_type, start, urgency="普通"):
    return compute_deadline(policy, cal, "reply", appeal_type, urgency, start)


# -- steps and types --------------------------------------------------------------------

def test_sign_and_contact_are_elapsed_minutes(policy, cal):
    start = at(2026, 2, 17, 23, 50)  # inside 春节: the hotline and units still run 7x24
    sign = compute_deadline(policy, cal, "sign", "投诉", "普通", start)
    contact = compute_deadline(policy, cal, "contact", "投诉", "普通", start)
    assert sign.due_at == start + timedelta(minutes=15)
    assert contact.due_at == start + timedelta(minutes=30)
    assert sign.limit == TimeLimit("minutes", 15)


def test_consultation_one_and_complaint_three_working_days(policy, cal):
    start = at(2026, 3, 2, 9)  # Monday
    assert reply(policy, cal, "咨询", start).due_at == at(2026, 3, 3, 9)
    assert reply(policy, cal, "投诉", start).due_at == at(2026, 3, 5, 9)
    assert reply(policy, cal, "求助", start).limit == TimeLimit("working_days", 3)
    assert reply(policy, cal, "举报", start).limit == TimeLimit("working_days", 5)
    assert reply(policy, cal, "建议", start).limit == TimeLimit("working_days", 5)
    assert reply(policy, cal, "其他", start).limit == TimeLimit("working_days", 5)  # default


def test_complaint_before_spring_festival(policy, cal):
    # Fri 02-13 10:00: counts 02-14 (调休 Saturday), skips 02-15..23, then 02-24, 02-25.
    d = reply(policy, cal, "投诉", at(2026, 2, 13, 10))
    assert d.due_at == at(2026, 2, 25, 10) and not d.provisional
    assert d.supervise_at == at(2026, 2, 26, 10)  # one working day after due


def test_complaint_over_national_day(policy, cal):
    d = reply(policy, cal, "投诉", at(2026, 9, 30, 9))
    assert d.due_at == at(2026, 10, 10, 9)       # Saturday 调休 counts
    assert d.supervise_at == at(2026, 10, 12, 9)  # Sunday 10-11 does not


def test_enum_keys_are_accepted(policy, cal):
    class AppealType(str, enum.Enum):  # same shape as chalicelib.domain.appeal.AppealType
        COMPLAINT = "投诉"

    class Urgency(str, enum.Enum):
        NORMAL = "普通"

    class StepName(str, enum.Enum):
        REPLY = "reply"

    d = compute_deadline(policy, cal, StepName.REPLY, AppealType.COMPLAINT, Urgency.NORMAL,
                         at(2026, 3, 2, 9))
    assert d.due_at == at(2026, 3, 5, 9) and d.step == "reply"


def test_unknown_step(policy, cal):
    with pytest.raises(UnknownStepError):
        compute_deadline(policy, cal, "archive", "投诉", "普通", at(2026, 3, 2))


# -- warning and state ------------------------------------------------------------------

def test_warn_at_75_percent_of_elapsed_limit(policy, cal):
    start = at(2026, 3, 2, 9)
    sign = compute_deadline(policy, cal, "sign", "咨询", "普通", start)
    assert sign.warn_at == start + timedelta(minutes=11, seconds=15)


def test_warn_at_75_percent_of_working_time(policy, cal):
    # Mon 09:00 → Thu 09:00 holds 3 x 9 h of working hours; 75 % = 20 h 15 min → Wed 11:15.
    assert reply(policy, cal, "投诉", at(2026, 3, 2, 9)).warn_at == at(2026, 3, 4, 11, 15)
    # Across 春节 the warning point skips the break as well: Fri 8 h + Sat (调休) 9 h + 3 h 15 min.
    assert reply(policy, cal, "投诉", at(2026, 2, 13, 10)).warn_at == at(2026, 2, 24, 12, 15)


def test_state_at(policy, cal):
    d = reply(policy, cal, "投诉", at(2026, 3, 2, 9))
    assert d.state_at(at(2026, 3, 4, 11, 14)) is DeadlineState.ON_TIME
    assert d.state_at(at(2026, 3, 4, 11, 15)) is DeadlineState.WARNING
    assert d.state_at(at(2026, 3, 5, 9)) is DeadlineState.OVERDUE
    assert d.state_at(at(2026, 3, 6, 9)) is DeadlineState.SUPERVISE
    with pytest.raises(NaiveDatetimeError):
        d.state_at(datetime(2026, 3, 5, 9))


# -- working hours (warnings and notices go out 09:00-18:00 on working days) --------------

def in_working_hours(cal, dt, start=(9, 0), end=(18, 0)) -> bool:
    local = dt.astimezone(SHANGHAI)
    return cal.is_working_day(local.date()) and start <= (local.hour, local.minute) \
        and (local.hour, local.minute, local.second) <= (*end, 0)


def test_warning_falls_in_working_hours_not_at_night(policy, cal):
    # Wed 10:00 consultation, due Thu 10:00: 9 working hours between; 75 % → Wed 16:45
    # (the whole-day clock put it at Thu 04:00).
    d = reply(policy, cal, "咨询", at(2026, 3, 4, 10))
    assert (d.warn_at, d.due_at, d.supervise_at) == (at(2026, 3, 4, 16, 45), at(2026, 3, 5, 10),
                                                     at(2026, 3, 6, 10))
    # Dispatched Mon 23:12, complaint due Thu 23:12: Tue-Thu give 27 working hours; 75 % → Thu
    # 11:15 (not Thu 05:12). The red alert stays at the due instant; supervision one working day
    # later would be Fri 23:12, so it goes out at the next opening, Mon 09:00.
    d = reply(policy, cal, "投诉", at(2026, 3, 2, 23, 12))
    assert d.warn_at == at(2026, 3, 5, 11, 15)
    assert d.due_at == at(2026, 3, 5, 23, 12)
    assert d.supervise_at == at(2026, 3, 9, 9)
    assert d.warns and in_working_hours(cal, d.warn_at) and in_working_hours(cal, d.supervise_at)


def test_working_hours_follow_the_region_calendar(policy, cal):
    # Due Fri 2026-02-13 20:00; one working day later is Sat 02-14 (调休 workday) 20:00, after
    # hours; 02-15..02-23 are 春节 off, so the notice goes out Tue 02-24 09:00.
    d = reply(policy, cal, "咨询", at(2026, 2, 12, 20))
    assert d.due_at == at(2026, 2, 13, 20)
    assert d.warn_at == at(2026, 2, 13, 15, 45)          # 75 % of Friday's 9 hours
    assert d.supervise_at == at(2026, 2, 24, 9)
    # A warning window over the 调休 Saturday counts its hours: Fri 17:00 → Wed 02-25 17:00
    # holds Fri 1 h + Sat 9 h + Tue 9 h + Wed 8 h = 27 h; 75 % = 20.25 h → Wed 02-25 10:15.
    d = reply(policy, cal, "投诉", at(2026, 2, 13, 17))
    assert d.due_at == at(2026, 2, 25, 17) and d.warn_at == at(2026, 2, 25, 10, 15)


def test_no_working_hours_before_due_means_no_separate_warning(policy, cal):
    d = compute_deadline(policy, cal, "sign", "投诉", "普通", at(2026, 3, 4, 22))
    assert d.due_at == at(2026, 3, 4, 22, 15)          # red alert at due, 7x24
    assert d.warn_at == d.due_at and not d.warns        # not 22:11:15, and not after due
    assert d.supervise_at == at(2026, 3, 6, 9)          # Thu 22:15 + 1 working day → Fri 09:00


def test_region_working_hours_and_policy_round_trip(cal):
    p = DeadlinePolicy.from_dict({"working_hours": {"start": "08:30", "end": "17:30"}})
    assert p.working_hours == WorkingHours(time(8, 30), time(17, 30))
    d = compute_deadline(p, cal, "reply", "咨询", "普通", at(2026, 3, 4, 10))
    # 7.5 h on Wed + 1.5 h on Thu = 9 h; 75 % = 6.75 h → Wed 16:45; supervision Fri 10:00.
    assert d.warn_at == at(2026, 3, 4, 16, 45) and d.working_hours == p.working_hours
    assert DeadlinePolicy.default().working_hours == WorkingHours(time(9), time(18))
    assert DeadlinePolicy.default().to_dict()["working_hours"] == {"start": "09:00", "end": "18:00"}
    assert DeadlinePolicy.from_dict(p.to_dict(), defaults=None) == p
    assert Deadline.from_dict(d.to_dict()) == d
    # A version stored before working hours existed reads with the default.
    old = {k: v for k, v in d.to_dict().items() if k != "working_hours"}
    assert Deadline.from_dict(old).working_hours == WorkingHours()


@pytest.mark.parametrize("hours", [{"start": "18:00", "end": "09:00"}, {"start": "09:00", "lunch": "12:00"}, "9am",
                                   {"start": "25:00", "end": "26:00"}])
def test_bad_working_hours_rejected(hours):
    with pytest.raises(PolicyError) as exc:
        DeadlinePolicy.from_dict({"working_hours": hours})
    assert exc.value.field == "working_hours"


# -- urgency ----------------------------------------------------------------------------

def test_urgent_is_three_calendar_days(policy, cal):
    d = reply(policy, cal, "投诉", at(2026, 2, 13, 10), urgency="急件")
    assert d.due_at == at(2026, 2, 16, 10)  # in the middle of 春节: urgent does not pause
    assert d.limit == TimeLimit("days", 3)


def test_immediate_is_fifteen_hours(policy, cal):
    d = reply(policy, cal, "建议", at(2026, 3, 6, 18), urgency="即办件")
    assert d.due_at == at(2026, 3, 7, 9)
    # Fri 18:00 → Sat 09:00 holds no working hours: no warning (not Sat 05:15); the red alert
    # at due is the first alert.
    assert d.warn_at == d.due_at and not d.warns
    assert d.limit == TimeLimit("hours", 15)
    d = reply(policy, cal, "建议", at(2026, 3, 5, 14), urgency="即办件")   # Thu 14:00 → Fri 05:00
    assert d.due_at == at(2026, 3, 6, 5) and d.warns
    assert d.warn_at == at(2026, 3, 5, 17)     # 75 % of the 4 working hours left on Thursday


def test_urgency_never_loosens_the_type_limit(policy, cal):
    # Monday consultation: 1 working day (Tue 09:00) beats 3 calendar days.
    assert reply(policy, cal, "咨询", at(2026, 3, 2, 9), urgency="急件").due_at \
        == at(2026, 3, 3, 9)
    # Received during 春节 the working-day clock is stopped, so the urgent limit is earlier.
    d = reply(policy, cal, "咨询", at(2026, 2, 16, 10), urgency="急件")
    assert d.due_at == at(2026, 2, 19, 10) and d.limit.kind is LimitKind.DAYS


def test_recompute_for_a_higher_urgency_is_the_next_version_from_the_same_start(policy, cal):
    v1 = reply(policy, cal, "投诉", at(2026, 3, 6, 10))               # Fri: due Wed 03-11 10:00
    v2 = extend(v1, at(2026, 3, 13, 10), "需现场勘查", cal)
    v3 = recompute(v2, policy, cal, "投诉", "急件")
    assert v3.version == 3 and v3.start == v1.start and v3.extensions == v2.extensions
    assert v3.limit == TimeLimit("days", 3) and v3.due_at == at(2026, 3, 9, 10)   # 3 calendar days
    assert v3 == dataclasses.replace(compute_deadline(policy, cal, "reply", "投诉", "急件", v1.start),
                                     version=3, extensions=v2.extensions)


# -- unknown years ----------------------------------------------------------------------

def test_year_end_provisional_then_exact_with_region_file(policy):
    base = official_calendar()
    if 2027 in base.known_years:
        pytest.skip("installed chinese-calendar already knows 2027")
    d = reply(policy, base, "投诉", at(2026, 12, 30, 10))
    assert d.provisional and d.missing_years == (2027,)
    assert d.due_at == at(2027, 1, 4, 10)  # weekend rule: 2027-01-01 guessed worked
    # A test-only override (not the official schedule) with 元旦 off makes it exact.
    region = build_calendar({"years": [2027], "holidays": ["2027-01-01"]}, base=base)
    d = reply(policy, region, "投诉", at(2026, 12, 30, 10))
    assert not d.provisional and d.missing_years == ()
    assert d.due_at == at(2027, 1, 5, 10)


def test_supervision_in_unknown_year_marks_provisional(policy, cal):
    # Due 2026-12-31 10:00 (exact) but supervision falls in 2027, which is guessed.
    if 2027 in cal.known_years:
        pytest.skip("installed chinese-calendar already knows 2027")
    d = reply(policy, cal, "咨询", at(2026, 12, 30, 10))
    assert d.due_at == at(2026, 12, 31, 10)
    assert d.provisional and d.missing_years == (2027,)


def test_elapsed_limits_in_unknown_years_are_exact_except_supervision(policy, cal):
    d = compute_deadline(policy, cal, "sign", "投诉", "普通", at(2031, 3, 3, 9))
    assert d.due_at == at(2031, 3, 3, 9, 15)
    assert d.provisional  # its supervision point is counted in working days of 2031


# -- extensions -------------------------------------------------------------------------

def test_extension_makes_a_new_version(policy, cal):
    v1 = reply(policy, cal, "投诉", at(2026, 3, 2, 9))
    v2 = extend(v1, at(2026, 3, 12, 9), "需现场勘查", cal)
    assert v1.version == 1 and v1.due_at == at(2026, 3, 5, 9) and v1.extensions == ()
    assert v2.version == 2 and v2.due_at == at(2026, 3, 12, 9)
    assert v2.start == v1.start and v2.limit == v1.limit
    assert v2.supervise_at == at(2026, 3, 13, 9)
    # 03-02 09:00 → 03-12 09:00 holds 8 x 9 working hours; 75 % = 54 h → the end of 03-09.
    assert v2.warn_at == at(2026, 3, 9, 18)
    (record,) = v2.extensions
    assert (record.version, record.previous_due_at, record.new_due_at, record.reason) == \
        (2, v1.due_at, v2.due_at, "需现场勘查")
    v3 = extend_by(v2, "2 working_days", "等待第三方检测", cal)
    assert v3.version == 3 and v3.due_at == at(2026, 3, 16, 9)  # over the weekend
    assert [e.version for e in v3.extensions] == [2, 3]


def test_extension_of_elapsed_limit(policy, cal):
    v1 = reply(policy, cal, "投诉", at(2026, 3, 7, 9), urgency="急件")  # a Saturday
    assert v1.limit == TimeLimit("days", 3) and v1.due_at == at(2026, 3, 10, 9)
    v2 = extend(v1, at(2026, 3, 14, 9), "reason", cal)
    # Sat → the next Sat holds Mon-Fri 45 working hours; 75 % = 33 h 45 min → Thu 15:45.
    assert v2.warn_at == at(2026, 3, 12, 15, 45)


def test_extension_must_move_later_and_have_reason(policy, cal):
    v1 = reply(policy, cal, "投诉", at(2026, 3, 2, 9))
    with pytest.raises(ExtensionError):
        extend(v1, v1.due_at, "same", cal)
    with pytest.raises(ExtensionError):
        extend(v1, at(2026, 3, 10), "  ", cal)
    with pytest.raises(NaiveDatetimeError):
        extend(v1, datetime(2026, 3, 10), "naive", cal)


def test_deadline_round_trips_through_dict(policy, cal):
    v2 = extend(reply(policy, cal, "投诉", at(2026, 3, 2, 9)), at(2026, 3, 12, 9), "r", cal)
    assert Deadline.from_dict(v2.to_dict()) == v2


# -- policy documents -------------------------------------------------------------------

def test_region_policy_overrides_only_what_it_lists(cal):
    p = DeadlinePolicy.from_dict({
        "warn_fraction": 0.8,
        "supervise_after": "2 working_days",
        "steps": {"reply": {"by_type": {"投诉": "5 working_days"}},
                  "visit": {"default": {"kind": "hours", "amount": 48}}},
    })
    assert p.warn_fraction == 0.8 and p.supervise_after == TimeLimit("working_days", 2)
    assert p.limits_for("reply", "投诉")[0] == TimeLimit("working_days", 5)
    assert p.limits_for("reply", "咨询")[0] == TimeLimit("working_days", 1)   # default kept
    assert p.limits_for("reply", "投诉", "急件")[1] == TimeLimit("days", 3)
    assert p.limits_for("sign")[0] == TimeLimit("minutes", 15)
    assert p.limits_for("visit")[0] == TimeLimit("hours", 48)
    assert DeadlinePolicy.from_dict(p.to_dict(), defaults=None) == p


def test_policy_without_defaults():
    p = DeadlinePolicy.from_dict({"steps": {"sign": {"default": "10 minutes"}}}, defaults=None)
    assert set(p.steps) == {"sign"}


@pytest.mark.parametrize("doc", [
    {"warn_fraction": 1.5},
    {"warn_fraction": 0},
    {"steps": {"reply": {"by_type": {"投诉": {"kind": "weeks", "amount": 1}}}}},
    {"steps": {"reply": {"by_type": {"投诉": "-3 working_days"}}}},
    {"steps": {"reply": {"default": "soon"}}},
    {"steps": {"new_step": {"by_type": {}}}},                # no default
    {"steps": {"reply": {"by_typ": {}}}},                     # typo
    {"deadline": {}},                                          # typo at top level
])
def test_bad_policy_documents_rejected(doc):
    with pytest.raises(PolicyError):
        DeadlinePolicy.from_dict(doc)


def test_compute_rejects_naive_start(policy, cal):
    with pytest.raises(NaiveDatetimeError):
        compute_deadline(policy, cal, "reply", "投诉", "普通", datetime(2026, 3, 2, 9))


# -- minute buckets ---------------------------------------------------------------------

def test_minute_bucket_is_utc():
    assert minute_bucket(at(2026, 2, 14, 8, 5, 30)) == "2026-02-14T00:05"
    assert minute_bucket(at(2026, 2, 14, 8, 5, 30), round_up=True) == "2026-02-14T00:06"
    assert minute_bucket(at(2026, 2, 14, 8, 5), round_up=True) == "2026-02-14T00:05"
    assert minute_bucket(datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc)) \
        == "2026-12-31T23:59"
    with pytest.raises(NaiveDatetimeError):
        minute_bucket(datetime(2026, 2, 14, 8, 5))


def test_deadline_buckets_never_early(policy, cal):
    d = compute_deadline(policy, cal, "sign", "投诉", "普通", at(2026, 3, 2, 9, 0, 20))
    assert d.due_bucket == "2026-03-02T01:16"  # due 01:15:20 UTC, read from 01:16 on


def test_minute_buckets_range():
    assert minute_buckets(at(2026, 3, 2, 9, 0, 40), at(2026, 3, 2, 9, 3, 1)) == \
        ["2026-03-02T01:01", "2026-03-02T01:02", "2026-03-02T01:03"]
    assert minute_buckets(at(2026, 3, 2, 9), at(2026, 3, 2, 9, 0, 59)) == []
