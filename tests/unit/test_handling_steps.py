"""Handling steps of the Appeal aggregate (F-HD-1/F-HD-4): order, 409s, lead-only reply, extension versions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.appeal import Appeal, AppealType, NewAppeal, Status, Urgency
from chalicelib.domain.calendar import SHANGHAI
from chalicelib.domain.deadlines import Deadline, DeadlinePolicy, compute_deadline
from chalicelib.domain.errors import ConflictError, ValidationError
from chalicelib.domain.handling_clock import StepClock
from chalicelib.policy.calendar_source import official_calendar

T0 = datetime(2026, 5, 6, 10, 0, tzinfo=SHANGHAI)  # a Wednesday
LEAD, HELPER, OTHER = "U440303001-JD", "U440303001-PCS", "U440303002-JD"
ACTOR = "unit_handler:h1"


@pytest.fixture(scope="module")
def cal():
    return official_calendar()


def dispatched(cal, appeal_type=AppealType.COMPLAINT, at=T0) -> Appeal:
    cmd = NewAppeal(channel="hotline", ticket_id="T-1", appeal_type=appeal_type, urgency=Urgency.NORMAL,
                    content="路灯不亮", reported_at=at)
    a = Appeal.take_in(cmd, "A1", "shenzhen", at)
    a.dispatch_to(LEAD, "01.01.001", "v1", "440303", at, "system:dispatch", "auto")
    policy = DeadlinePolicy.default()
    a.start_clock([compute_deadline(policy, cal, step, appeal_type.value, "普通", at)
                   for step in ("sign", "contact", "reply")], at, "system:deadlines")
    a.set_joint(LEAD, [HELPER], at, "dispatcher:d1")
    a.pull_events()
    a.pull_domain_events()
    return a


def kinds(a: Appeal) -> list[str]:
    return [e.kind for e in a.new_events]


# -- order ----------------------------------------------------------------------------------

ANSWER = "已于当日更换故障路灯灯具，夜间复查照明恢复正常"  # says what was done: over 15 characters


def contacted(a):
    a.sign_for(LEAD, T0, ACTOR)
    a.contact_citizen(LEAD, "电话已联系诉求人", T0, ACTOR)
    return a

def test_sign_contact_reply_in_order_stop_each_clock(cal):
    a = dispatched(cal)
    a.sign_for(LEAD, T0 + timedelta(minutes=5), ACTOR)
    assert a.status == Status.SIGNED and a.handling_clock.get("sign").done_at
    assert a.handling_clock.get("contact").running
    a.contact_citizen(LEAD, "电话已联系，约定明日上门", T0 + timedelta(minutes=20), ACTOR)
    assert a.status == Status.CONTACTED and a.handling_clock.get("contact").done_at
    a.reply_to_citizen(LEAD, ANSWER, ["https://files.example.cn/a.jpg"], T0 + timedelta(hours=3), ACTOR)
    assert a.status == Status.REPLIED and a.public_status() == "replied"
    assert a.handling_clock.get("reply").done_at == T0 + timedelta(hours=3)
    reply = a.evaluation.reply
    assert reply.answer == ANSWER and reply.attachments == ("https://files.example.cn/a.jpg",)
    assert kinds(a) == ["signed", "contacted", "replied"]
    replied = a.new_events[-1]
    assert replied.public and replied.data["answer"] == ANSWER


def test_a_reply_needs_a_recorded_contact_and_changes_nothing_without_one(cal):
    a = dispatched(cal)
    a.sign_for(LEAD, T0, ACTOR)
    before = a.to_dict()
    with pytest.raises(ConflictError) as exc:
        a.reply_to_citizen(LEAD, ANSWER, [], T0 + timedelta(minutes=10), ACTOR)
    assert (exc.value.status, exc.value.code, exc.value.field) == (409, "contact_required", "status")
    assert a.to_dict() == before


def test_a_contact_that_was_not_possible_is_recorded_with_why_and_lets_the_unit_reply(cal):
    a = dispatched(cal)
    a.sign_for(LEAD, T0, ACTOR)
    a.contact_citizen(LEAD, "匿名来电，未留联系方式", T0, ACTOR, how="not_possible")
    assert a.new_events[-1].data["how"] == "not_possible" and a.handling_clock.get("contact").done_at
    a.reply_to_citizen(LEAD, ANSWER, [], T0, ACTOR)
    assert a.status == Status.REPLIED


def test_an_answer_must_say_what_was_done(cal):
    a = contacted(dispatched(cal))
    for short in ("已清运", "已处理。。。。。。。。。。。。。。", "ok " * 7):
        with pytest.raises(ValidationError) as exc:
            a.reply_to_citizen(LEAD, short, [], T0, ACTOR)
        assert (exc.value.field, exc.value.code) == ("answer", "answer_too_short")
    assert a.status == Status.CONTACTED
    a.reply_to_citizen(LEAD, "已清运", [], T0, ACTOR, min_answer_chars=3)  # a region may set its own minimum
    assert a.status == Status.REPLIED


def test_a_confidential_appeals_citizen_is_reached_only_through_the_centre(cal):
    a = dispatched(cal)
    a.anonymous = True
    a.sign_for(LEAD, T0, ACTOR)
    with pytest.raises(ConflictError) as exc:
        a.contact_citizen(LEAD, "打电话", T0, ACTOR)
    assert (exc.value.field, exc.value.code) == ("how", "confidential") and a.status == Status.SIGNED
    with pytest.raises(ValidationError) as exc:
        a.contact_citizen(LEAD, "打电话", T0, ACTOR, how="phone")
    assert exc.value.field == "how"
    a.contact_citizen(LEAD, "请中心转告：已安排明日上门", T0, ACTOR, how="relay")
    assert a.status == Status.CONTACTED and a.new_events[-1].data["how"] == "relay"


@pytest.mark.parametrize("step", ["contact", "reply"])
def test_steps_before_signing_are_409_naming_the_state_and_change_nothing(cal, step):
    a = dispatched(cal)
    before = a.to_dict()
    with pytest.raises(ConflictError) as exc:
        if step == "contact":
            a.contact_citizen(LEAD, "note", T0, ACTOR)
        else:
            a.reply_to_citizen(LEAD, "answer", [], T0, ACTOR)
    assert exc.value.status == 409 and "dispatched" in exc.value.message
    assert a.to_dict() == before and a.new_events == []


def test_signing_twice_and_contacting_after_reply_are_409(cal):
    a = dispatched(cal)
    a.sign_for(LEAD, T0, ACTOR)
    with pytest.raises(ConflictError, match="signed"):
        a.sign_for(LEAD, T0, ACTOR)
    a.contact_citizen(LEAD, "电话已联系", T0, ACTOR)
    a.reply_to_citizen(LEAD, ANSWER, [], T0, ACTOR)
    with pytest.raises(ConflictError, match="replied"):
        a.contact_citizen(LEAD, "late note", T0, ACTOR)
    with pytest.raises(ConflictError, match="replied"):
        a.reply_to_citizen(LEAD, ANSWER, [], T0, ACTOR)


def test_a_redo_is_signed_contacted_and_replied_again(cal):
    a = contacted(dispatched(cal))
    a.reply_to_citizen(LEAD, ANSWER, [], T0, ACTOR)
    a.conclude(True, T0, "citizen:hotline", "a bad rating")  # by the evaluation stage
    assert a.status == Status.REDO
    redone = "重新安排维修班组更换整段线路，经回访确认已亮灯"
    with pytest.raises(ConflictError) as exc:
        a.reply_to_citizen(LEAD, redone, [], T0 + timedelta(days=1), ACTOR)
    assert exc.value.code == "contact_required"
    contacted(a)
    a.reply_to_citizen(LEAD, redone, [], T0 + timedelta(days=1), ACTOR)
    assert a.status == Status.REPLIED and a.evaluation.reply.answer == redone


# -- who may do what --------------------------------------------------------------------------

def test_only_the_lead_unit_signs_and_replies(cal):
    a = dispatched(cal)
    with pytest.raises(ConflictError) as exc:
        a.sign_for(HELPER, T0, ACTOR)
    assert exc.value.code == "not_lead_unit" and a.status == Status.DISPATCHED
    a.sign_for(LEAD, T0, ACTOR)
    for unit in (HELPER, OTHER, None):
        with pytest.raises(ConflictError) as exc:
            a.reply_to_citizen(unit, "answer", [], T0, ACTOR)
        assert exc.value.code == "not_lead_unit"
    assert a.status == Status.SIGNED and a.evaluation.reply is None


def test_assisting_units_may_add_notes_others_may_not(cal):
    a = dispatched(cal)
    ev = a.add_unit_note(HELPER, "已派民警到场", T0, "unit_handler:h2")
    assert ev.kind == "unit_note" and ev.data["role"] == "assisting" and not ev.public
    assert a.status == Status.DISPATCHED
    with pytest.raises(ConflictError):
        a.add_unit_note(OTHER, "not ours", T0, ACTOR)
    with pytest.raises(ValidationError) as exc:
        a.add_unit_note(HELPER, "  ", T0, ACTOR)
    assert exc.value.field == "note"


# -- validation -------------------------------------------------------------------------------

def test_missing_answer_names_the_field(cal):
    a = contacted(dispatched(cal))
    for answer in ("", "   ", None):
        with pytest.raises(ValidationError) as exc:
            a.reply_to_citizen(LEAD, answer, [], T0, ACTOR)
        assert exc.value.field == "answer"
    assert a.status == Status.CONTACTED


@pytest.mark.parametrize("url", ["http://files.example.cn/a.jpg", "ftp://x/y", "https://", "https://a b", 42])
def test_attachments_must_be_https_urls(cal, url):
    a = contacted(dispatched(cal))
    with pytest.raises(ValidationError) as exc:
        a.reply_to_citizen(LEAD, ANSWER, [url], T0, ACTOR)
    assert exc.value.field == "attachments" and a.status == Status.CONTACTED


def test_contact_needs_a_note(cal):
    a = dispatched(cal)
    a.sign_for(LEAD, T0, ACTOR)
    with pytest.raises(ValidationError) as exc:
        a.contact_citizen(LEAD, "", T0, ACTOR)
    assert exc.value.field == "note"


# -- extensions -------------------------------------------------------------------------------

def test_extension_request_then_approval_makes_a_new_version_and_keeps_every_version(cal):
    a = dispatched(cal)
    a.sign_for(LEAD, T0, ACTOR)
    v1 = a.handling_clock.deadline("reply")
    new_due = v1.due_at + timedelta(days=2)
    a.request_extension(LEAD, "需协调供电局更换线路", new_due, T0 + timedelta(hours=1), ACTOR)
    assert a.status == Status.SIGNED and a.pending_extension().new_due_at == new_due
    with pytest.raises(ConflictError) as exc:
        a.request_extension(LEAD, "again", new_due + timedelta(days=1), T0 + timedelta(hours=2), ACTOR)
    assert exc.value.code == "extension_pending"
    a.raise_alert("reply", 1, "warning", T0 + timedelta(hours=2), "system:deadlines")
    d = a.decide_extension(True, cal, T0 + timedelta(hours=3), "dispatcher:d1", "同意")
    assert isinstance(d, Deadline) and d.version == 2 and d.due_at == new_due
    assert a.handling_clock.get("reply") == StepClock(d) and a.pending_extension() is None
    assert d.extensions[0].previous_due_at == v1.due_at
    assert "reply:warning" not in a.handling_clock.alerts  # the new version raises its own alerts
    approved = a.new_events[-1]
    assert approved.kind == "extension_approved"
    assert approved.data["previous"]["version"] == 1 and approved.data["previous"]["due_at"] == v1.due_at.isoformat()
    assert approved.data["previous"]["alerted"] == ["warning"]
    assert approved.data["deadline"]["version"] == 2
    # A second extension builds version 3 on top of version 2.
    a.request_extension(LEAD, "材料未到", new_due + timedelta(days=1), T0 + timedelta(hours=4), ACTOR)
    d3 = a.decide_extension(True, cal, T0 + timedelta(hours=5), "dispatcher:d1")
    assert d3.version == 3 and len(d3.extensions) == 2
    versions = [e.data["deadline"]["version"] for e in a.new_events if e.kind == "extension_approved"]
    assert versions == [2, 3]


def test_extension_refusal_needs_a_reason_and_keeps_the_deadline(cal):
    a = dispatched(cal)
    a.sign_for(LEAD, T0, ACTOR)
    v1 = a.handling_clock.get("reply")
    a.request_extension(LEAD, "reason", v1.deadline.due_at + timedelta(days=1), T0, ACTOR)
    with pytest.raises(ValidationError) as exc:
        a.decide_extension(False, cal, T0, "dispatcher:d1", "")
    assert exc.value.field == "reason"
    assert a.decide_extension(False, cal, T0, "dispatcher:d1", "理由不充分") is None
    assert a.handling_clock.get("reply") == v1 and a.pending_extension() is None
    assert a.new_events[-1].kind == "extension_refused"
    with pytest.raises(ConflictError) as exc:
        a.decide_extension(True, cal, T0, "dispatcher:d1")
    assert exc.value.code == "no_pending_extension"


def test_extension_request_validation(cal):
    a = dispatched(cal)
    with pytest.raises(ConflictError, match="dispatched"):   # sign first
        a.request_extension(LEAD, "r", T0 + timedelta(days=9), T0, ACTOR)
    a.sign_for(LEAD, T0, ACTOR)
    due = a.handling_clock.deadline("reply").due_at
    with pytest.raises(ValidationError) as exc:
        a.request_extension(LEAD, "", due + timedelta(days=1), T0, ACTOR)
    assert exc.value.field == "reason"
    with pytest.raises(ValidationError) as exc:
        a.request_extension(LEAD, "r", due - timedelta(hours=1), T0, ACTOR)
    assert exc.value.field == "new_due_at"
    with pytest.raises(ValidationError) as exc:
        a.request_extension(LEAD, "r", due.replace(tzinfo=None) + timedelta(days=1), T0, ACTOR)
    assert exc.value.field == "new_due_at"
    with pytest.raises(ConflictError):
        a.request_extension(HELPER, "r", due + timedelta(days=1), T0, ACTOR)
    assert a.pending_extension() is None and a.status == Status.SIGNED


# -- alerts, leaders ---------------------------------------------------------------------------

def test_raise_alert_records_once_per_version_and_rejects_stale_versions(cal):
    a = dispatched(cal)
    ev = a.raise_alert("sign", 1, "overdue", T0 + timedelta(minutes=16), "system:deadlines", {"unit_id": LEAD})
    assert ev.kind == "red_alert" and not ev.public
    assert a.handling_clock.alerts == ["sign:overdue"] and a.handling_clock.get("sign").alerted == ("overdue",)
    with pytest.raises(ConflictError):
        a.raise_alert("sign", 2, "overdue", T0, "system:deadlines")


def test_leaders_instruct_and_follow(cal):
    a = dispatched(cal)
    ev = a.instruct("请罗湖区三日内办结", T0, "leader:l1")
    assert ev.kind == "leader_instruction" and ev.data["text"] == "请罗湖区三日内办结"
    with pytest.raises(ValidationError) as exc:
        a.instruct(" ", T0, "leader:l1")
    assert exc.value.field == "text"
    assert a.follow("l1", T0, "leader:l1").kind == "followed"
    assert a.follow("l1", T0, "leader:l1") is None and a.followers == ["l1"]
    assert a.unfollow("l1", T0, "leader:l1").kind == "unfollowed" and a.followers == []
    assert a.unfollow("l1", T0, "leader:l1") is None


def test_followers_are_capped(cal):
    a = dispatched(cal)
    for n in range(Appeal.MAX_FOLLOWERS):
        a.follow(f"l{n}", T0, "leader:x")
    with pytest.raises(ConflictError):
        a.follow("one-too-many", T0, "leader:x")


def test_feed_entries_fit_one_transaction():
    """FeedItem.for_events: per event and follower when it fits, else one digest per follower."""
    import os

    os.environ.setdefault("JIESU_TABLE", "jiesu-test")
    from chalicelib.domain.appeal import CaseEvent
    from chalicelib.storage.models import FeedItem

    at = datetime(2026, 5, 6, 2, 0, tzinfo=timezone.utc)
    events = [CaseEvent(n, at, f"k{n}", "x") for n in range(1, 5)]
    small = FeedItem.for_events("A1", ["a", "b"], events, room=90)
    assert len(small) == 8 and {i.PK for i in small} == {"FEED#a", "FEED#b"}
    assert small[0].SK == "2026-05-06T02:00:00.000+00:00#A1#000001"
    big = FeedItem.for_events("A1", [f"l{n}" for n in range(20)], events, room=30)
    assert len(big) == 20 and all(i.event_kind == "digest" and len(i.data["events"]) == 4 for i in big)
    assert FeedItem.for_events("A1", [], events, 90) == []


# -- urgency raised by a joining report (F-DD-2) ----------------------------------------------

def test_a_more_urgent_report_raises_the_urgency_and_recomputes_running_deadlines(cal):
    fri = datetime(2026, 3, 6, 10, tzinfo=SHANGHAI)       # complaint: 3 working days → Wed 03-11
    a = dispatched(cal, at=fri)
    a.sign_for(LEAD, fri + timedelta(minutes=5), ACTOR)
    a.request_extension(LEAD, "需协调供电局", datetime(2026, 3, 18, 10, tzinfo=SHANGHAI),
                        fri + timedelta(minutes=6), ACTOR)
    a.raise_alert("reply", 1, "warning", fri + timedelta(minutes=7), "system:deadlines")
    sign, contact, v1 = (a.to_dict()["deadlines"][s] for s in ("sign", "contact", "reply"))
    a.pull_events()

    new = a.raise_urgency(Urgency.URGENT, fri + timedelta(hours=1), "system:dedup", "A2",
                          DeadlinePolicy.default(), cal)
    assert a.urgency is Urgency.URGENT
    reply = a.to_dict()["deadlines"]["reply"]
    assert [d.step for d in new] == ["reply"] and new[0].to_dict() == {
        k: v for k, v in reply.items() if k != "pending_extension"}
    # 急件: 3 calendar days from the same start (Mon 03-09 10:00), as version 2.
    assert (reply["version"], reply["start"], reply["due_at"], reply["limit"]) == (
        2, v1["start"], datetime(2026, 3, 9, 10, tzinfo=SHANGHAI).isoformat(), {"kind": "days", "amount": 3})
    assert reply["pending_extension"] == v1["pending_extension"]      # the unit's request stays
    assert a.to_dict()["deadlines"]["sign"] == sign                    # done: untouched
    assert a.to_dict()["deadlines"]["contact"] == contact              # no urgency limit: same version
    assert "reply:warning" not in a.handling_clock.alerts              # version 2 raises its own
    raised, recomputed = a.new_events
    assert (raised.kind, raised.actor, raised.data) == (
        "urgency_raised", "system:dedup", {"from": "普通", "to": "急件", "reason": "A2"})
    assert recomputed.kind == "deadline_recomputed" and recomputed.actor == "system:dedup"
    assert recomputed.data["reason"] == "A2" and recomputed.data["step"] == "reply"
    assert recomputed.data["previous"]["version"] == 1 and recomputed.data["previous"]["due_at"] == v1["due_at"]
    assert recomputed.data["deadline"]["version"] == 2

    # A report of equal or lower urgency changes nothing.
    for lower in (Urgency.URGENT, Urgency.IMMEDIATE, Urgency.NORMAL):
        assert a.raise_urgency(lower, fri + timedelta(hours=2), "system:dedup", "A3",
                               DeadlinePolicy.default(), cal) == []
    assert a.urgency is Urgency.URGENT and len(a.new_events) == 2


def test_urgency_order_and_a_raise_never_gives_a_step_more_time(cal):
    a = dispatched(cal)                       # Wed 05-06 10:00 complaint → Sat 05-09 (调休) 10:00
    policy = DeadlinePolicy.default()
    a.raise_urgency("即办件", T0 + timedelta(hours=1), "system:dedup", "A2", policy, cal)
    assert a.urgency is Urgency.IMMEDIATE
    assert a.handling_clock.deadline("reply").version == 2
    assert a.handling_clock.deadline("reply").due_at == T0 + timedelta(hours=15)
    # 急件 ranks above 即办件, but its 3 days would end later than the 15 hours running: kept.
    assert a.raise_urgency("急件", T0 + timedelta(hours=2), "system:dedup", "A3", policy, cal) == []
    assert a.urgency is Urgency.URGENT
    assert a.handling_clock.deadline("reply").version == 2
    assert a.handling_clock.deadline("reply").due_at == T0 + timedelta(hours=15)
    assert [e.data["to"] for e in a.new_events if e.kind == "urgency_raised"] == ["即办件", "急件"]


def test_before_dispatch_only_the_urgency_changes(cal):
    cmd = NewAppeal(channel="hotline", ticket_id="T-2", appeal_type=AppealType.COMPLAINT, urgency=Urgency.NORMAL,
                    content="井盖破损", reported_at=T0)
    a = Appeal.take_in(cmd, "A9", "shenzhen", T0)
    assert a.raise_urgency(Urgency.IMMEDIATE, T0, "system:dedup", "A10") == []
    assert a.urgency is Urgency.IMMEDIATE and a.handling_clock.steps == {}
    assert a.new_events[-1].kind == "urgency_raised"
