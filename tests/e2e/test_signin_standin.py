"""`make run`'s staff sign-in over HTTP, no browser: the OIDC code flow with PKCE from the app to
the stand-in's authorization server (infra/oidc_standin.py, started by infra/devserver.py) and
back, with a demo user of the moto Cognito pool (infra/identity.py), whose token is moto's own."""
from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlsplit

import requests

from infra.identity import DEMO_PASSWORD, DEMO_USERS


def test_a_demo_user_signs_in_through_the_standin_idp_and_opens_the_screen(local_stack):
    api, user = local_stack["url"], "dispatcher1"
    assert user in DEMO_USERS
    s = requests.Session()
    screen = s.get(f"{api}/staff/screen", allow_redirects=False, timeout=10)
    start = s.get(api + screen.headers["Location"], allow_redirects=False, timeout=10)
    authorize = start.headers["Location"]
    form = s.get(authorize, timeout=10)
    hidden = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                                                         form.text)}
    wrong = s.post(authorize.split("?")[0], data={**hidden, "username": user, "password": "wrong-password"},
                   allow_redirects=False, timeout=10)
    right = s.post(authorize.split("?")[0], data={**hidden, "username": user, "password": DEMO_PASSWORD},
                   allow_redirects=False, timeout=10)
    back = right.headers["Location"]
    code = dict(parse_qsl(urlsplit(back).query))["code"]
    done = s.get(back, allow_redirects=False, timeout=10)
    token = s.cookies.get("jiesu_session")
    opened = s.get(f"{api}/staff/screen", allow_redirects=False, timeout=10)
    me = requests.get(f"{api}/staff/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    log = local_stack["log_path"].read_text(errors="replace")
    assert (screen.status_code, screen.headers["Location"], urlsplit(authorize).path, wrong.status_code,
            "用户名或密码错误" in wrong.text, back.split("?")[0], done.status_code, opened.status_code,
            'data-metric="open"' in opened.text, me["username"], f"[idp] {user} signed in" in log, token in log,
            code in log) == (
        302, "/staff/sign-in?next=/staff/screen", "/oauth2/authorize", 401, True, f"{api}/staff/auth/callback", 200,
        200, True, user, True, False, False)
