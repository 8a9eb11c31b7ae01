"""The deadline sweep end to end on moto (F-HD-1..4): real Scheduled Event payloads into
functions/deadlines/handler, alerts exactly once, steps stopping clocks, extensions moving alerts,
supervision copies, followers' feeds, and deadlines across 春节 2026 and into 2027."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from chalicelib.bootstrap import bootstrap
import pytest

from tests.integration.helpers import save
from tests.integration.helpers import status_notices

LEAD = "U440303001-JD"          # 桂园街道办事处 (street level, Luohu)
DISTRICT_COPY = "U440303-ZS"    # 罗湖区政务服务数据管理局: the level above for the supervision copy
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/jiesu-test-deadlines"


def local(y, mo, d, h=0, mi=0, s=0) -> datetime:
    from chalicelib.domain.calendar import SHANGHAI

    return datetime(y, mo, d, h, mi, s, tzinfo=SHANGHAI)


@pytest.fixture
def env(aws, monkeypatch):
    """moto + the demo region pack (served by `aws`) + the handling actions registered with the staff service."""
    from chalicelib.services import handling, staff

    for name, (permission, fields, fn) in handling.STAFF_ACTIONS.items():
        monkeypatch.setitem(staff.REGISTRY, name, staff.Action(permission, fields, fn))
    yield aws


def principal(role: str, subject: str, unit_id=None, jurisdiction="440303001"):
    from chalicelib.domain.access import Principal, Role

    return Principal(subject, subject, Role(role), "shenzhen", unit_id, jurisdiction)


HANDLER = ("unit_handler", "h1", LEAD, "440303001")
DISPATCHER = ("dispatcher", "d1", None, "440300")
LEADER = ("leader", "l1", None, "440303")


def new_dispatched(now: datetime, appeal_type: str = "投诉", ticket: str | None = None) -> str:
    """Intake through the service, then dispatch with dispatch_to + start_clock + save_appeal."""
    from chalicelib.domain.appeal import AppealType, NewAppeal, Urgency
    from chalicelib.services import deadlines, intake
    from chalicelib.storage import repository

    cmd = NewAppeal(channel="hotline", ticket_id=ticket or f"T-{now.timestamp()}-{appeal_type}",
                    appeal_type=AppealType(appeal_type), urgency=Urgency.NORMAL, content="桂园路路灯不亮",
                    reported_at=now)
    appeal_id = intake.store(bootstrap(), cmd, "hash", None, now).body["appeal_id"]
    appeal = repository.load_appeal(appeal_id)
    appeal.district_code, appeal.street_code = "440303", "440303001"
    appeal.dispatch_to(LEAD, "01.01.001", "test", "440303", now, "system:dispatch", "auto")
    extra = deadlines.start_clock(bootstrap(), appeal, now)
    save(appeal, now, *extra)
    return appeal_id


def act(appeal_id: str, name: str, who: tuple, at: datetime, **body):
    from chalicelib.services import staff
    from chalicelib.services.clock import FixedClock

    return staff.perform(bootstrap(clock=FixedClock(at)), appeal_id, name, principal(*who), body)


def run_sweep(at: datetime) -> dict:
    """One schedule firing: EventBridge's Scheduled Event payload into the real handler."""
    from functions.deadlines import handler
    from infra.runner import LambdaContext, scheduled_event
    from infra.spec import SPEC

    from chalicelib.services.clock import FixedClock

    real = handler.PLATFORM
    handler.PLATFORM = real.with_clock(FixedClock(at))
    try:
        fn = next(f for f in SPEC.functions if f.name == "deadlines")
        return handler.lambda_handler(scheduled_event(RULE_ARN, "us-east-1", at), LambdaContext(fn, "us-east-1", "aws"))
    finally:
        handler.PLATFORM = real


def sweep_every_minute(start: datetime, end: datetime, second: int = 2) -> list[dict]:
    t = start.astimezone(timezone.utc).replace(second=second, microsecond=0)
    out = []
    while t <= end:
        out.append(run_sweep(t))
        t += timedelta(minutes=1)
    return out


