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

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from chalicelib.domain.appeal import URGENCY_RANK, Appeal, Status
from chalicelib.domain.dedup import CandidateScore, Decision, DedupPolicy, decide
from chalicelib.domain.errors import ConcurrentUpdate, ConflictError, ValidationError
from chalicelib.nlp.dedup_features import (
    AppealFeatures, blocking_keys, dispatch_view, extract_features, pair_features,
)
from chalicelib.observability import logger, metrics
from chalicelib.domain.records import HeadBump, Posting
from chalicelib.services import deadlines, outbox, work

ACTOR = "system:dedup"
TOPIC = "dedup"          # the intake hand-off this stage consumes and closes (outbox.stage_handoff)
MAX_ATTEMPTS = 6         # recomputations after a lost race before the message is left to SQS retry
MAX_MASTER_HOPS = 4      # following master links of merged groups
MAX_MERGE_APPEALS = 30   # one transaction holds at most 100 items (appeal + event + hand-off each)


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


def _load(p, appeal_id: str) -> _Snapshot:
    """The appeal, its party hashes and whether its dedup hand-off is still open: one query."""
    return _Snapshot(*p.store.load_for_dedup(appeal_id, TOPIC))


def appeal_features(p, appeal: Appeal) -> AppealFeatures:
    """The matching features of a stored appeal (title and content are the text), with the places of
    the region's live pack and the region's dispatch model's view of what the problem is (its best
    leaf and group shares, computed once here and kept with the features on the postings)."""
    text = appeal.content if not appeal.title or appeal.title in appeal.content else f"{appeal.title}。{appeal.content}"
    model = p.region(appeal.region)
    raw, _ = model.classifier.scores(f"{appeal.title or ''} {appeal.content}".strip())
    return extract_features({
        "id": appeal.appeal_id, "received_at": appeal.received_at, "text": text,
        "address": appeal.location.address, "channel": appeal.channel, "appeal_type": appeal.appeal_type.value,
        "lat": appeal.location.lat, "lng": appeal.location.lng,
    }, model.place_lexicon, dispatch=dispatch_view(sorted(raw.items(), key=lambda kv: -kv[1])))


def process(p, appeal_id: str, policy: DedupPolicy | None = None) -> DedupResult:
    """Decide one appeal taken in by intake; a redelivered message changes nothing."""
    policy = policy or p.region(p.settings.region_code).dedup_policy
    result = DedupResult(appeal_id, "already_done")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result.attempts = attempt
        snap = _load(p, appeal_id)
        if snap.appeal.status != Status.RECEIVED or not snap.dedup_open:
            # Decided before (the closed hand-off shows it), or staff merged it meanwhile.
            if snap.dedup_open:
                p.store.mark_outbox_done(appeal_id, TOPIC, "1", p.now())
            result.outcome, result.master_id = "already_done", snap.appeal.master_id
            return result
        try:
            return _decide_and_commit(p, snap, p.now(), policy, result)
        except ConcurrentUpdate:
            metrics.add_metric(name="DedupRecomputed", unit="Count", value=1)
            # A short random pause so that two workers that collided do not collide again.
            time.sleep(random.uniform(0, 0.02 * attempt))
    raise ConflictError("de-duplication kept losing races on its blocking keys; retry later",
                        field="appeal_id", code="contended")


def _decide_and_commit(p, snap: _Snapshot, now: datetime, policy: DedupPolicy, result: DedupResult) -> DedupResult:
    appeal, hashes = snap.appeal, snap.party_hashes
    feats = appeal_features(p, appeal)
    block = blocking_keys(feats, hashes)
    since = appeal.received_at - timedelta(days=policy.window_days)
    reads = [p.store.read_key(k, since, policy.max_candidates_per_key) for k in block]
    result.blocking_keys = block
    result.postings_read += sum(r.items_read for r in reads)

    seen: dict[str, Posting] = {}
    for r in reads:
        for posting in r.postings:
            if posting.appeal_id != appeal.appeal_id and posting.appeal_id not in seen:
                seen[posting.appeal_id] = posting
    own = set(hashes)
    scores = [CandidateScore(cid, pair_features(feats, AppealFeatures.from_dict(c.features),
                                                bool(own & set(c.party_hashes))), master_id=c.master_id)
              for cid, c in seen.items()]
    result.candidates = len(scores)
    d, master, closed = _decide_open_master(p, scores, policy)

    keep_days = policy.window_days + 7
    uow = p.store.unit_of_work(now)
    uow.close(appeal.appeal_id, TOPIC, "1")
    uow.bump(*[HeadBump(r.key, r.head, keep_days) for r in reads])
    if master is not None:
        evidence = {**d.to_dict(), "master_id": master.appeal_id}
        appeal.join_master(master.appeal_id, now, ACTOR, evidence)
        master.absorb(appeal, hashes[0] if hashes else None, now, ACTOR, evidence)
        # The master takes the highest urgency of its reports; running deadlines follow it.
        uow.add(*deadlines.raise_urgency(p, master, appeal.urgency, now, ACTOR, appeal.appeal_id))
        # The citizen already heard "accepted"; if the master is further on, they hear so now
        # (F-IN-3: derived from the JoinedMaster event by work.commit).
        uow.add(*_postings(block, appeal, feats, hashes, master.appeal_id, keep_days))
        uow.track(appeal, master)
        result.outcome, result.master_id = "joined", master.appeal_id
        metrics.add_metric(name="AppealsJoined", unit="Count", value=1)
    else:
        info = d.to_dict()
        if closed:
            # 回潮: the same problem as a case already closed. A closed case is not reopened by a
            # new report; the new appeal is handled on its own and its case file cites the old one.
            info["recurrence_of"] = closed
        appeal.record(now, "dedup_checked", ACTOR, info, public=False)
        if not appeal.reporter_hashes:
            appeal.add_reporters(hashes[:1])   # the master's own reporter counts among distinct people
        uow.hand_off(outbox.stage_handoff("dispatch", appeal.appeal_id))
        uow.add(*_postings(block, appeal, feats, hashes, None, keep_days))
        uow.track(appeal)
        result.outcome, result.master_id = "new_master", None
    work.commit(p, uow)
    result.decision = d
    logger.info("dedup decided", extra={"appeal_id": appeal.appeal_id, "outcome": result.outcome,
                                        "master_id": result.master_id, "score": d.score,
                                        "candidates": result.candidates, "attempt": result.attempts})
    return result


