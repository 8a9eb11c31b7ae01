"""The Appeal aggregate's own rules: one transition table, one PublicStatusChanged per public change,
components stored as the same JSON body as before the split, a pure domain without imports in functions."""
from __future__ import annotations

import ast
import copy
import json
import os
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from chalicelib.domain import events as ev
from chalicelib.domain.appeal import PUBLIC_STATUS, TRANSITIONS, Appeal, AppealType, NewAppeal, Status, Urgency
from chalicelib.domain.calendar import SHANGHAI, WorkCalendar
from chalicelib.domain.deadlines import DeadlinePolicy, compute_deadline
from chalicelib.domain.errors import DomainError
from chalicelib.domain.return_visit import VisitOutcome, VisitPolicy, VisitTask

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 5, 6, 10, 0, tzinfo=SHANGHAI)  # a Wednesday
LEAD, OTHER = "U440303001-JD", "U440303002-JD"
ANSWER = "已于当日更换故障路灯灯具，夜间复查照明恢复正常"
BAD = {"speed": 2, "effect": 1, "service": 3, "reply_quality": 2}
GOOD = {"speed": 5, "effect": 5, "service": 5, "reply_quality": 5}
CAL = WorkCalendar.weekends_only()


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def new(appeal_id: str = "A1", urgency: Urgency = Urgency.NORMAL) -> Appeal:
    cmd = NewAppeal(channel="hotline", ticket_id=f"T-{appeal_id}", appeal_type=AppealType.COMPLAINT,
                    urgency=urgency, content="路灯不亮", reported_at=T0)
    return Appeal.take_in(cmd, appeal_id, "shenzhen", T0)


def dispatch(a: Appeal, minute: int = 1) -> Appeal:
    a.dispatch_to(LEAD, "01.01.001", "v1", "440303", at(minute), "system:dispatch", "auto")
    a.start_clock([compute_deadline(DeadlinePolicy.default(), CAL, s, "投诉", a.urgency.value, at(minute))
                   for s in ("sign", "contact", "reply")], at(minute), "system:deadlines")
    return a


def handle(a: Appeal, minute: int) -> Appeal:
    a.sign_for(LEAD, at(minute), "unit_handler:h1")
    a.contact_citizen(LEAD, "电话已联系", at(minute + 1), "unit_handler:h1")
    a.reply_to_citizen(LEAD, ANSWER, [], at(minute + 2), "unit_handler:h1")
    return a


def rate(a: Appeal, scores: dict, minute: int) -> Appeal:
    a.record_rating(scores, "", at(minute), "citizen:hotline", a.evaluation.redo_count)
    a.conclude(scores is BAD, at(minute), "citizen:hotline", "rating")
    return a


# An appeal in each status, reached through the aggregate's own methods only.
BUILDERS = {
    "received": lambda: new(),
    "joined": lambda: _tap(new(), lambda a: a.join_master("M1", at(1), "system:dedup", {})),
    "pending_dispatch": lambda: _tap(new(), lambda a: a.queue_for_dispatcher("440303", at(1), "system:dispatch",
                                                                             "low confidence")),
    "dispatched": lambda: dispatch(new()),
    "signed": lambda: _tap(dispatch(new()), lambda a: a.sign_for(LEAD, at(2), "unit_handler:h1")),
    "contacted": lambda: _tap(BUILDERS["signed"](), lambda a: a.contact_citizen(LEAD, "已联系", at(3), "h")),
    "replied": lambda: handle(dispatch(new()), 2),
    "redo": lambda: rate(handle(dispatch(new()), 2), BAD, 10),
    "replied_after_redo": lambda: handle(rate(handle(dispatch(new()), 2), BAD, 10), 20),
    "supervised": lambda: rate(handle(rate(handle(dispatch(new()), 2), BAD, 10), 20), BAD, 30),
    "closed": lambda: rate(handle(dispatch(new()), 2), GOOD, 10),
    "closed_after_redo": lambda: rate(handle(rate(handle(dispatch(new()), 2), BAD, 10), 20), GOOD, 30),
}


def visit(a: Appeal, reached: bool, resolved: str | None = None, satisfied: str | None = None):
    """A visitor's call about the appeal's current handling round (回访)."""
    task = VisitTask("shenzhen", a.appeal_id, a.evaluation.redo_count, T0, T0 + timedelta(hours=24), T0)
    return a.record_return_visit(task, VisitOutcome(reached, resolved, satisfied, "", at(90)), VisitPolicy(),
                                 at(90), "visitor:v1")


def _tap(a: Appeal, fn) -> Appeal:
    fn(a)
    return a


