"""De-duplication features of appeals (重复诉求识别): what is compared, pairwise similarity, blocking keys."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

from rapidfuzz import fuzz

from chalicelib.nlp.concepts import (
    TRANSIENT_CONCEPTS, ConceptIndex, content_tokens, extract_concepts, followup_cue, new_matter_cue, recurrence_cue,
)
from chalicelib.nlp.places import LEVEL_WEIGHT, PlaceLexicon, extract_kinds, extract_places
from chalicelib.nlp.text import char_ngrams

# ---------------------------------------------------------------------------------------------
# Appeal features.
# ---------------------------------------------------------------------------------------------


@dataclass
class AppealFeatures:
    """Everything de-duplication needs about one appeal; small, JSON-serialisable, no PII."""

    appeal_id: str
    received_at: float                        # hours since the Unix epoch
    channel: str = ""
    appeal_type: str = ""
    places: dict[str, str] = field(default_factory=dict)        # from the address field
    text_places: dict[str, str] = field(default_factory=dict)   # named in the text
    kinds: list[str] = field(default_factory=list)              # kinds of premises (电子厂)
    concepts: dict[str, float] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    recurrence: bool = False
    followup: bool = False
    new_matter: bool = False
    geocell: str = ""
    leaf: str = ""                                              # the dispatch model's best leaf
    groups: dict[str, float] = field(default_factory=dict)      # its level-2 group distribution

    def to_dict(self) -> dict[str, Any]:
        return {
            "appeal_id": self.appeal_id, "received_at": self.received_at, "channel": self.channel,
            "appeal_type": self.appeal_type, "places": dict(self.places),
            "text_places": dict(self.text_places), "kinds": list(self.kinds), "concepts": dict(self.concepts),
            "tokens": list(self.tokens), "recurrence": self.recurrence, "followup": self.followup,
            "new_matter": self.new_matter, "geocell": self.geocell,
            "leaf": self.leaf, "groups": dict(self.groups),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AppealFeatures":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _hours(ts: Any) -> float:
    if isinstance(ts, (int, float)):
        return float(ts)
    if isinstance(ts, datetime):
        return ts.timestamp() / 3600.0
    return datetime.fromisoformat(str(ts)).timestamp() / 3600.0


def geocell(lat: float | None, lng: float | None, precision: float = 0.005) -> str:
    """A ~500 m grid cell id for a coordinate ("" when unknown); neighbours are not merged."""
    if lat is None or lng is None:
        return ""
    return f"g{math.floor(float(lat) / precision)}:{math.floor(float(lng) / precision)}"


# The dispatch model's view of what an appeal is: a softmax over its top leaves' scores (the
# same temperature dispatch's confidence uses), summed per level-2 group (LL.MM, the code's first
# five characters). Only groups holding at least GROUP_MIN_SHARE are kept, at most GROUP_KEEP.
DISPATCH_TOP = 8
DISPATCH_T = 0.03
GROUP_MIN_SHARE = 0.03
GROUP_KEEP = 4


def group_of(code: str) -> str:
    return code[:5]


def dispatch_view(ranked: Iterable[tuple[str, float]]) -> tuple[str, dict[str, float]]:
    """(best leaf, {group: share}) from the dispatch model's ranked (leaf code, score) list."""
    ranked = list(ranked)[:DISPATCH_TOP]
    if not ranked:
        return "", {}
    best = ranked[0][1]
    w = [math.exp((s - best) / DISPATCH_T) for _, s in ranked]
    z = sum(w)
    groups: dict[str, float] = {}
    for (code, _), wi in zip(ranked, w):
        groups[group_of(code)] = groups.get(group_of(code), 0.0) + wi / z
    kept = sorted(((g, p) for g, p in groups.items() if p >= GROUP_MIN_SHARE), key=lambda gp: -gp[1])[:GROUP_KEEP]
    return ranked[0][0], {g: round(p, 3) for g, p in kept}


# Two views agree when their group distributions overlap; they clearly disagree when each is sure of
# its own group (top share >= DISPATCH_SURE) and the distributions share less than DISPATCH_APART.
DISPATCH_SURE = 0.6
DISPATCH_APART = 0.1


