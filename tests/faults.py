"""Fault injection at the one path every AWS call takes (botocore's `BaseClient._make_api_call`,
which PynamoDB uses too): record a stage's calls, then crash before or after the k-th call of an
operation, or answer it with throttling or a send failure (tests/integration/test_crash_matrix.py).

A crash is `Crash`, a BaseException: like a Lambda that dies (timeout, out of memory, a killed
host), no `except Exception` in the code under test can swallow it, and what was done before it
stays done. Throttling and send failures are what botocore raises after its own retries: a
`ClientError` with the service's code, which the code under test may handle.
"""
from __future__ import annotations

import json
import os
import time as _time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

from botocore.client import BaseClient
from botocore.exceptions import ClientError

# What changes state somewhere: a crash before and after these differ; a crash around a read is
# the same as a crash before the next change (the matrix still lists and runs every point).
MUTATING = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem",
                      "SendMessage", "SendMessageBatch", "DeleteMessage", "ChangeMessageVisibility",
                      "PutObject", "PutEvents"})
PUBLISH = frozenset({"SendMessage", "SendMessageBatch"})
DYNAMODB_THROTTLES = ("ProvisionedThroughputExceededException", "ThrottlingException")
SQS_SEND_FAILURE = "AWS.SimpleQueueService.ServiceUnavailable"


class Crash(BaseException):
    """The function's process died here."""


@dataclass(frozen=True)
class Call:
    service: str
    op: str
    n: int          # 1 for the first call of this operation in the run, 2 for the second ...

    @property
    def name(self) -> str:
        return f"{self.service}.{self.op}#{self.n}"


@dataclass(frozen=True)
class Fault:
    """Where and what: `when` is before | after | throttle (a ClientError with `code` instead of
    the call)."""

    call: Call
    when: str
    code: str = ""

    @property
    def name(self) -> str:
        return f"{self.when}:{self.call.name}" + (f":{self.code}" if self.code else "")


def _service(client: BaseClient) -> str:
    return client.meta.service_model.service_name


class Injector:
    """Patches `BaseClient._make_api_call` while active; only calls made while armed count."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.fault: Fault | None = None
        self.fired = False
        self._armed = False
        self._counts: Counter = Counter()

    @contextmanager
    def armed(self, fault: Fault | None = None) -> Iterator["Injector"]:
        """Count (and record) the calls made inside; with `fault`, inject it when its call comes."""
        self.calls, self.fault, self.fired, self._counts = [], fault, False, Counter()
        self._armed = True
        try:
            yield self
        finally:
            self._armed = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Calls made inside are the harness's own (neither counted nor faulted)."""
        was, self._armed = self._armed, False
        try:
            yield
        finally:
            self._armed = was

    def external(self, service: str, op: str, effect: Callable[[], Any]) -> Any:
        """An effect outside AWS (a partner's callback) counted and faulted like a call."""
        return self._step(service, op, effect)

    def _intercept(self, original, client, op: str, params: dict):
        if not self._armed:
            return original(client, op, params)
        return self._step(_service(client), op, lambda: original(client, op, params))

    def _step(self, service: str, op: str, effect: Callable[[], Any]) -> Any:
        if not self._armed:
            return effect()
        self._counts[(service, op)] += 1
        call = Call(service, op, self._counts[(service, op)])
        self.calls.append(call)
        fault = self.fault
        if fault is None or self.fired or fault.call != call:
            return effect()
        self.fired = True
        if fault.when == "before":
            raise Crash(fault.name)
        if fault.when == "throttle":
            raise ClientError({"Error": {"Code": fault.code, "Message": f"injected: {fault.code}"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, op)
        effect()
        raise Crash(fault.name)                        # after: done, but its answer is lost with the process

    @contextmanager
    def installed(self) -> Iterator["Injector"]:
        original = BaseClient._make_api_call
        injector = self

        def _make_api_call(client, operation_name, api_params):
            return injector._intercept(original, client, operation_name, api_params)

        BaseClient._make_api_call = _make_api_call
        try:
            yield self
        finally:
            BaseClient._make_api_call = original


def points(calls: list[Call]) -> list[Fault]:
    """Every fault to inject into a run that made `calls`: a crash before and after each call;
    DynamoDB throttling (both codes) on each DynamoDB call; a failure of each SQS send."""
    faults: list[Fault] = []
    for c in calls:
        faults += [Fault(c, "before"), Fault(c, "after")]
        if c.service == "dynamodb":
            faults += [Fault(c, "throttle", code) for code in DYNAMODB_THROTTLES]
        elif c.service == "sqs" and c.op in PUBLISH:
            faults.append(Fault(c, "throttle", SQS_SEND_FAILURE))
    return faults


# --- the matrix: stages run once with a recorder, then again with each fault, redelivered -------

REDELIVERIES = 3
_STRICT_PURGE = "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"
ROUTING_KINDS = ("dispatched", "queued_for_dispatcher", "joined_master")
ONCE_KINDS = ("accepted", *ROUTING_KINDS)      # in these stages no appeal is accepted or routed twice
PIPELINE = ("dedup", "dispatch", "notify", "analytics")      # the SQS stages, in pipeline order
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/jiesu-test-{name}"
# One clear appeal: located and classified well enough to be dispatched automatically.
CLEAR_TEXT = "西乡大道坪洲地铁站C出口旁的井盖丢失了，一个黑洞很危险，晚上有人差点掉下去，请尽快补上井盖。"
CLEAR_ADDRESS = "宝安区西乡街道西乡大道坪洲地铁站C出口"


class Partner:
    """The channels' callback receiver: records every POST (and whether the notice it carries
    was already recorded delivered when it came: that is a notice delivered twice)."""

    def __init__(self, env: "Env") -> None:
        self.env = env
        self.posts: list[dict] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str]):
        from chalicelib.services import notify

        notice = json.loads(body)
        with self.env.injector.paused():
            row = self.env.item(f"APPEAL#{notice['appeal_id']}", f"OUT#status#{notice['seq']:08d}.{notice['status']}")
        already = row is not None and "done_at" in row

        def receive():
            self.posts.append({"event_id": notice["event_id"], "key": headers["Idempotency-Key"],
                               "already_delivered": already})
            return notify.HttpResult(204)

        return self.env.injector.external("http", "POST", receive)


