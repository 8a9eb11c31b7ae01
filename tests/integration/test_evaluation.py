"""Citizens rate through their channels (F-EV); every citizen of a de-duplicated event can rate."""
from __future__ import annotations

import json

from chalicelib.bootstrap import bootstrap
from chalicelib.channels.signing import signed_headers
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401
from tests.integration.test_dispatch_stage import CLEAR, _tickets, act, client, load  # noqa: F401
from tests.integration.helpers import status_notices
from tests.integration.test_handling_api import dispatched_to_xixiang


def rate(client, aws, channel, ticket, scores):
    path = f"/channels/{channel}/appeals/{ticket}/rating"
    body = json.dumps(scores).encode()
    kid, sec = aws.creds[channel]
    return client.http.post(path, headers={"Content-Type": "application/json",
                                           **signed_headers(kid, sec, "POST", path, body)}, body=body)


ANSWER = "已补装井盖并设置围挡，现场复查已恢复安全通行"
REDONE = "重新更换加固井盖底座，经回访确认不再松动异响"
GOOD = {"speed": 5, "effect": 5, "service": 4, "reply_quality": 5}
BAD = {"speed": 3, "effect": 1, "service": 3, "reply_quality": 2}


def handled(aws, client, staff_env) -> str:
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    for action, body in (("sign", {}), ("contact", {"note": "已电话联系"}), ("reply", {"answer": ANSWER})):
        assert act(client, staff_env, "xixiang_handler", appeal_id, action, body).status_code == 200
    return appeal_id


def test_bad_rating_sends_back_then_supervision_and_good_rating_closes(aws, client, staff_env):
    appeal_id = handled(aws, client, staff_env)
    ticket = load(appeal_id).ticket_id
    resp = rate(client, aws, "hotline", ticket, {**BAD, "effect": 9})
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "effect"
    resp = rate(client, aws, "hotline", ticket, BAD)
    assert resp.status_code == 200, resp.body
    a = load(appeal_id)
    assert a.status.value == "redo" and a.evaluation.redo_count == 1 and a.evaluation.rating.scores["effect"] == 1
    assert rate(client, aws, "hotline", ticket, GOOD).status_code == 409  # this answer was rated
    for action, body in (("sign", {}), ("contact", {"note": "再次联系"}), ("reply", {"answer": REDONE})):
        assert act(client, staff_env, "xixiang_handler", appeal_id, action, body).status_code == 200, action
    # Still unsatisfied after the redo: special supervision (专项督办).
    assert rate(client, aws, "hotline", ticket, BAD).status_code == 200
    assert load(appeal_id).status.value == "supervised"
    case = [e.kind for e in __import__("chalicelib.storage.repository", fromlist=["x"]).load_case_file(appeal_id)]
    assert case.count("rated") == 2 and "sent_back_for_redo" in case and "special_supervision" in case


def test_a_good_rating_closes(aws, client, staff_env):
    appeal_id = handled(aws, client, staff_env)
    assert rate(client, aws, "hotline", load(appeal_id).ticket_id, GOOD).status_code == 200
    assert load(appeal_id).status.value == "closed"


def test_rating_before_the_answer_is_409(aws, client, staff_env):
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    resp = rate(client, aws, "hotline", load(appeal_id).ticket_id, GOOD)
    assert resp.status_code == 409 and json.loads(resp.body)["error"]["code"] == "not_answered"