def dispatch_agreement(a: "AppealFeatures", b: "AppealFeatures") -> tuple[float, bool, bool]:
    """(overlap of the two group distributions 0..1, same best leaf, clearly different groups).

    (0, False, False) when either appeal has no dispatch view (stored before it was kept).
    """
    if not a.groups or not b.groups:
        return 0.0, False, False
    overlap = sum(min(p, b.groups.get(g, 0.0)) for g, p in a.groups.items())
    sure = max(a.groups.values()) >= DISPATCH_SURE and max(b.groups.values()) >= DISPATCH_SURE
    return round(min(1.0, overlap), 4), bool(a.leaf) and a.leaf == b.leaf, sure and overlap < DISPATCH_APART


def extract_features(appeal: Mapping[str, Any], lexicon: PlaceLexicon, concepts: ConceptIndex | None = None,
                     dispatch: tuple[str, Mapping[str, float]] | None = None) -> AppealFeatures:
    """Features of an appeal dict with id, received_at, text, address, channel, appeal_type, lat, lng.

    `lexicon` is the region's place lexicon (its runtime's `place_lexicon`); `concepts` another
    concept lexicon than the built-in one; `dispatch` the dispatch model's (leaf, groups) of the
    text (`dispatch_view`).
    """
    text = appeal.get("text", "") or ""
    address = appeal.get("address", "") or ""
    places = extract_places(address, lexicon)
    text_places = extract_places(text, lexicon, residual=False, parents=False)
    return AppealFeatures(
        appeal_id=str(appeal.get("id") or appeal.get("appeal_id") or ""),
        received_at=_hours(appeal.get("received_at", 0)),
        channel=appeal.get("channel", "") or "",
        appeal_type=appeal.get("appeal_type", "") or "",
        places=places,
        text_places=text_places,
        # Only the address field: texts name premises in passing (公司, 隔壁工地) too loosely.
        kinds=extract_kinds(address),
        concepts=extract_concepts(text, concepts),
        tokens=content_tokens(text, list(places) + list(text_places)),
        recurrence=recurrence_cue(text),
        followup=followup_cue(text),
        new_matter=new_matter_cue(text),
        geocell=geocell(appeal.get("lat"), appeal.get("lng")),
        leaf=dispatch[0] if dispatch else "",
        groups=dict(dispatch[1]) if dispatch else {},
    )


# ---------------------------------------------------------------------------------------------
# Pairwise similarity.
# ---------------------------------------------------------------------------------------------


_SPECIFIC_LEVELS = ("place", "unit", "other")


def _place_weights(f: AppealFeatures) -> dict[str, float]:
    w = {k: LEVEL_WEIGHT.get(v, 0.5) for k, v in f.places.items()}
    # Places named only in the text count when the address field itself is vague (宝安区西乡街道,
    # 文心五路附近): texts also mention other places in passing (也学下沙), so a specific address
    # field wins over the text.
    if not any(v in _SPECIFIC_LEVELS for v in f.places.values()):
        for k, v in f.text_places.items():
            w.setdefault(k, 0.7 * LEVEL_WEIGHT.get(v, 0.5))
    return {k: v for k, v in w.items() if v > 0}


def _kinds_conflict(a: AppealFeatures, b: AppealFeatures) -> bool:
    """Both addresses name a kind of premises and no kind is compatible (电子厂 vs 五金厂)."""
    if not a.kinds or not b.kinds:
        return False
    for ka in a.kinds:
        for kb in b.kinds:
            if ka == kb or ka in kb or kb in ka:
                return False
    return True


