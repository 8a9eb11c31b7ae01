"""Unit tests for long letters in dispatch: head, boilerplate, the 兜底 rule, the level-1 vote."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

from chalicelib.nlp.calibration import shipped_calibrator
from chalicelib.nlp.classifier import FALLBACK_CODE, SCOPE_SCORE, Classifier, level1_vote
from chalicelib.nlp.confidence import Calibrator, group_share
from chalicelib.nlp import hierarchy
from chalicelib.nlp.hierarchy import add_group_scores, group_norms
from chalicelib.nlp.letters import head, is_letter, strip_boilerplate
from chalicelib.policy import build
from chalicelib.policy.pack.parse import read_pack

REGION = Path(__file__).resolve().parents[2] / "regions" / "shenzhen"
# Written for these tests from the catalog's own wording (路灯, 垃圾清运), padded with generic
# letter prose so that it is a letter (over letters.LONG_CHARS).
LAMP_LETTER = ("关于小区门口路灯长期不亮的问题。尊敬的领导：您好！我们小区门口的路灯已经坏了一个多月，"
               "晚上一片漆黑，老人孩子出门很不安全。我们多次向有关方面说明情况，至今没有得到答复，"
               "大家都很着急，希望能够尽快安排人员维修，恢复照明。此致敬礼！")


@lru_cache(maxsize=1)
def shipped() -> Classifier:
    training = build.training_set(read_pack(REGION))
    model = training.classifier()
    model.calibrator = shipped_calibrator("shenzhen", training.fingerprint)
    return model


def test_head_is_the_title_and_first_sentences_without_salutations():
    text = "路灯不亮。尊敬的领导：您好！小区门口的路灯坏了一个多月，晚上一片漆黑，老人孩子出门很不安全，已经有人摔倒了。还有别的事。"
    assert head(text) == "路灯不亮。小区门口的路灯坏了一个多月，晚上一片漆黑，老人孩子出门很不安全，已经有人摔倒了。"


def test_boilerplate_is_masked():
    assert strip_boilerplate("尊敬的领导您好路灯坏了谢谢") == "||路灯坏了|"


def test_a_letter_is_over_sixty_characters():
    assert is_letter(LAMP_LETTER) and not is_letter("我家楼下路灯不亮已经一个星期了，晚上走路看不见")


def test_a_low_score_on_a_letter_is_not_fallback():
    model = shipped()
    res = model.classify(LAMP_LETTER, fallback_below=0.99)
    assert (res.code, res.out_of_catalog) == ("01.06.001", False)


def test_a_low_score_on_a_short_text_still_is_fallback():
    res = shipped().classify("路灯不亮", fallback_below=0.99)
    assert (res.code, res.out_of_catalog) == (FALLBACK_CODE, True)


def test_an_out_of_scope_term_counts_only_in_a_letters_head():
    model = Classifier(build.training_set(read_pack(REGION)).catalog).apply_policy({"out_of_scope": ["高铁"]})
    letter = LAMP_LETTER.replace("大家都很着急", "从高铁站回来的邻居都很着急")
    assert model.scores(letter)[0].get(FALLBACK_CODE, 0.0) < SCOPE_SCORE / 10
    assert model.scores("高铁" + LAMP_LETTER)[0][FALLBACK_CODE] == SCOPE_SCORE


def test_level1_vote_lets_the_category_with_most_mass_lead():
    top = [("01.01.001", 0.30), ("05.01.001", 0.29), ("05.02.001", 0.29), ("05.03.001", 0.29)]
    assert [c for c, _ in level1_vote(top)] == ["05.01.001", "01.01.001", "05.02.001", "05.03.001"]


def test_a_letters_confidence_goes_through_the_letters_map():
    cal = Calibrator([0.0, 1.0], [0.0, 1.0], Calibrator([0.0, 1.0], [0.0, 0.5]))
    assert (cal.confidence(0.8), cal.confidence(0.8, letter=True)) == (0.8, 0.4)
    assert Calibrator([0.0, 1.0], [0.0, 1.0]).confidence(0.8, letter=True) == 0.8


def test_group_share_is_the_winners_category_share_of_the_mass():
    assert group_share([("05.01.001", 0.30), ("05.02.001", 0.30), ("01.01.001", 0.30)], t=0.06) == 2 / 3
    assert group_share([("05.01.001", 0.30), ("05.02.001", 0.10)]) == 1.0
    assert group_share([]) == 0.0


def test_a_letter_scores_its_leaves_with_their_groups_and_a_short_text_does_not(monkeypatch):
    model = shipped()
    lengths = group_norms(model._sums, model._norms, skip=(FALLBACK_CODE,))
    assert "01" in lengths and "01.06" in lengths and FALLBACK_CODE[:2] not in lengths
    acc = {"01.06.001": 0.1, "01.06.002": 0.3, FALLBACK_CODE: 0.2}
    add_group_scores(acc, {"01": 2.0, "01.06": 1.0}, FALLBACK_CODE)
    # each leaf gains 0.5 * (0.4 / 2.0) for 01 and 0.5 * (0.4 / 1.0) for 01.06
    assert acc == pytest.approx({"01.06.001": 0.4, "01.06.002": 0.6, FALLBACK_CODE: 0.2})
    short = "小区门口路灯不亮"
    short_scores, boosted = model.scores(short)[0], model.scores(LAMP_LETTER)[0]
    assert boosted["01.06.001"] > max(s for c, s in boosted.items() if c[:2] != "01")
    monkeypatch.setattr(hierarchy, "GROUP_SHARES", ((2, 0.0), (5, 0.0)))
    assert model.scores(short)[0] == short_scores
    assert model.scores(LAMP_LETTER)[0]["01.06.001"] < boosted["01.06.001"]


def test_a_group_length_is_that_of_the_sum_of_its_leaves_unit_centroids():
    lengths = group_norms({"01.01.001": {"a": 3.0}, "01.01.002": {"b": 2.0}, "02.01.001": {"a": 1.0}},
                          {"01.01.001": 3.0, "01.01.002": 2.0, "02.01.001": 1.0})
    assert lengths == pytest.approx({"01": 2 ** 0.5, "01.01": 2 ** 0.5, "02": 1.0, "02.01": 1.0})


def test_a_correction_drops_the_group_lengths_and_the_next_letter_rebuilds_them():
    model = build.training_set(read_pack(REGION)).classifier()
    model.add_example("小区门口路灯不亮", "01.06.001")
    assert model._groups is None
    model.scores(LAMP_LETTER)
    assert model._groups == group_norms(model._sums, model._norms, skip=(FALLBACK_CODE,))
