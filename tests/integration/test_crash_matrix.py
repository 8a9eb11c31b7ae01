"""Crashes and redelivery at every step (issue 22, item 3), on moto: each stage (intake through the
Chalice app; dedup, dispatch, notify and analytics fed real SQS event records; the deadline and
outbox sweeps fired with EventBridge's Scheduled Event) is run once with a recorder listing its
AWS calls (and its partner callbacks), then again with a fault at each of them: a crash before
and after the call, DynamoDB throttling, a failed SQS send. The same delivery is then redelivered
up to 3 times, the pipeline left to settle (queues drained, the outbox sweep over aged hand-offs),
and tests/faults.check reads the whole table: one routing per appeal, no case event twice, no
callback delivered after it was recorded delivered, counters equal to the rebuild from the case
files, no outbox row stranded, no DLQ message.

Bounded: a crash before a call leaves the same state as a crash after the call before it, and a
crash after a read the same as a crash after the call before that, so the test runs a crash
before the first call and after every write, send and callback, throttling on every write and a
failure of every send (faults.distinct). bench/crash_matrix.py runs every point (before and after
every call, both throttling codes on every DynamoDB call) and prints the matrix."""
from __future__ import annotations

import json

import pytest
from chalice.test import Client

from tests import faults


@pytest.fixture
def env(aws, monkeypatch):
    import app
    from chalicelib.services import notify

    injector = faults.Injector()
    with Client(app.app) as client, injector.installed():
        e = faults.Env(aws, client, injector)
        monkeypatch.setattr(notify, "http_post", e.partner)
        yield e


def recorded(env, stage):
    """The stage's state built, and the calls one clean delivery makes."""
    env.restore(env.base)
    given = stage.setup(env)
    snapshot = env.scan()
    env.restore(snapshot)
    with env.injector.armed() as rec:
        assert stage.deliver(env, given, 0)
        calls = list(rec.calls)
    return given, snapshot, calls


@pytest.mark.parametrize("stage", faults.STAGES, ids=[s.name for s in faults.STAGES])
def test_every_fault_at_every_call_of_a_stage_leaves_the_invariants_holding(env, stage):
    given, snapshot, calls = recorded(env, stage)
    # The recorder saw the stage's storage calls and its publishes (or its callback).
    ops = {(c.service, c.op) for c in calls}
    assert ("dynamodb", "TransactWriteItems") in ops or ("dynamodb", "UpdateItem") in ops, calls
    if stage.name in ("intake", "dedup", "dedup_join", "dispatch", "outbox"):
        assert ("sqs", "SendMessage") in ops, calls
    if stage.name == "notify":
        assert ("http", "POST") in ops, calls
    clean = faults.run_point(env, stage, snapshot, given, None)
    assert clean.delivered and clean.violations == [] and clean.errors == [], clean
    failures, reposted = [], []
    for fault in faults.distinct(calls):
        outcome = faults.run_point(env, stage, snapshot, given, fault)
        assert outcome.fired, fault.name                 # every change and send comes again: so does its fault
        if outcome.violations or not outcome.delivered:
            failures.append((outcome.fault, outcome.delivered, outcome.violations[:3], outcome.errors[:1]))
        if outcome.reposts:
            reposted.append(outcome.fault)
    assert failures == []
    # At least once, never after it is recorded: only a fault between the partner's answer and the
    # write that records it (a crash after the POST; that write crashed or throttled) sends the
    # callback again, with the same Idempotency-Key (README: Status callbacks).
    if stage.name == "notify":
        post = next(i for i, c in enumerate(calls) if c.service == "http")
        record = calls[post + 1]
        assert (record.service, record.op) == ("dynamodb", "UpdateItem"), calls
        assert "after:http.POST#1" in reposted and all(
            r == "after:http.POST#1" or r.split(":")[1] == record.name for r in reposted), reposted
    else:
        assert reposted == [], reposted


