"""The dispatch model's view as de-duplication evidence, borderline pairs as possible duplicates,
and the overfitting protocol's restricted metrics."""
from __future__ import annotations

import pytest

from bench.eval_dedup_protocol import _figures, _score
from chalicelib.domain.dedup import CandidateScore, DedupPolicy, content_evidence, decide, score_pair
from chalicelib.nlp.concepts import extract_concepts
from chalicelib.nlp.dedup_features import AppealFeatures, dispatch_agreement, dispatch_view

# Same place, no shared concept or wording: only the dispatch model's view can tell.
PLACE = {"content": 0.0, "concept": 0.0, "address": 1.0, "same_party": 0.0, "gap_hours": 3.0}


def feats(leaf: str, groups: dict[str, float]) -> AppealFeatures:
    return AppealFeatures(appeal_id="x", received_at=0.0, leaf=leaf, groups=groups)


def test_dispatch_view_sums_the_softmax_of_leaves_per_group():
    leaf, groups = dispatch_view([("01.01.002", 0.50), ("01.01.003", 0.50), ("03.02.001", 0.20)])
    assert leaf == "01.01.002"
    assert groups == {"01.01": 1.0}
    leaf, groups = dispatch_view([("01.01.002", 0.50), ("03.02.001", 0.50)])
    assert groups == {"01.01": 0.5, "03.02": 0.5}
    assert dispatch_view([]) == ("", {})


def test_agreement_overlap_same_leaf_and_clearly_apart():
    a = feats("01.01.002", {"01.01": 0.9, "03.02": 0.1})
    b = feats("01.01.002", {"01.01": 0.7, "03.02": 0.3})
    assert dispatch_agreement(a, b) == (0.8, True, False)
    c = feats("18.01.003", {"18.01": 1.0})
    assert dispatch_agreement(a, c) == (0.0, False, True)
    unsure = feats("18.01.003", {"18.01": 0.5, "04.03": 0.5})
    assert dispatch_agreement(a, unsure)[2] is False
    # Features stored before the view was kept carry none: no evidence either way.
    assert dispatch_agreement(a, feats("", {})) == (0.0, False, False)


def test_same_leaf_at_the_same_place_joins_on_the_dispatch_view():
    f = dict(PLACE, dispatch_group=0.95, same_leaf=1.0)
    ps = score_pair(f)
    assert ps.veto is None and ps.signal == "dispatch"
    d = decide([CandidateScore("P1", f)])
    assert d.master_id == "P1" and d.signal == "dispatch"
    assert "content from dispatch" in d.reason and d.matched_fields["dispatch_group"] == 0.95


def test_another_leaf_of_the_same_group_is_worth_less_and_different_objects_less_still():
    policy = DedupPolicy()
    assert content_evidence(dict(PLACE, dispatch_group=1.0), policy) == (policy.dispatch_other_leaf, "dispatch")
    under = content_evidence(dict(PLACE, dispatch_group=1.0, same_leaf=1.0, objects_apart=1.0), policy)
    assert under == (policy.dispatch_under_conflict, "dispatch")
    assert decide([CandidateScore("P1", dict(PLACE, dispatch_group=1.0))]).master_id is None


def test_lexical_evidence_stronger_than_the_view_is_named_as_such():
    assert content_evidence(dict(PLACE, content=0.8, concept=0.8, dispatch_group=0.5, same_leaf=1.0)) == \
        (0.8, "concepts")
    assert content_evidence(dict(PLACE, content=0.7, concept=0.2)) == (0.7, "wording")


def test_clearly_different_groups_are_not_joined_but_offered_to_a_dispatcher():
    f = dict(PLACE, content=0.9, concept=0.9, dispatch_apart=1.0)
    ps = score_pair(f)
    assert ps.veto and "dispatch model" in ps.veto and ps.borderline
    d = decide([CandidateScore("P2", f, master_id="P1")])
    assert d.master_id is None
    assert d.possible_id == "P1" and d.possible_candidate_id == "P2"
    assert "dispatch model" in d.possible_reason
    out = d.to_dict()["possible_duplicate"]
    assert out["master_id"] == "P1" and out["fields"]["dispatch_apart"] == 1.0


def test_a_score_just_under_the_bar_is_a_possible_duplicate_and_far_under_is_not():
    policy = DedupPolicy()
    near = {"content": 0.6, "concept": 0.6, "address": 0.3, "gap_hours": 24 * 30}
    ps = score_pair(near, policy)
    assert ps.veto is None and policy.join_threshold - policy.possible_margin <= ps.score < policy.join_threshold
    d = decide([CandidateScore("P1", near)], policy)
    assert d.master_id is None and d.possible_id == "P1" and "just under" in d.possible_reason
    far = dict(near, content=0.0, concept=0.0)
    d = decide([CandidateScore("P1", far)], policy)
    assert d.master_id is None and d.possible_id is None and "possible_duplicate" not in d.to_dict()


def test_hard_vetoes_are_never_offered():
    f = dict(PLACE, content=0.9, concept=0.9, gap_hours=24 * 40.0)
    d = decide([CandidateScore("P1", f)])
    assert d.master_id is None and d.possible_id is None


def test_a_joined_decision_is_not_also_a_possible_one():
    strong = {"content": 0.9, "concept": 0.9, "address": 0.9, "gap_hours": 2.0}
    near = dict(strong, content=0.45, concept=0.45)
    d = decide([CandidateScore("P1", strong), CandidateScore("P2", near)])
    assert d.master_id == "P1" and d.possible_id is None


def test_effect_on_life_is_not_noise():
    # 影响 ("affects") is in every other complaint; 响 alone must not make it a noise complaint.
    assert "noise" not in extract_concepts("每天接到十几个推销电话，严重影响生活")
    assert "noise" in extract_concepts("楼下酒吧太吵了")


def test_protocol_metrics_restricted_to_held_out_cases():
    gold = {"a": 1, "b": 1, "c": 2, "d": 2}
    groups = {"a": "a", "b": "a", "c": "a", "d": "d"}   # c wrongly joined a's group, d missed
    s = _score(groups, gold, frozenset({"c", "d"}))
    # Pairs touching c or d: predicted (a,c), (b,c); gold (c,d); none right.
    assert (s["pred_pairs"], s["gold_pairs"], s["true_pairs"]) == (2, 1, 0)
    assert s["b3_p"] == pytest.approx(1 / 3 + 1) and s["b3_r"] == pytest.approx(0.5 + 0.5)
    fig = _figures(_score(groups, gold))
    assert fig["pairwise"]["precision"] == pytest.approx(1 / 3, abs=1e-4)
    assert fig["bcubed"]["recall"] == pytest.approx(0.75)
