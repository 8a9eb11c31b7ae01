"""Unit tests for de-duplication features, similarity and blocking (chalicelib.nlp.dedup_features)."""
from __future__ import annotations

from pathlib import Path

from chalicelib.domain.dedup import CandidateScore, decide
from chalicelib.nlp.concepts import extract_concepts, followup_cue, recurrence_cue
from chalicelib.nlp.dedup_features import address_similarity, blocking_keys, extract_features, pair_features
from chalicelib.nlp.places import extract_places
from chalicelib.policy import build
from chalicelib.policy.pack.parse import read_pack

# The demo region's places, as its runtime builds them from the pack.
LEX = build.place_lexicon(read_pack(Path(__file__).resolve().parents[2] / "regions" / "shenzhen"))


def features(appeal: dict):
    return extract_features(appeal, LEX)


def places(text: str, **kw) -> dict[str, str]:
    return extract_places(text, LEX, **kw)


def _appeal(i: str, at: str, text: str, address: str, channel: str = "app") -> dict:
    return {"id": i, "received_at": at, "text": text, "address": address, "channel": channel}


def test_places_collapse_ways_of_writing_one_metro_exit():
    full = places("宝安区西乡街道西乡大道坪洲地铁站C出口旁")
    short = places("坪洲地铁站C口")
    assert {"坪洲", "c口"} <= full.keys() & short.keys()
    # The street is derived from the gazetteer even when the address does not name it.
    assert short.get("西乡") == "street"
    assert "宝安" not in full  # districts are too coarse to be a key


def test_concepts_match_paraphrases_and_not_substrings_of_longer_words():
    assert "manhole" in extract_concepts("人行道上一个井盖破了一半")
    assert "wages" in extract_concepts("做了半年一分工钱没拿")
    # 下水道 is a sewer, not 下水 (going into the water to swim).
    assert "wild_swim" not in extract_concepts("一楼下水道返臭水")


def test_recurrence_cue_needs_a_fix_and_a_relapse():
    assert recurrence_cue("这段路灯上个月修好了，这几天又黑了一大片")
    assert recurrence_cue("排水管又堵了，四月份刚疏通过")
    # Complaining that nothing changed is a follow-up of the same matter, not a recurrence.
    assert not recurrence_cue("楼上又吵了，上次反映后一点没改")
    assert followup_cue("楼上又吵了，上次反映后一点没改")


def test_same_address_different_problem_stays_apart():
    lift = features(_appeal("A1", "2026-04-19T19:30:00+08:00", "12栋电梯又困人了，维保半天不来。", "福田区梅林一村12栋"))
    tiles = features(_appeal("A2", "2026-04-26T12:30:00+08:00", "12栋外墙瓷砖掉下来了，砸到楼下单车。", "梅林一村12栋"))
    f = pair_features(tiles, lift)
    assert f["address"] >= 0.8
    assert f["content"] < 0.3
    assert decide([CandidateScore("A1", f)]).master_id is None


def test_same_problem_at_a_different_place_on_one_road_stays_apart():
    a = features(_appeal("B1", "2026-04-03T08:40:00+08:00", "坪洲地铁站C出口旁边井盖破了", "宝安区西乡街道西乡大道坪洲地铁站C出口旁"))
    b = features(_appeal("B2", "2026-04-04T21:10:00+08:00", "路口的井盖松了，车一压就响", "西乡大道与宝源路交叉口"))
    f = pair_features(b, a)
    assert f["content"] >= 0.8  # the same kind of problem...
    assert address_similarity(a, b) < 0.3
    assert decide([CandidateScore("B1", f)]).master_id is None


def test_rereport_by_same_phone_joins_even_with_a_vague_address():
    first = features(_appeal("C1", "2026-04-06T10:00:00+08:00", "在工地干了半年，老板拖欠工资三万多。", "龙岗区坪地街道某工地", "hotline"))
    again = features(_appeal("C2", "2026-04-21T09:30:00+08:00", "再次反映欠薪的事，钱还没到位。", "龙岗区", "hotline"))
    f = pair_features(again, first, same_party=True)
    d = decide([CandidateScore("C1", f)])
    assert d.master_id == "C1"
    assert d.matched_fields["same_party"] == 1.0


def test_same_person_two_different_problems_stays_apart():
    wages = features(_appeal("D1", "2026-04-07T10:00:00+08:00", "电子厂拖欠三个月工资", "宝安区石岩街道官田社区某电子厂"))
    insurance = features(_appeal("D2", "2026-04-21T20:00:00+08:00", "公司只给我交了半年社保，剩下的能补吗", "宝安区石岩街道官田社区某电子厂"))
    f = pair_features(insurance, wages, same_party=True)
    assert decide([CandidateScore("D1", f)]).master_id is None


def test_blocking_keys_are_bounded_specific_and_carry_no_raw_pii():
    f = features(_appeal("E1", "2026-04-03T08:40:00+08:00", "井盖破了", "宝安区西乡街道西乡大道坪洲地铁站C出口旁"))
    keys = blocking_keys(f, ["hash-of-id", "hash-of-phone"])
    assert keys[:2] == ["p:hash-of-id", "p:hash-of-phone"]
    assert "a:坪洲" in keys and "a:西乡" in keys
    assert len(keys) <= 2 + 5
    assert len(set(keys)) == len(keys)


def test_features_round_trip_through_a_dict():
    f = features(_appeal("F1", "2026-04-03T08:40:00+08:00", "井盖破了", "坪洲地铁站C出口"))
    g = type(f).from_dict(f.to_dict())
    assert pair_features(f, g)["address"] == 1.0