class Env:
    """A moto stack (tests.conftest.AwsStack) with the Chalice app, a partner, and the injector."""

    def __init__(self, aws, client, injector: Injector) -> None:
        self.aws, self.client, self.injector = aws, client, injector
        self.ddb = aws.session.client("dynamodb")
        self.sqs = aws.session.client("sqs")
        self.partner = Partner(self)
        self.tickets = iter(range(1, 10**6))
        self.base = self.scan()          # the stack as built: its channels, nothing else

    # -- the table and the queues, read and put back whole ---------------------------------------
    def scan(self) -> list[dict]:
        items, kwargs = [], {"TableName": self.aws.resources.table_name, "ConsistentRead": True}
        while True:
            page = self.ddb.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def item(self, pk: str, sk: str) -> dict | None:
        return self.ddb.get_item(TableName=self.aws.resources.table_name, ConsistentRead=True,
                                 Key={"PK": {"S": pk}, "SK": {"S": sk}}).get("Item")

    def restore(self, items: list[dict]) -> None:
        """The table exactly as `items`, every queue and DLQ empty, the partner's log cleared."""
        table = self.aws.resources.table_name
        writes = [{"DeleteRequest": {"Key": {"PK": i["PK"], "SK": i["SK"]}}} for i in self.scan()]
        for part in (writes, [{"PutRequest": {"Item": i}} for i in items]):
            for n in range(0, len(part), 25):
                self.ddb.batch_write_item(RequestItems={table: part[n:n + 25]})
        strict = os.environ.get(_STRICT_PURGE)
        os.environ[_STRICT_PURGE] = "false"        # moto allows one purge a minute by default, as SQS does
        try:
            for url in [*self.aws.resources.queue_urls.values(), *self.aws.resources.dlq_urls.values()]:
                self.sqs.purge_queue(QueueUrl=url)
        finally:
            if strict is None:
                os.environ.pop(_STRICT_PURGE)
            else:
                os.environ[_STRICT_PURGE] = strict
        self.partner.posts.clear()

    def take(self, queue: str) -> list[dict]:
        """Every message waiting in a queue, removed (what the stage under test is given)."""
        got = []
        while msgs := self.aws.receive(queue):
            for m in msgs:
                self.sqs.delete_message(QueueUrl=self.aws.resources.queue_urls[queue], ReceiptHandle=m["ReceiptHandle"])
            got += msgs
        return got

    def arn(self, queue: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=self.aws.resources.queue_urls[queue],
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    # -- the entry points, as AWS calls them ---------------------------------------------------
    def post_appeal(self, payload: dict) -> Any:
        from chalicelib.channels.signing import signed_headers

        path = "/channels/hotline/appeals"
        body = json.dumps(payload, ensure_ascii=False).encode()
        kid, secret = self.aws.creds["hotline"]
        headers = {"Content-Type": "application/json", **signed_headers(kid, secret, "POST", path, body)}
        return self.client.http.post(path, headers=headers, body=body)

    def hotline(self, text: str = CLEAR_TEXT, address: str = CLEAR_ADDRESS) -> dict:
        from tests.conftest import channel_fixture

        return {**channel_fixture("hotline"), "gdbh": f"SZ20261206{next(self.tickets):06d}", "sqnr": text,
                "fsdz": address, "gdbt": text[:20]}

    def deliver(self, queue: str, messages: list[dict]) -> list[str]:
        """One invocation of a queue's function with `messages`; the message ids it failed."""
        from infra.runner import sqs_event

        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

        try:
            result = _handler(queue)(sqs_event(messages, self.arn(queue), "us-east-1"), None)
        except BatchProcessingError:        # every record failed: the invocation fails, all come back
            return [m["MessageId"] for m in messages]
        return [f["itemIdentifier"] for f in result["batchItemFailures"]]

    def fire(self, name: str, at: datetime | None = None) -> dict:
        """One schedule firing of a swept function (`at`: its platform's clock, else the system's)."""
        from chalicelib.services.clock import FixedClock
        from infra.runner import LambdaContext, scheduled_event
        from infra.spec import SPEC

        module = _module(name)
        real = module.PLATFORM
        if at is not None:
            module.PLATFORM = real.with_clock(FixedClock(at))
        try:
            fn = next(f for f in SPEC.functions if f.name == name)
            when = at or datetime.now(timezone.utc)
            return module.lambda_handler(scheduled_event(RULE_ARN.format(name=name), "us-east-1", when),
                                         LambdaContext(fn, "us-east-1", "aws"))
        finally:
            module.PLATFORM = real

    def age_outbox(self, minutes: int = 60) -> None:
        """Every pending hand-off's place in the repair index moved back past the grace period."""
        old = (datetime.now(timezone.utc) - timedelta(minutes=minutes)).isoformat(timespec="milliseconds")
        for i in self.scan():
            if i["SK"]["S"].startswith("OUT#") and "GSI1PK" in i:
                appeal_id = i["PK"]["S"].split("#", 1)[1]
                self.ddb.update_item(TableName=self.aws.resources.table_name, Key={"PK": i["PK"], "SK": i["SK"]},
                                     UpdateExpression="SET GSI1SK = :old",
                                     ExpressionAttributeValues={":old": {"S": f"{old}#{appeal_id}"}})

    def settle(self, rounds: int = 8) -> None:
        """Run the pipeline until nothing is left to do: every queue's messages through its function
        (a failed one made visible again), then the outbox repair sweep over aged hand-offs."""
        for _ in range(rounds):
            busy = False
            for queue in PIPELINE:
                while msgs := self.aws.receive(queue):
                    busy = True
                    failed = set(self.deliver(queue, msgs))
                    url = self.aws.resources.queue_urls[queue]
                    for m in msgs:
                        if m["MessageId"] in failed:
                            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                                               VisibilityTimeout=0)
                        else:
                            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    if failed:
                        break       # e.g. an earlier notice must go first: the next round
            self.age_outbox()
            if self.fire("outbox")["resent"]:
                busy = True
            if not busy:
                return


