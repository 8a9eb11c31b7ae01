"""Unit tests for the gazetteer (address → street) and responsible-unit selection."""
from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.units import Unit, UnitDirectory, choose_unit, pick_unit
from chalicelib.nlp.gazetteer import Gazetteer, Resolution
from chalicelib.policy import build
from chalicelib.policy.pack.parse import read_pack

REGION = Path(__file__).resolve().parents[2] / "regions" / "shenzhen"


@pytest.fixture(scope="module")
def pack():
    return read_pack(REGION)


@pytest.fixture(scope="module")
def gaz(pack) -> Gazetteer:
    return build.gazetteer(pack)


@pytest.fixture(scope="module")
def units(pack) -> UnitDirectory:
    directory = build.unit_directory(pack)
    assert directory.fallback.unit_type == "市民生诉求服务中心"
    return directory


@pytest.mark.parametrize("address, street, method", [
    ("宝安区新安街道创业路某便利店门口", "440306001", "street_name"),
    ("龙华民治地铁站B出口", "440309002", "road"),            # district word + metro exit
    ("车公庙附近", "440304004", "road"),                     # landmark only
    ("福田区岗厦", "440304003", "road"),                     # 岗厦村 without 村
    ("罗湖火车站的士排队点", "440303006", "road"),           # 深圳火车站 written differently
    ("南山科技园", "440305006", "road"),                     # 南山 is the district, not 南山街道
    ("宝安区燕罗街到塘下涌社区某工厂", "440306009", "street_name"),  # typo 街到
    ("盐田区盐田街道永安社区", "440308002", "street_name"),
    ("福田区沙头街道上沙社区", "440304004", "street_name"),
])
def test_addresses_resolve_to_the_right_street(gaz, address, street, method):
    res = gaz.resolve(address)
    assert res.street_code == street
    assert res.method == method
    assert res.district_code == street[:6]
    assert res.resolved and res.confidence > 0


def test_community_name_gives_community_code(gaz):
    res = gaz.resolve("宝安区西乡街道臣田社区")
    assert res.street_code == "440306002"
    assert res.community_code and res.community_code.startswith("440306002")


def test_district_only(gaz):
    res = gaz.resolve("福田区某小区")
    assert res.method == "district_only"
    assert res.district_code == "440304" and res.street_code is None and not res.resolved


def test_falls_back_to_text(gaz):
    res = gaz.resolve("某小区", text="市民反映西丽湖边有人野泳")
    assert res.street_code == "440305008" and res.method == "text"


def test_gps_nearest_street_centroid(gaz):
    res = gaz.resolve("某小区门口", lat=22.5805, lng=113.8702, grid_code="G-1")
    assert res.street_code == "440306002" and res.method == "gps" and res.grid_code == "G-1"


def test_unresolved_has_reason(gaz):
    res = gaz.resolve("某小区", text="没有地点")
    assert not res.resolved and res.reason


def _item(unit_type: str, level: str) -> CatalogItem:
    return CatalogItem("00.00.000", "x", "y", "z", unit_type, level)


def test_pick_unit_by_level(gaz, units):
    loc = gaz.resolve("宝安区西乡街道")
    assert pick_unit(_item("街道办事处", "street"), loc, units).jurisdiction_code == "440306002"
    assert pick_unit(_item("区教育局", "district"), loc, units).jurisdiction_code == "440306"
    assert pick_unit(_item("供电局", "city"), loc, units).jurisdiction_code == "440300"
    community = pick_unit(_item("社区工作站", "community"), loc, units)
    assert community.unit_type == "社区工作站" and community.jurisdiction_code.startswith("440306002")


def test_fallback_unit_when_nothing_fits(units):
    choice = choose_unit(_item("街道办事处", "street"), Resolution(district_code="440304"), units)
    assert choice.fallback and choice.unit.unit_type == "市民生诉求服务中心"
    assert pick_unit(_item("不存在的单位", "district"), None, units).unit_type == "市民生诉求服务中心"


def test_directory_requires_fallback_unit():
    with pytest.raises(ValueError):
        UnitDirectory([Unit("U1", "x", "街道办事处", "street", "440306002")], "市民生诉求服务中心")


def test_fallback_unit_is_whoever_the_catalog_fallback_row_names():
    from chalicelib.domain.catalog import FALLBACK_CODE, fallback_unit_type
    catalog = [CatalogItem("01.01.001", "a", "b", "c", "街道办事处", "street"),
               CatalogItem(FALLBACK_CODE, "其他", "兜底", "其他未列明事项", "12345热线办", "city")]
    units = UnitDirectory([Unit("U1", "x", "街道办事处", "street", "370285001"),
                           Unit("U2", "热线办", "12345热线办", "city", "370285")], fallback_unit_type(catalog))
    assert units.fallback.unit_id == "U2"
    assert choose_unit(catalog[1], None, units).unit.unit_id == "U2"
    assert choose_unit(catalog[0], None, units).fallback   # no street known → 兜底, never nothing
    with pytest.raises(ValueError):
        fallback_unit_type(catalog[:1])
