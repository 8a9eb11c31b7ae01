"""The DynamoDB store: one method per access pattern, each returning domain objects and records.

Services reach storage only through a store handed to them by `chalicelib.bootstrap`; tests
hand them tests/fakes.MemoryStore instead (a test checks the two offer the same methods). Every read here is a
GetItem, a BatchGetItem or a bounded Query (never a Scan); the key templates are in keys.py.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.appeal import Appeal
from chalicelib.domain.errors import appeal_not_found
from chalicelib.domain.records import AlertRecord, DueEntry, FeedEntry, Handoff, KeyRead, OutboxEntry
from chalicelib.domain.timefmt import iso
from chalicelib.storage import analytics_store, keys, public_store, repository
from chalicelib.storage.public_store import get_or_none
from chalicelib.storage import records as rec
from chalicelib.storage.dedup_index import DedupHeadItem, DedupPostingItem
from chalicelib.storage.models import (
    AlertItem,
    AppealItem,
    AuditItem,
    DueItem,
    FeedItem,
    Item,
    MarkerItem,
    OutboxItem,
    PartyItem,
    SweepStateItem,
)
from chalicelib.storage.unit_of_work import UnitOfWork
from chalicelib.storage import visit_store


class DynamoStore:
    """The single table through PynamoDB (table name and endpoint from settings)."""

    def unit_of_work(self, now: datetime) -> UnitOfWork:
        return UnitOfWork(now)

    # --- appeals and their partition ---------------------------------------------------------

    load_appeal = staticmethod(repository.load_appeal)
    load_case_file = staticmethod(repository.load_case_file)
    earlier_status_pending = staticmethod(repository.earlier_status_pending)
    mark_outbox_done = staticmethod(repository.mark_outbox_done)

    def load_appeals(self, appeal_ids: list[str]) -> list[Appeal]:
        """Several appeals in one BatchGetItem (e.g. the duplicates joined to a master)."""
        if not appeal_ids:
            return []
        items = AppealItem.batch_get([(keys.appeal_pk(i), keys.APPEAL_SK) for i in appeal_ids])
        by_id = {a.appeal_id: a for a in (repository.item_to_appeal(i) for i in items)}
        return [by_id[i] for i in appeal_ids if i in by_id]

    def load_for_dedup(self, appeal_id: str, topic: str) -> tuple[Appeal, list[str], bool]:
        """The appeal, its party's keyed hashes and whether its `topic` hand-off is still open:
        one query on the appeal's partition."""
        appeal, hashes, still_open = None, [], False
        for it in Item.query(keys.appeal_pk(appeal_id), consistent_read=True):
            if isinstance(it, AppealItem):
                appeal = repository.item_to_appeal(it)
            elif isinstance(it, PartyItem):
                hashes = rec.sealed_party(it).hashes
            elif isinstance(it, OutboxItem) and it.SK == keys.outbox_sk(topic, "1") and not it.done_at:
                still_open = True
        if appeal is None:
            raise appeal_not_found()
        return appeal, hashes, still_open

    def get_party(self, appeal_id: str):
        item = get_or_none(PartyItem, keys.appeal_pk(appeal_id), keys.PARTY_SK)
        return rec.sealed_party(item) if item else None

    def get_ticket(self, channel: str, ticket_id: str):
        item = repository.get_ticket(channel, ticket_id)
        return rec.ticket(item) if item else None

    def get_channel(self, code: str):
        item = repository.get_channel(code)
        return rec.channel(item) if item else None

    # --- outbox ------------------------------------------------------------------------------

    def get_outbox(self, appeal_id: str, topic: str, key: str) -> OutboxEntry | None:
        item = repository.get_outbox(appeal_id, topic, key)
        return rec.outbox_entry(item) if item else None

    def pending_outbox(self, older_than: datetime, limit_per_shard: int = 100) -> Iterator[OutboxEntry]:
        return (rec.outbox_entry(i) for i in repository.pending_outbox(older_than, limit_per_shard))

    def put_once(self, record: Any, now: datetime) -> bool:
        """Store one record (domain.records) unless its key exists: one conditional PutItem, no
        transaction (half the write units). False if it existed."""
        try:
            rec.to_item(record, now).save(condition=Item.PK.does_not_exist())
            return True
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise

    def put_handoffs_once(self, handoffs: list[Handoff], now: datetime) -> list[Handoff]:
        """Each hand-off as its own outbox row unless its row exists (a delivered notice stays
        delivered); returns the ones written."""
        return [h for h in handoffs if self.put_once(h, now)]

    def outbox_resent(self, entry: OutboxEntry, now: datetime) -> None:
        """Count a re-send and restart the grace period, so the next sweep does not send it at once."""
        item = OutboxItem(keys.appeal_pk(entry.appeal_id), keys.outbox_sk(entry.topic, entry.key))
        try:
            item.update(actions=[OutboxItem.resends.add(1),
                                 OutboxItem.GSI1SK.set(keys.time_id_sk(iso(now), entry.appeal_id))],
                        condition=OutboxItem.PK.exists() & OutboxItem.done_at.does_not_exist())
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":   # closed meanwhile
                raise

    def outbox_abandoned(self, entry: OutboxEntry, now: datetime) -> None:
        """Close a hand-off the sweep gives up on: out of the repair index, marked abandoned."""
        item = OutboxItem(keys.appeal_pk(entry.appeal_id), keys.outbox_sk(entry.topic, entry.key))
        try:
            item.update(actions=[OutboxItem.GSI1PK.remove(), OutboxItem.GSI1SK.remove(),
                                 OutboxItem.done_at.set("abandoned:" + iso(now))], condition=OutboxItem.PK.exists())
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":   # gone meanwhile
                raise

    # --- staff lists -------------------------------------------------------------------------

    def unit_inbox(self, unit_id: str, status: str | None, limit: int) -> list[Appeal]:
        cond = Item.GSI1SK.startswith(f"{status}#") if status else None
        appeals = self._appeals_of(Item.gsi1.query(keys.unit_queue(unit_id), cond, limit=limit), "GSI1PK")
        # An appeal read after its index entry may have moved on to another status meanwhile.
        return [a for a in appeals if status is None or a.status.value == status]

    def dispatch_queue(self, loop: str, limit: int) -> list[Appeal]:
        return self._appeals_of(Item.gsi1.query(keys.dispatcher_queue(loop), limit=limit), "GSI1PK")

    def key_queue(self, loop: str, limit: int) -> list[Appeal]:
        return self._appeals_of(Item.gsi1.query(keys.leader_queue(loop), limit=limit), "GSI1PK")

    def area_appeals(self, district_code: str, limit: int) -> list[Appeal]:
        return self._appeals_of(Item.gsi3.query(keys.area_pk(district_code), scan_index_forward=False, limit=limit),
                                "GSI3PK")

    def _appeals_of(self, items, index_pk: str) -> list[Appeal]:
        """Index entries to appeals, in the index's order, all of a page's read in one
        BatchGetItem (one request, not one per row): an index projects an appeal's keys, not
        its body (keys.INDEX_ATTRIBUTES), and a marker points at its appeal. An appeal entry
        whose appeal left this list between the two reads is dropped; an entry of an index that
        still projects everything (a table created before issue 21) is used as it is."""
        items = list(items)
        whole = {it.appeal_id: it for it in items if isinstance(it, AppealItem) and it.body is not None}
        wanted = [it.appeal_id for it in items
                  if isinstance(it, (AppealItem, MarkerItem)) and it.appeal_id not in whole]
        fetched = {i.appeal_id: i for i in AppealItem.batch_get(
            [(keys.appeal_pk(i), keys.APPEAL_SK) for i in dict.fromkeys(wanted)])} if wanted else {}
        out = []
        for it in items:
            if isinstance(it, AppealItem):
                got = whole.get(it.appeal_id) or fetched.get(it.appeal_id)
                if got is not None and getattr(got, index_pk) == getattr(it, index_pk):
                    out.append(repository.item_to_appeal(got))
            elif isinstance(it, MarkerItem) and it.appeal_id in fetched:
                out.append(repository.item_to_appeal(fetched[it.appeal_id]))
        return out

    def feed(self, subject: str, limit: int) -> list[FeedEntry]:
        items = FeedItem.query(keys.feed_pk(subject), scan_index_forward=False, limit=limit)
        return [FeedEntry(i.subject, i.appeal_id, int(i.seq), i.at, i.event_kind, i.actor, dict(i.data or {}))
                for i in items]

    def audit_trail(self, region: str, day: str, limit: int) -> list[dict]:
        return [{"at": a.at, "actor": a.actor, "appeal_id": a.appeal_id, "action": a.action, "reason": a.reason,
                 "fields": a.fields} for a in AuditItem.query(keys.audit_pk(region, day), limit=limit)]

    # --- deadlines ---------------------------------------------------------------------------

    def due_in_bucket(self, bucket: str) -> list[DueEntry]:
        return [rec.due_entry(d) for pk in keys.due_pks(bucket) for d in DueItem.query(pk)]

    def sweep_mark(self) -> str | None:
        """The last minute bucket the deadline sweep read completely (None before its first run)."""
        item = get_or_none(SweepStateItem, keys.SWEEP_DEADLINES_PK, keys.SWEEP_SK, consistent=True)
        return item.last_bucket if item else None

    def move_sweep_mark(self, last_bucket: str, now: datetime) -> None:
        """Forward only: an overlapping older run never moves it back."""
        item = SweepStateItem(keys.SWEEP_DEADLINES_PK, keys.SWEEP_SK, last_bucket=last_bucket, updated_at=iso(now))
        try:
            item.save(condition=SweepStateItem.PK.does_not_exist() | (SweepStateItem.last_bucket < last_bucket))
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise

    def alerts_of_day(self, region: str, local_day: str, limit: int = 200) -> list[AlertRecord]:
        """A region's alerts of one local day, newest first (the city dashboard's read)."""
        items = AlertItem.gsi2.query(keys.alerts_day_pk(region, local_day), scan_index_forward=False, limit=limit)
        return [rec.alert_record(i) for i in items]

    # --- return visits (storage/visit_store.py) ----------------------------------------------

    visit_candidates = staticmethod(visit_store.visit_candidates)
    visit_tasks = staticmethod(visit_store.visit_tasks)
    visit_queue = staticmethod(visit_store.visit_queue)
    visit_mark = staticmethod(visit_store.visit_mark)
    move_visit_mark = staticmethod(visit_store.move_visit_mark)

    # --- what the citizen and the public see (storage/public_store.py) -----------------------

    get_tracking = staticmethod(public_store.get_tracking)
    get_view = staticmethod(public_store.get_view)
    load_views = staticmethod(public_store.load_views)
    open311_views = staticmethod(public_store.open311_views)
    public_records = staticmethod(public_store.public_records)
    get_snapshot = staticmethod(public_store.get_snapshot)
    put_snapshot = staticmethod(public_store.put_snapshot)

    # --- analytics (storage/analytics_store.py) ------------------------------------------------

    counters = staticmethod(analytics_store.counters)
    counter = staticmethod(analytics_store.counter)
    analytics_states = staticmethod(analytics_store.analytics_states)
    hotspot_records = staticmethod(analytics_store.hotspot_records)
    hotspot_alerts = staticmethod(analytics_store.hotspot_alerts)
    reports = staticmethod(analytics_store.reports)
    get_report = staticmethod(analytics_store.get_report)
    every_appeal_id = staticmethod(analytics_store.every_appeal_id)
    every_counter = staticmethod(analytics_store.every_counter)
    delete_counters = staticmethod(analytics_store.delete_counters)

    # --- de-duplication index ----------------------------------------------------------------

    def read_key(self, key: str, since: datetime, limit: int) -> KeyRead:
        """The key's head and its `limit` newest postings received since `since`: one query, bounded."""
        items = list(Item.query(keys.dedup_pk(key), Item.SK >= iso(since), scan_index_forward=False,
                                limit=limit + 1, consistent_read=True))
        out = KeyRead(key, None, items_read=len(items))
        for it in items:
            if isinstance(it, DedupHeadItem):
                out.head = int(it.n)
            elif isinstance(it, DedupPostingItem) and len(out.postings) < limit:
                out.postings.append(rec.posting(it, key))
        return out
