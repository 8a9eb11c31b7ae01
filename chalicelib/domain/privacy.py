"""Personal data: masked hints for staff views, and scrub_public for text shown publicly (stdlib only)."""
from __future__ import annotations

import re
from typing import Any


def mask_id_number(value: str) -> str:
    """440305199001011234 -> 440305********1234 (region prefix and last four kept)."""
    if not value:
        return ""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """13812345678 -> 138****5678."""
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """张三丰 -> 张**: staff see the surname only unless the role allows more."""
    return value[:1] + "*" * (len(value) - 1) if value else ""


# Personal data typed into free text (content, address, a rating's comment, an error message):
# an ID number (18 or 15 digits), a mobile (optionally +86, with spaces or dashes) or a fixed
# line with its area code. Digits that touch other digits are not matched (an order number).
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
_FIXED_LINE = re.compile(r"(?<!\d)0\d{2,3}[ -]?\d{7,8}(?!\d)")


def mask_free_text(text: str) -> str:
    """Mask ID numbers and phone numbers inside free text as the party fields are masked."""
    if not text:
        return text or ""
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group()), text)
    text = _MOBILE.sub(lambda m: mask_phone(re.sub(r"[ -]", "", m.group())), text)
    return _FIXED_LINE.sub(lambda m: mask_phone(re.sub(r"[ -]", "", m.group())), text)


def mask_deep(value):
    """mask_free_text over every string inside lists and dicts (case-file event data)."""
    if isinstance(value, str):
        return mask_free_text(value)
    if isinstance(value, list):
        return [mask_deep(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_deep(v) for k, v in value.items()}
    return value


# ------------------------------------------------------------------------------ public scrubbing
#
# Staff views show masked hints (above); the public sees nothing of a person. scrub_public is the
# one scrubber for every text shown publicly (a public record page, a citizen's tracking page,
# Open311 listings): each piece of personal data it finds becomes PLACEHOLDER; everything else is
# kept as written. The patterns run on a copy whose full-width digits, letters and signs are
# half-width (one character for one, so a span found in the copy is the same span of the text).
# Names are found from context only (a title, an introduction, a label). jieba's person-name tag
# (nr, 2-3 characters starting with a surname) was measured as an extra signal and left out
# (bench/eval_scrubber.py --jieba): on the 620 dev texts, which hold no names, it would remove 53
# words and place names (高峰, 许可, 安静, 石岩…), and it tags only 340 of 620 planted names; the
# domain layer may not import jieba anyway (tests/unit/test_layers.py).

PLACEHOLDER = "＊＊"

_HALF = str.maketrans({**{chr(0xFF10 + i): chr(0x30 + i) for i in range(10)},
                       **{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)},
                       **{chr(0xFF41 + i): chr(0x61 + i) for i in range(26)},
                       "＠": "@", "＋": "+", "－": "-", "—": "-", "–": "-", "．": ".", "　": " ", "＿": "_", "＃": "#"})

# 230 common single surnames (the ~100 most common first), minus characters that are far
# more often a word of their own (和 时 都 来 全 原 班 管 卫 车 门 连 区 位 明 成 房 乐 修 居 支 ...), and
# the common two-character surnames (复姓).
_SURNAMES_1 = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
               "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
               "覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚"
               "符舒阮柯纪梅童凌毕单季裴霍涂苗谷盛曲翁冉骆蓝游辛靳柴蒙鲍喻祁蒲滕屈饶解艾尤穆卓古吉缪简项麦"
               "褚娄窦戚岑景党宫费卜冷晏席米柏宗瞿桂佟臧闵苟邬卞姬仇栾隋刁巫寇桑郎甄仲虞敖巩佘池邝鞠荆冀郁胥")
_SURNAMES_2 = ("欧阳", "司马", "诸葛", "上官", "司徒", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "令狐", "夏侯",
               "端木", "西门", "南宫", "独孤", "轩辕", "闻人", "澹台", "申屠", "钟离", "宗政", "濮阳", "呼延", "东方")
SURNAMES = frozenset(_SURNAMES_1) | frozenset(_SURNAMES_2)

