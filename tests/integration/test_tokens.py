"""Staff tokens (issue 14: 18): only ID tokens, numeric times, at most the region's lifetime; each
refusal is a 401 naming Authorization that repeats no claim value."""
from __future__ import annotations

import json
import time

import pytest
from chalice.test import Client

from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401


@pytest.fixture
def client(staff_env):
    import app

    with Client(app.app) as c:
        yield c


def me(client, idp, person="dispatcher", **kw):
    return client.http.get("/staff/me", headers={"Authorization": f"Bearer {idp.token(person, **kw)}"})


def assert_refused(resp, code: str, *not_echoed: str) -> None:
    assert resp.status_code == 401, resp.body
    err = json.loads(resp.body)["error"]
    assert (err["field"], err["code"]) == ("Authorization", code)
    for value in not_echoed:
        assert value not in resp.body.decode()


def test_an_id_token_with_or_without_token_use_is_accepted(client, staff_env):
    assert me(client, staff_env).status_code == 200                   # a plain OIDC IdP: no token_use
    assert me(client, staff_env, token_use="id").status_code == 200   # Cognito's ID token


@pytest.mark.parametrize("token_use", ["access", "refresh", "EVILUSE", "", None, 1])
def test_a_token_that_is_not_an_id_token_is_refused_even_with_the_audience(client, staff_env, token_use):
    assert_refused(me(client, staff_env, token_use=token_use), "not_id_token", "EVILUSE")


def test_a_cognito_access_token_is_refused(client, staff_env):
    now = int(time.time())
    resp = me(client, staff_env, token_use="access", client_id="jiesu-api", scope="aws.cognito.signin.user.admin",
              iat=now, exp=now + 600)
    assert_refused(resp, "not_id_token")


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_times_given_as_text_are_refused(client, staff_env, claim):
    now = int(time.time())
    times = {"iat": now, "exp": now + 600}
    times[claim] = str(times[claim])
    assert_refused(me(client, staff_env, **times), "bad_token", str(times[claim]))


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_times_given_as_booleans_are_refused(client, staff_env, claim):
    now = int(time.time())
    times = {"iat": now, "exp": now + 600}
    times[claim] = True
    resp = me(client, staff_env, **times)
    assert resp.status_code == 401 and json.loads(resp.body)["error"]["field"] == "Authorization"


def test_a_hundred_year_token_is_refused(client, staff_env):
    assert_refused(me(client, staff_env, exp_in=100 * 365 * 86400), "token_lifetime")


def test_the_default_maximum_lifetime_is_twelve_hours(client, staff_env):
    now = int(time.time())
    assert me(client, staff_env, iat=now, exp=now + 12 * 3600).status_code == 200
    assert_refused(me(client, staff_env, iat=now, exp=now + 12 * 3600 + 1), "token_lifetime")


def test_the_region_sets_the_maximum_lifetime(client, staff_env, monkeypatch):
    from chalicelib.settings import get_settings

    monkeypatch.setenv("JIESU_OIDC_MAX_TOKEN_LIFETIME_S", "300")
    get_settings.cache_clear()
    assert get_settings().oidc_max_token_lifetime_s == 300
    assert me(client, staff_env, exp_in=300).status_code == 200
    assert_refused(me(client, staff_env, exp_in=600), "token_lifetime")
