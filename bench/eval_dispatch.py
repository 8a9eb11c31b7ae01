"""Evaluate automatic dispatch (classify → resolve location → pick unit) on a labelled jsonl file.

Usage: python bench/eval_dispatch.py --cases FILE.jsonl [--region regions/shenzhen]
                                     [--threshold T] [--fallback-below F]
                                     [--suggest-precision 0.97] [--suggest-fallback]

The model is the one the region ships: catalog + every jsonl under <region>/examples/.
Cases that overlap those examples (same id or same normalised text) are scored by 5-fold
cross-validation with models that never saw them.

Accuracies are of the model's decision for every case (its first choice, the unit that choice
resolves to); whether that decision is confident enough to be dispatched without a dispatcher
is the separate auto-dispatch rate, with the precision among auto-dispatched (leaf and unit
both right). The `*_correct_and_auto` figures count a case only when it was auto-dispatched
and right, i.e. what reaches the right unit with no human touch. policy.json dispatch.fallback_below
sends an appeal whose best leaf scores under it to 兜底 (out of catalogue); --suggest-fallback
prints the value that maximises leaf accuracy on the cases, and the accuracy it gives when each
fold's value is chosen on the other folds only (what to expect on cases nobody tuned it to);
--suggest-precision likewise prints the auto-dispatch figures of per-fold thresholds.
Per-level-1 breakdown goes to stderr; the last stdout line is one JSON object.

Sets labelled in another taxonomy: --map MAP.json (`make eval-dispatch CASES=… MAP=…`) reads
cases `{"id","label1","text"}` and a map from each foreign label to the catalog level-1 codes
(`LL`) that count as right for it. It prints the level-1 (mapped) accuracy of the first-choice
leaf (兜底 is always wrong there), the auto-dispatch rate (confidence at or above the threshold:
such sets carry no address, so the place is not required), the mapped precision among
auto-dispatched, the share sent to 兜底, and a per-label breakdown on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib.domain.units import UnitDirectory, choose_unit  # noqa: E402
from chalicelib.nlp.calibration import build_calibrator  # noqa: E402
from chalicelib.nlp.classifier import FALLBACK_CODE, Classifier, Example  # noqa: E402
from chalicelib.nlp.gazetteer import Gazetteer, Resolution  # noqa: E402
from chalicelib.nlp.text import normalize  # noqa: E402
from chalicelib.policy import build  # noqa: E402
from chalicelib.policy.pack.parse import read_pack  # noqa: E402

DEFAULT_THRESHOLD = 0.5
FOLDS = 5


@dataclass
class Outcome:
    case: dict
    code: str
    confidence: float
    street: str | None
    auto: bool
    leaf_ok: bool
    level1_ok: bool
    unit_ok: bool
    street_ok: bool
    best_leaf: str = ""      # the best-scoring leaf, before the out-of-catalogue rule
    best_score: float = 0.0
    fold: int = -1


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def expected_unit_ok(unit, item, street: str, gaz: Gazetteer, units: UnitDirectory) -> bool:
    """README rule: unit type and jurisdiction must match; any 社区工作站 in the street counts."""
    if item.unit_level == "community":
        return unit.unit_type == item.unit_type and unit.level == "community" \
            and unit.jurisdiction_code.startswith(street) and unit.jurisdiction_code != street
    s = gaz.streets.get(street)
    loc = Resolution(district_code=s.district_code if s else street[:6], street_code=street)
    return unit.unit_id == choose_unit(item, loc, units).unit.unit_id


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", required=True, type=Path)
    ap.add_argument("--region", default=ROOT / "regions" / "shenzhen", type=Path)
    ap.add_argument("--threshold", type=float, default=None, help="override policy.json")
    ap.add_argument("--fallback-below", type=float, default=None, help="override policy.json")
    ap.add_argument("--map", type=Path, default=None,
                    help="label map (foreign label -> catalog level-1 codes): score cases {id,label1,text}")
    ap.add_argument("--suggest-fallback", action="store_true",
                    help="also print the fallback_below that maximises leaf accuracy (and its nested-CV figure)")
    ap.add_argument("--suggest-precision", type=float, default=None,
                    help="also print the lowest threshold reaching this precision among auto")
    args = ap.parse_args(argv)
    region = args.region if args.region.is_absolute() else (Path.cwd() / args.region)
    pack = read_pack(region)            # the region folder as the pack an admin would load
    policy = build.dispatch_settings(pack)
    threshold = args.threshold if args.threshold is not None else float(policy.get("auto_threshold", DEFAULT_THRESHOLD))
    fallback_below = args.fallback_below if args.fallback_below is not None else float(policy.get("fallback_below", 0.0))

    training = build.training_set(pack)
    items = {it.code: it for it in training.catalog}
    gaz = build.gazetteer(pack)
    units = build.unit_directory(pack)
    train: list[tuple[str, str, Example]] = [  # (id, normalised text, example)
        (e.id, normalize(e.text), Example(e.text, e.code)) for e in pack.examples if e.code in items]
    cases = read_jsonl(args.cases)
    if args.map is not None:
        clf = Classifier(training.catalog, [e for _, _, e in train], training.place_names, lexicon=training.lexicon)
        clf.calibrator = build_calibrator(clf)
        clf.apply_policy({**policy, "fallback_below": fallback_below})
        mapping = json.loads(args.map.read_text(encoding="utf-8"))
        mapped = [score_mapped(case, clf.classify(case["text"]), mapping, threshold) for case in cases]
        summary = summarise_mapped(mapped, threshold)
        print_mapped_breakdown(mapped)
        print(json.dumps(summary, ensure_ascii=False))
        return 0
    ids = {t[0] for t in train if t[0]}
    texts = {t[1] for t in train}
    overlap = [i for i, c in enumerate(cases) if c.get("id") in ids or normalize(c["text"]) in texts]
    fold_of = {ci: k % FOLDS for k, ci in enumerate(overlap)}

    def model_without(held: list[dict]) -> Classifier:
        hid = {c.get("id") for c in held if c.get("id")}
        htext = {normalize(c["text"]) for c in held}
        exs = [e for i, t, e in train if not (i and i in hid) and t not in htext]
        clf = Classifier(training.catalog, exs, training.place_names, lexicon=training.lexicon)
        clf.calibrator = build_calibrator(clf)
        clf.apply_policy({**policy, "fallback_below": fallback_below})
        return clf

    models: dict[int, Classifier] = {}
    if len(overlap) < len(cases):
        models[-1] = model_without([])
    for f in range(FOLDS):
        held = [cases[ci] for ci, ff in fold_of.items() if ff == f]
        if held:
            models[f] = model_without(held)

    outcomes = []
    for i, case in enumerate(cases):
        clf = models[fold_of.get(i, -1)]
        res = clf.classify(case["text"])
        best = (clf.classify(case["text"], fallback_below=0.0) if res.out_of_catalog else res).suggestions[0]
        loc = gaz.resolve(case.get("address", ""), case["text"], case.get("lat"), case.get("lng"),
                          case.get("grid_code"))
        item = items[res.code]
        unit = choose_unit(item, loc, units).unit
        gold_code, gold_street = case["expected_code"], case["expected_street"]
        gold_item = items.get(gold_code)
        # Leaves such as 表扬感谢 belong to the same city unit as 兜底: reaching it is right for them.
        unit_ok = bool(gold_item) and expected_unit_ok(unit, gold_item, gold_street, gaz, units)
        outcomes.append(Outcome(case, res.code, res.confidence, loc.street_code,
                                res.confidence >= threshold and loc.resolved,
                                res.code == gold_code, res.code[:2] == gold_code[:2], unit_ok,
                                loc.street_code == gold_street, best.code, best.score, fold_of.get(i, -1)))

    summary = summarise(outcomes, threshold)
    summary["fallback_below"] = fallback_below
    summary["cv_scored"] = len(overlap)
    print_breakdown(outcomes, items)
    if args.suggest_precision is not None:
        print(f"suggested threshold for precision>={args.suggest_precision}: "
              f"{suggest_threshold(outcomes, args.suggest_precision)}", file=sys.stderr)
        rate, prec = nested_auto(outcomes, args.suggest_precision)
        print(f"with each fold's threshold chosen on the other folds: auto-dispatch rate {rate:.4f}, "
              f"precision among auto-dispatched {prec:.4f}", file=sys.stderr)
    if args.suggest_fallback:
        tau, acc = suggest_fallback(outcomes)
        print(f"suggested fallback_below: {tau} (leaf accuracy {acc:.4f} on these cases; "
              f"{nested_fallback_accuracy(outcomes):.4f} when each fold's value is chosen on the other folds)",
              file=sys.stderr)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def summarise(outcomes: list[Outcome], threshold: float) -> dict:
    n = len(outcomes) or 1
    auto = [o for o in outcomes if o.auto]
    def rate(key: str, only_auto: bool = False) -> float:
        return round(sum(getattr(o, key) and (o.auto or not only_auto) for o in outcomes) / n, 4)
    return {
        "leaf_accuracy": rate("leaf_ok"),
        "level1_accuracy": rate("level1_ok"),
        "unit_accuracy": rate("unit_ok"),
        "street_accuracy": rate("street_ok"),
        "auto_dispatch_rate": round(len(auto) / n, 4),
        "precision_among_auto": round(sum(o.leaf_ok and o.unit_ok for o in auto) / len(auto), 4) if auto else 1.0,
        "unit_precision_among_auto": round(sum(o.unit_ok for o in auto) / len(auto), 4) if auto else 1.0,
        "leaf_correct_and_auto": rate("leaf_ok", True),
        "unit_correct_and_auto": rate("unit_ok", True),
        "count": len(outcomes),
        "threshold": threshold,
    }


@dataclass
class MappedOutcome:
    label: str
    code: str
    confidence: float
    auto: bool
    level1_ok: bool


def score_mapped(case: dict, res, mapping: dict, threshold: float) -> MappedOutcome:
    """One case of a foreign-taxonomy set: right when the first-choice leaf's level-1 code is one
    its label maps to (兜底 never is: every such case has a label)."""
    allowed = set(mapping.get(case["label1"], ()))
    ok = res.code != FALLBACK_CODE and res.code[:2] in allowed
    return MappedOutcome(case["label1"], res.code, res.confidence, res.confidence >= threshold, ok)


def summarise_mapped(outcomes: list[MappedOutcome], threshold: float) -> dict:
    n = len(outcomes) or 1
    auto = [o for o in outcomes if o.auto]
    return {
        "level1_accuracy": round(sum(o.level1_ok for o in outcomes) / n, 4),
        "auto_dispatch_rate": round(len(auto) / n, 4),
        "precision_among_auto": round(sum(o.level1_ok for o in auto) / len(auto), 4) if auto else 1.0,
        "fallback_share": round(sum(o.code == FALLBACK_CODE for o in outcomes) / n, 4),
        "level1_correct_and_auto": round(sum(o.level1_ok for o in auto) / n, 4),
        "count": len(outcomes),
        "threshold": threshold,
    }


def print_mapped_breakdown(outcomes: list[MappedOutcome]) -> None:
    groups: dict[str, list[MappedOutcome]] = defaultdict(list)
    for o in outcomes:
        groups[o.label].append(o)
    print(f'{"label":<16}{"n":>5}{"l1":>7}{"auto":>7}{"prec":>7}{"兜底":>6}', file=sys.stderr)
    for key in sorted(groups):
        g = groups[key]
        n = len(g)
        auto = [o for o in g if o.auto]
        prec = sum(o.level1_ok for o in auto) / len(auto) if auto else 1.0
        print(f"{key:<16}{n:>5}{sum(o.level1_ok for o in g) / n:>7.2f}{len(auto) / n:>7.2f}{prec:>7.2f}"
              f"{sum(o.code == FALLBACK_CODE for o in g) / n:>7.2f}", file=sys.stderr)


def suggest_threshold(outcomes: list[Outcome], precision: float) -> float | None:
    """Lowest confidence threshold whose auto-dispatched set reaches the wanted precision."""
    cands = sorted({o.confidence for o in outcomes}, reverse=True)
    best = None
    for t in cands:
        auto = [o for o in outcomes if o.confidence >= t and o.street is not None]
        if auto and sum(o.leaf_ok and o.unit_ok for o in auto) / len(auto) >= precision:
            best = t
    return best


def _leaf_hits(outcomes: list[Outcome], tau: float) -> int:
    return sum((o.case["expected_code"] == FALLBACK_CODE) if o.best_score < tau else (o.best_leaf == o.case["expected_code"])
               for o in outcomes)


def suggest_fallback(outcomes: list[Outcome]) -> tuple[float, float]:
    """The fallback_below maximising leaf accuracy (the lowest such value), and that accuracy."""
    cands = [0.0] + sorted({round(o.best_score + 1e-4, 4) for o in outcomes})
    best = max(cands, key=lambda t: (_leaf_hits(outcomes, t), -t))
    return best, _leaf_hits(outcomes, best) / (len(outcomes) or 1)


def nested_auto(outcomes: list[Outcome], precision: float) -> tuple[float, float]:
    """Auto-dispatch rate and its precision when each fold's threshold is chosen on the other folds."""
    auto: list[Outcome] = []
    for f in {o.fold for o in outcomes}:
        others = [o for o in outcomes if o.fold != f] or outcomes
        t = suggest_threshold(others, precision)
        auto += [o for o in outcomes if o.fold == f and t is not None and o.confidence >= t and o.street is not None]
    right = sum(o.leaf_ok and o.unit_ok for o in auto)
    return len(auto) / (len(outcomes) or 1), (right / len(auto) if auto else 1.0)


