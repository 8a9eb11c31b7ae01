"""Feature extraction and pairwise similarity for de-duplicating appeals (重复诉求识别)."""
from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import jieba
from rapidfuzz import fuzz

from chalicelib.nlp.text import char_ngrams, normalize

jieba.setLogLevel(60)
# A private tokenizer: the place and concept words added below must not change how other modules
# (dispatch classification) segment text through the global jieba dictionary.
_TOK = jieba.Tokenizer()

_DEFAULT_REGION_DIR = Path(__file__).resolve().parents[2] / "regions" / "shenzhen"

# ---------------------------------------------------------------------------------------------
# Place lexicon.  Built from the region CSVs; names are reduced to a "core" (下沙村 -> 下沙,
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


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except OSError:
        # A deployment without the region files still de-duplicates, only with weaker address keys.
        return []


@lru_cache(maxsize=4)
def load_place_lexicon(region_dir: str | None = None) -> PlaceLexicon:
    """Load districts, streets, communities and roads/landmarks of a region into a lexicon."""
    base = Path(region_dir or os.environ.get("JIESU_REGION_DIR", "") or _DEFAULT_REGION_DIR)
    surface: dict[str, tuple[str, str]] = {}
    broad: set[str] = set()   # district and street cores: a landmark must not collide with them
    parent: dict[str, str] = {}
    street_core: dict[str, str] = {}

    def put(form: str, canon: str, lvl: str) -> None:
        form = normalize(form)
        if len(form) >= 2 and form not in surface:
            surface[form] = (canon, lvl)

    for row in _read_csv(base / "districts.csv"):
        n = normalize(row.get("name", ""))
        for form in (n, n[:-1] if n.endswith("区") else n, n[:-2] if n.endswith("新区") else n):
            put(form, form, "district")
            broad.add(form)
    for row in _read_csv(base / "streets.csv"):
        n = normalize(row.get("name", ""))
        put(n, _core(n), "street")
        put(_core(n), _core(n), "street")
        broad.add(_core(n))
        street_core[row.get("code", "")] = _core(n)
    for row in _read_csv(base / "roads.csv"):
        n = normalize(row.get("name", ""))
        up = street_core.get(row.get("street_code", ""), "")
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
    for row in _read_csv(base / "communities.csv"):
        n = normalize(row.get("name", ""))
        core = _core(n)
        put(n, core, "street" if core in broad else "place")
        put(core, core, "street" if core in broad else "place")
        parent.setdefault(core, street_core.get(row.get("street_code", ""), ""))
    ordered = tuple(sorted(surface, key=lambda k: (-len(k), k)))
    for key in ordered:
        _TOK.add_word(key, freq=2000)
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


def extract_places(text: str, lexicon: PlaceLexicon | None = None, residual: bool = True,
                   parents: bool = True) -> dict[str, str]:
    """Place keys in a text, mapped to their level (street/road/place/unit/other).

    Greedy longest match against the lexicon; with residual=True the unmatched remainder is
    segmented and its non-generic words kept as "other" places (某大厦 names the lexicon lacks).
    With parents=True the street a known road/landmark/community lies in is added, so that
    "坪山大道某楼盘" and "坪山街道某楼盘" share at least their street.
    """
    lex = lexicon or load_place_lexicon()
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
            for w in _merge_roads(_TOK.cut(piece)):
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


# ---------------------------------------------------------------------------------------------
# Issue concepts.  A general hotline lexicon: each concept lists the ways citizens, operators and
# grid workers name one kind of problem.  Two appeals about one event rarely share wording but
# nearly always share the concept; two different problems at one address rarely do.
# Objects (what is broken) carry weight 1; symptoms shared by many problems (noise, smell) less.
# ---------------------------------------------------------------------------------------------

