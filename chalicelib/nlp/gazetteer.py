"""Free-text Chinese address → district / street (街道) / community (社区) of a region."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

from chalicelib.nlp.text import normalize

# Evidence strength per kind of name; a street named outright beats a landmark, which beats
# a bare community name (community names repeat across streets and are illustrative).
_WEIGHTS = {"street": 3.0, "street_core": 2.6, "road": 2.2, "road_core": 1.8,
            "community": 2.4, "community_core": 1.6}
_METHOD = {"street": "street_name", "street_core": "street_name", "road": "road",
           "road_core": "road", "community": "community", "community_core": "community"}
# Prefixes and suffixes people drop: 深圳火车站 → 火车站, 岗厦村 → 岗厦, 民治地铁站 → 民治站.
_ROAD_SUFFIXES = ("地铁站", "火车站", "高铁站", "商业街", "步行街", "大厦", "公园", "广场", "村", "站")
_ROAD_PREFIXES = ("深圳",)
_MAX_GPS_KM = 30.0
# An address that opens with a city (after an optional province) names where it is: 北京市朝阳区…,
# 湖南省长沙市…. 市场/市民/市政 are words, not cities.
_CITY_PREFIX = re.compile(r"^(?:[\u4e00-\u9fff]{2,3}(?:省|自治区))?([\u4e00-\u9fff]{2,4}?)市(?![场民政容])")


@dataclass(frozen=True)
class District:
    code: str
    name: str
    lat: float
    lng: float


@dataclass(frozen=True)
class Street:
    code: str
    district_code: str
    name: str
    lat: float
    lng: float


@dataclass(frozen=True)
class Resolution:
    """Where an appeal happened, as far as it can be told."""

    district_code: Optional[str] = None
    street_code: Optional[str] = None
    community_code: Optional[str] = None
    grid_code: Optional[str] = None
    method: str = "unresolved"
    confidence: float = 0.0
    reason: str = ""
    matched: tuple[str, ...] = ()

    @property
    def resolved(self) -> bool:
        """True when the street is known (enough for every unit level)."""
        return self.street_code is not None


@dataclass(frozen=True)
class _Name:
    text: str
    kind: str  # district, district_core, street, street_core, community, ..., road, road_core
    code: str  # district, street or community code
    street_code: Optional[str]
    district_code: str


def _strip(name: str, suffixes: tuple[str, ...]) -> Optional[str]:
    for suf in suffixes:
        if name.endswith(suf) and len(name) - len(suf) >= 2:
            return name[: -len(suf)]
    return None


def _haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


class Gazetteer:
    """Name index over a region's districts, streets, communities and roads/landmarks."""

    def __init__(self, districts: list[District], streets: list[Street],
                 communities: list[tuple[str, str, str]], roads: list[tuple[str, str]], city_name: str = ""):
        self.city_name = city_name      # the region's own city (深圳市): an address naming another is elsewhere
        self.districts = {d.code: d for d in districts}
        self.streets = {s.code: s for s in streets}
        self.communities = {c: (sc, n) for c, sc, n in communities}
        names: list[_Name] = []
        for d in districts:
            n = normalize(d.name)
            names.append(_Name(n, "district", d.code, None, d.code))
            core = _strip(n, ("新区", "区"))
            if core:
                names.append(_Name(core, "district_core", d.code, None, d.code))
        for s in streets:
            n = normalize(s.name)
            names.append(_Name(n, "street", s.code, s.code, s.district_code))
            core = _strip(n, ("街道",))
            if core:
                names.append(_Name(core, "street_core", s.code, s.code, s.district_code))
                # 街 alone, and the common typo 街到 for 街道.
                names.append(_Name(core + "街到", "street", s.code, s.code, s.district_code))
        for code, sc, name in communities:
            dist = self.streets[sc].district_code if sc in self.streets else sc[:6]
            n = normalize(name)
            names.append(_Name(n, "community", code, sc, dist))
            core = _strip(n, ("社区",))
            if core:
                names.append(_Name(core, "community_core", code, sc, dist))
        for name, sc in roads:
            dist = self.streets[sc].district_code if sc in self.streets else sc[:6]
            n = normalize(name)
            names.append(_Name(n, "road", sc, sc, dist))
            for variant in self._road_variants(n):
                names.append(_Name(variant, "road_core", sc, sc, dist))
        self._by_text: dict[str, list[_Name]] = {}
        for nm in names:
            self._by_text.setdefault(nm.text, []).append(nm)
        self._lengths = sorted({len(t) for t in self._by_text}, reverse=True)

    @staticmethod
    def _road_variants(n: str) -> set[str]:
        out = set()
        for pre in _ROAD_PREFIXES:
            if n.startswith(pre) and len(n) - len(pre) >= 3:
                out.add(n[len(pre):])
        for base in {n, *out}:
            core = _strip(base, _ROAD_SUFFIXES)
            if core:
                out.add(core)
                if base.endswith("地铁站"):
                    out.add(core + "站")
        out.discard(n)
        return {v for v in out if len(v) >= 2}

    # -- matching --------------------------------------------------------------------------
    def _scan(self, text: str) -> list[list[_Name]]:
        """Greedy longest-match scan: a longer name hides the shorter names inside it.

        Returns one group of candidate names per matched span of the text.
        """
        t = normalize(text)
        found: list[list[_Name]] = []
        i = 0
        while i < len(t):
            for ln in self._lengths:
                cand = self._by_text.get(t[i : i + ln]) if i + ln <= len(t) else None
                if cand:
                    found.append(cand)
                    i += ln
                    break
            else:
                i += 1
        return found

    def _decide(self, spans: list[list[_Name]]) -> Optional[Resolution]:
        if not spans:
            return None
        districts = {n.district_code for span in spans for n in span
                     if n.kind in ("district", "district_core")}
        score: dict[str, float] = {}
        why: dict[str, list[str]] = {}
        best_kind: dict[str, str] = {}
        community: dict[str, str] = {}
        for span in spans:
            # 龙华, 福田, 南山…: a bare word that also names a district most often means the
            # district, so it is only weak evidence for a street, road or community.
            ambiguous = any(n.kind in ("district", "district_core") for n in span)
            per_street: dict[str, tuple[float, _Name]] = {}
            for n in span:
                if n.street_code is None:
                    continue
                w = 1.0 if ambiguous else _WEIGHTS[n.kind]
                # A street outside the district the address names is suspect (names repeat).
                if districts and n.district_code not in districts:
                    w *= 0.3
                if w > per_street.get(n.street_code, (0.0, n))[0]:
                    per_street[n.street_code] = (w, n)
            for sc, (w, n) in per_street.items():
                score[sc] = score.get(sc, 0.0) + w
                why.setdefault(sc, []).append(n.text)
                if _WEIGHTS[n.kind] > _WEIGHTS.get(best_kind.get(sc, ""), 0.0):
                    best_kind[sc] = n.kind
                if n.kind.startswith("community"):
                    community[sc] = n.code
        if score:
            ranked = sorted(score.items(), key=lambda kv: -kv[1])
            sc, s = ranked[0]
            runner = ranked[1][1] if len(ranked) > 1 else 0.0
            conf = min(1.0, 0.5 + 0.15 * s) * (1.0 if runner == 0 else s / (s + runner))
            street = self.streets.get(sc)
            return Resolution(
                district_code=street.district_code if street else sc[:6], street_code=sc,
                community_code=community.get(sc), method=_METHOD[best_kind[sc]],
                confidence=round(conf, 3), matched=tuple(why[sc]))
        if len(districts) == 1:
            d = next(iter(districts))
            return Resolution(district_code=d, method="district_only", confidence=0.5,
                              reason="only the district is named", matched=(self.districts[d].name,))
        return None

    def other_city(self, address: str) -> Optional[str]:
        """The city an address opens with when it is not the region's own (北京市…), else None."""
        m = _CITY_PREFIX.match(normalize(address))
        if m is None or not self.city_name:
            return None
        city = m.group(1) + "市"
        return None if city == self.city_name or self.city_name.startswith(m.group(1)) else city

    def nearest_street(self, lat: float, lng: float) -> tuple[Optional[Street], float]:
        """Street whose centroid is closest to the point, with the distance in km."""
        best, best_d = None, float("inf")
        for s in self.streets.values():
            d = _haversine_km(lat, lng, s.lat, s.lng)
            if d < best_d:
                best, best_d = s, d
        return best, best_d

    def resolve(self, address: str, text: str = "", lat: Optional[float] = None,
                lng: Optional[float] = None, grid_code: Optional[str] = None) -> Resolution:
        """Resolve an appeal's location: address first, then GPS, then the appeal text."""
        grid_code = grid_code or None
        res = self._decide(self._scan(address or ""))
        if res and res.resolved:
            return _with(res, grid_code=grid_code)
        # Outside the region (README: "Bad times and bad places"): a place named or pointed at
        # elsewhere is not guessed into the region from the text; a dispatcher transfers it.
        elsewhere = self.other_city(address or "") if res is None else None
        if elsewhere:
            return Resolution(grid_code=grid_code, method="outside_region",
                              reason=f"outside the region: the address names {elsewhere}", matched=(elsewhere,))
        if lat is not None and lng is not None:
            street, dist = self.nearest_street(float(lat), float(lng))
            if street and dist <= _MAX_GPS_KM and (res is None or res.district_code == street.district_code):
                conf = 0.8 if dist < 2.0 else 0.6 if dist < 5.0 else 0.4
                return Resolution(street.district_code, street.code, None, grid_code, "gps", conf,
                                  "", (f"{dist:.1f}km",))
            if street and dist > _MAX_GPS_KM and res is None:
                return Resolution(grid_code=grid_code, method="outside_region",
                                  reason=f"outside the region: the GPS point is {dist:.0f} km from the nearest street",
                                  matched=(f"{dist:.0f}km",))
        if text:
            from_text = self._decide(self._scan(text))
            if from_text and from_text.resolved and (res is None or res.district_code == from_text.district_code):
                return _with(from_text, method="text", grid_code=grid_code,
                             confidence=round(from_text.confidence * 0.8, 3))
            if res is None and from_text is not None:
                return _with(from_text, method="text_district_only", grid_code=grid_code)
        if res is not None:
            return _with(res, grid_code=grid_code)
        return Resolution(grid_code=grid_code, reason="no known district, street, community or landmark")


def _with(res: Resolution, **changes) -> Resolution:
    data = {**res.__dict__, **changes}
    return Resolution(**data)
