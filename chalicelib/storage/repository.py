"""The appeal aggregate as items (mapping), and the reads of its partition and indexes.

Writes of a change go through storage/unit_of_work.py (one transaction); chalicelib.storage.store
exposes these reads to the services."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any, Iterator

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.domain.appeal import Appeal, AppealType, CaseEvent, Location, Status, Urgency
from chalicelib.domain.errors import appeal_not_found
from chalicelib.domain.timefmt import iso, parse_iso
from chalicelib.storage import keys
from chalicelib.storage.models import (
    AppealItem,
    CaseEventItem,
    ChannelItem,
    OutboxItem,
    PartyItem,
    TicketItem,
)


# --- mapping -------------------------------------------------------------------------------

# Stored as top-level attributes (queried or guarded); everything else goes into `body`.
# The body is the aggregate's flat_fields (its components' fields flat among the root's, new
# events left out): the same JSON whatever the components.
_TOP_LEVEL = {"appeal_id", "region", "channel", "ticket_id", "status", "version", "last_seq", "received_at"}
_DATETIMES = ("reported_at", "last_report_at", "public_changed_at")


def appeal_to_item(appeal: Appeal) -> AppealItem:
    body: dict[str, Any] = {k: v for k, v in appeal.flat_fields().items() if k not in _TOP_LEVEL}
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
    owner = keys.owner_queue(appeal.status.value, appeal.assignment.unit_id, appeal.assignment.loop)
    if owner:
        reply = appeal.handling_clock.deadline("reply")
        due = reply.due_at.isoformat() if reply else received
        item.GSI1PK, item.GSI1SK = owner, f"{appeal.status.value}#{due}#{appeal.appeal_id}"
    if appeal.district_code:
        item.GSI3PK, item.GSI3SK = keys.area_pk(appeal.district_code), keys.time_id_sk(received, appeal.appeal_id)
    return item


def item_to_appeal(item: AppealItem) -> Appeal:
    b = dict(item.body)  # attributes a newer version wrote are ignored (Appeal.from_fields)
    b["appeal_type"] = AppealType(b["appeal_type"])
    b["urgency"] = Urgency(b["urgency"])
    b["location"] = Location(**b["location"])
    b["attachments"] = tuple(b["attachments"])
    for name in _DATETIMES:
        b[name] = parse_iso(b[name]) if b.get(name) else None
    return Appeal.from_fields({**b, "appeal_id": item.appeal_id, "region": item.region, "channel": item.channel,
                               "ticket_id": item.ticket_id, "received_at": parse_iso(item.received_at),
                               "status": Status(item.status), "version": int(item.version),
                               "last_seq": int(item.last_seq)})


def event_item(appeal_id: str, ev: CaseEvent) -> CaseEventItem:
    return CaseEventItem(keys.appeal_pk(appeal_id), keys.event_sk(ev.seq), appeal_id=appeal_id, seq=ev.seq,
                         at=iso(ev.at), event_kind=ev.kind, actor=ev.actor, data=ev.data, public=ev.public)


def item_to_event(item: CaseEventItem) -> CaseEvent:
    return CaseEvent(int(item.seq), parse_iso(item.at), item.event_kind, item.actor, dict(item.data), item.public)


# --- writes outside a unit of work --------------------------------------------------------------

# A delivered hand-off is kept a while (notify orders a channel's notices by the delivered
# ones; a message redelivered from a queue or its dead-letter queue, kept 14 days at most, finds
# it delivered), then goes by TTL, for free.
OUTBOX_DONE_KEEP = timedelta(days=30)


def mark_outbox_done(appeal_id: str, topic: str, key: str, now: datetime) -> bool:
    """Close a pending hand-off (drop it from the repair index). False if it was already closed."""
    item = OutboxItem(keys.appeal_pk(appeal_id), keys.outbox_sk(topic, key))
    try:
        item.update(actions=[OutboxItem.done_at.set(iso(now)), OutboxItem.GSI1PK.remove(), OutboxItem.GSI1SK.remove(),
                             OutboxItem.expires_at.set(int((now + OUTBOX_DONE_KEEP).timestamp()))],
                    condition=OutboxItem.PK.exists() & OutboxItem.done_at.does_not_exist())
        return True
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise


# --- reads ---------------------------------------------------------------------------------

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
        yield from OutboxItem.gsi1.query(keys.outbox_gsi_pk(shard), OutboxItem.GSI1SK < cutoff, limit=limit_per_shard)


def get_channel(code: str) -> ChannelItem | None:
    try:
        return ChannelItem.get(keys.channel_pk(code), keys.CHANNEL_SK)
    except DoesNotExist:
        return None