# A surname character right after one of these characters ends a common word (感谢老师, 照顾老人,
# 保安队长, 提高老人…, 上周老师说, 有关老师, 欺凌同学, 福田老人): not a name before a title.
_WORD_BEFORE = {
    "安": "保治公平西长晚早问宝心", "方": "甲乙对双校警官院厂资业商店卖买东西南北地多各一他她我你男女",
    "史": "历", "文": "语中英外人天日韩法德俄公论原课作散", "高": "提最很太升偏过较增抬拔更挺身崇清加调好多不也都还比又",
    "常": "经正非日通异反平时", "金": "资现押租奖基税薪黄美礼赔定违罚", "周": "每上下本这那一两几前半", "林": "园树森竹山",
    "江": "长珠", "田": "福盐农稻种油水", "余": "其多剩业结", "万": "一十百千几上", "钱": "有没花赚交付给退工价车房罚要收",
    "任": "主责信担放前继新", "白": "明空洁雪蛋黑", "孙": "子外儿", "段": "路地时阶手片", "程": "工课过流全日行教规",
    "严": "庄森威戒", "陆": "大内登着", "康": "健", "梁": "桥脊栋", "范": "示规防模师", "章": "文盖规印",
    "童": "儿孩学", "毛": "羽皮", "温": "气体高低水室保", "季": "四夏冬春秋旺淡雨换", "易": "交容简贸不",
    "包": "书红钱背面打承", "牛": "黄水奶", "关": "相机海公开有无", "甘": "不", "宁": "安丁", "尚": "时高",
    "华": "中龙繁豪奢精", "解": "了讲理调和破误缓", "叶": "树茶落", "苏": "江复", "谢": "感答致多鸣酬",
    "贺": "祝庆道恭", "戴": "爱穿佩", "许": "允也或特默期准", "杨": "白", "陈": "新", "黄": "金蛋焦枯泛橙米",
    "雷": "地避打", "顾": "照回光不兼", "施": "措设实", "伍": "队入", "庄": "村农山", "鲁": "粗", "焦": "聚",
    "祝": "庆", "符": "相", "纪": "年违法军世", "凌": "欺", "毕": "完", "单": "名清账订工传简菜表买床孤", "涂": "糊",
    "苗": "疫树", "翁": "老渔", "游": "旅导上下网手", "辛": "艰", "蒙": "启", "喻": "比", "屈": "委", "饶": "求富",
    "古": "考", "项": "事款", "景": "风背场", "费": "收缴交学物免经话电水燃", "冷": "寒", "席": "主出缺", "米": "大",
    "石": "宝矿", "马": "斑竹赛",
}
# ... and a surname character right before one of these starts a common word (高中老师, 周边老人,
# 关于老师, 罗湖老人, 谢谢老师, 党委书记, 项目经理, 任课老师): not a name either.
_WORD_AFTER = {
    "高": "一二三中级职校龄层管速铁新压温空档端考", "周": "边末岁年围", "罗": "湖", "龙": "华岗城", "石": "岩",
    "金": "融额", "余": "额下", "万": "科", "黄": "金", "华": "强侨", "梅": "林", "田": "心", "江": "西苏",
    "安": "全置排装", "方": "便面案式向法", "文": "件化明", "常": "见规", "关": "于系注心", "于": "是",
    "单": "位元独", "康": "复", "程": "序度", "许": "多可", "杨": "梅", "马": "路上", "段": "时",
    "谢": "谢", "党": "委组支员", "项": "目", "任": "何务教课职",
}
# 向 and 于 are first of all prepositions (向老人推销, 于老师处…): before a title they count as a
# surname only after a character that is not a CJK character (the start, a punctuation mark) and
# with a given name (，向华老师 goes, ，向老师反映 stays).
_PREPOSITIONS = "向于"
_HAN = "\u4e00-\u9fff"


