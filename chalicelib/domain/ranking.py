"""Rankings of units and districts (办件量, 超期率, 退回率, 满意度, composite; F-AN-3, F-AR-3) and
the red and black lists (红黑榜). Pure; counters and rates are domain/metrics.py's.

Rates of units with a handful of cases say little: a unit is ranked on a rate only once the
rate's denominator reaches the region's minimum volume, and it is ranked by the lower bound of
the Wilson score interval of its good outcome (on time, not returned, satisfied) at the region's
confidence, not by the raw rate: 9 of 10 on time ranks below 95 of 100. Volume ranks by count.

The composite (综合) score is the weighted mean, with the region's weights, of the Wilson bounds
of its components' good outcomes (response, on time, not returned, resolved, satisfied); a unit
is ranked on it only when every weighted component reaches the minimum volume. The red list
(红榜) is the top of the composite ranking at or above `red.min_score`, the black list (黑榜) its
bottom below `black.max_score`, each at most `size` long.

The Wilson bound is written here (a few lines of the standard formula over the standard
library's NormalDist) rather than taken from statsmodels: that is a 40 MB dependency for one
function, and every Lambda of the stack would carry it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Iterable, Mapping

from chalicelib.domain import metrics as m


def wilson_lower(successes: int, n: int, confidence: float) -> float:
    """Lower bound of the Wilson score interval for successes/n (0 when n is 0)."""
    if n <= 0:
        return 0.0
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    phat = successes / n
    denom = 1 + z * z / n
    centre = phat + z * z / (2 * n)
    margin = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / denom)


@dataclass(frozen=True)
class Metric:
    """One ranked measure: its name, label, how it is counted and whether lower is better."""

    name: str
    label: str
    numerator: str | None        # the counted outcome shown as the rate (None: volume, a count)
    denominator: str
    lower_is_better: bool = False


METRICS = (
    Metric("volume", "办件量", None, "dispatched"),
    Metric("overdue_rate", "超期率", "overdue", "due", lower_is_better=True),
    Metric("return_rate", "退回率", "returned", "dispatched", lower_is_better=True),
    Metric("satisfaction", "满意度", "satisfied", "rated"),
    Metric("composite", "综合", None, "dispatched"),
)

# Components of the composite: rate name -> (good outcome, denominator, good is the numerator).
COMPONENTS = {
    "response_rate": ("responded_in_time", "dispatched", True),
    "on_time_rate": ("on_time", "due", True),
    "return_rate": ("returned", "dispatched", False),
    "resolve_rate": ("resolved", "rated", True),
    "satisfaction_rate": ("satisfied", "rated", True),
}


@dataclass(frozen=True)
class ListRule:
    size: int
    threshold: float


@dataclass(frozen=True)
class AssessmentPolicy:
    """Region policy `analytics` (its ranking half): composite weights and the red/black lists."""

    weights: Mapping[str, float] = field(default_factory=lambda: {
        "response_rate": 0.2, "on_time_rate": 0.2, "return_rate": 0.1, "resolve_rate": 0.25,
        "satisfaction_rate": 0.25})
    red: ListRule = ListRule(5, 0.85)      # top, at or above
    black: ListRule = ListRule(5, 0.6)     # bottom, below

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "AssessmentPolicy":
        d = d or {}
        base = cls()
        red, black = d.get("red_list") or {}, d.get("black_list") or {}
        return cls(dict(d.get("weights") or base.weights),
                   ListRule(int(red.get("size", base.red.size)), float(red.get("min_score", base.red.threshold))),
                   ListRule(int(black.get("size", base.black.size)),
                            float(black.get("max_score", base.black.threshold))))


def totals(rows: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Counters summed over rows (one scope's days or months)."""
    return m.total(rows)


def record(t: Mapping[str, int]) -> dict[str, float | int | None]:
    """A unit's (or the region's) figures of a period: counts and rates (None without cases)."""
    r = m.rates(t)
    return {"volume": t["dispatched"], "replied": t["replied"], "closed": t["closed"],
            "overdue_rate": r["overdue_rate"], "on_time_rate": r["on_time_rate"],
            "return_rate": r["return_rate"], "satisfaction": r["satisfaction_rate"], "evaluated": t["rated"],
            "response_rate": r["response_rate"], "resolve_rate": r["resolve_rate"]}


def composite(t: Mapping[str, int], policy: AssessmentPolicy, min_volume: int, confidence: float
              ) -> float | None:
    """The weighted mean of the components' Wilson bounds, or None when a weighted component has
    fewer than `min_volume` cases."""
    score = weight = 0.0
    for name, w in policy.weights.items():
        if not w:
            continue
        num, den, good_is_num = COMPONENTS[name]
        n = int(t.get(den, 0))
        if n < min_volume:
            return None
        good = int(t.get(num, 0)) if good_is_num else n - int(t.get(num, 0))
        score += w * wilson_lower(good, n, confidence)
        weight += w
    return round(score / weight, 4) if weight else None


