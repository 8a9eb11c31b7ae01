"""chalicelib/signin.py: PKCE, the authorize and logout URLs, `next`, discovery, the sign-in
cookie; and the reason infra/oidc_standin.py exists (moto's Cognito has no hosted UI)."""
from __future__ import annotations

import dataclasses
import json
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from chalicelib import signin
from chalicelib.domain.errors import AuthenticationError
from infra.oidc_standin import OidcStandIn, RegisteredClient
from tests.fakes import SETTINGS


def test_the_s256_challenge_of_rfc_7636_appendix_b():
    assert signin.code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_a_pkce_pair_is_a_fresh_valid_verifier_and_its_challenge():
    (v1, c1), (v2, _) = signin.pkce_pair(), signin.pkce_pair()
    assert (signin.is_verifier(v1), len(v1), c1 == signin.code_challenge(v1), v1 != v2) == (True, 64, True, True)


def test_the_authorize_url_carries_the_code_flow_parameters_and_keeps_the_endpoints_own_query():
    url = signin.authorize_url("https://idp.example.cn/oauth2/authorize?tenant=sz", "client-1",
                               "https://12345.example.cn/staff/auth/callback", "the-state", "the-challenge")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parse_qs(parts.query)) == (
        "https", "idp.example.cn", "/oauth2/authorize",
        {"tenant": ["sz"], "response_type": ["code"], "client_id": ["client-1"],
         "redirect_uri": ["https://12345.example.cn/staff/auth/callback"], "scope": ["openid"],
         "state": ["the-state"], "code_challenge": ["the-challenge"], "code_challenge_method": ["S256"]})


def test_the_logout_url_names_the_client_and_where_to_return_in_cognitos_and_oidcs_words():
    url = signin.logout_url("https://jiesu.auth.us-east-1.amazoncognito.com/logout", "client-1",
                            "https://12345.example.cn/staff/sign-in")
    assert parse_qs(urlsplit(url).query) == {"client_id": ["client-1"],
                                             "logout_uri": ["https://12345.example.cn/staff/sign-in"],
                                             "post_logout_redirect_uri": ["https://12345.example.cn/staff/sign-in"]}


@pytest.mark.parametrize("value, expected", [
    ("/staff/screen", "/staff/screen"),
    ("/staff/work/appeals/A-1?queue=unit&page=2", "/staff/work/appeals/A-1?queue=unit&page=2"),
    ("/staff/screen?scope=440306", "/staff/screen?scope=440306"),
    (None, "/staff/work"),
    ("", "/staff/work"),
    ("https://evil.example/staff/screen", "/staff/work"),
    ("//evil.example/staff/screen", "/staff/work"),
    ("/staff//evil.example", "/staff/work"),
    ("/staff/\\evil.example", "/staff/work"),
    ("/staff/../public", "/staff/work"),
    ("/public", "/staff/work"),
    ("/staffer", "/staff/work"),
    ("/staff/screen\"><script>", "/staff/work"),
    ("/staff/screen\r\nSet-Cookie: x=1", "/staff/work"),
    ("/staff/" + "a" * 1000, "/staff/work"),
])
def test_next_is_a_local_page_under_staff_or_the_workbench(value, expected):
    assert signin.safe_next(value) == expected


def test_the_sign_in_cookie_round_trips_and_a_tampered_one_is_no_sign_in():
    verifier, _ = signin.pkce_pair()
    login = signin.LoginState("s-1", verifier, "/staff/screen")
    value = signin.login_cookie_value(login)
    elsewhere = signin.login_cookie_value(signin.LoginState("s-1", verifier, "https://evil.example/"))
    assert (signin.read_login_cookie(value), signin.read_login_cookie(value[:-3]),
            signin.read_login_cookie("not-base64!"), signin.read_login_cookie(elsewhere).next,
            signin.read_login_cookie(signin.login_cookie_value(signin.LoginState("s", "short", "/staff/x")))) == (
        login, None, None, "/staff/work", None)


@pytest.fixture
def discoverable():
    """The stand-in's discovery document at {issuer}/.well-known/openid-configuration."""
    server = OidcStandIn(lambda u, p: None, []).start()
    signin.clear_discovery_cache()
    yield server
    server.stop()
    signin.clear_discovery_cache()