def _module(name: str):
    import importlib

    return importlib.import_module(f"functions.{name}.handler")


def _handler(queue: str) -> Callable:
    return _module(queue).lambda_handler


# -- the invariants ---------------------------------------------------------------------------------

def _plain(value: dict) -> Any:
    """A DynamoDB attribute value as plain data (for comparing case events)."""
    (kind, v), = value.items()
    if kind == "M":
        return {k: _plain(x) for k, x in v.items()}
    if kind == "L":
        return [_plain(x) for x in v]
    return v


def check(env: Env) -> list[str]:
    """What must hold over the whole table (and the queues and the partner's log) once the
    pipeline has settled; the violations, named."""
    from chalicelib.bootstrap import bootstrap
    from chalicelib.services import analytics

    items = env.scan()
    bad: list[str] = []
    appeals = {i["PK"]["S"][7:]: i for i in items if i["PK"]["S"].startswith("APPEAL#") and i["SK"]["S"] == "A"}
    events: dict[str, list[dict]] = {}
    for i in items:
        if i["PK"]["S"].startswith("APPEAL#") and i["SK"]["S"].startswith("EV#"):
            events.setdefault(i["PK"]["S"][7:], []).append(i)
    tickets = [i for i in items if i["PK"]["S"].startswith("TICKET#")]
    by_ticket: dict[tuple[str, str], list[str]] = {}
    for a_id, a in appeals.items():
        by_ticket.setdefault((a["channel"]["S"], a["ticket_id"]["S"]), []).append(a_id)
    for key, ids in by_ticket.items():
        if len(ids) != 1:
            bad.append(f"ticket {key[1]} has {len(ids)} appeals")
    for t in tickets:
        target = t["appeal_id"]["S"]
        if target not in appeals:
            bad.append(f"ticket {t['PK']['S']} points at no stored appeal")
    for a_id, a in appeals.items():
        evs = events.get(a_id, [])
        kinds = [e["event_kind"]["S"] for e in evs]
        routed = [k for k in kinds if k in ROUTING_KINDS]
        if len(routed) != 1:
            bad.append(f"appeal {a_id} has {len(routed)} routings {routed} (status {a['status']['S']})")
        # A case event recorded twice: the same kind, actor and data again (or a once-only kind again).
        seen = Counter((e["event_kind"]["S"], e["actor"]["S"], str(_plain(e["data"]))) for e in evs)
        seen.update(("once", k, "") for k in kinds if k in ONCE_KINDS)
        for (kind, actor, data), n in seen.items():
            if n > 1:
                bad.append(f"appeal {a_id}: case event {actor if kind == 'once' else kind} recorded {n} times")
        seqs = sorted(int(e["SK"]["S"][3:]) for e in evs)
        if seqs != list(range(1, len(seqs) + 1)):
            bad.append(f"appeal {a_id}: case events {seqs} are not 1..n")
    for i in items:
        if i["SK"]["S"].startswith("OUT#"):
            done = _plain(i["done_at"]) if "done_at" in i else None
            if done is None or str(done).startswith("abandoned"):
                bad.append(f"outbox row {i['PK']['S']} {i['SK']['S']} stranded ({done or 'open'})")
    for p in env.partner.posts:
        if p["key"] != p["event_id"]:
            bad.append(f"callback {p['event_id']} sent with Idempotency-Key {p['key']}")
        if p["already_delivered"]:
            bad.append(f"callback {p['event_id']} delivered again after it was recorded delivered")
    with env.injector.paused():
        rebuilt = analytics.rebuild(bootstrap(), "shenzhen")
    if rebuilt["mismatch_count"]:
        bad.append(f"{rebuilt['mismatch_count']} counters differ from the case files: {rebuilt['mismatches'][:2]}")
    for name in PIPELINE:
        if env.aws.queue_depth(name, dlq=True):
            bad.append(f"a message of {name} went to its DLQ")
    return bad


