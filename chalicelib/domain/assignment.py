"""The dispatch record (派单, F-DS) of one appeal: who handles it, in which loop, how it got there.

Part of the Appeal aggregate (``Appeal.assignment``), changed only through the appeal. Stored
(and shown to staff) flat in the appeal's body, under the names of its fields.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

# Unit levels whose work runs in its district's loop (市区大循环+各区小循环).
DISTRICT_LOOP_LEVELS = ("district", "street", "community")


def dispatch_loop(unit_level: str, district_code: str | None, city_code: str) -> str:
    """The loop a unit's work runs in: district-level work and below in the district's (小循环),
    the rest in the city's (大循环)."""
    if unit_level in DISTRICT_LOOP_LEVELS and district_code:
        return district_code
    return city_code


@dataclass
class Assignment:
    """The lead unit, the catalogue item and loop it was dispatched under, the last dispatch
    decision, returns, and the other units that may work on or follow the appeal."""

    unit_id: str | None = None
    catalog_code: str | None = None
    catalog_version: str | None = None
    loop: str | None = None              # district code for a district loop, the city code for the big loop
    dispatch_info: dict[str, Any] = field(default_factory=dict)  # last decision: how, confidence, suggestions
    return_count: int = 0
    first_handler_locked: bool = False   # 首办负责: after arbitration the named unit may not return it
    assisting_unit_ids: list[str] = field(default_factory=list)   # 部门联办: assisting units
    overseeing_unit_ids: list[str] = field(default_factory=list)  # copied on a 督办函: may follow it

    def is_lead(self, unit_id: str | None) -> bool:
        return bool(unit_id) and unit_id == self.unit_id

    @property
    def disputed(self) -> bool:
        """Returned twice and not yet decided by arbitration: only arbitration dispatches it."""
        return self.return_count >= 2 and not self.first_handler_locked

    def handling_units(self) -> tuple[str, ...]:
        """The units that see the appeal as theirs: lead, assisting, overseeing."""
        return tuple(u for u in [self.unit_id, *self.assisting_unit_ids, *self.overseeing_unit_ids] if u)

    def dispatched_at(self) -> datetime | None:
        at = self.dispatch_info.get("at")
        return datetime.fromisoformat(at) if at else None

    def model_guess(self) -> str | None:
        """The classifier's first suggestion when it last decided (the manual queue shows it)."""
        return (self.dispatch_info.get("suggestions") or [{}])[0].get("code")

    def assign(self, unit_id: str, catalog_code: str | None, catalog_version: str | None, loop: str, how: str,
               at: datetime, data: Mapping[str, Any]) -> None:
        self.unit_id, self.catalog_code, self.catalog_version, self.loop = unit_id, catalog_code, catalog_version, loop
        self.dispatch_info = {"how": how, "at": at.isoformat(), **data}
        self.assisting_unit_ids = [u for u in self.assisting_unit_ids if u != unit_id]

    def unassign(self, loop: str, reason: str, data: Mapping[str, Any]) -> None:
        """Into the manual queue of ``loop``: no lead unit until a dispatcher names one."""
        self.loop = loop
        self.unit_id = None
        self.dispatch_info = {"how": "manual_queue", "reason": reason, **data}

    def oversee(self, unit_ids: Iterable[str]) -> None:
        self.overseeing_unit_ids = sorted(set(self.overseeing_unit_ids) | set(unit_ids))

    # --- the stored form: flat in the appeal's body --------------------------------------------

    def to_fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_fields(cls, body: Mapping[str, Any]) -> "Assignment":
        return cls(**{f.name: body[f.name] for f in dataclasses.fields(cls) if f.name in body})


FIELDS = tuple(f.name for f in dataclasses.fields(Assignment))
