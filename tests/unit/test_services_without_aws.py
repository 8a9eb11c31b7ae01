"""The services on the fakes of tests/fakes.py: no moto, and no AWS client is ever created (issue 15).

Every test runs under `no_aws`, which makes chalicelib.aws.client and botocore's create_client
(what boto3 and PynamoDB both go through) raise; test_the_aws_guard_is_on shows it does.
"""
from __future__ import annotations

import inspect
import itertools
import json
import sys
from collections import Counter
from datetime import datetime, timezone

import botocore.session
import pytest
from pynamodb.exceptions import TransactWriteError

from chalicelib import aws
from chalicelib.channels.signing import H_KEY_ID, H_NONCE, H_SIGNATURE, H_TIMESTAMP, sign
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.appeal import Party, Status
from chalicelib.domain.deadlines import minute_bucket
from chalicelib.domain.errors import AlreadyCreated, AuthenticationError, ConcurrentUpdate, ConflictError
from chalicelib.domain.records import Channel, DueEntry, Nonce
from chalicelib.services import dedup, deadlines, dispatch, evaluation, intake, outbox, staff
from chalicelib.storage import keys
from chalicelib.storage import records as rec
from chalicelib.storage.store import DynamoStore
from tests.conftest import channel_fixture
from tests.fakes import MemoryStore, fake_platform, shenzhen_runtime

T0 = datetime(2026, 5, 6, 2, 30, tzinfo=timezone.utc)     # a Wednesday, 10:30 in Shenzhen
KEY_ID, SECRET_REF, SECRET = "sz-hotline-1", "jiesu/channels/hotline", "hotline-test-secret"
CLEAR = ("西乡大道坪洲地铁站C出口旁的井盖丢失了，一个黑洞很危险，晚上有人差点掉下去，请尽快补上井盖。",
         "宝安区西乡街道西乡大道坪洲地铁站C出口")
SAME_EVENT = ("坪洲地铁站C出口那个井盖没了，很危险。", "西乡大道坪洲站附近")
CITY_MANAGEMENT_BAOAN = "U440306-CG"      # who the Shenzhen pack's model gives CLEAR to
ANSWER = "已补装井盖并设置围挡，现场复查已恢复安全通行"
GOOD = {"speed": 5, "effect": 5, "service": 4, "reply_quality": 5}

_tickets = itertools.count(1)
_nonces = itertools.count(1)


# --- no AWS ------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def no_aws(monkeypatch):
    """Creating any AWS client fails the test: chalicelib.aws.client (and every module's imported
    name for it) and botocore's Session.create_client, which boto3 and PynamoDB both call."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"an AWS client was created in a test without AWS: {args}")

    real = aws.client
    monkeypatch.setattr(aws, "client", refuse)
    for name, module in list(sys.modules.items()):
        if name.startswith("chalicelib.") and getattr(module, "client", None) is real:
            monkeypatch.setattr(module, "client", refuse)
    monkeypatch.setattr(botocore.session.Session, "create_client", refuse)


def test_the_aws_guard_is_on():
    import boto3

    with pytest.raises(AssertionError, match="AWS client was created"):
        boto3.session.Session(region_name="us-east-1").client("sqs")


def test_the_memory_store_has_every_method_of_the_dynamo_store_with_the_same_parameters():
    def methods(store) -> dict[str, list]:
        return {n: [(q.name, q.default) for q in inspect.signature(getattr(store, n)).parameters.values()]
                for n in dir(store) if not n.startswith("_") and callable(getattr(store, n))}

    real, fake = methods(DynamoStore()), methods(MemoryStore())
    assert {n: real[n] for n in real if fake.get(n) != real[n]} == {}


# --- the platform and requests -----------------------------------------------------------------

@pytest.fixture(scope="module")
def rt():
    return shenzhen_runtime()


@pytest.fixture
def p(rt):
    platform = fake_platform(T0, region=rt, secrets={SECRET_REF: SECRET})
    platform.store.add_channel(Channel("hotline", "12345热线", {KEY_ID: SECRET_REF}, None, None, True))
    return platform


def signed(path: str, payload: dict, nonce: str | None = None) -> intake.ChannelRequest:
    """The hotline's signed POST, as the partner sends it (a fresh nonce unless one is given)."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    ts, nonce = str(int(T0.timestamp())), nonce or f"nonce-{next(_nonces):06d}"
    headers = {"Content-Type": "application/json", H_KEY_ID: KEY_ID, H_TIMESTAMP: ts, H_NONCE: nonce,
               H_SIGNATURE: sign(SECRET, "POST", path, ts, nonce, body)}
    return intake.ChannelRequest("hotline", "POST", path, headers, body)


