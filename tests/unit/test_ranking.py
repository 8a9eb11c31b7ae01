"""Rankings by the Wilson lower bound with a minimum volume (domain/ranking.py, issue 16)."""
from __future__ import annotations

import pytest

from chalicelib.domain.ranking import rank, record, totals, wilson_lower


def counts(**c) -> dict:
    return totals([c])


def test_the_wilson_lower_bound_matches_the_textbook_value():
    # 95 % interval of 8 successes in 10: (0.4902, 0.9433) (Wilson 1927; e.g. statsmodels proportion_confint).
    assert (round(wilson_lower(8, 10, 0.95), 4), wilson_lower(0, 0, 0.95)) == (0.4902, 0.0)


def test_few_cases_do_not_top_a_ranking_and_too_few_are_not_ranked():
    units = {
        "small": counts(dispatched=10, replied=10, late=1, rated=10, satisfied=10),      # 9 of 10 on time
        "large": counts(dispatched=100, replied=100, late=5, rated=100, satisfied=93),   # 95 of 100
        "tiny": counts(dispatched=3, replied=3, rated=3, satisfied=3),                   # perfect, 3 cases
    }
    r = rank(units, min_volume=10, confidence=0.95)
    assert ([e["unit_id"] for e in r["overdue_rate"]["ranked"]], r["overdue_rate"]["unranked"],
            [e["unit_id"] for e in r["satisfaction"]["ranked"]], [e["unit_id"] for e in r["volume"]["ranked"]],
            r["overdue_rate"]["ranked"][0]["value"]) == (
        ["large", "small"], ["tiny"], ["large", "small"], ["large", "small"], 0.05)


@pytest.mark.parametrize("c, expected", [
    (dict(), {"volume": 0, "overdue_rate": None, "return_rate": None, "satisfaction": None}),
    (dict(dispatched=4, returned=1, replied=2, late=1, rated=1, satisfied=1, visited=1, visit_satisfied=0),
     {"volume": 4, "overdue_rate": 0.5, "return_rate": 0.25, "satisfaction": 0.5}),
])
def test_a_record_says_none_for_a_rate_without_cases(c, expected):
    r = record(counts(**c))
    assert {k: r[k] for k in expected} == expected