def address_similarity(a: AppealFeatures, b: AppealFeatures) -> float:
    """Weighted Dice over place keys, halved when each side names a specific place the other lacks.

    Sharing a long road or a street is weak; two appeals that each name a different village,
    building or metro exit are at different places even on the same road.
    """
    wa, wb = _place_weights(a), _place_weights(b)
    if not wa or not wb:
        return 0.0
    shared_keys = wa.keys() & wb.keys()
    shared = sum(min(wa[k], wb[k]) for k in shared_keys)
    only_a = {k: v for k, v in wa.items() if k not in wb}
    only_b = {k: v for k, v in wb.items() if k not in wa}
    # Shortened names (宝源 vs 宝源路, 民治 vs 民治站) count half and are no longer "different".
    for ka in list(only_a):
        for kb in list(only_b):
            if ka in only_a and kb in only_b and (ka in kb or kb in ka):
                shared += 0.5 * min(only_a.pop(ka), only_b.pop(kb))
    if shared <= 0:
        return 0.0
    sim = shared / (shared + 0.5 * (sum(only_a.values()) + sum(only_b.values())))
    lv_a, lv_b = {**a.text_places, **a.places}, {**b.text_places, **b.places}
    # A differing road counts too: 西乡大道与宝源路口 and 西乡大道坪洲站 are a kilometre apart.
    diff_a = any(lv_a.get(k) in _SPECIFIC_LEVELS + ("road",) and k in a.places for k in only_a)
    diff_b = any(lv_b.get(k) in _SPECIFIC_LEVELS + ("road",) and k in b.places for k in only_b)
    shared_specific = any(lv_a.get(k) in _SPECIFIC_LEVELS for k in shared_keys)
    if diff_a and diff_b and not shared_specific:
        sim *= 0.5
    if _kinds_conflict(a, b):
        # Same community, different premises: two factories in 官田 are two employers.
        sim = min(sim, 0.1)
    return round(min(1.0, sim), 4)


def specific_place_shared(a: AppealFeatures, b: AppealFeatures) -> float:
    """Weight of the most specific place both appeals name (0 when they share only a street)."""
    wa, wb = _place_weights(a), _place_weights(b)
    best = 0.0
    for k in wa.keys() & wb.keys():
        best = max(best, min(wa[k], wb[k]))
    return best


def concept_similarity(a: AppealFeatures, b: AppealFeatures) -> float:
    """Overlap of weighted issue concepts.

    A concept only one side names costs little (a terse report names one thing, a long one
    three); concepts each side names and the other does not mean two different problems.
    """
    ca, cb = a.concepts, b.concepts
    if not ca or not cb:
        return 0.0
    shared = sum(min(ca[k], cb[k]) for k in ca.keys() & cb.keys())
    if shared <= 0:
        return 0.0
    only_a = sum(v for k, v in ca.items() if k not in cb)
    only_b = sum(v for k, v in cb.items() if k not in ca)
    penalty = 1.0 * min(only_a, only_b) + 0.25 * max(only_a, only_b)
    return shared / (shared + penalty)


def transient_match(a: AppealFeatures, b: AppealFeatures) -> bool:
    """True when every shared object concept is a short-lived event (outage, burst pipe…)."""
    shared = [k for k in a.concepts.keys() & b.concepts.keys() if a.concepts[k] >= 1.0]
    return bool(shared) and all(k in TRANSIENT_CONCEPTS for k in shared)


def token_similarity(a: AppealFeatures, b: AppealFeatures) -> float:
    """rapidfuzz token-set ratio over segmented content words, 0..1."""
    if not a.tokens or not b.tokens:
        return 0.0
    return fuzz.token_set_ratio(" ".join(a.tokens), " ".join(b.tokens)) / 100.0


def bigram_similarity(a: AppealFeatures, b: AppealFeatures) -> float:
    """Dice over character bigrams of content words (robust to segmentation differences)."""
    ga = {g for t in a.tokens for g in (char_ngrams(t, 2) if len(t) > 1 else [t])}
    gb = {g for t in b.tokens for g in (char_ngrams(t, 2) if len(t) > 1 else [t])}
    if not ga or not gb:
        return 0.0
    return 2 * len(ga & gb) / (len(ga) + len(gb))


def objects_apart(a: AppealFeatures, b: AppealFeatures) -> bool:
    """Both texts name object concepts (what is broken) and share no concept at all."""
    objects_a = {k for k, w in a.concepts.items() if w >= 1.0}
    objects_b = {k for k, w in b.concepts.items() if w >= 1.0}
    return bool(objects_a and objects_b and not (a.concepts.keys() & b.concepts.keys()))


