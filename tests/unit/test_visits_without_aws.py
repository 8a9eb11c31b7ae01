"""Return visits (回访, F-EV-3) on the fakes of tests/fakes.py: no moto, no AWS client.

Candidates are written by the reply's own commit (services/work.py REACTIONS), the planner
(services/visits.plan) reads hour buckets from its mark, and a visitor's call is the staff
action `visit` (services/staff.perform), all through the real unit of work.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.appeal import Appeal, AppealType, NewAppeal, Status, Urgency
from chalicelib.domain.errors import ConflictError, DomainError, ValidationError
from chalicelib.domain.return_visit import VISIT_ACTOR, VisitCandidate, VisitPolicy, hour_bucket
from chalicelib.services import staff, visits, work
from chalicelib.storage import keys
from chalicelib.storage import records as rec
from chalicelib.storage.models import SweepStateItem
from tests.fakes import fake_platform, shenzhen_runtime
from tests.unit.test_services_without_aws import no_aws  # noqa: F401 - every test runs without AWS

T0 = datetime(2026, 5, 6, 2, 30, tzinfo=timezone.utc)     # the replies: Wednesday 10:30 in Shenzhen
PLAN_AT = datetime(2026, 5, 7, 3, 5, tzinfo=timezone.utc)  # T0's bucket (02h) is 24 h + 1 h old
LEAD = "U440306002-JD"                                     # 西乡街道办事处
MANHOLE = "01.06.006"                                      # 市政井盖缺失破损
ANSWER = "已补装井盖并设置围挡，现场复查已恢复安全通行，联系电话13812345678"
GOOD = {"speed": 5, "effect": 5, "service": 4, "reply_quality": 5}
BAD = {"speed": 2, "effect": 1, "service": 3, "reply_quality": 2}
VISITOR = Principal("v-sub-1", "visitor1", Role.VISITOR, "shenzhen", "U440300-SMS", "440300")
SAMPLED = ["07", "11", "15", "18"]     # of V0001..V0020 round 0, the 30 % sample (a hash: fixed)


class Region:
    """The Shenzhen runtime with another return-visit policy (nothing else rebuilt)."""

    def __init__(self, policy: VisitPolicy):
        self._rt, self.visit_policy = shenzhen_runtime(), policy

    def __getattr__(self, name):
        return getattr(self._rt, name)


def platform(policy: VisitPolicy = VisitPolicy(), mark_at: datetime = T0 - timedelta(hours=1)):
    """Fakes with the policy; the planner has run every 15 minutes up to the hour of `mark_at`."""
    p = fake_platform(T0, region=Region(policy))
    p.store.move_visit_mark("shenzhen", hour_bucket(mark_at), mark_at)
    return p


def commit(p, *appeals: Appeal, create: bool = False) -> None:
    uow = p.store.unit_of_work(p.now())
    for a in appeals:
        (uow.create if create else uow.track)(a)
    work.commit(p, uow)


def answered(p, n: int, at: datetime = T0) -> str:
    """Appeal V<n> taken in, dispatched, signed, contacted and answered at `at`, committed as one
    change (so the reply's candidate is written by the commit's reactions)."""
    p.clock.at = at
    cmd = NewAppeal(channel="hotline", ticket_id=f"T{n}", appeal_type=AppealType.COMPLAINT, urgency=Urgency.NORMAL,
                    content="西乡大道井盖丢失，很危险", reported_at=at, title="井盖丢失，电话13812345678")
    a = Appeal.take_in(cmd, f"20260506-V{n:04d}", "shenzhen", at)
    a.locate("440306", "440306002")
    a.dispatch_to(LEAD, MANHOLE, "v1", "440306", at, "system:dispatch", "auto")
    a.sign_for(LEAD, at, "unit_handler:h1")
    a.contact_citizen(LEAD, "已电话联系", at, "unit_handler:h1")
    a.reply_to_citizen(LEAD, ANSWER, [], at, "unit_handler:h1")
    commit(p, a, create=True)
    return a.appeal_id


def rated(p, appeal_id: str, scores: dict) -> None:
    """The citizen's rating of the current round, concluded as services/evaluation.rate does."""
    a = p.store.load_appeal(appeal_id)
    a.record_rating(scores, "", p.now(), "citizen:hotline", a.evaluation.redo_count)
    a.conclude(scores is BAD, p.now(), "citizen:hotline", "rating")
    commit(p, a)


