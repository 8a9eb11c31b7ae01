"""Roles and jurisdictions (F-OP-2): each role does exactly its actions and sees exactly its area."""
from __future__ import annotations

import itertools
import json

import pytest
from chalice.test import Client

from chalicelib.bootstrap import bootstrap
from tests.integration.helpers import save
from tests.conftest import channel_fixture
from tests.integration.helpers import signed_post
from tests.integration.staff_fixtures import AUDIENCE, ISSUER, idp, staff_env  # noqa: F401


@pytest.fixture
def client(staff_env):
    import app

    with Client(app.app) as c:
        yield c


_tickets = itertools.count(1)


def dispatched_appeal(aws, client, unit_id="U440306002-JD", street="440306002", **fields):
    """An appeal taken in through the hotline and dispatched by hand to a 西乡 unit (`fields`
    replace the hotline payload's)."""
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services import dispatch
    from chalicelib.services.clock import SYSTEM_CLOCK
    from chalicelib.storage import repository

    payload = channel_fixture("hotline")
    payload["gdbh"] = payload["gdbh"][:-4] + f"{next(_tickets):04d}"  # a new ticket: a new appeal
    payload.update(fields)
    resp = signed_post(client, aws.creds, "hotline", payload)
    appeal_id = json.loads(resp.body)["appeal_id"]
    appeal = repository.load_appeal(appeal_id)
    now = SYSTEM_CLOCK.now()
    appeal.district_code, appeal.street_code = street[:6], street
    appeal.queue_for_dispatcher(street[:6], now, "test", "setup")
    who = Principal("sub-dispatcher", "dispatcher", Role.DISPATCHER, "shenzhen", "U440300-SMS", "440300")
    extra = dispatch.manual_dispatch(bootstrap(), appeal, who, now, unit_id, "01.01.001")
    save(appeal, now, *extra)
    return appeal_id


def get(client, idp, person, path):
    return client.http.get(path, headers=idp.headers(person))


def post(client, idp, person, path, body):
    return client.http.post(path, headers=idp.headers(person), body=json.dumps(body))


# Who may read one 西乡 appeal: 200 for those whose jurisdiction covers it, 404 (not 403) for others,
# so an appeal's existence is not disclosed; 403 for roles that may not read appeals at all.
READ_EXPECTED = {"dispatcher": 200, "xixiang_handler": 200, "xixiang_manager": 200, "yuanling_handler": 404,
                 "baoan_leader": 200, "futian_leader": 404, "admin": 403, "auditor": 200}


@pytest.mark.parametrize("person", sorted(READ_EXPECTED))
def test_who_sees_an_appeal(aws, client, staff_env, person):
    appeal_id = dispatched_appeal(aws, client)
    resp = get(client, staff_env, person, f"/staff/appeals/{appeal_id}")
    assert resp.status_code == READ_EXPECTED[person], resp.body
    body = json.loads(resp.body)
    if resp.status_code == 200:
        assert body["appeal_id"] == appeal_id and body["party"]["masked"]
        payload = channel_fixture("hotline")
        assert payload["zjhm"] not in resp.body.decode() and payload["lxdh"] not in resp.body.decode()
        assert body["party"]["id_number"] == payload["zjhm"][:6] + "********" + payload["zjhm"][-4:]
        assert body["party"]["phone"] == payload["lxdh"][:3] + "****" + payload["lxdh"][-4:]
    else:
        assert appeal_id not in resp.body.decode() and "content" not in body


LIST_EXPECTED = {"dispatcher": ("area", True), "xixiang_handler": ("unit", True), "xixiang_manager": ("unit", True),
                 "yuanling_handler": ("unit", False), "baoan_leader": ("area", True),
                 "futian_leader": ("area", False), "auditor": ("area", True)}


@pytest.mark.parametrize("person", sorted(LIST_EXPECTED))
def test_lists_hold_exactly_the_jurisdiction(aws, client, staff_env, person):
    appeal_id = dispatched_appeal(aws, client)
    queue, present = LIST_EXPECTED[person]
    resp = get(client, staff_env, person, f"/staff/appeals?queue={queue}")
    assert resp.status_code == 200, resp.body
    body = json.loads(resp.body)
    ids = [a["appeal_id"] for a in body["appeals"]]
    assert (appeal_id in ids) is present
    assert body["count"] == len(ids)


