"""A real headless browser for the browser tests: Debian's chromium driven by Playwright.

`make test` installs the `chromium` apt package when it is missing (Makefile target `browser`);
`JIESU_CHROMIUM=/path/to/chromium` names another executable. Playwright's own browser download
(`playwright install`) is not used. One browser per test session (starting it costs about a
second) for all of them; every test gets a fresh phone-sized context of its own.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.pii_scan import PiiScanner, report

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}
# A missing element should fail a test in seconds, not after Playwright's default 30 s.
TIMEOUT_MS = 10_000


def chromium_path() -> str:
    """The chromium the tests launch: JIESU_CHROMIUM, else `chromium` on PATH (/usr/bin/chromium)."""
    override = os.environ.get("JIESU_CHROMIUM")
    if override:
        if not (Path(override).is_file() and os.access(override, os.X_OK)):
            pytest.fail(f"JIESU_CHROMIUM={override} is not an executable file", pytrace=False)
        return override
    found = shutil.which("chromium")
    if not found:
        pytest.fail("no chromium for the browser tests: `make test` installs Debian's `chromium` "
                    "package (apt-get install chromium, as root or with sudo), or set "
                    "JIESU_CHROMIUM to a chromium executable", pytrace=False)
    return found


# Started once, by the first browser test, and closed after the last test under tests/browser/
# (package scope; they run one after another, so that is once per session), not at the end of
# the session: while Playwright's sync API is connected the main thread has a running asyncio
# loop, so any later test calling asyncio.run() would fail ("cannot be called from a running
# event loop"), and chromium's memory would stay taken for the rest of the suite.
@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as pw:
        # Playwright launches chromium without its sandbox unless asked (chromium_sandbox=False,
        # i.e. --no-sandbox), which running as root, as CI does, requires anyway.
        browser = pw.chromium.launch(executable_path=executable, headless=True, chromium_sandbox=False)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(**PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def dom_text(page) -> str:
    """The rendered DOM's full HTML followed by its visible text (innerText), for scanning."""
    html = page.content()
    text = page.evaluate("() => document.body ? document.body.innerText : ''")
    return html + "\n" + text


@pytest.fixture(scope="package")
def app_url():
    """The Chalice app served once on a free port of 127.0.0.1 for every browser test (Chalice's
    local server rewires the app's class, so a second server in one process cannot be made);
    each module puts its own platform in chalicelib.api.wiring.PLATFORM, which every request reads."""
    import socket
    import threading

    from chalice.config import Config
    from chalice.local import create_local_server

    import app as chalice_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = Config.create(chalice_stage="dev", app_name="jiesu", project_dir=str(Path(__file__).parents[2]))
    server = create_local_server(chalice_app.app, config, "127.0.0.1", port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.server.shutdown()


# --- staff sign-in: the OIDC code flow through the stand-in's authorization server -------------

# The password of every person of tests/integration/staff_fixtures.PEOPLE at the stand-in IdP.
STAFF_PASSWORD = "Jiesu-test-2026!"


@pytest.fixture(scope="package")
def staff_idp():
    """The browser tests' OIDC issuer (tests/integration/staff_fixtures.IdP: an RSA key and its
    JWKS on 127.0.0.1): it mints the tokens the stand-in hands out, and tokens for API calls."""
    from tests.integration.staff_fixtures import IdP

    i = IdP()
    try:
        yield i
    finally:
        i.server.shutdown()


@pytest.fixture(scope="package")
def oidc_standin(staff_idp, app_url):
    """infra/oidc_standin.py on a free port of 127.0.0.1, signing in every person of
    staff_fixtures.PEOPLE (username = the key, password STAFF_PASSWORD) with a token of
    `staff_idp`; `app_url`'s callback and sign-in page registered; the app's JIESU_OIDC_*
    pointed at both. Sign a page in with `sign_in_via_idp`."""
    from chalicelib.settings import get_settings
    from infra.oidc_standin import OidcStandIn, RegisteredClient
    from tests.integration.staff_fixtures import AUDIENCE, ISSUER, PEOPLE

    def authenticate(username: str, password: str) -> str | None:
        return staff_idp.token(username) if username in PEOPLE and password == STAFF_PASSWORD else None

    server = OidcStandIn(authenticate, [RegisteredClient(AUDIENCE, (f"{app_url}/staff/auth/callback",),
                                                         (f"{app_url}/staff/sign-in",))],
                         issuer=ISSUER, jwks_url=staff_idp.jwks_url).start()
    mp = pytest.MonkeyPatch()
    for k, v in {"JIESU_OIDC_ISSUER": ISSUER, "JIESU_OIDC_AUDIENCE": AUDIENCE,
                 "JIESU_OIDC_JWKS_URL": staff_idp.jwks_url, **server.env()}.items():
        mp.setenv(k, v)
    get_settings.cache_clear()
    try:
        yield server
    finally:
        mp.undo()
        get_settings.cache_clear()
        server.stop()


def sign_in_via_idp(page, app_url: str, username: str, next_path: str = "/staff/screen",
                    password: str = STAFF_PASSWORD) -> None:
    """Sign `page` in as one of staff_fixtures.PEOPLE the way a person does: /staff/sign-in
    sends the browser to the stand-in's form, the form is filled in, and the callback's page
    moves on to `next_path`. Needs the `oidc_standin` fixture (and a platform in
    chalicelib.api.wiring.PLATFORM whose public_base_url is `app_url`)."""
    from urllib.parse import quote

    page.goto(f"{app_url}/staff/sign-in?next={quote(next_path)}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    target = f"{app_url}{next_path}"
    page.wait_for_url(lambda url: url == target or url.startswith(target + "?"))


# --- the one personal-data scan of the browser tests (tests/pii_scan.py; issue 22, item 5) -----

# The one answer that shows personal data in clear: a staff member's unmask, with a reason (audited).
UNMASK_PATH = re.compile(r"/staff/(?:work/)?appeals/[^/]+/unmask$")


class PiiWatch:
    """The personal data a browser test sent (`sent`), searched for in every HTTP response body
    its pages got and in each page's rendered DOM (`snapshot`, and every watched page at the end).
    The unmask answer (POST .../unmask, 200) and a page showing it are left out, nothing else."""

    def __init__(self):
        self.sent = PiiScanner()
        self.pages: list = []
        self.responses: list = []
        self.blobs: list[tuple[str, str | bytes]] = []

    def attach(self, page):
        self.pages.append(page)
        page.on("response", lambda r: self.responses.append(r))
        return page

    def snapshot(self, page) -> str:
        """The page's DOM now (scanned at the end unless it is the unmask answer); returns it."""
        text = dom_text(page)
        if not UNMASK_PATH.search(urlsplit(page.url).path):
            self.blobs.append((f"dom {urlsplit(page.url).path}", text))
        return text

    def hits(self) -> list:
        for page in self.pages:
            if not page.is_closed():
                self.snapshot(page)
        for r in self.responses:
            path = urlsplit(r.url).path
            if r.request.method == "POST" and UNMASK_PATH.search(path) and r.status == 200:
                continue
            try:
                body = r.body()
            except Exception:  # noqa: BLE001 - a redirect or an evicted resource has no body
                continue
            self.blobs.append((f"{r.request.method} {path} {r.status}", body))
        self.responses.clear()
        return self.sent.scan_all(self.blobs)


@pytest.fixture
def pii_watch():
    """0 hits is a test: the data the test put in `pii_watch.sent` is in no response nor DOM."""
    watch = PiiWatch()
    yield watch
    if watch.sent:
        hits = watch.hits()
        assert hits == [], "personal data the test sent was shown:\n" + report(hits)
