"""Long letters (来信): their head (title and first sentences), letter boilerplate, the matters they raise."""
from __future__ import annotations

import re

from chalicelib.nlp.text import normalize

# A text longer than this (normalised characters) is read as a letter: its head weighs more, a
# low best score is not evidence of 兜底, and an out-of-scope term counts only in the head.
# Synthetic appeals run 8-175 characters (mean 48); letters run to thousands.
LONG_CHARS = 60
# From this many normalised characters a letter's confidence is its category share through the
# letters' map (confidence.group_share, calibration.composed_letters), which is fitted on composed
# letters of at least this length; shorter letters keep the leaf share and the appeals' map.
LETTER_MAP_CHARS = 200
# The head: whole sentences from the start until at least this many normalised characters.
HEAD_MIN_CHARS = 40
HEAD_MAX_CHARS = 120
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])")
# Salutations, courtesy and closing formulae of a letter to officials. Written from general
# knowledge of the genre (公文/来信 conventions), not from any labelled text: they say nothing
# about which duty a letter concerns, and their bigrams (领导, 您好) would pull letters towards
# whichever leaf happens to share them.
BOILERPLATE = (
    "尊敬的各位领导", "尊敬的领导", "尊敬的市长", "尊敬的书记", "尊敬的局长", "尊敬的主任", "尊敬的厅长",
    "尊敬的县长", "尊敬的区长", "尊敬的", "各位领导", "领导同志", "领导您好", "领导你好", "您好", "你好",
    "此致敬礼", "此致", "敬礼", "谢谢您", "谢谢你们", "非常感谢", "万分感谢", "谢谢", "感谢", "辛苦了",
    "麻烦您", "麻烦你们", "望领导", "恳请领导", "请领导", "希望领导", "望贵部门", "恳请", "盼复", "望回复",
    "期待回复", "请回复", "敬请", "特此反映", "特此", "本人", "我是",
)
_BOILERPLATE_RE = re.compile("|".join(map(re.escape, sorted({normalize(b) for b in BOILERPLATE}, key=len, reverse=True))))


def strip_boilerplate(normalised: str, mask: str = "|") -> str:
    """Normalised text with letter formulae replaced by the mask character."""
    return _BOILERPLATE_RE.sub(mask, normalised)


def is_letter(text: str) -> bool:
    return len(normalize(text)) > LONG_CHARS


# A writer introducing themselves (我叫…，电话…，身份证号…) says nothing about the matter: a clause
# that is only such words, number runs (phones, ID numbers, masked ***) and a few characters (a
# name) is left out of the head. Written from the genre's conventions, like BOILERPLATE.
INTRODUCTION = ("我叫", "我是", "本人", "姓名", "联系电话", "联系方式", "手机号码", "手机号", "手机", "电话号码", "电话",
                "身份证号码", "身份证号", "证件号码", "住址")
INTRODUCTION_REST = 4
_INTRO_RE = re.compile("|".join(map(re.escape, sorted({normalize(w) for w in INTRODUCTION}, key=len, reverse=True))))
_NUMBER_RUN = re.compile(r"[0-9xX*]{5,}")
_CLAUSE_END = re.compile(r"(?<=[，,、：:\s])")


def is_introduction(clause: str) -> bool:
    t = normalize(clause)
    rest = strip_boilerplate(_INTRO_RE.sub("", _NUMBER_RUN.sub("", t)), "")
    return len(rest) <= INTRODUCTION_REST and rest != strip_boilerplate(t, "")


def without_introductions(sentence: str) -> str:
    return "".join(c for c in _CLAUSE_END.split(sentence) if not is_introduction(c))


def is_long_letter(text: str) -> bool:
    return len(normalize(text)) >= LETTER_MAP_CHARS


def head(text: str) -> str:
    """Title and first sentences of a raw text: whole sentences until HEAD_MIN_CHARS normalised
    characters, cut at HEAD_MAX_CHARS (a title runs into the body when there is no full stop).
    Self-introductions (is_introduction) are left out."""
    out, n = [], 0
    for s in _SENTENCE_END.split(text):
        s = without_introductions(s)
        k = len(strip_boilerplate(normalize(s), ""))
        if not k:
            continue
        out.append(s)
        n += k
        if n >= HEAD_MIN_CHARS:
            break
    h = "".join(out)
    return h if len(normalize(h)) <= HEAD_MAX_CHARS else _cut(h, HEAD_MAX_CHARS)


def _cut(text: str, n: int) -> str:
    """The shortest prefix of a raw text holding n normalised characters."""
    k = 0
    for i, ch in enumerate(text):
        k += bool(normalize(ch))
        if k >= n:
            return text[: i + 1]
    return text
