"""De-duplication decision (重复诉求判定): pure scoring of candidate features and the join decision."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping


def _default_weights() -> dict[str, float]:
    return {"content": 0.55, "address": 0.30, "same_party": 0.20, "recency": 0.10}


@dataclass(frozen=True)
class DedupPolicy:
    """Thresholds and weights for joining an appeal to an earlier one.

    window_days: only candidates received within this many days are considered; a matter that
      comes back after that is a new appeal (the hotline's 重复件 window).
    recurrence_min_days: when the text says the problem had been fixed and is back, a candidate
      at least this old is a new matter, not a duplicate.
    join_threshold: minimum weighted score to join.
    min_content: content evidence every join needs (two problems at one address stay apart).
    min_address: address evidence a join needs unless the same party reports again.
    party_min_content: a lower content bar for the same party (they re-describe the matter).
    transient_window_days: for short-lived events (outage, burst pipe, flooding) an older
      candidate is a different event even at the same place.
    dispatch_other_leaf: what the dispatch model's group overlap is worth as content evidence when
      the two best leaves differ (the same leaf counts in full).
    dispatch_under_conflict: the same, when both texts name different objects (井盖 vs 路灯).
    possible_margin: a candidate that falls short of a bar by at most this much, or that only the
      dispatch model's "clearly different groups" keeps apart, is not joined but shown to a
      dispatcher as a possible duplicate.
    """

    window_days: float = 35.0
    recurrence_min_days: float = 14.0
    transient_window_days: float = 3.0
    join_threshold: float = 0.5
    min_content: float = 0.5
    min_address: float = 0.3
    party_min_content: float = 0.34
    recency_half_life_days: float = 7.0
    max_candidates_per_key: int = 20
    dispatch_other_leaf: float = 0.3
    dispatch_under_conflict: float = 0.5
    possible_margin: float = 0.1
    weights: Mapping[str, float] = field(default_factory=_default_weights)


DEFAULT_POLICY = DedupPolicy()


@dataclass(frozen=True)
class CandidateScore:
    """One earlier appeal and the pairwise features of (new appeal, that appeal).

    master_id is the candidate's own master when the candidate was itself joined as a duplicate,
    so that a duplicate always joins the root of a group.
    """

    candidate_id: str
    features: Mapping[str, float]
    master_id: str | None = None


@dataclass(frozen=True)
class Decision:
    """Outcome for a new appeal: join master_id (None = new master) and why."""

    master_id: str | None
    score: float
    matched_fields: dict[str, float]
    reason: str
    candidate_id: str | None = None
    signal: str = ""                  # the view that decided the content evidence (score_pair)
    # A new master that may still be a duplicate: the group a dispatcher is asked about, and why.
    possible_id: str | None = None
    possible_candidate_id: str | None = None
    possible_reason: str = ""
    possible_fields: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {"master_id": self.master_id, "score": self.score,
               "matched_fields": dict(self.matched_fields), "reason": self.reason,
               "candidate_id": self.candidate_id}
        if self.signal:
            out["signal"] = self.signal
        if self.possible_id:
            out["possible_duplicate"] = {"master_id": self.possible_id, "candidate_id": self.possible_candidate_id,
                                         "reason": self.possible_reason, "fields": dict(self.possible_fields)}
        return out


@dataclass(frozen=True)
class PairScore:
    """Score of one candidate plus the reason it may not be joined (veto), if any."""

    score: float
    parts: dict[str, float]
    veto: str | None
    signal: str = ""          # which view decided the content evidence: concepts | wording | dispatch
    borderline: bool = False  # short of a bar by at most possible_margin, or kept apart only by dispatch


def content_evidence(f: Mapping[str, float], policy: DedupPolicy = DEFAULT_POLICY) -> tuple[float, str]:
    """(content evidence 0..1, the view it came from): the lexical views (issue concepts, shared
    wording) or the dispatch model's (group overlap, in full for the same best leaf)."""
    lexical = float(f.get("content", 0.0))
    view = float(f.get("dispatch_group", 0.0))
    if not f.get("same_leaf"):
        view *= policy.dispatch_other_leaf
    if f.get("objects_apart"):
        view *= policy.dispatch_under_conflict
    if view > lexical:
        return view, "dispatch"
    return lexical, "concepts" if lexical and lexical == float(f.get("concept", 0.0)) else "wording"


def score_pair(f: Mapping[str, float], policy: DedupPolicy = DEFAULT_POLICY) -> PairScore:
    """Weighted evidence that two appeals are one matter, with hard vetoes for known negatives."""
    w = policy.weights
    gap_days = float(f.get("gap_hours", 0.0)) / 24.0
    content, signal = content_evidence(f, policy)
    address = max(float(f.get("address", 0.0)), float(f.get("same_geocell", 0.0)) * 0.6)
    party = float(f.get("same_party", 0.0))
    recency = math.pow(0.5, gap_days / policy.recency_half_life_days)
    parts = {
        "content": round(w.get("content", 0.0) * content, 4),
        "address": round(w.get("address", 0.0) * address, 4),
        "same_party": round(w.get("same_party", 0.0) * party, 4),
        "recency": round(w.get("recency", 0.0) * recency, 4),
    }
    score = round(sum(parts.values()), 4)
    veto, borderline = None, False
    content_bar = policy.party_min_content if party else policy.min_content
    if gap_days > policy.window_days:
        veto = f"outside the {policy.window_days:g}-day window"
    elif f.get("recurrence") and gap_days >= policy.recurrence_min_days:
        veto = "text says the earlier problem was fixed and has come back: a new matter"
    elif f.get("transient") and gap_days > policy.transient_window_days:
        veto = f"a short-lived event more than {policy.transient_window_days:g} days earlier"
    elif f.get("new_matter") and party:
        veto = "the same party says this is a different matter"
    elif content < content_bar:
        veto = "different problem (content too dissimilar)"
        borderline = content >= content_bar - policy.possible_margin
    elif not party and address < policy.min_address:
        veto = "different place (address too dissimilar)"
        borderline = address >= policy.min_address - policy.possible_margin
    elif f.get("dispatch_apart"):
        # Everything else says one matter: a dispatcher decides rather than either view alone.
        veto, borderline = "the dispatch model puts them in clearly different groups", True
    if veto is None:
        borderline = policy.join_threshold - policy.possible_margin <= score < policy.join_threshold
    return PairScore(score=score, parts=parts, veto=veto, signal=signal, borderline=borderline)


def decide(candidate_scores: Iterable[CandidateScore], policy: DedupPolicy = DEFAULT_POLICY) -> Decision:
    """Pick the best admissible candidate; join its master (or it) if the score clears the bar.

    Not joined, the best borderline candidate (within possible_margin of a bar, or kept apart only
    by the dispatch model) is named as a possible duplicate for a dispatcher to join or keep apart.
    """
    best: tuple[float, CandidateScore, PairScore] | None = None
    best_vetoed: tuple[float, CandidateScore, PairScore] | None = None
    possible: tuple[float, CandidateScore, PairScore] | None = None
    for cand in candidate_scores:
        ps = score_pair(cand.features, policy)
        key = (ps.score, cand.candidate_id)
        if ps.veto is None:
            if best is None or key > (best[0], best[1].candidate_id):
                best = (ps.score, cand, ps)
        elif best_vetoed is None or key > (best_vetoed[0], best_vetoed[1].candidate_id):
            best_vetoed = (ps.score, cand, ps)
        if ps.borderline and ps.score >= policy.join_threshold - policy.possible_margin and (
                possible is None or key > (possible[0], possible[1].candidate_id)):
            possible = (ps.score, cand, ps)
    if best is not None and best[0] >= policy.join_threshold:
        score, cand, ps = best
        return Decision(
            master_id=cand.master_id or cand.candidate_id,
            score=score,
            matched_fields=_matched_fields(cand.features),
            reason=f"joined {cand.candidate_id}: score {score:.2f} >= {policy.join_threshold:.2f} "
                   f"({_explain(ps.parts)}; content from {ps.signal})",
            candidate_id=cand.candidate_id, signal=ps.signal,
        )
    hint: dict[str, Any] = {}
    if possible is not None:
        score, cand, ps = possible
        why = ps.veto or f"score {score:.2f} just under {policy.join_threshold:.2f}"
        hint = {"possible_id": cand.master_id or cand.candidate_id, "possible_candidate_id": cand.candidate_id,
                "possible_reason": f"{why} ({_explain(ps.parts)}; content from {ps.signal})",
                "possible_fields": _matched_fields(cand.features)}
    if best is not None:
        score, cand, ps = best
        return Decision(None, score, _matched_fields(cand.features),
                        f"new master: best candidate {cand.candidate_id} scored {score:.2f} "
                        f"< {policy.join_threshold:.2f} ({_explain(ps.parts)})", cand.candidate_id,
                        signal=ps.signal, **hint)
    if best_vetoed is not None:
        score, cand, ps = best_vetoed
        return Decision(None, score, _matched_fields(cand.features),
                        f"new master: nearest candidate {cand.candidate_id} rejected: {ps.veto}",
                        cand.candidate_id, signal=ps.signal, **hint)
    return Decision(None, 0.0, {}, "new master: no candidate in the window")


# Features reported as evidence; counters such as gap_hours are reported as-is.
_EVIDENCE = ("content", "concept", "bigrams", "tokens", "address", "place_specific", "same_party",
             "same_geocell", "gap_hours", "transient", "recurrence", "followup", "new_matter",
             "dispatch_group", "same_leaf", "dispatch_apart", "objects_apart")


def _matched_fields(f: Mapping[str, float]) -> dict[str, float]:
    return {k: float(f[k]) for k in _EVIDENCE if k in f and (f[k] or k in ("content", "address"))}


def _explain(parts: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in parts.items() if v)