# Action -> the people allowed to attempt it (others get 403 before anything is read).
ACTION_ROLES = {
    "dispatch": {"dispatcher"}, "arbitrate": {"dispatcher"}, "flag_key": {"dispatcher", "baoan_leader",
                                                                         "futian_leader"},
    "return": {"xixiang_handler", "xixiang_manager", "yuanling_handler"},
    "escalate": {"xixiang_handler", "xixiang_manager", "yuanling_handler"},
    "assign": {"xixiang_manager", "dispatcher"},
    "name_unit": {"baoan_leader", "futian_leader"},
}
BODIES = {"dispatch": {"unit_id": "U440306002-JD"}, "arbitrate": {"unit_id": "U440306002-JD", "reason": "r"},
          "flag_key": {"reason": "many people"}, "return": {"reason": "not ours"}, "escalate": {"reason": "need help"},
          "assign": {"unit_id": "U440306002001-SQ", "instruction": "go"},
          "name_unit": {"unit_id": "U440306002-JD", "instruction": "handle it"}}


# What each allowed person's attempt on a freshly dispatched 西乡 appeal gives: done (200), not
# visible (404, outside the jurisdiction), or refused by the appeal's state (409, with why).
ALLOWED_OUTCOME = {
    ("arbitrate", "dispatcher"): (409, "invalid_state"),       # nothing disputed to arbitrate
    ("dispatch", "dispatcher"): (409, "invalid_state"),        # already dispatched
    ("assign", "dispatcher"): (200, None), ("assign", "xixiang_manager"): (200, None),
    ("escalate", "xixiang_handler"): (200, None), ("escalate", "xixiang_manager"): (200, None),
    ("escalate", "yuanling_handler"): (404, "not_found"),
    ("flag_key", "baoan_leader"): (200, None), ("flag_key", "dispatcher"): (200, None),
    ("flag_key", "futian_leader"): (404, "not_found"),
    ("name_unit", "baoan_leader"): (409, "not_key"),           # only a key appeal gets a named unit
    ("name_unit", "futian_leader"): (404, "not_found"),
    ("return", "xixiang_handler"): (200, None), ("return", "xixiang_manager"): (200, None),
    ("return", "yuanling_handler"): (404, "not_found"),
}


def test_the_outcome_table_covers_every_allowed_attempt():
    assert set(ALLOWED_OUTCOME) == {(a, p) for a, people in ACTION_ROLES.items() for p in people}


@pytest.mark.parametrize("action", sorted(ACTION_ROLES))
def test_role_action_matrix(aws, client, staff_env, action):
    appeal_id = dispatched_appeal(aws, client)
    for person in sorted(READ_EXPECTED):
        if person in ACTION_ROLES[action]:
            continue
        before = aws.table_items()
        resp = post(client, staff_env, person, f"/staff/appeals/{appeal_id}/actions/{action}", BODIES[action])
        assert resp.status_code == 403, (person, resp.body)
        assert json.loads(resp.body)["error"]["field"] == "role"
        assert appeal_id not in resp.body.decode()
        assert aws.table_items() == before
    for person in sorted(ACTION_ROLES[action]):
        # Allowed to try: the outcome depends on jurisdiction and state, never a 403 or a 5xx.
        fresh = dispatched_appeal(aws, client)
        before = aws.table_items()
        resp = post(client, staff_env, person, f"/staff/appeals/{fresh}/actions/{action}", BODIES[action])
        code = json.loads(resp.body).get("error", {}).get("code")
        assert (resp.status_code, code) == ALLOWED_OUTCOME[(action, person)], (action, person, resp.body)
        # A 200 recorded the step (the appeal's case file grew); a refusal wrote nothing.
        changed = [i for i in aws.table_items() if i not in before]
        assert any(i["kind"]["S"] == "event" for i in changed) is (resp.status_code == 200), \
            (action, person, sorted({i["kind"]["S"] for i in changed}))
        if resp.status_code != 200:
            assert changed == [] and len(aws.table_items()) == len(before), (action, person)