def _surname_pattern(before: bool) -> str:
    alts = list(_SURNAMES_2)
    plain = []
    for s in _SURNAMES_1:
        ctx = ""
        if before and s in _PREPOSITIONS:
            ctx += f"(?<![{_HAN}]){s}(?={_GIVEN}{{1,2}}{_TITLE})"
            alts.append(ctx)
            continue
        elif before and s in _WORD_BEFORE:
            ctx += f"(?<![{_WORD_BEFORE[s]}])" + ("(?<!(?<!感)谢)" if s == "谢" else "")  # 谢谢老师, 感谢谢老师
        if s in _WORD_AFTER:
            alts.append(f"{ctx}{s}(?![{_WORD_AFTER[s]}])")
        elif ctx:
            alts.append(f"{ctx}{s}")
        else:
            plain.append(s)
    return "(?:" + "|".join(alts) + "|[" + "".join(plain) + "])"


# Characters that do not occur in a given name as written in these texts (function words, and the
# second characters of common words that start with a surname character).
_NOT_IN_NAME = ("的了是在和与及或把被对给让等个位名些这那们里边上下前后内外说请找叫问打称反映来去到从将已也都"
                "就还又很太更最不没无有要会能可以为因所而但并且则即之其此该各每级校班区市县镇村省街路道楼栋号"
                "室店司厂院局所站部处科组队电话年日岁面式法便龄层门户人员主租房工作联系身证")
_GIVEN = rf"(?:(?![{_NOT_IN_NAME}])[{_HAN}])"
_TITLE = "(?:先生|女士|小姐|阿姨|师傅|大爷|大妈|老人|同学|老师|经理|主任|书记|队长)"
# After an introduction a name ends at a punctuation mark, the end, or one of these words ...
_END_WORDS = "今年|现年|年龄|家住|住在|住址|现住|电话|手机|联系|身份证|性别|男|女"
_NAME_END = rf"(?=[\s，,。.！!？?；;：:、()（）\[\]【】\"“”'‘’]|$|{_END_WORDS})"
# ... and after a role label (业主张伟反映…) also at one of these verbs.
_NAME_END_LABEL = rf"(?=[\s，,。.！!？?；;：:、()（）\[\]【】\"“”'‘’]|$|{_END_WORDS}|反映|称|说|表示|投诉|来电|要求|告知|拒绝|拒不|不同意|同意|多次|一直)"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_MASKED = re.compile(r"(?<!\d)(?:1[3-9]\d[*＊xX]{4}\d{4}|\d{6}[*＊]{8}\d{3}[\dXx*＊])(?!\d)")
_ID_18 = re.compile(r"(?<!\d)[1-9](?:[ -]?\d){16}[ -]?[\dXx](?![\dXx])")
_ID_15 = re.compile(r"(?<!\d)[1-9](?:[ -]?\d){14}(?![\dXx])")
_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)86[ -]?|[(（]\+?86[)）][ -]?|86[ -]?)?1[3-9]\d(?:[ -]?\d){8}(?!\d)")
_LANDLINE = re.compile(
    r"(?<![\d+])(?:(?:(?:\+|00)86[ -]?|[(（]\+?86[)）][ -]?)(?:[(（]0?[1-9]\d{1,2}[)）]|0?[1-9]\d{1,2})"
    r"|[(（]0[1-9]\d{1,2}[)）]|0[1-9]\d{1,2})[ -]?[2-9]\d{2,3}[ -]?\d{4}(?!\d)")
# A number right after 电话/手机/座机… is a phone number whatever its shape (电话：83451234), unless it
# is a service number (400/800; shorter ones such as 95xxx and 12345 have too few digits anyway).
_PHONE_LABELLED = re.compile(r"(?:电话|手机|座机|联系方式|(?<![A-Za-z])(?:tel|TEL|Tel)(?![A-Za-z]))(?:号码|号)?(?:是|为)?"
                             r"[:：\s]*(?P<v>\d(?:[ -]?\d){6,11})(?!\d)")
