"""Appeal text → duty-catalog leaf (职责清单事项) with calibrated confidence and explained top-3."""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

from chalicelib.domain.catalog import FALLBACK_CODE, CatalogItem
from chalicelib.nlp.confidence import SOFTMAX_T, SOFTMAX_TOP, Calibrator, group_share, raw_confidence  # noqa: F401
from chalicelib.nlp.hierarchy import add_group_scores, group_norms
from chalicelib.nlp.letters import head, is_letter, is_long_letter, strip_boilerplate
from chalicelib.nlp.text import normalize

MODEL_VERSION = 6
# Unigrams and bigrams: bigrams approximate Chinese words, unigrams rescue typos and rare
# paraphrases. Trigrams were measured to hurt (too sparse with ~5 documents per leaf).
NGRAM_SIZES = (1, 2)
# An n-gram that occurs in more leaves than this keeps only its strongest postings, which
# bounds the work per query on a 4,315-item catalog without changing the top of the ranking.
MAX_POSTINGS = 400
# Remembered examples (fallback class and dispatcher corrections) win over centroids only
# when nearly identical to the query: cosine minus this offset must beat the centroid.
MEMORY_OFFSET = 0.15
CORRECTION_WEIGHT = 2.0
# A matter the region names as out of scope (policy dispatch.out_of_scope: 民航, 铁路, 工会, ...)
# scores 兜底 at least like a typical right leaf (best cosine of correct examples is ~0.2), so
# only clearly stronger evidence for a leaf still beats it.
SCOPE_SCORE = 0.2
# In a query, an n-gram at relative position p counts 1 + POSITION_BOOST * (1 - p): the main
# complaint comes first, what follows is context and requests (门口还有人抽烟, 有没有扶持政策).
# Examples are not weighted (their centroids stay plain averages). 0.25-0.5 measured alike.
POSITION_BOOST = 0.35
# A region's lexicon (lexicon.csv) gives each leaf two more documents: its everyday phrases
# (老公喝酒打人 for 家庭暴力) and its typical situations, short clauses as citizens say them. Each
# weighs like 1.25 labelled examples: 1.0-1.5 measured alike on the dev set, where 2 starts to
# drown the examples; held-out history texts (short) gain a little more up to 1.5.
LEXICON_WEIGHT = 1.25
# A letter (letters.LONG_CHARS) is queried by its whole text and its head (title and first
# sentences), each as a unit vector, the head's taking this share: what a letter is about is
# in its title and opening, and the rest (background, history, requests) spreads over many leaves.
HEAD_SHARE = 0.5
# Under fallback_below, a letter's best score is compared with fallback_below times this: long
# texts score low against every leaf, which says nothing about whether a leaf covers them.
LETTER_FLOOR_FACTOR = 0.0
STRIP_BOILERPLATE = True
# A query scores only its heaviest n-grams, at most this many: a 2,000-character letter has ~2,500
# distinct ones, and the light ones (common characters with long posting lists) cost the most time
# and move scores least. Short appeals (under ~200 n-grams) are untouched.
QUERY_MAX_GRAMS = 300
# 0: the best leaf wins; 1: in letters, the level-1 category holding the most softmax mass among
# the top leaves wins and its best leaf leads; 2: the same for every text.
LEVEL1_VOTE = 1
VOTE_T = 0.03
_MASK = "|"


@dataclass(frozen=True)
class Example:
    """A labelled text (历史工单 or a dispatcher's correction)."""

    text: str
    code: str


@dataclass(frozen=True)
class Suggestion:
    """One ranked candidate leaf with its score, calibrated confidence and explanation."""

    code: str
    item: str
    level1: str
    score: float
    confidence: float
    why: str


@dataclass(frozen=True)
class Classification:
    """Result of classifying one appeal: best leaf plus top-3 suggestions."""

    code: str
    confidence: float
    suggestions: list[Suggestion] = field(default_factory=list)
    # True when no leaf came near enough (score below the region's fallback_below): the code
    # is then 兜底 with confidence 0, and the best leaves follow it among the suggestions.
    out_of_catalog: bool = False

    @property
    def item(self) -> str:
        return self.suggestions[0].item if self.suggestions else ""


# What a lexicon holds per leaf: its documents (phrases, situations), each a tuple of phrases.
Lexicon = Mapping[str, Sequence[Sequence[str]]]
LEXICON_COLUMNS = ("phrases", "situations")


