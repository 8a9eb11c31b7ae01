"""Unit tests for long letters in dispatch: head, boilerplate, the 兜底 rule, the level-1 vote."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from chalicelib.nlp.calibration import shipped_calibrator
from chalicelib.nlp.classifier import FALLBACK_CODE, SCOPE_SCORE, Classifier, level1_vote
from chalicelib.nlp.confidence import Calibrator
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


def test_a_letters_confidence_is_capped_by_the_letters_map():
    cal = Calibrator([0.0, 1.0], [0.0, 1.0], Calibrator([0.0, 1.0], [0.0, 0.5]))
    assert (cal.confidence(0.8), cal.confidence(0.8, letter=True)) == (0.8, 0.4)


def test_a_self_introduction_is_not_the_head_of_a_letter():
    text = "我叫张三，电话13800138000，身份证号440305199001011234。小区门口的路灯坏了一个多月，晚上一片漆黑，老人孩子出门很不安全。"
    assert head(text) == "小区门口的路灯坏了一个多月，晚上一片漆黑，老人孩子出门很不安全。"


def test_a_letter_opening_with_its_writers_details_goes_where_its_matter_does():
    intro = "我叫张三，电话13800138000，身份证号440305199001011234。"
    matter = "小区门口的路灯坏了一个多月，晚上一片漆黑，老人孩子出门很不安全。"
    model = shipped()
    assert model.classify(intro + matter).code == model.classify(matter).code == "01.06.001"
