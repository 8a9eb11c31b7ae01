"""A region model's calibration: fitted on leave-one-out scores of its own examples, shipped per region.

The shipped file (models/<region>-calibration.json) is keyed by a fingerprint of the training
content, not of file bytes, so a model built from the live pack finds the calibration shipped
for the same content; a model whose content has no shipped calibration fits one in memory.
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Optional, Sequence

from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.catalog import FALLBACK_CODE
from chalicelib.nlp.classifier import MODEL_VERSION, Calibrator, Classifier, Example, Lexicon, raw_confidence
from chalicelib.nlp.letters import is_letter

MODELS_DIR = Path(__file__).resolve().parent / "models"


def fingerprint(catalog: Sequence[CatalogItem], examples: Sequence[Example], lexicon: Optional[Lexicon] = None) -> str:
    """Of the training content (catalog, labelled examples, lexicon), in a canonical order."""
    h = hashlib.sha256(str(MODEL_VERSION).encode())
    for it in sorted(catalog, key=lambda c: c.code):
        h.update(json.dumps([it.code, it.level1, it.level2, it.item, it.unit_type, it.unit_level,
                             list(it.keywords)], ensure_ascii=False).encode())
    for ex in sorted(examples, key=lambda e: (e.code, e.text)):
        h.update(json.dumps([ex.code, ex.text], ensure_ascii=False).encode())
    lexicon = lexicon or {}
    for code in sorted(lexicon):
        h.update(json.dumps([code, [list(d) for d in lexicon[code]]], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def calibration_path(region_code: str) -> Path:
    return MODELS_DIR / f"{region_code}-calibration.json"


# Letters composed per example for the letters' calibration, and their fixed seed.
LETTERS_PER_EXAMPLE = 1
LETTER_SEED = 19
# Other leaves' examples that follow the leaf's two in a composed letter.
LETTER_OTHERS = 1


def composed_letters(clf: Classifier, seed: int = LETTER_SEED) -> list[tuple[str, str, list]]:
    """Long letters made of the model's own examples, each (text, leaf, removed vectors): an
    example of a leaf opens it, another example of the same leaf goes on about the matter, and an
    example of another leaf follows as a second matter. Both examples of the leaf are left out
    of its centroid when the letter is scored, as an unseen letter's would be."""
    rng = random.Random(seed)
    pool = [(c, t, v) for c, exs in sorted(clf._examples.items()) if c != FALLBACK_CODE for t, v in exs]
    by_code: dict[str, list] = {}
    for c, t, v in pool:
        by_code.setdefault(c, []).append((t, v))
    out = []
    for c, t, v in pool:
        same = [x for x in by_code[c] if x[1] is not v]
        for _ in range(LETTERS_PER_EXAMPLE if same else 0):
            t2, v2 = rng.choice(same)
            others = [x for x in rng.sample(pool, LETTER_OTHERS + 3) if x[0] != c][:LETTER_OTHERS]
            text = "。另外，".join([f"{t}。{t2}", *(x[1] for x in others)])
            if is_letter(text):
                out.append((text, c, [v, v2]))
    return out


def build_calibrator(clf: Classifier) -> Calibrator:
    """Fit isotonic calibration on leave-one-out scores of the model's own examples, and a second
    one for letters on letters composed from them (composed_letters)."""
    pairs = clf.loo_raw_confidences()
    letters = []
    for text, code, removed in composed_letters(clf):
        top = clf.loo_ranking(text, code, removed)
        letters.append((raw_confidence([s for _, s in top]), top[0][0] == code))
    lcal = Calibrator.fit([p[0] for p in letters], [p[1] for p in letters]) if letters else None
    base = Calibrator.fit([p[0] for p in pairs], [p[1] for p in pairs])
    return Calibrator(base.xs, base.ys, lcal)


def shipped_calibrator(region_code: str, fp: str) -> Optional[Calibrator]:
    """The calibration shipped for this region and training content, if any (read-only package data)."""
    try:
        data = json.loads(calibration_path(region_code).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Calibrator.from_json(data) if data.get("fingerprint") == fp else None


def save_calibration(cal: Calibrator, fp: str, out: Path) -> Path:
    """Write a calibration file (maintenance: regenerating what the package ships)."""
    payload = {"version": MODEL_VERSION, "fingerprint": fp, **cal.to_json()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload), encoding="utf-8")
    return out
