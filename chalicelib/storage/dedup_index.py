"""The de-duplication index (重复诉求索引): postings and head counters per blocking key, and the
one transaction that stores a dedup decision (or a split/merge) with everything it touches."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.appeal import Appeal
from chalicelib.storage import keys
from chalicelib.storage.models import AppealItem, CaseEventItem, Item, OutboxItem
from chalicelib.storage.repository import Handoff, appeal_to_item, event_item, iso


class CompactJSONAttribute(UnicodeAttribute):
    """JSON as UTF-8 text without padding: Chinese tokens cost 3 bytes, not a 6-byte \\u escape,
    and postings are read 20 at a time, so item size is the read cost."""

    def serialize(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    def deserialize(self, value: str) -> Any:
        return json.loads(value)


class DedupPostingItem(Item, discriminator="dedup_posting"):
    """One appeal under one blocking key: everything scoring needs, so candidates cost no extra read."""

    appeal_id = UnicodeAttribute()
    received_at = UnicodeAttribute()
    features = CompactJSONAttribute()                       # AppealFeatures.to_dict(), no PII
    party_hashes = ListAttribute(of=UnicodeAttribute, default=list)  # keyed hashes only
    master_id = UnicodeAttribute(null=True)                 # a hint: verified before a join


class DedupHeadItem(Item, discriminator="dedup_head"):
    """Write counter of a blocking key: every decision that indexes under the key bumps it, guarded
    by the value it read, so two workers deciding on overlapping keys cannot both commit."""

    n = NumberAttribute(default=0)
    updated_at = UnicodeAttribute(null=True)


@dataclass
class KeyRead:
    """What one bounded query of a blocking key saw."""

    key: str
    head: int | None                   # None: nobody has written under the key yet
    postings: list[DedupPostingItem] = field(default_factory=list)
    items_read: int = 0


def read_key(key: str, since: datetime, limit: int) -> KeyRead:
    """The key's head and its `limit` newest postings received since `since`: one query, bounded."""
    items = list(Item.query(keys.dedup_pk(key), Item.SK >= iso(since), scan_index_forward=False,
                            limit=limit + 1, consistent_read=True))
    out = KeyRead(key, None, items_read=len(items))
    for it in items:
        if isinstance(it, DedupHeadItem):
            out.head = int(it.n)
        elif isinstance(it, DedupPostingItem) and len(out.postings) < limit:
            out.postings.append(it)
    return out


def posting(block_key: str, appeal_id: str, received_at: datetime, features: dict[str, Any],
            party_hashes: Iterable[str], master_id: str | None, keep_days: float) -> DedupPostingItem:
    received = iso(received_at)
    return DedupPostingItem(keys.dedup_pk(block_key), keys.dedup_posting_sk(received, appeal_id),
                            appeal_id=appeal_id, received_at=received, features=features,
                            party_hashes=[h for h in party_hashes if h], master_id=master_id,
                            # Past the window a posting can never be a candidate: let TTL drop it.
                            expires_at=int((received_at + timedelta(days=keep_days)).timestamp()))


class Contended(Exception):
    """Another worker changed an item this decision depends on; recompute it from fresh reads."""


def commit(appeals: list[Appeal], now: datetime, *, handoffs: Iterable[Handoff] = (),
           close_outbox: Iterable[tuple[str, str, str]] = (), heads: dict[str, int | None] | None = None,
           postings: Iterable[DedupPostingItem] = (), keep_days: float = 60.0,
           extra_items: Iterable[Item] = ()) -> None:
    """One transaction: each appeal guarded by its version with its new case events, hand-offs
    (each stored under the appeal its message names), closed outbox entries (appeal, topic, key),
    head counters bumped from the value read, new postings and extra items (e.g. deadline index
    entries of a master whose urgency a joining report raised).

    Raises Contended when a guard fails (or DynamoDB reports a conflicting transaction).
    """
    expected = {a.appeal_id: a.version for a in appeals}
    events = {a.appeal_id: a.pull_events() for a in appeals}
    for a in appeals:
        a.version += 1
    try:
        with TransactWrite(connection=Item._get_connection().connection) as tx:
            for a in appeals:
                tx.save(appeal_to_item(a), condition=AppealItem.version == expected[a.appeal_id])
                for ev in events[a.appeal_id]:
                    tx.save(event_item(a.appeal_id, ev), condition=CaseEventItem.PK.does_not_exist())
            for h in handoffs:
                tx.save(h.item(h.message["appeal_id"], now))
            for appeal_id, topic, key in close_outbox:
                tx.delete(OutboxItem(keys.appeal_pk(appeal_id), keys.outbox_sk(topic, key)))
            for block_key, seen in (heads or {}).items():
                head = DedupHeadItem(keys.dedup_pk(block_key), keys.DEDUP_HEAD_SK, n=(seen or 0) + 1,
                                     updated_at=iso(now),
                                     expires_at=int((now + timedelta(days=keep_days)).timestamp()))
                cond = DedupHeadItem.PK.does_not_exist() if seen is None else DedupHeadItem.n == seen
                tx.save(head, condition=cond)
            for p in postings:
                tx.save(p)
            for it in extra_items:
                tx.save(it)
    except TransactWriteError as exc:
        for a in appeals:
            a.version = expected[a.appeal_id]
        codes = {r.code for r in (exc.cancellation_reasons or []) if r}
        if codes & {"ConditionalCheckFailed", "TransactionConflict"}:
            raise Contended(sorted(c for c in codes if c and c != "None")) from None
        raise