def resume_from(at: datetime) -> None:
    """As if the schedule had run every minute up to `at` (skip quiet hours in long tests)."""
    from chalicelib.domain.deadlines import minute_bucket
    from chalicelib.storage import keys
    from chalicelib.storage.models import SweepStateItem

    SweepStateItem(keys.SWEEP_DEADLINES_PK, keys.SWEEP_SK, last_bucket=minute_bucket(at), updated_at="t").save()


def alert_items(appeal_id: str):
    from chalicelib.storage import keys
    from chalicelib.storage.models import AlertItem

    return sorted((i.step, int(i.deadline_version), i.alert)
                  for i in AlertItem.query(keys.appeal_pk(appeal_id), AlertItem.SK.startswith(keys.ALERT_SK_PREFIX)))


def events(appeal_id: str, *kinds: str):
    from chalicelib.storage import repository

    return [e for e in repository.load_case_file(appeal_id) if not kinds or e.kind in kinds]


ALERT_KINDS = ("deadline_warning", "red_alert", "supervision_notice")


# -- exactly once ------------------------------------------------------------------------------

def test_sign_and_contact_alerts_are_raised_once_across_repeated_and_overlapping_sweeps(env, monkeypatch):
    from chalicelib.services import deadlines
    from chalicelib.storage import repository

    t0 = local(2026, 5, 6, 10, 0, 17)  # a Wednesday; random seconds
    appeal_id = new_dispatched(t0)
    d = repository.load_appeal(appeal_id).to_dict()["deadlines"]
    assert d["sign"]["warn_at"] == local(2026, 5, 6, 10, 11, 32).isoformat()
    assert d["sign"]["due_at"] == local(2026, 5, 6, 10, 15, 17).isoformat()

    sweep_every_minute(t0, t0 + timedelta(minutes=12))
    assert alert_items(appeal_id) == [("sign", 1, "warning")]
    snapshot = repository.load_appeal(appeal_id)  # taken between the warning and the red alert

    results = sweep_every_minute(t0 + timedelta(minutes=13), t0 + timedelta(minutes=31))
    assert alert_items(appeal_id) == [("contact", 1, "overdue"), ("contact", 1, "warning"),
                                      ("sign", 1, "overdue"), ("sign", 1, "warning")]
    assert sum(r["overdue"] for r in results) == 2 and sum(r["warning"] for r in results) == 1

    # Redelivery of the same schedule event, and a repeated run over the same minutes.
    again = run_sweep(t0 + timedelta(minutes=31, seconds=5))
    resume_from(t0)                       # a second, overlapping sweep re-reads every bucket
    replay = sweep_every_minute(t0 + timedelta(minutes=31), t0 + timedelta(minutes=31))
    assert again["warning"] == again["overdue"] == 0
    assert sum(r["already"] for r in replay) == 4 and sum(r["overdue"] + r["warning"] for r in replay) == 0

    # A truly overlapping sweep: it read the appeal before the other sweep's red alert was saved.
    from chalicelib.storage.store import DynamoStore

    real_load = repository.load_appeal
    calls = iter([snapshot])
    monkeypatch.setattr(DynamoStore, "load_appeal",
                        staticmethod(lambda aid, consistent=True: next(calls, None) or real_load(aid)))
    resume_from(t0 + timedelta(minutes=15))
    raced = run_sweep(t0 + timedelta(minutes=16))     # reads the bucket of the sign due instant again
    monkeypatch.setattr(DynamoStore, "load_appeal", staticmethod(real_load))
    assert raced["duplicate"] == 1 and raced["overdue"] == 0

    assert alert_items(appeal_id) == [("contact", 1, "overdue"), ("contact", 1, "warning"),
                                      ("sign", 1, "overdue"), ("sign", 1, "warning")]
    raised = events(appeal_id, *ALERT_KINDS)
    assert [(e.kind, e.data["step"]) for e in raised] == [
        ("deadline_warning", "sign"), ("red_alert", "sign"), ("deadline_warning", "contact"), ("red_alert", "contact")]
    appeal = repository.load_appeal(appeal_id)
    assert appeal.handling_clock.alerts == ["sign:warning", "sign:overdue", "contact:warning", "contact:overdue"]
    # Never early, at most a minute late (the schedule fires two seconds past each minute).
    for e in raised:
        assert 0 <= e.data["lateness_s"] <= 62
    # The dashboard's read: today's alerts of the region.
    day = bootstrap().store.alerts_of_day("shenzhen", "2026-05-06")
    assert sorted((a.step, a.alert) for a in day) == [("contact", "overdue"), ("contact", "warning"),
                                                       ("sign", "overdue"), ("sign", "warning")]