def _dup() -> Appeal:
    return new("A2", Urgency.URGENT)


# Every public method that may change state, with arguments that satisfy everything but the status.
OPERATIONS = {
    "join_master": lambda a: a.join_master("M9", at(90), "system:dedup", {}),
    "split_from_master": lambda a: a.split_from_master(at(90), "dispatcher:d1", "wrongly joined"),
    "dispatch_to": lambda a: a.dispatch_to(OTHER, "01.01.002", "v1", "440303", at(90), "dispatcher:d1", "manual"),
    "queue_for_dispatcher": lambda a: a.queue_for_dispatcher("440303", at(90), "system:dispatch", "low"),
    "return_by_unit": lambda a: a.return_by_unit(LEAD, "不属于本单位职责", at(90), "h", timedelta(days=9)),
    "escalate": lambda a: a.escalate("440300", at(90), "h", "需市级协调"),
    "arbitrate": lambda a: a.arbitrate(OTHER, "01.01.002", "v1", "440303", at(90), "dispatcher:d1", "裁定"),
    "sign_for": lambda a: a.sign_for(LEAD, at(90), "h"),
    "contact_citizen": lambda a: a.contact_citizen(LEAD, "已联系", at(90), "h"),
    "reply_to_citizen": lambda a: a.reply_to_citizen(LEAD, ANSWER, [], at(90), "h"),
    "conclude_satisfied": lambda a: a.conclude(False, at(90), "citizen:hotline", "rating"),
    "conclude_unsatisfied": lambda a: a.conclude(True, at(90), "citizen:hotline", "rating"),
    "visit_satisfied": lambda a: visit(a, True, "解决", "满意"),
    "visit_unsatisfied": lambda a: visit(a, True, "未解决", "基本满意"),
    "visit_unreached": lambda a: visit(a, False),
    "reopen_after_visit": lambda a: a.reopen_after_visit(at(90), "return visit: 未解决"),
    # These never change the status.
    "absorb": lambda a: a.absorb(_dup(), "h1", at(90), "system:dedup", {}),
    "release": lambda a: a.release("A2", at(90), "dispatcher:d1", "wrong"),
    "raise_urgency": lambda a: a.raise_urgency(Urgency.URGENT, at(90), "system:dedup", "A2",
                                               DeadlinePolicy.default(), CAL),
    "set_joint": lambda a: a.set_joint(LEAD, [OTHER], at(90), "dispatcher:d1"),
    "flag_key": lambda a: a.flag_key("rule: urgent", at(90), "system:dispatch"),
    "open_consultation": lambda a: a.open_consultation(2, [LEAD, OTHER], at(90), "dispatcher:d1", "谁负责"),
    "add_unit_note": lambda a: a.add_unit_note(LEAD, "已到场", at(90), "h"),
    "request_extension": lambda a: a.request_extension(LEAD, "需协调", at(60 * 24 * 30), at(90), "h"),
    "raise_alert": lambda a: a.raise_alert("reply", 1, "warning", at(90), "system:deadlines"),
    "record_rating": lambda a: a.record_rating(GOOD, "", at(90), "citizen:hotline", 7),
    "instruct": lambda a: a.instruct("请尽快办结", at(90), "leader:l1"),
    "follow": lambda a: a.follow("l1", at(90), "leader:l1"),
}
MOVES = {"join_master", "split_from_master", "dispatch_to", "queue_for_dispatcher", "return_by_unit", "escalate",
         "arbitrate", "sign_for", "contact_citizen", "reply_to_citizen", "conclude_satisfied",
         "conclude_unsatisfied", "visit_satisfied", "visit_unsatisfied", "reopen_after_visit"}
# Moves that, in some statuses, only record (a return visit of a REDO appeal): staying is no row.
MAY_STAY = {"visit_satisfied", "visit_unsatisfied"}


def _run_matrix():
    """(state, operation) -> (status before, status after, domain events) for each call that succeeds."""
    out = {}
    for state, build in BUILDERS.items():
        base = build()
        base.pull_events()
        base.pull_domain_events()
        for name, op in OPERATIONS.items():
            a = copy.deepcopy(base)
            before = a.status
            try:
                op(a)
            except DomainError:
                assert a.status == before
                continue
            out[(state, name)] = (before, a.status, a.pull_domain_events())
    return out


MATRIX = _run_matrix()


def test_every_status_change_of_every_method_is_a_row_of_the_table():
    for (state, name), (before, after, _) in MATRIX.items():
        if name in MOVES:
            assert after in TRANSITIONS[before] or name in MAY_STAY and after == before, (state, name, before, after)
        else:
            assert after == before, (state, name)