def planned(p) -> list[str]:
    """The appeals (last two digits) with a visit task."""
    return sorted(i.appeal_id[-2:] for i in p.store.items_of("visit_task"))


def visit(p, appeal_id: str, at: datetime, **body):
    p.clock.at = at
    return staff.perform(p, appeal_id, "visit", VISITOR, body)


def task(p, appeal_id: str):
    [t] = p.store.visit_tasks(appeal_id)
    return t


# --- the policy ----------------------------------------------------------------------------------

def test_the_regions_set_their_visit_policy_shenzhen_a_30_percent_sample_laixi_all():
    from tests.fakes import ROOT, region_runtime

    assert (shenzhen_runtime().visit_policy, region_runtime(str(ROOT / "regions" / "laixi")).visit_policy) == (
        VisitPolicy("sample", 0.3, 24, 3, 4), VisitPolicy("all", None, 24, 3, 4))


# --- candidates and the planner ----------------------------------------------------------------------

def test_the_reply_writes_its_candidate_in_its_own_transaction():
    p = platform()
    appeal_id = answered(p, 1)
    key = (keys.visit_candidates_pk("shenzhen", "2026-05-06T02"), keys.visit_candidate_sk(appeal_id, 0))
    assert (p.store.visit_candidates("shenzhen", "2026-05-06T02")[0].appeal_id, key in p.store.transactions[-1].keys,
            p.store.transactions[-1].outcome) == (appeal_id, True, "committed")


def twenty_answered(p) -> None:
    """V0001..V0020 answered at T0; V0001 and V0002 rated unsatisfied (sent back to redo), V0003
    rated satisfied (closed). V0021 is a duplicate joined to V0001 with a candidate row of its own
    (no reply writes one: the planner must skip it all the same)."""
    for n in range(1, 21):
        answered(p, n)
    for n, scores in ((1, BAD), (2, BAD), (3, GOOD)):
        rated(p, f"20260506-V{n:04d}", scores)
    cmd = NewAppeal(channel="hotline", ticket_id="T21", appeal_type=AppealType.COMPLAINT, urgency=Urgency.NORMAL,
                    content="西乡大道井盖没了", reported_at=T0)
    dup = Appeal.take_in(cmd, "20260506-V0021", "shenzhen", T0)
    dup.join_master("20260506-V0001", T0, "system:dedup", {"score": 0.9})
    uow = p.store.unit_of_work(T0)
    uow.create(dup)
    uow.add(VisitCandidate("shenzhen", dup.appeal_id, 0, T0))
    work.commit(p, uow)


@pytest.mark.parametrize("policy, expected", [
    (VisitPolicy("all"), [f"{n:02d}" for n in range(1, 21)]),
    (VisitPolicy("sample", 0.3), sorted(["01", "02", *SAMPLED])),
    (VisitPolicy("unsatisfied"), ["01", "02"]),
], ids=["all", "sample", "unsatisfied"])
def test_the_planner_visits_exactly_the_rounds_its_policy_selects(policy, expected):
    p = platform(policy)
    twenty_answered(p)
    p.clock.at = PLAN_AT

    result = visits.plan(p)

    assert (planned(p), result["planned"], result["joined"], result["last_bucket"]) == (
        expected, len(expected), 1, "2026-05-06T02")


