"""A region model's calibration: fitted on leave-one-out scores of its own examples, shipped per region.

The shipped file (models/<region>-calibration.json) is keyed by a fingerprint of the training
content, not of file bytes, so a model built from the live pack finds the calibration shipped
for the same content; a model whose content has no shipped calibration fits one in memory.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional, Sequence

from chalicelib.domain.catalog import CatalogItem
from chalicelib.nlp.classifier import MODEL_VERSION, Calibrator, Classifier, Example, Lexicon

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


def build_calibrator(clf: Classifier) -> Calibrator:
    """Fit isotonic calibration on leave-one-out scores of the model's own examples."""
    pairs = clf.loo_raw_confidences()
    return Calibrator.fit([p[0] for p in pairs], [p[1] for p in pairs])


def shipped_calibrator(region_code: str, fp: str) -> Optional[Calibrator]:
    """The calibration shipped for this region and training content, if any (read-only package data)."""
    try:
        data = json.loads(calibration_path(region_code).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Calibrator(data["xs"], data["ys"]) if data.get("fingerprint") == fp else None


def save_calibration(cal: Calibrator, fp: str, out: Path) -> Path:
    """Write a calibration file (maintenance: regenerating what the package ships)."""
    payload = {"version": MODEL_VERSION, "fingerprint": fp, **cal.to_json()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload), encoding="utf-8")
    return out
