"""Every form a staff page posts carries the session's anti-forgery value, and a post without it
(or with another session's) is 403 naming `csrf` and changes nothing (issue 22, item 7).

The forms: a case file's actions and its unmask form (POST /staff/work/appeals/{id}[/unmask]),
and the sign-out form of the workbench and of the screen (POST /staff/session/end). The
citizen's rating form posts to /track/{token}/rating: the unguessable link is itself the secret
another site would need, so it carries no other value."""
from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from chalicelib import auth
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401
from tests.integration.test_dispatch_stage import client, load  # noqa: F401
from tests.integration.test_handling_api import dispatched_to_xixiang
from tests.integration.test_workbench import FORM, cookie, hidden, page

POST_FORM = re.compile(r'<form[^>]*method="post"[^>]*>(.*?)</form>', re.S)


def test_every_post_form_of_the_workbench_and_the_screen_carries_the_sessions_value(aws, client, staff_env):
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    want = auth.csrf_for(cookie(staff_env, "xixiang_handler")["Cookie"].split("=", 1)[1])
    pages = {path: page(client, staff_env, "xixiang_handler", path)[1]
             for path in ("/staff/work", f"/staff/work/appeals/{appeal_id}")}
    pages["/staff/screen"] = page(client, staff_env, "dispatcher", "/staff/screen")[1]
    found = {path: [re.findall(r'name="csrf" value="([^"]*)"', f) for f in POST_FORM.findall(html)]
             for path, html in pages.items()}
    dispatcher = auth.csrf_for(cookie(staff_env, "dispatcher")["Cookie"].split("=", 1)[1])
    assert {path: {tuple(v) for v in forms} for path, forms in found.items()} == {
        "/staff/work": {(want,)}, f"/staff/work/appeals/{appeal_id}": {(want,)}, "/staff/screen": {(dispatcher,)}}
    assert len(found[f"/staff/work/appeals/{appeal_id}"]) >= 3   # sign-out, unmask and the actions


@pytest.mark.parametrize("csrf", [None, "", "0" * 32, "other-session"])
@pytest.mark.parametrize("form", ["action", "unmask"])
def test_a_case_file_form_without_the_value_is_403_naming_it_and_writes_nothing(aws, client, staff_env, form, csrf):
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    html = page(client, staff_env, "xixiang_handler", f"/staff/work/appeals/{appeal_id}")[1]
    fields = {**hidden(html, "sign"), "action": "sign"} if form == "action" else {"reason": "需要电话回访核实现场情况"}
    fields.pop("csrf", None)
    if csrf == "other-session":
        fields["csrf"] = auth.csrf_for(staff_env.token("xixiang_handler", exp_in=3600))
    elif csrf is not None:
        fields["csrf"] = csrf
    path = f"/staff/work/appeals/{appeal_id}" + ("/unmask" if form == "unmask" else "")
    before = aws.table_items()
    resp = client.http.post(path, headers={**cookie(staff_env, "xixiang_handler"), "Content-Type": FORM,
                                           "Accept": "application/json"}, body=urlencode(fields))
    assert (resp.status_code, aws.table_items() == before, load(appeal_id).status.value) == (403, True, "dispatched")
    assert "表单不是从您当前的登录会话提交的" in resp.body.decode()


@pytest.mark.parametrize("csrf", [None, "0" * 32])
def test_signing_out_without_the_value_is_403_naming_it_and_keeps_the_session(aws, client, staff_env, csrf):
    headers = {**cookie(staff_env, "xixiang_handler"), "Content-Type": FORM, "Accept": "application/json"}
    resp = client.http.post("/staff/session/end", headers=headers, body=urlencode({} if csrf is None else {"csrf": csrf}))
    assert (resp.status_code, resp.json_body["error"]["field"], resp.json_body["error"]["code"],
            "Set-Cookie" in resp.headers) == (403, "csrf", "bad_csrf", False)


def test_signing_out_from_the_sessions_own_form_ends_it(aws, client, staff_env):
    token = cookie(staff_env, "xixiang_handler")["Cookie"].split("=", 1)[1]
    resp = client.http.post("/staff/session/end", headers={**cookie(staff_env, "xixiang_handler"),
                                                           "Content-Type": FORM},
                            body=urlencode({"csrf": auth.csrf_for(token)}))
    assert (resp.status_code, resp.headers["Set-Cookie"].split(";")[0]) == (303, "jiesu_session=")