def rank(per_unit: Mapping[str, Mapping[str, int]], min_volume: int, confidence: float,
         policy: AssessmentPolicy | None = None) -> dict[str, dict]:
    """Each metric's ranking: the ranked units in order (rank, value, bound, n) and the units
    left unranked for too few cases."""
    policy = policy or AssessmentPolicy()
    out: dict[str, dict] = {}
    for metric in METRICS:
        ranked, unranked = [], []
        for unit_id, t in per_unit.items():
            n = t[metric.denominator]
            if n <= 0:
                continue
            if metric.name == "composite":
                score = composite(t, policy, min_volume, confidence)
                if score is None:
                    unranked.append(unit_id)
                else:
                    ranked.append((score, unit_id, n, score, score))
                continue
            if n < min_volume:
                unranked.append(unit_id)
                continue
            if metric.numerator is None:
                ranked.append((float(n), unit_id, n, None, None))
                continue
            good = n - t[metric.numerator] if metric.lower_is_better else t[metric.numerator]
            bound = wilson_lower(good, n, confidence)
            value = t[metric.numerator] / n
            ranked.append((bound, unit_id, n, round(value, 4),
                           round(1 - bound if metric.lower_is_better else bound, 4)))
        ranked.sort(key=lambda r: (-r[0], r[1]))
        out[metric.name] = {"label": metric.label, "min_volume": min_volume, "unranked": sorted(unranked),
                            "ranked": [{"rank": i + 1, "unit_id": u, "n": n, "value": v, "bound": b}
                                       for i, (_, u, n, v, b) in enumerate(ranked)]}
    return out


def red_black(composite_ranking: Mapping[str, Any], policy: AssessmentPolicy) -> dict[str, list[dict]]:
    """The red list (top, at or above the red threshold) and the black list (bottom, below the
    black threshold, worst first) of a composite ranking; a unit is never on both."""
    ranked = list(composite_ranking["ranked"])
    red = [e for e in ranked if e["value"] >= policy.red.threshold][:policy.red.size]
    reds = {e["unit_id"] for e in red}
    black = [e for e in reversed(ranked) if e["value"] < policy.black.threshold and e["unit_id"] not in reds]
    return {"red": red, "black": black[:policy.black.size]}


POLICY_KEYS = {"satisfied_levels", "rating_levels", "resolved_levels", "resolved_effect", "weights", "red_list",
               "black_list", "note"}


def policy_problems(doc: Any) -> list[tuple[str, str]]:
    """Every problem of a policy.json "analytics" section, as (field, message)."""
    if not isinstance(doc, dict):
        return [("", "must be an object")]
    out = [(k, f"unknown key (allowed: {', '.join(sorted(POLICY_KEYS))})") for k in doc if k not in POLICY_KEYS]
    weights = doc.get("weights", {})
    if not isinstance(weights, dict) or any(k not in COMPONENTS for k in weights) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in weights.values()):
        out.append(("weights", f"an object of non-negative numbers for {', '.join(COMPONENTS)}"))
    elif weights and not sum(weights.values()):
        out.append(("weights", "at least one weight must be above 0"))
    for key, levels in (("satisfied_levels", m.SATISFACTION_LEVELS), ("resolved_levels", m.RESOLUTION_LEVELS)):
        value = doc.get(key, [levels[0]])
        if not isinstance(value, list) or not value or any(v not in levels for v in value):
            out.append((key, f"a non-empty list of {', '.join(levels)}"))
    levels = doc.get("rating_levels", {"满意": 4.5, "基本满意": 3.5})
    if not isinstance(levels, dict) or set(levels) - {"满意", "基本满意"} or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v <= 5 for v in levels.values()):
        out.append(("rating_levels", "an object: 满意 and 基本满意 to the lowest mean score (1-5) of each"))
    effect = doc.get("resolved_effect", 4)
    if not isinstance(effect, int) or isinstance(effect, bool) or not 1 <= effect <= 5:
        out.append(("resolved_effect", "a whole score from 1 to 5"))
    for key, bound in (("red_list", "min_score"), ("black_list", "max_score")):
        rule = doc.get(key, {})
        size, threshold = (rule.get("size", 5), rule.get(bound, 0.5)) if isinstance(rule, dict) else (None, None)
        if not isinstance(rule, dict) or not isinstance(size, int) or isinstance(size, bool) or size < 0 or \
                not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            out.append((key, f"an object: size (a whole number) and {bound} (0-1)"))
    return out


def metrics_policy(doc: Mapping[str, Any] | None) -> m.MetricsPolicy:
    d = doc or {}
    base = m.MetricsPolicy()
    levels = d.get("rating_levels")
    return m.MetricsPolicy(
        tuple(d.get("satisfied_levels") or base.satisfied_levels),
        tuple(sorted(levels.items(), key=lambda kv: -kv[1])) if levels else base.rating_levels,
        tuple(d.get("resolved_levels") or base.resolved_levels), int(d.get("resolved_effect", base.resolved_effect)))
