"""Handling steps, leaders and dedup corrections through the staff API, as staff use them."""
from __future__ import annotations

from chalicelib.bootstrap import bootstrap
import json

from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401
from tests.integration.test_dispatch_stage import CLEAR, act, client, load, run_dispatch, take_in, \
    to_dispatch_stage  # noqa: F401


def dispatched_to_xixiang(aws, client, staff_env) -> str:
    appeal_id = take_in(aws, client, *CLEAR)
    to_dispatch_stage(appeal_id)
    run_dispatch(aws, appeal_id)
    if load(appeal_id).assignment.unit_id != "U440306002-JD":
        assert act(client, staff_env, "dispatcher", appeal_id, "assign",
                   {"unit_id": "U440306002-JD", "instruction": "属地处理"}).status_code == 200
    return appeal_id


def test_steps_in_order_reach_the_channel_and_out_of_order_is_409(aws, client, staff_env):
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    resp = act(client, staff_env, "xixiang_handler", appeal_id, "reply", {"answer": "已处理"})
    assert resp.status_code == 409 and "dispatched" in json.loads(resp.body)["error"]["message"]
    before = load(appeal_id).version
    assert load(appeal_id).version == before  # nothing changed
    assert act(client, staff_env, "xixiang_handler", appeal_id, "sign", {}).status_code == 200
    assert act(client, staff_env, "xixiang_handler", appeal_id, "sign", {}).status_code == 409
    resp = act(client, staff_env, "xixiang_handler", appeal_id, "contact", {})
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "note"
    assert act(client, staff_env, "xixiang_handler", appeal_id, "contact", {"note": "已电话联系"}).status_code == 200
    resp = act(client, staff_env, "baoan_leader", appeal_id, "follow", {})
    assert resp.status_code == 200, resp.body
    resp = act(client, staff_env, "xixiang_handler", appeal_id, "reply",
               {"answer": "井盖已补装并加设警示围挡，现场复查已恢复安全通行。", "attachments": ["https://files.example.com/a.jpg"]})
    assert resp.status_code == 200, resp.body
    assert load(appeal_id).status.value == "replied"
    statuses = [json.loads(m["Body"])["status"] for m in aws.receive("notify")]
    assert "replied" in statuses
    feed = json.loads(client.http.get("/staff/feed", headers=staff_env.headers("baoan_leader")).body)["entries"]
    assert any(e["appeal_id"] == appeal_id and e["kind"] == "replied" for e in feed), feed
    resp = act(client, staff_env, "baoan_leader", appeal_id, "instruct", {"text": "请持续关注井盖安全"})
    assert resp.status_code == 200, resp.body


def test_extension_request_and_approval_move_the_deadline(aws, client, staff_env):
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    act(client, staff_env, "xixiang_handler", appeal_id, "sign", {})
    due = load(appeal_id).to_dict()["deadlines"]["reply"]["due_at"]
    version = load(appeal_id).to_dict()["deadlines"]["reply"]["version"]
    from datetime import datetime, timedelta

    later = (datetime.fromisoformat(due) + timedelta(days=5)).isoformat()
    resp = act(client, staff_env, "xixiang_handler", appeal_id, "extension_request",
               {"reason": "需协调供水公司", "new_due_at": later})
    assert resp.status_code == 200, resp.body
    resp = act(client, staff_env, "xixiang_handler", appeal_id, "extension_decide", {"approve": True})
    assert resp.status_code == 403
    resp = act(client, staff_env, "dispatcher", appeal_id, "extension_decide", {"approve": True, "reason": "同意"})
    assert resp.status_code == 200, resp.body
    d = load(appeal_id).to_dict()["deadlines"]["reply"]
    assert d["due_at"] > due and d["version"] == version + 1


def test_dispatcher_splits_a_wrongly_joined_appeal(aws, client, staff_env):
    from chalicelib.services import dedup
    from chalicelib.services.clock import SYSTEM_CLOCK

    first = take_in(aws, client, *CLEAR)
    second = take_in(aws, client, "坪洲地铁站C出口那个井盖没了，很危险。", "西乡大道坪洲站附近")
    assert dedup.process(bootstrap(clock=SYSTEM_CLOCK), first).outcome == "new_master"
    assert dedup.process(bootstrap(clock=SYSTEM_CLOCK), second).outcome == "joined"
    assert load(first).weight == 2
    resp = act(client, staff_env, "dispatcher", second, "split", {})
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "reason"
    assert act(client, staff_env, "xixiang_handler", second, "split", {"reason": "x"}).status_code == 403
    resp = act(client, staff_env, "dispatcher", second, "split", {"reason": "不同井盖"})
    assert resp.status_code == 200, resp.body
    assert load(second).status.value == "pending_dispatch" and load(first).weight == 1
    resp = act(client, staff_env, "dispatcher", second, "merge", {"into_master_id": first, "reason": "确认同一事件"})
    assert resp.status_code == 200, resp.body
    assert load(second).master_id == first


def test_a_step_that_meets_a_concurrent_change_is_taken_again_on_the_new_version(aws, client, staff_env, monkeypatch):
    from chalicelib.domain.errors import ConcurrentUpdate
    from chalicelib.storage import repository
    from chalicelib.storage.unit_of_work import UnitOfWork

    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    real, tries = UnitOfWork.commit, []

    def commit(uow):
        tries.append([a.version for a in uow.appeals])
        if len(tries) == 1:  # the dispatch stage (say) saved first: our copy is stale
            raise ConcurrentUpdate(["ConditionalCheckFailed"])
        return real(uow)

    monkeypatch.setattr(UnitOfWork, "commit", commit)
    resp = act(client, staff_env, "xixiang_handler", appeal_id, "sign", {})
    assert resp.status_code == 200 and len(tries) == 2
    assert [e.kind for e in repository.load_case_file(appeal_id)].count("signed") == 1