# -- the stages -------------------------------------------------------------------------------------


@dataclass
class Stage:
    """A stage under test: `setup` builds the state before it (unfaulted) and returns what the
    stage is given; `deliver` hands it over once (attempt 0, then the redeliveries) and says
    whether it went through."""

    name: str
    setup: Callable[[Env], Any]
    deliver: Callable[[Env, Any, int], bool]


def _posted(env: Env, payload: dict) -> str:
    resp = env.post_appeal(payload)
    assert resp.status_code == 201, resp.body
    return json.loads(resp.body)["appeal_id"]


def _through(env: Env, *queues: str) -> None:
    for q in queues:
        msgs = env.take(q)
        assert msgs and not env.deliver(q, msgs), q


def _setup_intake(env: Env) -> dict:
    return env.hotline()


def _deliver_intake(env: Env, payload: dict, attempt: int) -> bool:
    # A partner retries a request that got no answer or a 5xx, signed afresh (a new nonce).
    return env.post_appeal(payload).status_code in (200, 201)


def _setup_queue(*before: str, join: bool = False):
    def setup(env: Env) -> tuple[str, list[dict]]:
        if join:        # a master dispatched first, then a second report of the same thing
            _posted(env, env.hotline())
            env.settle()
        _posted(env, env.hotline())
        _through(env, *before)
        queue = {(): "dedup", ("dedup",): "dispatch", ("dedup", "dispatch"): "analytics"}[before]
        return queue, env.take(queue)
    return setup


