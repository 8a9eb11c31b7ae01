"""What the public scrubber (chalicelib.domain.privacy.scrub_public) removes from a set of texts.

    python bench/eval_scrubber.py --cases tests/data/dispatch-dev.jsonl [--field text] [--keep-house-numbers]
                                  [--plant SEED] [--jieba]

Reads one JSON object a line and scrubs its text field (auto-detected among text, content and
message unless --field names it). Prints what was removed per category, how many texts had
anything removed, the share of characters (and of CJK characters) removed, the ID- and
phone-shaped strings left after scrubbing (found by loose detectors of their own: any run of 15
or 18 digits, 11 digits starting 1[3-9], or 0 plus 9 to 11 digits, spaces and dashes allowed;
these should be 0), and texts for which scrubbing twice differs from scrubbing once.

--plant SEED also plants synthetic personal data (IDs with a valid check digit, mobiles, fixed
lines, e-mails, QQ/WeChat ids, names, house numbers; `plant` below) into every text, and counts
per category how many planted values survived. --jieba measures jieba's person-name tag (nr) as
an extra signal: 2-3 CJK character tokens starting with a common surname that it would remove on
top of the scrubber (on texts without names, every one is a false positive).

Prints counts only, never the texts. The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.domain.privacy import PLACEHOLDER, SURNAMES, scrub_public, scrub_public_report  # noqa: E402

FIELDS = ("text", "content", "message")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_DIGIT_RUN = re.compile(r"\+?\d(?:[ -]?\d)*[Xx]?")


# ------------------------------------------------------------------------------ residual detectors

def residuals(text: str) -> tuple[int, int]:
    """(ID-shaped, phone-shaped) digit runs in text, whatever their context."""
    ids = phones = 0
    for m in _DIGIT_RUN.finditer(text):
        d = re.sub(r"[^\dXx]", "", m.group())
        if len(d) in (15, 18) or (len(d) == 18 and d[-1] in "Xx"):
            ids += 1
            continue
        for prefix in ("0086", "86", ""):
            if d.startswith(prefix) and re.fullmatch(r"1[3-9]\d{9}", d[len(prefix):]):
                phones += 1
                break
        else:
            if re.fullmatch(r"0[1-9]\d{8,10}", d):
                phones += 1
    return ids, phones


# ------------------------------------------------------------------------------ synthetic personal data

ID_REGIONS = ("110101", "310104", "440303", "440305", "440306", "440307", "510107", "330106", "420102", "610113")
MOBILE_PREFIXES = ("130", "133", "135", "137", "138", "139", "150", "152", "158", "166", "173", "177", "180",
                   "183", "186", "188", "189", "191", "199")
AREA_CODES = ("010", "020", "021", "022", "0755", "0756", "0769", "0571", "0592", "0731")
PLANT_SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何",
                  "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田",
                  "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "沈", "姚", "卢",
                  "欧阳", "司马", "诸葛", "上官")
GIVEN_NAMES = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
               "秀英", "桂英", "建华", "志强", "小明", "晓东", "海燕", "子涵", "雨轩", "浩然", "欣怡", "梓萱", "思远",
               "家豪", "建国", "丽华", "春生", "淑珍", "玉兰", "文博", "嘉怡", "俊杰", "宇航", "婷婷", "晓燕",
               "国平", "红梅", "志明", "伟强", "美玲", "振华", "嘉欣", "佳琪")
TITLES = ("先生", "女士", "小姐", "阿姨", "师傅", "大爷", "大妈", "同学", "老师", "经理", "主任", "书记", "队长")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_digit(body17: str) -> str:
    """GB 11643 check digit."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, _ID_WEIGHTS)) % 11]


def id18(rng: random.Random) -> str:
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(68 * 365))
    body = rng.choice(ID_REGIONS) + born.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    return body + id_check_digit(body)


def id15(rng: random.Random) -> str:
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365))
    return rng.choice(ID_REGIONS) + born.strftime("%y%m%d") + f"{rng.randrange(1000):03d}"


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10 ** 8):08d}"


