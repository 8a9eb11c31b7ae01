"""De-duplication (重复诉求识别, F-DD-1..3): find candidates by blocking keys, decide, join the master or
hand on to dispatch in one transaction; split and merge by hand.

One decision reads: the appeal (one query on its partition), one bounded query per blocking key
(head counter + the newest `max_candidates_per_key` postings in the window), and for a join the
master (plus the candidate when the master hint on its posting is stale). Nothing grows with the
number of stored appeals. It writes one transaction: the appeal(s) with their case events and
hand-offs, the closed dedup outbox entry, a posting per blocking key, and each key's head counter
condition-checked against the value read, so two workers deciding on overlapping keys at the
same moment cannot both commit: the loser recomputes from fresh reads and joins the winner.
"""
from __future__ import annotations

import dataclasses
import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from chalicelib.domain.appeal import URGENCY_RANK, Appeal, Status
from chalicelib.domain.dedup import DEFAULT_POLICY, CandidateScore, Decision, DedupPolicy, decide
from chalicelib.domain.errors import ConflictError, NotFoundError, ValidationError, appeal_not_found
from chalicelib.nlp.matching import (
    AppealFeatures,
    blocking_keys,
    extract_features,
    load_place_lexicon,
    pair_features,
)
from chalicelib.observability import logger, metrics
from chalicelib.policy import region as region_source
from chalicelib.services import deadlines, outbox
from chalicelib.services.clock import Clock
from chalicelib.settings import get_settings
from chalicelib.storage import dedup_index, keys, repository
from chalicelib.storage.dedup_index import Contended, DedupPostingItem
from chalicelib.storage.models import AppealItem, Item, OutboxItem, PartyItem

ACTOR = "system:dedup"
TOPIC = "dedup"          # the intake hand-off this stage consumes and closes (outbox.stage_handoff)
MAX_ATTEMPTS = 6         # recomputations after a lost race before the message is left to SQS retry
MAX_MASTER_HOPS = 4      # following master links of merged groups
MAX_MERGE_APPEALS = 30   # one transaction holds at most 100 items (appeal + event + hand-off each)


# --- policy ------------------------------------------------------------------------------------

def _version() -> str:
    return region_source.materialize(get_settings().region_code)[1]


