"""Region pack parsing, validation (file + line for every problem), diff and content hash; no AWS."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.domain.catalog import FALLBACK_CODE
from chalicelib.policy.pack.diff import diff
from chalicelib.policy.pack.parse import read_files, read_pack
from chalicelib.policy.pack.store import decode_pack, encode_pack, write_dir
from chalicelib.policy.pack.validate import validate

ROOT = Path(__file__).resolve().parents[2]
SHENZHEN = ROOT / "regions" / "shenzhen"
LAIXI = ROOT / "regions" / "laixi"


@pytest.fixture(scope="module")
def sz_files() -> dict:
    return {k: v.decode("utf-8") for k, v in read_files(SHENZHEN).items()}


def pack_with(files: dict, code: str = "shenzhen", **changes):
    return read_pack({**files, **changes}, code=code)


def errors_of(files: dict, **changes) -> list[str]:
    return [str(e) for e in validate(pack_with(files, **changes))]


def lines(text: str) -> list[str]:
    return text.splitlines()


def edit_line(text: str, line_no: int, new: str) -> str:
    rows = lines(text)
    rows[line_no - 1] = new
    return "\n".join(rows) + "\n"


def line_of(text: str, needle: str) -> int:
    return next(i for i, row in enumerate(lines(text), 1) if needle in row)


def test_demo_packs_are_valid():
    for folder in (SHENZHEN, LAIXI):
        pack = read_pack(folder)
        assert validate(pack) == [], folder
    sz, lx = read_pack(SHENZHEN), read_pack(LAIXI)
    assert (sz.code, sz.city_code, len(sz.catalog)) == ("shenzhen", "440300", 495)
    assert (lx.code, lx.name, lx.city_code) == ("laixi", "莱西市", "370285")


def test_broken_row_is_named_by_file_and_line(sz_files):
    cat = sz_files["catalog.csv"]
    n = line_of(cat, "01.01.004,")
    bad = edit_line(cat, n, "01.01.004,城市管理,市容环境卫生,公共厕所管理问题,区城市管理和综合执法局")
    assert errors_of(sz_files, **{"catalog.csv": bad}) == [f"catalog.csv:{n}: -: expected 7 fields, found 5"]


def test_duplicate_and_malformed_codes(sz_files):
    cat = sz_files["catalog.csv"]
    rows = lines(cat)
    dup = rows[1].replace(rows[1].split(",")[3], "另一个事项")          # same code, other item name
    n_bad = line_of(cat, "01.01.003,")
    bad = edit_line(cat, n_bad, rows[n_bad - 1].replace("01.01.003", "1.1.3"))
    errs = errors_of(sz_files, **{"catalog.csv": bad + dup + "\n"})
    assert f"catalog.csv:{len(rows) + 1}: code: duplicate '01.01.001' (first on line 2)" in errs
    assert f"catalog.csv:{n_bad}: code: catalog code '1.1.3' must look like LL.MM.NNN (e.g. 01.02.003)" in errs


def test_unknown_unit_in_tree_and_unknown_unit_type(sz_files):
    units = sz_files["units.csv"] + "U440305999001-SQ,某社区工作站,社区工作站,community,440305999001\n"
    n_unit = len(lines(units))
    cat = sz_files["catalog.csv"]
    n_cat = line_of(cat, "01.01.002,")
    cat = edit_line(cat, n_cat, lines(cat)[n_cat - 1].replace(",街道办事处,street,", ",街道城管科,street,"))
    errs = errors_of(sz_files, **{"units.csv": units, "catalog.csv": cat})
    assert errs == [
        f"catalog.csv:{n_cat}: unit_type: unknown unit_type '街道城管科': no unit of that type in units.csv",
        f"units.csv:{n_unit}: jurisdiction_code: unit U440305999001-SQ (某社区工作站): jurisdiction '440305999001' "
        "is not a community of the region (not in communities.csv)",
    ]


def test_missing_fallback_row_and_unit(sz_files):
    cat = "".join(r + "\n" for r in lines(sz_files["catalog.csv"]) if not r.startswith(FALLBACK_CODE))
    errs = errors_of(sz_files, **{"catalog.csv": cat})
    assert f"catalog.csv:0: code: the fallback row {FALLBACK_CODE} (兜底: 其他未列明事项 → the city's catch-all " \
           "unit, e.g. 市民生诉求服务中心, city) is missing" in errs
    units = "".join(r + "\n" for r in lines(sz_files["units.csv"]) if ",市民生诉求服务中心," not in r)
    errs = errors_of(sz_files, **{"units.csv": units})
    assert "units.csv:0: unit_type: the city-level 市民生诉求服务中心 (兜底 unit named by catalog row " \
           f"{FALLBACK_CODE}) is missing" in errs


def test_fallback_unit_may_have_another_name(sz_files):
    """A city whose catch-all unit is called otherwise renames it in its pack, not in code."""
    cat = sz_files["catalog.csv"].replace(",市民生诉求服务中心,", ",12345热线办,")
    units = sz_files["units.csv"].replace(",市民生诉求服务中心,", ",12345热线办,")
    assert errors_of(sz_files, **{"catalog.csv": cat, "units.csv": units}) == []
    cat_district = cat.replace("其他未列明事项,12345热线办,city", "其他未列明事项,12345热线办,district")
    assert any("the fallback row must go to a city-level unit, not district" in e
               for e in errors_of(sz_files, **{"catalog.csv": cat_district, "units.csv": units}))


def test_coverage_gap_is_an_error_unless_policy_names_the_fallback(sz_files):
    units = "".join(r + "\n" for r in lines(sz_files["units.csv"]) if not r.startswith("U440306002-SCJ,"))
    errs = errors_of(sz_files, **{"units.csv": units})
    assert len(errs) == 1 and errs[0].startswith("catalog.csv:") and ": unit_type: 市场监管所 (street) is missing in " \
        "1 street(s): 440306002;" in errs[0]
    relaxed = json.dumps({"dispatch": {"auto_threshold": 0.46, "gaps_to_fallback": ["市场监管所"]}})
    assert errors_of(sz_files, **{"units.csv": units, "policy.json": relaxed}) == []


def test_every_error_of_every_file_at_once(sz_files):
    streets = sz_files["streets.csv"].replace("code,district_code,name,lat,lng", "code,district,name,lat,lng")
    channels = json.loads(sz_files["channels.json"])
    channels["channels"][1]["code"] = "telegram"
    channels["channels"][2]["callback_url"] = "http://partner.example.com/cb"
    channels["channels"][3]["key_id"] = "sz-hotline-1"
    calendar = json.dumps({"years": [2027], "holidays": ["2027-13-01"], "workdays": []}, indent=1)
    policy = json.dumps({"dispatch": {"auto_threshold": 1.5, "fallback_below": "low", "out_of_scope": ["列车"]},
                         "dedupe": {},
                         "deadlines": {"steps": {"visit": {}}}}, indent=1)
    files = {k: v for k, v in sz_files.items() if k != "communities.csv"}
    errs = errors_of(files, **{"streets.csv": streets, "channels.json": json.dumps(channels, indent=1),
                               "calendar.json": calendar, "policy.json": policy, "notes.csv": "x\n"})
    text = "\n".join(errs)
    assert "streets.csv:1: district_code: bad header (missing column(s) district_code; unexpected column(s) " \
        "district); expected code,district_code,name,lat,lng" in errs
    assert "communities.csv:0: -: required file is missing" in errs
    assert "notes.csv:0: -: unknown file" in text
    assert "channels.json:" in text and "code: unknown channel 'telegram'" in text
    assert "callback_url: 'http://partner.example.com/cb': callbacks must use https" in text
    assert "key_id: key id 'sz-hotline-1' is also used by channel 'hotline'" in text
    assert "calendar.json:" in text and "'2027-13-01' is not a YYYY-MM-DD date" in text
    assert "policy.json:3: dispatch.auto_threshold: 1.5 must be a number between 0 and 1" in errs
    assert "policy.json:4: dispatch.fallback_below: 'low' must be a number between 0 and 1" in errs
    # A term that is a leaf's own wording (地铁运营服务 lists 列车) would pull that leaf to 兜底.
    assert "policy.json:5: dispatch.out_of_scope: '列车' is also the wording of catalog item 03.02.004" in errs
    assert any(e.startswith("policy.json:") and ": dedupe: unknown policy key" in e for e in errs)
    assert any(e.startswith("policy.json:") and "deadlines.steps.visit: step 'visit' needs a default" in e
               for e in errs)
    # Rows pointing into the unreadable streets.csv are not reported one by one (no cascade).
    assert not any(e.startswith(("roads.csv:", "units.csv:")) for e in errs) and len(errs) < 15


def test_invalid_json_and_encoding_name_the_line(sz_files):
    errs = errors_of(sz_files, **{"policy.json": '{\n  "dispatch": {"auto_threshold": 0.4,}\n}'})
    assert len(errs) == 1 and errs[0].startswith("policy.json:2: -: invalid JSON (Expecting property name")
    errs = errors_of(sz_files, **{"roads.csv": "name,street_code\n地王大厦,440303001\n".encode("gbk")})
    assert errs == ["roads.csv:2: -: not UTF-8 text"]


def test_laixi_tree_hangs_towns_under_the_city():
    tree = read_pack(LAIXI).tree
    assert tree["370285"].level == "city" and tree["370285"].parent is None
    assert tree["370285004"].parent == "370285" and tree["370285004"].name == "姜山镇"
    assert "U370285004-ZJ" in tree["370285004"].units
    sz = read_pack(SHENZHEN).tree
    assert sz["440303001001"].parent == "440303001" and sz["440303001"].parent == "440303"
    assert sz["440303"].parent == "440300"


def test_hash_ignores_order_line_endings_and_bom(sz_files):
    base = read_pack(sz_files, code="shenzhen")
    rows = lines(sz_files["units.csv"])
    shuffled = "\r\n".join([rows[0], *reversed(rows[1:])]) + "\r\n"
    same = pack_with(sz_files, **{"units.csv": "\ufeff" + shuffled})
    assert same.content_hash == base.content_hash and same == base
    changed = pack_with(sz_files, **{"policy.json": json.dumps({"dispatch": {"auto_threshold": 0.5}})})
    assert changed.content_hash != base.content_hash
    # Stored form: identical packs give identical bytes, and read back to the same content.
    assert encode_pack(base) == encode_pack(same)
    back = decode_pack(encode_pack(base), version=3, expected_hash=base.content_hash)
    assert back == base and back.catalog_version == f"v3-{base.content_hash[:8]}"
    with pytest.raises(ValueError):
        decode_pack(encode_pack(base), expected_hash=changed.content_hash)


def test_write_dir_round_trip(tmp_path):
    pack = read_pack(LAIXI)
    again = read_pack(write_dir(pack, tmp_path / "laixi"))
    assert validate(again) == [] and again.content_hash == pack.content_hash


def test_diff_names_what_changes(sz_files):
    old = read_pack(sz_files, code="shenzhen")
    cat = sz_files["catalog.csv"]
    n = line_of(cat, "01.01.002,")
    cat = edit_line(cat, n, lines(cat)[n - 1].replace("|几天没拉", ""))
    cat += "01.01.901,城市管理,市容环境卫生,新增测试事项,街道办事处,street,测试\n"
    channels = json.loads(sz_files["channels.json"])
    channels["channels"] = [c for c in channels["channels"] if c["code"] != "qrcode"]
    channels["channels"][0]["callback_url"] = "https://hotline.example.com/cb"
    streets = "".join(r + "\n" for r in lines(sz_files["streets.csv"]) if not r.startswith("440399003,"))
    new = pack_with(sz_files, **{"catalog.csv": cat, "channels.json": json.dumps(channels), "streets.csv": streets,
                                 "policy.json": json.dumps({"dispatch": {"auto_threshold": 0.5}, "dedup": {"window_days": 30}})})
    d = diff(old, new)
    assert d.sections["catalog"].added == ("01.01.901",)
    assert d.sections["catalog"].changed == (("01.01.002", ("keywords",)),)
    assert d.sections["channels"].removed == ("qrcode",)
    assert d.sections["channels"].changed == (("hotline", ("callback_url",)),)
    assert d.sections["streets"].removed == ("440399003",)
    assert d.sections["policy"].changed == (("dispatch.auto_threshold", ("value",)),)
    assert d.sections["policy"].added == ("dedup.window_days",)
    assert d.summary()["catalog"] == {"added": 1, "removed": 0, "changed": 1}
    assert "units" not in d.summary() and not d.empty
    assert "+ catalog 01.01.901" in d.lines() and "~ channels hotline: callback_url" in d.lines()
    assert diff(old, old).empty
    first = diff(None, old)
    assert first.summary()["units"]["added"] == 934 and first.old_hash is None


# --- labelled examples (examples/*.jsonl): part of the pack, so the live model trains on them ---

def test_examples_are_read_counted_and_hashed(sz_files):
    pack = read_pack(sz_files, code="shenzhen")
    assert pack.counts()["examples"] == 2280 and validate(pack) == []
    first = pack.examples[0]
    assert (first.file, first.line, first.id) == ("examples/dispatch-dev.jsonl", 1, "D0001")
    assert (first.code, first.street) == ("01.07.002", "440306008")        # expected_code / expected_street
    hist = next(e for e in pack.examples if e.id == "H00001")
    assert (hist.file, hist.code, hist.street) == ("examples/history-train.jsonl", "01.08.001", "440304007")
    # Line order, CRLF and blank lines do not change the content; a changed label does.
    rows = lines(sz_files["examples/history-train.jsonl"])
    shuffled = "\r\n".join(reversed(rows)) + "\r\n\r\n"
    assert pack_with(sz_files, **{"examples/history-train.jsonl": shuffled}).content_hash == pack.content_hash
    relabelled = edit_line(sz_files["examples/history-train.jsonl"], 1, rows[0].replace('"01.08.001"', '"01.01.001"'))
    changed = pack_with(sz_files, **{"examples/history-train.jsonl": relabelled})
    assert changed.content_hash != pack.content_hash
    back = decode_pack(encode_pack(pack))
    assert back == pack and len(back.examples) == 2280 and back.content_hash == pack.content_hash
    d = diff(pack, changed)
    assert d.summary() == {"examples": {"added": 1, "removed": 1, "changed": 0}}
    assert d.sections["examples"].added == ("examples/history-train.jsonl:H00001",)
    no_dev = {k: v for k, v in sz_files.items() if k != "examples/dispatch-dev.jsonl"}
    assert diff(pack, read_pack(no_dev, code="shenzhen")).summary()["examples"]["removed"] == 300


def test_pack_without_examples_keeps_its_old_hash():
    """Packs stored before examples were content (no "examples" key) still decode and match."""
    lx = read_pack(LAIXI)
    assert lx.examples == () and "examples" not in lx.to_dict() and lx.counts()["examples"] == 0
    assert decode_pack(encode_pack(lx)).content_hash == lx.content_hash


def test_bad_examples_are_named_by_file_and_line(sz_files):
    f = "examples/history-train.jsonl"
    rows = lines(sz_files[f])
    rows[2] = '{"id": "H00003", "text": "路灯不亮", "code": "01.01.001"'            # truncated JSON
    rows[4] = rows[4].replace('"text": ', '"note": ')                            # no text
    rows[6] = json.dumps({"id": "H00007", "text": "井盖丢了"}, ensure_ascii=False)  # no code
    rows[8] = rows[8].replace(json.loads(rows[8])["code"], "42.42.042")          # not in the catalog
    rows[9] = rows[9].replace(json.loads(rows[9])["code"], "42.42.042")
    errs = errors_of(sz_files, **{f: "\n".join(rows) + "\n", "policy.json": policy_text(1.5),
                                  "examples/notes.txt": "x", "examples/../escape.jsonl": "{}\n"})
    assert "policy.json:1: dispatch.auto_threshold: 1.5 must be a number between 0 and 1" in errs  # with the rest
    assert f"{f}:3: -: invalid JSON (Expecting ',' delimiter, column 53)" in errs
    assert f"{f}:5: text: missing text" in errs
    assert f"{f}:7: code: missing code (give the catalog code as code or expected_code)" in errs
    assert f"{f}:9: code: unknown catalog code '42.42.042' (not in catalog.csv); also on 1 more line(s): 10" in errs
    assert any(e.startswith("examples/notes.txt:0: -: unknown file") for e in errs)
    assert any(e.startswith("examples/../escape.jsonl:0: -: unknown file") for e in errs)
    assert len(errs) == 7, errs


def policy_text(threshold: float) -> str:
    return json.dumps({"dispatch": {"auto_threshold": threshold}})


def test_examples_of_a_broken_catalog_row_do_not_cascade(sz_files):
    cat = sz_files["catalog.csv"]
    n = line_of(cat, "01.01.004,")
    errs = errors_of(sz_files, **{"catalog.csv": edit_line(cat, n, "01.01.004,城市管理")})
    assert errs == [f"catalog.csv:{n}: -: expected 7 fields, found 2"]
    gone = "".join(r + "\n" for r in lines(cat) if not r.startswith("01.01.004,"))    # removed: now unknown
    errs = errors_of(sz_files, **{"catalog.csv": gone})
    assert errs and all(": code: unknown catalog code '01.01.004'" in e for e in errs)
    assert {e.split(":")[0] for e in errs} == {"examples/dispatch-dev.jsonl", "examples/history-train.jsonl",
                                               "lexicon.csv"}


def test_examples_progress_ticks_once_per_file():
    ticks = []
    read_pack(SHENZHEN, progress=lambda *a: ticks.append(a))
    assert [t for t in ticks if t[1] == "examples"] == [("read", "examples", 300, 2280),
                                                        ("read", "examples", 2280, 2280)]


def test_stored_pack_trains_the_same_classifier():
    """The live pack (stored, read back) and its source folder train the same dispatch model: the
    same training content, so both find the calibration shipped for it and classify alike."""
    from chalicelib.nlp.calibration import shipped_calibrator
    from chalicelib.policy import build

    folder = read_pack(SHENZHEN)
    stored = decode_pack(encode_pack(folder), version=1)
    a, b = build.training_set(folder), build.training_set(stored)
    assert len(b.examples) == 2280 and len(b.lexicon) == 494
    assert a.fingerprint == b.fingerprint and shipped_calibrator("shenzhen", b.fingerprint) is not None
    source, live = build.classifier(folder), build.classifier(stored)
    assert live.calibrator.to_json() == source.calibrator.to_json()
    texts = ["小区门口的路灯坏了好几天，晚上黑漆漆的", "楼下烧烤店油烟太大，窗户都不敢开",
             "工地晚上十一点还在施工，噪音吵得睡不着", "公司拖欠工资三个月了", "我想咨询一下社保怎么转移",
             "海面上有一片油污，疑似船舶泄漏。"]
    assert [live.classify(t).code for t in texts] == [source.classify(t).code for t in texts]
    # Without the examples the model is a different (much weaker) one: the test would notice.
    bare = read_pack({k: v for k, v in read_files(SHENZHEN).items() if not k.startswith("examples/")},
                     code="shenzhen")
    assert build.training_set(bare).examples == [] and build.training_set(bare).fingerprint != a.fingerprint


def test_out_of_scope_terms_must_be_a_list_of_terms(sz_files):
    for bad in ("高铁", ["高铁", ""], [3]):
        errs = errors_of(sz_files, **{"policy.json": json.dumps({"dispatch": {"out_of_scope": bad}})})
        assert errs == ["policy.json:1: dispatch.out_of_scope: must be a list of non-empty terms"]
    ok = json.dumps({"dispatch": {"out_of_scope": ["高铁", "民航"]}}, ensure_ascii=False)
    assert errors_of(sz_files, **{"policy.json": ok}) == []


# --- lexicon.csv: everyday phrases per leaf, read by the dispatch model ---

def test_lexicon_is_read_counted_hashed_and_diffed(sz_files):
    pack = read_pack(sz_files, code="shenzhen")
    assert pack.counts()["lexicon"] == 494 and validate(pack) == []
    entry = next(x for x in pack.lexicon if x.code == "11.05.003")
    assert "老公喝酒打人" in entry.phrases and all(entry.phrases) and len(entry.situations) >= 8
    lex = sz_files["lexicon.csv"]
    n = line_of(lex, "01.01.001,")
    trimmed = edit_line(lex, n, lines(lex)[n - 1].rsplit("|", 1)[0])
    changed = pack_with(sz_files, **{"lexicon.csv": trimmed})
    assert changed.content_hash != pack.content_hash
    assert diff(pack, changed).sections["lexicon"].changed == (("01.01.001", ("situations",)),)
    back = decode_pack(encode_pack(pack))
    assert back == pack and back.lexicon and back.content_hash == pack.content_hash
    # A pack without a lexicon has no "lexicon" key, so packs stored before it keep their hash.
    assert "lexicon" not in read_pack(LAIXI).to_dict()


def test_bad_lexicon_rows_are_named_by_file_line_and_field(sz_files):
    lex = lines(sz_files["lexicon.csv"])
    lex.append("42.42.042,不存在的事项,")
    lex.append(f"{FALLBACK_CODE},其他事情,")
    lex.append("01.01.001,重复的行,")
    lex.append("01.01.002,|,")
    lex.append("01.01.003,,")
    errs = errors_of(sz_files, **{"lexicon.csv": "\n".join(lex) + "\n"})
    n = len(lex)
    assert errs == [
        f"lexicon.csv:{n - 4}: code: unknown catalog code '42.42.042' (not in catalog.csv)",
        f"lexicon.csv:{n - 3}: code: the fallback row {FALLBACK_CODE} takes no phrases: name matters outside the "
        "catalog in policy.json dispatch.out_of_scope",
        f"lexicon.csv:{n - 2}: code: duplicate '01.01.001' (first on line 2)",
        f"lexicon.csv:{n - 1}: code: duplicate '01.01.002' (first on line 3)",
        f"lexicon.csv:{n}: code: duplicate '01.01.003' (first on line 4)",
    ], errs
    empty = "code,phrases,situations\n01.01.001,|,\n01.01.002,,只有情形也可以\n"
    assert errors_of(sz_files, **{"lexicon.csv": empty}) == [
        "lexicon.csv:2: phrases: neither phrases nor situations (separate them with |)"]
    assert errors_of(sz_files, **{"lexicon.csv": "code,words\n"}) == [
        "lexicon.csv:1: phrases: bad header (missing column(s) phrases, situations; unexpected column(s) words); "
        "expected code,phrases,situations"]


def test_supervision_copies_name_unit_types_of_the_pack(sz_files):
    """The units a supervision notice is copied to are the region's choice (policy.json,
    supervision.copy_unit_types), checked against units.csv like every other unit type."""
    good = json.dumps({"supervision": {"copy_unit_types": ["街道办事处"]}}, ensure_ascii=False)
    assert errors_of(sz_files, **{"policy.json": good}) == []
    bad = '{\n  "supervision": {"copy_unit_types": ["街道办", 3], "cc": true}\n}'
    assert errors_of(sz_files, **{"policy.json": bad}) == [
        "policy.json:2: supervision.cc: unknown key (allowed: copy_unit_types, note)",
        "policy.json:2: supervision.copy_unit_types: must be a list of unit types"]
    unknown = '{\n  "supervision": {\n    "copy_unit_types": ["街道办"]\n  }\n}'
    assert errors_of(sz_files, **{"policy.json": unknown}) == [
        "policy.json:3: supervision.copy_unit_types: no unit of type '街道办' in units.csv"]


def test_public_record_policy_is_checked_field_by_field(sz_files):
    """policy.json public_record (一网晒单): what is kept out of lists, scrubbed and ranked."""
    good = json.dumps({"public_record": {"non_public_categories": ["04.01", "11.05.003"], "house_numbers": "show",
                                         "min_volume": 5, "confidence": 0.9, "note": "x"}})
    assert errors_of(sz_files, **{"policy.json": good}) == []
    bad = ('{\n  "public_record": {\n    "non_public_categories": ["04.01", "77"],\n    "house_numbers": "blur",\n'
           '    "min_volume": 0,\n    "confidence": 1.2,\n    "rank_by": "raw"\n  }\n}')
    assert errors_of(sz_files, **{"policy.json": bad}) == [
        "policy.json:3: public_record.non_public_categories: '77' is no catalog code nor the start of one",
        "policy.json:4: public_record.house_numbers: hide or show",
        "policy.json:5: public_record.min_volume: a whole number of at least 1",
        "policy.json:6: public_record.confidence: a number from 0.5 up to (not including) 1",
        "policy.json:7: public_record.rank_by: unknown key (allowed: confidence, house_numbers, min_volume, "
        "non_public_categories, note)"]


def test_return_visit_policy_is_checked_field_by_field(sz_files):
    """policy.json return_visit (回访): which rounds get a visit, when, how often it is tried."""
    good = json.dumps({"return_visit": {"select": "sample", "sample_rate": 0.3, "after_hours": 24, "max_attempts": 3,
                                        "retry_after_hours": 4, "note": "30 %"}})
    assert errors_of(sz_files, **{"policy.json": good}) == []
    bad = ('{\n  "return_visit": {\n    "select": "some",\n    "sample_rate": 0.5,\n    "after_hours": "1d",\n'
           '    "max_attempts": 0,\n    "retry_after_hours": 0,\n    "when": "later"\n  }\n}')
    assert errors_of(sz_files, **{"policy.json": bad}) == [
        "policy.json:3: return_visit.select: 'some' is not one of all, sample, unsatisfied",
        "policy.json:4: return_visit.sample_rate: only with select sample",
        "policy.json:5: return_visit.after_hours: '1d' must be a number of hours from 0 to 720",
        "policy.json:6: return_visit.max_attempts: 0 must be a whole number from 1 to 10",
        "policy.json:7: return_visit.retry_after_hours: 0 must be a number of hours from 0.25 to 168",
        "policy.json:8: return_visit.when: unknown key (allowed: after_hours, max_attempts, note, retry_after_hours, "
        "sample_rate, select)"]


@pytest.mark.parametrize("section, error", [
    ({"select": "sample"}, "return_visit.sample_rate: required when select is sample"),
    ({"select": "sample", "sample_rate": 1.5}, "return_visit.sample_rate: 1.5 must be a number between 0 and 1"),
    ({"max_attempts": 2.5}, "return_visit.max_attempts: 2.5 must be a whole number from 1 to 10"),
    ([], "return_visit: must be an object"),
], ids=["sample_without_rate", "rate_above_1", "fractional_attempts", "not_an_object"])
def test_a_return_visit_policy_error_names_its_field(sz_files, section, error):
    assert errors_of(sz_files, **{"policy.json": json.dumps({"return_visit": section})}) == [f"policy.json:1: {error}"]