CONCEPTS: dict[str, tuple[float, tuple[str, ...]]] = {
    # 市政设施
    "manhole": (1.0, ("井盖", "窨井", "井口盖")),
    "streetlight": (1.0, ("路灯", "灯不亮", "路灯坏", "一片黑", "黑漆漆", "黑了一大片", "照明")),
    "traffic_light": (1.0, ("红绿灯", "信号灯", "闪黄灯", "交通灯", "路口的灯", "路口灯")),
    "pothole": (1.0, ("坑洼", "路面破", "好多坑", "很多坑", "压出", "路面坑", "坑坑洼洼", "路面塌")),
    "road_works": (1.0, ("开挖", "施工进度", "围了半条路", "道路施工", "占道施工")),
    "flooding": (1.0, ("积水", "水浸", "内涝", "变成河", "车门", "熄火", "暴雨", "下大雨", "又淹")),
    "pipe_burst": (1.0, ("爆管", "水管爆", "水管破", "管爆", "爆裂", "冒水", "漏水点")),
    "water_outage": (1.0, ("停水", "没水", "没有水", "来水", "一滴水", "断水", "水压", "水很小")),
    "water_quality": (1.0, ("黄水", "水质", "浑浊", "有异味的水")),
    "power_outage": (1.0, ("停电", "没电", "断电", "全黑了", "来电了", "抢修电话")),
    "power_price": (1.0, ("转供电", "电价", "电费加价", "每度")),
    "water_bill": (1.0, ("水费",)),
    "gas_leak": (1.0, ("煤气味", "燃气泄漏", "漏气", "燃气味", "天然气味")),
    "lpg": (1.0, ("液化气", "煤气罐", "气罐", "送气点", "倒气")),
    "sewage": (1.0, ("下水道", "返臭水", "返水", "排水管", "化粪池", "粪水", "堵了", "冒污水", "疏通", "冲厕所")),
    "dirty_water": (0.5, ("污水", "脏水", "横流")),
    "garbage": (1.0, ("垃圾桶", "垃圾房", "垃圾", "清运", "满出来", "拉走垃圾")),
    "garbage_station": (1.0, ("垃圾站", "压缩站", "垃圾压缩")),
    "burning": (1.0, ("焚烧", "烧垃圾", "黑烟", "烧焦", "烧塑料", "电线皮")),
    "dumping": (1.0, ("偷倒", "倾倒", "余泥", "渣土", "建筑垃圾", "泥头车")),
    "dust": (1.0, ("扬尘", "灰尘", "带泥", "黄泥", "洗车槽", "围挡破")),
    "greenbelt": (1.0, ("绿化带", "种菜", "开垦", "毁绿")),
    "tree": (1.0, ("树枝", "大树", "榕树", "修剪", "倒树", "树木")),
    "slope": (1.0, ("边坡", "山坡", "滑坡", "裂缝", "碎石", "泥土")),
    "facade": (1.0, ("外墙", "瓷砖", "墙砖", "墙皮", "脱落", "掉下来", "玻璃幕墙", "玻璃裂", "碎渣", "碎片")),
    "signboard": (1.0, ("招牌", "广告牌", "铁架", "牌匾")),
    "lift": (1.0, ("电梯", "扶梯", "升降梯", "维保", "停运")),
    "entrapment": (1.0, ("困人", "关人", "被困", "关了二十")),
    "overpass": (1.0, ("天桥",)),
    "toilet": (1.0, ("公厕", "公共厕所", "公共卫生间", "厕所又锁", "厕所锁", "找不到厕所", "厕所一直")),
    "blind_path": (1.0, ("盲道",)),
    "fire_lane": (1.0, ("消防通道", "消防车道", "消防车通道", "消防车都进不来")),
    "door_access": (1.0, ("门禁", "单元门")),
    "signal": (1.0, ("手机信号", "信号差", "没信号", "信号", "基站", "建站")),
    "antenna": (1.0, ("天线", "辐射")),
    "railing": (1.0, ("护栏", "栏杆")),
    "pole": (1.0, ("电线杆", "电线垂", "线杆")),
    # 市容与秩序
    "vendor": (1.0, ("摊贩", "摆摊", "流动摊", "推车", "卖水果", "小贩", "占道经营", "卖烧烤")),
    "night_stall": (1.0, ("宵夜", "烧烤", "桌椅", "桌子摆", "划拳", "喝酒")),
    "bikes": (1.0, ("共享单车", "单车", "自行车")),
    "parking_lock": (1.0, ("地锁", "私装地锁", "车位")),
    "zombie_car": (1.0, ("僵尸车", "停了一年", "面包车", "拖走", "长期停放")),
    "illegal_building": (1.0, ("违建", "加盖", "搭建", "彩钢板", "铁皮房", "违章建筑")),
    "subdivided": (1.0, ("隔成", "分隔出租", "隔断", "小间出租", "隔成九间")),
    "repair_shop": (1.0, ("修车", "洗车", "汽修", "拆车", "喷漆")),
    "black_car": (1.0, ("黑车", "拉客", "无营运资质", "招揽乘客")),
    "racing": (1.0, ("飙车", "炸街", "改装车", "轰油门", "排气管")),
    "bus": (1.0, ("公交", "甩站", "不停靠", "到站不停")),
    "ebike_charge": (1.0, ("电动车充电", "推进电梯", "飞线充电", "吊电线", "电线下来", "电动车进电梯", "楼道充电")),
    "charging_pile": (1.0, ("充电桩",)),
    "high_throw": (1.0, ("高空抛物", "楼上扔", "扔下", "酒瓶")),
    # 噪音/环境
    "noise": (0.5, ("噪音", "噪声", "吵", "扰民", "喧哗", "声音", "睡不着", "休息", "轰鸣", "哐", "响", "睡觉")),
    # Where, not what: a construction site can be noisy, dusty or owe wages.
    "construction": (0.4, ("施工", "工地", "工程")),
    "night_works": (1.0, ("夜间施工", "深夜施工", "凌晨", "打桩", "切割", "泵车", "钢管", "钢材", "睡觉", "睡眠", "第三晚", "两晚")),
    "music": (1.0, ("音响", "喇叭", "重低音", "蹦迪", "放音乐", "促销")),
    "bar": (1.0, ("酒吧",)),
    "neighbor_noise": (1.0, ("楼上住户", "楼上又吵", "拖椅子", "跑跳", "楼上噪音")),
    "equipment_noise": (1.0, ("冷却塔", "楼顶设备", "低频", "风机", "空调外机")),
    "machine_noise": (1.0, ("冲压", "冲床", "机器声")),
    "smell": (0.5, ("臭", "异味", "气味", "刺鼻", "味道", "熏")),
    "fumes": (1.0, ("油烟", "排烟", "烟味")),
    "exhaust_gas": (1.0, ("废气", "偷排", "刺鼻气体", "排放")),
    "wastewater": (1.0, ("暗管", "电镀", "偷排废水")),
    "river": (1.0, ("河水", "河道", "发黑", "死鱼", "水体", "巡河")),
    "dead_poultry": (1.0, ("死鸡", "死鸭", "病死", "家禽")),
    "slaughter": (1.0, ("宰杀", "杀猪", "生猪", "猪叫", "血水")),
    "sea_trash": (1.0, ("海漂", "海滩", "海边", "海里", "沙滩")),
    "chemicals": (1.0, ("化学", "塑料桶", "危险废物")),
    "bird_net": (1.0, ("捕鸟", "鸟网", "死鸟")),
    "wild_swim": (1.0, ("野泳", "游泳", "下水", "溺水")),
    "boat": (1.0, ("快艇", "出海", "救生衣", "码头")),
    "dogs": (1.0, ("狗", "犬", "咬伤", "咬人", "追咬")),
    "rats": (1.0, ("老鼠", "灭鼠", "鼠患")),
    "odd_sky": (1.0, ("亮点", "不明飞行", "上空")),
    # 住房与物业
    "delivery_delay": (1.0, ("交房", "交付", "期房", "延期", "逾期", "停工", "烂尾", "预售")),
    "school_supply": (1.0, ("配建学校", "配套学校", "学校用地", "九年一贯制", "配建")),
    "property_fee": (1.0, ("物业费", "物业管理费", "涨价", "上调", "上涨")),
    "public_income": (1.0, ("公共收益",)),
    "elevator_install": (1.0, ("加装电梯",)),
    "leak": (1.0, ("漏水", "渗水", "发霉", "天花板")),
    "renovation": (1.0, ("装修", "砸墙", "承重墙", "拆除墙体", "房屋结构")),
    "wall_crack": (1.0, ("墙体开裂", "墙上出现", "墙上", "震动", "开裂")),
    "daylight": (1.0, ("日照", "采光", "阳光", "遮挡")),
    "collective_asset": (1.0, ("股份公司", "股份合作公司", "集体物业", "集体资产", "股民")),
    "rental_housing": (1.0, ("公租房", "保障房", "轮候")),
    # 劳动与社保
    "wages": (1.0, ("欠薪", "工资", "工钱", "拖欠", "没发", "发工资", "欠我们")),
    "social_insurance": (1.0, ("社保", "社会保险", "五险")),
    "work_injury": (1.0, ("工伤", "压伤", "医药费")),
    "pension": (1.0, ("退休金", "养老金", "退休")),
    "maternity": (1.0, ("生育津贴", "生育")),
    # 教育
    "fees_school": (1.0, ("特色课", "课程费", "收费公示", "教辅", "练习册", "资料费")),
    "training": (1.0, ("培训机构", "英语机构", "机构", "停课", "剩余学费", "学费", "上课", "节课")),
    "school_transfer": (1.0, ("转学", "公办学校", "公办小学", "学位", "入学")),
    "kindergarten_enroll": (1.0, ("幼儿园报名", "落选", "公办幼儿园")),
    "student_aid": (1.0, ("助学金", "奖学金", "助学")),
    "net_cafe": (1.0, ("网吧", "通宵", "未成年", "初中生")),
    # 市场与消费
    "prepaid": (1.0, ("年卡", "会员", "预付", "退费", "续了", "卡怎么办", "办卡")),
    # The business vanished: shared by prepaid-card, wage and investment cases, so a weak signal.
    "runaway": (0.5, ("跑路", "关门", "停业", "失联", "人去楼空", "找不到", "关机", "门都锁", "不露面", "转让")),
    "expired_food": (1.0, ("过期",)),
    "food_poison": (1.0, ("拉肚子", "腹泻", "上吐下泻", "食物中毒", "呕吐", "吐了", "吃完")),
    "price": (1.0, ("明码标价", "价格", "宰客", "结账")),
    "short_weight": (1.0, ("缺斤", "少了", "短秤", "四两")),
    "refurbished": (1.0, ("翻新机", "二手手机", "不退")),
    "medical_insurance": (1.0, ("医保卡", "医保",)),
    "express": (0.4, ("快递", "驿站", "快递员", "包裹")),
    "parcel_lost": (1.0, ("签收", "没收到", "未收到", "丢件", "丢失")),
    "fee_charge": (1.0, ("收一块", "收费", "收钱", "乱收费", "要收", "取件费")),
    "homestay": (1.0, ("民宿", "海景", "床单")),
    "ticket": (1.0, ("演唱会", "内场", "看台", "座位", "差价", "主办方")),
    "unlicensed_clinic": (1.0, ("诊所", "吊针", "输液", "无牌")),
    "gambling": (1.0, ("赌", "打牌", "麻将", "放风")),
    "pyramid": (1.0, ("传销",)),
    "illegal_fund": (1.0, ("理财", "养老项目", "非法吸收", "高息", "投资", "集资")),
    "unlicensed_food": (1.0, ("腊肠", "无证", "没有证", "作坊")),
    "queue": (1.0, ("排队", "引导", "引倒")),
    # 公安/社会
    "telemarketing": (1.0, ("推销", "骚扰电话", "推销电话", "冒充客服")),
    "debt_collection": (1.0, ("催收", "网贷", "通讯录", "逾期后")),
    "fraud": (1.0, ("被骗", "诈骗", "冒充", "转账")),
    "identity": (1.0, ("冒用", "身份被", "名下多了")),
    "smoking": (1.0, ("抽烟", "吸烟")),
    "elder_abuse": (1.0, ("养老院", "护工", "淤青", "监控")),
    "medical_dispute": (1.0, ("医疗事故", "手术", "感染", "医生态度", "门诊")),
    "vaccine": (1.0, ("疫苗", "hpv")),
    # 民政/服务
    "dibao": (1.0, ("低保", "生活困难", "救助")),
    "disability": (1.0, ("残疾", "残联", "轮椅", "肢体")),
    "veteran": (1.0, ("退役军人", "优待")),
    "marriage": (1.0, ("领证", "结婚登记", "婚姻登记")),
    "license": (1.0, ("营业执照", "个体户")),
    "ticket_followup": (1.0, ("工单", "办结", "重新办理")),
    "env_review": (1.0, ("环评", "污泥处理")),
    "sulfur_smell": (1.0, ("臭鸡蛋",)),
    "social_transfer": (1.0, ("社保转", "转入深圳", "转移")),
}