@lru_cache(maxsize=8)
def load_policy(region: str | None = None, regions_dir: str | None = None, version: str = "") -> DedupPolicy:
    """The default DedupPolicy with the overrides of `regions/<region>/policy.json` key "dedup".

    Only known fields are taken ("weights" is merged into the defaults); a missing file or key
    means the defaults.
    """
    region = region or get_settings().region_code
    if regions_dir:
        base = Path(regions_dir) / region
    else:
        base, _ = region_source.materialize(region)  # the live pack's policy
    try:
        doc = json.loads((base / "policy.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT_POLICY
    overrides = dict(doc.get("dedup") or {})
    known = {f.name for f in dataclasses.fields(DedupPolicy)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        logger.warning("unknown dedup policy keys ignored", extra={"region": region, "keys": unknown})
    values: dict[str, Any] = {k: v for k, v in overrides.items() if k in known}
    if "weights" in values:
        values["weights"] = {**DEFAULT_POLICY.weights, **values["weights"]}
    return dataclasses.replace(DEFAULT_POLICY, **values)


# --- the stage ---------------------------------------------------------------------------------

@dataclass
class DedupResult:
    """What `process` did, for the handler's log line, tests and benchmarks."""

    appeal_id: str
    outcome: str                      # joined | new_master | already_done
    master_id: str | None = None
    decision: Decision | None = None
    attempts: int = 0
    blocking_keys: list[str] = field(default_factory=list)
    candidates: int = 0               # distinct candidates scored
    postings_read: int = 0            # items the bounded key queries returned, all attempts


@dataclass
class _Snapshot:
    appeal: Appeal
    party_hashes: list[str]
    dedup_open: bool


def _load(appeal_id: str) -> _Snapshot:
    """The appeal, its party hashes and whether its dedup hand-off is still open: one query."""
    appeal = None
    hashes: list[str] = []
    dedup_open = False
    for it in Item.query(keys.appeal_pk(appeal_id), consistent_read=True):
        if isinstance(it, AppealItem):
            appeal = repository.item_to_appeal(it)
        elif isinstance(it, PartyItem):
            hashes = [h for h in (it.id_hash, it.phone_hash) if h]
        elif isinstance(it, OutboxItem) and it.SK == keys.outbox_sk(TOPIC, "1") and not it.done_at:
            dedup_open = True
    if appeal is None:
        raise appeal_not_found()
    return _Snapshot(appeal, hashes, dedup_open)


def appeal_features(appeal: Appeal) -> AppealFeatures:
    """The matching features of a stored appeal (title and content are the text), with the places of
    the region's live pack."""
    text = appeal.content if not appeal.title or appeal.title in appeal.content else f"{appeal.title}。{appeal.content}"
    return extract_features({
        "id": appeal.appeal_id, "received_at": appeal.received_at, "text": text,
        "address": appeal.location.address, "channel": appeal.channel, "appeal_type": appeal.appeal_type.value,
        "lat": appeal.location.lat, "lng": appeal.location.lng,
    }, load_place_lexicon(str(region_source.materialize(appeal.region)[0])))


def process(appeal_id: str, clock: Clock, policy: DedupPolicy | None = None) -> DedupResult:
    """Decide one appeal taken in by intake; a redelivered message changes nothing."""
    policy = policy or load_policy(None, None, _version())
    result = DedupResult(appeal_id, "already_done")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result.attempts = attempt
        snap = _load(appeal_id)
        if snap.appeal.status != Status.RECEIVED or not snap.dedup_open:
            # Decided before (the closed hand-off shows it), or staff merged it meanwhile.
            if snap.dedup_open:
                repository.mark_outbox_done(appeal_id, TOPIC, "1", clock.now())
            result.outcome, result.master_id = "already_done", snap.appeal.master_id
            return result
        try:
            return _decide_and_commit(snap, clock.now(), policy, result)
        except Contended:
            metrics.add_metric(name="DedupRecomputed", unit="Count", value=1)
            # A short random pause so that two workers that collided do not collide again.
            time.sleep(random.uniform(0, 0.02 * attempt))
    raise ConflictError("de-duplication kept losing races on its blocking keys; retry later",
                        field="appeal_id", code="contended")


def _decide_and_commit(snap: _Snapshot, now: datetime, policy: DedupPolicy, result: DedupResult) -> DedupResult:
    appeal, hashes = snap.appeal, snap.party_hashes
    feats = appeal_features(appeal)
    block = blocking_keys(feats, hashes)
    since = appeal.received_at - timedelta(days=policy.window_days)
    reads = [dedup_index.read_key(k, since, policy.max_candidates_per_key) for k in block]
    result.blocking_keys = block
    result.postings_read += sum(r.items_read for r in reads)

    seen: dict[str, DedupPostingItem] = {}
    for r in reads:
        for p in r.postings:
            if p.appeal_id != appeal.appeal_id and p.appeal_id not in seen:
                seen[p.appeal_id] = p
    own = set(hashes)
    scores = [CandidateScore(cid, pair_features(feats, AppealFeatures.from_dict(p.features),
                                                bool(own & set(p.party_hashes or []))), master_id=p.master_id)
              for cid, p in seen.items()]
    result.candidates = len(scores)
    d, master, closed = _decide_open_master(scores, policy)

    keep_days = policy.window_days + 7
    handoffs: list[repository.Handoff] = []
    close = [(appeal.appeal_id, TOPIC, "1")]
    heads = {r.key: r.head for r in reads}
    if master is not None:
        evidence = {**d.to_dict(), "master_id": master.appeal_id}
        appeal.join_master(master.appeal_id, now, ACTOR, evidence)
        master.absorb(appeal, hashes[0] if hashes else None, now, ACTOR, evidence)
        # The master takes the highest urgency of its reports; running deadlines follow it.
        due = deadlines.raise_urgency(master, appeal.urgency, now, ACTOR, appeal.appeal_id)
        # The citizen already heard "accepted"; if the master is further on, say so now (F-IN-3).
        if master.public_status() != appeal.public_status():
            handoffs.append(outbox.status_handoff(appeal, master.public_status(), source=master))
        postings = [dedup_index.posting(k, appeal.appeal_id, appeal.received_at, feats.to_dict(), hashes,
                                        master.appeal_id, keep_days) for k in block]
        dedup_index.commit([appeal, master], now, handoffs=handoffs, close_outbox=close, heads=heads,
                           postings=postings, keep_days=keep_days, extra_items=due)
        result.outcome, result.master_id = "joined", master.appeal_id
        metrics.add_metric(name="AppealsJoined", unit="Count", value=1)
    else:
        info = d.to_dict()
        if closed:
            # 回潮: the same problem as a case already closed. A closed case is not reopened by a
            # new report; the new appeal is handled on its own and its case file cites the old one.
            info["recurrence_of"] = closed
        appeal.record(now, "dedup_checked", ACTOR, info, public=False)
        if hashes and not appeal.reporter_hashes:
            appeal.reporter_hashes = [hashes[0]]   # the master's own reporter counts among distinct people
        handoffs.append(outbox.stage_handoff("dispatch", appeal.appeal_id))
        postings = [dedup_index.posting(k, appeal.appeal_id, appeal.received_at, feats.to_dict(), hashes,
                                        None, keep_days) for k in block]
        dedup_index.commit([appeal], now, handoffs=handoffs, close_outbox=close, heads=heads,
                           postings=postings, keep_days=keep_days)
        result.outcome, result.master_id = "new_master", None
    result.decision = d
    logger.info("dedup decided", extra={"appeal_id": appeal.appeal_id, "outcome": result.outcome,
                                        "master_id": result.master_id, "score": d.score,
                                        "candidates": result.candidates, "attempt": result.attempts})
    outbox.publish(handoffs)
    return result


def _decide_open_master(scores: list[CandidateScore], policy: DedupPolicy
                        ) -> tuple[Decision, Appeal | None, list[str]]:
    """The decision, the open master to join (None: a new master) and the closed cases passed over.

    A group whose master is CLOSED is taken out of the candidates and the decision made again,
    so a report may still join another open group of the same problem (e.g. an earlier recurrence).
    """
    closed: list[str] = []
    for _ in range(MAX_MASTER_HOPS):
        d = decide(scores, policy)
        if not d.master_id:
            return d, None, closed
        master = _resolve_master(d)
        if master.status != Status.CLOSED:
            return d, master, closed
        closed.append(master.appeal_id)
        gone = {master.appeal_id, *master.duplicates}
        scores = [s for s in scores if s.candidate_id not in gone and s.master_id not in gone]
    return Decision(None, 0.0, {}, f"new master: closed groups {', '.join(closed)} passed over"), None, closed


def _resolve_master(d: Decision) -> Appeal:
    """The group root to join, read fresh: the posting's master hint is trusted only if the master
    still lists the candidate (a split or merge since then makes it stale)."""
    target = repository.load_appeal(d.master_id)
    if d.candidate_id and d.candidate_id != target.appeal_id and d.candidate_id not in target.duplicates:
        target = repository.load_appeal(d.candidate_id)
    for _ in range(MAX_MASTER_HOPS):
        if target.status != Status.JOINED or not target.master_id:
            return target
        target = repository.load_appeal(target.master_id)
    raise Contended("master chain too long or changing")


# --- by hand (F-DD-3) --------------------------------------------------------------------------

def _require_reason(reason: str | None) -> str:
    if not reason or not str(reason).strip():
        raise ValidationError("a reason is required to split or merge appeals", field="reason")
    return str(reason).strip()


def _retrying(step: Callable[[], Any]) -> Any:
    for _ in range(MAX_ATTEMPTS):
        try:
            return step()
        except Contended:
            continue
    raise ConflictError("the appeals changed meanwhile; retry", field="appeal_id", code="concurrent_update")


def split(appeal_id: str, actor: str, reason: str, clock: Clock) -> Appeal:
    """Split a wrongly joined appeal out of its master; it goes on to dispatch on its own."""
    reason = _require_reason(reason)

    def step() -> Appeal:
        now = clock.now()
        dup = repository.load_appeal(appeal_id)
        if dup.status != Status.JOINED or not dup.master_id:
            raise ConflictError(f"appeal is {dup.status.value}, not joined", field="status", code="invalid_state")
        master = repository.load_appeal(dup.master_id)
        master.release(dup.appeal_id, now, actor, reason)
        dup.split_from_master(now, actor, reason, master.notice_seq())
        handoffs = [outbox.stage_handoff("dispatch", dup.appeal_id)]
        dedup_index.commit([master, dup], now, handoffs=handoffs)
        outbox.publish(handoffs)
        return dup

    return _retrying(step)


def merge(appeal_id: str, into_master_id: str, actor: str, reason: str, clock: Clock) -> Appeal:
    """Join two masters by hand: `appeal_id` and all its duplicates move under `into_master_id`."""
    reason = _require_reason(reason)
    if appeal_id == into_master_id:
        raise ConflictError("an appeal cannot be merged into itself", field="into_master_id")

    def step() -> Appeal:
        now = clock.now()
        moving = repository.load_appeal(appeal_id)
        target = repository.load_appeal(into_master_id)
        for who, field_name in ((moving, "appeal_id"), (target, "into_master_id")):
            if who.status == Status.JOINED:
                raise ConflictError(f"{who.appeal_id} is joined to {who.master_id}; merge masters only",
                                    field=field_name, code="not_master")
        if len(moving.duplicates) + 2 > MAX_MERGE_APPEALS:
            raise ConflictError("group too large to merge in one step", field="appeal_id", code="too_large")
        dups = [repository.load_appeal(i) for i in moving.duplicates]
        evidence = {"manual": True, "reason": reason, "merged_from": moving.appeal_id}
        # Not de-duplicated yet: its pending dedup hand-off is closed with the merge.
        close = [(moving.appeal_id, TOPIC, "1")] if moving.status == Status.RECEIVED else []
        moving.join_master(target.appeal_id, now, actor, {**evidence, "moved_duplicates": list(moving.duplicates)})
        for dup in dups:
            # The duplicate stays JOINED; only its master changes (recorded in its case file).
            dup.master_id = target.appeal_id
            dup.record(now, "master_changed", actor, {"former_master_id": moving.appeal_id,
                                                      "master_id": target.appeal_id, "reason": reason})
            target.absorb(dup, None, now, actor, evidence)
        if dups:
            moving.record(now, "duplicates_moved", actor, {"master_id": target.appeal_id, "reason": reason,
                                                           "duplicate_ids": [x.appeal_id for x in dups]})
        moving.duplicates, moving.weight = [], 1
        target.absorb(moving, None, now, actor, evidence)
        for h in moving.reporter_hashes:
            if h not in target.reporter_hashes:
                target.reporter_hashes.append(h)
        # The target takes the highest urgency of the reports it now holds.
        top = max([moving, *dups], key=lambda a: URGENCY_RANK[a.urgency])
        due = deadlines.raise_urgency(target, top.urgency, now, actor, top.appeal_id)
        status = target.public_status()
        handoffs = [outbox.status_handoff(a, status, source=target) for a in [moving, *dups] if status != "accepted"]
        dedup_index.commit([target, moving, *dups], now, handoffs=handoffs, close_outbox=close,
                           extra_items=due)
        outbox.publish(handoffs)
        return target

    return _retrying(step)