_QQ = re.compile(r"(?:(?<![A-Za-z])[Qq]{2}|扣扣)(?:号码|号)?\s*(?:[:：是为]\s*)?(?P<v>[1-9]\d{4,11})(?!\d)")
_WECHAT = re.compile(r"(?:微信|威信|薇信|(?<![A-Za-z])(?:vx|VX|Vx|wx|WX|weixin|WeChat|wechat)(?![A-Za-z]))"
                     r"(?:号码|号|ID|id)?\s*(?:[:：是为]\s*)?"
                     r"(?P<v>[A-Za-z][A-Za-z0-9_\-]{5,19}|[1-9]\d{4,11})(?![A-Za-z0-9_\-])"
                     r"|(?<![A-Za-z0-9])(?P<w>wxid_[A-Za-z0-9_\-]{4,30})")

# House numbers below the building: the building (3栋, 8号楼, B座, 3#) stays, the unit, floor and
# room go (2栋1103 -> 2栋＊＊, 8号楼2单元301 -> 8号楼＊＊); a unit or a room without its building
# (3单元502, 502室, 1101房, 5楼502室) goes whole; 3-2-502 keeps its first part. A floor alone (3栋11楼,
# 商场3楼) and street numbers (深南大道1001号) stay.
_CN_NUM = "[一二三四五六七八九十]"
_ROOM = (r"(?:\d{3,4}|\d{1,2}[A-Za-z]|[零一二三四五六七八九]{3,4})"
         r"(?:室(?![内外友])|号房|房(?![租东价款贷产屋子源型本主费税证])|号|户|(?![\d年月日元块万米㎡平个人次天岁时分秒多余%.:：\-]))")
_FLOOR_ROOM = rf"(?:(?:\d{{1,2}}|{_CN_NUM}{{1,3}})(?:楼|层|[Ff])[ -]?)?{_ROOM}"
_UNIT = rf"(?:\d{{1,2}}|[A-Za-z]|{_CN_NUM}{{1,3}})单元"
_BUILDING_BELOW = re.compile(
    rf"(?<![\dA-Za-z])(?:\d{{1,3}}|[A-Za-z]\d?|{_CN_NUM}{{1,3}})(?:号楼|号栋|栋楼|栋|幢|座|#楼|#)[ -]?"
    rf"(?P<v>{_UNIT}(?:[ -]?{_FLOOR_ROOM})?|{_FLOOR_ROOM})(?![\dA-Za-z])")
_UNIT_ALONE = re.compile(rf"(?<![\dA-Za-z]){_UNIT}(?:[ -]?{_FLOOR_ROOM})?(?![\dA-Za-z])")
_ROOM_ALONE = re.compile(r"(?<![\dA-Za-z])(?:\d{1,2}(?:楼|层)[ -]?)?(?:\d{3,4}|[零一二三四五六七八九]{3,4})"
                         r"(?:室(?![内外友])|号房|房(?![租东价款贷产屋子源型本主费税证]))(?![\dA-Za-z])")
_ROOM_LABELLED = re.compile(r"(?:房号|房间号|门牌号|房间)[:：\s]*(?P<v>[A-Za-z]?\d{2,4}[A-Za-z]?)(?![\dA-Za-z])")
_DASHED_HOUSE = re.compile(r"(?<![\d\-./:])\d{1,3}-(?P<v>\d{1,2}-\d{3,4})(?![\d\-./:])")

_HONORIFIC = re.compile(rf"{_surname_pattern(before=True)}{_GIVEN}{{0,2}}?{_TITLE}")
_LABELLED_NAME = re.compile(rf"(?:联系人|姓名|户主|业主|租户|房东|工作人员)"
                            rf"(?:[:：]\s*(?P<c>(?:{'|'.join(_SURNAMES_2)}){_GIVEN}{{1,2}}|{_GIVEN}{{2,4}})"
                            rf"|\s?(?P<v>{_surname_pattern(before=False)}{_GIVEN}{{1,2}}?){_NAME_END_LABEL})")
_INTRODUCED = re.compile(rf"(?:我叫|本人|我是|名叫|名字叫|名字是)[:：\s]?(?P<v>{_surname_pattern(before=False)}{_GIVEN}{{1,2}}?)"
                         rf"{_NAME_END}")
