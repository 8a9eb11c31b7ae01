"""Intake (统一受理): authenticate a channel's request, validate it, store the appeal once."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.channels.base import parse_payload
from chalicelib.channels.registry import payload_model
from chalicelib.channels.signing import H_KEY_ID, read_headers, verify
from chalicelib.domain.appeal import Appeal, NewAppeal
from chalicelib.domain.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from chalicelib.observability import logger, metrics
from chalicelib.services import outbox
from chalicelib.services.clock import Clock
from chalicelib.services.ids import new_appeal_id
from chalicelib.settings import get_settings
from chalicelib.storage import keys, pii, repository
from chalicelib.storage.models import ChannelItem, NonceItem, PartyItem, TicketItem
from chalicelib.storage.secrets import get_secret


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


def authenticate(channel_code: str, req: ChannelRequest, now: datetime) -> tuple[ChannelItem, str]:
    """Check the channel is registered and the request is signed by one of its keys (F-IN-2)."""
    channel = repository.get_channel(channel_code)
    if channel is None or not channel.enabled:
        raise NotFoundError("this channel is not registered", field="channel", code="unknown_channel")
    signed = read_headers(req.headers)
    secret_ref = dict(channel.key_ids).get(signed.key_id)
    if secret_ref is None:
        raise AuthenticationError("unknown key id for this channel", field=H_KEY_ID, code="bad_signature")
    verify(signed, get_secret(secret_ref), req.method, req.path, req.body, now.timestamp(),
           get_settings().signature_window_s)
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
    return hashlib.sha256(repository.to_json(body).encode()).hexdigest()


def take_in(req: ChannelRequest, clock: Clock) -> IntakeResult:
    """Authenticate, validate and store; a retry with the same ticket id returns the same answer."""
    now = clock.now()
    if len(req.body) > get_settings().body_limit_bytes:
        raise PayloadTooLargeError(f"the body exceeds {get_settings().body_limit_bytes} bytes", field="body")
    model = payload_model(req.channel)  # 404 for a channel we have no adapter for
    _, nonce_key = authenticate(req.channel, req, now)
    body = decode_json(req.body)
    cmd = parse_payload(model, body)
    return store(cmd, payload_hash(body), nonce_key, now)


def store(cmd: NewAppeal, body_hash: str, nonce_key: str | None, now: datetime) -> IntakeResult:
    """Write the appeal, its ticket index, first event, party and hand-offs in one transaction."""
    existing = repository.get_ticket(cmd.channel, cmd.ticket_id)
    if existing is not None:
        return _replay(existing, body_hash, nonce_key, now)
    settings = get_settings()
    appeal = Appeal.take_in(cmd, new_appeal_id(now), settings.region_code, now)
    response = {"appeal_id": appeal.appeal_id, "channel": cmd.channel, "ticket_id": cmd.ticket_id,
                "status": appeal.public_status(), "received_at": repository.iso(now)}
    ticket = TicketItem(keys.ticket_pk(cmd.channel, cmd.ticket_id), keys.TICKET_SK, appeal_id=appeal.appeal_id,
                        payload_hash=body_hash, response=response, status_code=201)
    party = _party_item(cmd, appeal.appeal_id)
    handoffs = [outbox.stage_handoff("dedup", appeal.appeal_id), outbox.status_handoff(appeal, "accepted")]
    try:
        repository.create_appeal(appeal, ticket, party, _nonce(nonce_key, now), handoffs, now)
    except repository.NonceReused:
        raise AuthenticationError("nonce already used", field="X-Jiesu-Nonce", code="replayed_nonce") from None
    except repository.TicketTaken:
        # A concurrent retry won the race: answer as the retry it is (or 409 if it differs).
        return _replay(repository.get_ticket(cmd.channel, cmd.ticket_id), body_hash, nonce_key, now)
    logger.info("appeal accepted", extra={"appeal_id": appeal.appeal_id, "channel": cmd.channel})
    metrics.add_metric(name="AppealsAccepted", unit="Count", value=1)
    outbox.publish(handoffs)
    return IntakeResult(201, response)


def _replay(ticket: TicketItem, body_hash: str, nonce_key: str | None, now: datetime) -> IntakeResult:
    if ticket.payload_hash != body_hash:
        raise ConflictError("this ticket id was already used with a different payload", field="ticket_id",
                            code="ticket_conflict")
    if nonce_key is not None:
        try:
            repository.put_nonce(_nonce(nonce_key, now))
        except repository.NonceReused:
            raise AuthenticationError("nonce already used", field="X-Jiesu-Nonce", code="replayed_nonce") from None
    return IntakeResult(int(ticket.status_code), dict(ticket.response), replayed=True)


def _nonce(nonce_key: str | None, now: datetime) -> NonceItem | None:
    if nonce_key is None:
        return None
    key_id, nonce = nonce_key.split("#", 1)
    window = get_settings().signature_window_s
    # Kept twice the window: after that the timestamp check refuses the request anyway.
    return NonceItem(keys.nonce_pk(key_id, nonce), keys.NONCE_SK, seen_at=repository.iso(now),
                     expires_at=int(now.timestamp()) + 2 * window)


def _party_item(cmd: NewAppeal, appeal_id: str) -> PartyItem | None:
    if cmd.party.is_empty():
        return None
    wrapped, nonce, ciphertext = pii.encrypt_party(cmd.party, appeal_id)
    return PartyItem(keys.appeal_pk(appeal_id), keys.PARTY_SK, appeal_id=appeal_id, wrapped_key=wrapped,
                     nonce=nonce, ciphertext=ciphertext, **pii.party_hashes(cmd.party))