def _postings(block: list[str], appeal: Appeal, feats: AppealFeatures, hashes: list[str], master_id: str | None,
              keep_days: float) -> list[Posting]:
    return [Posting(k, appeal.appeal_id, appeal.received_at, feats.to_dict(), tuple(hashes), master_id, keep_days)
            for k in block]


def _decide_open_master(p, scores: list[CandidateScore], policy: DedupPolicy
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
        master = _resolve_master(p, d)
        if master.status != Status.CLOSED:
            return d, master, closed
        closed.append(master.appeal_id)
        gone = {master.appeal_id, *master.duplicates}
        scores = [s for s in scores if s.candidate_id not in gone and s.master_id not in gone]
    return Decision(None, 0.0, {}, f"new master: closed groups {', '.join(closed)} passed over"), None, closed


def _resolve_master(p, d: Decision) -> Appeal:
    """The group root to join, read fresh: the posting's master hint is trusted only if the master
    still lists the candidate (a split or merge since then makes it stale)."""
    target = p.store.load_appeal(d.master_id)
    if d.candidate_id and d.candidate_id != target.appeal_id and d.candidate_id not in target.duplicates:
        target = p.store.load_appeal(d.candidate_id)
    for _ in range(MAX_MASTER_HOPS):
        if target.status != Status.JOINED or not target.master_id:
            return target
        target = p.store.load_appeal(target.master_id)
    raise ConcurrentUpdate(["master chain too long or changing"])


# --- by hand (F-DD-3) --------------------------------------------------------------------------

def _require_reason(reason: str | None) -> str:
    if not reason or not str(reason).strip():
        raise ValidationError("a reason is required to split or merge appeals", field="reason")
    return str(reason).strip()


def _retrying(step: Callable[[], Any]) -> Any:
    for _ in range(MAX_ATTEMPTS):
        try:
            return step()
        except ConcurrentUpdate:
            continue
    raise ConflictError("the appeals changed meanwhile; retry", field="appeal_id", code="concurrent_update")


def split(p, appeal_id: str, actor: str, reason: str) -> Appeal:
    """Split a wrongly joined appeal out of its master; it goes on to dispatch on its own."""
    reason = _require_reason(reason)

    def step() -> Appeal:
        now = p.now()
        dup = p.store.load_appeal(appeal_id)
        if dup.status != Status.JOINED or not dup.master_id:
            raise ConflictError(f"appeal is {dup.status.value}, not joined", field="status", code="invalid_state")
        master = p.store.load_appeal(dup.master_id)
        master.release(dup.appeal_id, now, actor, reason)
        dup.split_from_master(now, actor, reason, master.notice_seq())
        uow = p.store.unit_of_work(now)
        uow.track(master, dup)
        uow.hand_off(outbox.stage_handoff("dispatch", dup.appeal_id))
        work.commit(p, uow)
        return dup

    return _retrying(step)


def merge(p, appeal_id: str, into_master_id: str, actor: str, reason: str) -> Appeal:
    """Join two masters by hand: `appeal_id` and all its duplicates move under `into_master_id`."""
    reason = _require_reason(reason)
    if appeal_id == into_master_id:
        raise ConflictError("an appeal cannot be merged into itself", field="into_master_id")

    def step() -> Appeal:
        now = p.now()
        moving = p.store.load_appeal(appeal_id)
        target = p.store.load_appeal(into_master_id)
        for who, field_name in ((moving, "appeal_id"), (target, "into_master_id")):
            if who.status == Status.JOINED:
                raise ConflictError(f"{who.appeal_id} is joined to {who.master_id}; merge masters only",
                                    field=field_name, code="not_master")
        if len(moving.duplicates) + 2 > MAX_MERGE_APPEALS:
            raise ConflictError("group too large to merge in one step", field="appeal_id", code="too_large")
        dups = [p.store.load_appeal(i) for i in moving.duplicates]
        evidence = {"manual": True, "reason": reason, "merged_from": moving.appeal_id}
        # Not de-duplicated yet: its pending dedup hand-off is closed with the merge.
        uow = p.store.unit_of_work(now)
        if moving.status == Status.RECEIVED:
            uow.close(moving.appeal_id, TOPIC, "1")
        moving.join_master(target.appeal_id, now, actor, {**evidence, "moved_duplicates": list(moving.duplicates)})
        for dup in dups:
            dup.change_master(target.appeal_id, now, actor, reason)
            target.absorb(dup, None, now, actor, evidence)
        moving.hand_over_duplicates(target.appeal_id, now, actor, reason)
        target.absorb(moving, None, now, actor, evidence)
        target.add_reporters(moving.reporter_hashes)
        # The target takes the highest urgency of the reports it now holds.
        top = max([moving, *dups], key=lambda a: URGENCY_RANK[a.urgency])
        uow.add(*deadlines.raise_urgency(p, target, top.urgency, now, actor, top.appeal_id))
        # Each moved citizen hears the target's status (derived from their JoinedMaster events).
        uow.track(target, moving, *dups)
        work.commit(p, uow)
        return target

    return _retrying(step)