def content_similarity(a: AppealFeatures, b: AppealFeatures, concept: float | None = None,
                       bigrams: float | None = None) -> float:
    """Concept overlap, or shared wording when the lexicon does not cover one side (the lexical
    view; domain.dedup.score_pair adds the dispatch model's view).

    When both texts name object concepts and share none, they describe different problems and
    wording cannot overrule that.  Otherwise shared character bigrams of content words count
    too: on dev, duplicates have a median bigram Dice of ~0.17 while non-duplicates at the same
    place stay below ~0.1, so the text score ramps from 0 at 0.1 to 1 at 0.35.
    """
    concept = concept_similarity(a, b) if concept is None else concept
    bigrams = bigram_similarity(a, b) if bigrams is None else bigrams
    if objects_apart(a, b):
        return concept
    text = min(1.0, max(0.0, (bigrams - 0.1) / 0.25))
    return max(concept, text)


def pair_features(new: AppealFeatures, old: AppealFeatures, same_party: bool = False) -> dict[str, float]:
    """Numeric features for (new appeal, earlier candidate); input to domain.dedup.score_pair."""
    concept = concept_similarity(new, old)
    tokens = token_similarity(new, old)
    bigrams = bigram_similarity(new, old)
    dispatch = dispatch_agreement(new, old)
    return {
        "concept": round(concept, 4),
        "tokens": round(tokens, 4),
        "bigrams": round(bigrams, 4),
        "content": round(content_similarity(new, old, concept, bigrams), 4),
        "objects_apart": 1.0 if objects_apart(new, old) else 0.0,
        "dispatch_group": dispatch[0],
        "same_leaf": 1.0 if dispatch[1] else 0.0,
        "dispatch_apart": 1.0 if dispatch[2] else 0.0,
        "concepts_both": 1.0 if new.concepts and old.concepts else 0.0,
        "transient": 1.0 if transient_match(new, old) else 0.0,
        "address": round(address_similarity(new, old), 4),
        "place_specific": round(specific_place_shared(new, old), 4),
        "same_geocell": 1.0 if new.geocell and new.geocell == old.geocell else 0.0,
        "same_party": 1.0 if same_party else 0.0,
        "gap_hours": round(abs(new.received_at - old.received_at), 3),
        "recurrence": 1.0 if new.recurrence else 0.0,
        "followup": 1.0 if new.followup else 0.0,
        "new_matter": 1.0 if new.new_matter else 0.0,
        "same_channel": 1.0 if new.channel and new.channel == old.channel else 0.0,
        "same_type": 1.0 if new.appeal_type and new.appeal_type == old.appeal_type else 0.0,
    }


# ---------------------------------------------------------------------------------------------
# Blocking.
# ---------------------------------------------------------------------------------------------

MAX_PLACE_KEYS = 4


def blocking_keys(features: AppealFeatures, party_hashes: Iterable[str] = ()) -> list[str]:
    """Keys under which an appeal is indexed and its candidates looked up (no scans).

    party hashes ("p:…"), the most specific place keys ("a:…", villages/landmarks/buildings before
    roads before streets), and the geocell ("g:…").  The street key is needed as a fallback; only one street key is kept, because a street holds many
    appeals and the bounded read then sees only the newest ones.
    """
    keys: list[str] = [f"p:{h}" for h in party_hashes if h]
    rank = {"place": 0, "other": 1, "road": 2, "street": 3}
    cands = [(rank[l], -len(k), k) for k, l in features.places.items() if l in rank]
    # Text-named places are keys too: the address field is often just a street (宝安区西乡街道).
    cands += [(rank[l] + 0.5, -len(k), k) for k, l in features.text_places.items()
              if l in rank and k not in features.places]
    cands.sort()
    specific = [c for c in cands if c[0] < 3][:MAX_PLACE_KEYS]
    streets = [c for c in cands if c[0] == 3][:1]
    chosen = specific + streets
    for _, _, k in chosen:
        keys.append(f"a:{k}")
    if features.geocell:
        keys.append(f"g:{features.geocell}")
    seen: set[str] = set()
    return [k for k in keys if not (k in seen or seen.add(k))]
