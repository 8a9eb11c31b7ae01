"""Units' records and rankings (办件量, 超期率, 退回率, 满意度; F-AR-3). Pure.

A unit's counters over a period (summed from its daily or monthly rows) give its rates. Rates
of units with a handful of cases say little: a unit is ranked on a rate only once the rate's
denominator reaches the region's minimum volume, and it is ranked by the lower bound of the
Wilson score interval of its good outcome (on time, not returned, satisfied) at the region's
confidence, not by the raw rate: 9 of 10 on time ranks below 95 of 100. Volume ranks by count.

The Wilson bound is written here (a few lines of the standard formula over the standard
library's NormalDist) rather than taken from statsmodels: that is a 40 MB dependency for one
function, and every Lambda of the stack would carry it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Iterable, Mapping

from chalicelib.domain.public_view import COUNTERS


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
    Metric("overdue_rate", "超期率", "late", "replied", lower_is_better=True),
    Metric("return_rate", "退回率", "returned", "dispatched", lower_is_better=True),
    Metric("satisfaction", "满意度", "satisfied_all", "evaluated"),
)


def totals(rows: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Counters summed over rows, with the derived sums the metrics use."""
    out = {c: 0 for c in COUNTERS}
    for row in rows:
        for c in COUNTERS:
            out[c] += int(row.get(c, 0) or 0)
    out["satisfied_all"] = out["satisfied"] + out["visit_satisfied"]
    out["evaluated"] = out["rated"] + out["visited"]
    return out


def record(t: Mapping[str, int]) -> dict[str, float | int | None]:
    """A unit's (or the region's) figures of a period: counts and rates (None without cases)."""
    def rate(num: str, den: str) -> float | None:
        return round(t[num] / t[den], 4) if t[den] else None

    return {"volume": t["dispatched"], "replied": t["replied"], "closed": t["closed"],
            "overdue_rate": rate("late", "replied"), "on_time_rate": None if not t["replied"] else
            round(1 - t["late"] / t["replied"], 4), "return_rate": rate("returned", "dispatched"),
            "satisfaction": rate("satisfied_all", "evaluated"), "evaluated": t["evaluated"]}


def rank(per_unit: Mapping[str, Mapping[str, int]], min_volume: int, confidence: float
         ) -> dict[str, dict]:
    """Each metric's ranking: the ranked units in order (rank, value, bound, n) and the units
    left unranked for too few cases."""
    out: dict[str, dict] = {}
    for m in METRICS:
        ranked, unranked = [], []
        for unit_id, t in per_unit.items():
            n = t[m.denominator]
            if n <= 0:
                continue
            if n < min_volume:
                unranked.append(unit_id)
                continue
            if m.numerator is None:
                ranked.append((float(n), unit_id, n, None, None))
                continue
            good = n - t[m.numerator] if m.lower_is_better else t[m.numerator]
            bound = wilson_lower(good, n, confidence)
            value = t[m.numerator] / n
            ranked.append((bound, unit_id, n, round(value, 4), round(1 - bound if m.lower_is_better else bound, 4)))
        ranked.sort(key=lambda r: (-r[0], r[1]))
        out[m.name] = {"label": m.label, "min_volume": min_volume, "unranked": sorted(unranked),
                       "ranked": [{"rank": i + 1, "unit_id": u, "n": n, "value": v, "bound": b}
                                  for i, (_, u, n, v, b) in enumerate(ranked)]}
    return out
