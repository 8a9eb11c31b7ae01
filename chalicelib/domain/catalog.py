"""The duty catalog's leaf (职责清单事项): one record type for region packs and the dispatch model."""
from __future__ import annotations

from dataclasses import dataclass

FALLBACK_CODE = "99.99.999"  # 兜底: whatever no leaf covers


@dataclass(frozen=True)
class CatalogItem:
    """One leaf: its 3-level code and names, the responsible unit type and the level it exists at."""

    code: str
    level1: str
    level2: str
    item: str
    unit_type: str
    unit_level: str          # city | district | street | community
    keywords: tuple[str, ...] = ()
