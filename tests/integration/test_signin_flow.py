"""The browser's staff sign-in without a browser: the Chalice app (chalice.test Client) on moto,
the stand-in's authorization server (infra/oidc_standin.py) minting the test IdP's tokens
(tests/integration/staff_fixtures.py), every step of the OIDC code flow with PKCE."""
from __future__ import annotations

import html
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from chalice.test import Client

from chalicelib import auth, signin
from chalicelib.settings import get_settings
from infra.oidc_standin import OidcStandIn, RegisteredClient
from tests.integration.staff_fixtures import AUDIENCE, ISSUER, PEOPLE, idp  # noqa: F401

APP = "http://127.0.0.1:8000"          # the app's public base URL when none is configured
CALLBACK, SIGN_IN = f"{APP}/staff/auth/callback", f"{APP}/staff/sign-in"
PASSWORD = "test-password-1"
LIFE_S = 900                            # the life of the tokens the stand-in hands out here


@pytest.fixture(scope="module")
def standin(idp):  # noqa: F811
    lines: list[str] = []

    def authenticate(username: str, password: str) -> str | None:
        if username == "forged" and password == PASSWORD:      # a token the region's JWKS does not verify
            return idp.token("dispatcher", key=idp.other_key, exp_in=LIFE_S)
        return idp.token(username, exp_in=LIFE_S) if username in PEOPLE and password == PASSWORD else None

    server = OidcStandIn(authenticate, [RegisteredClient(AUDIENCE, (CALLBACK,), (SIGN_IN,))], issuer=ISSUER,
                         jwks_url=idp.jwks_url, log=lines.append).start()
    server.lines = lines
    yield server
    server.stop()


@pytest.fixture
def oidc_env(idp, standin, monkeypatch):  # noqa: F811
    """The app's JIESU_OIDC_* pointed at the test IdP (tokens, JWKS) and the stand-in (endpoints)."""
    for k, v in {"JIESU_OIDC_ISSUER": ISSUER, "JIESU_OIDC_AUDIENCE": AUDIENCE, "JIESU_OIDC_JWKS_URL": idp.jwks_url,
                 **standin.env()}.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    yield idp
    get_settings.cache_clear()


@pytest.fixture
def light(oidc_env):
    """The app without AWS, for the steps that end before the platform is read."""
    import app

    with Client(app.app) as c:
        yield c


@pytest.fixture
def client(aws, light):
    """The app on moto: the callback's claims check reads the region's pack, the screen its counters."""
    yield light


