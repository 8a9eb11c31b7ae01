"""The dispatch stage and dispatch actions on moto, driven with real SQS event records."""
from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from chalice.test import Client

from infra.runner import sqs_event
from tests.integration.helpers import save
from tests.conftest import channel_fixture, demo_pack
from tests.integration.helpers import signed_post
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401

_tickets = itertools.count(1)


@pytest.fixture
def client(staff_env):
    import app

    with Client(app.app) as c:
        yield c


def take_in(aws, client, text: str, address: str, urgency: str = "普通") -> str:
    payload = channel_fixture("hotline")
    payload.update(gdbh=f"SZ2026040200{next(_tickets):04d}", sqnr=text, fsdz=address, gdbt=text[:20], jjcd=urgency)
    resp = signed_post(client, aws.creds, "hotline", payload)
    assert resp.status_code == 201, resp.body
    return json.loads(resp.body)["appeal_id"]


def run_dispatch(aws, appeal_id: str) -> dict:
    """Deliver the dispatch hand-off as Lambda would: an SQS event record into the handler."""
    from functions.dispatch.handler import lambda_handler

    body = json.dumps({"topic": "dispatch", "key": "1", "appeal_id": appeal_id})
    msg = {"MessageId": f"m-{appeal_id}", "ReceiptHandle": "rh", "Body": body, "Attributes": {}}
    return lambda_handler(sqs_event([msg], "arn:aws:sqs:us-east-1:123456789012:jiesu-test-dispatch", "us-east-1"),
                          None)


def to_dispatch_stage(appeal_id: str) -> None:
    """What the dedup stage does for a non-duplicate: hand the appeal to dispatch."""
    from chalicelib.services import outbox
    from chalicelib.services.clock import SYSTEM_CLOCK
    from chalicelib.storage import repository

    appeal = repository.load_appeal(appeal_id)
    save(appeal, SYSTEM_CLOCK.now(), handoffs=[outbox.stage_handoff("dispatch", appeal_id)],
         close=[(appeal_id, "dedup", "1")])


def act(client, idp, person, appeal_id, action, body):
    return client.http.post(f"/staff/appeals/{appeal_id}/actions/{action}", headers=idp.headers(person),
                            body=json.dumps(body))


def load(appeal_id):
    from chalicelib.storage import repository

    return repository.load_appeal(appeal_id)


CLEAR = ("西乡大道坪洲地铁站C出口旁的井盖丢失了，一个黑洞很危险，晚上有人差点掉下去，请尽快补上井盖。",
         "宝安区西乡街道西乡大道坪洲地铁站C出口")


def test_clear_appeal_is_dispatched_automatically_with_deadlines_and_callback(aws, client, staff_env):
    appeal_id = take_in(aws, client, *CLEAR)
    to_dispatch_stage(appeal_id)
    assert run_dispatch(aws, appeal_id) == {"batchItemFailures": []}
    a = load(appeal_id)
    assert a.status.value == "dispatched" and a.street_code == "440306002"
    assert a.assignment.unit_id and a.assignment.catalog_version == demo_pack().catalog_version
    assert a.assignment.dispatch_info["how"] == "auto"
    assert set(a.to_dict()["deadlines"]) == {"sign", "contact", "reply"}
    statuses = [json.loads(m["Body"])["status"] for m in aws.receive("notify")]
    assert "dispatched" in statuses
    # Redelivery changes nothing.
    version = a.version
    assert run_dispatch(aws, appeal_id) == {"batchItemFailures": []}
    assert load(appeal_id).version == version


def test_vague_appeal_goes_to_the_dispatcher_queue_with_suggestions(aws, client, staff_env):
    appeal_id = take_in(aws, client, "有个事情想问一下，怎么办理比较好？", "深圳")
    to_dispatch_stage(appeal_id)
    run_dispatch(aws, appeal_id)
    a = load(appeal_id)
    assert a.status.value == "pending_dispatch"
    assert a.assignment.dispatch_info["reason"] and len(a.assignment.dispatch_info["suggestions"]) == 3
    assert all(s["why"] for s in a.assignment.dispatch_info["suggestions"])
    listed = json.loads(client.http.get("/staff/appeals?queue=dispatch", headers=staff_env.headers("dispatcher")).body)
    assert appeal_id in [x["appeal_id"] for x in listed["appeals"]]