@lru_cache(maxsize=1)
def _concept_index() -> tuple[tuple[str, str, float], ...]:
    rows = [(normalize(p), cid, w) for cid, (w, pats) in CONCEPTS.items() for p in pats]
    for pat, _, _ in rows:
        if len(pat) >= 2:
            _TOK.add_word(pat, freq=1500)
    return tuple(sorted(rows, key=lambda r: -len(r[0])))


def extract_concepts(text: str) -> dict[str, float]:
    """Issue concepts named in a text, with their weights.

    Longest patterns first, and a matched span is blanked so that 下水道 does not also count as
    下水 (swimming) and 路口的灯 not also as a street light.
    """
    t = normalize(text)
    out: dict[str, float] = {}
    for pat, cid, w in _concept_index():
        if pat and pat in t:
            out[cid] = w
            t = t.replace(pat, "|")
    return out


# Events that end within hours or days (a burst pipe, an outage, a gas smell, a flooded junction):
# the same kind of event at the same place a week later is a new event.
TRANSIENT_CONCEPTS = frozenset({"water_outage", "power_outage", "gas_leak", "flooding", "pipe_burst",
                                "food_poison"})


# ---------------------------------------------------------------------------------------------
# Cue detectors.
# ---------------------------------------------------------------------------------------------