def landline(rng: random.Random) -> tuple[str, str]:
    area = rng.choice(AREA_CODES)
    local = str(rng.randrange(2, 10)) + f"{rng.randrange(10 ** 7):07d}"
    return area, local


def written_id(value: str, rng: random.Random) -> str:
    v = value.lower() if value.endswith("X") and rng.random() < 0.5 else value
    if len(v) == 15:
        return rng.choice((v, f"{v[:6]} {v[6:12]} {v[12:]}"))
    return rng.choice((v, v, f"{v[:6]} {v[6:14]} {v[14:]}", " ".join(v[i:i + 4] for i in range(0, 18, 4)),
                       f"{v[:6]}-{v[6:14]}-{v[14:]}"))


def written_mobile(v: str, rng: random.Random) -> str:
    return rng.choice((v, f"{v[:3]} {v[3:7]} {v[7:]}", f"{v[:3]}-{v[3:7]}-{v[7:]}", f"+86 {v}", f"+86{v}",
                       f"0086-{v}", f"+86 {v[:3]} {v[3:7]} {v[7:]}", f"(+86){v}"))


def written_landline(area: str, local: str, rng: random.Random) -> str:
    half = len(local) // 2
    return rng.choice((f"{area}-{local}", f"({area}){local[:half]} {local[half:]}", f"（{area}）{local}",
                       f"{area} {local[:half]} {local[half:]}", f"+86 {area[1:]} {local[:half]} {local[half:]}",
                       f"{area}{local}", f"{area}-{local[:half]}-{local[half:]}"))


def name(rng: random.Random) -> tuple[str, str]:
    s = rng.choice(PLANT_SURNAMES)
    return s, s + rng.choice(GIVEN_NAMES)


def planted_snippets(rng: random.Random) -> list[tuple[str, str, list[str]]]:
    """(category, snippet, strings that must not survive) — one of each kind."""
    out = []
    v = id18(rng)
    form = rng.choice(("身份证号{}，", "身份证：{}。", "证件号码 {}，", "我的身份证是{}，"))
    out.append(("id_number", form.format(written_id(v, rng)), [v, v[6:14]]))
    v = id15(rng)
    out.append(("id_number", "老身份证{}，".format(written_id(v, rng)), [v]))
    v = mobile(rng)
    form = rng.choice(("电话{}，", "联系我{}。", "手机：{}，", "有事打{}，"))
    out.append(("phone", form.format(written_mobile(v, rng)), [v, v[3:]]))
    area, local = landline(rng)
    out.append(("phone", rng.choice(("座机{}，", "电话：{}，", "打{}找我，")).format(written_landline(area, local, rng)), [local]))
    user = rng.choice(("wang", "li.ming", "zhang_san", "lm")) + str(rng.randrange(10, 9999))
    v = f"{user}@{rng.choice(('qq.com', '163.com', 'example.cn', 'mail.sz.gov.cn'))}"
    out.append(("email", rng.choice(("邮箱{}，", "邮箱：{}。", "发到 {} 即可，")).format(v), [v, user]))
    v = str(rng.randrange(10 ** 5, 10 ** 10))
    out.append(("im_id", rng.choice(("QQ {}，", "QQ号：{}，", "qq:{}。", "加我扣扣{}，")).format(v), [v]))
    letters = "abcdefghjkmnpqrstuvwxyz"
    v = rng.choice(letters) + "".join(rng.choice(letters + "0123456789_") for _ in range(rng.randrange(5, 12)))
    out.append(("im_id", rng.choice(("微信号 {}，", "微信：{}。", "加微信{}，", "vx {}，")).format(v), [v]))
    s, n = name(rng)
    out.append(("name", rng.choice(("我叫{}，", "本人{}，", "我是{}，", "联系人：{}，", "姓名：{}，", "户主{}反映", "业主：{}，",
                                    "房东{}拒不退押金，", "联系人{}，", "工作人员{}说")).format(n), [n]))
    s2, n2 = name(rng)
    title = rng.choice(TITLES)
    form = rng.choice(("请联系{}，", "找{}修过，", "感谢{}，", "{}说会处理，", "小区的{}反映"))
    whole = rng.choice((s2, n2)) + title
    out.append(("name", form.format(whole), [whole, n2 if whole.startswith(n2) else whole]))
    building = rng.choice((f"{rng.randrange(1, 40)}栋", f"{rng.randrange(1, 20)}号楼", f"{rng.choice('ABCDE')}座"))
    room = f"{rng.randrange(1, 33)}{rng.randrange(1, 9):02d}"
    unit = f"{rng.randrange(1, 6)}单元"
    kind = rng.randrange(5)
    if kind == 0:
        out.append(("house_number", f"住{building}{room}，", [f"{building}{room}", room]))
    elif kind == 1:
        out.append(("house_number", f"住{building}{unit}{room}，", [f"{unit}{room}", room]))
    elif kind == 2:
        out.append(("house_number", f"{unit}{room}的住户，", [f"{unit}{room}", room]))
    else:
        suffix = ("室", "房", "号房")[kind - 3 if kind < 5 else 0]
        out.append(("house_number", f"在{room}{suffix}，", [f"{room}{suffix}", room]))
    return out


