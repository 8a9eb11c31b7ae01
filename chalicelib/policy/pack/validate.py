"""Validation of a region pack: every problem at once (parse and meaning), each naming file, line, field and message.

Coverage rule (每个事项都有人管): see chalicelib.policy.pack.
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Optional
from urllib.parse import urlsplit

from chalicelib.channels.registry import channel_codes
from chalicelib.domain.archive import ArchivePolicy
from chalicelib.domain.calendar import CalendarError
from chalicelib.domain.catalog import FALLBACK_CODE
from chalicelib.domain.deadlines import DeadlinePolicy, PolicyError
from chalicelib.domain.dedup import DedupPolicy
from chalicelib.domain.public_view import public_policy_problems
from chalicelib.domain.ranking import policy_problems as analytics_policy_problems
from chalicelib.domain.return_visit import policy_problems as visit_policy_problems
from chalicelib.policy.calendar_source import parse_override
from chalicelib.policy.pack.model import CSV_FILES, REQUIRED_FILES, PackError, RegionPack, jurisdictions
from chalicelib.policy.pack.parse import Progress, find_line

LEVELS = ("city", "district", "street", "community", "grid")
CATALOG_LEVELS = ("city", "district", "street", "community")
EXTRA_CHANNEL_CODES = ("open311",)  # served by the Open311 GeoReport API, not a partner adapter
MAX_CHANNELS = 40                   # channel registrations are written in one transaction
REGION_CODE_RE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")

_CODE_RE = re.compile(r"^\d{2}\.\d{2}\.\d{3}$")
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
_SECRET_REF_RE = re.compile(r"^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$")
_UNIT_ID_RE = re.compile(r"^U\d{6,15}-[A-Za-z0-9]+$")
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")
_POLICY_KEYS = {"dispatch", "dedup", "deadlines", "supervision", "public_record", "return_visit", "analytics", "note",
                "_comment", "archive"}
_SUPERVISION_KEYS = {"copy_unit_types", "note"}
_DISPATCH_KEYS = {"auto_threshold", "fallback_below", "gaps_to_fallback", "out_of_scope", "note"}


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
        if not REGION_CODE_RE.match(self.p.code or ""):
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
        self._supervision(f, pol.get("supervision", {}))
        self._return_visit(f, pol.get("return_visit", {}))
        self._public_record(f, pol.get("public_record", {}))
        self._analytics(f, pol.get("analytics", {}))
        self._dedup(pol.get("dedup", {}))
        try:   # 归档: settling window, Object Lock retention, shredding (domain.archive)
            ArchivePolicy.from_dict(pol.get("archive") if isinstance(pol.get("archive"), dict) else {})
            if "archive" in pol and not isinstance(pol["archive"], dict):
                raise ValueError("must be an object")
        except ValueError as exc:
            self.errors.append(PackError(f, _json_line(self.p, f, "archive"), "archive", str(exc)))
        deadlines = pol.get("deadlines", {})
        try:
            DeadlinePolicy.from_dict(deadlines)
        except PolicyError as exc:
            fld = f"deadlines.{exc.field}" if exc.field else "deadlines"
            self.errors.append(PackError(f, _json_line(self.p, f, (exc.field or "deadlines").split(".")[-1]),
                                         fld, exc.message))
        except (TypeError, ValueError, KeyError) as exc:
            self.errors.append(PackError(f, _json_line(self.p, f, "deadlines"), "deadlines", f"invalid: {exc}"))

    def _supervision(self, f: str, sup: Any) -> None:
        """Who a supervision notice (督办函) is copied to: units of these types one level above."""
        if not isinstance(sup, dict):
            self.errors.append(PackError(f, _json_line(self.p, f, "supervision"), "supervision", "must be an object"))
            return
        for k in sorted(set(sup) - _SUPERVISION_KEYS):
            self.errors.append(PackError(f, _json_line(self.p, f, k), f"supervision.{k}",
                                         f"unknown key (allowed: {', '.join(sorted(_SUPERVISION_KEYS))})"))
        types = sup.get("copy_unit_types", [])
        known = {u.unit_type for u in self.p.units}
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            self.errors.append(PackError(f, _json_line(self.p, f, "copy_unit_types"), "supervision.copy_unit_types",
                                         "must be a list of unit types"))
            return
        for t in types:
            if t not in known:
                self.errors.append(PackError(f, _json_line(self.p, f, t), "supervision.copy_unit_types",
                                             f"no unit of type {t!r} in units.csv"))

    def _return_visit(self, f: str, doc: Any) -> None:
        """Which answered rounds get a return visit (回访) and how it is tried (domain.return_visit)."""
        for field, message in visit_policy_problems(doc):
            name = f"return_visit.{field}" if field else "return_visit"
            self.errors.append(PackError(f, _json_line(self.p, f, field or "return_visit"), name, message))

    def _public_record(self, f: str, doc: Any) -> None:
        """What the public record keeps out, scrubs and ranks (domain.public_view.PublicPolicy)."""
        for field, message in public_policy_problems(doc, self.p.catalog_by_code):
            name = f"public_record.{field}" if field else "public_record"
            self.errors.append(PackError(f, _json_line(self.p, f, field or "public_record"), name, message))

    def _analytics(self, f: str, doc: Any) -> None:
        """The metrics' satisfied and resolved answers, the composite's weights, the red and black lists."""
        for field, message in analytics_policy_problems(doc):
            name = f"analytics.{field}" if field else "analytics"
            self.errors.append(PackError(f, _json_line(self.p, f, field or "analytics"), name, message))

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