def hotline(text: str, address: str, ticket: str | None = None) -> dict:
    payload = channel_fixture("hotline")
    payload.update(gdbh=ticket or f"SZ2026040200{next(_tickets):04d}", sqnr=text, fsdz=address, gdbt=text[:20],
                   jjcd="普通")
    return payload


def take_in(p, payload: dict, nonce: str | None = None) -> intake.IntakeResult:
    return intake.take_in(p, signed("/channels/hotline/appeals", payload, nonce))


def to_dispatch_stage(p, appeal_id: str) -> None:
    """What the dedup stage commits for a new master: the dispatch hand-off, the dedup one closed."""
    uow = p.store.unit_of_work(p.now())
    uow.track(p.store.load_appeal(appeal_id))
    uow.hand_off(outbox.stage_handoff("dispatch", appeal_id))
    uow.close(appeal_id, "dedup", "1")
    uow.commit()


def dispatched(p) -> str:
    appeal_id = take_in(p, hotline(*CLEAR)).body["appeal_id"]
    to_dispatch_stage(p, appeal_id)
    assert dispatch.process(p, appeal_id) == "dispatched"
    return appeal_id


def handler_of(rt, unit_id: str) -> Principal:
    return Principal("h1", "handler", Role.UNIT_HANDLER, "shenzhen", unit_id, rt.unit_jurisdictions[unit_id])


def leader_instructs(p, appeal_id: str) -> None:
    """Someone else's change of the appeal, committed on its own (a leader's 批示)."""
    other = p.store.load_appeal(appeal_id)
    other.instruct("请尽快处置，注意安全", p.now(), "leader:l1")
    uow = p.store.unit_of_work(p.now())
    uow.track(other)
    uow.commit()


# --- intake ------------------------------------------------------------------------------------

def test_intake_stores_the_appeal_with_its_ticket_nonce_party_and_hand_offs_and_answers_201(p):
    payload = hotline(*CLEAR)
    result = take_in(p, payload)
    appeal_id = result.body["appeal_id"]
    party = p.sealer.unseal(p.store.get_party(appeal_id))
    assert (result.status_code, result.replayed, result.body["status"], p.store.kinds(), party,
            [(h.topic, h.message.get("status")) for h in p.publisher.published], p.publisher.unstored) == (
        201, False, "accepted",
        Counter(channel=1, appeal=1, event=1, ticket=1, nonce=1, party=1, outbox=3, tracking=1, public_view=1),
        Party(payload["ldrxm"], payload["zjhm"], payload["lxdh"]),
        [("dedup", None), ("status", "accepted"), ("analytics", None)], [])


def test_a_retry_of_the_same_ticket_gets_the_first_answer_and_stores_only_its_nonce(p):
    payload = hotline(*CLEAR)
    first = take_in(p, payload)
    before, published = p.store.snapshot(), len(p.publisher.sent)
    again = take_in(p, payload, nonce="the-retry")
    assert (again.status_code, again.replayed, again.body, set(p.store.snapshot()) - set(before),
            len(p.publisher.sent)) == (201, True, first.body, {(keys.nonce_pk(KEY_ID, "the-retry"), keys.NONCE_SK)},
                                       published)