def plant(text: str, rng: random.Random) -> tuple[str, list[tuple[str, list[str]]]]:
    """text with every kind of planted personal data inserted at clause boundaries (or appended);
    returns [(category, strings that must not survive)] for the values not already in text."""
    for _ in range(10):
        snippets = planted_snippets(rng)
        if not any(v in text for _, _, vs in snippets for v in vs):
            break
    bounds = [0, len(text)] + [m.end() for m in re.finditer(r"[，。；！？：]", text)]
    out = text if re.search(r"[。！？.!?]$", text) or not text else text + "。"
    inserts = sorted(((rng.choice(bounds), s) for _, s, _ in snippets), key=lambda x: x[0], reverse=True)
    for at, snippet in inserts:
        at = min(at, len(out))
        out = out[:at] + snippet + out[at:]
    return out, [(cat, vs) for cat, _, vs in snippets]


def survived(scrubbed: str, values: list[str]) -> bool:
    compact = re.sub(r"[ \-()（）+]", "", scrubbed)
    return any(v in scrubbed or (v.isdigit() and v in compact) for v in values)


# ------------------------------------------------------------------------------ jieba's name tag

def jieba_names(text: str) -> list[str]:
    """Tokens jieba tags nr that are 2-3 CJK characters starting with a common surname."""
    import jieba
    import jieba.posseg as pseg

    jieba.setLogLevel(60)
    out = []
    for w in pseg.cut(text):
        if w.flag == "nr" and 2 <= len(w.word) <= 3 and all(_HAN.match(c) for c in w.word) \
                and (w.word[0] in SURNAMES or w.word[:2] in SURNAMES):
            out.append(w.word)
    return out


# ------------------------------------------------------------------------------ main

def read_texts(path: str, field: str | None) -> tuple[str, list[str]]:
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    if field is None:
        field = next((f for f in FIELDS if rows and f in rows[0]), None)
        if field is None:
            raise SystemExit(f"no text field among {FIELDS} in {path}; pass --field")
    return field, [r.get(field) or "" for r in rows]