def test_unmask_is_audited_and_role_limited(aws, client, staff_env):
    appeal_id = dispatched_appeal(aws, client)
    payload = channel_fixture("hotline")
    resp = post(client, staff_env, "baoan_leader", f"/staff/appeals/{appeal_id}/unmask", {"reason": "curious"})
    assert resp.status_code == 403
    resp = post(client, staff_env, "xixiang_handler", f"/staff/appeals/{appeal_id}/unmask", {"reason": ""})
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "reason"
    resp = post(client, staff_env, "xixiang_handler", f"/staff/appeals/{appeal_id}/unmask",
                {"reason": "需要联系市民核实地址"})
    assert resp.status_code == 200
    assert json.loads(resp.body)["id_number"] == payload["zjhm"]
    trail = json.loads(get(client, staff_env, "auditor", "/staff/audit").body)["entries"]
    assert [(e["appeal_id"], e["actor"], e["reason"]) for e in trail] == [
        (appeal_id, "unit_handler:sub-xixiang_handler", "需要联系市民核实地址")]
    assert get(client, staff_env, "xixiang_handler", "/staff/audit").status_code == 403
    case = json.loads(get(client, staff_env, "dispatcher", f"/staff/appeals/{appeal_id}").body)["case_file"]
    assert any(e["kind"] == "party_unmasked" and e["actor"] == "unit_handler:sub-xixiang_handler" for e in case)


@pytest.mark.parametrize("case,code", [("other_key", "bad_signature"), ("issuer", "bad_issuer"),
                                       ("audience", "bad_audience"), ("expired", "token_expired"),
                                       ("no_role", "no_role"), ("missing", "missing_token")])
def test_bad_tokens_are_401_naming_the_problem(aws, client, staff_env, case, code):
    kw = {"other_key": {"key": staff_env.other_key}, "issuer": {"iss": "https://evil.example"},
          "audience": {"aud": "someone-else"}, "expired": {"exp_in": -120},
          "no_role": {"**": None}, "missing": {}}[case]
    if case == "missing":
        headers = {}
    elif case == "no_role":
        headers = {"Authorization": "Bearer " + staff_env.token("dispatcher", **{"custom:role": "janitor"})}
    else:
        headers = staff_env.headers("dispatcher", **kw)
    resp = client.http.get("/staff/me", headers=headers)
    assert resp.status_code == 401
    err = json.loads(resp.body)["error"]
    assert err["code"] == code and err["field"] == "Authorization"


def test_me(client, staff_env):
    resp = client.http.get("/staff/me", headers=staff_env.headers("xixiang_manager"))
    assert json.loads(resp.body)["role"] == "unit_manager"


@pytest.mark.parametrize("person,claims,code", [
    ("xixiang_handler", {"custom:unit_id": "U440306002-NOPE"}, "unknown_unit"),
    ("xixiang_handler", {"custom:jurisdiction": "440306"}, "jurisdiction_mismatch"),   # district, unit is a street's
    ("xixiang_manager", {"custom:unit_id": ""}, "no_unit"),
    ("baoan_leader", {"custom:jurisdiction": "440399999"}, "unknown_jurisdiction"),
    ("dispatcher", {"custom:jurisdiction": "110000"}, "unknown_jurisdiction"),       # another city's code
])
def test_token_claims_must_exist_in_the_live_pack_and_agree(aws, client, staff_env, person, claims, code):
    resp = client.http.get("/staff/appeals", headers=staff_env.headers(person, **claims))
    assert resp.status_code == 403
    err = json.loads(resp.body)["error"]
    assert err["code"] == code and err["field"] == "Authorization"
    assert client.http.get("/staff/appeals", headers=staff_env.headers(person)).status_code == 200