# The earlier matter was fixed and the problem came back: a new matter (README hard negative).
# A fix word (修好/疏通/清理/处理好…) said about the past, followed by a relapse (又/再次/现在…).
_FIXED_RE = re.compile(
    r"(上次|上个月|之前|前段时间|[一二三四五六七八九十\d]+月份?|去年|年初|刚)[^，。！？,.!?]{0,8}"
    r"(修好|修复|疏通|清理|清掏|处理好|整改好|换了|更换|维修过|解决了|弄好)"
)
_RELAPSE_RE = re.compile(r"(又|再次|重新|还是)(坏|堵|黑|漏|冒|返|出现|不亮|停|淹|塌|裂|来了)")

# The appellant says this is a separate matter from what they reported before.
_NEW_MATTER_RE = re.compile(r"(两回事|另一件事|另外一件事|另一个问题|不是同一|另外反映|不是上次|专门说)")

# The appellant refers back to an earlier report of the same matter.
_FOLLOWUP_RE = re.compile(
    r"(再次|又来电|第[二三四五六七八九十\d]次|上次反映|之前反映|上周反映|前次反映|此前|"
    r"之前打过|已经打过|打过电话|补充一下|再补充|刚才打了|进展|进度|还没结果|仍未|还是没|"
    r"有没有人管|到现在还|至今)"
)


