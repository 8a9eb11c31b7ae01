"""Normalisation of Chinese free text shared by de-duplication, dispatch and the gazetteer."""
from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
# Punctuation and symbols carry no meaning for matching; digits and letters do (楼栋号, 出口 B).
_PUNCT = re.compile(r"[^\w\u4e00-\u9fff]+", re.UNICODE)


def split_list(field: str | None) -> tuple[str, ...]:
    """A `|`-separated CSV field (catalog keywords, lexicon phrases) as its non-empty items."""
    return tuple(w for w in (x.strip() for x in (field or "").split("|")) if w)


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC), lower case, punctuation and spaces removed."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _PUNCT.sub("", text)
    return _SPACE.sub("", text)


def char_ngrams(text: str, n: int = 2) -> list[str]:
    """Overlapping character n-grams of normalised text (robust to segmentation errors)."""
    t = normalize(text)
    if len(t) < n:
        return [t] if t else []
    return [t[i : i + n] for i in range(len(t) - n + 1)]
