"""Responsible units (责任单位) of a region and the choice of one for a catalog item at a location."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

from chalicelib.domain.catalog import FALLBACK_CODE


@dataclass(frozen=True)
class Unit:
    """One row of units.csv."""

    unit_id: str
    name: str
    unit_type: str
    level: str  # city, district, street or community
    jurisdiction_code: str


@dataclass(frozen=True)
class UnitChoice:
    """The chosen unit, and whether it is the 兜底 fallback and why."""

    unit: Unit
    fallback: bool = False
    reason: str = ""


class ItemLike(Protocol):
    unit_type: str
    unit_level: str


class LocationLike(Protocol):
    district_code: Optional[str]
    street_code: Optional[str]
    community_code: Optional[str]


class UnitDirectory:
    """Units indexed by (unit_type, jurisdiction_code), with the region's 兜底 unit.

    The 兜底 unit type is not a constant: it is whatever the region's catalog fallback row
    names (see domain.catalog.fallback_unit_type), so a city whose fallback unit has another
    name loads with no code change.
    """

    def __init__(self, units: Sequence[Unit], fallback_unit_type: str):
        self.units = list(units)
        self._by_key = {(u.unit_type, u.jurisdiction_code): u for u in self.units}
        self._by_id = {u.unit_id: u for u in self.units}
        self._city = {u.unit_type: u for u in self.units if u.level == "city"}
        self.district_codes = {u.jurisdiction_code for u in self.units if u.level == "district"}
        self.fallback = self._city.get(fallback_unit_type)
        if self.fallback is None:
            raise ValueError(f"units must include the city-level {fallback_unit_type} (兜底 unit)")

    def get(self, unit_type: str, jurisdiction_code: Optional[str]) -> Optional[Unit]:
        return self._by_key.get((unit_type, jurisdiction_code or ""))

    def by_id(self, unit_id: Optional[str]) -> Optional[Unit]:
        return self._by_id.get(unit_id or "")

    def city(self, unit_type: str) -> Optional[Unit]:
        return self._city.get(unit_type)

    def community_units(self, street_code: str) -> list[Unit]:
        """Community-level units (社区工作站) whose community lies in the street (community code =
        street code + 3 digits)."""
        return sorted((u for u in self.units if u.level == "community"
                       and u.jurisdiction_code.startswith(street_code)
                       and len(u.jurisdiction_code) > len(street_code)), key=lambda u: u.unit_id)


def choose_unit(item: ItemLike, location: Optional[LocationLike], units: UnitDirectory) -> UnitChoice:
    """Apply the Responsible-unit rules; fall back to the 兜底 unit, never to nothing."""
    level = item.unit_level
    district = getattr(location, "district_code", None)
    street = getattr(location, "street_code", None)
    community = getattr(location, "community_code", None)
    unit: Optional[Unit] = None
    if getattr(item, "code", None) == FALLBACK_CODE:
        return UnitChoice(units.fallback, True, "catalog item is 兜底")
    if level == "city":
        unit = units.city(item.unit_type)
    elif level == "district":
        # The street code carries its district, which beats a conflicting district guess.
        if street and street[:6] in units.district_codes:
            district = street[:6]
        unit = units.get(item.unit_type, district)
    elif level == "street":
        unit = units.get(item.unit_type, street)
    elif level == "community":
        unit = units.get(item.unit_type, community)
        if unit is None and street:
            cands = [u for u in units.community_units(street) if u.unit_type == item.unit_type]
            unit = cands[0] if cands else None
    if unit is None:
        where = community or street or district or "unknown location"
        return UnitChoice(units.fallback, True, f"no {item.unit_type} ({level}) for {where}")
    return UnitChoice(unit)


def pick_unit(item: ItemLike, resolution: Optional[LocationLike], units: UnitDirectory) -> Unit:
    """The responsible unit for an item at a location (the 兜底 unit when nothing fits)."""
    return choose_unit(item, resolution, units).unit
