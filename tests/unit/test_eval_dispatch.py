"""The dispatch evaluation command: its figures, its cross-validation of cases the model saw."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import eval_dispatch  # noqa: E402

REGION = ROOT / "regions" / "shenzhen"


def _run_with_stderr(tmp_path, capsys, cases: list[dict], *extra: str) -> tuple[dict, str]:
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    assert eval_dispatch.main(["--cases", str(path), "--region", str(REGION), *extra]) == 0
    out, err = capsys.readouterr()
    return json.loads(out.strip().splitlines()[-1]), err


def _run(tmp_path, capsys, cases: list[dict]) -> dict:
    return _run_with_stderr(tmp_path, capsys, cases)[0]


def test_unseen_cases_are_scored_by_the_shipped_model(tmp_path, capsys):
    cases = [
        {"id": "T1", "text": "我家楼下路灯不亮已经一个星期了，晚上走路看不见", "address": "福田区莲花街道",
         "expected_code": "01.06.001", "expected_street": "440304007"},
        # Labelled wrong on purpose: the figures must be able to fall.
        {"id": "T2", "text": "公司拖欠我三个月工资不发，老板联系不上", "address": "宝安区西乡街道",
         "expected_code": "01.06.001", "expected_street": "440306002"},
    ]
    out = _run(tmp_path, capsys, cases)
    assert out["count"] == 2 and out["cv_scored"] == 0
    assert out["leaf_accuracy"] == 0.5 and out["unit_accuracy"] <= 0.5
    assert out["street_accuracy"] == 1.0
    for key in ("level1_accuracy", "auto_dispatch_rate", "precision_among_auto",
                "leaf_correct_and_auto", "unit_correct_and_auto"):
        assert 0.0 <= out[key] <= 1.0
    assert out["leaf_correct_and_auto"] <= out["leaf_accuracy"]
    assert out["threshold"] == json.loads((REGION / "policy.json").read_text())["dispatch"]["auto_threshold"]


def test_cases_the_model_was_trained_on_are_cross_validated(tmp_path, capsys):
    examples = [json.loads(line) for line in
                (REGION / "examples" / "dispatch-dev.jsonl").read_text(encoding="utf-8").splitlines()[:10]]
    # Same id, or the same text under another id: both are overlap.
    examples[1]["id"] = "OTHER-ID"
    out = _run(tmp_path, capsys, examples)
    assert out["cv_scored"] == 10 and out["count"] == 10


def test_held_out_model_never_sees_the_case(tmp_path, capsys, monkeypatch):
    seen: list[set[str]] = []
    real = eval_dispatch.Classifier

    def spy(catalog, examples, names, lexicon):
        seen.append({e.text for e in examples})
        assert len(lexicon) == 494      # every fold's model reads the region's lexicon
        return real(catalog, examples, names, lexicon=lexicon)

    monkeypatch.setattr(eval_dispatch, "Classifier", spy)
    examples = [json.loads(line) for line in
                (REGION / "examples" / "dispatch-dev.jsonl").read_text(encoding="utf-8").splitlines()[:5]]
    _run(tmp_path, capsys, examples)
    assert len(seen) == 5  # one model per fold, each case in exactly one fold
    for ex in examples:
        assert sum(ex["text"] not in s for s in seen) == 1


def test_a_leaf_served_by_the_catch_all_unit_counts_as_the_right_unit():
    from chalicelib.policy import build
    from chalicelib.policy.pack.parse import read_pack

    pack = read_pack(REGION)
    catalog = pack.catalog_by_code
    units = build.unit_directory(pack)
    gaz = build.gazetteer(pack)
    praise = catalog["18.06.001"]            # 表扬感谢 → 市民生诉求服务中心, like 兜底
    assert praise.unit_type == units.fallback.unit_type
    assert eval_dispatch.expected_unit_ok(units.fallback, praise, "440304007", gaz, units)
    street_office = units.get("街道办事处", "440304007")
    assert not eval_dispatch.expected_unit_ok(street_office, praise, "440304007", gaz, units)
    community = units.community_units("440304007")[0]
    assert eval_dispatch.expected_unit_ok(community, catalog[next(c for c, it in catalog.items()
                                                                 if it.unit_level == "community")],
                                          "440304007", gaz, units)


def test_out_of_catalogue_rule_and_its_suggestion(tmp_path, capsys):
    cases = [
        {"id": "F1", "text": "昨晚看到天上有一颗很亮的流星划过，想知道是什么天文现象", "address": "福田区莲花街道",
         "expected_code": "99.99.999", "expected_street": "440304007"},
        {"id": "F2", "text": "我家楼下路灯不亮已经一个星期了，晚上走路看不见", "address": "福田区莲花街道",
         "expected_code": "01.06.001", "expected_street": "440304007"},
    ]
    off, _ = _run_with_stderr(tmp_path, capsys, cases, "--fallback-below", "0")
    assert off["fallback_below"] == 0.0 and off["leaf_accuracy"] == 0.5
    shipped, err = _run_with_stderr(tmp_path, capsys, cases, "--suggest-fallback")
    policy = json.loads((REGION / "policy.json").read_text())["dispatch"]
    assert shipped["fallback_below"] == policy["fallback_below"] > 0
    assert shipped["leaf_accuracy"] == 1.0 and shipped["unit_accuracy"] == 1.0
    line = next(x for x in err.splitlines() if x.startswith("suggested fallback_below: "))
    tau = float(line.split()[2])
    assert 0.0 < tau and "leaf accuracy 1.0000" in line


def _outcome(fold: int, confidence: float, right: bool, score: float = 0.5, gold: str = "01.06.001"):
    code = gold if right else "02.01.001"
    return eval_dispatch.Outcome({"expected_code": gold}, code, confidence, "440304007", False, right, right,
                                 right, True, code, score, fold)


def test_nested_figures_choose_on_the_other_folds_only():
    # Fold 0's own cases would pass a 0.5 threshold, but folds 1 and 2 need 0.8 to be precise:
    # the nested figure applies 0.8 to fold 0 and so auto-dispatches none of it.
    outs = [_outcome(0, 0.6, True), _outcome(0, 0.6, True),
            _outcome(1, 0.9, True), _outcome(1, 0.5, False), _outcome(2, 0.8, True), _outcome(2, 0.5, False)]
    assert eval_dispatch.suggest_threshold(outs[2:], 0.97) == 0.8
    rate, precision = eval_dispatch.nested_auto(outs, 0.97)
    # fold 0 → 0.8 (none); fold 1 → chosen on folds 0+2: 0.6 (its 0.9 passes); fold 2 → 0.6 (its 0.8 passes)
    assert (rate, precision) == (2 / 6, 1.0)
    # Out of catalogue: low best scores that are truly 兜底 make a positive fallback_below pay off.
    fb = [_outcome(f, 0.1, False, score=0.05, gold="99.99.999") for f in range(3)]
    ok = [_outcome(f, 0.9, True, score=0.3) for f in range(3)]
    tau, acc = eval_dispatch.suggest_fallback(fb + ok)
    assert 0.05 < tau <= 0.3 and acc == 1.0
    assert eval_dispatch.nested_fallback_accuracy(fb + ok) == 1.0


def test_a_set_in_another_taxonomy_is_scored_through_the_label_map(tmp_path, capsys):
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"城乡建设": ["01"], "劳动和社会保障": ["05"]}, ensure_ascii=False), encoding="utf-8")
    cases = [{"id": "R1", "label1": "城乡建设", "text": "我家楼下路灯不亮已经一个星期了，晚上走路看不见"},
             {"id": "R2", "label1": "城乡建设", "text": "公司拖欠我三个月工资不发，老板联系不上"}]
    out, err = _run_with_stderr(tmp_path, capsys, cases, "--map", str(mapping))
    assert (out["level1_accuracy"], out["fallback_share"], out["count"]) == (0.5, 0.0, 2)
    assert {"auto_dispatch_rate", "precision_among_auto"} <= set(out)
    assert any(line.startswith("城乡建设") for line in err.splitlines())


def test_fallback_is_always_wrong_in_a_mapped_set():
    fallback = type("R", (), {"code": "99.99.999", "confidence": 0.9})()
    right = type("R", (), {"code": "05.01.001", "confidence": 0.6})()
    mapping = {"劳动和社会保障": ["05", "99"]}
    outs = [eval_dispatch.score_mapped({"label1": "劳动和社会保障"}, r, mapping, 0.57) for r in (fallback, right)]
    summary = eval_dispatch.summarise_mapped(outs, 0.57)
    assert (summary["level1_accuracy"], summary["auto_dispatch_rate"], summary["precision_among_auto"],
            summary["fallback_share"]) == (0.5, 1.0, 0.5, 0.5)