def _setup_notify(env: Env) -> tuple[str, list[dict]]:
    _posted(env, env.hotline())
    return "notify", env.take("notify")


def _deliver_queue(env: Env, given: tuple[str, list[dict]], attempt: int) -> bool:
    queue, msgs = given
    redelivered = [{**m, "Attributes": {**m.get("Attributes", {}), "ApproximateReceiveCount": str(attempt + 1)}}
                   for m in msgs]
    return not env.deliver(queue, redelivered)


def _setup_deadlines(env: Env) -> datetime:
    """A dispatched appeal and the sweep at its first warning (resumed just before it)."""
    from chalicelib.domain.deadlines import minute_bucket
    from chalicelib.storage import keys, repository
    from chalicelib.storage.models import SweepStateItem

    from tests.integration.test_deadlines_sweep import new_dispatched

    # Dispatched by hand (as test_deadlines_sweep does): the sweep, not the classifier, is under test.
    appeal_id = new_dispatched(datetime.now(timezone.utc), ticket=f"T-crash-{next(env.tickets)}")
    env.settle()
    appeal = repository.load_appeal(appeal_id)
    assert appeal.status.value == "dispatched", appeal.status
    warn = min(datetime.fromisoformat(d["warn_at"]) for d in appeal.to_dict()["deadlines"].values())
    SweepStateItem(keys.SWEEP_DEADLINES_PK, keys.SWEEP_SK, last_bucket=minute_bucket(warn - timedelta(minutes=2)),
                   updated_at="t").save()
    return warn + timedelta(minutes=2)      # due entries are indexed at the minute after (round_up)


def _deliver_deadlines(env: Env, at: datetime, attempt: int) -> bool:
    env.fire("deadlines", at + timedelta(minutes=attempt))      # the next firing, a minute later
    return True


def _setup_outbox(env: Env) -> None:
    """An appeal taken in whose hand-offs were all lost in transit, past the grace period."""
    _posted(env, env.hotline())
    for q in PIPELINE:
        env.take(q)
    env.age_outbox()


def _deliver_outbox(env: Env, given: None, attempt: int) -> bool:
    if attempt:
        env.age_outbox()
    env.fire("outbox")
    return True


STAGES = (
    Stage("intake", _setup_intake, _deliver_intake),
    Stage("dedup", _setup_queue(), _deliver_queue),
    Stage("dedup_join", _setup_queue(join=True), _deliver_queue),
    Stage("dispatch", _setup_queue("dedup"), _deliver_queue),
    Stage("notify", _setup_notify, _deliver_queue),
    Stage("deadlines", _setup_deadlines, _deliver_deadlines),
    Stage("outbox", _setup_outbox, _deliver_outbox),
    Stage("analytics", _setup_queue("dedup", "dispatch"), _deliver_queue),
)


@dataclass
class Outcome:
    fault: str
    delivered: bool            # went through within the redeliveries
    violations: list[str]
    errors: list[str]          # what the first delivery raised or answered besides the fault itself
    fired: bool = True         # the faulted call came (a read a cache answers may not come again)
    reposts: int = 0           # callbacks POSTed again, not yet recorded delivered (same Idempotency-Key)


