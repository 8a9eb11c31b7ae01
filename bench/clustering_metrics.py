"""Pairwise and B-cubed precision/recall/F1 of a predicted grouping against gold clusters (pure)."""
from __future__ import annotations

from collections import defaultdict
from typing import Hashable, Mapping


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _members(assign: Mapping[str, Hashable]) -> dict[Hashable, set[str]]:
    groups: dict[Hashable, set[str]] = defaultdict(set)
    for item, label in assign.items():
        groups[label].add(item)
    return groups


def _pairs(assign: Mapping[str, Hashable]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for members in _members(assign).values():
        ordered = sorted(members)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                out.add((a, b))
    return out


def pairwise_scores(predicted: Mapping[str, Hashable], gold: Mapping[str, Hashable]) -> dict[str, float]:
    """Precision/recall/F1 over unordered same-group pairs; precision is 1.0 when nothing is paired.

    Both mappings send item id -> group label, over the same items.
    """
    _check_same_items(predicted, gold)
    p_pairs, g_pairs = _pairs(predicted), _pairs(gold)
    tp = len(p_pairs & g_pairs)
    precision = tp / len(p_pairs) if p_pairs else 1.0
    recall = tp / len(g_pairs) if g_pairs else 1.0
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
            "predicted_pairs": len(p_pairs), "gold_pairs": len(g_pairs), "true_pairs": tp}


def bcubed_scores(predicted: Mapping[str, Hashable], gold: Mapping[str, Hashable]) -> dict[str, float]:
    """B-cubed precision/recall/F1: per-item overlap of its predicted group and gold cluster, averaged."""
    _check_same_items(predicted, gold)
    if not gold:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    p_groups, g_groups = _members(predicted), _members(gold)
    sum_p = sum_r = 0.0
    for item in gold:
        p, g = p_groups[predicted[item]], g_groups[gold[item]]
        inter = len(p & g)
        sum_p += inter / len(p)
        sum_r += inter / len(g)
    precision, recall = sum_p / len(gold), sum_r / len(gold)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def groups_from_links(items: list[str], links: Mapping[str, str | None]) -> dict[str, str]:
    """Connected components of join links (item -> joined item): item id -> root (master) id."""
    parent = {i: i for i in items}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for child, target in links.items():
        if target is not None and target in parent and child in parent:
            ra, rb = find(child), find(target)
            if ra != rb:
                # Keep the earlier item (by the given order) as root so the root is the master.
                if items.index(ra) < items.index(rb):
                    parent[rb] = ra
                else:
                    parent[ra] = rb
    return {i: find(i) for i in items}


def _check_same_items(predicted: Mapping[str, Hashable], gold: Mapping[str, Hashable]) -> None:
    if set(predicted) != set(gold):
        missing = set(gold) ^ set(predicted)
        raise ValueError(f"predicted and gold cover different items ({len(missing)} differ)")
