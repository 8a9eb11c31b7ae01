"""Region pack (区域数据包): a city's catalog, units, gazetteer, calendar, channels and policy, read and checked.

A pack is a folder (or, for the admin API, a dict of file name -> text) holding:

| file              | required | what                                                              |
|-------------------|----------|-------------------------------------------------------------------|
| region.json       | no       | {"code", "name", "city_code", "note"}; code defaults to the folder |
|                   |          | name, city_code to the jurisdiction of the city-level units        |
| catalog.csv       | yes      | duty catalog (职责清单) incl. the 99.99.999 fallback row            |
| districts.csv     | yes      | districts (区); a county-level city (县级市) lists itself once       |
| streets.csv       | yes      | streets and towns (街道/镇)                                         |
| communities.csv   | yes      | communities (社区)                                                  |
| roads.csv         | no       | roads and landmarks per street (address resolution)                |
| grids.csv         | no       | grids (网格): code,community_code,name                              |
| units.csv         | yes      | responsible units (责任单位) with their jurisdiction                 |
| channels.json     | yes      | channel registrations: code, name, key_id, secret_ref, callback_url|
| calendar.json     | no       | working-day overrides (chalicelib.policy.calendar_source format)   |
| policy.json       | yes      | dispatch/dedup thresholds and deadline time limits                 |
| lexicon.csv       | no       | code,phrases,situations: a leaf's everyday words and its typical   |
|                   |          | situations (`|`-separated): two more documents of the leaf for the |
|                   |          | dispatch model                                                     |
| examples/*.jsonl  | no       | labelled texts the dispatch model trains on, one JSON object a      |
|                   |          | line: `text` and the catalog code as `code` or `expected_code`;     |
|                   |          | `id` and `street` / `expected_street` are kept when present         |

README.md (and other files of examples/ than *.jsonl, and other subfolders) are not part of the
pack. Of an example only file, id, text, code and street are kept: `write_dir` writes them back
as {"id", "text", "code", "street"} lines, which chalicelib.nlp.classifier reads as it reads the
source files, so a model built from a stored pack trains on the same examples.

The unit tree is derived from jurisdiction codes: city (6 digits) → district (6) → street
(district + 3) → community (street + 3) → grid (community + 3). A district row whose code is
the city's own code stands for a county-level city without districts: its streets and towns
hang directly under the city.

Coverage rule (每个事项都有人管): every catalog row's (unit_type, unit_level) must have a unit of
that type in EVERY jurisdiction of that level (every district for `district`, every street for
`street`, every community for `community`, the city for `city`). A gap is an error, unless
policy.json names the unit type in `dispatch.gaps_to_fallback`: then appeals at an uncovered
place go to the 兜底 unit (the city-level 市民生诉求服务中心, which chalicelib.nlp.units already
does at run time) and the admin has said so explicitly.

`validate(pack)` returns every problem at once, each naming file, line, field and message.
`content_hash(pack)` is a hash of the parsed, canonically ordered content: row order, line
endings, BOM and surrounding blanks do not change it. Nothing here touches AWS.
"""
from __future__ import annotations

from chalicelib.domain.catalog import FALLBACK_CODE, CatalogItem, fallback_unit_type

import csv
import dataclasses
import gzip
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from chalicelib.nlp.classifier import LEXICON_COLUMNS
from chalicelib.nlp.gazetteer import District, Street
from chalicelib.nlp.text import split_list
from chalicelib.nlp.units import Unit

FORMAT_VERSION = 1

LEVELS = ("city", "district", "street", "community", "grid")
CATALOG_LEVELS = ("city", "district", "street", "community")
EXTRA_CHANNEL_CODES = ("open311",)  # served by the Open311 GeoReport API, not a partner adapter
MAX_CHANNELS = 40                   # channel registrations are written in one transaction

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

_CODE_RE = re.compile(r"^\d{2}\.\d{2}\.\d{3}$")
_REGION_RE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
_SECRET_REF_RE = re.compile(r"^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$")
_UNIT_ID_RE = re.compile(r"^U\d{6,15}-[A-Za-z0-9]+$")
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")
_CHANNEL_KEYS = {"code", "name", "key_id", "secret_ref", "callback_url", "note"}
_REGION_KEYS = {"code", "name", "city_code", "note", "_comment"}
_POLICY_KEYS = {"dispatch", "dedup", "deadlines", "note", "_comment"}
_DISPATCH_KEYS = {"auto_threshold", "fallback_below", "gaps_to_fallback", "out_of_scope", "note"}
EXAMPLES_DIR = "examples/"
_EXAMPLE_FILE_RE = re.compile(r"^examples/[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.jsonl$")


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


