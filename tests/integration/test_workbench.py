"""The staff workbench's pages over HTTP on the stand-in (moto): each role's list and case file,
actions from forms with the session cookie, the anti-forgery value and the one-time form key,
refusals shown in Chinese on the same page with what was typed, and unmasking (issue 18)."""
from __future__ import annotations

import re
from urllib.parse import urlencode

from chalicelib.storage import repository
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401
from tests.integration.test_dispatch_stage import CLEAR, client, load, run_dispatch, take_in, \
    to_dispatch_stage  # noqa: F401
from tests.integration.test_handling_api import dispatched_to_xixiang

FORM = "application/x-www-form-urlencoded"


_SESSIONS: dict = {}


def cookie(staff_env, person: str) -> dict:
    """One session per person (a form's anti-forgery value belongs to the session it was shown in)."""
    # Keyed by the IdP too: another module that imports these helpers has its own IdP (another key).
    key = (staff_env, person)
    if key not in _SESSIONS:
        _SESSIONS[key] = staff_env.token(person, exp_in=3600)
    return {"Cookie": f"jiesu_session={_SESSIONS[key]}"}


def page(client, staff_env, person: str, path: str):
    resp = client.http.get(path, headers=cookie(staff_env, person))
    return resp, resp.body.decode()


def hidden(html: str, action: str) -> dict:
    """The hidden fields of the action's form on a page (csrf, form_key)."""
    form = re.search(rf'data-action="{action}">(.*?)</form>', html, re.S).group(1)
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


def submit(client, staff_env, person: str, appeal_id: str, action: str, fields: dict, html: str | None = None):
    if html is None:
        html = page(client, staff_env, person, f"/staff/work/appeals/{appeal_id}")[1]
    body = {**hidden(html, action), **fields}
    return client.http.post(f"/staff/work/appeals/{appeal_id}", headers={**cookie(staff_env, person),
                                                                           "Content-Type": FORM},
                            body=urlencode(body))


def test_a_unit_handler_works_an_appeal_from_the_inbox_and_a_second_submit_does_nothing(aws, client, staff_env):
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    listing, html = page(client, staff_env, "xixiang_handler", "/staff/work")
    row = re.search(rf'<tr class="row-(\w+)" data-appeal="{appeal_id}"', html)
    case, case_html = page(client, staff_env, "xixiang_handler", f"/staff/work/appeals/{appeal_id}")
    first = submit(client, staff_env, "xixiang_handler", appeal_id, "sign", {}, case_html)
    version = load(appeal_id).version
    again = submit(client, staff_env, "xixiang_handler", appeal_id, "sign", {}, case_html)
    assert (listing.status_code, listing.headers["Cache-Control"], row.group(1), "签收：剩余" in html,
            case.status_code, 'data-action="sign"' in case_html, first.status_code, first.headers["Location"],
            load(appeal_id).status.value, again.status_code, "这张表单已经提交过" in again.body.decode(),
            load(appeal_id).version == version) == (
        200, "no-store", "ok", True, 200, True, 303, f"/staff/work/appeals/{appeal_id}?done=sign", "signed",
        409, True, True)


def test_a_refusal_shows_in_chinese_on_the_page_with_what_was_typed_and_changes_nothing(aws, client, staff_env):
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    assert submit(client, staff_env, "xixiang_handler", appeal_id, "sign", {}).status_code == 303
    version = load(appeal_id).version
    typed = "井盖已补装，现场已恢复通行（测试答复）"
    refused = submit(client, staff_env, "xixiang_handler", appeal_id, "reply", {"answer": typed})
    html = refused.body.decode()
    assert (refused.status_code, 'data-code="contact_required"' in html, "请先联系诉求人再答复" in html,
            typed in html, load(appeal_id).version == version) == (409, True, True, True, True)


def test_a_form_without_the_sessions_anti_forgery_value_is_refused_and_signed_out_pages_go_to_sign_in(
        aws, client, staff_env):
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    html = page(client, staff_env, "xixiang_handler", f"/staff/work/appeals/{appeal_id}")[1]
    fields = {**hidden(html, "sign"), "csrf": "0" * 32}
    forged = client.http.post(f"/staff/work/appeals/{appeal_id}", headers={**cookie(staff_env, "xixiang_handler"),
                                                                            "Content-Type": FORM},
                              body=urlencode(fields))
    out = client.http.get(f"/staff/work/appeals/{appeal_id}")
    assert (forged.status_code, "请刷新页面后重试" in forged.body.decode(),
            load(appeal_id).status.value, out.status_code, out.headers["Location"]) == (
        403, True, "dispatched", 302, f"/staff/sign-in?next=/staff/work/appeals/{appeal_id}")