def test_a_duplicates_citizen_rates_and_every_channel_hears_closed(aws, client, staff_env):
    from chalicelib.services import dedup
    from chalicelib.services.clock import SYSTEM_CLOCK
    from tests.integration.test_dispatch_stage import take_in

    master = take_in(aws, client, *CLEAR)
    dup = take_in(aws, client, "坪洲地铁站C出口那个井盖没了，很危险。", "西乡大道坪洲站附近")
    assert dedup.process(bootstrap(clock=SYSTEM_CLOCK), master).outcome == "new_master"
    assert dedup.process(bootstrap(clock=SYSTEM_CLOCK), dup).outcome == "joined"
    from tests.integration.test_dispatch_stage import run_dispatch

    run_dispatch(aws, master)
    if load(master).assignment.unit_id != "U440306002-JD":
        act(client, staff_env, "dispatcher", master, "assign", {"unit_id": "U440306002-JD", "instruction": "属地"})
    for action, body in (("sign", {}), ("contact", {"note": "已电话联系"}), ("reply", {"answer": ANSWER})):
        assert act(client, staff_env, "xixiang_handler", master, action, body).status_code == 200
    while aws.receive("notify"):
        pass
    resp = rate(client, aws, "hotline", load(dup).ticket_id, GOOD)
    assert resp.status_code == 200, resp.body
    assert load(master).status.value == "closed" and load(dup).evaluation.rating.scores["effect"] == 5
    closed = {json.loads(m["Body"])["appeal_id"] for m in aws.receive("notify")
              if json.loads(m["Body"])["status"] == "closed"}
    assert closed == {master, dup}


def test_a_redo_is_told_to_the_partner_as_new_numbered_events(aws, client, staff_env):
    appeal_id = handled(aws, client, staff_env)
    assert rate(client, aws, "hotline", load(appeal_id).ticket_id, BAD).status_code == 200
    for action, body in (("sign", {}), ("contact", {"note": "再次联系"}), ("reply", {"answer": REDONE})):
        assert act(client, staff_env, "xixiang_handler", appeal_id, action, body).status_code == 200, action
    notices = status_notices(appeal_id)
    assert [n["status"] for n in notices] == ["accepted", "dispatched", "replied", "redo", "dispatched", "replied"]
    seqs = [n["seq"] for n in notices]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert len({n["event_id"] for n in notices}) == len(notices)
    assert notices[0]["event_id"] == f"{appeal_id}:1:accepted"


def test_notify_holds_a_status_back_until_the_earlier_one_is_delivered(aws, client, staff_env):
    from chalicelib.services import notify
    from chalicelib.services.clock import SYSTEM_CLOCK

    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    accepted, dispatched = status_notices(appeal_id)[:2]
    for n in (accepted, dispatched):
        n.pop("done_at")
    sent = []

    def post(url, body, headers):
        sent.append((json.loads(body), headers["Idempotency-Key"]))
        return notify.HttpResult(204)

    import pytest

    with pytest.raises(notify.EarlierStatusPending):
        notify.deliver_status(bootstrap(clock=SYSTEM_CLOCK), dispatched, post)
    assert sent == []
    assert notify.deliver_status(bootstrap(clock=SYSTEM_CLOCK), accepted, post) == "delivered"
    assert notify.deliver_status(bootstrap(clock=SYSTEM_CLOCK), dispatched, post) == "delivered"
    assert [(b["status"], b["seq"], key) for b, key in sent] == [
        ("accepted", accepted["seq"], accepted["event_id"]), ("dispatched", dispatched["seq"], dispatched["event_id"])]


def test_the_citizens_comment_is_kept_masked_and_shown_to_the_unit_that_must_redo(aws, client, staff_env):
    appeal_id = handled(aws, client, staff_env)
    comment = "井盖还是松的，踩上去会响，有事打我电话13812345678"
    assert rate(client, aws, "hotline", load(appeal_id).ticket_id, {**BAD, "comment": comment}).status_code == 200
    view = json.loads(client.http.get(f"/staff/appeals/{appeal_id}", headers=staff_env.headers("xixiang_handler")).body)
    masked = "井盖还是松的，踩上去会响，有事打我电话138****5678"
    assert view["status"] == "redo" and view["rating"]["comment"] == masked and view["rating"]["effect"] == 1
    [rated] = [e for e in view["case_file"] if e["kind"] == "rated"]
    assert rated["data"]["comment"] == masked
