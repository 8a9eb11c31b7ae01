"""De-duplication under a protocol that would catch overfitting to the dev set.

    python bench/eval_dedup_protocol.py [cases.jsonl] [--folds 5] [--no-dispatch]

Replays the cases in memory (bench/dedup_offline.py, the same decisions as the real path) and reports:

* dev: the region's policy and the whole concept lexicon, scored on every case (the figure that
  was tuned while looking at dev).
* concepts_held_out: K folds over the concept lexicon's entries (CONCEPTS ids). Each fold scores the
  whole dev set with that fold's concepts removed, as if those problems had not been foreseen: the
  figure a set written apart from dev sees for problems the lexicon does not name. Mean and worst
  fold.
* clusters_held_out: K folds by gold cluster. Every tuned number (join threshold, content bar,
  borderline margin) is chosen on the other folds' cases only and then scored on the held-out
  fold's cases (pairs with at least one held-out case; B-cubed over held-out cases), pooled.
* both: the cluster folds again with each fold's concepts also held out.

Each figure has pairwise and B-cubed precision/recall/F1 and the borderline count (pairs put in
front of a dispatcher as "possible duplicate" instead of being joined). The last stdout line is one
JSON object.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import random
import sys
import time
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.clustering_metrics import bcubed_scores, pairwise_scores  # noqa: E402
from bench.dedup_offline import Featurizer, run  # noqa: E402
from chalicelib.domain.dedup import DedupPolicy  # noqa: E402
from chalicelib.nlp.concepts import CONCEPTS  # noqa: E402
from chalicelib.policy import build  # noqa: E402
from chalicelib.policy.pack.parse import read_pack  # noqa: E402

SEED = 20261206
# The tuned numbers and the values the cluster folds choose among.
GRID = {
    "dispatch_other_leaf": (0.3, 0.45, 0.7),
    "join_threshold": (0.45, 0.5, 0.55, 0.6),
    "min_content": (0.4, 0.5, 0.6),
}


def read_cases(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _folds(items: Iterable[str], k: int, seed: int) -> list[frozenset[str]]:
    items = sorted(items)
    random.Random(seed).shuffle(items)
    return [frozenset(items[i::k]) for i in range(k)]


def _score(groups: dict, gold: dict, only: frozenset[str] | None = None) -> dict:
    """Metrics over all cases, or restricted to `only` (B-cubed over those cases; pairs that
    involve at least one of them), as raw sums so that folds can be pooled."""
    if only is None:
        pw, b3 = pairwise_scores(groups, gold), bcubed_scores(groups, gold)
        n = len(gold)
        return {"pred_pairs": pw["predicted_pairs"], "gold_pairs": pw["gold_pairs"], "true_pairs": pw["true_pairs"],
                "b3_p": b3["precision"] * n, "b3_r": b3["recall"] * n, "n": n}
    by_pred: dict[str, set[str]] = {}
    by_gold: dict[str, set[str]] = {}
    for i in gold:
        by_pred.setdefault(groups[i], set()).add(i)
        by_gold.setdefault(gold[i], set()).add(i)
    pred_pairs = gold_pairs = true_pairs = 0
    b3_p = b3_r = 0.0
    for i in only:
        p, g = by_pred[groups[i]], by_gold[gold[i]]
        inter = len(p & g)
        b3_p += inter / len(p)
        b3_r += inter / len(g)
        # Each pair counted once: i with every other member, halved when both are held out.
        for j in p - {i}:
            w = 0.5 if j in only else 1.0
            pred_pairs += w
            true_pairs += w if gold[j] == gold[i] else 0
        gold_pairs += sum(0.5 if j in only else 1.0 for j in g - {i})
    return {"pred_pairs": pred_pairs, "gold_pairs": gold_pairs, "true_pairs": true_pairs,
            "b3_p": b3_p, "b3_r": b3_r, "n": len(only)}


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _figures(sums: dict, borderline: int | None = None) -> dict:
    pp = sums["true_pairs"] / sums["pred_pairs"] if sums["pred_pairs"] else 1.0
    pr = sums["true_pairs"] / sums["gold_pairs"] if sums["gold_pairs"] else 1.0
    bp = sums["b3_p"] / sums["n"] if sums["n"] else 1.0
    br = sums["b3_r"] / sums["n"] if sums["n"] else 1.0
    out = {"pairwise": {"precision": round(pp, 4), "recall": round(pr, 4), "f1": round(_f1(pp, pr), 4)},
           "bcubed": {"precision": round(bp, 4), "recall": round(br, 4), "f1": round(_f1(bp, br), 4)}}
    if borderline is not None:
        out["borderline"] = borderline
    return out


def _pool(parts: list[dict]) -> dict:
    return {k: sum(p[k] for p in parts) for k in parts[0]}


def _borderline(result: dict, only: frozenset[str] | None = None) -> int:
    return sum(1 for rid, d in result["decisions"].items()
               if getattr(d, "possible_id", None) and (only is None or rid in only))


def _replay(records: list[dict], policy: DedupPolicy, featurize) -> tuple[dict, dict]:
    result = run(records, policy, featurize=featurize)
    return result, result["groups"]


def _settings(base: DedupPolicy) -> list[DedupPolicy]:
    keys = list(GRID)
    return [dataclasses.replace(base, **dict(zip(keys, vals))) for vals in itertools.product(*(GRID[k] for k in keys))]


def _tuned_on_other_folds(records, gold, folds, featurizers, base: DedupPolicy) -> tuple[dict, list[dict]]:
    """Cluster folds: per fold, the setting with the best B-cubed F1 (B-cubed precision >= 0.97 first)
    on the other folds' cases, scored on the fold's own cases. `featurizers[i]` is fold i's."""
    parts, chosen, border = [], [], 0
    case_folds = [frozenset(r["id"] for r in records if r["cluster"] in f) for f in folds]
    for i, held in enumerate(case_folds):
        featurize = featurizers[i]
        others = frozenset(gold) - held
        best = None
        runs = []
        for pol in _settings(base):
            result, groups = _replay(records, pol, featurize)
            fig = _figures(_score(groups, gold, others))
            key = (fig["bcubed"]["precision"] >= 0.97, fig["bcubed"]["f1"], fig["pairwise"]["f1"],
                   # ties: the setting nearest the region's own
                   -sum(abs(getattr(pol, k) - getattr(base, k)) for k in GRID))
            runs.append((key, pol, result, groups))
        key, pol, result, groups = max(runs, key=lambda r: r[0])
        parts.append(_score(groups, gold, held))
        border += _borderline(result, held)
        chosen.append({k: getattr(pol, k) for k in GRID})
    return _figures(_pool(parts), border), chosen