def test_the_same_ticket_with_another_payload_is_409_and_writes_nothing(p):
    payload = hotline(*CLEAR)
    take_in(p, payload)
    before = p.store.snapshot()
    with pytest.raises(ConflictError) as exc:
        take_in(p, {**payload, "sqnr": payload["sqnr"] + "（补充：已有人受伤）"})
    assert (exc.value.status, exc.value.code, p.store.snapshot() == before) == (409, "ticket_conflict", True)


def test_a_spent_nonce_is_401_and_nothing_of_the_appeal_it_carries_is_stored(p):
    take_in(p, hotline(*CLEAR), nonce="once")
    before, published = p.store.snapshot(), len(p.publisher.sent)
    with pytest.raises(AuthenticationError) as exc:
        take_in(p, hotline(*SAME_EVENT), nonce="once")
    assert (exc.value.status, exc.value.code, p.store.snapshot() == before, len(p.publisher.sent)) == (
        401, "replayed_nonce", True, published)


# --- dispatch ----------------------------------------------------------------------------------

def test_a_clear_appeal_is_dispatched_its_notice_published_after_the_commit_and_its_due_entries_stored(p):
    appeal_id = take_in(p, hotline(*CLEAR)).body["appeal_id"]
    to_dispatch_stage(p, appeal_id)
    published = len(p.publisher.published)

    outcome = dispatch.process(p, appeal_id)

    a = p.store.load_appeal(appeal_id)
    due = sorted((d.step, d.alert, d.deadline_version, d.at, d.bucket)
                 for d in (rec.due_entry(i) for i in p.store.items_of("due")) if d.appeal_id == appeal_id)
    expected_due = sorted((step, alert, 1, at, minute_bucket(at, round_up=True))
                          for step in deadlines.CLOCK_STEPS for alert, attr in deadlines.ALERTS
                          for at in [getattr(a.handling_clock.deadline(step), attr)])
    notices = [(h.topic, h.message["status"], h.message["appeal_id"]) for h in p.publisher.published[published:]
               if h.topic == "status"]
    assert (outcome, a.status, a.assignment.unit_id, a.street_code, notices, p.publisher.unstored,
            p.store.get_outbox(appeal_id, "dispatch", "1"), due) == (
        "dispatched", Status.DISPATCHED, CITY_MANAGEMENT_BAOAN, "440306002", [("status", "dispatched", appeal_id)],
        [], None, expected_due)


# --- staff steps -------------------------------------------------------------------------------

def test_a_sign_that_meets_a_concurrent_change_is_decided_again_on_a_fresh_copy(p, rt):
    appeal_id = dispatched(p)
    version = p.store.load_appeal(appeal_id).version
    p.store.before_next_commit(lambda: leader_instructs(p, appeal_id))   # between the sign's read and save

    result = staff.perform(p, appeal_id, "sign", handler_of(rt, CITY_MANAGEMENT_BAOAN), {})

    stored = p.store.load_appeal(appeal_id)
    case = [(e.seq, e.kind) for e in p.store.load_case_file(appeal_id)]
    assert (result.status, stored.status, stored.version, case[-2:], [t.outcome for t in p.store.transactions[-3:]]) == (
        Status.SIGNED, Status.SIGNED, version + 2, [(len(case) - 1, "leader_instruction"), (len(case), "signed")],
        ["committed", "cancelled", "committed"])


# --- evaluation --------------------------------------------------------------------------------

def replied(p, rt) -> str:
    appeal_id = dispatched(p)
    who = handler_of(rt, CITY_MANAGEMENT_BAOAN)
    for action, body in (("sign", {}), ("contact", {"note": "已电话联系诉求人"}), ("reply", {"answer": ANSWER})):
        staff.perform(p, appeal_id, action, who, body)
    return appeal_id