def test_an_appeal_no_catalog_item_covers_is_fallback_for_the_dispatcher(aws, client, staff_env):
    from chalicelib.policy.runtime import runtime_for

    appeal_id = take_in(aws, client, "昨晚看到天上有一颗很亮的流星划过，想知道是什么天文现象",
                        "宝安区西乡街道西乡大道")
    to_dispatch_stage(appeal_id)
    run_dispatch(aws, appeal_id)
    a = load(appeal_id)
    assert runtime_for("shenzhen").classifier.fallback_below > 0  # the Shenzhen pack's policy sets it
    assert a.status.value == "pending_dispatch" and a.assignment.unit_id is None
    assert a.assignment.dispatch_info["reason"].startswith("out of catalogue (兜底)"), a.assignment.dispatch_info
    suggestions = a.assignment.dispatch_info["suggestions"]
    assert suggestions[0]["code"] == "99.99.999" and len(suggestions) == 3


def test_a_dispatchers_correction_changes_later_decisions(aws, client, staff_env):
    from chalicelib.policy.runtime import runtime_for

    text = "小区门口那个奇怪的蓝色箱子一直嗡嗡响，不知道是什么设备，请派人看看。"
    first = take_in(aws, client, text, "宝安区西乡街道西乡大道")
    to_dispatch_stage(first)
    run_dispatch(aws, first)
    guess = load(first).assignment.dispatch_info["suggestions"][0]["code"]
    target = "02.01.001" if guess != "02.01.001" else "03.01.001"
    if load(first).status.value == "dispatched":
        return pytest.skip("the model was already confident; nothing to correct")
    resp = act(client, staff_env, "dispatcher", first, "dispatch", {"unit_id": "U440306002-JD",
                                                                    "catalog_code": target, "reason": "纠正"})
    assert resp.status_code == 200, resp.body
    model = runtime_for("shenzhen")
    model.checked_at = 0  # the next use refreshes (in production: within a minute)
    second = take_in(aws, client, text, "宝安区西乡街道西乡大道")
    to_dispatch_stage(second)
    run_dispatch(aws, second)
    assert load(second).assignment.dispatch_info["suggestions"][0]["code"] == target


def test_return_twice_goes_to_arbitration_and_the_named_unit_is_first_handler(aws, client, staff_env):
    appeal_id = take_in(aws, client, *CLEAR)
    to_dispatch_stage(appeal_id)
    run_dispatch(aws, appeal_id)
    unit = load(appeal_id).assignment.unit_id
    # The handler of another unit may not return it; a missing reason is a 400.
    assert act(client, staff_env, "yuanling_handler", appeal_id, "return", {"reason": "x"}).status_code == 404
    act(client, staff_env, "dispatcher", appeal_id, "dispatch", {"unit_id": "U440306002-JD"})  # 409: not queued
    if unit != "U440306002-JD":
        resp = act(client, staff_env, "dispatcher", appeal_id, "assign",
                   {"unit_id": "U440306002-JD", "instruction": "西乡街道处理"})
        assert resp.status_code == 200, resp.body
    resp = act(client, staff_env, "xixiang_handler", appeal_id, "return", {})
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "reason"
    assert act(client, staff_env, "xixiang_handler", appeal_id, "return", {"reason": "不是街道职责"}).status_code == 200
    assert load(appeal_id).status.value == "pending_dispatch"
    assert act(client, staff_env, "dispatcher", appeal_id, "dispatch", {"unit_id": "U440306002-JD"}).status_code == 200
    assert act(client, staff_env, "xixiang_handler", appeal_id, "return", {"reason": "仍不是"}).status_code == 200
    a = load(appeal_id)
    assert a.disputed
    resp = act(client, staff_env, "dispatcher", appeal_id, "dispatch", {"unit_id": "U440306002-JD"})
    assert resp.status_code == 409 and json.loads(resp.body)["error"]["code"] == "needs_arbitration"
    resp = act(client, staff_env, "dispatcher", appeal_id, "arbitrate",
               {"unit_id": "U440306002-JD", "reason": "快速裁定：属地街道首办负责"})
    assert resp.status_code == 200, resp.body
    resp = act(client, staff_env, "xixiang_handler", appeal_id, "return", {"reason": "再退"})
    assert resp.status_code == 409 and json.loads(resp.body)["error"]["code"] == "first_handler_responsible"