def evaluate(records: list[dict], k: int = 5, dispatch: bool = True, policy: DedupPolicy | None = None) -> dict:
    t0 = time.perf_counter()
    pack_dir = ROOT / "regions" / "shenzhen"
    base = policy or build.dedup_policy(read_pack(pack_dir).policy.get("dedup"))
    fz = Featurizer(pack_dir, dispatch=dispatch)
    gold = {r["id"]: r["cluster"] for r in records}

    dev_result, dev_groups = _replay(records, base, fz.for_concepts())
    dev = _figures(_score(dev_groups, gold), _borderline(dev_result))

    concept_folds = _folds(CONCEPTS, k, SEED)
    held_parts, per_fold = [], []
    for fold in concept_folds:
        result, groups = _replay(records, base, fz.for_concepts(fold))
        s = _score(groups, gold)
        held_parts.append(s)
        per_fold.append(_figures(s, _borderline(result)))
    concepts_mean = {m: {q: round(sum(f[m][q] for f in per_fold) / k, 4) for q in ("precision", "recall", "f1")}
                     for m in ("pairwise", "bcubed")}
    concepts_mean["borderline"] = round(sum(f["borderline"] for f in per_fold) / k, 1)
    worst = min(per_fold, key=lambda f: f["bcubed"]["f1"])

    cluster_folds = _folds({r["cluster"] for r in records}, k, SEED + 1)
    clusters, chosen = _tuned_on_other_folds(records, gold, cluster_folds, [fz.for_concepts()] * k, base)
    both, chosen_both = _tuned_on_other_folds(records, gold, cluster_folds,
                                              [fz.for_concepts(f) for f in concept_folds], base)
    return {
        "records": len(records), "clusters": len(set(gold.values())), "folds": k, "dispatch_view": dispatch,
        "dev": dev,
        "concepts_held_out": {**concepts_mean, "worst_fold": worst},
        "clusters_held_out": {**clusters, "chosen": chosen},
        "both_held_out": {**both, "chosen": chosen_both},
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", nargs="?", default=str(ROOT / "tests" / "data" / "dedup-dev.jsonl"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--no-dispatch", action="store_true", help="features without the dispatch model's view")
    args = ap.parse_args(argv)
    out = evaluate(read_cases(args.path), args.folds, dispatch=not args.no_dispatch)
    for name in ("dev", "concepts_held_out", "clusters_held_out", "both_held_out"):
        f = out[name]
        print(f"{name:18s} pairwise P={f['pairwise']['precision']:.3f} R={f['pairwise']['recall']:.3f} "
              f"F1={f['pairwise']['f1']:.3f}  B3 P={f['bcubed']['precision']:.3f} R={f['bcubed']['recall']:.3f} "
              f"F1={f['bcubed']['f1']:.3f}  borderline={f.get('borderline')}", file=sys.stderr)
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
