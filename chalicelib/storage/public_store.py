"""Reads of what the citizen and the public see: tracking links, public views, the public record,
and snapshots. Every read is a GetItem, a BatchGetItem or a Query with a limit: a
page's reads never grow with the number of stored appeals (bench/public_pages.py)."""
from __future__ import annotations

from datetime import datetime

from chalicelib.domain.records import PublicRecordRow, PublicView, Snapshot, TrackingLink
from chalicelib.storage import keys
from chalicelib.storage import records as rec
from chalicelib.storage.models import PublicRecordItem, PublicViewItem, SnapshotItem, TrackingItem


def get_or_none(model, pk: str, sk: str, consistent: bool = False):
    """GetItem of one model's item, None when there is none (the store's every single read)."""
    try:
        return model.get(pk, sk, consistent_read=consistent)
    except model.DoesNotExist:
        return None


def get_tracking(token_hash: str) -> TrackingLink | None:
    item = get_or_none(TrackingItem, keys.tracking_pk(token_hash), keys.TRACKING_SK)
    return rec.tracking_link(item) if item else None


def load_views(appeal_ids: list[str], consistent: bool = False) -> dict[str, PublicView]:
    """Several appeals' public views in one BatchGetItem (strongly consistent when a change is
    about to rewrite them)."""
    ids = list(dict.fromkeys(appeal_ids))
    if not ids:
        return {}
    items = PublicViewItem.batch_get([(keys.view_pk(i), keys.VIEW_SK) for i in ids], consistent_read=consistent)
    return {v.appeal_id: v for v in (rec.public_view(i) for i in items)}


def open311_views(region: str, bucket: str | None, month: str, low: str, high: str, limit: int,
                  service_code: str | None = None) -> list[PublicView]:
    """One bucket's listed views (open, closed, joined; None: all of them, without a service)
    received in one local month between two instants (of one service, when given), newest
    first, at most `limit`."""
    if bucket is None:
        index, pk = PublicViewItem.gsi1, keys.open311_all_pk(region, month)
        cond = PublicViewItem.GSI1SK.between(low, high + "#\uffff")
    elif service_code:
        index, pk = PublicViewItem.gsi3, keys.open311_service_pk(region, service_code, bucket, month)
        cond = PublicViewItem.GSI3SK.between(low, high + "#\uffff")
    else:
        index, pk = PublicViewItem.gsi2, keys.open311_month_pk(region, bucket, month)
        cond = PublicViewItem.GSI2SK.between(low, high + "#\uffff")
    hits = [i for i in index.query(pk, cond, scan_index_forward=False, limit=limit, page_size=limit)
            if isinstance(i, PublicViewItem)][:limit]
    return [rec.public_view(i) for i in whole_items(PublicViewItem, hits, f"{index.Meta.index_name}PK")]


def whole_items(model, hits: list, index_pk: str) -> list:
    """The items behind index entries, in the entries' order: an index projects their keys, not
    their `body` (keys.INDEX_ATTRIBUTES), so they are read in one BatchGetItem. An item that left
    the list between the two reads (its index key moved) is dropped; an entry of an index that
    still projects everything (a table created before issue 21) is used as it is."""
    missing = [(h.PK, h.SK) for h in hits if h.body is None]
    fetched = {(i.PK, i.SK): i for i in model.batch_get(missing)} if missing else {}
    out = []
    for h in hits:
        got = h if h.body is not None else fetched.get((h.PK, h.SK))
        if got is not None and getattr(got, index_pk) == getattr(h, index_pk):
            out.append(got)
    return out


def public_records(region: str, facet: str, value: str, partition: str, low: str, below: str,
                   limit: int) -> list[PublicRecordRow]:
    """One list's rows of one partition with low <= sort key < below, newest first."""
    items = PublicRecordItem.query(keys.public_record_pk(region, facet, value, partition),
                                   PublicRecordItem.SK.between(low, below), scan_index_forward=False, limit=limit + 1,
                                   page_size=limit + 1)
    return [rec.public_record_row(i) for i in items if i.SK < below][:limit]


def get_snapshot(region: str, name: str) -> Snapshot | None:
    item = get_or_none(SnapshotItem, keys.snapshot_pk(region), name)
    return rec.snapshot(item) if item else None


def put_snapshot(snapshot: Snapshot, now: datetime) -> None:
    rec.to_item(snapshot, now).save()


def get_view(appeal_id: str) -> PublicView | None:
    item = get_or_none(PublicViewItem, keys.view_pk(appeal_id), keys.VIEW_SK)
    return rec.public_view(item) if item else None