def nested_fallback_accuracy(outcomes: list[Outcome]) -> float:
    """Leaf accuracy when each fold's fallback_below is chosen on the other folds' cases only."""
    hits = 0
    for f in {o.fold for o in outcomes}:
        inside = [o for o in outcomes if o.fold == f]
        others = [o for o in outcomes if o.fold != f] or inside
        hits += _leaf_hits(inside, suggest_fallback(others)[0])
    return hits / (len(outcomes) or 1)


def print_breakdown(outcomes: list[Outcome], items: dict) -> None:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        gold = items.get(o.case["expected_code"])
        name = "兜底" if o.case["expected_code"] == FALLBACK_CODE else (gold.level1 if gold else "?")
        groups[f'{o.case["expected_code"][:2]} {name}'].append(o)
    print(f'{"level1":<18}{"n":>4}{"leaf":>7}{"l1":>7}{"unit":>7}{"street":>8}{"auto":>7}{"auto ok":>9}',
          file=sys.stderr)
    for key in sorted(groups):
        g = groups[key]
        n = len(g)
        def r(attr: str) -> str:
            return f"{sum(getattr(o, attr) for o in g) / n:.2f}"
        auto_ok = sum(o.auto and o.leaf_ok and o.unit_ok for o in g) / n
        print(f"{key:<18}{n:>4}{r('leaf_ok'):>7}{r('level1_ok'):>7}{r('unit_ok'):>7}{r('street_ok'):>8}"
              f"{sum(o.auto for o in g) / n:>7.2f}{auto_ok:>9.2f}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