def test_a_rerun_over_the_same_buckets_writes_nothing_new():
    p = platform(VisitPolicy("sample", 0.3))
    twenty_answered(p)
    p.clock.at = PLAN_AT
    first = visits.plan(p)
    tasks = [i.serialize() for i in p.store.items_of("visit_task")]
    # An overlapping run that read the mark before the first one moved it.
    rewind = SweepStateItem(keys.visit_mark_pk("shenzhen"), keys.SWEEP_SK, last_bucket="2026-05-06T01",
                            updated_at="t")
    p.store.items[(rewind.PK, rewind.SK)] = rewind.serialize()

    again = visits.plan(p)

    assert (first["planned"], again["planned"], again["already"],
            [i.serialize() for i in p.store.items_of("visit_task")] == tasks) == (6, 0, 6, True)


def test_a_long_outage_is_caught_up_over_several_runs_oldest_first():
    start = T0 - timedelta(hours=40)          # the planner last ran 40 h before the replies' hour
    p = platform(mark_at=start)
    old, new = answered(p, 1, start + timedelta(hours=1, minutes=5)), answered(p, 2, T0)
    p.clock.at = PLAN_AT                      # 40 buckets to read, 24 a run

    runs = [visits.plan(p) for _ in range(3)]

    assert [(r["buckets"], r["buckets_behind"], r["planned"]) for r in runs] + [planned(p)] == [
        (24, 16, 1), (16, 0, 1), (0, 0, 0), [old[-2:], new[-2:]]]


def test_nothing_is_planned_before_its_after_hours():
    p = platform()
    answered(p, 1)
    p.clock.at = PLAN_AT - timedelta(minutes=10)     # 02h's replies are not all 24 h old yet
    assert (visits.plan(p)["last_bucket"], planned(p)) == ("2026-05-06T01", [])


# --- a visitor's call -----------------------------------------------------------------------------------

def with_task(policy: VisitPolicy = VisitPolicy(), rating: dict | None = None):
    p = platform(policy)
    appeal_id = answered(p, 1)
    if rating:
        rated(p, appeal_id, rating)
    p.clock.at = PLAN_AT
    assert visits.plan(p)["planned"] == 1
    return p, appeal_id


def test_a_citizen_not_reached_is_called_again_after_the_retry_hours_and_given_up_at_the_last_attempt():
    p, appeal_id = with_task(VisitPolicy(max_attempts=3, retry_after_hours=4))
    t1 = PLAN_AT + timedelta(minutes=5)
    seen, refused = [], []
    for at in (t1, t1 + timedelta(hours=1), t1 + timedelta(hours=4), t1 + timedelta(hours=8),
               t1 + timedelta(hours=12)):
        try:
            visit(p, appeal_id, at, reached=False, note="无人接听")
        except ConflictError as exc:
            refused.append(exc.code)
            continue
        t = task(p, appeal_id)
        seen.append((t.attempts, t.state, t.due_at - at))
    queue = p.store.visit_queue("shenzhen", 10)
    assert (seen, refused, queue, p.store.load_appeal(appeal_id).status) == (
        [(1, "open", timedelta(hours=4)), (2, "open", timedelta(hours=4)), (3, "unreached", timedelta(0))],
        ["visit_not_due", "no_open_visit"], [], Status.REPLIED)


def test_unresolved_on_a_replied_appeal_sends_it_back_to_redo_with_the_redo_deadlines_and_the_redo_notice():
    p, appeal_id = with_task()
    at = PLAN_AT + timedelta(minutes=5)

    result = visit(p, appeal_id, at, reached=True, resolved="未解决", satisfied="基本满意", note="井盖仍未补装")

    a = p.store.load_appeal(appeal_id)
    # `answered` ran no clock: every due entry of the appeal is the redo's, started at the visit.
    redo_clock = sorted({(d.step, a.handling_clock.deadline(d.step).start == at)
                         for d in (rec.due_entry(i) for i in p.store.items_of("due")) if d.appeal_id == appeal_id})
    notices = [h.message["status"] for h in p.publisher.published if h.topic == "status"]
    assert (result.status, a.evaluation.redo_count, task(p, appeal_id).state, redo_clock, notices[-1]) == (
        Status.REDO, 1, "done", [("contact", True), ("reply", True), ("sign", True)], "redo")