def http(method: str, url: str, form: dict | None = None) -> tuple[int, dict, str]:
    """One request to the stand-in, redirects not followed: (status, headers, body)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def cookies_of(resp) -> list[str]:
    value = resp.headers.get("Set-Cookie") or []
    return value if isinstance(value, list) else [value]


def cookie(resp, name: str) -> str:
    return next(c for c in cookies_of(resp) if c.startswith(name + "="))


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def start(client, next_path: str = "/staff/screen"):
    """GET /staff/sign-in: (the IdP's authorize URL, the `jiesu_login` cookie as a request header)."""
    resp = client.http.get(f"/staff/sign-in?next={urllib.parse.quote(next_path)}")
    assert resp.status_code == 302, resp.body
    return resp.headers["Location"], cookie(resp, signin.LOGIN_COOKIE).split(";", 1)[0]


def at_idp(authorize: str, username: str = "dispatcher", password: str = PASSWORD) -> tuple[int, str]:
    """What the browser does at the IdP: its form, filled in and sent. (status, Location)."""
    status, _, page = http("GET", authorize)
    assert status == 200 and "用户名" in page
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    form = {k: html.unescape(v) for k, v in hidden.items()}
    status, headers, _ = http("POST", authorize.split("?", 1)[0], {**form, "username": username,
                                                                   "password": password})
    return status, headers.get("Location", "")


def callback(client, location: str, login_cookie: str):
    return client.http.get(f"/staff/auth/callback?{urllib.parse.urlsplit(location).query}",
                           headers={"Cookie": login_cookie})


def test_sign_in_redirects_to_the_idp_with_an_s256_challenge_and_keeps_state_and_verifier_in_a_lax_cookie(light):
    resp = light.http.get("/staff/sign-in?next=/staff/screen")
    location, set_cookie = resp.headers["Location"], cookie(resp, signin.LOGIN_COOKIE)
    login = signin.read_login_cookie(set_cookie.split(";", 1)[0].split("=", 1)[1])
    q = query(location)
    attributes = sorted(a.strip() for a in set_cookie.split(";")[1:])
    assert (resp.status_code, location.split("?")[0], q, login.next, login.verifier in location, attributes) == (
        302, get_settings().oidc_authorize_url,
        {"response_type": "code", "client_id": AUDIENCE, "redirect_uri": CALLBACK, "scope": "openid",
         "state": login.state, "code_challenge": signin.code_challenge(login.verifier),
         "code_challenge_method": "S256"},
        "/staff/screen", False, ["HttpOnly", "Max-Age=600", "Path=/staff/auth", "SameSite=Lax"])


def test_a_callback_whose_state_is_not_the_browsers_is_400_naming_state(light):
    location, login_cookie = start(light)
    status, back = at_idp(location)
    forged = back.replace(f"state={query(back)['state']}", "state=someone-elses")
    resp = light.http.get(f"/staff/auth/callback?{urllib.parse.urlsplit(forged).query}",
                           headers={"Cookie": login_cookie, "Accept": "application/json"})
    assert (status, resp.status_code, json.loads(resp.body)["error"]["field"]) == (302, 400, "state")


def test_the_standin_refuses_a_wrong_verifier_and_a_reused_code_with_invalid_grant(standin):
    verifier, challenge = signin.pkce_pair()

    def code() -> str:
        where = standin.sign_in({"username": "dispatcher", "password": PASSWORD, "client_id": AUDIENCE,
                                 "redirect_uri": CALLBACK, "code_challenge": challenge})
        return query(where)["code"]

    def exchange(c: str, v: str) -> tuple[int, str]:
        status, _, body = http("POST", f"{standin.url}/oauth2/token", {
            "grant_type": "authorization_code", "code": c, "redirect_uri": CALLBACK, "client_id": AUDIENCE,
            "code_verifier": v})
        return status, json.loads(body).get("error") or json.loads(body)["token_type"]

    wrong = exchange(code(), signin.pkce_pair()[0])
    once = code()
    assert (wrong, exchange(once, verifier), exchange(once, verifier)) == (
        (400, "invalid_grant"), (200, "Bearer"), (400, "invalid_grant"))


def test_a_round_trip_sets_a_strict_httponly_session_for_the_tokens_life_and_the_screen_opens(client):
    location, login_cookie = start(client)
    status, back = at_idp(location)
    resp = callback(client, location=back, login_cookie=login_cookie)
    session = cookie(resp, "jiesu_session")
    attributes = {a.strip().split("=")[0]: a.strip() for a in session.split(";")[1:]}
    max_age = int(attributes["Max-Age"].split("=")[1])
    cleared = cookie(resp, signin.LOGIN_COOKIE)
    page = resp.body.decode()
    screen = client.http.get("/staff/screen", headers={"Cookie": session.split(";", 1)[0]})
    assert (status, resp.status_code, sorted(attributes), abs(max_age - LIFE_S) <= 5, attributes["SameSite"],
            "Max-Age=0" in cleared, '<meta http-equiv="refresh" content="0;url=/staff/screen">' in page,
            screen.status_code, 'data-metric="open"' in screen.body.decode()) == (
        302, 200, ["HttpOnly", "Max-Age", "Path", "SameSite"], True, "SameSite=Strict", True, True, 200, True)


def test_a_token_the_region_does_not_verify_is_401_and_sets_no_session(client):
    location, login_cookie = start(client)
    _, back = at_idp(location, username="forged")
    resp = callback(client, back, login_cookie)
    assert (resp.status_code, any(c.startswith("jiesu_session=") for c in cookies_of(resp)),
            "登录被拒绝" in resp.body.decode()) == (401, False, True)


def test_an_idp_error_is_a_401_page_saying_sign_in_was_refused(light):
    _, login_cookie = start(light)
    resp = light.http.get("/staff/auth/callback?error=access_denied&state=x", headers={"Cookie": login_cookie})
    assert (resp.status_code, "统一身份认证拒绝了这次登录" in resp.body.decode()) == (401, True)


def test_an_expired_sessions_screen_sends_to_sign_in(light, oidc_env):
    expired = oidc_env.token("dispatcher", exp_in=-120)
    resp = light.http.get("/staff/screen", headers={"Cookie": f"jiesu_session={expired}"})
    assert (resp.status_code, resp.headers["Location"]) == (302, "/staff/sign-in?next=/staff/screen")


def test_signing_out_clears_the_session_and_goes_through_the_idps_sign_out_back_to_sign_in(light, oidc_env):
    token = oidc_env.token("dispatcher")
    resp = light.http.post("/staff/session/end", headers={
        "Cookie": f"jiesu_session={token}", "Accept": "text/html",
        "Content-Type": "application/x-www-form-urlencoded"}, body=f"csrf={auth.csrf_for(token)}")
    onward = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', resp.body.decode()).group(1)
    onward = html.unescape(onward)
    status, headers, _ = http("GET", onward)
    assert (resp.status_code, cookie(resp, "jiesu_session").split(";")[0], "Max-Age=0" in cookie(resp, "jiesu_session"),
            onward.split("?")[0], query(onward)["client_id"], status, headers["Location"]) == (
        200, "jiesu_session=", True, get_settings().oidc_logout_url, AUDIENCE, 302, SIGN_IN)


def test_the_logs_never_carry_the_id_token_nor_the_code(client, standin, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    location, login_cookie = start(client)
    _, back = at_idp(location)
    resp = callback(client, back, login_cookie)
    token = cookie(resp, "jiesu_session").split(";", 1)[0].split("=", 1)[1]
    code = query(back)["code"]
    out, err = capfd.readouterr()
    logged = "\n".join([caplog.text, out, err, *standin.lines])
    assert (resp.status_code, "staff sign-in" in logged, "dispatcher signed in" in logged, token in logged,
            code in logged) == (200, True, True, False, False)
