"""A region pack's content: its record types, the RegionPack that holds them, its identity and unit tree.

Equality and the content hash are of the canonical content (`to_dict`: every list sorted by its
key), so row order, line endings, BOM and surrounding blanks do not change them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping, Optional

from chalicelib.domain.canonical import canonical_json
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.units import Unit
from chalicelib.nlp.classifier import LEXICON_COLUMNS
from chalicelib.nlp.gazetteer import District, Street

FORMAT_VERSION = 1

CSV_FILES: dict[str, tuple[str, ...]] = {
    "catalog.csv": ("code", "level1", "level2", "item", "unit_type", "unit_level", "keywords"),
    "districts.csv": ("code", "name", "lat", "lng"),
    "streets.csv": ("code", "district_code", "name", "lat", "lng"),
    "communities.csv": ("code", "street_code", "name"),
    "roads.csv": ("name", "street_code"),
    "grids.csv": ("code", "community_code", "name"),
    "units.csv": ("unit_id", "name", "unit_type", "level", "jurisdiction_code"),
    "lexicon.csv": ("code", *LEXICON_COLUMNS),
}
OPTIONAL_CSV = ("grids", "lexicon")     # written back only when the pack has rows
LIST_COLUMNS = ("keywords", *LEXICON_COLUMNS)   # `|`-separated in the CSV, lists in the content
JSON_FILES = ("region.json", "channels.json", "calendar.json", "policy.json")
REQUIRED_FILES = frozenset({"catalog.csv", "districts.csv", "streets.csv", "communities.csv",
                            "units.csv", "channels.json", "policy.json"})
KNOWN_FILES = frozenset(CSV_FILES) | frozenset(JSON_FILES)
IGNORED_FILES = frozenset({"README.md", "README.txt", "NOTICE"})
EXAMPLES_DIR = "examples/"
EXAMPLE_FILE_RE = re.compile(r"^examples/[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.jsonl$")


# --- records ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Community:
    code: str
    street_code: str
    name: str


@dataclass(frozen=True)
class Road:
    name: str
    street_code: str


@dataclass(frozen=True)
class Grid:
    code: str
    community_code: str
    name: str


@dataclass(frozen=True)
class LexiconEntry:
    """A leaf's everyday phrases (老公喝酒打人 for 家庭暴力) and typical situations (short clauses as
    citizens say them): training text for the dispatch model."""

    code: str
    phrases: tuple[str, ...]
    situations: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChannelSpec:
    """A channel registration: `secret_ref` names a Secrets Manager secret, never the secret.

    A null `secret_ref` means "the platform's own secret", created on load under
    jiesu/<stage>/channels/<key_id> when absent.
    """

    code: str
    name: str
    key_id: str
    secret_ref: Optional[str] = None
    callback_url: Optional[str] = None


@dataclass(frozen=True)
class LabelledExample:
    """One line of examples/*.jsonl: a text and the catalog code it belongs to (training data).

    `file` is the pack path ("examples/history-train.jsonl"); `line` only locates it for error
    messages and is not content. `street` holds `street` or `expected_street` ("" if absent).
    """

    file: str
    line: int = field(compare=False)
    id: str
    text: str
    code: str
    street: str = ""

    def content(self) -> dict[str, str]:
        return {"file": self.file, "id": self.id, "text": self.text, "code": self.code, "street": self.street}


def example_order(e: LabelledExample) -> tuple[str, ...]:
    return e.file, e.id, e.code, e.text, e.street


@dataclass(frozen=True)
class PackError:
    """One problem in a pack: where (file, line; 0 = the file as a whole) and what."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field or '-'}: {self.message}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TreeNode:
    """A jurisdiction (辖区) of the unit tree with the units that sit there."""

    code: str
    level: str
    name: str
    parent: Optional[str]
    units: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class RegionPack:
    """A parsed region pack. Equality and the content hash ignore `version` and line numbers."""

    code: str
    name: str
    city_code: str
    catalog: tuple[CatalogItem, ...] = ()
    units: tuple[Unit, ...] = ()
    districts: tuple[District, ...] = ()
    streets: tuple[Street, ...] = ()
    communities: tuple[Community, ...] = ()
    roads: tuple[Road, ...] = ()
    grids: tuple[Grid, ...] = ()
    calendar: Mapping[str, Any] = field(default_factory=dict)
    channels: tuple[ChannelSpec, ...] = ()
    policy: Mapping[str, Any] = field(default_factory=dict)
    examples: tuple[LabelledExample, ...] = ()
    lexicon: tuple[LexiconEntry, ...] = ()
    # Not content: the stored version number (set when read back from the store), the line of
    # every row in its file (for error messages) and the problems found while parsing.
    version: Optional[int] = None
    lines: Mapping[tuple[str, str], int] = field(default_factory=dict, repr=False)
    problems: tuple[PackError, ...] = field(default=(), repr=False)
    present_files: frozenset[str] = field(default=frozenset(), repr=False)
    json_texts: Mapping[str, str] = field(default_factory=dict, repr=False)
    unreadable: frozenset[str] = field(default=frozenset(), repr=False)  # missing or bad header

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegionPack) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.content_hash)

    # -- identity --------------------------------------------------------------------------
    @cached_property
    def content_hash(self) -> str:
        return content_hash(self)

    @property
    def catalog_version(self) -> str:
        """What an appeal records as the catalog it was dispatched under, e.g. "v3-1a2b3c4d"."""
        return f"v{self.version if self.version is not None else 0}-{self.content_hash[:8]}"

    def with_version(self, version: int) -> "RegionPack":
        return dataclasses.replace(self, version=version)

    def counts(self) -> dict[str, int]:
        return {"catalog": len(self.catalog), "units": len(self.units), "districts": len(self.districts),
                "streets": len(self.streets), "communities": len(self.communities), "roads": len(self.roads),
                "grids": len(self.grids), "channels": len(self.channels), "examples": len(self.examples),
                "lexicon": len(self.lexicon)}

    # -- views for services (built once per pack) -------------------------------------------
    @cached_property
    def catalog_by_code(self) -> dict[str, CatalogItem]:
        return {c.code: c for c in self.catalog}

    @cached_property
    def units_by_id(self) -> dict[str, Unit]:
        return {u.unit_id: u for u in self.units}

    @cached_property
    def channels_by_code(self) -> dict[str, ChannelSpec]:
        return {c.code: c for c in self.channels}

    @cached_property
    def tree(self) -> dict[str, TreeNode]:
        """Jurisdiction code -> node, city at the root (see chalicelib.policy.pack)."""
        return build_tree(self)

    # -- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Canonical content: every list sorted by its key, so the hash ignores row order."""
        def rows(items, key):
            return [dataclasses.asdict(x) for x in sorted(items, key=key)]

        d = {
            "format": FORMAT_VERSION, "code": self.code, "name": self.name, "city_code": self.city_code,
            "catalog": rows(self.catalog, lambda x: x.code),
            "units": rows(self.units, lambda x: x.unit_id),
            "districts": rows(self.districts, lambda x: x.code),
            "streets": rows(self.streets, lambda x: x.code),
            "communities": rows(self.communities, lambda x: x.code),
            "roads": rows(self.roads, lambda x: (x.street_code, x.name)),
            "grids": rows(self.grids, lambda x: x.code),
            "channels": rows(self.channels, lambda x: x.code),
            "calendar": canonical_calendar(self.calendar),
            "policy": self.policy,
        }
        for c in d["catalog"]:
            c["keywords"] = list(c["keywords"])
        if self.lexicon:
            # Only when present, as examples: packs without one keep their hash.
            d["lexicon"] = [{"code": x.code, "phrases": list(x.phrases), "situations": list(x.situations)}
                            for x in sorted(self.lexicon, key=lambda x: x.code)]
        if self.examples:
            # Only when present: packs stored before examples were content keep their hash.
            d["examples"] = [e.content() for e in sorted(self.examples, key=example_order)]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], version: Optional[int] = None) -> "RegionPack":
        if d.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported region pack format {d.get('format')!r}")
        return cls(
            code=d["code"], name=d["name"], city_code=d["city_code"],
            catalog=tuple(CatalogItem(**{**c, "keywords": tuple(c["keywords"])}) for c in d["catalog"]),
            units=tuple(Unit(**u) for u in d["units"]),
            districts=tuple(District(**x) for x in d["districts"]),
            streets=tuple(Street(**x) for x in d["streets"]),
            communities=tuple(Community(**x) for x in d["communities"]),
            roads=tuple(Road(**x) for x in d["roads"]),
            grids=tuple(Grid(**x) for x in d.get("grids", ())),
            channels=tuple(ChannelSpec(**x) for x in d["channels"]),
            calendar=d.get("calendar") or {}, policy=d.get("policy") or {},
            examples=tuple(LabelledExample(line=0, **x) for x in d.get("examples", ())),
            lexicon=tuple(LexiconEntry(x["code"], tuple(x["phrases"]), tuple(x.get("situations", ())))
                          for x in d.get("lexicon", ())),
            version=version)


def canonical_calendar(cal: Mapping[str, Any]) -> dict:
    out = dict(cal)
    for k in ("years", "holidays", "workdays"):
        if isinstance(out.get(k), list):
            try:
                out[k] = sorted(out[k])
            except TypeError:
                pass
    return out


# --- identity ---------------------------------------------------------------------------------

def pack_json(pack: RegionPack) -> bytes:
    return canonical_json(pack.to_dict()).encode("utf-8")


def content_hash(pack: RegionPack) -> str:
    """sha256 of the canonical content (hex)."""
    return hashlib.sha256(pack_json(pack)).hexdigest()


# --- the unit tree -------------------------------------------------------------------------------

def build_tree(pack: RegionPack) -> dict[str, TreeNode]:
    nodes: dict[str, dict] = {}

    def add(code: str, level: str, name: str, parent: Optional[str]) -> None:
        nodes.setdefault(code, {"code": code, "level": level, "name": name, "parent": parent, "units": []})

    add(pack.city_code, "city", pack.name, None)
    for d in pack.districts:
        add(d.code, "district", d.name, pack.city_code)   # a county-level city's own row merges into the root
    for s in pack.streets:
        add(s.code, "street", s.name, s.district_code)
    for c in pack.communities:
        add(c.code, "community", c.name, c.street_code)
    for g in pack.grids:
        add(g.code, "grid", g.name, g.community_code)
    for u in sorted(pack.units, key=lambda u: u.unit_id):
        if u.jurisdiction_code in nodes:
            nodes[u.jurisdiction_code]["units"].append(u.unit_id)
    return {k: TreeNode(v["code"], v["level"], v["name"], v["parent"], tuple(v["units"])) for k, v in nodes.items()}


def jurisdictions(pack: RegionPack) -> dict[str, frozenset[str]]:
    """Codes per level; the city's own district row (县级市) counts as a district too."""
    return {
        "city": frozenset({pack.city_code}),
        "district": frozenset(d.code for d in pack.districts),
        "street": frozenset(s.code for s in pack.streets),
        "community": frozenset(c.code for c in pack.communities),
        "grid": frozenset(g.code for g in pack.grids),
    }