@pytest.mark.parametrize("redone, expected", [(False, (Status.REDO, "redo")), (True, (Status.SUPERVISED, "supervised"))],
                         ids=["closed", "closed_after_a_redo"])
def test_unsatisfied_on_a_closed_appeal_reopens_it_to_redo_or_after_a_redo_to_supervision(redone, expected):
    p = platform(VisitPolicy("all"))
    appeal_id = answered(p, 1)
    if redone:                            # round 0 rated unsatisfied, redone and answered again (round 1)
        rated(p, appeal_id, BAD)
        a = p.store.load_appeal(appeal_id)
        a.sign_for(LEAD, p.now(), "unit_handler:h1")
        a.contact_citizen(LEAD, "再次联系", p.now(), "unit_handler:h1")
        a.reply_to_citizen(LEAD, ANSWER, [], p.now(), "unit_handler:h1")
        commit(p, a)
    rated(p, appeal_id, GOOD)             # closed
    p.clock.at = PLAN_AT
    visits.plan(p)
    if redone:                            # round 0's visit comes first (due first): recorded only
        visit(p, appeal_id, PLAN_AT + timedelta(minutes=1), reached=True, resolved="解决", satisfied="满意")

    visit(p, appeal_id, PLAN_AT + timedelta(minutes=5), reached=True, resolved="部分解决", satisfied="不满意")

    a = p.store.load_appeal(appeal_id)
    [reopened] = [e for e in p.store.load_case_file(appeal_id) if e.kind == "reopened_after_visit"]
    assert (a.status, reopened.data["to"], a.evaluation.redo_count, a.public_status()) == (*expected, 1, "redo")


def test_a_satisfied_visit_closes_a_replied_appeal_the_citizen_has_not_rated():
    p, appeal_id = with_task()
    result = visit(p, appeal_id, PLAN_AT + timedelta(minutes=5), reached=True, resolved="解决", satisfied="满意")
    closed = [e for e in p.store.load_case_file(appeal_id) if e.kind == "closed"]
    assert (result.status, task(p, appeal_id).state, closed[0].actor) == (Status.CLOSED, "done", VISIT_ACTOR)


def test_the_same_call_sent_again_is_409_and_writes_nothing():
    p, appeal_id = with_task()
    body = {"reached": True, "resolved": "解决", "satisfied": "满意", "called_at": "2026-05-07T11:00:00+08:00"}
    visit(p, appeal_id, PLAN_AT + timedelta(minutes=5), **body)
    before = p.store.snapshot()
    with pytest.raises(ConflictError) as exc:
        visit(p, appeal_id, PLAN_AT + timedelta(minutes=6), **body)
    assert (exc.value.status, exc.value.code, p.store.snapshot() == before) == (409, "no_open_visit", True)


def test_an_appeal_without_an_open_visit_is_409():
    p = platform()
    appeal_id = answered(p, 1)
    with pytest.raises(ConflictError) as exc:
        visit(p, appeal_id, T0 + timedelta(hours=1), reached=False)
    assert (exc.value.status, exc.value.code) == (409, "no_open_visit")


@pytest.mark.parametrize("body, field", [
    ({"reached": True, "resolved": "解决", "satisfied": "满意", "called_at": "2026-05-07T12:00:00+08:00"}, "called_at"),
    ({"reached": True, "resolved": "解决", "satisfied": "满意", "called_at": "2026-05-06T10:00:00+08:00"}, "called_at"),
    ({"reached": True, "resolved": "解决", "satisfied": "满意", "called_at": "2026-05-07T10:00:00"}, "called_at"),
    ({"reached": True, "resolved": "解决", "satisfied": "满意", "called_at": "yesterday"}, "called_at"),
    ({"reached": True, "satisfied": "满意"}, "resolved"),
    ({"reached": True, "resolved": "解决", "satisfied": "还行"}, "satisfied"),
    ({"reached": False, "resolved": "解决"}, "resolved"),
    ({"reached": "yes"}, "reached"),
    ({"resolved": "解决"}, "reached"),
    ({"reached": False, "caller": "张三"}, "caller"),
], ids=["future", "before_the_reply", "no_timezone", "not_a_time", "no_resolved", "unknown_satisfied",
        "resolved_unreached", "reached_not_bool", "no_reached", "unknown_field"])
