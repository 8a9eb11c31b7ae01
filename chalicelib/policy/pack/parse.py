"""Reading a region pack: a folder or a {file name: text} dict into a RegionPack, keeping every parse problem."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.units import Unit
from chalicelib.nlp.classifier import LEXICON_COLUMNS
from chalicelib.nlp.gazetteer import District, Street
from chalicelib.nlp.text import split_list
from chalicelib.policy.pack.model import (
    CSV_FILES, EXAMPLE_FILE_RE, EXAMPLES_DIR, IGNORED_FILES, KNOWN_FILES, REQUIRED_FILES, ChannelSpec, Community,
    Grid, LabelledExample, LexiconEntry, PackError, RegionPack, Road,
)

_CHANNEL_KEYS = {"code", "name", "key_id", "secret_ref", "callback_url", "note"}

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
            if name.startswith(EXAMPLES_DIR) and not EXAMPLE_FILE_RE.match(name):
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
