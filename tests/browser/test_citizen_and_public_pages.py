"""The citizen's tracking page and the public record in a real browser (issue 16, F-AR-2/F-AR-3).

The Chalice app is served on 127.0.0.1 by Chalice's own local server, over the platform of
fakes (tests/fakes.py: the services and pages are the real ones, the store is in memory), so a
page can be loaded after each step of an appeal's life without a stand-in. Each page's
rendered DOM is scanned for the personal data the test sent.

JIESU_SCREENSHOTS=<dir> keeps a screenshot of each page there (the note's pictures).
"""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from chalicelib.api import wiring
from chalicelib.domain.records import Channel
from chalicelib.services import dedup, dispatch, public_record, staff
from tests.browser.conftest import dom_text
from tests.pii_scan import PiiScanner, merge
from tests.fakes import fake_platform, run_analytics, shenzhen_runtime
from tests.unit.test_public_side_without_aws import take_in, token_of
from tests.unit.test_services_without_aws import (
    ANSWER, CITY_MANAGEMENT_BAOAN, CLEAR, KEY_ID, SECRET, SECRET_REF, T0, handler_of, hotline,
)

PHONE, ID_NUMBER, NAME = "13987654321", "44030519851231002X", "陈志强"
SCREENSHOTS = os.environ.get("JIESU_SCREENSHOTS")


@pytest.fixture(scope="module")
def site(app_url):
    """The app (tests/browser/conftest.py) over a fresh platform of fakes, for this module."""
    rt = shenzhen_runtime()
    p = fake_platform(T0, region=rt, secrets={SECRET_REF: SECRET})
    p.store.add_channel(Channel("hotline", "12345热线", {KEY_ID: SECRET_REF}, None, None, True))
    before, wiring.PLATFORM = wiring.PLATFORM, p
    try:
        yield app_url, p, rt
    finally:
        wiring.PLATFORM = before


def shot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def steps(page) -> list[str]:
    return page.locator("#timeline li.step").evaluate_all("els => els.map(e => e.dataset.kind)")


def sent(payload: dict) -> PiiScanner:
    """What a test's appeal carries: the text's name, phone and ID number, and the party's."""
    s = PiiScanner()
    s.add(NAME, ID_NUMBER, PHONE)
    s.add(payload["ldrxm"], payload["zjhm"], payload["lxdh"])
    return s


def personal_data_in(page, payload: dict) -> list[str]:
    """The page's DOM scanned by the one scanner (tests/pii_scan.py), and no staff actor id."""
    text = dom_text(page)
    return [str(h) for h in sent(payload).scan(f"dom {page.url}", text)] + \
        (["unit_handler:"] if "unit_handler:" in text else [])


def new_appeal(p):
    payload = hotline(f"我叫{NAME}，电话{PHONE}，身份证号{ID_NUMBER}。{CLEAR[0]}", CLEAR[1])
    result = take_in(p, payload)
    return payload, result.body["appeal_id"], token_of(result)


def test_the_tracking_page_shows_each_step_and_takes_the_rating(site, page, pii_watch):
    url, p, rt = site
    payload, appeal_id, token = new_appeal(p)
    merge(pii_watch.sent, sent(payload))
    pii_watch.attach(page)      # every response the page gets, and its DOM at the end
    track = f"{url}/track/{token}"
    page.goto(track)
    seen = [steps(page)]
    dedup.process(p, appeal_id)
    assert dispatch.process(p, appeal_id) == "dispatched"
    page.reload()
    seen.append(steps(page))
    who = handler_of(rt, CITY_MANAGEMENT_BAOAN)
    for action, body in (("sign", {}), ("contact", {"note": f"已电话联系{NAME} {PHONE}"}),
                         ("reply", {"answer": f"{ANSWER}。如有问题请联系本单位。"})):
        p.clock.advance(minutes=7)
        staff.perform(p, appeal_id, action, who, body)
        page.reload()
        seen.append(steps(page))
    answer = page.locator("#timeline li.step-replied blockquote.answer").inner_text()
    leaked_before_rating = personal_data_in(page, payload)
    shot(page, "tracking-page")

    for dimension in ("speed", "effect", "service", "reply_quality"):
        page.locator(f'fieldset[data-dimension="{dimension}"] input[value="5"]').check()
    page.locator("form.rating button[type=submit]").click()
    page.wait_for_url(f"{track}?rated=1")

    assert seen == [["accepted"], ["accepted", "dispatched", "deadlines_set"],
                    ["accepted", "dispatched", "deadlines_set", "signed"],
                    ["accepted", "dispatched", "deadlines_set", "signed", "contacted"],
                    ["accepted", "dispatched", "deadlines_set", "signed", "contacted", "replied"]]
    assert (answer, leaked_before_rating) == (f"{ANSWER}。如有问题请联系本单位。", [])
    assert (steps(page)[-2:], page.locator(".badge").inner_text(), page.locator("form.rating").count(),
            page.locator(".notice").inner_text(), personal_data_in(page, payload)) == (
        ["rated", "closed"], "已办结", 0, "感谢您的评价。", [])


def test_the_public_record_lists_the_closed_appeal_and_its_units_page(site, page, pii_watch):
    url, p, rt = site
    payload, appeal_id, token = new_appeal(p)
    merge(pii_watch.sent, sent(payload))
    pii_watch.attach(page)
    dedup.process(p, appeal_id)
    dispatch.process(p, appeal_id)
    who = handler_of(rt, CITY_MANAGEMENT_BAOAN)
    for action, body in (("sign", {}), ("contact", {"note": "已联系"}), ("reply", {"answer": ANSWER})):
        staff.perform(p, appeal_id, action, who, body)
    from chalicelib.services import evaluation

    evaluation.rate_on_page(p, token, {"speed": "5", "effect": "4", "service": "5", "reply_quality": "5"})
    run_analytics(p)            # the analytics stage counts it; the rankings job sums the counters
    public_record.refresh(p)

    page.goto(f"{url}/public")
    record = page.locator(f'li.record[data-appeal="{appeal_id}"]')
    listed = (record.locator(".record-category").inner_text(), record.locator("blockquote.answer").inner_text(),
              record.locator(".record-unit").inner_text())
    leaked_on_list = personal_data_in(page, payload)
    shot(page, "public-record")
    record.locator(".record-unit").click()
    page.wait_for_url(f"{url}/public/units/{CITY_MANAGEMENT_BAOAN}")
    unit_name = rt.units.by_id(CITY_MANAGEMENT_BAOAN).name
    stats = page.locator("#period-30d .stat-value").all_inner_texts()
    assert (listed, leaked_on_list) == ((p.store.get_view(appeal_id).summary["category"]["level2"], ANSWER, unit_name),
                                        [])
    assert (page.locator("h1").inner_text(), stats[0], stats[3],
            page.locator(f'#records li.record[data-appeal="{appeal_id}"]').count(),
            personal_data_in(page, payload)) == (unit_name, str(int(stats[0])), "100.0%", 1, [])