def test_a_signed_appeal_raises_no_sign_alert(env):
    t0 = local(2026, 5, 6, 14, 0, 41)
    appeal_id = new_dispatched(t0)
    act(appeal_id, "sign", HANDLER, t0 + timedelta(minutes=3))
    results = sweep_every_minute(t0, t0 + timedelta(minutes=24))
    assert alert_items(appeal_id) == [("contact", 1, "warning")]
    assert sum(r["done"] for r in results) == 2       # sign warning + sign overdue: clock stopped
    act(appeal_id, "contact", HANDLER, t0 + timedelta(minutes=25), note="已电话联系")
    sweep_every_minute(t0 + timedelta(minutes=25), t0 + timedelta(minutes=35))
    assert alert_items(appeal_id) == [("contact", 1, "warning")]


def test_a_step_taken_after_its_deadline_but_before_the_sweep_still_counts_as_late(env):
    """Signed 10 s after the 15-minute sign deadline, in the minute before the sweep: the red alert
    stays on the unit's record (with when the step was taken); no supervision notice is sent."""
    t0 = local(2026, 5, 6, 14, 0, 41)
    appeal_id = new_dispatched(t0)
    sweep_every_minute(t0, t0 + timedelta(minutes=14))
    assert alert_items(appeal_id) == [("sign", 1, "warning")]
    act(appeal_id, "sign", HANDLER, t0 + timedelta(minutes=15, seconds=10))
    sweep_every_minute(t0 + timedelta(minutes=15), t0 + timedelta(minutes=21))
    assert alert_items(appeal_id) == [("sign", 1, "overdue"), ("sign", 1, "warning")]
    [red] = events(appeal_id, "red_alert")
    assert red.data["done_late_at"] == (t0 + timedelta(minutes=15, seconds=10)).isoformat()
    assert events(appeal_id, "supervision_notice") == []


def test_reply_reaches_the_channel_and_stops_every_clock(env):
    from chalicelib.storage import repository

    t0 = local(2026, 5, 6, 9, 0, 5)
    appeal_id = new_dispatched(t0, "咨询")
    act(appeal_id, "sign", HANDLER, t0 + timedelta(minutes=1))
    act(appeal_id, "contact", HANDLER, t0 + timedelta(minutes=1, seconds=30), note="已电话联系")
    act(appeal_id, "reply", HANDLER, t0 + timedelta(minutes=2), answer="办理时间为工作日9:00-18:00",
        attachments=["https://files.example.cn/guide.pdf"])
    assert "replied" in [n["status"] for n in status_notices(appeal_id)]   # → notify → channel callback
    resume_from(t0 + timedelta(hours=23, minutes=58))
    sweep_every_minute(t0 + timedelta(days=1), t0 + timedelta(days=1, minutes=3))   # reply due instant
    assert alert_items(appeal_id) == []


# -- supervision, extension, followers ------------------------------------------------------------

