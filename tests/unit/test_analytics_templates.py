"""The one-screen dashboard (screen.html, screen.js) and the daily/weekly/monthly report
(report.html), rendered through chalicelib.web.render as the app renders them, with the JSON the
routes hand them. No AWS, no browser."""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from chalicelib.web.render import STATIC, render, static_file, static_text

SCREEN = {
    "as_of": "2026-12-03T17:40:00+08:00",
    "scope": {"kind": "city", "code": "4403", "name": "深圳市"},
    "demo": True,
    "counts": {"open": 120, "overdue": 7, "red": 3, "received_today": 45, "alerts_open": 2},
    "map": {"streets": [{"code": "440306002", "name": "新安街道", "district": "440306", "district_name": "宝安区",
                         "lat": 22.55, "lng": 113.88, "open": 5, "overdue": 1, "hot": True}], "geojson": None},
    "categories": [{"code": "01.06", "name": "城市管理·市政设施", "today": 12, "usual": 9.5}],
    "channels": [{"code": "hotline", "name": "12345热线", "today": 30, "usual": 28.0}],
    "rates": {"period": "近30天", "sign_rate": 0.975, "response_rate": 0.95, "on_time_rate": 0.9,
              "resolve_rate": 0.8, "satisfaction_rate": None, "overdue_rate": 0.05, "return_rate": 0.02,
              "redo_rate": 0.03},
    "trend": [{"day": "2026-11-04", "received": 40, "replied": 38}],
    "rankings": {"units": [{"rank": 1, "unit_id": "U440306-CG", "name": "宝安区城管局", "score": 0.93, "volume": 120},
                           {"rank": 2, "unit_id": "U440303-ZJ", "name": "罗湖区住建局", "score": 0.88, "volume": 80}],
                 "red": [{"unit_id": "U440306-CG", "name": "宝安区城管局", "score": 0.97}],
                 "black": [{"unit_id": "U440305-JT", "name": "南山区交通局", "score": 0.41}]},
    "alerts": [{"alert_id": "hs:01.06:440306002:A1", "at": "2026-12-03T16:10:00+08:00", "group": "01.06",
                "group_name": "市政设施", "area": "440306002", "area_name": "新安街道", "expected": 0.4,
                "observed": 5, "appeals": ["20261203-AAA", "20261203-BBB"]}],
}

REPORT = {
    "kind": "daily", "title": "每日快报",
    "period": {"from": "2026-12-02", "to": "2026-12-02", "label": "2026年12月2日"},
    "previous": {"from": "2026-12-01", "to": "2026-12-01", "label": "2026年12月1日"},
    "scope": {"kind": "city", "code": "4403", "name": "深圳市"},
    "generated_at": "2026-12-03T08:00:00+08:00", "demo": True,
    "volume": {"count": 410, "previous": 380, "change": 0.079},
    "by_channel": [{"code": "hotline", "name": "12345热线", "count": 200, "previous": 190, "change": 0.053}],
    "by_type": [{"code": "complaint", "name": "投诉", "count": 150, "previous": 160, "change": -0.0625},
                {"code": "advice", "name": "建议", "count": 80, "previous": 70, "change": None}],
    "by_category": [{"code": "01.06", "name": "城市管理·市政设施", "count": 40, "previous": 40, "change": 0.0}],
    "rates": [{"key": "sign_rate", "name": "签收率", "value": 0.98, "previous": 0.97},
              {"key": "satisfaction_rate", "name": "满意率", "value": None, "previous": 0.9}],
    "rankings": [{"rank": 1, "unit_id": "U1", "name": "某单位", "score": 0.93, "volume": 50, "on_time_rate": 0.96,
                  "satisfaction_rate": 0.9}],
    "red": [{"unit_id": "U1", "name": "某单位", "score": 0.93}], "black": [],
    "overdue": [{"appeal_id": "20261202-XXXX", "unit": "某单位", "category": "市政设施",
                 "due_at": "2026-12-02T18:00:00+08:00", "red": True}],
    "hotspots": [{"group": "01.06", "group_name": "市政设施", "area": "440306002", "area_name": "新安街道",
                  "count": 12, "joined": 4}],
    "hot_words": [{"word": "井盖", "count": 9}],
    "alerts": [{"alert_id": "hs:01.06:440306002:A1", "at": "2026-12-02T16:10:00+08:00", "group_name": "市政设施",
                "area_name": "新安街道", "expected": 0.4, "observed": 5, "appeals": 5}],
    "redo": {"replied": 300, "redone": 9, "redo_rate": 0.03, "returned": 5, "return_rate": 0.012},
}

