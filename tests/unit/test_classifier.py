"""Unit tests for the dispatch classifier (text → catalog leaf)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

from chalicelib.nlp.calibration import fingerprint, shipped_calibrator
from chalicelib.nlp.classifier import FALLBACK_CODE, Calibrator, Classifier, Example
from chalicelib.policy import build
from chalicelib.policy.pack.parse import read_pack

REGION = Path(__file__).resolve().parents[2] / "regions" / "shenzhen"


@lru_cache(maxsize=1)
def training() -> build.TrainingSet:
    return build.training_set(read_pack(REGION))


def catalog():
    return training().catalog


def shipped_model() -> Classifier:
    """The region's model with the calibration it ships, before the region's policy is applied."""
    model = training().classifier()
    model.calibrator = shipped_calibrator("shenzhen", training().fingerprint)
    assert model.calibrator is not None
    return model


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return shipped_model()


def test_classifies_obvious_appeals(clf):
    assert clf.classify("小区门口的垃圾桶满了好几天都没人来清运，臭得不行").code == "01.01.002"
    assert clf.classify("公司拖欠我三个月工资不发，老板联系不上").code.startswith("05.")


def test_top3_ordered_with_reasons(clf):
    res = clf.classify("路灯坏了晚上一片漆黑")
    assert len(res.suggestions) == 3
    scores = [s.score for s in res.suggestions]
    confs = [s.confidence for s in res.suggestions]
    assert scores == sorted(scores, reverse=True)
    assert confs == sorted(confs, reverse=True)
    assert res.confidence == res.suggestions[0].confidence
    assert all(s.why for s in res.suggestions)
    assert "路灯" in res.suggestions[0].why


def test_confidence_higher_for_clear_text(clf):
    clear = clf.classify("我家楼下路灯不亮已经一个星期了，晚上走路看不见")
    vague = clf.classify("这个事情请尽快处理一下")
    assert 0.0 <= vague.confidence < clear.confidence <= 1.0


def test_add_example_changes_decision_immediately():
    model = Classifier(catalog(), [Example("路灯不亮", "01.06.001")])
    text = "某某广场的音乐喷泉周末不开放了"
    before = model.classify(text).code
    target = "15.03.003" if before != "15.03.003" else "15.02.002"
    model.add_example(text, target)
    assert model.classify(text).code == target
    # A paraphrase benefits too, not only the exact text.
    assert model.classify("某某广场音乐喷泉周末不开放").code == target
    with pytest.raises(KeyError):
        model.add_example(text, "00.00.000")


def test_fallback_code_is_predictable(clf):
    assert FALLBACK_CODE in clf.items
    res = clf.classify("航班延误六个小时航空公司不安排食宿")
    assert FALLBACK_CODE in [s.code for s in res.suggestions]


OUT_OF_CATALOG = "昨晚看到天上有一颗很亮的流星划过，想知道是什么天文现象"


def test_nothing_in_the_catalog_resembles_it_so_it_is_fallback_for_a_dispatcher():
    model = shipped_model()
    assert model.fallback_below == 0.0 and model.classify(OUT_OF_CATALOG).code != FALLBACK_CODE  # off by default
    best_leaf = model.classify(OUT_OF_CATALOG).suggestions[0]
    model.fallback_below = best_leaf.score + 0.01
    res = model.classify(OUT_OF_CATALOG)
    assert res.out_of_catalog and res.code == FALLBACK_CODE and res.confidence == 0.0
    # The dispatcher still sees the nearest leaves, after 兜底 and with its reason.
    codes = [s.code for s in res.suggestions]
    assert len(codes) == 3 and codes[:2] == [FALLBACK_CODE, best_leaf.code] and codes[2] != FALLBACK_CODE
    assert f"{best_leaf.score:.2f} < {model.fallback_below:.2f}" in res.suggestions[0].why
    # A text the catalog does cover is untouched by the same setting.
    clear = model.classify("我家楼下路灯不亮已经一个星期了，晚上走路看不见")
    assert clear.code == "01.06.001" and not clear.out_of_catalog and clear.confidence > 0.5


def test_a_matter_the_region_names_out_of_scope_goes_to_fallback_unless_a_leaf_clearly_wins():
    model = Classifier(catalog())
    railway = "坐高铁回老家，路上晚点了三个小时也没人解释"
    taxi = "深圳北站门口的出租车拒载，高铁到站的乘客排了很长的队打不到车，司机还绕路多收钱"
    assert model.classify(railway).code != FALLBACK_CODE
    model.apply_policy({"out_of_scope": ["高铁", " "], "fallback_below": 0.05})
    assert model.out_of_scope == ("高铁",) and model.fallback_below == 0.05
    res = model.classify(railway)
    assert res.code == FALLBACK_CODE and not res.out_of_catalog and "高铁(清单外)" in res.suggestions[0].why
    # Strong evidence for a leaf still wins; 兜底 is then among the suggestions.
    taxi_res = model.classify(taxi)
    assert taxi_res.code == "03.03.001" and FALLBACK_CODE in [s.code for s in taxi_res.suggestions]
    model.apply_policy({})
    assert model.classify(railway).code != FALLBACK_CODE and model.fallback_below == 0.0


def test_the_complaint_written_first_weighs_more(clf):
    garbage, lamp = "01.01.002", "01.06.001"
    garbage_first = "小区门口的垃圾堆了好几天没人清运，另外晚上路灯也一直不亮"
    lamp_first = "小区晚上路灯一直不亮，另外门口的垃圾堆了好几天没人清运"

    def lead(text: str) -> float:
        acc, _ = clf.scores(text)
        return acc[garbage] - acc[lamp]
    # Same words, other order: the leaf of what is said first gains.
    assert lead(garbage_first) > lead(lamp_first) + 0.03   # without the weighting: within 0.005
    assert clf.query_vector(garbage_first) != clf.vectorize(garbage_first)
    assert set(clf.query_vector(garbage_first)) == set(clf.vectorize(garbage_first))


def test_isotonic_calibrator_is_monotone():
    cal = Calibrator.fit([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [False, True, False, True, True, True])
    values = [cal(x) for x in (0.0, 0.15, 0.25, 0.45, 0.7)]
    assert values == sorted(values)
    assert 0.0 < values[0] and values[-1] < 1.0


def test_raw_confidence_counts_every_close_competitor():
    from chalicelib.nlp.classifier import raw_confidence
    clear = raw_confidence([0.60, 0.30, 0.29])
    one_rival = raw_confidence([0.60, 0.58, 0.30])
    many_rivals = raw_confidence([0.60, 0.58, 0.58, 0.57, 0.57])
    assert 0.0 < many_rivals < one_rival < clear <= 1.0
    assert clear > 0.99
    assert raw_confidence([0.4]) == 1.0
    assert raw_confidence([]) == 0.0


# --- the region's lexicon (lexicon.csv): everyday wording per leaf -------------------------------

DV = "11.05.003"   # 家庭暴力
DV_TEXT = "昨晚又被丈夫掐脖子，他喝了酒就这样，我现在躲在朋友家"


def test_lexicon_phrases_teach_the_model_everyday_wording():
    plain = Classifier(catalog())
    assert plain.classify(DV_TEXT).code != DV
    lexicon = {DV: (("被丈夫掐脖子", "老公喝酒打人"),), FALLBACK_CODE: (("其他",),), "42.42.042": (("不存在",),)}
    model = Classifier(catalog(), lexicon=lexicon)
    assert set(model.lexicon) == {DV}        # no phrases for 兜底 or for codes outside the catalog
    res = model.classify(DV_TEXT)
    assert res.code == DV and "被丈夫掐脖子" in res.suggestions[0].why


def test_shipped_lexicon_changes_the_model_fingerprint():
    cat, examples, lexicon = training().catalog, training().examples, training().lexicon
    assert len(lexicon) == 494 and all(len(docs) == 2 for docs in lexicon.values())   # phrases, situations
    # Calibration is stored per fingerprint: a changed lexicon must not reuse a stale one.
    edited = {**lexicon, DV: (lexicon[DV][0][1:], lexicon[DV][1])}
    assert len({fingerprint(cat, examples), fingerprint(cat, examples, lexicon),
                fingerprint(cat, examples, edited)}) == 3


def test_an_out_of_scope_term_inside_a_leafs_own_wording_counts_for_that_leaf():
    model = Classifier(catalog(), lexicon={"09.03.004": (("高铁噪音",),)})
    model.apply_policy({"out_of_scope": ["高铁"]})
    noise = "家旁边的高铁噪音太大了，每天晚上十一点还有车经过，吵得睡不着"
    assert model._scope_hits(noise) == [] and model.classify(noise).code == "09.03.004"
    assert model._scope_hits("坐高铁回老家晚点了三个小时") == ["高铁"]
    assert model.classify("坐高铁回老家晚点了三个小时").code == FALLBACK_CODE


def test_calibration_is_linear_between_blocks_so_thresholds_can_fall_anywhere():
    cal = Calibrator.fit([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [False, False, True, False, True, True])
    xs = [0.0, 0.1, 0.22, 0.28, 0.35, 0.45, 0.55, 0.6, 0.9]
    values = [cal(x) for x in xs]
    assert values == sorted(values)
    assert values[0] == values[1] and values[-1] == values[-2]          # flat beyond the ends
    assert values[2] < values[3] < values[4]                            # no plateau in between