def test_supervision_notice_goes_to_the_unit_with_a_copy_to_the_level_above(env):
    from chalicelib.domain.deadlines import minute_bucket  # noqa: F401
    from chalicelib.storage import keys, repository
    from chalicelib.storage.models import Item

    t0 = local(2026, 5, 6, 10, 0, 17)      # 咨询: 1 working day; supervision 1 working day after
    appeal_id = new_dispatched(t0, "咨询")
    act(appeal_id, "sign", HANDLER, t0 + timedelta(minutes=2))
    act(appeal_id, "contact", HANDLER, t0 + timedelta(minutes=4), note="已联系")
    d = repository.load_appeal(appeal_id).to_dict()["deadlines"]["reply"]
    # The warning at 75 % of the 9 working hours to due (Wed 16:45:17), not at 04:00 Thursday.
    assert (d["warn_at"], d["due_at"], d["supervise_at"]) == (
        local(2026, 5, 6, 16, 45, 17).isoformat(), local(2026, 5, 7, 10, 0, 17).isoformat(),
        local(2026, 5, 8, 10, 0, 17).isoformat())
    for instant in (local(2026, 5, 6, 16, 45, 17), local(2026, 5, 7, 10, 0, 17), local(2026, 5, 8, 10, 0, 17)):
        resume_from(instant - timedelta(minutes=2))
        sweep_every_minute(instant - timedelta(minutes=1), instant + timedelta(minutes=1))
    assert alert_items(appeal_id) == [("reply", 1, "overdue"), ("reply", 1, "supervise"), ("reply", 1, "warning")]
    notice = events(appeal_id, "supervision_notice")[0]
    assert notice.data["to_unit_id"] == LEAD and notice.data["copied_to"] == [DISTRICT_COPY]
    assert notice.data["notice"] == "督办函"
    inbox = list(Item.gsi1.query(keys.unit_queue(DISTRICT_COPY)))
    assert [(i.appeal_id, i.SK) for i in inbox] == [(appeal_id, keys.supervision_copy_sk("reply", 1, DISTRICT_COPY))]
    appeal = repository.load_appeal(appeal_id)
    assert "reply:supervise" in appeal.handling_clock.alerts and "reply:overdue" in appeal.handling_clock.alerts
    # The copied unit's staff may open the appeal from that inbox entry.
    from chalicelib.domain.access import Principal, Role, can_see
    from chalicelib.services.staff import scope

    copied_staff = Principal("s", "u", Role.UNIT_MANAGER, appeal.region, DISTRICT_COPY, "440306")
    assert appeal.assignment.overseeing_unit_ids == [DISTRICT_COPY] and can_see(copied_staff, scope(bootstrap(), appeal))


def test_extension_moves_the_alerts_to_the_new_version(env):
    from chalicelib.domain.errors import ForbiddenError
    from chalicelib.storage import repository

    t0 = local(2026, 5, 6, 10, 0, 17)      # 投诉: 3 working days → Sat 2026-05-09 (劳动节 调休 workday)
    appeal_id = new_dispatched(t0)
    act(appeal_id, "sign", HANDLER, t0 + timedelta(minutes=2))
    act(appeal_id, "contact", HANDLER, t0 + timedelta(minutes=4), note="已联系")
    v1 = repository.load_appeal(appeal_id).to_dict()["deadlines"]["reply"]
    assert v1["due_at"] == local(2026, 5, 9, 10, 0, 17).isoformat()
    act(appeal_id, "extension_request", HANDLER, t0 + timedelta(hours=1), reason="需供电局更换线路",
        new_due_at=local(2026, 5, 13, 18, 0).isoformat())
    with pytest.raises(ForbiddenError):     # a unit manager of the same level may not approve
        act(appeal_id, "extension_decide", ("unit_manager", "m2", LEAD, "440303001"), t0 + timedelta(hours=2),
            approve=True)
    # A manager of the district unit above approves (called as the staff service would).
    from chalicelib.services import handling

    appeal = repository.load_appeal(appeal_id)
    extra = handling.extension_decide(bootstrap(), appeal, principal("unit_manager", "m1", DISTRICT_COPY, "440303"),
                                      t0 + timedelta(hours=2), approve=True, reason="同意")
    save(appeal, t0 + timedelta(hours=2), *extra)
    v2 = repository.load_appeal(appeal_id).to_dict()["deadlines"]["reply"]
    assert v2["version"] == 2 and v2["due_at"] == local(2026, 5, 13, 18, 0).isoformat()
    approved = events(appeal_id, "extension_approved")[0]
    assert approved.data["previous"]["due_at"] == v1["due_at"] and approved.data["deadline"]["version"] == 2

    # The old warning and due instants pass quietly; the new ones alert.
    old_warn, old_due = datetime.fromisoformat(v1["warn_at"]), datetime.fromisoformat(v1["due_at"])
    stale = 0
    for instant in (old_warn, old_due, datetime.fromisoformat(v2["warn_at"]), datetime.fromisoformat(v2["due_at"])):
        resume_from(instant - timedelta(minutes=2))
        results = sweep_every_minute(instant - timedelta(minutes=1), instant + timedelta(minutes=1))
        stale += sum(r["stale"] for r in results)
    assert stale == 2
    assert alert_items(appeal_id) == [("reply", 2, "overdue"), ("reply", 2, "warning")]


