"""Status back to the channel (反馈, F-IN-3): signed POSTs to each channel's callback URL."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from chalicelib.batch import RetryLater
from chalicelib.channels.signing import signed_headers
from chalicelib.domain.records import SPILL_TOPIC, Handoff
from chalicelib.observability import logger, metrics
from chalicelib.services import tracking

CALLBACK_TIMEOUT_S = 5


class CallbackFailed(Exception):
    """The partner did not accept the callback; the message is retried with backoff."""


class EarlierStatusPending(RetryLater):
    """An earlier status of the same appeal is not delivered yet: this one waits (put back for a
    couple of seconds), so a partner hears accepted before dispatched, dispatched before replied."""


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


def handle(p, message: dict) -> str:
    """One message of the notify queue: a status notice, or a spill of many (a big group's change,
    see storage/unit_of_work.py: its notices are written out here, once, and sent)."""
    if message.get("topic") == SPILL_TOPIC:
        return spill_out(p, message)
    return deliver_status(p, message)


def spill_out(p, message: dict) -> str:
    """Write each carried hand-off as its own outbox row (a row already there is left as it is,
    so a redelivered spill changes nothing), send them, and close the spill."""
    pending = p.store.get_outbox(message["appeal_id"], SPILL_TOPIC, message["key"])
    if pending is None or pending.done_at:
        return "already_spilled"
    now = p.now()
    handoffs = [Handoff(**h) for h in message["handoffs"]]
    written = p.store.put_handoffs_once(handoffs, now)
    p.publisher.publish(written)
    p.store.mark_outbox_done(message["appeal_id"], SPILL_TOPIC, message["key"], now)
    logger.info("spilled notices written", extra={"appeal_id": message["appeal_id"], "notices": len(written)})
    return "spilled"


def deliver_status(p, message: dict, post: Callable[[str, bytes, dict], HttpResult] | None = None) -> str:
    """Deliver one status notice once, after every earlier notice of its appeal; raises to retry.

    The body carries `event_id` (also the `Idempotency-Key`), unique per notice, and `seq`, the
    appeal's notice number, increasing: a redo's second `dispatched` is a new event, and a
    partner can order what it receives; `tracking_url`, the citizen's page, and for `replied`
    the `answer` (personal data scrubbed), so the partner can tell the citizen everything the
    page does. Messages queued before notices were numbered carry only
    the status as their key; they keep `<appeal_id>:<status>` as their id.
    """
    appeal_id, key = message["appeal_id"], message["key"]
    status = message.get("status") or key
    seq = int(message.get("seq") or 0)
    event_id = message.get("event_id") or f"{appeal_id}:{status}"
    pending = p.store.get_outbox(appeal_id, "status", key)
    if pending is None or pending.done_at:
        return "already_delivered"
    if seq and p.store.earlier_status_pending(appeal_id, key):
        raise EarlierStatusPending(f"an earlier status of the appeal is not delivered yet (seq {seq})")
    channel = p.store.get_channel(message["channel"])
    now = p.now()
    if channel is None or not channel.callback_url:
        p.store.mark_outbox_done(appeal_id, "status", key, now)
        return "no_callback"
    notice = {"event_id": event_id, "seq": seq, "appeal_id": appeal_id, "ticket_id": message["ticket_id"],
              "channel": message["channel"], "status": status, "status_at": pending.created_at,
              "tracking_url": _tracking_url(p, appeal_id, message)}
    if message.get("answer") is not None:
        notice["answer"] = message["answer"]
    body = json.dumps(notice, ensure_ascii=False).encode()
    key_id = channel.callback_key_id
    secret = p.secrets(channel.key_ids[key_id])
    url = channel.callback_url
    parts = urlsplit(url)
    # Signed as a partner's request to us is: the path and, if the URL has one, its query.
    headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": event_id,
               **signed_headers(key_id, secret, "POST", parts.path or "/", body, now.timestamp(),
                                query=parts.query or None)}
    result = (post or http_post)(url, body, headers)
    if not 200 <= result.status < 300:
        metrics.add_metric(name="CallbackRejected", unit="Count", value=1)
        raise CallbackFailed(f"callback answered HTTP {result.status}")
    p.store.mark_outbox_done(appeal_id, "status", key, now)
    logger.info("status delivered", extra={"appeal_id": appeal_id, "status": status, "seq": seq})
    return "delivered"


def _tracking_url(p, appeal_id: str, message: dict) -> str | None:
    """The citizen's link, made again from the salt the notice carries (notices queued before
    links existed carry none: the appeal's own is read)."""
    salt = message.get("track")
    if salt is None:
        salt = p.store.load_appeal(appeal_id, consistent=False).tracking_salt
    return tracking.tracking_url(p, appeal_id, salt)


def backoff_seconds(receive_count: int) -> int:
    """Visibility delay before the next try: 10 s, 20 s, 40 s, ... capped at 15 minutes."""
    return min(900, 10 * 2 ** max(0, receive_count - 1))
