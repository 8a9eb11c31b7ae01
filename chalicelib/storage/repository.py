"""Load and save aggregates and their hand-offs; every multi-item change is one transaction."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.appeal import Appeal, AppealType, CaseEvent, Location, Status, Urgency
from chalicelib.domain.errors import ConflictError, appeal_not_found
from chalicelib.storage import keys
from chalicelib.storage.models import (
    AppealItem,
    CaseEventItem,
    ChannelItem,
    FeedItem,
    Item,
    NonceItem,
    OutboxItem,
    PartyItem,
    TicketItem,
)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- mapping -------------------------------------------------------------------------------

# Stored as top-level attributes (queried or guarded); everything else goes into `body`.
_TOP_LEVEL = {"appeal_id", "region", "channel", "ticket_id", "status", "version", "last_seq", "received_at",
              "new_events"}
_DATETIMES = ("reported_at", "last_report_at", "public_changed_at")


def appeal_to_item(appeal: Appeal) -> AppealItem:
    body: dict[str, Any] = {f.name: getattr(appeal, f.name) for f in dataclasses.fields(appeal)
                            if f.name not in _TOP_LEVEL}
    body["appeal_type"] = appeal.appeal_type.value
    body["urgency"] = appeal.urgency.value
    body["attachments"] = list(appeal.attachments)
    body["location"] = dataclasses.asdict(appeal.location)
    for name in _DATETIMES:
        body[name] = body[name].isoformat() if body[name] else None
    received = iso(appeal.received_at)
    item = AppealItem(
        keys.appeal_pk(appeal.appeal_id), keys.APPEAL_SK,
        appeal_id=appeal.appeal_id, region=appeal.region, channel=appeal.channel,
        ticket_id=appeal.ticket_id, status=appeal.status.value, version=appeal.version,
        last_seq=appeal.last_seq, received_at=received, body=body,
        GSI2PK=keys.channel_list_pk(appeal.channel), GSI2SK=keys.time_id_sk(received, appeal.appeal_id),
    )
    owner = keys.owner_queue(appeal.status.value, appeal.unit_id, appeal.loop)
    if owner:
        due = (appeal.deadlines.get("reply") or {}).get("due_at") or received
        item.GSI1PK, item.GSI1SK = owner, f"{appeal.status.value}#{due}#{appeal.appeal_id}"
    if appeal.district_code:
        item.GSI3PK, item.GSI3SK = keys.area_pk(appeal.district_code), keys.time_id_sk(received, appeal.appeal_id)
    return item


def item_to_appeal(item: AppealItem) -> Appeal:
    b = dict(item.body)
    known = {f.name for f in dataclasses.fields(Appeal)}
    b = {k: v for k, v in b.items() if k in known}  # tolerate attributes a newer version wrote
    b["appeal_type"] = AppealType(b["appeal_type"])
    b["urgency"] = Urgency(b["urgency"])
    b["location"] = Location(**b["location"])
    b["attachments"] = tuple(b["attachments"])
    for name in _DATETIMES:
        b[name] = parse_iso(b[name]) if b.get(name) else None
    return Appeal(appeal_id=item.appeal_id, region=item.region, channel=item.channel, ticket_id=item.ticket_id,
                  received_at=parse_iso(item.received_at), status=Status(item.status), version=int(item.version),
                  last_seq=int(item.last_seq), **b)


def event_item(appeal_id: str, ev: CaseEvent) -> CaseEventItem:
    return CaseEventItem(keys.appeal_pk(appeal_id), keys.event_sk(ev.seq), appeal_id=appeal_id, seq=ev.seq,
                         at=iso(ev.at), event_kind=ev.kind, actor=ev.actor, data=ev.data, public=ev.public)


def item_to_event(item: CaseEventItem) -> CaseEvent:
    return CaseEvent(int(item.seq), parse_iso(item.at), item.event_kind, item.actor, dict(item.data), item.public)


@dataclass(frozen=True)
class Handoff:
    """A message for a queue, recorded in the outbox with the change that caused it."""

    queue: str
    topic: str
    key: str
    message: dict[str, Any]

    def item(self, appeal_id: str, now: datetime) -> OutboxItem:
        created = iso(now)
        return OutboxItem(
            keys.appeal_pk(appeal_id), keys.outbox_sk(self.topic, self.key), appeal_id=appeal_id,
            queue=self.queue, message=self.message, created_at=created,
            GSI1PK=keys.outbox_gsi_pk(keys.outbox_shard(appeal_id)), GSI1SK=keys.time_id_sk(created, appeal_id),
        )


# --- writes --------------------------------------------------------------------------------

class TicketTaken(Exception):
    """The channel's ticket id is already stored (an idempotent retry or a conflicting reuse)."""


