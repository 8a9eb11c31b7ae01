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


def fallback_unit_type(catalog) -> str:
    """The 兜底 unit type: whoever the region's own fallback row names (a city-level unit)."""
    for it in catalog:
        if it.code == FALLBACK_CODE:
            return it.unit_type
    raise ValueError(f"the catalog has no fallback row {FALLBACK_CODE}")