def run_point(env: Env, stage: Stage, snapshot: list[dict], given: Any, fault: Fault | None) -> Outcome:
    """Put the table back as it was before the stage, deliver with `fault`, redeliver up to 3x,
    let the pipeline settle, check."""
    env.restore(snapshot)
    errors: list[str] = []
    with env.injector.armed(fault):
        try:
            ok = stage.deliver(env, given, 0)
        except Crash:
            ok = False
        except Exception as exc:  # noqa: BLE001 - a stage that raises is redelivered, and noted
            ok = False
            errors.append(f"{exc.__class__.__name__}: {str(exc)[:120]}")
    fired = fault is None or env.injector.fired
    attempt = 0
    while not ok and attempt < REDELIVERIES:
        attempt += 1
        try:
            ok = stage.deliver(env, given, attempt)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"redelivery {attempt}: {exc.__class__.__name__}: {str(exc)[:120]}")
    env.settle()
    posted = Counter(p["event_id"] for p in env.partner.posts)
    return Outcome(fault.name if fault else "none", ok, check(env), errors, fired,
                   sum(n - 1 for n in posted.values()))


def matrix(env: Env, stages=STAGES, only_distinct: bool = False,
           on_point: Callable[[str, Outcome], None] | None = None) -> dict[str, Any]:
    """Every stage: its calls recorded on an unfaulted run, then every point of them (`points`, or
    with `only_distinct` the ones that leave distinct states) run and checked. Returns the figures
    per stage and every failing point."""
    out: dict[str, Any] = {"stages": {}, "failures": []}
    for stage in stages:
        t0 = _time.monotonic()
        env.restore(env.base)
        given = stage.setup(env)
        snapshot = env.scan()
        baseline = run_point(env, stage, snapshot, given, None)
        env.restore(snapshot)
        with env.injector.armed() as rec:
            stage.deliver(env, given, 0)
            calls = list(rec.calls)
        every = points(calls)
        chosen = distinct(calls) if only_distinct else every
        failed = not_reached = reposted = 0
        for fault in chosen:
            outcome = run_point(env, stage, snapshot, given, fault)
            not_reached += not outcome.fired
            reposted += outcome.reposts > 0
            if on_point:
                on_point(stage.name, outcome)
            if outcome.violations or not outcome.delivered:
                failed += 1
                out["failures"].append({"stage": stage.name, "fault": outcome.fault, "delivered": outcome.delivered,
                                        "violations": outcome.violations[:3], "errors": outcome.errors[:2]})
        kinds = Counter(f.when if f.when != "throttle" else f.code for f in chosen)
        out["stages"][stage.name] = {
            "calls": len(calls), "writes_and_sends": sum(1 for c in calls if c.op in MUTATING or c.service == "http"),
            "points": len(every), "run": len(chosen), "by_kind": dict(kinds), "not_reached": not_reached,
            "failed": failed, "reposted_callback": reposted, "baseline_violations": baseline.violations,
            "seconds": round(_time.monotonic() - t0, 1), "call_names": [c.name for c in calls]}
    return out


def distinct(calls: list[Call]) -> list[Fault]:
    """The points that leave distinct states (what the bounded test runs). A crash before call k
    leaves what a crash after call k-1 leaves (nothing in between outlives the process), and a
    crash after a read what a crash after the call before it leaves: so a crash before the first
    call and after every change (a write, a send, a callback) covers every state a crash can
    leave. Faults that take another path: DynamoDB throttling on every write (both codes on
    transactions, the first elsewhere: the code under test tells neither from the other) and
    every SQS send failing. Throttled reads are in the full matrix (bench/crash_matrix.py)."""
    if not calls:
        return []
    chosen = [Fault(calls[0], "before")]
    for c in calls:
        if c.op not in MUTATING and c.service != "http":
            continue
        chosen.append(Fault(c, "after"))
        if c.service == "dynamodb":
            codes = DYNAMODB_THROTTLES if c.op == "TransactWriteItems" else DYNAMODB_THROTTLES[:1]
            chosen += [Fault(c, "throttle", code) for code in codes]
        elif c.service == "sqs" and c.op in PUBLISH:
            chosen.append(Fault(c, "throttle", SQS_SEND_FAILURE))
    return chosen