def evaluate(texts: list[str], *, hide_house_numbers: bool = True, seed: int | None = None,
             with_jieba: bool = False) -> dict:
    removed: Counter[str] = Counter()
    changed = chars = chars_removed = han = han_removed = res_ids = res_phones = not_idempotent = 0
    started = time.perf_counter()
    for text in texts:
        out, gone = scrub_public_report(text, hide_house_numbers=hide_house_numbers)
        removed.update(cat for cat, _ in gone)
        changed += bool(gone)
        chars += len(text)
        han += len(_HAN.findall(text))
        chars_removed += sum(len(g) for _, g in gone)
        han_removed += sum(len(_HAN.findall(g)) for _, g in gone)
        i, p = residuals(out)
        res_ids += i
        res_phones += p
        not_idempotent += scrub_public(out, hide_house_numbers=hide_house_numbers) != out
    seconds = time.perf_counter() - started
    result = {
        "texts": len(texts), "texts_changed": changed, "removed": dict(sorted(removed.items())),
        "chars": chars, "chars_removed": chars_removed, "share_chars_removed": round(chars_removed / max(chars, 1), 5),
        "cjk_chars": han, "cjk_removed": han_removed, "share_cjk_removed": round(han_removed / max(han, 1), 5),
        "residual_id_shaped": res_ids, "residual_phone_shaped": res_phones, "not_idempotent": not_idempotent,
        "ms_per_text": round(1000 * seconds / max(len(texts), 1), 3),
    }
    if seed is not None:
        rng = random.Random(seed)
        planted: Counter[str] = Counter()
        leaked: Counter[str] = Counter()
        took: Counter[str] = Counter()
        res_ids = res_phones = not_idempotent = 0
        for text in texts:
            with_data, values = plant(text, rng)
            out, gone = scrub_public_report(with_data, hide_house_numbers=True)
            took.update(cat for cat, _ in gone)
            for cat, vs in values:
                planted[cat] += 1
                leaked[cat] += survived(out, vs)
            i, p = residuals(out)
            res_ids += i
            res_phones += p
            not_idempotent += scrub_public(out) != out
        result["planted"] = {"seed": seed, "planted": dict(sorted(planted.items())),
                             "survived": {c: leaked[c] for c in sorted(planted)},
                             # removals beyond one per planted value (on the texts' own words, or a
                             # planted value taken in two pieces)
                             "extra_removals": {c: took[c] - planted[c] for c in sorted(set(took) | set(planted))
                                                if took[c] != planted[c]},
                             "residual_id_shaped": res_ids, "residual_phone_shaped": res_phones,
                             "not_idempotent": not_idempotent}
    if with_jieba:
        hits = texts_hit = 0
        for text in texts:
            found = jieba_names(scrub_public(text, hide_house_numbers=hide_house_numbers))
            hits += len(found)
            texts_hit += bool(found)
        result["jieba_nr"] = {"extra_removals": hits, "texts_affected": texts_hit}
        if seed is not None:
            rng = random.Random(seed)
            caught = total = 0
            for text in texts:
                s, n = name(rng)
                total += 1
                caught += n in jieba_names(f"{text}我叫{n}，") or n in jieba_names(f"{text}{n}反映此事。")
            result["jieba_nr"]["planted_names_tagged"] = caught
            result["jieba_nr"]["planted_names"] = total
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", required=True, help="a JSONL file of texts")
    ap.add_argument("--field", default=None, help=f"the text field (default: the first of {', '.join(FIELDS)} present)")
    ap.add_argument("--keep-house-numbers", action="store_true", help="scrub with hide_house_numbers=False")
    ap.add_argument("--plant", type=int, default=None, metavar="SEED", help="also plant synthetic personal data")
    ap.add_argument("--jieba", action="store_true", help="measure jieba's nr tag as an extra name signal")
    args = ap.parse_args(argv)
    field, texts = read_texts(args.cases, args.field)
    result = {"cases": args.cases, "field": field, "placeholder": PLACEHOLDER,
              **evaluate(texts, hide_house_numbers=not args.keep_house_numbers, seed=args.plant, with_jieba=args.jieba)}
    print(f"{result['texts']} texts ({field}), {result['texts_changed']} with something removed")
    for cat, n in result["removed"].items():
        print(f"  {cat:<13} {n}")
    print(f"characters removed: {result['chars_removed']} of {result['chars']} ({result['share_chars_removed']:.3%}); "
          f"CJK {result['cjk_removed']} of {result['cjk_chars']} ({result['share_cjk_removed']:.3%})")
    print(f"left after scrubbing: {result['residual_id_shaped']} ID-shaped, {result['residual_phone_shaped']} "
          f"phone-shaped; not idempotent: {result['not_idempotent']}")
    if "planted" in result:
        pl = result["planted"]
        print("planted (survived/planted): "
              + ", ".join(f"{c} {pl['survived'][c]}/{n}" for c, n in pl["planted"].items()))
    if "jieba_nr" in result:
        print(f"jieba nr signal: {result['jieba_nr']}")
    print(json.dumps(result, ensure_ascii=False, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
