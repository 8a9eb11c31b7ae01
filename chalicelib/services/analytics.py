"""The analytics stage (F-AN-1, F-AN-2, F-AN-4): counters and hotspot alerts, kept as work happens.

Every committed change that adds to an appeal's case file also hands off (outbox, then the
`analytics` queue, with its DLQ) the slim part of its new case events and the appeal's profile
(`hand_off_counts`, a reaction of work.commit). The consumer (`process`) folds them into the
appeal's facts, works out its contribution to every counter (domain/metrics.py) and, in ONE
transaction, adds the difference from what it added before, writes the appeal's new analytics
state guarded by the seq it read, and closes the hand-off: a redelivered or an older message
adds nothing, and a message that finds events missing (a lost earlier one) reads them from the
case file. An appeal's first dispatch also goes to the hotspot detector (domain/hotspots.py),
whose state records and alerts are written in the same transaction: the function runs one
batch at a time (reserved concurrency 1), so the detector sees appeals in order.

`rebuild` recomputes every counter from the case files and compares (or replaces) them.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from chalicelib.domain import metrics as m
from chalicelib.domain.calendar import WorkCalendar
from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.hotspots import AppealEvent, HotspotDetector, HotspotState
from chalicelib.domain.records import AnalyticsState, CounterBump, Handoff, HotspotAlertRecord, HotspotRecord
from chalicelib.domain.timefmt import parse_iso
from chalicelib.nlp.concepts import CONCEPTS, extract_concepts
from chalicelib.observability import logger, metrics as cloudwatch

QUEUE = "analytics"
TOPIC = "analytics"
HOT_WORDS = 3
# A change whose counters would not fit one transaction (with its state, its closed hand-offs and
# the detector's records) is applied in parts of this size, the state with the last part.
PART = 80


# --- the producer side: a reaction of every commit ------------------------------------------------

def hot_words(text: str) -> tuple[str, ...]:
    """The issue concepts a text names, by their usual Chinese name (井盖, 路灯 ...), heaviest first."""
    found = extract_concepts(text or "")
    ranked = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:HOT_WORDS]
    return tuple(CONCEPTS[cid][1][0] for cid, _ in ranked)


def profile_of(appeal) -> m.Profile:
    return m.Profile(appeal.appeal_id, appeal.region, appeal.channel, appeal.appeal_type.value,
                     appeal.received_at.isoformat(), appeal.district_code, appeal.street_code,
                     appeal.assignment.catalog_code, appeal.assignment.unit_id, appeal.master_id,
                     hot_words(f"{appeal.title or ''} {appeal.content or ''}"))


def handoff(appeal, new_events: Iterable) -> Handoff | None:
    events = list(new_events)
    slim = [s for s in (m.slim(e) for e in events) if s is not None]
    if not events:
        return None
    seq = events[-1].seq
    key = f"{seq:08d}"
    return Handoff(queue=QUEUE, topic=TOPIC, key=key, message={
        "topic": TOPIC, "key": key, "appeal_id": appeal.appeal_id, "seq": seq, "from_seq": events[0].seq,
        "profile": profile_of(appeal).to_dict(), "events": slim})


def hand_off_counts(p, uow, events: dict[str, list]) -> None:
    """Reaction: one analytics hand-off per saved appeal whose case file grows."""
    for appeal in uow.appeals:
        h = handoff(appeal, appeal.new_events)
        if h is not None:
            uow.hand_off(h)


# --- the consumer ----------------------------------------------------------------------------

def _region(p, region: str) -> tuple[WorkCalendar, m.MetricsPolicy]:
    try:
        rt = p.region(region)
    except NotFoundError:   # before any pack is live: the weekend rule and the default policy
        return WorkCalendar.weekends_only(), m.MetricsPolicy()
    return rt.calendar, rt.metrics_policy


def bumps(region: str, delta: dict) -> list[CounterBump]:
    return [CounterBump(region, grain, period, dim, ident, counts)
            for (grain, period, dim, ident), counts in sorted(delta.items())]


def process(p, messages: list[dict]) -> dict[str, Any]:
    """Count a batch of analytics messages (any order, duplicates welcome), appeal by appeal in
    the order they were received. Returns what it did and `failed`: the appeals whose count
    failed (their messages go back to the queue; the others are counted)."""
    by_appeal: dict[str, list[dict]] = {}
    for msg in messages:
        by_appeal.setdefault(msg["appeal_id"], []).append(msg)
    states = p.store.analytics_states(list(by_appeal))
    order = sorted(by_appeal, key=lambda a: (max(x["profile"]["received_at"] for x in by_appeal[a]), a))
    result: Counter = Counter()
    failed: list[str] = []
    hot = _HotspotCache(p)
    for appeal_id in order:
        try:
            result[_count(p, by_appeal[appeal_id], states.get(appeal_id), hot)] += 1
        except Exception as exc:  # noqa: BLE001 - the appeal's messages are retried, the batch goes on
            hot.pending = {}
            logger.error(f"analytics: count failed for appeal {appeal_id}: {exc.__class__.__name__}",
                         extra={"stage": "analytics"})
            failed.append(appeal_id)
    if result.get("counted"):
        cloudwatch.add_metric(name="AnalyticsCounted", unit="Count", value=result["counted"])
    return {**result, "failed": failed}


def _count(p, msgs: list[dict], state: AnalyticsState | None, hot: "_HotspotCache") -> str:
    appeal_id = msgs[0]["appeal_id"]
    latest = max(msgs, key=lambda x: x["seq"])
    seen = state.seq if state else 0
    now = p.now()
    uow = p.store.unit_of_work(now)
    # Each hand-off closed once: SQS may deliver one message twice in a batch, and a transaction
    # with two actions on one item is refused whole (the appeal's count then failed every time).
    for key in sorted({x["key"] for x in msgs}):
        uow.close(appeal_id, TOPIC, key)
    if latest["seq"] <= seen:       # counted already: only the hand-offs close
        uow.commit()
        return "duplicate"
    events = sorted({e["seq"]: e for x in msgs for e in x["events"]}.values(), key=lambda e: e["seq"])
    if _gap(msgs, seen):     # a message before or between these is missing: read the case file
        events = [s for s in (m.slim(e) for e in p.store.load_case_file(appeal_id) if e.seq > seen) if s]
    profile = m.Profile.from_dict(latest["profile"])
    before = m.Facts.from_dict(state.facts if state else None)
    facts = m.fold(before, events)
    facts.seq = max(facts.seq, latest["seq"])
    calendar, policy = _region(p, profile.region)
    contribution = m.contributions(profile, facts, calendar, policy)
    delta = m.difference(contribution, m.decode(state.contribution if state else None))
    if not before.dispatches and facts.dispatches and profile.group and profile.street and not profile.master_id:
        hot.observe(uow, profile)
    parts = bumps(profile.region, delta)
    head, tail = (parts[:-PART], parts[-PART:]) if len(parts) > PART else ([], parts)
    for i in range(0, len(head), PART):     # only a very long case file gets here
        part = p.store.unit_of_work(now)
        part.update(*head[i:i + PART])
        part.commit()
    uow.update(*tail)
    uow.bump(AnalyticsState(appeal_id, profile.region, facts.seq, facts.to_dict(), m.encode(contribution),
                            seen=state.seq if state else None))
    uow.commit()
    hot.committed()
    return "counted"


def _gap(msgs: list[dict], seen: int) -> bool:
    """Whether the messages leave out a part of the case file after `seen` (each covers its
    appeal's events from_seq..seq)."""
    expected = seen + 1
    for x in sorted(msgs, key=lambda x: x["from_seq"]):
        if x["seq"] < expected:
            continue
        if x["from_seq"] > expected:
            return True
        expected = x["seq"] + 1
    return False


class _HotspotCache:
    """The detector's state records for one batch: read once, kept as the batch commits."""

    def __init__(self, p) -> None:
        self.p = p
        self.records: dict[str, dict] = {}
        self.pending: dict[str, dict] = {}

    def observe(self, uow, profile: m.Profile) -> None:
        p = self.p
        try:
            calendar = p.region(profile.region).calendar
        except NotFoundError:
            return
        event = AppealEvent(profile.appeal_id, parse_iso(profile.received_at), profile.group, profile.street,
                            profile.district or profile.street[:6])
        wanted = HotspotState.keys_for(event)
        missing = [k for k in wanted if k not in self.records]
        if missing:
            self.records.update(p.store.hotspot_records(profile.region, missing))
        state = HotspotState.from_dict({k: self.records[k] for k in wanted if k in self.records})
        state, alerts = HotspotDetector(calendar).observe(state, event)
        changed = {k: v for k, v in state.to_dict().items() if k in state.dirty}
        uow.add(*[HotspotRecord(profile.region, k, v) for k, v in changed.items()])
        for alert in alerts:
            body = alert.to_dict()
            district = alert.area[:6]
            uow.add(HotspotAlertRecord(profile.region, alert.alert_id, alert.raised_at, district, body))
            logger.info("hotspot alert", extra={"alert_id": alert.alert_id, "observed": alert.observed,
                                                "expected": round(alert.expected, 3)})
        self.pending = changed

    def committed(self) -> None:
        self.records.update(self.pending)
        self.pending = {}


# --- rebuild: every counter from the case files -------------------------------------------------

def recount(p, region: str) -> tuple[dict, dict[str, AnalyticsState]]:
    """Every counter of a region as the case files say (and each appeal's state)."""
    calendar, policy = _region(p, region)
    totals: dict[tuple, Counter] = {}
    states: dict[str, AnalyticsState] = {}
    for appeal_id in p.store.every_appeal_id(region):
        appeal = p.store.load_appeal(appeal_id)
        case_file = p.store.load_case_file(appeal_id)
        profile = profile_of(appeal)
        facts = m.fold(m.Facts(), [s for s in (m.slim(e) for e in case_file) if s])
        facts.seq = max(facts.seq, case_file[-1].seq if case_file else 0)
        contribution = m.contributions(profile, facts, calendar, policy)
        for key, counts in contribution.items():
            totals.setdefault(key, Counter()).update(counts)
        states[appeal_id] = AnalyticsState(appeal_id, region, facts.seq, facts.to_dict(), m.encode(contribution))
    return {k: {c: n for c, n in v.items() if n} for k, v in totals.items()}, states


def rebuild(p, region: str | None = None, write: bool = False) -> dict[str, Any]:
    """Recompute every counter from the case files and compare with the stored ones; with
    `write`, replace the stored counters and states by the recomputed ones."""
    region = region or p.settings.region_code
    expected, states = recount(p, region)
    stored = {(r.grain, r.period, r.dimension, r.ident): {c: n for c, n in r.counts.items() if n}
              for r in p.store.every_counter(region)}
    stored = {k: v for k, v in stored.items() if v}
    mismatches = [{"counter": "~".join(k), "stored": stored.get(k, {}), "recomputed": expected.get(k, {})}
                  for k in sorted(set(expected) | set(stored)) if stored.get(k, {}) != expected.get(k, {})]
    if write and mismatches:
        p.store.delete_counters(region)
        now = p.now()
        rows = bumps(region, expected)
        for i in range(0, len(rows), PART):
            uow = p.store.unit_of_work(now)
            uow.update(*rows[i:i + PART])
            uow.commit()
    if write:
        now = p.now()
        items = list(states.values())
        for i in range(0, len(items), PART):
            uow = p.store.unit_of_work(now)
            uow.add(*items[i:i + PART])
            uow.commit()
    return {"region": region, "appeals": len(states), "counters": len(expected), "stored": len(stored),
            "mismatch_count": len(mismatches), "mismatches": mismatches[:20], "written": bool(write)}
