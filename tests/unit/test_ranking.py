"""Rankings by the Wilson lower bound with a minimum volume, the composite and the red and black
lists (domain/ranking.py, issues 16 and 17)."""
from __future__ import annotations

import pytest

from chalicelib.domain.ranking import AssessmentPolicy, ListRule, composite, policy_problems, rank, record, \
    red_black, totals, wilson_lower


def counts(**c) -> dict:
    return totals([c])


def unit(n: int, good: float) -> dict:
    """A unit with n cases of everything and a share `good` of good outcomes."""
    g = round(n * good)
    return counts(dispatched=n, signed_in_time=g, responded_in_time=g, due=n, on_time=g, overdue=n - g,
                  returned=n - g, replied=n, rated=n, satisfied=g, resolved=g)


def test_the_wilson_lower_bound_matches_the_textbook_value():
    # 95 % interval of 8 successes in 10: (0.4902, 0.9433) (Wilson 1927; e.g. statsmodels proportion_confint).
    assert (round(wilson_lower(8, 10, 0.95), 4), wilson_lower(0, 0, 0.95)) == (0.4902, 0.0)


def test_few_cases_do_not_top_a_ranking_and_too_few_are_not_ranked():
    units = {
        "small": counts(dispatched=10, due=10, on_time=9, overdue=1, rated=10, satisfied=10),      # 9 of 10
        "large": counts(dispatched=100, due=100, on_time=95, overdue=5, rated=100, satisfied=93),  # 95 of 100
        "tiny": counts(dispatched=3, due=3, on_time=3, rated=3, satisfied=3),                      # perfect, 3
    }
    r = rank(units, min_volume=10, confidence=0.95)
    assert ([e["unit_id"] for e in r["overdue_rate"]["ranked"]], r["overdue_rate"]["unranked"],
            [e["unit_id"] for e in r["satisfaction"]["ranked"]], [e["unit_id"] for e in r["volume"]["ranked"]],
            r["overdue_rate"]["ranked"][0]["value"]) == (
        ["large", "small"], ["tiny"], ["large", "small"], ["large", "small"], 0.05)


@pytest.mark.parametrize("c, expected", [
    (dict(), {"volume": 0, "overdue_rate": None, "return_rate": None, "satisfaction": None}),
    (dict(dispatched=4, returned=1, replied=2, due=2, overdue=1, on_time=1, rated=2, satisfied=1),
     {"volume": 4, "overdue_rate": 0.5, "return_rate": 0.25, "satisfaction": 0.5}),
])
def test_a_record_says_none_for_a_rate_without_cases(c, expected):
    r = record(counts(**c))
    assert {k: r[k] for k in expected} == expected


def test_the_composite_ranks_a_large_good_unit_above_a_small_perfect_one_and_leaves_a_tiny_one_out():
    units = {"perfect10": unit(10, 1.0), "good200": unit(200, 0.97), "tiny": unit(4, 1.0), "poor50": unit(50, 0.5)}
    r = rank(units, min_volume=10, confidence=0.95)["composite"]
    assert ([e["unit_id"] for e in r["ranked"]], r["unranked"]) == (["good200", "perfect10", "poor50"], ["tiny"])


def test_the_composite_is_the_weighted_mean_of_the_components_bounds():
    t = unit(100, 0.9)
    only_satisfaction = AssessmentPolicy(weights={"satisfaction_rate": 1.0})
    assert composite(t, only_satisfaction, 10, 0.95) == round(wilson_lower(90, 100, 0.95), 4)


def test_red_and_black_lists_follow_the_region_thresholds_and_sizes():
    units = {f"u{i}": unit(100, share) for i, share in enumerate((0.99, 0.98, 0.97, 0.7, 0.45, 0.4))}
    ranked = rank(units, min_volume=10, confidence=0.95)["composite"]
    lists = red_black(ranked, AssessmentPolicy(red=ListRule(2, 0.85), black=ListRule(5, 0.6)))
    assert ([e["unit_id"] for e in lists["red"]], [e["unit_id"] for e in lists["black"]]) == (
        ["u0", "u1"], ["u5", "u4"])


@pytest.mark.parametrize("doc, field", [
    ({"weights": {"speed": 1}}, "weights"),
    ({"weights": {"response_rate": 0}}, "weights"),
    ({"satisfied_levels": ["很好"]}, "satisfied_levels"),
    ({"rating_levels": {"满意": 7}}, "rating_levels"),
    ({"red_list": {"size": -1}}, "red_list"),
    ({"colour": "red"}, "colour"),
])
def test_a_bad_analytics_policy_names_its_field(doc, field):
    assert [f for f, _ in policy_problems(doc)] == [field]