def test_a_rating_whose_commit_fails_writes_nothing_so_the_same_rating_can_be_sent_again(p, rt):
    """The spent nonce and the rating are one transaction (issue 15: a failure between the two
    rating saves spent the nonce and lost the rating, so the channel could not send it again)."""
    appeal_id = replied(p, rt)
    ticket = p.store.load_appeal(appeal_id).ticket_id
    req = signed(f"/channels/hotline/appeals/{ticket}/rating", GOOD)
    before = p.store.snapshot()
    p.store.fail_next_commit()             # TransactWriteItems lost in transport
    sent = len(p.publisher.sent)
    with pytest.raises(TransactWriteError):
        evaluation.rate(p, req, ticket)
    unchanged = p.store.snapshot() == before and len(p.publisher.sent) == sent
    nonces = p.store.kinds()["nonce"]

    again = evaluation.rate(p, req, ticket)

    assert (unchanged, again, p.store.kinds()["nonce"] - nonces,
            p.store.load_appeal(appeal_id).evaluation.rating.scores["effect"]) == (
        True, {"appeal_id": appeal_id, "rated": True, "unsatisfied": False, "status": "closed"}, 1, 5)


def test_a_rating_that_meets_a_concurrent_change_is_decided_again_on_a_fresh_copy(p, rt):
    """A leader's comment lands between the rating's read and its commit: the version guard
    refuses the first commit, nothing of it is written, and the rating is decided again on the
    new version in the same request (one nonce spent, the comment kept)."""
    appeal_id = replied(p, rt)
    ticket = p.store.load_appeal(appeal_id).ticket_id
    req = signed(f"/channels/hotline/appeals/{ticket}/rating", GOOD)
    p.store.before_next_commit(lambda: leader_instructs(p, appeal_id))
    nonces = p.store.kinds().get("nonce", 0)

    result = evaluation.rate(p, req, ticket)

    kinds = [e.kind for e in p.store.load_case_file(appeal_id)]
    assert (result, p.store.kinds()["nonce"] - nonces, kinds.count("leader_instruction"), kinds.count("rated")) == (
        {"appeal_id": appeal_id, "rated": True, "unsatisfied": False, "status": "closed"}, 1, 1, 1)


# --- de-duplication ----------------------------------------------------------------------------

def test_a_second_report_of_the_same_event_joins_the_first(p, rt):
    master = take_in(p, hotline(*CLEAR)).body["appeal_id"]
    dup = take_in(p, hotline(*SAME_EVENT)).body["appeal_id"]
    first = dedup.process(p, master, rt.dedup_policy)

    second = dedup.process(p, dup, rt.dedup_policy)

    m, d = p.store.load_appeal(master), p.store.load_appeal(dup)
    assert (first.outcome, second.outcome, second.master_id, d.status, d.master_id, m.duplicates, m.weight,
            p.store.get_outbox(dup, "dedup", "1"), p.store.get_outbox(dup, "dispatch", "1")) == (
        "new_master", "joined", master, Status.JOINED, master, [dup], 2, None, None)


# --- the fakes keep the unit of work's contract ------------------------------------------------

def test_a_loaded_appeal_is_a_copy_and_a_stale_copy_is_refused_with_its_version_restored(p):
    appeal_id = take_in(p, hotline(*CLEAR)).body["appeal_id"]
    fresh, stale = p.store.load_appeal(appeal_id), p.store.load_appeal(appeal_id)
    fresh.title = "changed in memory only"
    untouched = p.store.load_appeal(appeal_id).title
    for a in (fresh, stale):
        a.instruct("请核实", T0, "leader:l1")
    uow = p.store.unit_of_work(T0)
    uow.track(fresh)
    uow.commit()
    before = p.store.snapshot()
    late = p.store.unit_of_work(T0)
    late.track(stale)
    with pytest.raises(ConcurrentUpdate) as exc:
        late.commit()
    assert (untouched, p.store.load_appeal(appeal_id).title, fresh.version, stale.version, exc.value.reasons,
            p.store.snapshot() == before) == (
        CLEAR[0][:20], "changed in memory only", 2, 1, ["ConditionalCheckFailed"], True)