def recurrence_cue(text: str) -> bool:
    """True when the text says the problem had been fixed before and is back (上次修好了又坏了)."""
    t = normalize(text)
    return bool(_FIXED_RE.search(t)) and bool(_RELAPSE_RE.search(t) or "又" in t)


def new_matter_cue(text: str) -> bool:
    """True when the text itself says it is a different matter from an earlier report."""
    return bool(_NEW_MATTER_RE.search(normalize(text)))


def followup_cue(text: str) -> bool:
    """True when the text refers to an earlier report (再次来电, 上次反映, 进展如何…)."""
    return bool(_FOLLOWUP_RE.search(normalize(text)))


# ---------------------------------------------------------------------------------------------
# Content tokens.
# ---------------------------------------------------------------------------------------------

# Operator boilerplate and function words that every appeal shares.
_STOP_PHRASES = (
    "市民来电反映", "市民来电称", "市民来电", "来电人反映", "来电人称", "来电人", "网格员巡查发现",
    "网格员排查发现", "网格员核查", "网格员巡山发现", "网格员", "党员志愿者发现", "党员志愿者",
    "110转来", "报警人称", "扫码反映", "扫码", "尊敬的领导", "区人大代表反映", "业主联名反映",
    "联名反映", "请相关部门", "相关部门", "要求", "请求", "恳请", "反映", "咨询", "询问", "投诉",
    "举报", "希望", "建议", "请尽快处理", "尽快处理", "处理",
)
_STOP_WORDS = set(
    "的 了 是 在 有 我 我们 你 他 她 它 这 那 个 也 都 就 还 又 很 太 吧 吗 呢 啊 呀 和 与 及 "
    "其 该 称 说 被 把 给 让 对 从 到 向 于 为 着 过 一个 一 这个 那个 什么 怎么 怎么办 没有 没 "
    "不 能 会 要 想 问 请 已 已经 现在 今天 昨天 晚上 早上 每天 天天 一直 好 多 大 小 几 "
    "上 下 里 旁边 附近 那边 这边 那家 这家 某 有人 人 时候 问题 情况 事 事情 一下 一点 "
    "还是 到底 根本 真的 非常 严重 啦 哦 嘛 吗 呗 等 等等 以及 及其 并 且 但 但是 而且 就是 "
    "还有 可以 能不能 有没有 是不是 为什么 如何 多少".split()
)


