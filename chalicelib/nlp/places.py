"""Places in appeal text and addresses for de-duplication: the region's place lexicon, place keys, kinds of premises."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import jieba

from chalicelib.nlp.text import normalize

jieba.setLogLevel(60)
# A private tokenizer: the place and concept words added to it must not change how other modules
# (dispatch classification) segment text through the global jieba dictionary.
TOKENIZER = jieba.Tokenizer()

# ---------------------------------------------------------------------------------------------
# Place lexicon.  Built from the region pack's gazetteer; names are reduced to a "core" (下沙村 -> 下沙,
# 浪心社区 -> 浪心) so that the many ways people write one place collapse to one key.
# ---------------------------------------------------------------------------------------------

# Weight of a place key by how specific it is: a street (街道) covers ~10 km², so sharing one
# says little; a road is a line; a village, landmark or building pins the event down.
LEVEL_WEIGHT = {"district": 0.0, "street": 0.25, "road": 0.6, "place": 1.0, "unit": 0.8, "other": 0.6}

# Suffixes stripped to get a place core; longest first so 新村 wins over 村.
_PLACE_SUFFIXES = ("地铁站", "火车站", "高铁站", "新村", "社区", "街道", "村", "站")
_ROAD_SUFFIXES = ("大道", "大街", "路", "道", "街")

# Words in an address that name a kind of place, not a place: never a key on their own.
_GENERIC_ADDR = set(
    "某 小区 附近 旁 旁边 边 对面 楼下 楼上 门口 一带 片区 方向 路段 路口 交叉口 交汇处 处 里 内 外 "
    "区 街道 社区 大厦 写字楼 商业楼 楼盘 新楼盘 工地 工厂 厂房 厂 公司 出租屋 出租楼 居民楼 城中村 "
    "医院 学校 小学 幼儿园 超市 市场 菜市场 药店 餐厅 快餐店 店 店铺 商铺 酒吧 网吧 健身房 诊所 驿站 "
    "民宿 机构 培训机构 养老院 垃圾站 空地 山林 后山 山脚 河边 水沟 路边 地铁站 地铁 站 出口 口 "
    "公交站 广场 中心 一楼 二楼 三楼 楼 栋 巷 号 与 和 往 去 那段 那段路 这边 那边 号楼 一 新 "
    "工业园 园区 宿舍 宿舍区 汽修店 汽修厂 修车铺 五金厂 电子厂 电镀厂 服装店 数码城 商业街 步行街".split()
)


@dataclass(frozen=True)
class PlaceLexicon:
    """Surface forms of places mapped to (canonical key, level), longest surface first."""

    surface: dict[str, tuple[str, str]]
    ordered: tuple[str, ...]
    parent: dict[str, str] = field(default_factory=dict)   # canonical key -> its street's core


def _core(name: str) -> str:
    for suf in _PLACE_SUFFIXES:
        if name.endswith(suf) and len(name) - len(suf) >= 2:
            return name[: -len(suf)]
    return name


def build_place_lexicon(districts: Iterable[Any], streets: Iterable[Any], roads: Iterable[Any],
                        communities: Iterable[Any]) -> PlaceLexicon:
    """A region's districts, streets, roads/landmarks and communities (records with `name`, and
    `code` / `street_code` where they have one, as a region pack holds them) as a lexicon.

    The words join the private tokenizer, so segmenting a text finds the region's places whole.
    """
    surface: dict[str, tuple[str, str]] = {}
    broad: set[str] = set()   # district and street cores: a landmark must not collide with them
    parent: dict[str, str] = {}
    street_core: dict[str, str] = {}

    def put(form: str, canon: str, lvl: str) -> None:
        form = normalize(form)
        if len(form) >= 2 and form not in surface:
            surface[form] = (canon, lvl)

    for row in districts:
        n = normalize(row.name)
        for form in (n, n[:-1] if n.endswith("区") else n, n[:-2] if n.endswith("新区") else n):
            put(form, form, "district")
            broad.add(form)
    for row in streets:
        n = normalize(row.name)
        put(n, _core(n), "street")
        put(_core(n), _core(n), "street")
        broad.add(_core(n))
        street_core[row.code] = _core(n)
    for row in roads:
        n = normalize(row.name)
        up = street_core.get(row.street_code, "")
        if n.endswith(("地铁站", "火车站", "高铁站", "站")):
            core = _core(n)
            # A station named after a street (民治地铁站) is far more specific than the street.
            canon = core + "站" if core in broad else core
            for form in (n, core + "地铁站", core + "地铁", core + "站"):
                put(form, canon, "place")
            put(core, core, "place")
            parent.setdefault(canon, up)
            parent.setdefault(core, up)
        elif n.endswith(_ROAD_SUFFIXES) and not n.endswith(("老街", "步行街", "商业街")):
            put(n, n, "road")
            parent.setdefault(n, up)
        else:
            core = _core(n)
            put(n, core, "place")
            put(core, core, "place")
            parent.setdefault(core, up)
    for row in communities:
        n = normalize(row.name)
        core = _core(n)
        put(n, core, "street" if core in broad else "place")
        put(core, core, "street" if core in broad else "place")
        parent.setdefault(core, street_core.get(row.street_code, ""))
    ordered = tuple(sorted(surface, key=lambda k: (-len(k), k)))
    for key in ordered:
        TOKENIZER.add_word(key, freq=2000)
    return PlaceLexicon(surface=surface, ordered=ordered, parent={k: v for k, v in parent.items() if v})


# Building/unit numbers and metro exits: 12栋, 8巷, 二巷, c出口/c口.  Normalised so "C口" == "C出口".
_UNIT_RE = re.compile(r"([0-9]+|[二三四五六七八九十][一二三四五六七八九十]*)(栋|巷|号楼|座|单元)|(?<![a-z])([a-z])(?:出口|口)")
_CN_DIGITS = {c: str(i) for i, c in enumerate("零一二三四五六七八九", 0)}


def _unit_keys(t: str) -> set[str]:
    out = set()
    for m in _UNIT_RE.finditer(t):
        if m.group(3):
            out.add(f"{m.group(3)}口")
        else:
            num = m.group(1)
            if all(c in _CN_DIGITS for c in num):
                num = "".join(_CN_DIGITS[c] for c in num)
            kind = "栋" if m.group(2) in ("栋", "号楼", "座") else m.group(2)
            out.add(f"{num}{kind}")
    return out


def _merge_roads(words: Iterable[str]) -> list[str]:
    """Glue a road suffix back to its name: jieba cuts 文心五路 into 文心/五路 and 宝源路 into 宝源/路."""
    out: list[str] = []
    for w in words:
        short_road = w.endswith(_ROAD_SUFFIXES) and len(w) <= 2
        if short_road and out and out[-1] not in _GENERIC_ADDR and len(out[-1]) >= 2 and "|" not in out[-1]:
            out[-1] = out[-1] + w
        else:
            out.append(w)
    return out


def extract_places(text: str, lexicon: PlaceLexicon, residual: bool = True,
                   parents: bool = True) -> dict[str, str]:
    """Place keys in a text, mapped to their level (street/road/place/unit/other).

    Greedy longest match against the lexicon; with residual=True the unmatched remainder is
    segmented and its non-generic words kept as "other" places (某大厦 names the lexicon lacks).
    With parents=True the street a known road/landmark/community lies in is added, so that
    "坪山大道某楼盘" and "坪山街道某楼盘" share at least their street.
    """
    lex = lexicon
    t = normalize(text)
    found: dict[str, str] = {}
    for key in _unit_keys(t):
        found[key] = "unit"
    t_units = _UNIT_RE.sub("|", t)
    rest = t_units
    i = 0
    pieces: list[str] = []
    buf = []
    while i < len(rest):
        hit = None
        for key in lex.ordered:
            if rest.startswith(key, i):
                hit = key
                break
        if hit:
            canon, lvl = lex.surface[hit]
            if lvl != "district" and found.get(canon) != "place":
                found[canon] = lvl
            pieces.append("".join(buf))
            buf = []
            i += len(hit)
            # A matched core followed by its suffix (流塘 + 新村) should not leave the suffix behind.
            for suf in _PLACE_SUFFIXES + ("大道", "路"):
                if rest.startswith(suf, i):
                    i += len(suf)
                    break
        else:
            buf.append(rest[i])
            i += 1
    pieces.append("".join(buf))
    if residual:
        for piece in pieces:
            for w in _merge_roads(TOKENIZER.cut(piece)):
                w = w.strip("|")
                if len(w) < 2 or w in _GENERIC_ADDR or w.isdigit():
                    continue
                core = _core(w)
                if w.endswith(_ROAD_SUFFIXES) and len(w) >= 3:
                    found.setdefault(w, "road")
                elif core not in _GENERIC_ADDR and not any(g in core for g in ("某", "附近")):
                    found.setdefault(core, "other")
    if parents:
        for key in list(found):
            up = lex.parent.get(key)
            if up and found.get(key) != "street":
                found.setdefault(up, "street")
    return found


# Kinds of premises named in an address.  Two appeals in one community about an electronics
# factory and a hardware factory concern two employers; generic kinds (厂, 店) match any kind
# that ends with them.
_KINDS = (
    "电子厂", "五金厂", "电镀厂", "家具厂", "制衣厂", "塑胶厂", "印刷厂", "工厂", "厂房", "厂",
    "工地", "小区", "大厦", "写字楼", "商业楼", "楼盘", "医院", "小学", "中学", "学校", "幼儿园",
    "午托", "超市", "药店", "餐厅", "快餐店", "饭店", "烧烤店", "服装店", "店", "健身房", "网吧",
    "酒吧", "诊所", "驿站", "民宿", "培训机构", "养老院", "出租屋", "菜市场", "工业园", "汽修",
    "垃圾站", "公园", "市场", "公司",
)
_KIND_ALIASES = {"厂房": "厂", "工厂": "厂", "汽修厂": "汽修", "汽修店": "汽修", "修车铺": "汽修",
                 "出租楼": "出租屋", "商业楼": "大厦", "写字楼": "大厦", "中学": "学校", "小学": "学校",
                 "饭店": "餐厅", "快餐店": "餐厅", "压缩站": "垃圾站", "工业园": "园区", "园区": "园区"}


def extract_kinds(address: str) -> list[str]:
    """Kinds of premises in an address (某电子厂 -> 电子厂), normalised through aliases."""
    t = normalize(address)
    out: list[str] = []
    for alias, kind in sorted(_KIND_ALIASES.items(), key=lambda kv: -len(kv[0])):
        if alias in t:
            out.append(kind)
            t = t.replace(alias, "|")
    for kind in _KINDS:
        if kind in t:
            out.append(_KIND_ALIASES.get(kind, kind))
            t = t.replace(kind, "|")
    return sorted(set(out))