def test_the_dispatcher_sees_suggestions_and_why_and_dispatches_by_hand(aws, client, staff_env):
    appeal_id = take_in(aws, client, "有个事情想问一下，怎么办理比较好？", "深圳")
    to_dispatch_stage(appeal_id)
    run_dispatch(aws, appeal_id)
    queue, html = page(client, staff_env, "dispatcher", "/staff/work?queue=dispatch")
    row = html[html.index(f'data-appeal="{appeal_id}"'):]
    row = row[:row.index("</tr>")]
    case_html = page(client, staff_env, "dispatcher", f"/staff/work/appeals/{appeal_id}")[1]
    done = submit(client, staff_env, "dispatcher", appeal_id, "dispatch",
                  {"unit_id": "U440306002-JD", "catalog_code": "", "reason": "人工派单（测试）"}, case_html)
    a = load(appeal_id)
    assert (queue.status_code, "转人工原因" in row, row.count("<li>"), '<datalist id="units">' in case_html,
            'option value="U440306002-JD"' in case_html, done.status_code, a.status.value,
            a.assignment.unit_id) == (200, True, 3, True, True, 303, "dispatched", "U440306002-JD")


def test_a_leader_instructs_a_key_appeal_and_follows_it(aws, client, staff_env):
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    case_html = page(client, staff_env, "baoan_leader", f"/staff/work/appeals/{appeal_id}")[1]
    instructed = submit(client, staff_env, "baoan_leader", appeal_id, "instruct", {"text": "请尽快处置（测试批示）"},
                        case_html)
    assert instructed.status_code == 303, re.findall(r'data-code="(\w+)"|<p>(.*?)</p>', instructed.body.decode())
    followed = submit(client, staff_env, "baoan_leader", appeal_id, "follow", {})
    feed = page(client, staff_env, "baoan_leader", "/staff/work/feed")[1]
    kinds = [e.kind for e in repository.load_case_file(appeal_id)]
    assert (instructed.status_code, followed.status_code, "leader_instruction" in kinds,
            f'data-appeal="{appeal_id}"' in feed, 'data-action="sign"' in case_html) == (303, 303, True, True, False)


def test_unmasking_needs_a_reason_is_audited_and_shows_the_data_once(aws, client, staff_env):
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    html = page(client, staff_env, "xixiang_handler", f"/staff/work/appeals/{appeal_id}")[1]
    headers = {**cookie(staff_env, "xixiang_handler"), "Content-Type": FORM}
    csrf = hidden(html, "unmask")["csrf"]
    short = client.http.post(f"/staff/work/appeals/{appeal_id}/unmask", headers=headers,
                             body=urlencode({"csrf": csrf, "reason": "看"}))
    shown = client.http.post(f"/staff/work/appeals/{appeal_id}/unmask", headers=headers,
                             body=urlencode({"csrf": csrf, "reason": "需要电话回访核实现场情况"}))
    after = page(client, staff_env, "xixiang_handler", f"/staff/work/appeals/{appeal_id}")[1]
    kinds = [e.kind for e in repository.load_case_file(appeal_id)]
    assert (short.status_code, "请检查「理由」" in short.body.decode(), shown.status_code,
            shown.headers["Cache-Control"], "已记录查看理由" in shown.body.decode(), kinds.count("party_unmasked"),
            "已记录查看理由" in after) == (400, True, 200, "no-store", True, 1, False)


def test_an_assisting_unit_sees_the_joint_appeal_in_its_inbox_marked_as_assisting(aws, client, staff_env):
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    joint = submit(client, staff_env, "dispatcher", appeal_id, "joint", {"assisting_unit_ids": "U440304001-JD"})
    inbox = page(client, staff_env, "yuanling_handler", "/staff/work")[1]
    row = inbox[inbox.index(f'data-appeal="{appeal_id}"'):]
    case_html = page(client, staff_env, "yuanling_handler", f"/staff/work/appeals/{appeal_id}")[1]
    assert (joint.status_code, "协办" in row[:row.index("</tr>")], "本单位协办" in case_html,
            load(appeal_id).assignment.assisting_unit_ids) == (303, True, True, ["U440304001-JD"])
