"""Unit tests for the pure de-duplication decision and the clustering metrics."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chalicelib.domain import dedup
from bench.clustering_metrics import bcubed_scores, groups_from_links, pairwise_scores
from chalicelib.domain.dedup import CandidateScore, DedupPolicy, decide, score_pair

STRONG = {"content": 0.9, "address": 0.9, "same_party": 0.0, "gap_hours": 20.0}


def test_dedup_module_is_pure_stdlib():
    tree = ast.parse(Path(dedup.__file__).read_text(encoding="utf-8"))
    imported = {n.names[0].name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"jieba", "rapidfuzz", "boto3", "chalicelib"}


def test_strong_candidate_joins_and_explains_itself():
    d = decide([CandidateScore("P1", STRONG)])
    assert d.master_id == "P1" and d.candidate_id == "P1"
    assert d.matched_fields["content"] == 0.9 and d.matched_fields["address"] == 0.9
    assert "joined P1" in d.reason


def test_duplicate_joins_the_master_of_its_best_candidate():
    weak = dict(STRONG, content=0.6, address=0.5)
    d = decide([CandidateScore("P2", STRONG, master_id="P1"), CandidateScore("P3", weak)])
    assert d.master_id == "P1" and d.candidate_id == "P2"


def test_no_candidates_means_new_master():
    d = decide([])
    assert d.master_id is None and d.score == 0.0


@pytest.mark.parametrize("extra, reason", [
    ({"gap_hours": 50 * 24.0, "recurrence": 1.0}, "window"),
    ({"gap_hours": 20 * 24.0, "recurrence": 1.0}, "fixed"),
    ({"gap_hours": 7 * 24.0, "transient": 1.0}, "short-lived"),
    ({"content": 0.2}, "different problem"),
    ({"address": 0.1}, "different place"),
    ({"same_party": 1.0, "new_matter": 1.0}, "different matter"),
])
def test_vetoes_keep_hard_negatives_apart(extra, reason):
    d = decide([CandidateScore("P1", dict(STRONG, **extra))])
    assert d.master_id is None
    assert reason in d.reason


def test_same_party_needs_less_address_evidence():
    f = dict(STRONG, address=0.0, same_party=1.0, content=0.6)
    assert score_pair(f).veto is None
    assert decide([CandidateScore("P1", f)]).master_id == "P1"


def test_policy_threshold_is_respected():
    strict = DedupPolicy(join_threshold=0.99)
    assert decide([CandidateScore("P1", STRONG)], strict).master_id is None


def test_metrics_on_a_hand_made_grouping():
    gold = {"a": 1, "b": 1, "c": 2, "d": 2, "e": 3}
    pred = {"a": "x", "b": "x", "c": "x", "d": "y", "e": "z"}
    pw = pairwise_scores(pred, gold)
    # predicted pairs ab, ac, bc; gold pairs ab, cd; one in common.
    assert pw["precision"] == pytest.approx(1 / 3)
    assert pw["recall"] == pytest.approx(1 / 2)
    assert pw["f1"] == pytest.approx(0.4)
    b3 = bcubed_scores(pred, gold)
    assert b3["precision"] == pytest.approx(11 / 15)
    assert b3["recall"] == pytest.approx(4 / 5)
    assert b3["f1"] == pytest.approx(88 / 115)


def test_metrics_edge_cases():
    gold = {"a": 1, "b": 1}
    singletons = {"a": "a", "b": "b"}
    assert pairwise_scores(singletons, gold)["precision"] == 1.0
    assert pairwise_scores(singletons, gold)["recall"] == 0.0
    assert bcubed_scores(gold, gold)["f1"] == 1.0
    with pytest.raises(ValueError):
        pairwise_scores({"a": 1}, gold)


def test_groups_are_connected_components_rooted_at_the_earliest():
    groups = groups_from_links(["a", "b", "c", "d"], {"b": "a", "c": "b", "d": None})
    assert groups == {"a": "a", "b": "a", "c": "a", "d": "d"}