def _example_order(e: LabelledExample) -> tuple[str, ...]:
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
        """Jurisdiction code -> node, city at the root (see the module docstring)."""
        return build_tree(self)

    def unit_directory(self):
        from chalicelib.nlp.units import UnitDirectory

        return _memo(self, "_unit_directory", lambda: UnitDirectory(self.units, fallback_unit_type(self.catalog)))

    def gazetteer(self):
        from chalicelib.nlp.gazetteer import Gazetteer

        return _memo(self, "_gazetteer", lambda: Gazetteer(
            list(self.districts), list(self.streets),
            [(c.code, c.street_code, c.name) for c in self.communities],
            [(r.name, r.street_code) for r in self.roads]))

    def work_calendar(self):
        from chalicelib.policy.calendar_source import build_calendar

        return _memo(self, "_calendar", lambda: build_calendar(dict(self.calendar)))

    def deadline_policy(self):
        from chalicelib.domain.deadlines import DeadlinePolicy

        return _memo(self, "_deadline_policy", lambda: DeadlinePolicy.from_dict(self.policy.get("deadlines") or {}))

    def dedup_policy(self):
        from chalicelib.domain.dedup import DedupPolicy

        return _memo(self, "_dedup_policy", lambda: DedupPolicy(**(self.policy.get("dedup") or {})))

    @property
    def auto_dispatch_threshold(self) -> Optional[float]:
        return (self.policy.get("dispatch") or {}).get("auto_threshold")

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
            "calendar": _canonical_calendar(self.calendar),
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
            d["examples"] = [e.content() for e in sorted(self.examples, key=_example_order)]
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

    def write_dir(self, path: str | Path) -> Path:
        """Write the pack back as a folder (for loaders that read files, e.g. the classifier)."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        d = self.to_dict()
        for fname, header in CSV_FILES.items():
            key = fname[:-4]
            if key in OPTIONAL_CSV and not d.get(key):
                continue
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(header)
            for row in d[key]:
                w.writerow(["|".join(row[h]) if h in LIST_COLUMNS else
                            (_fmt_coord(row[h]) if h in ("lat", "lng") else row[h]) for h in header])
            (out / fname).write_text(buf.getvalue(), encoding="utf-8")
        dump = lambda obj: json.dumps(obj, ensure_ascii=False, indent=2) + "\n"  # noqa: E731
        (out / "region.json").write_text(dump({"code": self.code, "name": self.name, "city_code": self.city_code}),
                                         encoding="utf-8")
        (out / "channels.json").write_text(dump({"channels": d["channels"]}), encoding="utf-8")
        (out / "calendar.json").write_text(dump(d["calendar"]), encoding="utf-8")
        (out / "policy.json").write_text(dump(d["policy"]), encoding="utf-8")
        by_file: dict[str, list[str]] = {}
        for e in d.get("examples", ()):
            if not _EXAMPLE_FILE_RE.match(e["file"]):
                raise ValueError(f"bad example file name {e['file']!r}")
            rec = {"id": e["id"], "text": e["text"], "code": e["code"], "street": e["street"]}
            by_file.setdefault(e["file"], []).append(json.dumps({k: v for k, v in rec.items() if v or k == "text"},
                                                                ensure_ascii=False))
        if by_file:
            (out / "examples").mkdir(exist_ok=True)
        for fname, rows in by_file.items():
            (out / fname).write_text("\n".join(rows) + "\n", encoding="utf-8")
        return out


def _memo(pack: RegionPack, name: str, build: Callable[[], Any]) -> Any:
    cache = pack.__dict__
    if name not in cache:
        cache[name] = build()
    return cache[name]


def _fmt_coord(v: float) -> str:
    return f"{v:.4f}"


def _canonical_calendar(cal: Mapping[str, Any]) -> dict:
    out = dict(cal)
    for k in ("years", "holidays", "workdays"):
        if isinstance(out.get(k), list):
            try:
                out[k] = sorted(out[k])
            except TypeError:
                pass
    return out


# --- hashing and storage form -----------------------------------------------------------------

def canonical_json(pack: RegionPack) -> bytes:
    return json.dumps(pack.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def content_hash(pack: RegionPack) -> str:
    """sha256 of the canonical content (hex)."""
    return hashlib.sha256(canonical_json(pack)).hexdigest()


def encode_pack(pack: RegionPack) -> bytes:
    """The one stored object: gzip (mtime 0, so identical packs give identical bytes) of the JSON."""
    body = {"content_hash": content_hash(pack), "pack": pack.to_dict()}
    return gzip.compress(json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                         .encode("utf-8"), compresslevel=6, mtime=0)


def decode_pack(blob: bytes, version: Optional[int] = None, expected_hash: Optional[str] = None) -> RegionPack:
    body = json.loads(gzip.decompress(blob).decode("utf-8"))
    pack = RegionPack.from_dict(body["pack"], version=version)
    actual = content_hash(pack)
    if actual != body.get("content_hash") or (expected_hash and actual != expected_hash):
        raise ValueError(f"region pack object is corrupt: content hash {actual[:12]} does not match "
                         f"{(expected_hash or body.get('content_hash') or '')[:12]}")
    return pack


def object_key(region: str, version: int, digest: str) -> str:
    """S3 key of a version: immutable, one object per version."""
    return f"packs/{region}/{version:06d}-{digest[:16]}/pack.json.gz"


# --- reading ------------------------------------------------------------------------------------

Progress = Callable[[str, str, int, int], None]  # (stage, item, done, total)


def read_files(folder: str | Path) -> dict[str, bytes]:
    """The top-level files of a pack folder plus examples/*.jsonl (as "examples/<name>.jsonl");
    other subfolders are not part of it."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"region pack folder not found: {root}")
    files = {p.name: p.read_bytes() for p in sorted(root.iterdir())
             if p.is_file() and not p.name.startswith(".")}
    for p in sorted((root / "examples").glob("*.jsonl")):   # exactly what the classifier reads
        if p.is_file() and not p.name.startswith("."):
            files[EXAMPLES_DIR + p.name] = p.read_bytes()
    return files


def read_pack(source: str | Path | Mapping[str, str | bytes], code: Optional[str] = None,
              progress: Optional[Progress] = None) -> RegionPack:
    """Parse a pack folder or a {file name: text} dict; parse problems are kept in `problems`.

    The region code is `code` if given (region.json must then agree), else region.json's, else
    the folder's name.

    Never raises on bad content: `validate` reports everything at once.
    """
    default_code = None
    if isinstance(source, (str, Path)):
        folder = Path(source)
        files: Mapping[str, str | bytes] = read_files(folder)
        default_code = folder.resolve().name
    else:
        files = source
    return _Parser(files, code, progress, default_code).parse()


class _Parser:
    def __init__(self, files: Mapping[str, str | bytes], code: Optional[str], progress: Optional[Progress],
                 default_code: Optional[str] = None):
        self.raw = files
        self.code = code
        self.default_code = default_code
        self.progress = progress
        self.problems: list[PackError] = []
        self.lines: dict[tuple[str, str], int] = {}
        self.texts: dict[str, str] = {}
        self.unreadable: set[str] = set()

    def err(self, file: str, line: int, fld: str, msg: str) -> None:
        self.problems.append(PackError(file, line, fld, msg))

    def parse(self) -> RegionPack:
        for name in sorted(self.raw):
            base = name[len(EXAMPLES_DIR):] if name.startswith(EXAMPLES_DIR) else name
            if base in IGNORED_FILES or base.startswith(".") and "/" not in base:   # hidden, not a path
                continue
            if name.startswith(EXAMPLES_DIR) and not _EXAMPLE_FILE_RE.match(name):
                self.err(name, 0, "", "unknown file (examples/ holds <name>.jsonl files: letters, digits, "
                         "'.', '_' or '-')")
                continue
            if name not in KNOWN_FILES and not name.startswith(EXAMPLES_DIR):
                self.err(name, 0, "", f"unknown file (a pack holds {', '.join(sorted(KNOWN_FILES))} "
                         "and examples/*.jsonl)")
                continue
            data = self.raw[name]
            if isinstance(data, bytes):
                try:
                    data = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self.err(name, data[:exc.start].count(b"\n") + 1, "", "not UTF-8 text")
                    continue
            self.texts[name] = data.lstrip("\ufeff")
        for name in sorted(REQUIRED_FILES):
            if name not in self.raw:
                self.err(name, 0, "", "required file is missing")

        total_rows = sum(t.count("\n") for n, t in self.texts.items() if n.endswith(".csv"))
        self._rows_done, self._rows_total = 0, max(total_rows, 1)

        catalog = [CatalogItem(r["code"], r["level1"], r["level2"], r["item"], r["unit_type"], r["unit_level"],
                                split_list(r["keywords"]))
                   for r in self.csv("catalog.csv", "code", optional=("keywords",))]
        units = [Unit(r["unit_id"], r["name"], r["unit_type"], r["level"], r["jurisdiction_code"])
                 for r in self.csv("units.csv", "unit_id")]
        districts = [District(r["code"], r["name"], *self.coords("districts.csv", r))
                     for r in self.csv("districts.csv", "code")]
        streets = [Street(r["code"], r["district_code"], r["name"], *self.coords("streets.csv", r))
                   for r in self.csv("streets.csv", "code")]
        communities = [Community(r["code"], r["street_code"], r["name"]) for r in self.csv("communities.csv", "code")]
        roads = [Road(r["name"], r["street_code"]) for r in self.csv("roads.csv", ("street_code", "name"))]
        grids = [Grid(r["code"], r["community_code"], r["name"]) for r in self.csv("grids.csv", "code")]
        lexicon = [LexiconEntry(r["code"], *(split_list(r[h]) for h in LEXICON_COLUMNS))
                   for r in self.csv("lexicon.csv", "code", optional=LEXICON_COLUMNS)]

        region = self.json_obj("region.json", {}) or {}
        channels = self.channels()
        calendar = self.json_obj("calendar.json", {}) or {}
        policy = self.json_obj("policy.json", {}) or {}
        self.tick("read", "json files", 1, 1)
        examples = self.examples()

        code = region.get("code") if isinstance(region.get("code"), str) else None
        if code and self.code and code != self.code:
            self.err("region.json", self.line_of("region.json", '"code"'), "code",
                     f"region code {code!r} differs from the pack name {self.code!r}")
        code = self.code or code or self.default_code or ""
        city_code = region.get("city_code") if isinstance(region.get("city_code"), str) else None
        if not city_code:
            city_code = _derive_city_code(units, districts)
        name = region.get("name") if isinstance(region.get("name"), str) else code
        return RegionPack(code=code, name=name, city_code=city_code, catalog=tuple(catalog), units=tuple(units),
                          districts=tuple(districts), streets=tuple(streets), communities=tuple(communities),
                          roads=tuple(roads), grids=tuple(grids), calendar=calendar, channels=tuple(channels),
                          policy=policy, examples=tuple(examples), lexicon=tuple(lexicon), lines=self.lines,
                          problems=tuple(self.problems),
                          present_files=frozenset(self.texts),
                          json_texts={n: t for n, t in self.texts.items() if n.endswith(".json")},
                          unreadable=frozenset(self.unreadable | (set(CSV_FILES) - set(self.texts))))

    # -- csv ---------------------------------------------------------------------------------
    def tick(self, stage: str, item: str, done: int, total: int) -> None:
        if self.progress:
            self.progress(stage, item, done, total)

    def csv(self, fname: str, key: str | tuple[str, ...], optional: tuple[str, ...] = ()) -> list[dict[str, str]]:
        text = self.texts.get(fname)
        if text is None:
            return []
        header = CSV_FILES[fname]
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            got = [h.strip() for h in next(reader)]
        except StopIteration:
            self.err(fname, 1, "", f"empty file; expected the header {','.join(header)}")
            self.unreadable.add(fname)
            return []
        except csv.Error as exc:
            self.err(fname, 1, "", f"unreadable CSV header ({exc})")
            self.unreadable.add(fname)
            return []
        missing = [h for h in header if h not in got]
        extra = [h for h in got if h not in header]
        if missing or extra or len(set(got)) != len(got):
            parts = []
            if missing:
                parts.append("missing column(s) " + ", ".join(missing))
            if extra:
                parts.append("unexpected column(s) " + ", ".join(extra))
            if len(set(got)) != len(got):
                parts.append("repeated column(s)")
            self.err(fname, 1, (missing or extra or [""])[0],
                     f"bad header ({'; '.join(parts)}); expected {','.join(header)}")
            self.unreadable.add(fname)
            return []
        rows: list[dict[str, str]] = []
        total = max(text.count("\n"), 1)
        line = 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                self.err(fname, reader.line_num, "", f"unreadable CSV row ({exc})")
                break
            line = reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(got):
                self.err(fname, line, "", f"expected {len(got)} fields, found {len(values)}")
                continue
            row = {h: v.strip() for h, v in zip(got, values)}
            empty = [h for h in header if not row[h] and h not in optional]
            for h in empty:
                self.err(fname, line, h, "is empty")
            if empty:
                continue
            k = "\t".join(row[x] for x in key) if isinstance(key, tuple) else row[key]
            first = self.lines.get((fname, k))
            if first is not None:
                what = " / ".join(row[x] for x in key) if isinstance(key, tuple) else k
                self.err(fname, line, key[-1] if isinstance(key, tuple) else key,
                         f"duplicate {what!r} (first on line {first})")
                continue
            self.lines[(fname, k)] = line
            rows.append(row)
            if line % 500 == 0:
                self.tick("read", fname, line, total)
        self.tick("read", fname, total, total)
        return rows

    def coords(self, fname: str, row: dict[str, str]) -> tuple[float, float]:
        out = []
        for h, lo, hi in (("lat", -90.0, 90.0), ("lng", -180.0, 180.0)):
            try:
                v = float(row[h])
                if not math.isfinite(v) or not lo <= v <= hi:
                    raise ValueError
            except ValueError:
                self.err(fname, self.lines.get((fname, row["code"]), 0), h,
                         f"{row[h]!r} is not a {'latitude' if h == 'lat' else 'longitude'}")
                v = 0.0
            out.append(round(v, 6))
        return out[0], out[1]

    # -- json --------------------------------------------------------------------------------
    def json_obj(self, fname: str, default: Any) -> Any:
        text = self.texts.get(fname)
        if text is None:
            return default
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            self.err(fname, exc.lineno, "", f"invalid JSON ({exc.msg}, column {exc.colno})")
            return default
        if not isinstance(data, dict):
            self.err(fname, 1, "", "must be a JSON object")
            return default
        return data

    # -- examples ----------------------------------------------------------------------------
    def examples(self) -> list[LabelledExample]:
        """Every examples/*.jsonl line; progress ticks once per file (done/total in lines)."""
        names = sorted(n for n in self.texts if n.startswith(EXAMPLES_DIR))
        total = max(sum(self.texts[n].count("\n") for n in names), 1)
        out: list[LabelledExample] = []
        done = 0
        for fname in names:
            text = self.texts[fname]
            for n, raw in enumerate(text.split("\n"), 1):   # as the classifier reads it: \n only
                if raw.strip():
                    ex = self.example(fname, n, raw)
                    if ex is not None:
                        out.append(ex)
            done += text.count("\n")
            self.tick("read", "examples", min(done, total), total)
        return out

    def example(self, fname: str, n: int, raw: str) -> Optional[LabelledExample]:
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as exc:
            self.err(fname, n, "", f"invalid JSON ({exc.msg}, column {exc.colno})")
            return None
        if not isinstance(rec, dict):
            self.err(fname, n, "", "must be a JSON object")
            return None
        bad = False
        text = rec.get("text")
        if not isinstance(text, str) or not text.strip():
            self.err(fname, n, "text", "missing text" if text in (None, "") else "text must be a non-empty string")
            bad = True
        code_key = "code" if rec.get("code") not in (None, "") else "expected_code"
        code = rec.get(code_key)
        if code in (None, ""):
            self.err(fname, n, "code", "missing code (give the catalog code as code or expected_code)")
            bad = True
        elif not isinstance(code, str):
            self.err(fname, n, code_key, f"{code!r} must be a catalog code string")
            bad = True
        ident = rec.get("id")
        if ident is not None and (isinstance(ident, bool) or not isinstance(ident, (str, int))):
            self.err(fname, n, "id", "must be a string or a number")
            bad = True
        street_key = "street" if rec.get("street") not in (None, "") else "expected_street"
        street = rec.get(street_key)
        if street is not None and not isinstance(street, str):
            self.err(fname, n, street_key, "must be a string")
            bad = True
        if bad:
            return None
        return LabelledExample(fname, n, "" if ident is None else str(ident), text, code.strip(),
                               (street or "").strip())

    def line_of(self, fname: str, *needles: str, start: int = 1) -> int:
        text = self.texts.get(fname)
        if text is None:
            return 0
        return find_line(text, *needles, start=start)

    def channels(self) -> list[ChannelSpec]:
        fname = "channels.json"
        doc = self.json_obj(fname, None)
        if doc is None:
            return []
        items = doc.get("channels")
        if not isinstance(items, list):
            self.err(fname, self.line_of(fname, '"channels"') or 1, "channels", "must be a list of channels")
            return []
        out: list[ChannelSpec] = []
        cursor = 1
        for i, ch in enumerate(items):
            if not isinstance(ch, dict):
                self.err(fname, cursor, f"channels[{i}]", "must be an object")
                continue
            code = ch.get("code")
            line = self.line_of(fname, '"code"', json.dumps(code, ensure_ascii=False), start=cursor) \
                if isinstance(code, str) else cursor
            if line:
                cursor = line
            bad = False
            for k in sorted(set(ch) - _CHANNEL_KEYS):
                self.err(fname, line, k, f"unknown key in channel {code!r} (allowed: {', '.join(sorted(_CHANNEL_KEYS))})")
                bad = True
            for k in ("code", "name", "key_id"):
                if not isinstance(ch.get(k), str) or not ch[k].strip():
                    self.err(fname, line, k, f"channels[{i}]: {k} must be a non-empty string")
                    bad = True
            for k in ("secret_ref", "callback_url"):
                if ch.get(k) is not None and not isinstance(ch.get(k), str):
                    self.err(fname, line, k, f"channel {code!r}: {k} must be a string or null")
                    bad = True
            if bad:
                continue
            if ("channels.json", code) in self.lines:
                self.err(fname, line, "code", f"duplicate channel {code!r} (first on line {self.lines[(fname, code)]})")
                continue
            self.lines[(fname, code)] = line
            out.append(ChannelSpec(code=code.strip(), name=ch["name"].strip(), key_id=ch["key_id"].strip(),
                                   secret_ref=(ch.get("secret_ref") or None), callback_url=(ch.get("callback_url") or None)))
        return out


def find_line(text: str, *needles: str, start: int = 1) -> int:
    """Line number (1-based) of the first line at or after `start` containing every needle; else 0."""
    for n, line in enumerate(text.splitlines()[start - 1:], start=start):
        if all(x in line for x in needles):
            return n
    return 0


def _derive_city_code(units: Iterable[Unit], districts: Iterable[District]) -> str:
    city = sorted({u.jurisdiction_code for u in units if u.level == "city"})
    if len(city) == 1:
        return city[0]
    prefixes = sorted({d.code[:4] for d in districts if len(d.code) == 6})
    return prefixes[0] + "00" if len(prefixes) == 1 else ""


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


# --- validation -------------------------------------------------------------------------------

def validate(pack: RegionPack, progress: Optional[Progress] = None) -> list[PackError]:
    """Every problem of the pack (parse and meaning), in file then line order."""
    v = _Validator(pack)
    checks = [v.region, v.gazetteer, v.units, v.catalog, v.coverage, v.channels, v.calendar, v.policy, v.examples,
              v.lexicon]
    for i, check in enumerate(checks, 1):
        check()
        if progress:
            progress("validate", check.__name__, i, len(checks))
    errors = list(pack.problems) + v.errors
    order = {f: i for i, f in enumerate(["region.json", *CSV_FILES, "channels.json", "calendar.json", "policy.json"])}
    return sorted(dict.fromkeys(errors), key=lambda e: (order.get(e.file, 99), e.file, e.line))


class _Validator:
    def __init__(self, pack: RegionPack):
        self.p = pack
        self.errors: list[PackError] = []
        self.j = jurisdictions(pack)
        # References into a file that could not be read are not checked: its own error says it
        # all, and hundreds of "unknown street" lines would only bury it.
        level_file = {"district": "districts.csv", "street": "streets.csv", "community": "communities.csv",
                      "grid": "grids.csv"}
        self.blind = {lvl for lvl, f in level_file.items() if f in pack.unreadable and f in REQUIRED_FILES}
        if "units.csv" in pack.unreadable:
            self.blind.add("units")

    def err(self, file: str, key: str | None, fld: str, msg: str, line: Optional[int] = None) -> None:
        if line is None:
            line = self.p.lines.get((file, key), 0) if key is not None else 0
        self.errors.append(PackError(file, line, fld, msg))

    def region(self) -> None:
        if not _REGION_RE.match(self.p.code or ""):
            self.err("region.json", None, "code", f"region code {self.p.code!r} must be lower-case latin letters, "
                     "digits or '-' (e.g. shenzhen), 2-32 characters")
        if not re.fullmatch(r"\d{6}", self.p.city_code or ""):
            self.err("region.json", None, "city_code", f"city code {self.p.city_code!r} must be 6 digits "
                     "(GB/T 2260, e.g. 440300); set it in region.json")

    def gazetteer(self) -> None:
        p, city = self.p, self.p.city_code
        for d in p.districts:
            if not re.fullmatch(r"\d{6}", d.code):
                self.err("districts.csv", d.code, "code", f"district code {d.code!r} must be 6 digits")
            elif city and d.code[:4] != city[:4]:
                self.err("districts.csv", d.code, "code", f"district {d.code} is not in city {city}")
        street_names: dict[str, str] = {}
        for s in p.streets:
            if s.district_code not in self.j["district"] and "district" not in self.blind:
                self.err("streets.csv", s.code, "district_code", f"unknown district {s.district_code!r} "
                         f"for street {s.code} (not in districts.csv)")
            if not re.fullmatch(r"\d{9}", s.code) or not s.code.startswith(s.district_code):
                self.err("streets.csv", s.code, "code", f"street code {s.code!r} must be its district code "
                         f"{s.district_code} followed by 3 digits")
            if s.name in street_names:
                self.err("streets.csv", s.code, "name", f"street name {s.name!r} is also used by {street_names[s.name]} "
                         "(street names must be unique in a region: addresses are matched by name)")
            street_names.setdefault(s.name, s.code)
        for c in p.communities:
            if c.street_code not in self.j["street"] and "street" not in self.blind:
                self.err("communities.csv", c.code, "street_code", f"unknown street {c.street_code!r} "
                         f"for community {c.code} (not in streets.csv)")
            if not re.fullmatch(r"\d{12}", c.code) or not c.code.startswith(c.street_code):
                self.err("communities.csv", c.code, "code", f"community code {c.code!r} must be its street code "
                         f"{c.street_code} followed by 3 digits")
        for r in p.roads:
            if r.street_code not in self.j["street"] and "street" not in self.blind:
                self.err("roads.csv", f"{r.street_code}\t{r.name}", "street_code",
                         f"unknown street {r.street_code!r} for {r.name!r} (not in streets.csv)")
        for g in p.grids:
            if g.community_code not in self.j["community"]:
                self.err("grids.csv", g.code, "community_code", f"unknown community {g.community_code!r} "
                         f"for grid {g.code} (not in communities.csv)")
            if not g.code.startswith(g.community_code) or not g.code.isdigit():
                self.err("grids.csv", g.code, "code", f"grid code {g.code!r} must start with its community code")

    def units(self) -> None:
        seen: dict[tuple[str, str], str] = {}
        where = {"city": "the city code", "district": "districts.csv", "street": "streets.csv",
                 "community": "communities.csv", "grid": "grids.csv"}
        for u in self.p.units:
            if not _UNIT_ID_RE.match(u.unit_id) or not u.unit_id.startswith(f"U{u.jurisdiction_code}-"):
                self.err("units.csv", u.unit_id, "unit_id", f"unit id {u.unit_id!r} must be "
                         f"U<jurisdiction_code>-<abbreviation>, here U{u.jurisdiction_code}-…")
            if u.level not in LEVELS:
                self.err("units.csv", u.unit_id, "level", f"unknown level {u.level!r} (one of {', '.join(LEVELS)})")
                continue
            if u.jurisdiction_code not in self.j[u.level] and u.level not in self.blind:
                self.err("units.csv", u.unit_id, "jurisdiction_code",
                         f"unit {u.unit_id} ({u.name}): jurisdiction {u.jurisdiction_code!r} is not a {u.level} "
                         f"of the region (not in {where[u.level]}{' ' + self.p.city_code if u.level == 'city' else ''})")
            k = (u.unit_type, u.jurisdiction_code)
            if k in seen:
                self.err("units.csv", u.unit_id, "unit_type", f"a second {u.unit_type} in {u.jurisdiction_code} "
                         f"(first: {seen[k]}); dispatch needs exactly one")
            seen.setdefault(k, u.unit_id)
        fb = self.p.catalog_by_code.get(FALLBACK_CODE)
        if "units" not in self.blind and fb is not None and not any(
                u.unit_type == fb.unit_type and u.level == "city" for u in self.p.units):
            self.err("units.csv", None, "unit_type", f"the city-level {fb.unit_type} (兜底 unit named by "
                     f"catalog row {FALLBACK_CODE}) is missing")

    def catalog(self) -> None:
        f = "catalog.csv"
        types_by_level: dict[str, set[str]] = {}
        for u in self.p.units:
            types_by_level.setdefault(u.unit_type, set()).add(u.level)
        l1: dict[str, tuple[str, str]] = {}
        l2: dict[str, tuple[str, str]] = {}
        items: dict[str, str] = {}
        for c in self.p.catalog:
            if not _CODE_RE.match(c.code):
                self.err(f, c.code, "code", f"catalog code {c.code!r} must look like LL.MM.NNN (e.g. 01.02.003)")
            else:
                a, b = c.code[:2], c.code[:5]
                if a in l1 and l1[a][0] != c.level1:
                    self.err(f, c.code, "level1", f"category {a} is {l1[a][0]!r} on line "
                             f"{self.p.lines.get((f, l1[a][1]), 0)}, here {c.level1!r}")
                l1.setdefault(a, (c.level1, c.code))
                if b in l2 and l2[b][0] != c.level2:
                    self.err(f, c.code, "level2", f"group {b} is {l2[b][0]!r} on line "
                             f"{self.p.lines.get((f, l2[b][1]), 0)}, here {c.level2!r}")
                l2.setdefault(b, (c.level2, c.code))
            if c.item in items:
                self.err(f, c.code, "item", f"item name {c.item!r} is also used by {items[c.item]}")
            items.setdefault(c.item, c.code)
            if c.unit_level not in CATALOG_LEVELS:
                self.err(f, c.code, "unit_level", f"unknown unit_level {c.unit_level!r} (one of {', '.join(CATALOG_LEVELS)})")
            elif "units" in self.blind:
                continue
            elif c.unit_type not in types_by_level:
                self.err(f, c.code, "unit_type", f"unknown unit_type {c.unit_type!r}: no unit of that type in units.csv")
            elif c.unit_level not in types_by_level[c.unit_type]:
                self.err(f, c.code, "unit_level", f"{c.unit_type} exists at level "
                         f"{'/'.join(sorted(types_by_level[c.unit_type]))}, not {c.unit_level}")
        fb = self.p.catalog_by_code.get(FALLBACK_CODE)
        if fb is None:
            self.err(f, None, "code", f"the fallback row {FALLBACK_CODE} (兜底: 其他未列明事项 → "
                     f"the city's catch-all unit, e.g. 市民生诉求服务中心, city) is missing")
        elif fb.unit_level != "city":
            self.err(f, FALLBACK_CODE, "unit_level", f"the fallback row must go to a city-level unit, "
                     f"not {fb.unit_level}")

    def coverage(self) -> None:
        allowed = set(((self.p.policy.get("dispatch") or {}) if isinstance(self.p.policy.get("dispatch"), dict)
                       else {}).get("gaps_to_fallback") or [])
        have: dict[tuple[str, str], set[str]] = {}
        for u in self.p.units:
            have.setdefault((u.unit_type, u.level), set()).add(u.jurisdiction_code)
        first_line: dict[tuple[str, str], str] = {}
        for c in self.p.catalog:
            first_line.setdefault((c.unit_type, c.unit_level), c.code)
        for (utype, level), code in sorted(first_line.items()):
            if level not in CATALOG_LEVELS or (utype, level) not in have or utype in allowed or level in self.blind:
                continue  # unknown level/type is reported by catalog(); gaps the admin accepted
            missing = sorted(self.j[level] - have[(utype, level)])
            if level == "district":
                # A county-level city's own row has no separate district departments to miss.
                missing = [m for m in missing if m != self.p.city_code]
            if missing:
                shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                self.err("catalog.csv", code, "unit_type",
                         f"{utype} ({level}) is missing in {len(missing)} {level}(s): {shown}; add the units to "
                         f"units.csv or list {utype!r} in policy.json dispatch.gaps_to_fallback "
                         f"(appeals there then go to the 兜底 unit)")

    def channels(self) -> None:
        from chalicelib.channels.registry import channel_codes

        known = set(channel_codes()) | set(EXTRA_CHANNEL_CODES)
        f = "channels.json"
        key_ids: dict[str, str] = {}
        if "channels.json" in self.p.present_files and not self.p.channels and \
                not any(e.file == f for e in self.p.problems):
            self.err(f, 1, "channels", "no channels: a region needs at least one way in")
        if len(self.p.channels) > MAX_CHANNELS:
            self.err(f, 0, "channels", f"{len(self.p.channels)} channels; at most {MAX_CHANNELS}")
        for ch in self.p.channels:
            def line(fld: str, code=ch.code) -> int:
                entry = self.p.lines.get((f, code), 0)
                text = self.p.json_texts.get(f)
                if not entry or not text or fld == "code":
                    return entry
                found = find_line(text, f'"{fld}"', start=entry)
                return found if found and found - entry < 12 else entry

            if ch.code not in known:
                self.err(f, ch.code, "code", f"unknown channel {ch.code!r} (known: {', '.join(sorted(known))})")
            if not _KEY_ID_RE.match(ch.key_id):
                self.err(f, ch.code, "key_id", line=line("key_id"), msg=f"key id {ch.key_id!r} must be 3-64 letters, digits, '.', '_' or '-'")
            if ch.key_id in key_ids:
                self.err(f, ch.code, "key_id", line=line("key_id"), msg=f"key id {ch.key_id!r} is also used by channel {key_ids[ch.key_id]!r}")
            key_ids.setdefault(ch.key_id, ch.code)
            if ch.secret_ref is not None and not _SECRET_REF_RE.match(ch.secret_ref):
                self.err(f, ch.code, "secret_ref", line=line("secret_ref"), msg="must name a Secrets Manager secret (name or ARN), "
                         "or be null to let the platform create one")
            if ch.callback_url is not None:
                problem = url_problem(ch.callback_url)
                if problem:
                    self.err(f, ch.code, "callback_url", line=line("callback_url"), msg=problem)

    def calendar(self) -> None:
        from chalicelib.domain.calendar import CalendarError
        from chalicelib.policy.calendar_source import parse_override

        if "calendar.json" not in self.p.present_files:
            return
        try:
            parse_override(self.p.calendar)
        except CalendarError as exc:
            self.errors.append(PackError("calendar.json", _json_line(self.p, "calendar.json", exc.field),
                                         exc.field or "", exc.message))

    def policy(self) -> None:
        f = "policy.json"
        pol = self.p.policy
        if "policy.json" not in self.p.present_files:
            return
        for k in sorted(set(pol) - _POLICY_KEYS):
            self.errors.append(PackError(f, _json_line(self.p, f, k), k,
                                         f"unknown policy key (allowed: {', '.join(sorted(_POLICY_KEYS))})"))
        disp = pol.get("dispatch", {})
        if not isinstance(disp, dict):
            self.errors.append(PackError(f, _json_line(self.p, f, "dispatch"), "dispatch", "must be an object"))
            disp = {}
        for k in sorted(set(disp) - _DISPATCH_KEYS):
            self.errors.append(PackError(f, _json_line(self.p, f, k), f"dispatch.{k}",
                                         f"unknown key (allowed: {', '.join(sorted(_DISPATCH_KEYS))})"))
        for key in ("auto_threshold", "fallback_below"):
            if key in disp and not _fraction(disp[key]):
                self.errors.append(PackError(f, _json_line(self.p, f, key), f"dispatch.{key}",
                                             f"{disp[key]!r} must be a number between 0 and 1"))
        self._out_of_scope(f, disp.get("out_of_scope", []))
        gaps = disp.get("gaps_to_fallback", [])
        types = {u.unit_type for u in self.p.units} | {c.unit_type for c in self.p.catalog}
        if not isinstance(gaps, list) or not all(isinstance(x, str) for x in gaps):
            self.errors.append(PackError(f, _json_line(self.p, f, "gaps_to_fallback"), "dispatch.gaps_to_fallback",
                                         "must be a list of unit types"))
        else:
            for t in gaps:
                if t not in types:
                    self.errors.append(PackError(f, _json_line(self.p, f, t), "dispatch.gaps_to_fallback",
                                                 f"unknown unit type {t!r}"))
        self._dedup(pol.get("dedup", {}))
        deadlines = pol.get("deadlines", {})
        from chalicelib.domain.deadlines import DeadlinePolicy, PolicyError

        try:
            DeadlinePolicy.from_dict(deadlines)
        except PolicyError as exc:
            fld = f"deadlines.{exc.field}" if exc.field else "deadlines"
            self.errors.append(PackError(f, _json_line(self.p, f, (exc.field or "deadlines").split(".")[-1]),
                                         fld, exc.message))
        except (TypeError, ValueError, KeyError) as exc:
            self.errors.append(PackError(f, _json_line(self.p, f, "deadlines"), "deadlines", f"invalid: {exc}"))

    def examples(self) -> None:
        """Every example's code is a catalog code (the classifier would silently drop it)."""
        if "catalog.csv" in self.p.unreadable or any(e.file == "catalog.csv" for e in self.p.problems):
            # Unreadable file or dropped rows: the catalog's own errors say it, and examples of a
            # dropped row are not "unknown"; they are checked once the catalog reads cleanly.
            return
        codes = self.p.catalog_by_code
        unknown: dict[tuple[str, str], list[int]] = {}
        for e in self.p.examples:
            if e.code not in codes:
                unknown.setdefault((e.file, e.code), []).append(e.line)
        # One error per file and code, on its first line: a code dropped from the catalog can be
        # the label of hundreds of examples, and one line per example would bury everything else.
        for (fname, code), at in unknown.items():
            more = f"; also on {len(at) - 1} more line(s): {', '.join(map(str, at[1:6]))}" \
                + ("…" if len(at) > 6 else "") if len(at) > 1 else ""
            self.errors.append(PackError(fname, at[0], "code", f"unknown catalog code {code!r} "
                                         f"(not in catalog.csv){more}"))

    def lexicon(self) -> None:
        """Every lexicon row names a leaf of the catalog (not 兜底) and has phrases or situations."""
        f = "lexicon.csv"
        if "catalog.csv" in self.p.unreadable or any(e.file == "catalog.csv" for e in self.p.problems):
            return      # as for examples: checked once the catalog reads cleanly
        for x in self.p.lexicon:
            if x.code == FALLBACK_CODE:
                self.err(f, x.code, "code", f"the fallback row {FALLBACK_CODE} takes no phrases: name matters outside "
                         "the catalog in policy.json dispatch.out_of_scope")
            elif x.code not in self.p.catalog_by_code:
                self.err(f, x.code, "code", f"unknown catalog code {x.code!r} (not in catalog.csv)")
            if not x.phrases and not x.situations:
                self.err(f, x.code, "phrases", "neither phrases nor situations (separate them with |)")

    def _out_of_scope(self, f: str, terms: Any) -> None:
        """dispatch.out_of_scope: matters no leaf covers; a term that is also a leaf's wording would
        pull that leaf's appeals to 兜底, so it is refused with the leaf named."""
        if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
            self.errors.append(PackError(f, _json_line(self.p, f, "out_of_scope"), "dispatch.out_of_scope",
                                         "must be a list of non-empty terms"))
            return
        for t in terms:
            leaf = _scope_clash(t.strip(), self.p.catalog)
            if leaf:
                self.errors.append(PackError(f, _json_line(self.p, f, "out_of_scope"), "dispatch.out_of_scope",
                                             f"{t!r} is also the wording of catalog item {leaf}"))

    def _dedup(self, doc: Any) -> None:
        from chalicelib.domain.dedup import DedupPolicy

        f = "policy.json"
        if not isinstance(doc, dict):
            self.errors.append(PackError(f, _json_line(self.p, f, "dedup"), "dedup", "must be an object"))
            return
        fields = {x.name: x for x in dataclasses.fields(DedupPolicy)}
        default_weights = set(DedupPolicy().weights)
        for k, v in doc.items():
            line = _json_line(self.p, f, k)
            if k not in fields:
                self.errors.append(PackError(f, line, f"dedup.{k}",
                                             f"unknown key (allowed: {', '.join(sorted(fields))})"))
            elif k == "weights":
                if not isinstance(v, dict) or not set(v) <= default_weights or not all(
                        _number(x) and x >= 0 for x in v.values()):
                    self.errors.append(PackError(f, line, "dedup.weights",
                                                 f"must map {', '.join(sorted(default_weights))} to numbers >= 0"))
            elif not _number(v) or v < 0 or (k.startswith("min_") or k.endswith("threshold")) and v > 1:
                self.errors.append(PackError(f, line, f"dedup.{k}", f"{v!r} is not a valid value"))


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _scope_clash(term: str, catalog) -> Optional[str]:
    """The leaf whose name or keywords share text with an out-of-scope term, if any."""
    for c in catalog:
        if c.code != FALLBACK_CODE and any(term in w or (len(w) >= 2 and w in term) for w in (c.item, *c.keywords)):
            return c.code
    return None


def _fraction(v: Any) -> bool:
    return _number(v) and 0 <= v <= 1


def _json_line(pack: RegionPack, fname: str, key: Optional[str]) -> int:
    """Best-effort line of a key (or value) in a JSON file of the pack (1 when it cannot be told)."""
    text = pack.json_texts.get(fname)
    if text is None:
        return 0
    if key:
        return find_line(text, f'"{key}"') or 1
    return 1


def url_problem(url: str) -> Optional[str]:
    """Why a callback URL is unacceptable, or None. https only; http only to a loopback host (demo)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"{url!r} is not a URL"
    if parts.scheme not in ("https", "http") or not host:
        return f"{url!r} is not an absolute http(s) URL"
    if parts.scheme == "http" and host not in _LOOPBACK:
        return f"{url!r}: callbacks must use https (http only to localhost for local demos)"
    if parts.username or parts.password:
        return "must not carry credentials; use the channel's signing key"
    return None


# --- diff ---------------------------------------------------------------------------------------

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
    from collections import Counter

    a = Counter(_example_order(e) for e in old)
    b = Counter(_example_order(e) for e in new)

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
    sections["calendar"] = _section(_flatten(_canonical_calendar(old.calendar)) if old else {},
                                    _flatten(_canonical_calendar(new.calendar)))
    sections["examples"] = _example_section(old.examples if old else (), new.examples)
    region_old = {"region": {"name": old.name, "city_code": old.city_code}} if old else {}
    sections["region"] = _section(region_old, {"region": {"name": new.name, "city_code": new.city_code}})
    return PackDiff(sections, old.content_hash if old else None, new.content_hash)


def empty_diff(pack: RegionPack) -> PackDiff:
    return diff(pack, pack)
