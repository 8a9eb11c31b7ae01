"""The one screen (一屏观全市) and a daily report in a real browser (issue 17, F-AN-4/5).

The Chalice app on 127.0.0.1 over the platform of fakes, seeded with a few days of demo history
through the real pipeline (infra/demo_history.py) and counted by the analytics stage; a staff
member opens the screen, is sent to sign in (the OIDC code flow, at the stand-in's
authorization server: tests/browser/conftest.py `oidc_standin`) and comes back to it.

JIESU_SCREENSHOTS=<dir> keeps screen.png (1920x1080) and daily-report.png there.
"""
from __future__ import annotations

import dataclasses
import json
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from chalicelib.api import wiring
from chalicelib.domain.calendar import to_local
from chalicelib.domain.records import Channel
from chalicelib.services import dispatch, reports
from chalicelib.services.analytics_read import Scope
from chalicelib.services.clock import FixedClock
from infra import demo_history
from tests.browser.test_citizen_and_public_pages import shot
from tests.fakes import SETTINGS, fake_platform, run_analytics, shenzhen_runtime
from tests.browser.conftest import sign_in_via_idp
from tests.unit.test_public_side_without_aws import take_in
from tests.unit.test_services_without_aws import CLEAR, KEY_ID, SECRET, SECRET_REF, hotline, to_dispatch_stage

WIDE = {"viewport": {"width": 1920, "height": 1080}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
# A working day's afternoon (local), whatever today is: the demo history ends the day before.
NOW = datetime(2026, 11, 26, 7, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def stack(app_url, oidc_standin):
    from pathlib import Path

    rt = shenzhen_runtime()
    clock = FixedClock(NOW)
    p = fake_platform(clock, region=rt, secrets={SECRET_REF: SECRET},
                      settings=dataclasses.replace(SETTINGS, public_base_url=app_url))
    p.store.add_channel(Channel("hotline", "12345热线", {KEY_ID: SECRET_REF}, None, None, True))
    examples = demo_history.examples_of(Path(__file__).parents[2] / "regions" / "shenzhen")
    made = demo_history.seed(p, "shenzhen", {"hotline": (KEY_ID, SECRET)}, examples, days=3, per_day=5,
                             log=lambda line: None)
    run_analytics(p)
    before, wiring.PLATFORM = wiring.PLATFORM, p
    try:
        yield app_url, p, made
    finally:
        wiring.PLATFORM = before


def api(base: str, path: str, token: str) -> dict:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def sign_in(page, base: str, username: str) -> None:
    """Open the screen signed out: to the IdP's form and back, signed in as `username`."""
    sign_in_via_idp(page, base, username, "/staff/screen")
    page.wait_for_selector("[data-metric=open]")


def metric(page, name: str) -> str:
    return page.locator(f"[data-metric={name}]").first.inner_text().strip()


def percent(v) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def wide_page(browser):
    """A 1920x1080 page and the list its console errors and page errors go to."""
    context = browser.new_context(**WIDE)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page, errors


def test_the_screen_shows_the_apis_numbers_refreshes_in_place_and_logs_no_error(browser, stack, staff_idp):
    base, p, made = stack
    token = staff_idp.token("dispatcher")
    context, page, errors = wide_page(browser)
    page.clock.install(time=NOW)
    sign_in(page, base, "dispatcher")
    errors.clear()          # the stand-in IdP's pages are not under test (it has no favicon)
    data = api(base, "/staff/analytics/screen", token)
    shown = {k: metric(page, k) for k in ("open", "overdue", "received_today", "alerts_open")}
    rates = {k: metric(page, f"rate-{k}") for k in ("sign_rate", "response_rate", "satisfaction_rate")}
    charts = page.locator("canvas").count()
    page.clock.run_for(3_000)        # the charts' animations run on the page's (installed) clock
    shot(page, "screen")
    # A new appeal comes in and is dispatched; the analytics stage counts it; a minute later the
    # page shows it without a reload.
    before_open = int(shown["open"])
    result = take_in(p, hotline(*CLEAR))
    to_dispatch_stage(p, result.body["appeal_id"])
    dispatch.process(p, result.body["appeal_id"])
    run_analytics(p)
    url_before = page.url
    page.clock.run_for(61_000)
    expect(page.locator("[data-metric=open]").first).to_have_text(str(before_open + 1))
    context.close()
    assert (shown, rates, charts >= 4, data["demo"], page.url == url_before, errors) == (
        {k: str(data["counts"][k]) for k in shown},
        {k: percent(data["rates"][k]) for k in rates}, True, True, True, [])


def test_a_district_leader_sees_only_the_district_and_the_daily_report_opens(browser, stack, staff_idp):
    base, p, made = stack
    token = staff_idp.token("baoan_leader")
    context, page, errors = wide_page(browser)
    sign_in(page, base, "baoan_leader")
    errors.clear()
    scope = page.locator("[data-slot=scope]").inner_text()
    streets = api(base, "/staff/analytics/screen", token)["map"]["streets"]
    yesterday = to_local(p.now()).date() - timedelta(days=1)
    entry = reports.write(p, "shenzhen", Scope("district", "440306", "宝安区"), "daily", yesterday)
    page.goto(f"{base}/staff/reports/daily/{entry.start}.html")
    title = page.locator("h1").first.inner_text()
    # ECharts came from the platform's static route (the report carries no copy); a table with
    # rows gets its chart
    loaded = page.evaluate("() => typeof echarts")
    drawn = page.evaluate("() => [...document.querySelectorAll('[data-chart]')].every("
                          "n => n.hidden || n.querySelector('svg') !== null)")
    shot(page, "daily-report")
    context.close()
    assert (scope, {s["district"] for s in streets}, title.startswith("每日快报"), loaded, drawn, errors) == (
        "宝安区", {"440306"}, True, "object", True, [])
