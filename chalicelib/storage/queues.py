"""Sending hand-off messages to the pipeline's SQS queues."""
from __future__ import annotations

import json
from typing import Any

from chalicelib.aws import client
from chalicelib.settings import get_settings


def send(queue: str, message: dict[str, Any], delay_s: int = 0) -> None:
    client("sqs").send_message(QueueUrl=get_settings().queue_url(queue),
                               MessageBody=json.dumps(message, ensure_ascii=False), DelaySeconds=delay_s)
