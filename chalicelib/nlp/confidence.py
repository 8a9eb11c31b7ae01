"""Confidence of a dispatch decision: the raw softmax share and its isotonic calibration (PAV)."""
from __future__ import annotations

import bisect
import math
from typing import Optional, Sequence

# Confidence is the winner's share of a softmax over the top leaves' cosine scores. Cosines
# of competing leaves sit within a few hundredths of each other, hence the low temperature;
# 0.02-0.04 measured alike. Unlike the winner-minus-runner-up margin it also counts how many
# leaves are close, which is what makes a dispatcher's choice hard.
SOFTMAX_T = 0.03
SOFTMAX_TOP = 20
# A letter's raw confidence is the share of the softmax mass over the top leaves that falls in the
# winner's level-1 category, at this temperature: a letter's clauses spread over sibling leaves, so
# the leaf share says little, while the category share ranks letters by how likely their category
# is right (aggregate, half A of real-messages-dev: precision of the top 30 % by confidence 0.78
# with the leaf share, 0.86 with the category share at 0.03, 0.88 at 0.06).
LETTER_T = 0.06


class Calibrator:
    """Monotone map from a raw margin score to P(correct), fitted by isotonic regression (PAV)."""

    def __init__(self, xs: Sequence[float] = (), ys: Sequence[float] = (),
                 letters: Optional["Calibrator"] = None):
        self.xs = list(xs)
        self.ys = list(ys)
        # Letters (long texts) have their own raw score (group_share) and their own map, fitted on
        # letters composed from held-out leaves' examples (calibration.composed_letters).
        self.letters = letters

    def confidence(self, raw: float, letter: bool = False) -> float:
        """P(correct) of a raw score; a letter's (group_share) through the letters' map when there is one."""
        return self.letters(raw) if letter and self.letters is not None else self(raw)

    @classmethod
    def fit(cls, scores: Sequence[float], correct: Sequence[bool]) -> "Calibrator":
        pairs = sorted(zip(scores, correct))
        blocks: list[list[float]] = []  # [sum_y, count, sum_x]
        for x, y in pairs:
            blocks.append([float(y), 1.0, x])
            while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
                s, c, sx = blocks.pop()
                blocks[-1][0] += s
                blocks[-1][1] += c
                blocks[-1][2] += sx
        # Laplace smoothing keeps small blocks away from hard 0/1; the running max restores
        # monotonicity that smoothing can break between a big block and a small one.
        ys, top = [], 0.0
        for b in blocks:
            top = max(top, (b[0] + 0.5) / (b[1] + 1.0))
            ys.append(top)
        return cls([b[2] / b[1] for b in blocks], ys)

    def __call__(self, score: float) -> float:
        """Linear between the blocks' mean scores (flat beyond them): unlike a step function it
        keeps the order of raw scores within a block, so a threshold can fall anywhere."""
        if not self.xs:
            return max(0.0, min(1.0, score))
        i = bisect.bisect_left(self.xs, score)
        if i == 0:
            return self.ys[0]
        if i == len(self.xs):
            return self.ys[-1]
        x0, x1, y0, y1 = self.xs[i - 1], self.xs[i], self.ys[i - 1], self.ys[i]
        return y0 + (y1 - y0) * (score - x0) / (x1 - x0) if x1 > x0 else y1

    def to_json(self) -> dict:
        out: dict = {"xs": self.xs, "ys": self.ys}
        if self.letters is not None:
            out["letters"] = {"xs": self.letters.xs, "ys": self.letters.ys}
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Calibrator":
        lt = data.get("letters")
        return cls(data["xs"], data["ys"], cls(lt["xs"], lt["ys"]) if lt else None)


def raw_confidence(ranked: Sequence[float]) -> float:
    """Uncalibrated confidence: the best leaf's softmax share among the top-ranked scores."""
    if not ranked:
        return 0.0
    best = ranked[0]
    return 1.0 / sum(math.exp((s - best) / SOFTMAX_T) for s in ranked[:SOFTMAX_TOP])




def group_share(ranked: Sequence[tuple[str, float]], t: float = LETTER_T) -> float:
    """Uncalibrated confidence of a letter: the winner's level-1 category's share of the softmax
    mass over the top-ranked (code, score) pairs."""
    if not ranked:
        return 0.0
    best = max(s for _, s in ranked[:SOFTMAX_TOP])
    mass: dict[str, float] = {}
    for code, s in ranked[:SOFTMAX_TOP]:
        mass[code[:2]] = mass.get(code[:2], 0.0) + math.exp((s - best) / t)
    return mass[ranked[0][0][:2]] / sum(mass.values())
