"""How each fact of chalicelib.domain.records is keyed and stored in the single table, and read back.

`to_item(record, now)` is the one place a record becomes an item; the unit of work calls it for
everything a use case writes besides the aggregates themselves.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import singledispatch

from chalicelib.domain import records as r
from chalicelib.domain.metrics import COUNTERS
from chalicelib.domain.public_view import open311_bucket
from chalicelib.storage import keys
from chalicelib.storage.dedup_index import DedupHeadItem, DedupPostingItem
from chalicelib.storage.models import (
    AnalyticsStateItem,
    CounterItem,
    HotspotAlertItem,
    HotspotStateItem,
    ReportItem,
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
    PublicRecordItem,
    PublicViewItem,
    SnapshotItem,
    TicketItem,
    TrackingItem,
)
from chalicelib.domain.calendar import to_local
from chalicelib.domain.timefmt import iso
from chalicelib.domain.return_visit import OPEN, VisitCandidate, VisitTask
from chalicelib.storage.models import VisitCandidateItem, VisitTaskItem


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


# The deadline sweep never reads a bucket older than its catch-up limit (a day,
# services/deadlines.CATCH_UP_LIMIT): a week after its instant a due entry goes by TTL, for free.
DUE_KEEP = timedelta(days=7)


@to_item.register
def _(d: r.DueEntry, now: datetime) -> DueItem:
    return DueItem(keys.due_pk(d.bucket, d.appeal_id), keys.due_sk(d.appeal_id, d.step, d.deadline_version, d.alert),
                   appeal_id=d.appeal_id, step=d.step, alert=d.alert, deadline_version=d.deadline_version,
                   at=iso(d.at), expires_at=int((d.at + DUE_KEEP).timestamp()))


def due_entry(item: DueItem) -> r.DueEntry:
    return r.DueEntry(item.appeal_id, item.step, item.alert, int(item.deadline_version),
                      datetime.fromisoformat(item.at), item.PK.split("#")[1])


VISIT_CANDIDATE_KEEP = timedelta(days=60)   # a planner stopped longer than this visits nothing older


@to_item.register
def _(c: VisitCandidate, now: datetime) -> VisitCandidateItem:
    return VisitCandidateItem(keys.visit_candidates_pk(c.region, c.bucket),
                              keys.visit_candidate_sk(c.appeal_id, c.round), appeal_id=c.appeal_id, region=c.region,
                              round=int(c.round), replied_at=iso(c.replied_at),
                              expires_at=int((c.replied_at + VISIT_CANDIDATE_KEEP).timestamp()))


def visit_candidate(item: VisitCandidateItem) -> VisitCandidate:
    return VisitCandidate(item.region, item.appeal_id, int(item.round), datetime.fromisoformat(item.replied_at))


@to_item.register
def _(t: VisitTask, now: datetime) -> VisitTaskItem:
    """A task is in the visitors' queue (GSI1) only while open: a done or given-up task is put
    without the index keys, which takes it out."""
    due = iso(t.due_at)
    item = VisitTaskItem(keys.appeal_pk(t.appeal_id), keys.visit_task_sk(t.round), appeal_id=t.appeal_id,
                         region=t.region, round=int(t.round), replied_at=iso(t.replied_at), due_at=due,
                         created_at=iso(t.created_at), attempts=int(t.attempts), state=t.state,
                         last_called_at=iso(t.last_called_at) if t.last_called_at else None)
    if t.state == OPEN:
        item.GSI1PK, item.GSI1SK = keys.visit_queue(t.region), keys.time_id_sk(due, t.appeal_id)
    return item


def visit_task(item: VisitTaskItem) -> VisitTask:
    return VisitTask(item.region, item.appeal_id, int(item.round), datetime.fromisoformat(item.replied_at),
                     datetime.fromisoformat(item.due_at), datetime.fromisoformat(item.created_at),
                     int(item.attempts or 0), item.state,
                     datetime.fromisoformat(item.last_called_at) if item.last_called_at else None)


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


# --- what the citizen and the public see ---------------------------------------------------------

@to_item.register
def _(t: r.TrackingLink, now: datetime) -> TrackingItem:
    return TrackingItem(keys.tracking_pk(t.token_hash), keys.TRACKING_SK, appeal_id=t.appeal_id,
                        created_at=iso(t.created_at), revoked_at=iso(t.revoked_at) if t.revoked_at else None)


def tracking_link(item: TrackingItem) -> r.TrackingLink:
    return r.TrackingLink(item.PK.split("#", 1)[1], item.appeal_id, datetime.fromisoformat(item.created_at),
                          datetime.fromisoformat(item.revoked_at) if item.revoked_at else None)


@to_item.register
def _(v: r.PublicView, now: datetime) -> PublicViewItem:
    listed = {}
    if v.listed_month:
        sk = keys.time_id_sk(v.summary["received_at"], v.appeal_id)
        bucket = open311_bucket(v.summary)
        listed = {"GSI1PK": keys.open311_all_pk(v.region, v.listed_month), "GSI1SK": sk,
                  "GSI2PK": keys.open311_month_pk(v.region, bucket, v.listed_month), "GSI2SK": sk}
        if v.summary.get("service_code"):
            listed |= {"GSI3PK": keys.open311_service_pk(v.region, v.summary["service_code"], bucket,
                                                         v.listed_month), "GSI3SK": sk}
    return PublicViewItem(keys.view_pk(v.appeal_id), keys.VIEW_SK, appeal_id=v.appeal_id, region=v.region,
                          body=v.summary, timeline=list(v.timeline), **listed)


def public_view(item: PublicViewItem) -> r.PublicView:
    return r.PublicView(item.appeal_id, item.region, dict(item.body), tuple(item.timeline or ()),
                        item.GSI2PK.rsplit("#", 1)[1] if item.GSI2PK else None)


@to_item.register
def _(row: r.PublicRecordRow, now: datetime) -> PublicRecordItem:
    return PublicRecordItem(keys.public_record_pk(row.region, row.facet, row.value, row.partition),
                            keys.time_id_sk(row.closed_at, row.appeal_id), appeal_id=row.appeal_id,
                            closed_at=row.closed_at, body=row.summary)


def public_record_row(item: PublicRecordItem) -> r.PublicRecordRow:
    _, region, facet, value, partition = item.PK.split("#", 4)
    return r.PublicRecordRow(region, facet, value, partition, item.closed_at, item.appeal_id, dict(item.body))


@to_item.register
def _(snap: r.Snapshot, now: datetime) -> SnapshotItem:
    return SnapshotItem(keys.snapshot_pk(snap.region), snap.name, body=snap.body, updated_at=iso(snap.updated_at))


def snapshot(item: SnapshotItem) -> r.Snapshot:
    return r.Snapshot(item.PK.split("#", 1)[1], item.SK, dict(item.body), datetime.fromisoformat(item.updated_at))




@singledispatch
def to_update(record, now: datetime):
    """(item with its key, update actions) of a record written by adding to what is stored."""
    raise TypeError(f"no update mapping for {type(record).__name__}")


@to_update.register
def _(b: r.CounterBump, now: datetime):
    item = CounterItem(keys.counters_pk(b.region, b.grain, b.period), keys.counter_sk(b.dimension, b.ident))
    unknown = set(b.counts) - set(COUNTERS)
    if unknown:
        raise ValueError(f"no such counter: {sorted(unknown)}")
    actions = [CounterItem.kind.set(CounterItem), CounterItem.region.set(b.region),
               CounterItem.dimension.set(b.dimension), CounterItem.ident.set(b.ident)]
    actions += [getattr(CounterItem, name).add(n) for name, n in sorted(b.counts.items()) if n]
    return item, actions


def counter_row(item: CounterItem) -> r.CounterRow:
    _, _, grain, period = item.PK.split("#", 3)
    return r.CounterRow(grain, period, item.dimension, item.ident,
                        {c: int(v) for c in COUNTERS if (v := getattr(item, c, None))})


@to_item.register
def _(s: r.AnalyticsState, now: datetime) -> AnalyticsStateItem:
    return AnalyticsStateItem(keys.appeal_pk(s.appeal_id), keys.ANALYTICS_SK, region=s.region, seq=s.seq,
                              facts=s.facts, contribution=s.contribution)


def analytics_state(item: AnalyticsStateItem) -> r.AnalyticsState:
    return r.AnalyticsState(item.PK.split("#", 1)[1], item.region, int(item.seq), dict(item.facts),
                            dict(item.contribution), seen=int(item.seq))


@to_item.register
def _(h: r.HotspotRecord, now: datetime) -> HotspotStateItem:
    return HotspotStateItem(keys.hotspot_pk(h.region), h.key, body=h.body)


@to_item.register
def _(a: r.HotspotAlertRecord, now: datetime) -> HotspotAlertItem:
    return HotspotAlertItem(keys.hotspot_alerts_pk(a.region, to_local(a.raised_at).date().isoformat()),
                            f"{iso(a.raised_at)}#{a.alert_id}", alert_id=a.alert_id, district=a.district,
                            raised_at=iso(a.raised_at), body=a.body)


def hotspot_alert(item: HotspotAlertItem) -> r.HotspotAlertRecord:
    region = item.PK.split("#")[1]
    return r.HotspotAlertRecord(region, item.alert_id, datetime.fromisoformat(item.raised_at), item.district,
                                dict(item.body))


@to_item.register
def _(e: r.ReportEntry, now: datetime) -> ReportItem:
    return ReportItem(keys.report_pk(e.region, e.scope), f"{e.kind}#{e.start}", kind_of_report=e.kind,
                      start=e.start, end=e.end, title=e.title, files=e.files, created_at=iso(e.created_at),
                      demo=e.demo)


def report_entry(item: ReportItem) -> r.ReportEntry:
    _, region, scope = item.PK.split("#", 2)
    return r.ReportEntry(region, scope, item.kind_of_report, item.start, item.end, item.title, dict(item.files),
                         datetime.fromisoformat(item.created_at), bool(item.demo))


@singledispatch
def guard(record):
    """The condition a guarded put (uow.bump) is written under."""
    raise TypeError(f"no guard for {type(record).__name__}")


@guard.register
def _(h: r.HeadBump):
    return head_condition(h)


@guard.register
def _(s: r.AnalyticsState):
    """Counted once: over the seq that was read, or where there was none."""
    return AnalyticsStateItem.PK.does_not_exist() if s.seen is None else AnalyticsStateItem.seq == s.seen
