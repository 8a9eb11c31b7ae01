"""Intake (统一受理): authenticate a channel's request, validate it, store the appeal once."""
from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.channels.base import parse_payload
from chalicelib.channels.fields import FUTURE_SKEW_S, RECEIVED_AT
from chalicelib.channels.registry import payload_model
from chalicelib.channels.signing import H_KEY_ID, read_headers, verify
from chalicelib.domain.appeal import Appeal, NewAppeal
from chalicelib.domain.canonical import canonical_json
from chalicelib.domain.errors import (
    AlreadyCreated,
    AuthenticationError,
    ConcurrentUpdate,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from chalicelib.domain.records import Channel, Nonce, Ticket
from chalicelib.domain.timefmt import iso
from chalicelib.observability import logger, metrics
from chalicelib.services import outbox, tracking, work
from chalicelib.services.ids import new_appeal_id


@dataclass(frozen=True)
class ChannelRequest:
    """What intake needs of an HTTP request, independent of Chalice."""

    channel: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class IntakeResult:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def authenticate(p, channel_code: str, req: ChannelRequest, now: datetime) -> tuple[Channel, str]:
    """Check the channel is registered and the request is signed by one of its keys (F-IN-2)."""
    channel = p.store.get_channel(channel_code)
    if channel is None or not channel.enabled:
        raise NotFoundError("this channel is not registered", field="channel", code="unknown_channel")
    signed = read_headers(req.headers)
    secret_ref = dict(channel.key_ids).get(signed.key_id)
    if secret_ref is None:
        raise AuthenticationError("unknown key id for this channel", field=H_KEY_ID, code="bad_signature")
    verify(signed, p.secrets(secret_ref), req.method, req.path, req.body, now.timestamp(),
           p.settings.signature_window_s)
    return channel, f"{signed.key_id}#{signed.nonce}"


MAX_JSON_DEPTH = 32       # objects and arrays nested in one another; partner payloads need 3
MAX_JSON_INT_DIGITS = 32  # far above any id or count a payload carries, far below Python's 4300


class _DuplicateKeys(dict):
    """What the object hook returns for an object that names a key twice (found by _check_tree)."""

    duplicate: str = ""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    out = _DuplicateKeys(obj)
    out.duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
    return out


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise _Refused(f"body: a number has more than {MAX_JSON_INT_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused("body: a number is too large")
    return value


def _constant(name: str) -> Any:
    raise _Refused("body: NaN and Infinity are not JSON")


class _Refused(Exception):
    def __init__(self, message: str, field: str = "body"):
        super().__init__(message)
        self.message, self.field = message, field


def _check_tree(value: Any) -> None:
    """Depth and duplicate keys, walked without recursion; a duplicate is named by its path
    (`location.lat`, as payload errors name fields)."""
    stack: list[tuple[Any, tuple, int]] = [(value, (), 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, (dict, list)) and depth >= MAX_JSON_DEPTH:
            raise _Refused(f"body: objects and arrays nest more than {MAX_JSON_DEPTH} deep")
        if isinstance(node, _DuplicateKeys):
            field = ".".join(str(p) for p in (*path, node.duplicate))
            raise _Refused("duplicate key: a JSON object names this key twice", field)
        if isinstance(node, dict):
            stack.extend((v, (*path, k), depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*path, i), depth + 1) for i, v in enumerate(node))


def decode_json(body: bytes) -> Any:
    """The one JSON decoder for request bodies (channel intake, ratings, staff and admin APIs).

    Strict beyond `json.loads`: a key named twice in one object, nesting deeper than
    MAX_JSON_DEPTH, integers longer than MAX_JSON_INT_DIGITS digits, NaN/Infinity and numbers
    beyond a float's range are refused. Every refusal is a 400 naming `body` (a duplicate key
    is named by its path); nothing of the body is echoed.
    """
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_object, parse_int=_int,
                           parse_float=_float, parse_constant=_constant)
        _check_tree(value)
    except _Refused as exc:
        raise ValidationError(exc.message, field=exc.field) from None
    except RecursionError:
        raise ValidationError(f"body: objects and arrays nest more than {MAX_JSON_DEPTH} deep",
                              field="body") from None
    except (UnicodeDecodeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise ValidationError(f"the body is not valid UTF-8 JSON ({exc.__class__.__name__})", field="body") from None
    return value


def decode_object(body: bytes, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """`decode_json` for bodies that must be one JSON object; with `empty` given, a blank body is it."""
    if empty is not None and not body.strip():
        return dict(empty)
    value = decode_json(body)
    if not isinstance(value, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    return value


def payload_hash(body: Any) -> str:
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def take_in(p, req: ChannelRequest) -> IntakeResult:
    """Authenticate, validate and store; a retry with the same ticket id returns the same answer."""
    now = p.now()
    limit = p.settings.body_limit_bytes
    if len(req.body) > limit:
        raise PayloadTooLargeError(f"the body exceeds {limit} bytes", field="body")
    model = payload_model(req.channel)  # 404 for a channel we have no adapter for
    _, nonce_key = authenticate(p, req.channel, req, now)
    body = decode_json(req.body)
    cmd = parse_payload(model, body, {RECEIVED_AT: now, FUTURE_SKEW_S: p.settings.signature_window_s})
    return store(p, cmd, payload_hash(body), nonce_key, now)


CREATE_TRIES = 4  # TransactionConflict: another request is writing the same ticket (or nonce) now


def store(p, cmd: NewAppeal, body_hash: str, nonce_key: str | None, now: datetime, pause=None) -> IntakeResult:
    """Write the appeal, its ticket index, first event, party and hand-offs in one transaction.

    A concurrent write of the same ticket makes DynamoDB cancel one of the two with
    TransactionConflict: that one is tried again (bounded, with jittered pauses), and then finds
    the ticket taken, so it is answered as the replay it is."""
    pause = pause or _jittered_pause
    for attempt in range(1, CREATE_TRIES + 1):
        existing = p.store.get_ticket(cmd.channel, cmd.ticket_id)
        if existing is not None:
            return _replay(p, existing, body_hash, nonce_key, now)
        try:
            return _create(p, cmd, body_hash, nonce_key, now)
        except ConcurrentUpdate as exc:
            if not exc.transient or attempt == CREATE_TRIES:
                raise
            pause(attempt)
    raise AssertionError("unreachable")


def _create(p, cmd: NewAppeal, body_hash: str, nonce_key: str | None, now: datetime) -> IntakeResult:
    appeal = Appeal.take_in(cmd, new_appeal_id(now), p.settings.region_code, now)
    link = tracking.issue(p, appeal, now)
    # Stored with the ticket for retries: everything but the tracking link, whose token is never
    # stored (a retry makes it again from the appeal, as it is then).
    response = {"appeal_id": appeal.appeal_id, "channel": cmd.channel, "ticket_id": cmd.ticket_id,
                "status": appeal.public_status(), "received_at": iso(now)}
    uow = p.store.unit_of_work(now)
    uow.add(link)
    nonce = nonce_record(p, nonce_key, now)
    if nonce is not None:
        uow.add_once(nonce)
    uow.add_once(Ticket(cmd.channel, cmd.ticket_id, appeal.appeal_id, body_hash, response, 201))
    uow.create(appeal)
    if not cmd.party.is_empty():
        uow.add(p.sealer.seal(cmd.party, appeal.appeal_id))
    uow.hand_off(outbox.stage_handoff("dedup", appeal.appeal_id))   # "accepted" comes from AppealReceived
    try:
        work.commit(p, uow)
    except AlreadyCreated as exc:
        if isinstance(exc.record, Nonce):
            raise AuthenticationError("nonce already used", field="X-Jiesu-Nonce", code="replayed_nonce") from None
        # A concurrent retry won the race: answer as the retry it is (or 409 if it differs).
        return _replay(p, p.store.get_ticket(cmd.channel, cmd.ticket_id), body_hash, nonce_key, now)
    logger.info("appeal accepted", extra={"appeal_id": appeal.appeal_id, "channel": cmd.channel})
    metrics.add_metric(name="AppealsAccepted", unit="Count", value=1)
    return IntakeResult(201, {**response, "tracking_url": tracking.tracking_url(p, appeal.appeal_id,
                                                                                 appeal.tracking_salt)})


def _jittered_pause(attempt: int) -> None:
    time.sleep(random.uniform(0.02, 0.05) * 2 ** (attempt - 1))


def _replay(p, ticket: Ticket, body_hash: str, nonce_key: str | None, now: datetime) -> IntakeResult:
    if ticket.payload_hash != body_hash:
        raise ConflictError("this ticket id was already used with a different payload", field="ticket_id",
                            code="ticket_conflict")
    spend_nonce(p, nonce_key, now)
    appeal = p.store.load_appeal(ticket.appeal_id, consistent=False)
    return IntakeResult(ticket.status_code, {**ticket.response, "tracking_url": tracking.tracking_url(
        p, appeal.appeal_id, appeal.tracking_salt)}, replayed=True)


def spend_nonce(p, nonce_key: str | None, now: datetime) -> None:
    """A signed request's nonce is spent once (a request outside intake's transaction)."""
    nonce = nonce_record(p, nonce_key, now)
    if nonce is not None and not p.store.put_once(nonce, now):
        raise AuthenticationError("nonce already used", field="X-Jiesu-Nonce", code="replayed_nonce")


def nonce_record(p, nonce_key: str | None, now: datetime) -> Nonce | None:
    if nonce_key is None:
        return None
    key_id, nonce = nonce_key.split("#", 1)
    # Kept twice the window: after that the timestamp check refuses the request anyway.
    return Nonce(key_id, nonce, now, int(now.timestamp()) + 2 * p.settings.signature_window_s)
