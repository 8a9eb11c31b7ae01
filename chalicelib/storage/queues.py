"""Sending hand-off messages to the pipeline's SQS queues."""
from __future__ import annotations

import json
from typing import Any

from chalicelib.aws import client
from chalicelib.domain.records import Handoff
from chalicelib.observability import logger, metrics
from chalicelib.settings import get_settings


def send(queue: str, message: dict[str, Any], delay_s: int = 0) -> None:
    client("sqs").send_message(QueueUrl=get_settings().queue_url(queue),
                               MessageBody=json.dumps(message, ensure_ascii=False), DelaySeconds=delay_s)


class QueuePublisher:
    """Sends hand-offs after their commit. A failed send is logged, not raised: the hand-off is
    in the outbox, and the repair sweep re-sends it."""

    def send(self, queue: str, message: dict[str, Any]) -> None:
        send(queue, message)

    def publish(self, handoffs: list[Handoff]) -> int:
        sent = 0
        for h in handoffs:
            try:
                send(h.queue, h.message)
                sent += 1
            except Exception:  # noqa: BLE001 - any transport failure is repaired by the sweep
                logger.exception("hand-off not sent; the outbox sweep will retry",
                                 extra={"queue": h.queue, "appeal_id": h.message.get("appeal_id")})
                metrics.add_metric(name="HandoffSendFailed", unit="Count", value=1)
        return sent
