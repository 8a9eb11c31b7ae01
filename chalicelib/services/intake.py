"""Intake (统一受理): authenticate a channel's request, validate it, store the appeal once."""
from __future__ import annotations

import hashlib
import json
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
        raise NotFoundError(f"channel {channel_code!r} is not registered", field="channel", code="unknown_channel")
    signed = read_headers(req.headers)
    secret_ref = dict(channel.key_ids).get(signed.key_id)
    if secret_ref is None:
        raise AuthenticationError("unknown key id for this channel", field=H_KEY_ID, code="bad_signature")
    verify(signed, get_secret(secret_ref), req.method, req.path, req.body, now.timestamp(),
           get_settings().signature_window_s)
    return channel, f"{signed.key_id}#{signed.nonce}"


def decode_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"the body is not valid UTF-8 JSON ({exc.__class__.__name__})", field="body") from None


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