def place_masks(names: Iterable[str]) -> list[str]:
    """Gazetteer names (and their cores without 区/街道/社区) to mask before classifying.

    Place names say where, not what; leaving them in lets a landmark that happened to occur
    in one training text pull unrelated appeals towards that leaf.
    """
    out: set[str] = set()
    for name in names:
        n = normalize(name)
        out.add(n)
        for suf in ("新区", "街道", "社区", "区"):
            if n.endswith(suf) and len(n) - len(suf) >= 2:
                out.add(n[: -len(suf)])
                break
    return sorted(n for n in out if len(n) >= 2)


def _position_counts(text: str) -> dict[str, float]:
    """Query n-gram counts with earlier n-grams counting more (see POSITION_BOOST)."""
    out: dict[str, float] = {}
    span = max(len(text), 1)
    for n in NGRAM_SIZES:
        for i in range(len(text) - n + 1):
            g = text[i : i + n]
            if _MASK not in g:
                out[g] = out.get(g, 0.0) + 1.0 + POSITION_BOOST * (1.0 - i / span)
    return out


def _grams(text: str) -> list[str]:
    out: list[str] = []
    for n in NGRAM_SIZES:
        out.extend(g for g in (text[i : i + n] for i in range(len(text) - n + 1)) if _MASK not in g)
    return out


def _catalog_text(it: CatalogItem) -> str:
    # The item name is the most specific description, so it counts twice.
    return " ".join([it.item, it.item, it.level2, *it.keywords])


