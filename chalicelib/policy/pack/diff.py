"""What loading one region pack over another changes, per section (catalog, units, gazetteer, channels, policy, ...)."""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional

from chalicelib.policy.pack.model import LabelledExample, RegionPack, canonical_calendar, example_order


@dataclass(frozen=True)
class SectionDiff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[tuple[str, tuple[str, ...]], ...] = ()   # (key, changed fields)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed)}


@dataclass(frozen=True)
class PackDiff:
    """What loading `new` over `old` changes, per section."""

    sections: Mapping[str, SectionDiff]
    old_hash: Optional[str] = None
    new_hash: Optional[str] = None

    @property
    def empty(self) -> bool:
        return all(s.empty for s in self.sections.values())

    def summary(self) -> dict[str, dict[str, int]]:
        return {name: s.counts() for name, s in self.sections.items() if not s.empty}

    def to_dict(self, limit: int = 50) -> dict[str, Any]:
        return {"old_hash": self.old_hash, "new_hash": self.new_hash, "summary": self.summary(),
                "sections": {name: {"added": list(s.added[:limit]), "removed": list(s.removed[:limit]),
                                    "changed": {k: list(v) for k, v in s.changed[:limit]}}
                             for name, s in self.sections.items() if not s.empty}}

    def lines(self, limit: int = 20) -> list[str]:
        """Human-readable lines: `+ catalog 01.01.009`, `~ channels app: callback_url`, ..."""
        out = []
        for name, s in self.sections.items():
            for k in s.added[:limit]:
                out.append(f"+ {name} {k}")
            for k in s.removed[:limit]:
                out.append(f"- {name} {k}")
            for k, fields in s.changed[:limit]:
                out.append(f"~ {name} {k}: {', '.join(fields)}")
            hidden = sum(max(0, len(x) - limit) for x in (s.added, s.removed, s.changed))
            if hidden:
                out.append(f"  … {hidden} more in {name}")
        return out


def _keyed(items: Iterable[Any], key: Callable[[Any], str]) -> dict[str, dict]:
    return {key(x): dataclasses.asdict(x) for x in items}


def _section(old: Mapping[str, dict], new: Mapping[str, dict]) -> SectionDiff:
    added = tuple(sorted(set(new) - set(old)))
    removed = tuple(sorted(set(old) - set(new)))
    changed = tuple((k, tuple(f for f in new[k] if new[k][f] != old[k].get(f)))
                    for k in sorted(set(old) & set(new)) if old[k] != new[k])
    return SectionDiff(added, removed, changed)


def _flatten(doc: Any, prefix: str = "") -> dict[str, dict]:
    if isinstance(doc, Mapping) and doc:
        out: dict[str, dict] = {}
        for k, v in doc.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: {"value": json.dumps(doc, ensure_ascii=False, sort_keys=True)}} if prefix else {}


def _example_section(old: Iterable[LabelledExample], new: Iterable[LabelledExample]) -> SectionDiff:
    """Examples added and removed (as a multiset; a changed line is one of each), named file:id."""
    a = Counter(example_order(e) for e in old)
    b = Counter(example_order(e) for e in new)

    def names(bag: Counter) -> tuple[str, ...]:
        return tuple(f"{k[0]}:{k[1] or k[3][:20]}" for k in sorted(bag.elements()))

    return SectionDiff(added=names(b - a), removed=names(a - b))


def diff(old: Optional[RegionPack], new: RegionPack) -> PackDiff:
    """Added/removed/changed catalog items, units, gazetteer rows, channels and policy keys."""
    def sect(pack: Optional[RegionPack], attr: str, key: Callable[[Any], str]) -> dict[str, dict]:
        return _keyed(getattr(pack, attr), key) if pack is not None else {}

    spec = [("catalog", lambda x: x.code), ("units", lambda x: x.unit_id), ("districts", lambda x: x.code),
            ("streets", lambda x: x.code), ("communities", lambda x: x.code),
            ("roads", lambda x: f"{x.street_code}:{x.name}"), ("grids", lambda x: x.code),
            ("channels", lambda x: x.code), ("lexicon", lambda x: x.code)]
    sections = {name: _section(sect(old, name, key), sect(new, name, key)) for name, key in spec}
    sections["policy"] = _section(_flatten(old.policy) if old else {}, _flatten(new.policy))
    sections["calendar"] = _section(_flatten(canonical_calendar(old.calendar)) if old else {},
                                    _flatten(canonical_calendar(new.calendar)))
    sections["examples"] = _example_section(old.examples if old else (), new.examples)
    region_old = {"region": {"name": old.name, "city_code": old.city_code}} if old else {}
    sections["region"] = _section(region_old, {"region": {"name": new.name, "city_code": new.city_code}})
    return PackDiff(sections, old.content_hash if old else None, new.content_hash)


def empty_diff(pack: RegionPack) -> PackDiff:
    return diff(pack, pack)