def test_the_table_is_exactly_what_the_methods_can_do():
    done = {(b, a) for (_, name), (b, a, _) in MATRIX.items() if name in MOVES and not (name in MAY_STAY and a == b)}
    table = {(b, a) for b, targets in TRANSITIONS.items() for a in targets}
    assert done == table


def test_status_changes_only_in_move_to():
    """No code in chalicelib assigns an appeal's status except Appeal.move_to."""
    offenders = []
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            for node in ast.walk(fn):
                targets = node.targets if isinstance(node, ast.Assign) else \
                    [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
                for t in targets:
                    for leaf in ast.walk(t):
                        if isinstance(leaf, ast.Attribute) and leaf.attr == "status" and fn.name != "move_to":
                            offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} in {fn.name}")
    assert offenders == []


def test_public_status_changed_once_per_public_change_of_any_method():
    for (state, name), (before, after, events) in MATRIX.items():
        changes = [(e.before, e.after) for e in events if isinstance(e, ev.PublicStatusChanged)]
        public = (PUBLIC_STATUS[before], PUBLIC_STATUS[after])
        assert changes == ([public] if public[0] != public[1] else []), (state, name)


def test_a_whole_life_hears_each_public_change_exactly_once():
    a = new()
    first = a.pull_domain_events()
    assert [type(e) for e in first] == [ev.AppealReceived]          # intake says "accepted" itself
    assert (first[0].channel, first[0].appeal_type, first[0].urgency) == ("hotline", "投诉", "普通")
    heard, facts = [], []
    steps = [
        lambda: dispatch(a),
        lambda: a.sign_for(LEAD, at(2), "h"),
        lambda: a.contact_citizen(LEAD, "电话已联系", at(3), "h", how="relay"),
        lambda: a.reply_to_citizen(LEAD, ANSWER, [], at(4), "h"),
        lambda: a.record_rating(BAD, "", at(5), "citizen:hotline", 0),
        lambda: a.conclude(True, at(5), "citizen:hotline", "rating"),            # 重办
        lambda: a.sign_for(LEAD, at(6), "h"),
        lambda: a.contact_citizen(LEAD, "再次联系", at(7), "h"),
        lambda: a.reply_to_citizen(LEAD, ANSWER, [], at(8), "h"),
        lambda: a.record_rating(GOOD, "", at(9), "citizen:hotline", 1),
        lambda: a.conclude(False, at(9), "citizen:hotline", "rating"),
    ]
    for step in steps:
        before = a.public_status()
        step()
        events = a.pull_domain_events()
        changes = [(e.before, e.after) for e in events if isinstance(e, ev.PublicStatusChanged)]
        assert changes == ([(before, a.public_status())] if a.public_status() != before else [])
        assert all(e.appeal_id == "A1" and e.at.tzinfo for e in events)
        heard += changes
        facts += [type(e).__name__ for e in events if not isinstance(e, ev.PublicStatusChanged)]
    assert heard == [("accepted", "dispatched"), ("dispatched", "replied"), ("replied", "redo"),
                     ("redo", "dispatched"), ("dispatched", "replied"), ("replied", "closed")]
    assert facts == ["Dispatched", "Signed", "Contacted", "Replied", "Rated", "Redone", "Signed", "Contacted",
                     "Replied", "Rated", "Closed"]
    assert a.pull_domain_events() == [] and a.status == Status.CLOSED


def test_domain_events_carry_the_facts():
    a = dispatch(new())
    dispatched = next(e for e in a.pull_domain_events() if isinstance(e, ev.Dispatched))
    assert (dispatched.unit_id, dispatched.catalog_code, dispatched.catalog_version, dispatched.loop,
            dispatched.how) == (LEAD, "01.01.001", "v1", "440303", "auto")
    a.raise_alert("sign", 1, "overdue", at(20), "system:deadlines")
    a.return_by_unit(LEAD, "非本单位职责", at(21), "h", timedelta(hours=24))
    assert [type(e) for e in a.pull_domain_events()] == [
        ev.AlertRaised, ev.Returned, ev.QueuedForDispatcher, ev.PublicStatusChanged]
    a = handle(dispatch(new()), 2)
    a.record_rating(BAD, "", at(10), "citizen:hotline", 0)
    rated = [e for e in a.pull_domain_events() if isinstance(e, ev.Rated)]
    assert [(e.scores, e.unsatisfied, e.round) for e in rated] == [(BAD, True, 0)]