def test_followers_feed_gets_every_change(env):
    from chalicelib.services import handling

    t0 = local(2026, 5, 6, 10, 0, 17)
    appeal_id = new_dispatched(t0)
    act(appeal_id, "follow", LEADER, t0 + timedelta(minutes=1))
    act(appeal_id, "instruct", LEADER, t0 + timedelta(minutes=2), text="请尽快处理")
    sweep_every_minute(t0 + timedelta(minutes=2), t0 + timedelta(minutes=16))
    act(appeal_id, "sign", HANDLER, t0 + timedelta(minutes=17))
    feed = handling.feed(bootstrap(), "l1")
    assert [e["kind"] for e in feed] == ["signed", "red_alert", "deadline_warning", "leader_instruction",
                                        "followed"]
    assert all(e["appeal_id"] == appeal_id for e in feed)
    act(appeal_id, "unfollow", LEADER, t0 + timedelta(minutes=18))
    act(appeal_id, "contact", HANDLER, t0 + timedelta(minutes=19), note="已联系")
    assert [e["kind"] for e in handling.feed(bootstrap(), "l1", limit=1)] == ["signed"]


def test_leader_outside_the_jurisdiction_cannot_instruct(env):
    from chalicelib.domain.errors import NotFoundError

    appeal_id = new_dispatched(local(2026, 5, 6, 10, 0, 17))
    with pytest.raises(NotFoundError):
        act(appeal_id, "instruct", ("leader", "l9", None, "440304"), local(2026, 5, 6, 11), text="批示")


def test_warnings_and_notices_go_out_in_working_hours(env):
    """Dispatched at 21:29 on a Wednesday: the sign and contact steps have no working hours before
    they are due, so their first alert is the red alert at due (no night warning); the reply's
    warning and its supervision notice go out inside 09:00-18:00 of working days."""
    from chalicelib.storage import repository

    t0 = local(2026, 5, 6, 21, 29, 17)     # 咨询: 1 working day → Thu 21:29:17
    appeal_id = new_dispatched(t0, "咨询")
    d = repository.load_appeal(appeal_id).to_dict()["deadlines"]
    assert d["sign"]["warn_at"] == d["sign"]["due_at"] == local(2026, 5, 6, 21, 44, 17).isoformat()
    warn, due = local(2026, 5, 7, 15, 45), local(2026, 5, 7, 21, 29, 17)   # 75 % of Thursday 09:00-18:00
    sup = local(2026, 5, 9, 9)     # Fri 21:29:17 is after hours; Sat 05-09 is a 调休 working day
    assert (d["reply"]["warn_at"], d["reply"]["due_at"], d["reply"]["supervise_at"]) == (
        warn.isoformat(), due.isoformat(), sup.isoformat())

    sweep_every_minute(t0, t0 + timedelta(minutes=31))
    assert alert_items(appeal_id) == [("contact", 1, "overdue"), ("sign", 1, "overdue")]
    act(appeal_id, "sign", HANDLER, t0 + timedelta(minutes=32))
    act(appeal_id, "contact", HANDLER, t0 + timedelta(minutes=33), note="已联系")
    old_night = local(2026, 5, 8, 21, 29, 17)          # where supervision fell before
    for instant in (warn, due, old_night, sup):
        resume_from(instant - timedelta(minutes=2))
        sweep_every_minute(instant - timedelta(minutes=1), instant + timedelta(minutes=1))
    assert alert_items(appeal_id) == [("contact", 1, "overdue"), ("reply", 1, "overdue"),
                                      ("reply", 1, "supervise"), ("reply", 1, "warning"),
                                      ("sign", 1, "overdue")]
    raised = {e.kind: e.data["instant"] for e in events(appeal_id, *ALERT_KINDS) if e.data["step"] == "reply"}
    assert raised == {"deadline_warning": warn.isoformat(), "red_alert": due.isoformat(),
                      "supervision_notice": sup.isoformat()}
    assert [e.kind for e in events(appeal_id, "deadline_warning")] == ["deadline_warning"]