def test_add_once_refuses_a_stored_key_with_the_record_and_writes_nothing_of_its_unit_of_work(p):
    take_in(p, hotline(*CLEAR), nonce="n1")
    spent = Nonce(KEY_ID, "n1", T0, int(T0.timestamp()) + 600)
    before = p.store.snapshot()
    uow = p.store.unit_of_work(T0)
    uow.add(DueEntry("A-1", "reply", "overdue", 1, T0, minute_bucket(T0)))
    uow.add_once(spent)
    with pytest.raises(AlreadyCreated) as exc:
        uow.commit()
    assert (exc.value.record, p.store.snapshot() == before) == (spent, True)


# --- a big event: more joined reports than one transaction holds -------------------------------

def join(p, master_id: str, dup_id: str) -> None:
    """A report joined to its master, committed as the dedup stage commits a join."""
    master, dup = p.store.load_appeal(master_id), p.store.load_appeal(dup_id)
    dup.join_master(master_id, p.now(), "system:dedup", {"score": 1.0})
    master.absorb(dup, None, p.now(), "system:dedup", {"score": 1.0})
    uow = p.store.unit_of_work(p.now())
    uow.track(dup, master)
    uow.commit()


def test_a_master_with_150_joined_reports_is_dispatched_and_every_citizen_hears_of_it(p):
    """One status change of a master writes a notice per joined duplicate: 150 of them are more
    than DynamoDB's 100 actions. The change commits with the notices it has room for and ONE
    spill row carrying the rest; notify writes the rest out (each once, so a redelivered spill
    changes nothing) and sends them."""
    from chalicelib.services import notify

    master_id = take_in(p, hotline(*CLEAR)).body["appeal_id"]
    dup_ids = [take_in(p, hotline(*SAME_EVENT)).body["appeal_id"] for _ in range(150)]
    for dup_id in dup_ids:        # joined one by one, as the dedup stage joins them
        join(p, master_id, dup_id)
    to_dispatch_stage(p, master_id)

    assert dispatch.process(p, master_id) == "dispatched"
    [spill] = [h for h in p.publisher.published if h.topic == "spill"]
    stored_before = _told_in_outbox(p) - {master_id}
    assert notify.handle(p, spill.message) == "spilled"
    assert notify.handle(p, spill.message) == "already_spilled"
    told = {h.message["appeal_id"] for h in p.publisher.published
            if h.topic == "status" and h.message["status"] == "dispatched"}
    moved = {h["message"]["appeal_id"] for h in spill.message["handoffs"]}
    assert (len(moved) + len(stored_before), moved & stored_before, told, _told_in_outbox(p)) == (
        150, set(), {master_id, *dup_ids}, {master_id, *dup_ids})


def _told_in_outbox(p) -> set[str]:
    """Appeals with a stored `dispatched` status notice."""
    return {i.appeal_id for i in p.store.items_of("outbox")
            if i.SK.startswith("OUT#status#") and i.SK.endswith(".dispatched")}


def test_dispatch_that_loses_a_race_with_a_joining_report_decides_again_at_once(p):
    """A report joins the master between dispatch's read and its commit: the version guard
    refuses the commit, and dispatch decides again on the new version in the same call (before,
    the message waited out the queue's visibility timeout, about 3 minutes)."""
    master_id = take_in(p, hotline(*CLEAR)).body["appeal_id"]
    dup_id = take_in(p, hotline(*SAME_EVENT)).body["appeal_id"]
    to_dispatch_stage(p, master_id)

    p.store.before_next_commit(lambda: join(p, master_id, dup_id))
    outcome = dispatch.process(p, master_id)
    master = p.store.load_appeal(master_id)
    told = sorted(h.message["appeal_id"] for h in p.publisher.published
                  if h.topic == "status" and h.message["status"] == "dispatched")
    assert (outcome, master.status, master.weight, told) == ("dispatched", Status.DISPATCHED, 2,
                                                             sorted([master_id, dup_id]))