HOSTILE = '</script><img src=x onerror=alert(1)>&"\''


class Marked(HTMLParser):
    """The elements carrying one attribute: its value -> the element's text (each tag counts as
    a space, whitespace collapsed) and the texts of its <td> cells; also every <script>'s
    attributes and content."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self, html: str, attr: str):
        super().__init__(convert_charrefs=True)
        self.attr, self.stack, self.scripts = attr, [], []
        self.texts: dict[str, str] = {}
        self.cells: dict[str, list[str]] = {}
        self.feed(html)
        self.close()
        self.texts = {k: " ".join(v.split()) for k, v in self.texts.items()}
        self.cells = {k: [" ".join(c.split()) for c in v] for k, v in self.cells.items()}

    def _open_keys(self):
        return [key for _, key in self.stack if key is not None]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts.append([attrs, ""])
        for key in self._open_keys():
            self.texts[key] += " "
            if tag == "td":
                self.cells[key].append("")
        if tag in self.VOID:
            return
        key = attrs.get(self.attr)
        if key is not None:
            self.texts[key], self.cells[key] = "", []
        self.stack.append((tag, key))

    def handle_endtag(self, tag):
        for key in self._open_keys():
            self.texts[key] += " "
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if self.stack and self.stack[-1][0] == "script":
            self.scripts[-1][1] += data
        for key in self._open_keys():
            self.texts[key] += data
            if self.cells[key]:
                self.cells[key][-1] += data


def screen(data: dict) -> str:
    return render("screen.html", base="/api", data=data, data_url="/api/screen")


def report(data: dict, echarts_js: str = "") -> str:
    return render("report.html", report=data, echarts_js=echarts_js)


def with_changes(base: dict, **changes) -> dict:
    out = copy.deepcopy(base)
    out.update(changes)
    return out


# --- the static files ------------------------------------------------------------------------

def test_javascript_goes_out_as_application_javascript():
    assert static_file("screen.js")[1] == "application/javascript; charset=utf-8"


def test_static_text_is_the_vendored_file_verbatim():
    assert static_text("echarts.min.js") == (STATIC / "echarts.min.js").read_text("utf-8")


def test_the_vendored_echarts_is_5_6_0():
    assert re.findall(r'\.version="(5\.\d+\.\d+)"', static_text("echarts.min.js")) == ["5.6.0"]


def test_static_text_of_an_unknown_file_is_an_error():
    with pytest.raises(FileNotFoundError):
        static_text("../render.py")


# --- 一屏观全市 ----------------------------------------------------------------------------------

def test_screen_shows_the_counts():
    shown = Marked(screen(SCREEN), "data-metric").texts
    assert {k: v for k, v in shown.items() if not k.startswith("rate-")} == {
        "open": "120", "overdue": "7", "red": "3", "received_today": "45", "alerts_open": "2"}


def test_screen_shows_rates_as_percentages_with_one_decimal_and_a_null_as_a_dash():
    shown = Marked(screen(SCREEN), "data-metric").texts
    assert {k: v for k, v in shown.items() if k.startswith("rate-")} == {
        "rate-sign_rate": "97.5%", "rate-response_rate": "95.0%", "rate-on_time_rate": "90.0%",
        "rate-resolve_rate": "80.0%", "rate-satisfaction_rate": "—", "rate-overdue_rate": "5.0%",
        "rate-return_rate": "2.0%", "rate-redo_rate": "3.0%"}


@pytest.mark.parametrize("demo", [True, False])
def test_screen_has_the_demo_badge_only_on_demo_data(demo):
    assert ("演示数据" in screen(with_changes(SCREEN, demo=demo))) is demo


def test_screen_embeds_its_data_as_json_that_round_trips():
    data = with_changes(SCREEN, scope={"kind": "city", "code": "4403", "name": HOSTILE})
    scripts = Marked(screen(data), "id").scripts
    assert [json.loads(text) for attrs, text in scripts if attrs.get("id") == "screen-data"] == [data]


def test_screen_escapes_text_that_would_close_the_json_script():
    data = with_changes(SCREEN, scope={"kind": "city", "code": "4403", "name": HOSTILE})
    assert "<img src=x" not in screen(data)


def test_screen_alert_shows_expected_observed_names_and_appeal_count():
    assert Marked(screen(SCREEN), "data-alert-id").texts == {
        "hs:01.06:440306002:A1": "16:10 新安街道 · 市政设施 预计 0.4，实际 5 · 2 件诉求"}


def test_screen_rankings_rows_are_the_units_in_rank_order():
    assert Marked(screen(SCREEN), "data-unit-id").cells == {
        "U440306-CG": ["1", "宝安区城管局", "93.0", "120"], "U440303-ZJ": ["2", "罗湖区住建局", "88.0", "80"]}


def test_screen_shows_the_time_of_its_data_in_beijing_time():
    assert Marked(screen(SCREEN), "data-slot").texts["as_of"] == "17:40:00"


def test_screen_loads_echarts_and_its_script_by_hashed_static_urls():
    srcs = [attrs["src"] for attrs, _ in Marked(screen(SCREEN), "id").scripts if "src" in attrs]
    assert srcs == [f"/api/static/echarts.min.js?v={static_file('echarts.min.js')[2]}",
                    f"/api/static/screen.js?v={static_file('screen.js')[2]}"]


def test_screen_gives_its_script_the_data_url():
    assert 'id="screen" data-url="/api/screen"' in screen(SCREEN)


def test_screen_js_parses():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH")
    result = subprocess.run([node, "--check", str(STATIC / "screen.js")], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")


# --- 每日快报 / 周分析 / 月研判 --------------------------------------------------------------------

@pytest.fixture(scope="module")
def full_report() -> str:
    return report(REPORT, static_text("echarts.min.js"))


def test_report_inlines_echarts(full_report):
    assert static_text("echarts.min.js") in full_report


def test_echarts_cannot_end_its_inline_script_early():
    assert "</script" not in static_text("echarts.min.js").lower()


def test_report_refers_to_nothing_outside_itself(full_report):
    markup = full_report.replace(static_text("echarts.min.js"), "")
    assert re.findall(r"<link\b|\bsrc\s*=|\bhref\s*=|@import|url\(", markup, flags=re.I) == []


@pytest.mark.parametrize("demo", [True, False])
def test_report_has_the_demo_badge_only_on_demo_data(demo):
    assert ('<span class="demo">演示数据</span>' in report(with_changes(REPORT, demo=demo))) is demo


def test_report_embeds_its_data_as_json_that_round_trips():
    data = with_changes(REPORT, title=HOSTILE)
    scripts = Marked(report(data), "id").scripts
    assert [json.loads(text) for attrs, text in scripts if attrs.get("id") == "report-data"] == [data]


def test_report_headline_figures():
    assert Marked(report(REPORT), "data-headline").texts == {
        "volume": "受理诉求 410 上期 380 · ↑ 7.9%", "overdue": "超期件 1 其中红色预警 1 件",
        "alerts": "热点预警 1 热点 1 处", "redo_rate": "重办率 3.0% 退回率 1.2%"}


def test_report_changes_down_unknown_and_unchanged():
    html = report(REPORT)
    rows = {**Marked(html, "data-type").cells, **Marked(html, "data-category").cells}
    assert {code: cells[-1] for code, cells in rows.items()} == {"complaint": "↓ 6.2%", "advice": "—", "01.06": "持平"}


def test_report_rates_show_value_previous_and_points():
    assert Marked(report(REPORT), "data-rate").cells == {
        "sign_rate": ["签收率", "98.0%", "97.0%", "↑ 1.0 个百分点"], "satisfaction_rate": ["满意率", "—", "90.0%", "—"]}


def test_report_hotspots_show_joined_duplicates():
    assert Marked(report(REPORT), "data-hotspot").cells == {"01.06:440306002": ["新安街道", "市政设施", "12", "4"]}


def test_report_overdue_work_marks_the_red_alert():
    assert Marked(report(REPORT), "data-appeal").cells == {
        "20261202-XXXX": ["20261202-XXXX", "某单位", "市政设施", "2026-12-02 18:00", "红色预警"]}


def test_report_alert_shows_expected_observed_and_appeals():
    assert Marked(report(REPORT), "data-alert-id").cells == {
        "hs:01.06:440306002:A1": ["12-02 16:10", "新安街道", "市政设施", "0.4", "5", "5"]}


def test_report_redo_and_return_figures():
    assert Marked(report(REPORT), "data-redo").texts == {
        "replied": "300", "redone": "9", "redo_rate": "3.0%", "returned": "5", "return_rate": "1.2%"}


def test_report_red_and_black_lists_an_empty_one_says_so():
    assert Marked(report(REPORT), "data-board").cells == {"red": ["某单位", "93.0"], "black": ["本期无"]}