class NonceReused(Exception):
    pass


CREATE_TRIES = 4  # TransactionConflict: another request is writing the same ticket (or nonce) now


def create_appeal(appeal: Appeal, ticket: TicketItem, party: PartyItem | None, nonce: NonceItem | None,
                  handoffs: list[Handoff], now: datetime, pause=None) -> None:
    """Intake's single transaction: nonce, ticket index, appeal, first events, party, outbox.

    A concurrent write of the same ticket makes DynamoDB cancel one of the two with
    TransactionConflict: that one is tried again (bounded, with jittered pauses), and then finds
    the ticket taken, so the caller answers it as the replay it is."""
    events = appeal.pull_events()
    pause = pause or _jittered_pause
    for attempt in range(1, CREATE_TRIES + 1):
        appeal.version = 1
        try:
            with TransactWrite(connection=_connection()) as tx:
                if nonce is not None:
                    tx.save(nonce, condition=NonceItem.PK.does_not_exist())
                tx.save(ticket, condition=TicketItem.PK.does_not_exist())
                tx.save(appeal_to_item(appeal), condition=AppealItem.PK.does_not_exist())
                for ev in events:
                    tx.save(event_item(appeal.appeal_id, ev))
                if party is not None:
                    tx.save(party)
                for h in handoffs:
                    tx.save(h.item(appeal.appeal_id, now))
            return
        except TransactWriteError as exc:
            appeal.version = 0
            reasons = [r.code if r else None for r in (exc.cancellation_reasons or [])]
            offset = 1 if nonce is not None else 0
            if nonce is not None and reasons and reasons[0] == "ConditionalCheckFailed":
                raise NonceReused() from None
            if len(reasons) > offset and reasons[offset] == "ConditionalCheckFailed":
                raise TicketTaken() from None
            if "TransactionConflict" in reasons and attempt < CREATE_TRIES:
                pause(attempt)
                continue
            raise


def _jittered_pause(attempt: int) -> None:
    import random
    import time

    time.sleep(random.uniform(0.02, 0.05) * 2 ** (attempt - 1))


class AlreadyCreated(ConflictError):
    """An item of `create_once` already exists (e.g. an alert raised by an earlier sweep)."""

    code = "already_created"


def save_appeal(appeal: Appeal, now: datetime, handoffs: list[Handoff] = (), close_outbox: list[tuple[str, str]] = (),
                extra_items: list[Item] = (), create_once: list[Item] = ()) -> None:
    """Store a changed appeal with its new events and hand-offs, guarded by its version.

    `create_once` items are put only if their key is new; if one exists nothing is written and
    AlreadyCreated is raised. Followers' feed entries (跟踪关注) join the same transaction.
    """
    events = appeal.pull_events()
    room = keys.TRANSACTION_LIMIT - 1 - len(events) - len(handoffs) - len(close_outbox) - len(extra_items) \
        - len(create_once)
    extra_items = [*extra_items, *FeedItem.for_events(appeal.appeal_id, appeal.followers, events, room)]
    expected = appeal.version
    appeal.version = expected + 1
    try:
        with TransactWrite(connection=_connection()) as tx:
            tx.save(appeal_to_item(appeal), condition=AppealItem.version == expected)
            for ev in events:
                tx.save(event_item(appeal.appeal_id, ev), condition=CaseEventItem.PK.does_not_exist())
            for h in handoffs:
                # Stored under the appeal the message is about (a master's change notifies its duplicates).
                tx.save(h.item(h.message.get("appeal_id", appeal.appeal_id), now))
            for topic, key in close_outbox:
                tx.delete(OutboxItem(keys.appeal_pk(appeal.appeal_id), keys.outbox_sk(topic, key)))
            for it in extra_items:
                tx.save(it)
            for it in create_once:
                tx.save(it, condition=Item.PK.does_not_exist())
    except TransactWriteError as exc:
        appeal.version = expected
        reasons = [r.code if r else None for r in (exc.cancellation_reasons or [])]
        if create_once and "ConditionalCheckFailed" in reasons[len(reasons) - len(create_once):]:
            raise AlreadyCreated("already created", field="create_once") from None
        if any(r and r.code == "ConditionalCheckFailed" for r in (exc.cancellation_reasons or [])):
            raise ConflictError("the appeal changed meanwhile; retry", field="version", code="concurrent_update") from None
        raise


