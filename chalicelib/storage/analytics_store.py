"""Reads of the analytics stage's tables: counters, appeals' analytics states, the hotspot
detector's state and alerts, and the reports. Dashboards read counters by partition (one local
day or month: one Query, a row per scope), never appeals (bench/analytics_reads.py)."""
from __future__ import annotations

from typing import Iterator

from chalicelib.domain.records import AnalyticsState, CounterRow, HotspotAlertRecord, ReportEntry
from chalicelib.storage import keys
from chalicelib.storage import records as rec
from chalicelib.storage.models import (
    AnalyticsStateItem,
    AppealItem,
    CounterItem,
    HotspotAlertItem,
    HotspotStateItem,
    ReportItem,
)
from chalicelib.storage.public_store import get_or_none


def counters(region: str, grain: str, period: str, dimension: str | None = None) -> list[CounterRow]:
    """Every scope's counters of one day or month (of one dimension when given): one partition."""
    pk = keys.counters_pk(region, grain, period)
    cond = CounterItem.SK.startswith(keys.counter_sk(dimension, "")) if dimension else None
    return [rec.counter_row(i) for i in CounterItem.query(pk, cond)]


def counter(region: str, grain: str, period: str, dimension: str, ident: str) -> CounterRow | None:
    item = get_or_none(CounterItem, keys.counters_pk(region, grain, period), keys.counter_sk(dimension, ident))
    return rec.counter_row(item) if item else None


def analytics_states(appeal_ids: list[str]) -> dict[str, AnalyticsState]:
    """The analytics states of several appeals in one strongly consistent BatchGetItem."""
    ids = list(dict.fromkeys(appeal_ids))
    if not ids:
        return {}
    items = AnalyticsStateItem.batch_get([(keys.appeal_pk(i), keys.ANALYTICS_SK) for i in ids], consistent_read=True)
    return {s.appeal_id: s for s in (rec.analytics_state(i) for i in items)}


def hotspot_records(region: str, record_keys: list[str]) -> dict[str, dict]:
    ks = list(dict.fromkeys(record_keys))
    items = HotspotStateItem.batch_get([(keys.hotspot_pk(region), k) for k in ks], consistent_read=True)
    return {i.SK: dict(i.body) for i in items}


def hotspot_alerts(region: str, local_day: str, limit: int = 200) -> list[HotspotAlertRecord]:
    """A region's spike alerts of one local day, newest first."""
    items = HotspotAlertItem.query(keys.hotspot_alerts_pk(region, local_day), scan_index_forward=False, limit=limit)
    return [rec.hotspot_alert(i) for i in items]


def reports(region: str, scope: str, limit: int = 100) -> list[ReportEntry]:
    """One scope's reports, newest period first (each kind sorts by its start)."""
    items = ReportItem.query(keys.report_pk(region, scope), scan_index_forward=False, limit=limit)
    return sorted((rec.report_entry(i) for i in items), key=lambda e: (e.start, e.kind), reverse=True)


def get_report(region: str, scope: str, kind: str, start: str) -> ReportEntry | None:
    item = get_or_none(ReportItem, keys.report_pk(region, scope), f"{kind}#{start}")
    return rec.report_entry(item) if item else None


# --- the rebuild's whole-table reads (an admin command, never a request) -----------------------

def every_appeal_id(region: str) -> Iterator[str]:
    """Every stored appeal of a region (a Scan: the rebuild reads everything by definition)."""
    for item in AppealItem.scan((AppealItem.kind == AppealItem) & (AppealItem.region == region)):
        yield item.appeal_id


def every_counter(region: str) -> Iterator[CounterRow]:
    for item in CounterItem.scan((CounterItem.kind == CounterItem) & CounterItem.PK.startswith(f"AN#{region}#")):
        yield rec.counter_row(item)


def delete_counters(region: str) -> int:
    """Remove every counter of a region (the rebuild writes them anew)."""
    n = 0
    with CounterItem.batch_write() as batch:
        for item in CounterItem.scan((CounterItem.kind == CounterItem) & CounterItem.PK.startswith(f"AN#{region}#")):
            batch.delete(item)
            n += 1
    return n