def test_key_work_rule_takes_the_regions_values():
    a = new(urgency=Urgency.URGENT)
    assert a.key_reasons(min_reports=5, urgent_is_key=True) == ["urgent (急件)"]
    assert a.key_reasons(min_reports=5, urgent_is_key=False) == []
    a.weight = 3
    assert a.key_reasons(min_reports=3, urgent_is_key=False) == ["3 reports of the same event"]


# --- stored form -------------------------------------------------------------------------------

STORED = json.loads((ROOT / "tests" / "data" / "stored_appeals.json").read_text(encoding="utf-8"))["items"]
NEWER_FIELDS = {"tracking_salt": ""}   # issue 16: appeals taken in before tracking links have none


@pytest.mark.parametrize("attrs", STORED, ids=[i["appeal_id"]["S"] for i in STORED])
def test_a_stored_appeal_loads_and_saves_back_unchanged(attrs):
    """Bodies written before the components (deadlines as ISO-string dicts) load into value objects
    and are written back attribute for attribute, the body the same JSON (stored as text then,
    packed now: compact UTF-8 JSON, zlib, issue 21)."""
    os.environ.setdefault("JIESU_TABLE", "jiesu-test")
    from chalicelib.storage.models import AppealItem
    from chalicelib.storage.repository import appeal_to_item, item_to_appeal

    appeal = item_to_appeal(AppealItem.from_raw_data(copy.deepcopy(attrs)))
    assert all(isinstance(c.deadline.due_at, datetime) for c in appeal.handling_clock.steps.values())
    out = appeal_to_item(appeal).serialize()
    body_in, body_out = attrs["body"]["S"], zlib.decompress(out["body"]["B"]).decode()
    # Fields added since these bodies were stored come back at their defaults, and only they.
    newer = {k: v for k, v in json.loads(body_out).items() if k not in json.loads(body_in)}
    assert newer == NEWER_FIELDS
    assert {k: v for k, v in json.loads(body_out).items() if k not in newer} == json.loads(body_in)
    assert {k: v for k, v in out.items() if k != "body"} == {k: v for k, v in attrs.items() if k != "body"}
    # The staff view's JSON is the stored body's.
    shown = appeal.to_dict()
    stored = json.loads(body_in)
    for name in ("deadlines", "alerts", "reply", "rating", "dispatch_info", "assisting_unit_ids",
                 "overseeing_unit_ids", "unit_id", "loop", "return_count", "first_handler_locked", "redo_count"):
        assert shown[name] == stored[name], name


def test_a_stored_deadline_is_a_value_object_with_its_marks():
    os.environ.setdefault("JIESU_TABLE", "jiesu-test")
    from chalicelib.storage.models import AppealItem
    from chalicelib.storage.repository import item_to_appeal

    open_one = item_to_appeal(AppealItem.from_raw_data(copy.deepcopy(STORED[0])))
    sign, reply = open_one.handling_clock.get("sign"), open_one.handling_clock.get("reply")
    assert sign.alerted == ("warning",) and sign.done_at is not None and not sign.running
    assert reply.running and reply.pending_extension.new_due_at == datetime(2026, 5, 20, 18, tzinfo=SHANGHAI)
    assert open_one.handling_clock.alerts == ["sign:warning"]
    redone = item_to_appeal(AppealItem.from_raw_data(copy.deepcopy(STORED[1])))
    assert redone.evaluation.rating.unsatisfied and redone.evaluation.redo_count == 1
    assert redone.evaluation.reply.at == datetime(2026, 5, 6, 19, 0, tzinfo=timezone.utc)
    # Older than working hours on deadlines: read with the default, written back without.
    assert "working_hours" not in redone.to_dict()["deadlines"]["reply"]
    assert "working_hours" in redone.to_dict()["deadlines"]["sign"]


def test_new_events_are_not_stored():
    a = dispatch(new())
    assert a.new_events and a.domain_events
    fields = a.flat_fields()
    assert "new_events" not in fields and "domain_events" not in fields


# --- module structure ----------------------------------------------------------------------------

def test_the_domain_imports_nothing_inside_a_function():
    offenders = []
    for path in sorted((ROOT / "chalicelib" / "domain").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                offenders += [f"{path.name}:{n.lineno}" for n in ast.walk(node)
                              if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert offenders == []


@pytest.mark.parametrize("name", ["appeal", "assignment", "deadlines", "deadline_policy", "evaluation", "events",
                                  "handling_clock", "handling_steps", "lifecycle", "values", "calendar"])
def test_aggregate_modules_stay_small(name):
    assert len((ROOT / "chalicelib" / "domain" / f"{name}.py").read_text(encoding="utf-8").splitlines()) < 500
