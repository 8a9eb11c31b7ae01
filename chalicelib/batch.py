"""The one way a stage function consumes its SQS batch: Powertools partial failures plus backoff."""
from __future__ import annotations

import json
from typing import Any, Callable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.aws import client
from chalicelib.domain.privacy import mask_free_text
from chalicelib.observability import logger, metrics


def _queue_url(record: SQSRecord) -> str:
    # arn:<partition>:sqs:<region>:<account>:<name> -> the queue URL, without assuming a partition.
    return client("sqs").get_queue_url(QueueName=record.event_source_arn.split(":")[-1])["QueueUrl"]


class RetryLater(Exception):
    """Not a failure: the record must wait (e.g. for an earlier record of the same appeal). It is
    put back with a short delay instead of the backoff, and logged as deferred, not failed."""

    delay_s = 2


def failure_line(stage: str, body: str, exc: BaseException, attempt: int) -> str:
    """One log line for a failed record: stage, appeal, exception; no personal data."""
    try:
        appeal_id = str(json.loads(body).get("appeal_id") or "-")
    except (ValueError, AttributeError):
        appeal_id = "(unreadable body)"
    detail = mask_free_text(str(exc).splitlines()[0] if str(exc) else "")[:160]
    return f"{stage}: record failed for appeal {appeal_id} (try {attempt}): {exc.__class__.__name__}: {detail}"


def sqs_handler(stage: str, work: Callable[[dict[str, Any], SQSRecord], Any],
                backoff: Callable[[int], int] | None = None) -> Callable[[dict, Any], dict]:
    """Build a lambda_handler whose records are processed one by one by `work(message, record)`.

    A failing record is logged (`failure_line`) and reported in batchItemFailures (the rest of
    the batch is kept); with `backoff`, its visibility is set so the next try waits longer;
    after maxReceiveCount tries SQS moves it to the queue's DLQ.
    """
    def record_handler(record: SQSRecord) -> Any:
        try:
            return work(json.loads(record.body), record)
        except RetryLater as exc:
            logger.info(f"{stage}: record deferred: {exc.__class__.__name__}", extra={"stage": stage})
            _delay(record, exc.delay_s)
            raise
        except Exception as exc:
            attempt = int(record.attributes.approximate_receive_count or 1)
            logger.error(failure_line(stage, record.body, exc, attempt), extra={"stage": stage})
            if backoff is not None:
                _delay(record, backoff(int(record.attributes.approximate_receive_count or 1)))
            raise

    @metrics.log_metrics
    def lambda_handler(event: dict, context: Any) -> dict:
        # One processor per invocation: it holds the batch's state, and the local runner (like any
        # host that runs invocations side by side in threads) may run two batches at once.
        return process_partial_response(event=event, record_handler=record_handler,
                                        processor=BatchProcessor(event_type=EventType.SQS), context=context)

    return lambda_handler


def _delay(record: SQSRecord, seconds: int) -> None:
    try:
        client("sqs").change_message_visibility(QueueUrl=_queue_url(record), ReceiptHandle=record.receipt_handle,
                                                VisibilityTimeout=seconds)
    except Exception:  # noqa: BLE001 - without the delay SQS still retries after the visibility timeout
        logger.warning("could not set retry backoff", extra={"message_id": record.message_id})


def sqs_batch_handler(stage: str, work: Callable[[list[dict[str, Any]]], dict[str, Any]]
                      ) -> Callable[[dict, Any], dict]:
    """Build a lambda_handler that hands its whole batch to `work(messages)` at once (a stage
    that orders and groups its records, as analytics does). `work` returns `failed`: the
    appeal ids whose records must come back; every record of those, and any record whose body
    does not read, is reported in batchItemFailures (after maxReceiveCount tries: the DLQ)."""
    @metrics.log_metrics
    def lambda_handler(event: dict, context: Any) -> dict:
        records = event.get("Records", [])
        messages, failures = [], []
        for record in records:
            try:
                messages.append((record["messageId"], json.loads(record["body"])))
            except (ValueError, KeyError) as exc:
                logger.error(failure_line(stage, record.get("body", ""), exc, 1), extra={"stage": stage})
                failures.append(record["messageId"])
        result = work([m for _, m in messages]) if messages else {"failed": []}
        failed = set(result.get("failed", ()))
        failures += [mid for mid, m in messages if m.get("appeal_id") in failed]
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in failures]}

    return lambda_handler