def put_nonce(nonce: NonceItem) -> None:
    try:
        nonce.save(condition=NonceItem.PK.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise NonceReused() from None
        raise


def mark_outbox_done(appeal_id: str, topic: str, key: str, now: datetime) -> bool:
    """Close a pending hand-off (drop it from the repair index). False if it was already closed."""
    item = OutboxItem(keys.appeal_pk(appeal_id), keys.outbox_sk(topic, key))
    try:
        item.update(actions=[OutboxItem.done_at.set(iso(now)), OutboxItem.GSI1PK.remove(), OutboxItem.GSI1SK.remove()],
                    condition=OutboxItem.PK.exists() & OutboxItem.done_at.does_not_exist())
        return True
    except Exception as exc:  # UpdateError on a failed condition
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise


# --- reads ---------------------------------------------------------------------------------

def _connection() -> Connection:
    return Item._get_connection().connection


def get_ticket(channel: str, ticket_id: str) -> TicketItem | None:
    try:
        return TicketItem.get(keys.ticket_pk(channel, ticket_id), keys.TICKET_SK, consistent_read=True)
    except DoesNotExist:
        return None


def load_appeal(appeal_id: str, consistent: bool = True) -> Appeal:
    try:
        return item_to_appeal(AppealItem.get(keys.appeal_pk(appeal_id), keys.APPEAL_SK, consistent_read=consistent))
    except DoesNotExist:
        raise appeal_not_found() from None


def load_case_file(appeal_id: str) -> list[CaseEvent]:
    items = CaseEventItem.query(keys.appeal_pk(appeal_id), CaseEventItem.SK.startswith(keys.EVENT_SK_PREFIX))
    return [item_to_event(i) for i in items]


def get_party(appeal_id: str) -> PartyItem | None:
    try:
        return PartyItem.get(keys.appeal_pk(appeal_id), keys.PARTY_SK)
    except DoesNotExist:
        return None


def get_outbox(appeal_id: str, topic: str, key: str) -> OutboxItem | None:
    try:
        return OutboxItem.get(keys.appeal_pk(appeal_id), keys.outbox_sk(topic, key), consistent_read=True)
    except DoesNotExist:
        return None


def earlier_status_pending(appeal_id: str, key: str) -> bool:
    """Is a status notice of this appeal that sorts before `key` still undelivered? (One query
    over the appeal's own partition: its notices, oldest first, stopping at `key`.)"""
    prefix = keys.outbox_sk("status", "")
    for item in OutboxItem.query(keys.appeal_pk(appeal_id), OutboxItem.SK.between(prefix, keys.outbox_sk("status", key)),
                                 consistent_read=True):
        if item.SK < keys.outbox_sk("status", key) and not item.done_at:
            return True
    return False


def pending_outbox(older_than: datetime, limit_per_shard: int = 100) -> Iterator[OutboxItem]:
    """Hand-offs still open after the grace period; reads the sparse index only, never a scan."""
    cutoff = iso(older_than)
    for shard in range(keys.OUTBOX_SHARDS):
        yield from OutboxItem.gsi1.query(keys.outbox_gsi_pk(shard), Item.GSI1SK < cutoff, limit=limit_per_shard)


def get_channel(code: str) -> ChannelItem | None:
    try:
        return ChannelItem.get(keys.channel_pk(code), keys.CHANNEL_SK)
    except DoesNotExist:
        return None


def list_channel_appeals(channel: str, limit: int = 50, newest_first: bool = True,
                         since: datetime | None = None, until: datetime | None = None) -> Iterator[Appeal]:
    """A channel's appeals by time of receipt (GSI2), optionally only those received in
    [since, until]; lazily paged, at most `limit` items read."""
    cond = None
    if since is not None or until is not None:
        low = iso(since) if since is not None else ""
        high = (iso(until) if until is not None else "9999") + "#\uffff"
        cond = AppealItem.GSI2SK.between(low, high)
    items = AppealItem.gsi2.query(keys.channel_list_pk(channel), cond, scan_index_forward=not newest_first,
                                  limit=limit)
    return (item_to_appeal(i) for i in items if isinstance(i, AppealItem))


def newest_public_event_at(appeal_id: str) -> datetime | None:
    """When the appeal's newest public case event happened (None if it has none): its case file
    read newest first, stopping at the first public event, not the whole file."""
    items = CaseEventItem.query(keys.appeal_pk(appeal_id), CaseEventItem.SK.startswith(keys.EVENT_SK_PREFIX),
                                scan_index_forward=False, page_size=10)
    return next((parse_iso(i.at) for i in items if i.public), None)


def to_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
