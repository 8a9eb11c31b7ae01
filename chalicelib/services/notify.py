"""Status back to the channel (反馈, F-IN-3): signed POSTs to each channel's callback URL."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from chalicelib.channels.signing import signed_headers
from chalicelib.observability import logger, metrics
from chalicelib.services.clock import Clock
from chalicelib.storage import repository
from chalicelib.storage.secrets import get_secret

CALLBACK_TIMEOUT_S = 5


class CallbackFailed(Exception):
    """The partner did not accept the callback; the message is retried with backoff."""


@dataclass(frozen=True)
class HttpResult:
    status: int


def http_post(url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=CALLBACK_TIMEOUT_S) as resp:  # noqa: S310 - https/http only
            return HttpResult(resp.status)
    except urllib.error.HTTPError as exc:
        return HttpResult(exc.code)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise CallbackFailed(f"callback transport failed: {exc.__class__.__name__}") from None


def deliver_status(message: dict, clock: Clock, post: Callable[[str, bytes, dict], HttpResult] = http_post) -> str:
    """Deliver one (appeal, status) callback once; returns what happened, raises to retry."""
    appeal_id, status = message["appeal_id"], message["key"]
    pending = repository.get_outbox(appeal_id, "status", status)
    if pending is None or pending.done_at:
        return "already_delivered"
    channel = repository.get_channel(message["channel"])
    now = clock.now()
    if channel is None or not channel.callback_url:
        repository.mark_outbox_done(appeal_id, "status", status, now)
        return "no_callback"
    body = json.dumps({"event_id": f"{appeal_id}:{status}", "appeal_id": appeal_id,
                       "ticket_id": message["ticket_id"], "channel": message["channel"], "status": status,
                       "status_at": pending.created_at}, ensure_ascii=False).encode()
    key_id = channel.callback_key_id
    secret = get_secret(dict(channel.key_ids)[key_id])
    url = channel.callback_url
    path = urlsplit(url).path or "/"
    headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": f"{appeal_id}:{status}",
               **signed_headers(key_id, secret, "POST", path, body, now.timestamp())}
    result = post(url, body, headers)
    if not 200 <= result.status < 300:
        metrics.add_metric(name="CallbackRejected", unit="Count", value=1)
        raise CallbackFailed(f"callback answered HTTP {result.status}")
    repository.mark_outbox_done(appeal_id, "status", status, now)
    logger.info("status delivered", extra={"appeal_id": appeal_id, "status": status})
    return "delivered"


def backoff_seconds(receive_count: int) -> int:
    """Visibility delay before the next try: 10 s, 20 s, 40 s, ... capped at 15 minutes."""
    return min(900, 10 * 2 ** max(0, receive_count - 1))