# -- calendars: 春节 2026 and the year end into 2027 ------------------------------------------------

def test_reply_deadline_across_spring_festival_2026(env):
    from chalicelib.storage import repository

    t0 = local(2026, 2, 13, 10, 0, 17)    # Fri; Sat 02-14 is a 调休 working day; 02-15..02-23 off
    appeal_id = new_dispatched(t0)
    act(appeal_id, "sign", HANDLER, t0 + timedelta(minutes=1))
    act(appeal_id, "contact", HANDLER, t0 + timedelta(minutes=2), note="已联系")
    d = repository.load_appeal(appeal_id).to_dict()["deadlines"]["reply"]
    warn, due, sup = (local(2026, 2, 24, 12, 15, 17), local(2026, 2, 25, 10, 0, 17), local(2026, 2, 26, 10, 0, 17))
    assert (d["warn_at"], d["due_at"], d["supervise_at"], d["provisional"]) == (
        warn.isoformat(), due.isoformat(), sup.isoformat(), False)
    # Calendar-naive instants (3 calendar days, 75 %) pass quietly during the holiday.
    for quiet in (local(2026, 2, 16, 10, 0, 17), local(2026, 2, 18, 16, 0, 17)):
        resume_from(quiet - timedelta(minutes=2))
        sweep_every_minute(quiet - timedelta(minutes=1), quiet + timedelta(minutes=1))
    assert alert_items(appeal_id) == []
    for instant in (warn, due, sup):
        resume_from(instant - timedelta(minutes=2))
        sweep_every_minute(instant - timedelta(minutes=1), instant + timedelta(minutes=1))
    assert alert_items(appeal_id) == [("reply", 1, "overdue"), ("reply", 1, "supervise"), ("reply", 1, "warning")]


def test_deadline_into_2027_is_provisional_and_alerts_the_admins_once(env, monkeypatch):
    from chalicelib.services import deadlines
    from chalicelib.storage import keys, repository
    from chalicelib.storage.models import CalendarAlertItem, Item

    logged, counted = [], []
    monkeypatch.setattr(deadlines.logger, "error", lambda msg, *a, **kw: logged.append((msg, kw.get("extra"))))
    monkeypatch.setattr(deadlines.metrics, "add_metric",
                        lambda **kw: counted.append(kw["name"]) if kw["name"] == "CalendarYearMissing" else None)
    t0 = local(2026, 12, 30, 10, 0, 17)   # Wed; 3 working days run into 2027, not yet in the calendar
    first = new_dispatched(t0)
    second = new_dispatched(t0 + timedelta(minutes=5))
    d = repository.load_appeal(first).to_dict()["deadlines"]["reply"]
    assert d["provisional"] is True and d["missing_years"] == [2027]
    # Weekend rule for the unknown year: Thu 12-31, Fri 01-01, Mon 01-04.
    assert d["due_at"] == local(2027, 1, 4, 10, 0, 17).isoformat()
    assert [e.kind for e in events(first, "calendar_missing")] == ["calendar_missing"]

    alert = CalendarAlertItem.get(keys.calendar_alert_pk("shenzhen", 2027), keys.CALENDAR_ALERT_SK)
    assert alert.appeal_id == first
    assert [i.SK for i in Item.gsi1.query(keys.admin_queue("shenzhen"))] == [keys.CALENDAR_ALERT_SK]
    assert counted == ["CalendarYearMissing"] and len([m for m in logged if "calendar" in m[0]]) == 1

    for aid in (first, second):
        act(aid, "sign", HANDLER, t0 + timedelta(minutes=6))
        act(aid, "contact", HANDLER, t0 + timedelta(minutes=7), note="已联系")
    due = local(2027, 1, 4, 10, 0, 17)
    resume_from(due - timedelta(minutes=2))
    sweep_every_minute(due - timedelta(minutes=1), due + timedelta(minutes=6))
    assert alert_items(first) == [("reply", 1, "overdue")] and alert_items(second) == [("reply", 1, "overdue")]
    red = events(first, "red_alert")[0]
    assert red.data["provisional"] is True
    assert counted == ["CalendarYearMissing"]     # still once per region and year