def test_bad_input_is_400_naming_the_field_and_writes_nothing(body, field):
    p, appeal_id = with_task()
    before = p.store.snapshot()
    with pytest.raises(ValidationError) as exc:
        visit(p, appeal_id, PLAN_AT + timedelta(minutes=5), **body)   # 11:10 in Shenzhen
    assert (exc.value.status, exc.value.field, p.store.snapshot() == before) == (400, field, True)


def test_the_citizen_visible_event_has_neither_the_caller_nor_the_note():
    p, appeal_id = with_task()
    visit(p, appeal_id, PLAN_AT + timedelta(minutes=5), reached=True, resolved="部分解决", satisfied="基本满意",
          note="市民说井盖换了但不平整", called_at="2026-05-07T11:00:00+08:00")

    events = [e for e in p.store.load_case_file(appeal_id) if e.kind.startswith("return_visit")]
    public = [e for e in p.store.load_case_file(appeal_id) if e.public]
    shown = json.dumps([(e.actor, e.data) for e in public], ensure_ascii=False)
    assert ([(e.kind, e.public, e.actor, e.data) for e in events], VISITOR.subject in shown, "不平整" in shown) == (
        [("return_visit", True, VISIT_ACTOR, {"round": 0, "attempt": 1, "reached": True, "resolved": "部分解决",
                                              "satisfied": "基本满意"}),
         ("return_visit_note", False, VISITOR.actor, {"round": 0, "attempt": 1, "caller": VISITOR.actor,
                                                      "note": "市民说井盖换了但不平整"})],
        False, False)


def test_the_visit_of_an_appeal_the_citizen_rated_is_recorded_and_changes_nothing_else():
    """A round rated unsatisfied was sent back already: its visit is recorded, the redo goes on."""
    p, appeal_id = with_task(VisitPolicy("unsatisfied"), rating=BAD)
    result = visit(p, appeal_id, PLAN_AT + timedelta(minutes=5), reached=True, resolved="未解决", satisfied="不满意")
    a = p.store.load_appeal(appeal_id)
    assert (result.status, a.evaluation.redo_count, task(p, appeal_id).state) == (Status.REDO, 1, "done")


# --- the visitors' queue ---------------------------------------------------------------------------------

def test_the_queue_lists_open_visits_oldest_due_first_with_the_answer_masked():
    p = platform()
    first, second = answered(p, 1, T0 + timedelta(minutes=20)), answered(p, 2, T0)
    p.clock.at = PLAN_AT
    visits.plan(p)

    queue = staff.visit_queue(p, VISITOR, 10)

    entry = queue["visits"][0]
    assert ([v["appeal_id"] for v in queue["visits"]], entry["due_at"], entry["category"]["item"],
            entry["unit_name"], "13812345678" in json.dumps(queue, ensure_ascii=False), entry["title"]) == (
        [second, first], "2026-05-07T02:30:00+00:00", "市政井盖缺失破损", "西乡街道办事处", False,
        "井盖丢失，电话138****5678")


def test_a_unit_handler_may_not_list_or_record_visits():
    p, appeal_id = with_task()
    handler = Principal("h1", "handler", Role.UNIT_HANDLER, "shenzhen", LEAD, "440306002")
    codes = []
    for call in (lambda: staff.visit_queue(p, handler, 10),
                 lambda: staff.perform(p, appeal_id, "visit", handler, {"reached": False})):
        try:
            call()
        except DomainError as exc:
            codes.append((exc.status, exc.code))
    assert codes == [(403, "forbidden_action"), (403, "forbidden_action")]
