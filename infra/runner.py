"""The local event runner: the one piece of local-only code.

moto stands in for AWS but invokes no function and fires no schedule, so this runner does what
Lambda's event source mappings and EventBridge do: it long-polls each queue and calls the same
`functions/<name>/handler.py` with real SQS event records (batches of up to 10), deletes only
the records not reported in `batchItemFailures` (the rest reappear after their visibility
timeout and moto's redrive moves them to the DLQ after maxReceiveCount), and fires each
schedule with a real EventBridge "Scheduled Event" payload at its rate (on the minute).
"""
from __future__ import annotations

import hashlib
import importlib
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from infra.spec import SPEC, Function

ACCOUNT = "123456789012"


class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, fn: Function, region: str, partition: str):
        self.function_name = f"jiesu-{fn.name}"
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = fn.memory_mb
        self.invoked_function_arn = f"arn:{partition}:lambda:{region}:{ACCOUNT}:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + fn.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(messages: list[dict], queue_arn: str, region: str) -> dict:
    """An SQS event exactly as Lambda's event source mapping delivers it."""
    records = []
    for m in messages:
        attrs = m.get("Attributes", {})
        records.append({
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {
                "ApproximateReceiveCount": attrs.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attrs.get("SentTimestamp", str(int(time.time() * 1000))),
                "SenderId": attrs.get("SenderId", ACCOUNT),
                "ApproximateFirstReceiveTimestamp": attrs.get("ApproximateFirstReceiveTimestamp",
                                                              str(int(time.time() * 1000))),
            },
            "messageAttributes": {},
            "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        })
    return {"Records": records}


def scheduled_event(rule_arn: str, region: str, at: datetime) -> dict:
    """EventBridge's "Scheduled Event" payload."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
            "resources": [rule_arn], "detail": {}}


def deferred_only(exc: BaseException) -> bool:
    """Whether every record of a failed batch only waits (chalicelib.batch.RetryLater)."""
    from chalicelib.batch import RetryLater

    children = getattr(exc, "child_exceptions", None) or []
    return bool(children) and all(c and c[0] is not None and issubclass(c[0], RetryLater) for c in children)


def failure_summary(exc: BaseException) -> str:
    """What a failed batch raised: Powertools' BatchProcessingError carries each record's error."""
    children = getattr(exc, "child_exceptions", None) or []
    names = sorted({c[0].__name__ for c in children if c and c[0] is not None})
    return ", ".join(names) if names else "see the record lines above"


def load_handler(fn: Function) -> Callable[[dict, Any], Any]:
    module = importlib.import_module(f"functions.{fn.name}.handler")
    return module.lambda_handler


class Runner:
    """Pollers for every queue-triggered function and a ticker for every scheduled one."""

    def __init__(self, session, queue_urls: dict[str, str], rule_names: dict[str, str], log=print,
                 wait_s: int = 1, pollers: int = 1):
        self.session = session
        self.sqs = session.client("sqs")
        self.region = session.region_name
        self.partition = session.get_partition_for_region(self.region)
        self.queue_urls = queue_urls
        self.rule_names = rule_names
        self.log = log
        self.wait_s = wait_s
        self.pollers = pollers
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.invocations: dict[str, int] = {}

    def start(self) -> None:
        for fn in SPEC.functions:
            if fn.trigger_queue:
                # Lambda runs several batches of one queue at once (it scales out its pollers);
                # a few pollers per queue here, so one slow batch does not hold up the rest.
                target, copies = self._poll_loop, min(self.pollers, fn.concurrency or self.pollers)
            elif fn.trigger_schedule:
                target, copies = self._schedule_loop, 1
            else:
                continue
            for i in range(copies):
                t = threading.Thread(target=target, args=(fn,), name=f"runner-{fn.name}-{i}", daemon=True)
                t.start()
                self.threads.append(t)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop polling; wait for in-flight batches up to `timeout_s` in all (threads are daemons)."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout_s
        for t in self.threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- SQS ----------------------------------------------------------------------------------
    def poll_once(self, fn: Function) -> int:
        """Receive one batch and run it through the handler; returns how many records it had."""
        url = self.queue_urls[fn.trigger_queue]
        resp = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, fn.batch_size),
                                        WaitTimeSeconds=self.wait_s, AttributeNames=["All"])
        messages = resp.get("Messages", [])
        if not messages:
            return 0
        arn = f"arn:{self.partition}:sqs:{self.region}:{ACCOUNT}:{url.rsplit('/', 1)[-1]}"
        event = sqs_event(messages, arn, self.region)
        failed = self._invoke_batch(fn, event)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        return len(messages)

    def _invoke_batch(self, fn: Function, event: dict) -> set[str]:
        handler = load_handler(fn)
        self.invocations[fn.name] = self.invocations.get(fn.name, 0) + 1
        try:
            result = handler(event, LambdaContext(fn, self.region, self.partition)) or {}
        except Exception as exc:  # noqa: BLE001 - as Lambda: a raised error fails the whole batch
            # Each record's own line came from the handler (chalicelib.batch); this one says the
            # batch as a whole is back on the queue: deferred, when every record only waits.
            if deferred_only(exc):
                self.log(f"[runner] {fn.name}: batch of {len(event['Records'])} deferred")
            else:
                self.log(f"[runner] {fn.name}: batch of {len(event['Records'])} failed "
                         f"({exc.__class__.__name__}: {failure_summary(exc)})")
            return {r["messageId"] for r in event["Records"]}
        return {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}

    def _poll_loop(self, fn: Function) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll_once(fn)
            except Exception as exc:  # noqa: BLE001 - keep polling, as an event source mapping does
                self.log(f"[runner] {fn.name}: poll error {exc.__class__.__name__}: {exc}")
                self.stop_event.wait(1)

    # -- schedules ----------------------------------------------------------------------------
    def fire(self, fn: Function, at: datetime | None = None) -> Any:
        at = at or datetime.now(timezone.utc)
        rule = self.rule_names[fn.trigger_schedule]
        arn = f"arn:{self.partition}:events:{self.region}:{ACCOUNT}:rule/{rule}"
        self.invocations[fn.name] = self.invocations.get(fn.name, 0) + 1
        return load_handler(fn)(scheduled_event(arn, self.region, at), LambdaContext(fn, self.region, self.partition))

    def _schedule_loop(self, fn: Function) -> None:
        # rate(N minutes): fire at the top of every N-th minute (EventBridge's own granularity).
        period = SPEC.schedule(fn.trigger_schedule).period_s
        while not self.stop_event.is_set():
            now = time.time()
            if self.stop_event.wait(period - now % period):
                return
            try:
                self.fire(fn)
            except Exception as exc:  # noqa: BLE001
                self.log(f"[runner] {fn.name}: schedule run failed {exc.__class__.__name__}: {exc}")
