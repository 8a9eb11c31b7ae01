"""Staff sign-in in a real browser: the OIDC authorization code flow with PKCE against the
stand-in's authorization server (infra/oidc_standin.py, fixture `oidc_standin`), the app on
Chalice's local server over a platform of fakes."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from chalicelib.api import wiring
from tests.browser.conftest import STAFF_PASSWORD, sign_in_via_idp
from tests.fakes import SETTINGS, fake_platform, shenzhen_runtime


@pytest.fixture(scope="module")
def signed_out_screen(app_url, oidc_standin):
    p = fake_platform(datetime.now(timezone.utc), region=shenzhen_runtime(),
                      settings=dataclasses.replace(SETTINGS, public_base_url=app_url))
    before, wiring.PLATFORM = wiring.PLATFORM, p
    try:
        yield app_url, oidc_standin.url
    finally:
        wiring.PLATFORM = before


def session_cookie(page) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == "jiesu_session"), None)


def test_the_screen_sends_to_the_idps_form_a_wrong_password_is_refused_and_the_right_one_lands_signed_in(
        page, signed_out_screen):
    app, idp = signed_out_screen
    page.goto(f"{app}/staff/screen")
    at_form = page.url.startswith(f"{idp}/oauth2/authorize?")
    labels = [page.locator("label[for=username]").inner_text(), page.locator("label[for=password]").inner_text()]
    page.fill("#username", "dispatcher")
    page.fill("#password", "not-the-password")
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.click("button[type=submit]")
    refusal = page.locator("[role=alert]").inner_text()
    page.fill("#password", STAFF_PASSWORD)          # the form came back with the username kept
    page.click("button[type=submit]")
    page.wait_for_url(f"{app}/staff/screen")
    page.wait_for_selector("[data-metric=open]")
    cookie = session_cookie(page)
    assert (at_form, labels, refused.value.status, refusal, page.url, cookie["httpOnly"], cookie["sameSite"],
            cookie["expires"] > 0) == (True, ["用户名", "密码"], 401, "用户名或密码错误", f"{app}/staff/screen", True,
                                       "Strict", True)


def test_signing_out_clears_the_session_and_returns_to_sign_in(page, signed_out_screen):
    app, idp = signed_out_screen
    sign_in_via_idp(page, app, "baoan_leader", "/staff/screen")
    signed_in = session_cookie(page) is not None
    page.click("#sign-out")
    # The app's page moves on to the IdP's sign-out, which returns to /staff/sign-in: the IdP's form.
    page.wait_for_url(lambda url: url.startswith(f"{idp}/oauth2/authorize?"))
    form = page.locator("#username").count()
    page.goto(f"{app}/staff/screen")            # signed out: the screen sends to sign in again
    again = page.url.startswith(f"{idp}/oauth2/authorize?")
    assert (signed_in, session_cookie(page), form, again) == (True, None, 1, True)
