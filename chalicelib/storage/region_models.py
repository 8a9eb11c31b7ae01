"""PynamoDB items of versioned region packs: one per version, the live pointer, and its audit trail."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.storage.models import CompactJSONAttribute, Item


class RegionVersionItem(Item, discriminator="region_version"):
    """An immutable loaded version of a region pack (the pack itself is one S3 object)."""

    region = UnicodeAttribute()
    version = NumberAttribute()
    content_hash = UnicodeAttribute()
    s3_key = UnicodeAttribute()
    s3_version_id = UnicodeAttribute(null=True)
    counts = CompactJSONAttribute()
    diff_summary = CompactJSONAttribute(null=True)
    actor = UnicodeAttribute()
    created_at = UnicodeAttribute()


class RegionLiveItem(Item, discriminator="region_live"):
    """Which version is live. `seq` counts pointer changes: every change is conditional on it."""

    region = UnicodeAttribute()
    version = NumberAttribute()
    content_hash = UnicodeAttribute()
    s3_key = UnicodeAttribute()
    s3_version_id = UnicodeAttribute(null=True)
    latest = NumberAttribute()        # highest version ever registered (next load gets latest + 1)
    seq = NumberAttribute()
    action = UnicodeAttribute()       # load | rollback
    actor = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class RegionAuditItem(Item, discriminator="region_audit"):
    """One change of the live pointer: who moved it from which version to which, and when."""

    region = UnicodeAttribute()
    seq = NumberAttribute()
    action = UnicodeAttribute()
    from_version = NumberAttribute(null=True)
    to_version = NumberAttribute()
    actor = UnicodeAttribute()
    at = UnicodeAttribute()