def content_tokens(text: str, places: Iterable[str] = ()) -> list[str]:
    """Segmented content words: boilerplate, function words and place names removed."""
    _concept_index()  # make sure concept phrases are in jieba's dictionary
    t = normalize(text)
    for p in _STOP_PHRASES:
        t = t.replace(p, " ")
    for p in sorted(places, key=len, reverse=True):
        if len(p) >= 2:
            t = t.replace(p, " ")
    toks = []
    for w in _TOK.cut(t):
        w = w.strip()
        if not w or w in _STOP_WORDS or w.isdigit():
            continue
        if len(w) == 1 and not ("\u4e00" <= w <= "\u9fff"):
            continue
        toks.append(w)
    return toks


# ---------------------------------------------------------------------------------------------
# Appeal features.
# ---------------------------------------------------------------------------------------------


@dataclass
class AppealFeatures:
    """Everything de-duplication needs about one appeal; small, JSON-serialisable, no PII."""

    appeal_id: str
    received_at: float                        # hours since the Unix epoch
    channel: str = ""
    appeal_type: str = ""
    places: dict[str, str] = field(default_factory=dict)        # from the address field
    text_places: dict[str, str] = field(default_factory=dict)   # named in the text
    kinds: list[str] = field(default_factory=list)              # kinds of premises (电子厂)
    concepts: dict[str, float] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    recurrence: bool = False
    followup: bool = False
    new_matter: bool = False
    geocell: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "appeal_id": self.appeal_id, "received_at": self.received_at, "channel": self.channel,
            "appeal_type": self.appeal_type, "places": dict(self.places),
            "text_places": dict(self.text_places), "kinds": list(self.kinds), "concepts": dict(self.concepts),
            "tokens": list(self.tokens), "recurrence": self.recurrence, "followup": self.followup,
            "new_matter": self.new_matter, "geocell": self.geocell,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AppealFeatures":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _hours(ts: Any) -> float:
    if isinstance(ts, (int, float)):
        return float(ts)
    if isinstance(ts, datetime):
        return ts.timestamp() / 3600.0
    return datetime.fromisoformat(str(ts)).timestamp() / 3600.0


def geocell(lat: float | None, lng: float | None, precision: float = 0.005) -> str:
    """A ~500 m grid cell id for a coordinate ("" when unknown); neighbours are not merged."""
    if lat is None or lng is None:
        return ""
    return f"g{math.floor(float(lat) / precision)}:{math.floor(float(lng) / precision)}"


def extract_features(appeal: Mapping[str, Any], lexicon: PlaceLexicon | None = None) -> AppealFeatures:
    """Features of an appeal dict with id, received_at, text, address, channel, appeal_type, lat, lng.

    `lexicon` is the region's place lexicon (load_place_lexicon(region_dir)); default: the demo region.
    """
    text = appeal.get("text", "") or ""
    address = appeal.get("address", "") or ""
    places = extract_places(address, lexicon)
    text_places = extract_places(text, lexicon, residual=False, parents=False)
    return AppealFeatures(
        appeal_id=str(appeal.get("id") or appeal.get("appeal_id") or ""),
        received_at=_hours(appeal.get("received_at", 0)),
        channel=appeal.get("channel", "") or "",
        appeal_type=appeal.get("appeal_type", "") or "",
        places=places,
        text_places=text_places,
        # Only the address field: texts name premises in passing (公司, 隔壁工地) too loosely.
        kinds=extract_kinds(address),
        concepts=extract_concepts(text),
        tokens=content_tokens(text, list(places) + list(text_places)),
        recurrence=recurrence_cue(text),
        followup=followup_cue(text),
        new_matter=new_matter_cue(text),
        geocell=geocell(appeal.get("lat"), appeal.get("lng")),
    )


# ---------------------------------------------------------------------------------------------
# Pairwise similarity.
# ---------------------------------------------------------------------------------------------


_SPECIFIC_LEVELS = ("place", "unit", "other")


def _place_weights(f: AppealFeatures) -> dict[str, float]:
    w = {k: LEVEL_WEIGHT.get(v, 0.5) for k, v in f.places.items()}
    # Places named only in the text count when the address field itself is vague (宝安区西乡街道,
    # 文心五路附近): texts also mention other places in passing (也学下沙), so a specific address
    # field wins over the text.
    if not any(v in _SPECIFIC_LEVELS for v in f.places.values()):
        for k, v in f.text_places.items():
            w.setdefault(k, 0.7 * LEVEL_WEIGHT.get(v, 0.5))
    return {k: v for k, v in w.items() if v > 0}