class Classifier:
    """TF-IDF char 1-2 gram nearest-centroid classifier with incremental updates."""

    def __init__(self, catalog: Sequence[CatalogItem], examples: Sequence[Example] = (),
                 place_names: Sequence[str] = (), calibrator: Optional[Calibrator] = None,
                 lexicon: Optional[Lexicon] = None):
        self.items = {it.code: it for it in catalog}
        # The fallback row takes no phrases: matters outside the catalog are named by the
        # region's policy (out_of_scope), not learnt as a centroid.
        self.lexicon = {c: tuple(tuple(d) for d in docs if d) for c, docs in (lexicon or {}).items()
                        if c in self.items and c != FALLBACK_CODE and any(docs)}
        self._shields: tuple[str, ...] = ()
        self._wording: dict[str, tuple[tuple[str, str], ...]] = {}     # code -> (word, normalised)
        # Region policy (apply_policy): below fallback_below no leaf covers the appeal; an
        # out_of_scope term names a matter outside the catalog. Both send it to 兜底.
        self.fallback_below = 0.0
        self.out_of_scope: tuple[str, ...] = ()
        names = sorted({normalize(n) for n in place_names if len(normalize(n)) >= 2}, key=len, reverse=True)
        self._mask = re.compile("|".join(map(re.escape, names))) if names else None
        self.calibrator = calibrator or Calibrator()
        docs: list[tuple[str, list[str]]] = [(it.code, self._features(_catalog_text(it))) for it in catalog]
        lex_docs = [(code, self._features(" ".join(d))) for code, docs in self.lexicon.items() for d in docs]
        ex_docs = [(e.code, self._features(e.text)) for e in examples if e.code in self.items]
        df: Counter[str] = Counter()
        for _, g in docs + lex_docs + ex_docs:
            df.update(set(g))
        n = len(docs) + len(lex_docs) + len(ex_docs)
        self._idf = {k: math.log((n + 1) / (v + 1)) + 1.0 for k, v in df.items()}
        self._default_idf = math.log(n + 1) + 1.0
        self._sums: dict[str, dict[str, float]] = {c: {} for c in self.items}
        self._norms: dict[str, float] = {}
        self._examples: dict[str, list[tuple[str, dict[str, float]]]] = {c: [] for c in self.items}
        # Near-duplicate memory: fallback texts (too heterogeneous for a centroid) and corrections.
        self._memory: list[tuple[str, dict[str, float]]] = []
        for code, g in docs:
            self._accumulate(code, self._vector(g), 1.0, renorm=False)
        for code, g in lex_docs:
            self._accumulate(code, self._vector(g), LEXICON_WEIGHT, renorm=False)
        for (code, g), e in zip(ex_docs, [e for e in examples if e.code in self.items]):
            v = self._vector(g)
            self._accumulate(code, v, 1.0, renorm=False)
            self._examples[code].append((e.text, v))
            if code == FALLBACK_CODE:
                self._memory.append((code, v))
        for code in self._sums:
            self._renorm(code)
        self._index()
        # Lengths of the category centroids for letters (hierarchy.py); a correction drops them.
        self._groups: Optional[dict[str, float]] = group_norms(self._sums, self._norms, (FALLBACK_CODE,))

    # -- features -----------------------------------------------------------------------
    def _masked(self, text: str) -> str:
        t = normalize(text)
        t = self._mask.sub(_MASK, t) if self._mask is not None else t
        return strip_boilerplate(t, _MASK) if STRIP_BOILERPLATE else t

    def _features(self, text: str) -> list[str]:
        return _grams(self._masked(text))

    def _vector(self, grams: list[str] | dict[str, float]) -> dict[str, float]:
        counts = grams if isinstance(grams, dict) else Counter(grams)
        v = {}
        for k, c in counts.items():
            v[k] = (1.0 + math.log(c)) * self._idf.get(k, self._default_idf)
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {k: x / norm for k, x in v.items()}

    def vectorize(self, text: str) -> dict[str, float]:
        """Unit-length TF-IDF vector of a text (masked place names, char 1-2 grams)."""
        return self._vector(self._features(text))

    def query_vector(self, text: str) -> dict[str, float]:
        """The vector an appeal is classified by: as `vectorize`, with earlier n-grams counting more;
        a letter's head (title, first sentences) mixed in at HEAD_SHARE."""
        q = self._vector(_position_counts(self._masked(text)))
        if HEAD_SHARE <= 0 or not is_letter(text):
            return q
        h = self._vector(_position_counts(self._masked(head(text))))
        mix = {k: (1.0 - HEAD_SHARE) * x for k, x in q.items()}
        for k, x in h.items():
            mix[k] = mix.get(k, 0.0) + HEAD_SHARE * x
        norm = math.sqrt(sum(x * x for x in mix.values())) or 1.0
        return {k: x / norm for k, x in mix.items()}

    # -- model state ----------------------------------------------------------------------
    def _accumulate(self, code: str, vec: dict[str, float], weight: float, renorm: bool = True) -> None:
        s = self._sums[code]
        for k, x in vec.items():
            s[k] = s.get(k, 0.0) + weight * x
        if renorm:      # a build renormalises every class once at the end instead
            self._renorm(code)

    def _renorm(self, code: str) -> None:
        self._norms[code] = math.sqrt(sum(x * x for x in self._sums[code].values())) or 1.0

    def _index(self) -> None:
        post: dict[str, list[tuple[str, float]]] = {}
        for code, s in self._sums.items():
            n = self._norms[code]
            for k, x in s.items():
                post.setdefault(k, []).append((code, x / n))
        self._post = {}
        for k, lst in post.items():
            if len(lst) > MAX_POSTINGS:
                lst = sorted(lst, key=lambda p: -p[1])[:MAX_POSTINGS]
            self._post[k] = dict(lst)

    def _reindex_class(self, code: str) -> None:
        n = self._norms[code]
        for k, x in self._sums[code].items():
            self._post.setdefault(k, {})[code] = x / n

    def add_example(self, text: str, code: str, weight: float = CORRECTION_WEIGHT) -> None:
        """Learn from a dispatcher's correction at once: moves the centroid and remembers the text."""
        if code not in self.items:
            raise KeyError(f"unknown catalog code {code}")
        v = self.vectorize(text)
        self._accumulate(code, v, weight)
        self._examples[code].append((text, v))
        self._memory.append((code, v))
        self._reindex_class(code)
        self._groups = None

    # -- inference ------------------------------------------------------------------------
    def scores(self, text: str) -> tuple[dict[str, float], dict[str, float]]:
        """Raw cosine scores per leaf, plus the query vector."""
        q = self.query_vector(text)
        acc: dict[str, float] = {}
        get = acc.get
        for k, x in _heaviest(q):
            p = self._post.get(k)
            if p:
                for c, w in p.items():
                    acc[c] = get(c, 0.0) + x * w
        self._letter_groups(acc, text)
        for code, v in self._memory:
            sim = _dot(q, v) - MEMORY_OFFSET
            if sim > acc.get(code, 0.0):
                acc[code] = sim
        # In a letter only the head names its matter: a railway station met on the way to the
        # complaint does not make the letter a railway matter.
        scope_text = head(text) if is_letter(text) else text
        if self.out_of_scope and self._scope_hits(scope_text) and acc.get(FALLBACK_CODE, 0.0) < SCOPE_SCORE:
            acc[FALLBACK_CODE] = SCOPE_SCORE
        return acc, q

    def _letter_groups(self, acc: dict[str, float], text: str) -> None:
        """A letter's leaves gain their level-1 and level-2 groups' scores (hierarchy.py)."""
        if not is_letter(text):
            return
        if self._groups is None:
            self._groups = group_norms(self._sums, self._norms, skip=(FALLBACK_CODE,))
        add_group_scores(acc, self._groups, FALLBACK_CODE)

    def _scope_hits(self, text: str) -> list[str]:
        t = normalize(text)
        for w in self._shields:
            if w in t:
                t = t.replace(w, _MASK)
        return [w for w in self.out_of_scope if w in t]

    def _leaf_wording(self, code: str) -> tuple[tuple[str, str], ...]:
        """A leaf's own words (item name, keywords, lexicon phrases and situations), each with its
        normalised form; worked out once per leaf."""
        got = self._wording.get(code)
        if got is None:
            it = self.items[code]
            words = (it.item, *it.keywords, *(w for d in self.lexicon.get(code, ()) for w in d))
            got = self._wording[code] = tuple((w, n) for w in words if (n := normalize(w)))
        return got

    def apply_policy(self, dispatch: dict) -> "Classifier":
        """Take the region's policy.json `dispatch` settings: fallback_below and out_of_scope."""
        self.fallback_below = float(dispatch.get("fallback_below", 0.0))
        self.out_of_scope = tuple(n for n in (normalize(w) for w in dispatch.get("out_of_scope", ())) if n)
        # An out-of-scope term inside a leaf's own wording is that leaf's matter there: 高铁 names
        # a railway matter (兜底), 高铁噪音 is the 交通噪声 leaf's phrase. Such wording is blanked
        # out before the terms are looked for, longest first.
        terms = set(self.out_of_scope)
        pattern = re.compile("|".join(map(re.escape, sorted(terms, key=len, reverse=True)))) if terms else None
        words = {n for code in self.items if code != FALLBACK_CODE for _, n in self._leaf_wording(code)}
        self._shields = tuple(sorted((w for w in words if pattern and w not in terms and pattern.search(w)),
                                     key=len, reverse=True))
        return self

    def classify(self, text: str, k: int = 3, fallback_below: Optional[float] = None) -> Classification:
        """Best leaf, its calibrated confidence and top-k suggestions with reasons.

        `fallback_below` overrides the model's out-of-catalogue setting for this call (0: off).
        """
        floor = self.fallback_below if fallback_below is None else fallback_below
        if is_letter(text):
            floor *= LETTER_FLOOR_FACTOR
        acc, q = self.scores(text)
        top = sorted(acc.items(), key=lambda kv: -kv[1])[: max(k, SOFTMAX_TOP)]
        if not top:
            top = [(FALLBACK_CODE, 0.0)]
        if LEVEL1_VOTE == 2 or (LEVEL1_VOTE == 1 and is_letter(text)):
            top = level1_vote(top)
        best = top[0][1]
        leaves = [t for t in top if t[0] != FALLBACK_CODE]
        if best < floor and FALLBACK_CODE in self.items:
            # Out of catalogue: the catch-all leaf, for a dispatcher to confirm or redirect.
            ranked = [(FALLBACK_CODE, acc.get(FALLBACK_CODE, 0.0))] + leaves[: k - 1]
            why = f"与清单各事项都不相近(最高相似度 {best:.2f} < {floor:.2f})"
            sugg = [Suggestion(code, self.items[code].item, self.items[code].level1, round(s, 4), 0.0,
                               why if code == FALLBACK_CODE else self._why(code, text, q))
                    for code, s in ranked]
            return Classification(FALLBACK_CODE, 0.0, sugg, out_of_catalog=True)
        conf = self.calibrator.confidence(*self.raw_score(text, top))
        sugg = []
        for i, (code, s) in enumerate(top[:k]):
            # Only the winner gets the calibrated probability; runners-up get a share of it
            # scaled by score so the ordering of confidences follows the ordering of scores.
            c = conf if i == 0 else min(conf, (1.0 - conf) * s / (best or 1.0))
            it = self.items[code]
            sugg.append(Suggestion(code, it.item, it.level1, round(s, 4), round(c, 4), self._why(code, text, q)))
        return Classification(top[0][0], round(conf, 4), sugg)

    @staticmethod
    def raw_score(text: str, top: list[tuple[str, float]]) -> tuple[float, bool]:
        """Uncalibrated confidence of a ranking and whether it is a long letter's (group_share)."""
        letter = is_long_letter(text)
        return (group_share(top) if letter else raw_confidence([s for _, s in top])), letter

    def _why(self, code: str, text: str, q: dict[str, float]) -> str:
        it = self.items[code]
        t = normalize(text)
        hits = [w for w, n in self._leaf_wording(code) if n in t]
        if code == FALLBACK_CODE:
            hits = [*(f"{w}(清单外)" for w in self._scope_hits(text)), *hits]
        parts = []
        if hits:
            parts.append("关键词: " + "、".join(hits[:4]))
        best, best_sim = None, 0.0
        for ex_text, v in self._examples.get(code, ()):
            sim = _dot(q, v)
            if sim > best_sim:
                best, best_sim = ex_text, sim
        if best is not None and best_sim > 0.2:
            parts.append(f"相似工单({best_sim:.2f}): {best[:30]}")
        if not parts:
            parts.append(f"与「{it.level2}/{it.item}」整体用词相近")
        return "; ".join(parts)

    def loo_raw_confidences(self) -> list[tuple[float, bool]]:
        """Leave-one-out (raw confidence, correct) for every stored example that is not a letter.

        For a centroid model LOO is exact and cheap: the example's own vector is subtracted
        from its class sum analytically instead of rebuilding the model.
        """
        out = []
        for code, exs in self._examples.items():
            for text, v in exs:
                top = self.loo_ranking(text, code, [v])
                raw, letter = self.raw_score(text, top)
                if not letter:      # a letter's score is another scale (calibration.py maps it)
                    out.append((raw, top[0][0] == code))
        return out

    def loo_ranking(self, text: str, code: str, removed: Sequence[dict[str, float]]) -> list[tuple[str, float]]:
        """The top leaves for a text as a model without the `removed` example vectors of class
        `code` would rank them (queried as an appeal is, letter rules included)."""
        q = self.query_vector(text)     # queried as an appeal would be
        acc: dict[str, float] = {}
        for k, x in _heaviest(q):
            p = self._post.get(k)
            if p:
                for c, w in p.items():
                    acc[c] = acc.get(c, 0.0) + x * w
        s = self._sums[code]
        n = self._norms[code]
        u: dict[str, float] = {}
        for v in removed:
            for k, x in v.items():
                u[k] = u.get(k, 0.0) + x
        # Its own class without them: (q.S - q.u) / |S - u|.
        q_s = sum(x * s.get(k, 0.0) for k, x in q.items())
        u_s = sum(x * s.get(k, 0.0) for k, x in u.items())
        rest = max(n * n - 2 * u_s + sum(x * x for x in u.values()), 1e-9)
        acc[code] = (q_s - _dot(q, u)) / math.sqrt(rest)
        # The groups' lengths keep the removed examples (a leaf's share in its group is small).
        self._letter_groups(acc, text)
        gone = {id(v) for v in removed}
        for mcode, mv in self._memory:
            if id(mv) in gone:
                continue
            sim = _dot(q, mv) - MEMORY_OFFSET
            if sim > acc.get(mcode, 0.0):
                acc[mcode] = sim
        top = sorted(acc.items(), key=lambda kv: -kv[1])[:SOFTMAX_TOP]
        if LEVEL1_VOTE == 2 or (LEVEL1_VOTE == 1 and is_letter(text)):
            top = level1_vote(top)
        return top


def _heaviest(q: dict[str, float]) -> list[tuple[str, float]]:
    items = list(q.items())
    return items if len(items) <= QUERY_MAX_GRAMS else sorted(items, key=lambda kv: -kv[1])[:QUERY_MAX_GRAMS]


def level1_vote(top: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The ranking with the best leaf of the level-1 category that holds the most softmax mass
    among the top leaves moved to the front (the rest keep their order)."""
    if len(top) < 2:
        return top
    best = top[0][1]
    mass: dict[str, float] = {}
    for code, s in top[:SOFTMAX_TOP]:
        mass[code[:2]] = mass.get(code[:2], 0.0) + math.exp((s - best) / VOTE_T)
    group = max(mass, key=lambda g: mass[g])
    lead = next(i for i, (code, _) in enumerate(top) if code[:2] == group)
    return [top[lead], *top[:lead], *top[lead + 1:]] if lead else top


def _dot(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(x * b.get(k, 0.0) for k, x in a.items())