def test_a_confidential_appeal_is_never_unmasked_to_a_unit_and_says_it_is_confidential(aws, client, staff_env):
    payload = channel_fixture("hotline")
    appeal_id = dispatched_appeal(aws, client, sfnm=True)
    view = json.loads(get(client, staff_env, "xixiang_handler", f"/staff/appeals/{appeal_id}").body)
    assert view["anonymous"] is True
    assert view["party"] == {"name": None, "id_number": None, "phone": None, "masked": True, "confidential": True}
    for person in ("xixiang_handler", "xixiang_manager"):
        before = aws.table_items()
        resp = post(client, staff_env, person, f"/staff/appeals/{appeal_id}/unmask", {"reason": "需要联系市民核实"})
        assert resp.status_code == 403 and json.loads(resp.body)["error"]["field"] == "role"
        assert aws.table_items() == before  # nothing audited, nothing written
    centre = json.loads(get(client, staff_env, "dispatcher", f"/staff/appeals/{appeal_id}").body)
    assert centre["party"]["confidential"] is True and centre["party"]["phone"] == "186****3783"
    resp = post(client, staff_env, "dispatcher", f"/staff/appeals/{appeal_id}/unmask", {"reason": "转告承办单位答复"})
    assert resp.status_code == 200 and json.loads(resp.body)["phone"] == payload["lxdh"]
    case = json.loads(get(client, staff_env, "dispatcher", f"/staff/appeals/{appeal_id}").body)["case_file"]
    assert [e["data"]["confidential"] for e in case if e["kind"] == "party_unmasked"] == [True]
    # The unit reaches the citizen through the centre (a relay note), never directly.
    assert post(client, staff_env, "xixiang_handler", f"/staff/appeals/{appeal_id}/actions/sign", {}).status_code == 200
    resp = post(client, staff_env, "xixiang_handler", f"/staff/appeals/{appeal_id}/actions/contact", {"note": "打电话"})
    assert resp.status_code == 409 and json.loads(resp.body)["error"]["field"] == "how"
    resp = post(client, staff_env, "xixiang_handler", f"/staff/appeals/{appeal_id}/actions/contact",
                {"note": "请中心转告：明日上午上门清运", "how": "relay"})
    assert resp.status_code == 200, resp.body


def test_personal_data_typed_into_the_text_is_masked_in_lists_and_views_until_unmasked(aws, client, staff_env):
    text = "我的电话13912345678，身份证440306198805061234，门口垃圾三天没人清运，请尽快处理。"
    appeal_id = dispatched_appeal(aws, client, sqnr=text, fsdz="宝安区西乡街道流塘新村二巷 联系人电话 0755-86001234")
    listed = json.loads(get(client, staff_env, "xixiang_handler", "/staff/appeals?queue=unit").body)["appeals"]
    mine = next(a for a in listed if a["appeal_id"] == appeal_id)
    full = json.loads(get(client, staff_env, "xixiang_handler", f"/staff/appeals/{appeal_id}").body)
    for shown in (json.dumps(mine, ensure_ascii=False), json.dumps(full, ensure_ascii=False)):
        for secret in ("13912345678", "440306198805061234", "86001234"):
            assert secret not in shown
    assert "139****5678" in mine["content"] and "440306********1234" in mine["content"]
    clear = json.loads(post(client, staff_env, "xixiang_handler", f"/staff/appeals/{appeal_id}/unmask",
                            {"reason": "核实联系方式"}).body)
    assert clear["content"] == text and "0755-86001234" in clear["address"]


def test_an_appeal_outside_ones_jurisdiction_and_one_that_does_not_exist_answer_alike(aws, client, staff_env):
    appeal_id = dispatched_appeal(aws, client)
    hidden = get(client, staff_env, "baoan_leader", f"/staff/appeals/{appeal_id}")
    # a leader of another district: the appeal exists but is not theirs
    other = dispatched_appeal(aws, client, unit_id="U440304-ZJ", street="440304010")
    outside = get(client, staff_env, "baoan_leader", f"/staff/appeals/{other}")
    missing = get(client, staff_env, "baoan_leader", "/staff/appeals/20260101-NOSUCHONE")
    assert hidden.status_code == 200
    assert (outside.status_code, json.loads(outside.body)) == (missing.status_code, json.loads(missing.body))
    assert json.loads(missing.body) == {"error": {"code": "not_found", "message": "appeal not found",
                                                  "field": "appeal_id"}}


def test_a_list_of_another_role_is_403_and_no_such_list_is_400(aws, client, staff_env):
    resp = get(client, staff_env, "xixiang_handler", "/staff/appeals?queue=dispatch")
    assert resp.status_code == 403 and json.loads(resp.body)["error"]["field"] == "queue"
    resp = get(client, staff_env, "xixiang_handler", "/staff/appeals?queue=everything")
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "queue"


