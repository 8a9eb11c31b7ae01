"""What an appeal is about, for de-duplication: issue concepts, cue phrases (follow-up, recurrence, new matter), content words."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Mapping

from chalicelib.nlp.places import TOKENIZER
from chalicelib.nlp.text import normalize

# ---------------------------------------------------------------------------------------------
# Issue concepts.  A general hotline lexicon: each concept lists the ways citizens, operators and
# grid workers name one kind of problem.  Two appeals about one event rarely share wording but
# nearly always share the concept; two different problems at one address rarely do.
# Objects (what is broken) carry weight 1; symptoms shared by many problems (noise, smell) less.
# ---------------------------------------------------------------------------------------------

CONCEPTS: dict[str, tuple[float, tuple[str, ...]]] = {
    # 市政设施
    "manhole": (1.0, ("井盖", "窨井", "井口盖")),
    "streetlight": (1.0, ("路灯", "灯不亮", "路灯坏", "一片黑", "照明")),
    "traffic_light": (1.0, ("红绿灯", "信号灯", "闪黄灯", "交通灯")),
    "pothole": (1.0, ("坑洼", "路面破", "路面坑", "坑坑洼洼", "路面塌")),
    "road_works": (1.0, ("开挖", "施工进度", "道路施工", "占道施工")),
    "flooding": (1.0, ("积水", "水浸", "内涝", "暴雨", "下大雨")),
    "pipe_burst": (1.0, ("爆管", "水管爆", "水管破", "管爆", "爆裂", "冒水", "漏水点")),
    "water_outage": (1.0, ("停水", "没水", "没有水", "来水", "断水", "水压")),
    "water_quality": (1.0, ("黄水", "水质", "浑浊", "有异味的水")),
    "power_outage": (1.0, ("停电", "没电", "断电", "来电了")),
    "power_price": (1.0, ("转供电", "电价", "电费加价", "每度")),
    "water_bill": (1.0, ("水费",)),
    "gas_leak": (1.0, ("煤气味", "燃气泄漏", "漏气", "燃气味", "天然气味")),
    "lpg": (1.0, ("液化气", "煤气罐", "气罐", "送气点", "倒气")),
    "sewage": (1.0, ("下水道", "返臭水", "返水", "排水管", "化粪池", "粪水", "堵了", "冒污水", "疏通", "冲厕所")),
    "dirty_water": (0.5, ("污水", "脏水", "横流")),
    "garbage": (1.0, ("垃圾桶", "垃圾房", "垃圾", "清运", "拉走垃圾")),
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
    "entrapment": (1.0, ("困人", "关人", "被困")),
    "overpass": (1.0, ("天桥",)),
    "toilet": (1.0, ("公厕", "公共厕所", "公共卫生间", "厕所锁", "厕所一直")),
    "blind_path": (1.0, ("盲道",)),
    "fire_lane": (1.0, ("消防通道", "消防车道", "消防车通道")),
    "door_access": (1.0, ("门禁", "单元门")),
    "signal": (1.0, ("手机信号", "信号差", "没信号", "信号", "基站", "建站")),
    "antenna": (1.0, ("天线", "辐射")),
    "railing": (1.0, ("护栏", "栏杆")),
    "pole": (1.0, ("电线杆", "电线垂", "线杆")),
    # 市容与秩序
    "vendor": (1.0, ("摊贩", "摆摊", "流动摊", "推车", "卖水果", "小贩", "占道经营", "卖烧烤")),
    "night_stall": (1.0, ("宵夜", "烧烤", "划拳", "喝酒")),
    "bikes": (1.0, ("共享单车", "单车", "自行车")),
    "parking_lock": (1.0, ("地锁", "私装地锁", "车位")),
    "zombie_car": (1.0, ("僵尸车", "面包车", "拖走", "长期停放")),
    "illegal_building": (1.0, ("违建", "加盖", "搭建", "彩钢板", "铁皮房", "违章建筑")),
    "subdivided": (1.0, ("隔成", "分隔出租", "隔断", "小间出租")),
    "repair_shop": (1.0, ("修车", "洗车", "汽修", "拆车", "喷漆")),
    "black_car": (1.0, ("黑车", "拉客", "无营运资质", "招揽乘客")),
    "racing": (1.0, ("飙车", "炸街", "改装车", "轰油门", "排气管")),
    "bus": (1.0, ("公交", "甩站", "不停靠", "到站不停")),
    "ebike_charge": (1.0, ("电动车充电", "推进电梯", "飞线充电", "吊电线", "电动车进电梯", "楼道充电")),
    "charging_pile": (1.0, ("充电桩",)),
    "high_throw": (1.0, ("高空抛物", "楼上扔", "扔下", "酒瓶")),
    # 噪音/环境
    "noise": (0.5, ("噪音", "噪声", "吵", "扰民", "喧哗", "声音", "睡不着", "休息", "轰鸣", "哐", "睡觉")),
    # Where, not what: a construction site can be noisy, dusty or owe wages.
    "construction": (0.4, ("施工", "工地", "工程")),
    "night_works": (1.0, ("夜间施工", "深夜施工", "凌晨", "打桩", "切割", "泵车", "钢管", "钢材", "睡觉", "睡眠")),
    "music": (1.0, ("音响", "喇叭", "重低音", "蹦迪", "放音乐", "促销")),
    "bar": (1.0, ("酒吧",)),
    "neighbor_noise": (1.0, ("楼上住户", "拖椅子", "跑跳", "楼上噪音")),
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
    "wages": (1.0, ("欠薪", "工资", "工钱", "拖欠", "没发", "发工资")),
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
    "prepaid": (1.0, ("年卡", "会员", "预付", "退费", "办卡")),
    # The business vanished: shared by prepaid-card, wage and investment cases, so a weak signal.
    "runaway": (0.5, ("跑路", "关门", "停业", "失联", "人去楼空", "找不到", "关机", "转让")),
    "expired_food": (1.0, ("过期",)),
    "food_poison": (1.0, ("拉肚子", "腹泻", "上吐下泻", "食物中毒", "呕吐")),
    "price": (1.0, ("明码标价", "价格", "宰客", "结账")),
    "short_weight": (1.0, ("缺斤", "少了", "短秤")),
    "refurbished": (1.0, ("翻新机", "二手手机", "不退")),
    "medical_insurance": (1.0, ("医保卡", "医保")),
    "express": (0.4, ("快递", "驿站", "快递员", "包裹")),
    "parcel_lost": (1.0, ("签收", "没收到", "未收到", "丢件", "丢失")),
    "fee_charge": (1.0, ("收费", "收钱", "乱收费", "要收", "取件费")),
    "homestay": (1.0, ("民宿", "海景", "床单")),
    "ticket": (1.0, ("演唱会", "内场", "看台", "座位", "差价", "主办方")),
    "unlicensed_clinic": (1.0, ("诊所", "吊针", "输液", "无牌")),
    "gambling": (1.0, ("赌", "打牌", "麻将", "放风")),
    "pyramid": (1.0, ("传销",)),
    "illegal_fund": (1.0, ("理财", "养老项目", "非法吸收", "高息", "投资", "集资")),
    "unlicensed_food": (1.0, ("腊肠", "无证", "没有证", "作坊")),
    "queue": (1.0, ("排队", "引导")),
    # 公安/社会
    "telemarketing": (1.0, ("推销", "骚扰电话", "推销电话", "冒充客服")),
    "debt_collection": (1.0, ("催收", "网贷", "通讯录")),
    "fraud": (1.0, ("被骗", "诈骗", "冒充", "转账")),
    "identity": (1.0, ("冒用",)),
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


ConceptIndex = tuple[tuple[str, str, float], ...]


def concept_index(concepts: Mapping[str, tuple[float, Iterable[str]]]) -> ConceptIndex:
    """(pattern, concept, weight) rows of a concept lexicon, longest pattern first."""
    rows = [(normalize(p), cid, w) for cid, (w, pats) in concepts.items() for p in pats]
    return tuple(sorted((r for r in rows if r[0]), key=lambda r: -len(r[0])))


@lru_cache(maxsize=1)
def _concept_index() -> ConceptIndex:
    rows = concept_index(CONCEPTS)
    for pat, _, _ in rows:
        if len(pat) >= 2:
            TOKENIZER.add_word(pat, freq=1500)
    return rows


def extract_concepts(text: str, index: ConceptIndex | None = None) -> dict[str, float]:
    """Issue concepts named in a text, with their weights (`index`: another lexicon than CONCEPTS,
    as the evaluation protocol uses to hold entries out).

    Longest patterns first, and a matched span is blanked so that 下水道 does not also count as
    下水 (swimming) and 路口的灯 not also as a street light.
    """
    t = normalize(text)
    out: dict[str, float] = {}
    for pat, cid, w in (_concept_index() if index is None else index):
        if pat in t:
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
    for w in TOKENIZER.cut(t):
        w = w.strip()
        if not w or w in _STOP_WORDS or w.isdigit():
            continue
        if len(w) == 1 and not ("\u4e00" <= w <= "\u9fff"):
            continue
        toks.append(w)
    return toks