# A name right after what a unit did with the person (已联系王小明，告知李娜…): the answers' way.
_ADDRESSED = re.compile(rf"(?:联系|致电|电话联系|告知|通知|约见|约谈|走访|询问|转告|答复|回复|陪同)了?"
                        rf"(?P<v>{_surname_pattern(before=False)}{_GIVEN}{{1,2}}?){_NAME_END}")
_SURNAME_ALONE = re.compile(rf"(?:[我他她其]|本人|对方)姓(?P<v>{'|'.join(_SURNAMES_2)}|[{_SURNAMES_1}])(?![{_HAN}])")


def _id_like(digits: str) -> bool:
    """An ID number's structure (region, birth date), which order numbers almost never have; the
    check digit is not required (a typed ID with one wrong digit is still personal data)."""
    if digits[0] not in "12345678":
        return False
    born = digits[6:14] if len(digits) == 18 else "19" + digits[6:12]
    return born[:2] in ("18", "19", "20") and "01" <= born[4:6] <= "12" and "01" <= born[6:8] <= "31"


def _not_service_number(digits: str) -> bool:
    return not (len(digits) == 10 and digits[:3] in ("400", "800"))


def _not_a_date(m: re.Match) -> bool:
    _, month, last = m.group().split("-")
    return not (len(last) == 4 and last[:2] in ("19", "20") and int(month) <= 12)


def _digits(m: re.Match, group) -> str:
    return re.sub(r"[^\dXx]", "", m.group(group))


# (category, pattern, group to remove, check): applied in this order, each on the result of the last.
_RULES: tuple[tuple[str, re.Pattern, Any, Any], ...] = (
    ("email", _EMAIL, 0, None),
    ("masked", _MASKED, 0, None),
    ("id_number", _ID_18, 0, lambda m: _id_like(_digits(m, 0))),
    ("id_number", _ID_15, 0, lambda m: _id_like(_digits(m, 0))),
    ("phone", _MOBILE, 0, None),
    ("phone", _LANDLINE, 0, None),
    ("phone", _PHONE_LABELLED, "v", lambda m: _not_service_number(_digits(m, "v"))),
    ("im_id", _QQ, "v", None),
    ("im_id", _WECHAT, ("v", "w"), None),
    ("house_number", _BUILDING_BELOW, "v", None),
    ("house_number", _DASHED_HOUSE, "v", _not_a_date),
    ("house_number", _UNIT_ALONE, 0, None),
    ("house_number", _ROOM_ALONE, 0, None),
    ("house_number", _ROOM_LABELLED, "v", None),
    ("name", _HONORIFIC, 0, None),
    ("name", _LABELLED_NAME, ("c", "v"), None),
    ("name", _INTRODUCED, "v", None),
    ("name", _ADDRESSED, "v", None),
    ("name", _SURNAME_ALONE, "v", None),
)


def scrub_public_report(text: str, *, hide_house_numbers: bool = True) -> tuple[str, list[tuple[str, str]]]:
    """scrub_public, and what it removed: [(category, removed text)] in the order removed."""
    if not text:
        return text or "", []
    norm = text.translate(_HALF)
    removed: list[tuple[str, str]] = []
    for category, pattern, group, check in _RULES:
        if category == "house_number" and not hide_house_numbers:
            continue
        spans = []
        for m in pattern.finditer(norm):
            if check is not None and not check(m):
                continue
            g = next((x for x in group if m.group(x)), None) if isinstance(group, tuple) else group
            if g is not None and m.group(g):
                spans.append(m.span(g))
        for start, end in reversed(spans):
            removed.append((category, text[start:end]))
            text = text[:start] + PLACEHOLDER + text[end:]
            norm = norm[:start] + PLACEHOLDER + norm[end:]
    return text, removed


def scrub_public(text: str, *, hide_house_numbers: bool = True) -> str:
    """Text fit to be shown publicly: ID numbers, phone numbers (400/800 service numbers are kept),
    e-mail addresses, QQ and WeChat ids, personal names recognised from their context and (when
    hide_house_numbers) house numbers below the building each become PLACEHOLDER. Building-level
    and street addresses, amounts, dates, times, licence plates and order numbers are kept."""
    return scrub_public_report(text, hide_house_numbers=hide_house_numbers)[0]