def test_joint_handling_puts_the_appeal_in_every_units_inbox(aws, client, staff_env):
    appeal_id = take_in(aws, client, *CLEAR)
    to_dispatch_stage(appeal_id)
    run_dispatch(aws, appeal_id)
    lead = load(appeal_id).assignment.unit_id
    resp = act(client, staff_env, "dispatcher", appeal_id, "joint", {"assisting_unit_ids": ["U440306002-JD"]})
    if lead == "U440306002-JD":
        assert resp.status_code == 400
        return
    assert resp.status_code == 200, resp.body
    inbox = json.loads(client.http.get("/staff/appeals?queue=unit", headers=staff_env.headers("xixiang_handler")).body)
    assert appeal_id in [x["appeal_id"] for x in inbox["appeals"]]
    resp = act(client, staff_env, "dispatcher", appeal_id, "joint", {"assisting_unit_ids": ["U999-NOPE"]})
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "assisting_unit_ids"


def test_urgent_work_is_flagged_key_and_a_leader_names_the_unit(aws, client, staff_env):
    appeal_id = take_in(aws, client, *CLEAR, urgency="急件")
    to_dispatch_stage(appeal_id)
    run_dispatch(aws, appeal_id)
    a = load(appeal_id)
    assert a.key and "急件" in a.key_reason
    queue = json.loads(client.http.get("/staff/appeals?queue=key", headers=staff_env.headers("baoan_leader")).body)
    assert appeal_id in [x["appeal_id"] for x in queue["appeals"]]
    resp = act(client, staff_env, "baoan_leader", appeal_id, "name_unit",
               {"unit_id": "U440306002-JD", "instruction": "请西乡街道牵头立即处置"})
    assert resp.status_code == 200, resp.body
    assert load(appeal_id).assignment.unit_id == "U440306002-JD" and load(appeal_id).assignment.first_handler_locked


def test_consultation_outcome_assigns_units(aws, client, staff_env):
    appeal_id = take_in(aws, client, *CLEAR)
    to_dispatch_stage(appeal_id)
    run_dispatch(aws, appeal_id)
    resp = act(client, staff_env, "dispatcher", appeal_id, "consult_open",
               {"level": 2, "units": ["U440306002-JD", "U440306-CG"], "topic": "井盖权属不清"})
    if resp.status_code == 400:
        resp = act(client, staff_env, "dispatcher", appeal_id, "consult_open",
                   {"level": 2, "units": ["U440306002-JD", "U440306002-PCS"], "topic": "井盖权属不清"})
    assert resp.status_code == 200, resp.body
    assert act(client, staff_env, "dispatcher", appeal_id, "consult_open",
               {"level": 2, "units": ["U440306002-JD", "U440306002-PCS"], "topic": "again"}).status_code == 409
    resp = act(client, staff_env, "dispatcher", appeal_id, "consult_close",
               {"minutes": "会商确定由西乡街道牵头，派出所协助", "lead_unit_id": "U440306002-JD",
                "assisting_unit_ids": ["U440306002-PCS"]})
    assert resp.status_code == 200, resp.body
    a = load(appeal_id)
    assert a.assignment.unit_id == "U440306002-JD" and a.assignment.assisting_unit_ids == ["U440306002-PCS"]
    assert a.consultation["minutes"].startswith("会商")


def test_a_key_appeal_with_a_city_unit_shows_to_the_leader_of_the_district_it_is_in(aws, client, staff_env):
    from chalicelib.services.clock import SYSTEM_CLOCK
    from chalicelib.storage import repository

    appeal_id = take_in(aws, client, *CLEAR)
    to_dispatch_stage(appeal_id)
    a = load(appeal_id)  # queued for a dispatcher (as low confidence would), who sends it to a city unit
    a.district_code, a.street_code = "440306", "440306002"
    a.queue_for_dispatcher("440306", SYSTEM_CLOCK.now(), "system:dispatch", "test: low confidence")
    save(a, SYSTEM_CLOCK.now())
    resp = act(client, staff_env, "dispatcher", appeal_id, "dispatch",
               {"unit_id": "U440300-DT", "catalog_code": "03.02.005", "reason": "地铁站出口井盖归地铁集团"})
    assert resp.status_code == 200, resp.body
    assert load(appeal_id).assignment.loop == "440300" and load(appeal_id).district_code == "440306"
    assert act(client, staff_env, "dispatcher", appeal_id, "flag_key", {"reason": "夜间有坠落风险"}).status_code == 200

    def key_queue(person):
        body = json.loads(client.http.get("/staff/appeals?queue=key", headers=staff_env.headers(person)).body)
        return [x["appeal_id"] for x in body["appeals"]]

    assert key_queue("baoan_leader") == [appeal_id]          # the place is in Bao'an
    assert key_queue("dispatcher").count(appeal_id) == 1      # city: both queues read, listed once