def _kinds_conflict(a: AppealFeatures, b: AppealFeatures) -> bool:
    """Both addresses name a kind of premises and no kind is compatible (电子厂 vs 五金厂)."""
    if not a.kinds or not b.kinds:
        return False
    for ka in a.kinds:
        for kb in b.kinds:
            if ka == kb or ka in kb or kb in ka:
                return False
    return True


def address_similarity(a: AppealFeatures, b: AppealFeatures) -> float:
    """Weighted Dice over place keys, halved when each side names a specific place the other lacks.

    Sharing a long road or a street is weak; two appeals that each name a different village,
    building or metro exit are at different places even on the same road.
    """
    wa, wb = _place_weights(a), _place_weights(b)
    if not wa or not wb:
        return 0.0
    shared_keys = wa.keys() & wb.keys()
    shared = sum(min(wa[k], wb[k]) for k in shared_keys)
    only_a = {k: v for k, v in wa.items() if k not in wb}
    only_b = {k: v for k, v in wb.items() if k not in wa}
    # Shortened names (宝源 vs 宝源路, 民治 vs 民治站) count half and are no longer "different".
    for ka in list(only_a):
        for kb in list(only_b):
            if ka in only_a and kb in only_b and (ka in kb or kb in ka):
                shared += 0.5 * min(only_a.pop(ka), only_b.pop(kb))
    if shared <= 0:
        return 0.0
    sim = shared / (shared + 0.5 * (sum(only_a.values()) + sum(only_b.values())))
    lv_a, lv_b = {**a.text_places, **a.places}, {**b.text_places, **b.places}
    # A differing road counts too: 西乡大道与宝源路口 and 西乡大道坪洲站 are a kilometre apart.
    diff_a = any(lv_a.get(k) in _SPECIFIC_LEVELS + ("road",) and k in a.places for k in only_a)
    diff_b = any(lv_b.get(k) in _SPECIFIC_LEVELS + ("road",) and k in b.places for k in only_b)
    shared_specific = any(lv_a.get(k) in _SPECIFIC_LEVELS for k in shared_keys)
    if diff_a and diff_b and not shared_specific:
        sim *= 0.5
    if _kinds_conflict(a, b):
        # Same community, different premises: two factories in 官田 are two employers.
        sim = min(sim, 0.1)
    return round(min(1.0, sim), 4)


def specific_place_shared(a: AppealFeatures, b: AppealFeatures) -> float:
    """Weight of the most specific place both appeals name (0 when they share only a street)."""
    wa, wb = _place_weights(a), _place_weights(b)
    best = 0.0
    for k in wa.keys() & wb.keys():
        best = max(best, min(wa[k], wb[k]))
    return best


def concept_similarity(a: AppealFeatures, b: AppealFeatures) -> float:
    """Overlap of weighted issue concepts.

    A concept only one side names costs little (a terse report names one thing, a long one
    three); concepts each side names and the other does not mean two different problems.
    """
    ca, cb = a.concepts, b.concepts
    if not ca or not cb:
        return 0.0
    shared = sum(min(ca[k], cb[k]) for k in ca.keys() & cb.keys())
    if shared <= 0:
        return 0.0
    only_a = sum(v for k, v in ca.items() if k not in cb)
    only_b = sum(v for k, v in cb.items() if k not in ca)
    penalty = 1.0 * min(only_a, only_b) + 0.25 * max(only_a, only_b)
    return shared / (shared + penalty)


def transient_match(a: AppealFeatures, b: AppealFeatures) -> bool:
    """True when every shared object concept is a short-lived event (outage, burst pipe…)."""
    shared = [k for k in a.concepts.keys() & b.concepts.keys() if a.concepts[k] >= 1.0]
    return bool(shared) and all(k in TRANSIENT_CONCEPTS for k in shared)


def token_similarity(a: AppealFeatures, b: AppealFeatures) -> float:
    """rapidfuzz token-set ratio over segmented content words, 0..1."""
    if not a.tokens or not b.tokens:
        return 0.0
    return fuzz.token_set_ratio(" ".join(a.tokens), " ".join(b.tokens)) / 100.0


