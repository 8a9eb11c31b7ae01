"""How each fact of chalicelib.domain.records is keyed and stored in the single table, and read back.

`to_item(record, now)` is the one place a record becomes an item; the unit of work calls it for
everything a use case writes besides the aggregates themselves.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import singledispatch

from chalicelib.domain import records as r
from chalicelib.storage import keys
from chalicelib.storage.dedup_index import DedupHeadItem, DedupPostingItem
from chalicelib.storage.models import (
    AlertItem,
    AuditItem,
    CalendarAlertItem,
    ChannelItem,
    CorrectionItem,
    DueItem,
    Item,
    MarkerItem,
    NonceItem,
    OutboxItem,
    PartyItem,
    TicketItem,
)
from chalicelib.domain.timefmt import iso


@singledispatch
def to_item(record, now: datetime) -> Item:
    raise TypeError(f"no storage mapping for {type(record).__name__}")


@to_item.register
def _(h: r.Handoff, now: datetime) -> OutboxItem:
    created = iso(now)
    return OutboxItem(keys.appeal_pk(h.appeal_id), keys.outbox_sk(h.topic, h.key), appeal_id=h.appeal_id,
                      queue=h.queue, message=h.message, created_at=created,
                      GSI1PK=keys.outbox_gsi_pk(keys.outbox_shard(h.appeal_id)),
                      GSI1SK=keys.time_id_sk(created, h.appeal_id))


@to_item.register
def _(t: r.Ticket, now: datetime) -> TicketItem:
    return TicketItem(keys.ticket_pk(t.channel, t.ticket_id), keys.TICKET_SK, appeal_id=t.appeal_id,
                      payload_hash=t.payload_hash, response=t.response, status_code=t.status_code)


@to_item.register
def _(n: r.Nonce, now: datetime) -> NonceItem:
    return NonceItem(keys.nonce_pk(n.key_id, n.nonce), keys.NONCE_SK, seen_at=iso(n.seen_at), expires_at=n.expires_at)


@to_item.register
def _(p: r.SealedParty, now: datetime) -> PartyItem:
    return PartyItem(keys.appeal_pk(p.appeal_id), keys.PARTY_SK, appeal_id=p.appeal_id, wrapped_key=p.wrapped_key,
                     nonce=p.nonce, ciphertext=p.ciphertext, id_hash=p.id_hash, phone_hash=p.phone_hash,
                     id_hint=p.id_hint, phone_hint=p.phone_hint, name_hint=p.name_hint)


@to_item.register
def _(m: r.KeyMarker, now: datetime) -> MarkerItem:
    sk = keys.key_area_sk(m.area) if m.area else keys.KEY_SK
    return MarkerItem(keys.appeal_pk(m.appeal_id), sk, appeal_id=m.appeal_id, note={"reason": m.reason},
                      GSI1PK=keys.leader_queue(m.queue_loop), GSI1SK=keys.time_id_sk(iso(m.flagged_at), m.appeal_id))


@to_item.register
def _(a: r.AssistEntry, now: datetime) -> MarkerItem:
    return MarkerItem(keys.appeal_pk(a.appeal_id), keys.assist_sk(a.unit_id), appeal_id=a.appeal_id,
                      note={"role": "assisting", "lead_unit_id": a.lead_unit_id},
                      GSI1PK=keys.unit_queue(a.unit_id), GSI1SK=f"assisting#{iso(a.at)}#{a.appeal_id}")


@to_item.register
def _(c: r.SupervisionCopy, now: datetime) -> MarkerItem:
    return MarkerItem(keys.appeal_pk(c.appeal_id), keys.supervision_copy_sk(c.step, c.deadline_version, c.unit_id),
                      appeal_id=c.appeal_id,
                      note={"role": "supervision_copy", "step": c.step, "unit_id": c.lead_unit_id},
                      GSI1PK=keys.unit_queue(c.unit_id), GSI1SK=f"supervision#{iso(c.at)}#{c.appeal_id}")


@to_item.register
def _(d: r.DueEntry, now: datetime) -> DueItem:
    return DueItem(keys.due_pk(d.bucket, d.appeal_id), keys.due_sk(d.appeal_id, d.step, d.deadline_version, d.alert),
                   appeal_id=d.appeal_id, step=d.step, alert=d.alert, deadline_version=d.deadline_version,
                   at=iso(d.at))


def due_entry(item: DueItem) -> r.DueEntry:
    return r.DueEntry(item.appeal_id, item.step, item.alert, int(item.deadline_version),
                      datetime.fromisoformat(item.at), item.PK.split("#")[1])


@to_item.register
def _(c: r.Correction, now: datetime) -> CorrectionItem:
    at = iso(c.at)
    return CorrectionItem(keys.corrections_pk(c.region), keys.time_id_sk(at, c.appeal_id), text=c.text, code=c.code,
                          at=at)


@to_item.register
def _(a: r.AuditEntry, now: datetime) -> AuditItem:
    at = iso(a.at)
    return AuditItem(keys.audit_pk(a.region, at[:10]), f"{at}#{a.appeal_id}#{a.subject}", actor=a.actor,
                     appeal_id=a.appeal_id, action=a.action, reason=a.reason, at=at, fields=list(a.fields))


@to_item.register
def _(a: r.AlertRecord, now: datetime) -> AlertItem:
    at = iso(a.at)
    return AlertItem(keys.appeal_pk(a.appeal_id), keys.alert_sk(a.step, a.deadline_version, a.alert),
                     appeal_id=a.appeal_id, region=a.region, step=a.step, alert=a.alert,
                     deadline_version=a.deadline_version, at=at, instant=a.instant, unit_id=a.unit_id, data=a.data,
                     GSI2PK=keys.alerts_day_pk(a.region, a.local_day), GSI2SK=keys.time_id_sk(at, a.appeal_id))


def alert_record(item: AlertItem) -> r.AlertRecord:
    return r.AlertRecord(item.appeal_id, item.region, item.step, item.alert, int(item.deadline_version),
                         datetime.fromisoformat(item.at), item.instant, item.unit_id, item.GSI2PK.split("#")[-1],
                         dict(item.data or {}))


@to_item.register
def _(c: r.CalendarAlert, now: datetime) -> CalendarAlertItem:
    at = iso(c.at)
    return CalendarAlertItem(keys.calendar_alert_pk(c.region, c.year), keys.CALENDAR_ALERT_SK, region=c.region,
                             year=c.year, at=at, appeal_id=c.appeal_id, GSI1PK=keys.admin_queue(c.region),
                             GSI1SK=f"{at}#calendar#{c.year}")


@to_item.register
def _(p: r.Posting, now: datetime) -> DedupPostingItem:
    received = iso(p.received_at)
    return DedupPostingItem(keys.dedup_pk(p.block_key), keys.dedup_posting_sk(received, p.appeal_id),
                            appeal_id=p.appeal_id, received_at=received, features=p.features,
                            party_hashes=[h for h in p.party_hashes if h], master_id=p.master_id,
                            # Past the window a posting can never be a candidate: let TTL drop it.
                            expires_at=int((p.received_at + timedelta(days=p.keep_days)).timestamp()))


def posting(item: DedupPostingItem, block_key: str) -> r.Posting:
    return r.Posting(block_key, item.appeal_id, datetime.fromisoformat(item.received_at), dict(item.features),
                     tuple(item.party_hashes or ()), item.master_id, 0.0)


@to_item.register
def _(h: r.HeadBump, now: datetime) -> DedupHeadItem:
    return DedupHeadItem(keys.dedup_pk(h.block_key), keys.DEDUP_HEAD_SK, n=(h.seen or 0) + 1, updated_at=iso(now),
                         expires_at=int((now + timedelta(days=h.keep_days)).timestamp()))


def head_condition(h: r.HeadBump):
    """A head moves on only from the value the decision read."""
    return DedupHeadItem.PK.does_not_exist() if h.seen is None else DedupHeadItem.n == h.seen


@to_item.register
def _(c: r.Channel, now: datetime) -> ChannelItem:
    return ChannelItem(keys.channel_pk(c.code), keys.CHANNEL_SK, code=c.code, name=c.name, key_ids=dict(c.key_ids),
                       callback_url=c.callback_url, callback_key_id=c.callback_key_id, enabled=c.enabled)


def ticket(item: TicketItem) -> r.Ticket:
    _, channel, ticket_id = item.PK.split("#", 2)
    return r.Ticket(channel, ticket_id, item.appeal_id, item.payload_hash, dict(item.response), int(item.status_code))


def channel(item: ChannelItem) -> r.Channel:
    return r.Channel(item.code, item.name, dict(item.key_ids), item.callback_url, item.callback_key_id,
                     bool(item.enabled))


def sealed_party(item: PartyItem) -> r.SealedParty:
    return r.SealedParty(item.appeal_id, item.wrapped_key, item.nonce, item.ciphertext, item.id_hash, item.phone_hash,
                         item.id_hint, item.phone_hint, item.name_hint)


def outbox_entry(item: OutboxItem) -> r.OutboxEntry:
    _, topic, key = item.SK.split("#", 2)
    return r.OutboxEntry(item.appeal_id, topic, key, item.queue, dict(item.message), item.created_at, item.done_at,
                         int(item.resends or 0))