def test_the_checker_finds_each_kind_of_breakage(env):
    """The invariants can fail: a second routing event, an event recorded twice, a stranded
    hand-off, a counter counted twice and a callback sent after it was recorded delivered."""
    stage = next(s for s in faults.STAGES if s.name == "analytics")
    given, snapshot, _ = recorded(env, stage)
    env.settle()
    assert faults.check(env) == []
    table = env.aws.resources.table_name
    items = env.scan()
    appeal_id = next(i["PK"]["S"][7:] for i in items if i["PK"]["S"].startswith("APPEAL#") and i["SK"]["S"] == "A")
    events = sorted((i for i in items if i["PK"]["S"] == f"APPEAL#{appeal_id}" and i["SK"]["S"].startswith("EV#")),
                    key=lambda i: i["SK"]["S"])
    routing = next(e for e in events if e["event_kind"]["S"] in faults.ROUTING_KINDS)
    last = int(events[-1]["SK"]["S"][3:])
    env.ddb.put_item(TableName=table, Item={**routing, "SK": {"S": f"EV#{last + 1:06d}"}})
    env.ddb.put_item(TableName=table, Item={"PK": {"S": f"APPEAL#{appeal_id}"}, "SK": {"S": "OUT#dispatch#9"},
                                            "kind": {"S": "outbox"}})
    counter = next(i for i in items if i["PK"]["S"].startswith("AN#"))
    # One number attribute per counter (storage.models.CounterItem): count one of them once more.
    name = next(k for k, v in counter.items() if "N" in v and int(v["N"]) > 0)
    counter[name] = {"N": str(int(counter[name]["N"]) + 1)}
    env.ddb.put_item(TableName=table, Item=counter)
    env.partner.posts.append({"event_id": f"{appeal_id}:1:accepted", "key": "k", "already_delivered": True})
    found = "\n".join(faults.check(env))
    assert f"appeal {appeal_id} has 2 routings" in found, found
    assert f"appeal {appeal_id}: case event {routing['event_kind']['S']} recorded 2 times" in found, found
    assert f"outbox row APPEAL#{appeal_id} OUT#dispatch#9 stranded (open)" in found, found
    assert "counters differ from the case files" in found, found
    assert f"callback {appeal_id}:1:accepted delivered again" in found, found
    assert f"callback {appeal_id}:1:accepted sent with Idempotency-Key k" in found, found


def test_the_matrix_lists_every_call_of_every_stage_and_a_fault_for_each(env):
    """The points are enumerated from what a stage does, so a new call grows the matrix."""
    stage = next(s for s in faults.STAGES if s.name == "intake")
    _, _, calls = recorded(env, stage)
    every = faults.points(calls)
    assert len(every) == sum(2 + (2 if c.service == "dynamodb" else 1 if c.op == "SendMessage" else 0) for c in calls)
    names = {f.name for f in every}
    for c in calls:
        assert {f"before:{c.name}", f"after:{c.name}"} <= names
    assert {f.name for f in faults.distinct(calls)} <= names
    assert json.dumps([f.name for f in every])            # plain names, printable in the matrix


@pytest.mark.parametrize("code", faults.DYNAMODB_THROTTLES)
def test_a_throttled_intake_is_a_503_with_retry_after_and_the_retry_is_taken(env, code):
    """Throttling is AWS's "not now", not our failure: 503 `busy` with Retry-After (it was a 500
    `internal`, logged as an unhandled error), nothing half-written, and the retry is a 201."""
    payload = env.hotline()
    call = faults.Call("dynamodb", "TransactWriteItems", 1)
    with env.injector.armed(faults.Fault(call, "throttle", code)):
        resp = env.post_appeal(payload)
    assert env.injector.fired
    assert (resp.status_code, resp.headers.get("Retry-After"), json.loads(resp.body)) == (
        503, "1", {"error": {"code": "busy", "message": "the service is busy; retry shortly", "field": None}})
    assert [i for i in env.scan() if i["PK"]["S"].startswith(("APPEAL#", "TICKET#"))] == []
    retry = env.post_appeal(payload)
    assert retry.status_code == 201, retry.body
    assert "Retry-After" not in env.post_appeal(env.hotline()).headers     # ordinary answers carry none


def test_an_analytics_message_twice_in_one_batch_is_counted_once(env):
    """SQS may hand one message over twice in a batch (the outbox sweep's re-send of a hand-off
    whose first send was not recorded makes it likely). The stage closed the hand-off once per
    copy: two actions on one item, so DynamoDB refused the whole transaction, every time, and the
    appeal's counts never landed (found by the matrix: crash after the sweep's send)."""
    stage = next(s for s in faults.STAGES if s.name == "analytics")
    env.restore(env.base)
    queue, msgs = stage.setup(env)
    twice = msgs + [{**m, "ReceiptHandle": m["ReceiptHandle"] + "-again"} for m in msgs]
    assert env.deliver(queue, twice) == []
    env.settle()
    assert faults.check(env) == []
