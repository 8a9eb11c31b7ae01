"""Region pack parsing, validation (file + line for every problem), diff and content hash; no AWS."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.policy.region_pack import (
    FALLBACK_CODE, decode_pack, diff, encode_pack, read_files, read_pack, validate,
)

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
    units = "".join(r + "\n" for r in lines(sz_files["units.csv"]) if ",市民生诉求服务中心," not in r)
    errs = errors_of(sz_files, **{"catalog.csv": cat, "units.csv": units})
    assert f"catalog.csv:0: code: the fallback row {FALLBACK_CODE} (兜底: 其他未列明事项 → 市民生诉求服务中心, city) is missing" in errs
    assert "units.csv:0: unit_type: the city-level 市民生诉求服务中心 (兜底 unit) is missing" in errs


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
    policy = json.dumps({"dispatch": {"auto_threshold": 1.5}, "dedupe": {}, "deadlines": {"steps": {"visit": {}}}},
                        indent=1)
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
    again = read_pack(pack.write_dir(tmp_path / "laixi"))
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