def test_endpoints_come_from_discovery_when_not_configured_and_a_configured_one_wins(discoverable):
    url = discoverable.url
    found = signin.endpoints(dataclasses.replace(SETTINGS, oidc_issuer=url, oidc_audience="c"))
    mixed = signin.endpoints(dataclasses.replace(SETTINGS, oidc_issuer=url, oidc_audience="c",
                                                 oidc_authorize_url="https://sso.example.cn/authorize"))
    assert (found, mixed) == (
        signin.Endpoints(f"{url}/oauth2/authorize", f"{url}/oauth2/token", f"{url}/logout"),
        signin.Endpoints("https://sso.example.cn/authorize", f"{url}/oauth2/token", f"{url}/logout"))


def test_discovery_is_cached_per_issuer(discoverable):
    settings = dataclasses.replace(SETTINGS, oidc_issuer=discoverable.url, oidc_audience="c")
    first = signin.endpoints(settings)
    discoverable.stop()                       # the IdP is gone: the cached document still answers
    assert signin.endpoints(settings) == first


def test_configured_endpoints_need_no_discovery_and_must_be_https_off_this_machine():
    configured = dataclasses.replace(SETTINGS, oidc_issuer="https://nowhere.invalid/pool", oidc_audience="c",
                                     oidc_authorize_url="https://d.auth.cn-north-1.example.cn/oauth2/authorize",
                                     oidc_token_url="https://d.auth.cn-north-1.example.cn/oauth2/token")
    plain = dataclasses.replace(configured, oidc_token_url="http://idp.example.cn/oauth2/token")
    with pytest.raises(signin.IdentityProviderError) as refused:
        signin.endpoints(plain)
    with pytest.raises(AuthenticationError) as unconfigured:
        signin.endpoints(dataclasses.replace(SETTINGS, oidc_issuer="", oidc_audience=""))
    assert (signin.endpoints(configured).logout, refused.value.field, unconfigured.value.code) == (
        "", "idp", "sign_in_unconfigured")


def test_the_exchange_sends_the_client_secret_only_when_configured():
    token = jwt.encode({"sub": "x", "exp": 4102444800}, "k" * 32, algorithm="HS256")
    server = OidcStandIn(lambda u, p: token, [RegisteredClient("conf", ("http://127.0.0.1/cb",), (), "s3cret")]).start()
    try:
        verifier, challenge = signin.pkce_pair()
        codes = []
        for _ in range(2):
            where = server.sign_in({"username": "u", "password": "p", "client_id": "conf",
                                    "redirect_uri": "http://127.0.0.1/cb", "code_challenge": challenge})
            codes.append(parse_qs(urlsplit(where).query)["code"][0])
        got = signin.exchange_code(f"{server.url}/oauth2/token", codes[0], "http://127.0.0.1/cb", "conf", verifier,
                                   client_secret="s3cret")
        with pytest.raises(AuthenticationError) as without:
            signin.exchange_code(f"{server.url}/oauth2/token", codes[1], "http://127.0.0.1/cb", "conf", verifier)
    finally:
        server.stop()
    assert (got, without.value.code, "invalid_client" in without.value.message) == (token, "code_refused", True)


def test_moto_still_lacks_cognitos_hosted_ui_endpoints():
    """Why infra/oidc_standin.py exists: moto's cognito-idp routes no /oauth2/authorize,
    /oauth2/token or /logout, and its discovery document names no authorization or token
    endpoint. The day moto serves them, the stand-in may go."""
    from moto.cognitoidp.responses import CognitoIdpOpenIdConfigurationResponse
    from moto.cognitoidp.urls import url_paths

    status, _, body = CognitoIdpOpenIdConfigurationResponse.serve_openid_configuration(
        None, "http://127.0.0.1:4566/us-east-1_abc/.well-known/openid-configuration", {})
    doc = json.loads(body)
    routed = [p for p in url_paths if any(w in p for w in ("oauth2", "authorize", "token", "logout"))]
    assert (status, routed, sorted(k for k in doc if k.endswith("_endpoint"))) == (200, [], [])