def bigram_similarity(a: AppealFeatures, b: AppealFeatures) -> float:
    """Dice over character bigrams of content words (robust to segmentation differences)."""
    ga = {g for t in a.tokens for g in (char_ngrams(t, 2) if len(t) > 1 else [t])}
    gb = {g for t in b.tokens for g in (char_ngrams(t, 2) if len(t) > 1 else [t])}
    if not ga or not gb:
        return 0.0
    return 2 * len(ga & gb) / (len(ga) + len(gb))


def content_similarity(a: AppealFeatures, b: AppealFeatures, concept: float | None = None,
                       bigrams: float | None = None) -> float:
    """Concept overlap, or shared wording when the lexicon does not cover one side.

    When both texts name object concepts and share none, they describe different problems and
    wording cannot overrule that.  Otherwise shared character bigrams of content words count
    too: on dev, duplicates have a median bigram Dice of ~0.17 while non-duplicates at the same
    place stay below ~0.1, so the text score ramps from 0 at 0.1 to 1 at 0.35.
    """
    concept = concept_similarity(a, b) if concept is None else concept
    bigrams = bigram_similarity(a, b) if bigrams is None else bigrams
    objects_a = {k for k, w in a.concepts.items() if w >= 1.0}
    objects_b = {k for k, w in b.concepts.items() if w >= 1.0}
    if objects_a and objects_b and not (a.concepts.keys() & b.concepts.keys()):
        return concept
    text = min(1.0, max(0.0, (bigrams - 0.1) / 0.25))
    return max(concept, text)


def pair_features(new: AppealFeatures, old: AppealFeatures, same_party: bool = False) -> dict[str, float]:
    """Numeric features for (new appeal, earlier candidate); input to domain.dedup.score_pair."""
    concept = concept_similarity(new, old)
    tokens = token_similarity(new, old)
    bigrams = bigram_similarity(new, old)
    return {
        "concept": round(concept, 4),
        "tokens": round(tokens, 4),
        "bigrams": round(bigrams, 4),
        "content": round(content_similarity(new, old, concept, bigrams), 4),
        "concepts_both": 1.0 if new.concepts and old.concepts else 0.0,
        "transient": 1.0 if transient_match(new, old) else 0.0,
        "address": round(address_similarity(new, old), 4),
        "place_specific": round(specific_place_shared(new, old), 4),
        "same_geocell": 1.0 if new.geocell and new.geocell == old.geocell else 0.0,
        "same_party": 1.0 if same_party else 0.0,
        "gap_hours": round(abs(new.received_at - old.received_at), 3),
        "recurrence": 1.0 if new.recurrence else 0.0,
        "followup": 1.0 if new.followup else 0.0,
        "new_matter": 1.0 if new.new_matter else 0.0,
        "same_channel": 1.0 if new.channel and new.channel == old.channel else 0.0,
        "same_type": 1.0 if new.appeal_type and new.appeal_type == old.appeal_type else 0.0,
    }


# ---------------------------------------------------------------------------------------------
# Blocking.
# ---------------------------------------------------------------------------------------------

MAX_PLACE_KEYS = 4


def blocking_keys(features: AppealFeatures, party_hashes: Iterable[str] = ()) -> list[str]:
    """Keys under which an appeal is indexed and its candidates looked up (no scans).

    party hashes ("p:…"), the most specific place keys ("a:…", villages/landmarks/buildings before
    roads before streets), and the geocell ("g:…").  The street key is needed as a fallback; only one street key is kept, because a street holds many
    appeals and the bounded read then sees only the newest ones.
    """
    keys: list[str] = [f"p:{h}" for h in party_hashes if h]
    rank = {"place": 0, "other": 1, "road": 2, "street": 3}
    cands = [(rank[l], -len(k), k) for k, l in features.places.items() if l in rank]
    # Text-named places are keys too: the address field is often just a street (宝安区西乡街道).
    cands += [(rank[l] + 0.5, -len(k), k) for k, l in features.text_places.items()
              if l in rank and k not in features.places]
    cands.sort()
    specific = [c for c in cands if c[0] < 3][:MAX_PLACE_KEYS]
    streets = [c for c in cands if c[0] == 3][:1]
    chosen = specific + streets
    for _, _, k in chosen:
        keys.append(f"a:{k}")
    if features.geocell:
        keys.append(f"g:{features.geocell}")
    seen: set[str] = set()
    return [k for k in keys if not (k in seen or seen.add(k))]
