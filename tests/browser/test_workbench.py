"""The staff workbench in a real browser (issue 18): a day's path for each role on one appeal,
from sign-in to closure, with one refusal per role shown on the page in Chinese and what was
typed kept; keyboard use, a tablet and a 1280x800 screen; no console error.

The Chalice app on 127.0.0.1 over the platform of fakes. JIESU_SCREENSHOTS=<dir> keeps
dispatch-queue.png, inbox.png and case-file.png there.
"""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone

import pytest

from chalicelib.api import wiring
from chalicelib.domain.lifecycle import Status
from chalicelib.domain.records import Channel
from chalicelib.services import dispatch, evaluation, tracking
from chalicelib.services.clock import FixedClock
from tests.browser.test_citizen_and_public_pages import shot
from tests.fakes import SETTINGS, fake_platform, shenzhen_runtime
from tests.browser.conftest import sign_in_via_idp
from tests.pii_scan import merge, sent_by_channel
from tests.unit.test_public_side_without_aws import take_in
from tests.unit.test_services_without_aws import CLEAR, KEY_ID, SECRET, SECRET_REF, hotline, to_dispatch_stage

DESK = {"viewport": {"width": 1280, "height": 800}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
TABLET = {"viewport": {"width": 768, "height": 1024}, "device_scale_factor": 2, "is_mobile": True,
          "has_touch": True, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)       # a Thursday, 10:00 in Shenzhen
XIXIANG = "U440306002-JD"
# A refusal is answered with its status (the page shows it); the browser's console notes that, and
# nothing else may be there.
REFUSED = "Failed to load resource: the server responded with a status of %d (%s)"


@pytest.fixture(scope="module")
def stack(oidc_standin, app_url):
    """The platform of fakes behind the app; staff sign in through the stand-in IdP (oidc_standin)."""
    clock = FixedClock(NOW)
    p = fake_platform(clock, region=shenzhen_runtime(), secrets={SECRET_REF: SECRET},
                      settings=dataclasses.replace(SETTINGS, public_base_url=app_url))
    p.store.add_channel(Channel("hotline", "12345热线", {KEY_ID: SECRET_REF}, None, None, True))
    before, wiring.PLATFORM = wiring.PLATFORM, p
    try:
        yield app_url, p, clock
    finally:
        wiring.PLATFORM = before


def signed_in(browser, base: str, person: str, landing: str, viewport=DESK):
    """A browser context of one person, signed in as a person does (the workbench sends the browser
    to the IdP's form, which is filled in, and the callback lands on `landing`), with the list its
    console errors go to."""
    context = browser.new_context(**viewport)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in_via_idp(page, base, person, landing)
    return context, page, errors


def refusal(page) -> tuple[str, str]:
    node = page.locator("#refusal")
    return node.get_attribute("data-code"), node.inner_text()


def form(page, action: str):
    return page.locator(f'form[data-action="{action}"]')


def test_a_days_work_for_the_dispatcher_the_unit_and_the_leader_from_sign_in_to_closure(browser, stack, pii_watch):
    base, p, clock = stack
    payload = hotline("有个事情想问一下，怎么办理比较好？", "宝安区西乡街道西乡大道坪洲地铁站C出口", "SZ20261126009001")
    merge(pii_watch.sent, sent_by_channel("hotline", json.dumps(payload, ensure_ascii=False)))
    assert pii_watch.sent.names and pii_watch.sent.phones and pii_watch.sent.id_numbers
    vague = take_in(p, payload).body["appeal_id"]
    to_dispatch_stage(p, vague)
    assert dispatch.process(p, vague) == "queued"
    seen: dict = {}

    # The dispatcher: the queue with three suggestions and why it waits; a dispatch to a unit that
    # does not exist is refused on the page, the reason typed stays; then to the street office.
    context, page, errors = signed_in(browser, base, "dispatcher", f"/staff/work?queue=dispatch")
    pii_watch.attach(page)
    row = page.locator(f'tr[data-appeal="{vague}"]')
    seen["suggestions"] = row.locator("ol.suggestions li").count()
    seen["queue_reason"] = "转人工原因" in row.inner_text()
    shot(page, "dispatch-queue")
    row.locator("a.case-link").click()
    dispatch_form = form(page, "dispatch")
    dispatch_form.locator("[name=unit_id]").fill("U000-NOWHERE")
    dispatch_form.locator("[name=reason]").fill("属地街道处理（测试）")
    dispatch_form.locator("button[type=submit]").click()
    seen["dispatcher_refused"] = refusal(page)
    seen["reason_kept"] = form(page, "dispatch").locator("[name=reason]").input_value()
    form(page, "dispatch").locator("[name=unit_id]").fill(XIXIANG)
    form(page, "dispatch").locator("[name=catalog_code]").fill("01.08.001")
    form(page, "dispatch").locator("button[type=submit]").click()
    seen["dispatched"] = page.locator(".notice-info").inner_text()
    flag = form(page, "flag_key")
    flag.locator("[name=reason]").fill("涉及公共安全（测试）")
    flag.locator("button[type=submit]").click()
    seen["dispatcher_errors"] = list(errors)
    seen.setdefault("leaks", []).extend(str(h) for h in pii_watch.hits())   # the one scanner
    context.close()

    # The unit: the inbox with the countdown; answering before contacting the citizen is refused
    # and the answer typed stays; then sign (with the keyboard), contact and reply.
    context, page, errors = signed_in(browser, base, "xixiang_handler", f"/staff/work")
    pii_watch.attach(page)
    row = page.locator(f'tr[data-appeal="{vague}"]')
    seen["countdown"] = row.locator('.countdown[data-step="sign"]').inner_text().startswith("签收：剩余")
    shot(page, "inbox")
    row.locator("a.case-link").click()
    sign_button = form(page, "sign").locator("button[type=submit]")
    sign_button.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**done=sign")
    answer = "已到现场核实，井盖已补装（测试答复）"
    form(page, "reply").locator("[name=answer]").fill(answer)
    form(page, "reply").locator("button[type=submit]").click()
    seen["unit_refused"] = refusal(page)
    seen["answer_kept"] = form(page, "reply").locator("[name=answer]").input_value()
    form(page, "contact").locator("[name=note]").fill("已电话联系市民（测试）")
    form(page, "contact").locator("button[type=submit]").click()
    shot(page, "case-file")
    form(page, "reply").locator("[name=answer]").fill(answer)
    form(page, "reply").locator("[name=attachments]").fill("https://files.example.com/after.jpg")
    form(page, "reply").locator("button[type=submit]").click()
    seen["replied"] = page.locator("h1 [data-slot=status]").inner_text()
    seen["unit_errors"] = list(errors)
    seen.setdefault("leaks", []).extend(str(h) for h in pii_watch.hits())   # the one scanner
    context.close()

    # The leader: the key appeal in the district's key list; naming a unit that does not exist is
    # refused; an instruction and following it; the feed and the links to the screen and reports.
    context, page, errors = signed_in(browser, base, "baoan_leader", f"/staff/work", TABLET)
    pii_watch.attach(page)
    seen["in_key_list"] = page.locator(f'tr[data-appeal="{vague}"]').count()
    page.locator(f'tr[data-appeal="{vague}"] a.case-link').click()
    name_unit = form(page, "name_unit")
    name_unit.locator("[name=unit_id]").fill("U000-NOWHERE")
    name_unit.locator("[name=instruction]").fill("请属地牵头（测试）")
    name_unit.locator("button[type=submit]").click()
    seen["leader_refused"] = refusal(page)
    form(page, "instruct").locator("[name=text]").fill("请尽快处置并回访（测试批示）")
    form(page, "instruct").locator("button[type=submit]").click()
    form(page, "follow").locator("button[type=submit]").click()
    seen["tablet_fits"] = page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.goto(f"{base}/staff/work/feed")
    seen["feed"] = page.locator(f'li[data-appeal="{vague}"]').count()
    seen["links"] = [page.locator(f'nav a[href="{path}"]').count() for path in
                     ("/staff/screen", "/staff/work/reports")]
    seen["leader_errors"] = list(errors)
    seen.setdefault("leaks", []).extend(str(h) for h in pii_watch.hits())   # the one scanner
    context.close()

    # The citizen rates: the appeal is closed, and the unit's page says so.
    appeal = p.store.load_appeal(vague)
    token = tracking.tracking_url(p, vague, appeal.tracking_salt).rsplit("/", 1)[1]
    evaluation.rate_on_page(p, token, {"speed": "5", "effect": "5", "service": "5", "reply_quality": "5"})
    context, page, errors = signed_in(browser, base, "xixiang_handler", f"/staff/work/appeals/{vague}")
    pii_watch.attach(page)
    seen["closed"] = page.locator("h1 [data-slot=status]").inner_text()
    seen.setdefault("leaks", []).extend(str(h) for h in pii_watch.hits())   # the one scanner
    context.close()
    kinds = [e.kind for e in p.store.load_case_file(vague)]
    assert seen == {
        "suggestions": 3, "queue_reason": True, "dispatcher_refused": ("invalid", "请检查「单位」"),
        "reason_kept": "属地街道处理（测试）", "dispatched": "已完成：派单", "dispatcher_errors": [REFUSED % (400, "Bad Request")],
        "countdown": True,
        "unit_refused": ("contact_required", "请先联系诉求人再答复"), "answer_kept": answer, "replied": "已答复",
        "unit_errors": [REFUSED % (409, "Conflict")], "in_key_list": 1, "leader_refused": ("invalid", "请检查「单位」"), "tablet_fits": True, "feed": 1,
        "links": [1, 1], "leader_errors": [REFUSED % (400, "Bad Request")], "closed": "已办结", "leaks": []}
    assert (p.store.load_appeal(vague).status, "leader_instruction" in kinds, "flagged_key" in kinds) == (
        Status.CLOSED, True, True)
