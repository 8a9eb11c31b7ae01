"""The de-duplication index (重复诉求索引): postings and head counters per blocking key (keys.py).
A decision is stored by the unit of work; store.read_key reads one key."""
from __future__ import annotations

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.storage.models import CompactJSONAttribute, Item


class SortedJSONAttribute(CompactJSONAttribute):
    """Compact JSON with sorted keys: postings are read 20 at a time, so item size is the read
    cost, and equal features store as equal text."""

    sort_keys = True


class DedupPostingItem(Item, discriminator="dedup_posting"):
    """One appeal under one blocking key: everything scoring needs, so candidates cost no extra read."""

    appeal_id = UnicodeAttribute()
    received_at = UnicodeAttribute()
    features = SortedJSONAttribute()                        # AppealFeatures.to_dict(), no PII
    party_hashes = ListAttribute(of=UnicodeAttribute, default=list)  # keyed hashes only
    master_id = UnicodeAttribute(null=True)                 # a hint: verified before a join


class DedupHeadItem(Item, discriminator="dedup_head"):
    """Write counter of a blocking key: every decision that indexes under the key bumps it, guarded
    by the value it read, so two workers deciding on overlapping keys cannot both commit."""

    n = NumberAttribute(default=0)
    updated_at = UnicodeAttribute(null=True)