# ------------------------------------------------------------------ issue 14: 13, 15

@pytest.mark.parametrize("person,claims,code", [
    ("xixiang_handler", {"custom:unit_id": "U440306002-EVILCLAIM"}, "unknown_unit"),
    ("xixiang_handler", {"custom:jurisdiction": "440306"}, "jurisdiction_mismatch"),
    ("baoan_leader", {"custom:jurisdiction": "<script>EVILCLAIM</script>"}, "unknown_jurisdiction"),
])
def test_refused_claims_are_not_echoed(aws, client, staff_env, person, claims, code):
    resp = client.http.get("/staff/appeals", headers=staff_env.headers(person, **claims))
    assert resp.status_code == 403
    err = json.loads(resp.body)["error"]
    assert (err["code"], err["field"]) == (code, "Authorization")
    text = resp.body.decode()
    assert "EVILCLAIM" not in text and "440306002" not in text and "U440306002" not in text


def raw_post(client, idp, person, path, raw: bytes):
    return client.http.post(path, headers=idp.headers(person), body=raw)


STAFF_BODIES_REFUSED = {
    "nested_2000_deep": (b'{"reason": ' + b"[" * 2000 + b"]" * 2000 + b"}", "body"),
    "int_5000_digits": (b'{"reason": ' + b"1" * 5000 + b"}", "body"),
    "reason_twice": (b'{"reason": "\xe6\xa0\xb8\xe5\xae\x9e", "reason": "x"}', "reason"),
    "array": (b"[1, 2]", "body"),
    "nan": (b'{"reason": NaN}', "body"),
}


@pytest.mark.parametrize("case", sorted(STAFF_BODIES_REFUSED))
@pytest.mark.parametrize("route", ["unmask", "actions/note"])
def test_staff_bodies_decode_with_the_one_decoder(aws, client, staff_env, case, route):
    raw, field = STAFF_BODIES_REFUSED[case]
    resp = raw_post(client, staff_env, "xixiang_handler", f"/staff/appeals/20260506-ZZZZZZZZZZ/{route}", raw)
    assert resp.status_code == 400, resp.body[:300]
    assert json.loads(resp.body)["error"]["field"] == field


def test_no_body_is_an_empty_object(aws, client, staff_env):
    resp = client.http.post("/staff/appeals/20260506-ZZZZZZZZZZ/actions/follow",
                            headers=staff_env.headers("baoan_leader"))
    assert resp.status_code == 404 and json.loads(resp.body)["error"]["field"] == "appeal_id"


def test_unknown_actions_fields_appeals_and_units_are_named_not_echoed(aws, client, staff_env):
    resp = post(client, staff_env, "xixiang_handler", "/staff/appeals/20260506-ZZZZZZZZZZ/actions/EVILACTION", {})
    assert resp.status_code == 404 and json.loads(resp.body)["error"]["field"] == "action"
    assert "EVILACTION" not in resp.body.decode()
    resp = post(client, staff_env, "xixiang_handler", "/staff/appeals/20260506-ZZZZZZZZZZ/actions/note",
                {"note": "x", "EVILFIELD": 1})
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "EVILFIELD"
    assert "EVILFIELD" not in json.loads(resp.body)["error"]["message"]
    resp = get(client, staff_env, "dispatcher", "/staff/appeals/EVILAPPEAL")
    assert resp.status_code == 404 and json.loads(resp.body)["error"]["field"] == "appeal_id"
    assert "EVILAPPEAL" not in resp.body.decode()
    appeal_id = dispatched_appeal(aws, client)
    resp = post(client, staff_env, "dispatcher", f"/staff/appeals/{appeal_id}/actions/assign",
                {"unit_id": "U440306002-EVILUNIT", "instruction": "属地处理"})
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "unit_id"
    assert "EVILUNIT" not in resp.body.decode()
    resp = post(client, staff_env, "dispatcher", f"/staff/appeals/{appeal_id}/actions/joint",
                {"assisting_unit_ids": ["U440306002-EVILUNIT"]})
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "assisting_unit_ids"
    assert "EVILUNIT" not in resp.body.decode()
