"""Return visits (回访, F-EV-3) on moto: the planner fired with EventBridge's Scheduled Event, and a
visitor working the queue through the staff HTTP API."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from tests.conftest import EVENTS
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401
from tests.integration.test_dispatch_stage import act, client, load  # noqa: F401
from tests.integration.test_handling_api import dispatched_to_xixiang

ANSWER = "井盖已补装并加设警示围挡，现场复查已恢复安全通行。"


def answered(aws, client, staff_env) -> str:
    """An appeal dispatched to 西乡街道 and answered by its handler, through the staff API."""
    appeal_id = dispatched_to_xixiang(aws, client, staff_env)
    for action, body in (("sign", {}), ("contact", {"note": "已电话联系诉求人"}), ("reply", {"answer": ANSWER})):
        assert act(client, staff_env, "xixiang_handler", appeal_id, action, body).status_code == 200
    return appeal_id


def fire_planner(at: datetime) -> dict:
    """One firing of the schedule: the Scheduled Event fixture into functions/visits/handler at `at`."""
    from functions.visits import handler
    from infra.runner import LambdaContext
    from infra.spec import SPEC

    from chalicelib.services.clock import FixedClock

    event = json.loads((EVENTS / "schedule" / "visits.json").read_text(encoding="utf-8"))
    event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    real = handler.PLATFORM
    handler.PLATFORM = real.with_clock(FixedClock(at))
    try:
        fn = next(f for f in SPEC.functions if f.name == "visits")
        return handler.lambda_handler(event, LambdaContext(fn, "us-east-1", "aws"))
    finally:
        handler.PLATFORM = real


def every_round(monkeypatch) -> None:
    """The demo region visits every answered round here (Shenzhen's own pack samples 30 %)."""
    from chalicelib.domain.return_visit import VisitPolicy
    from chalicelib.policy.runtime import runtime_for

    monkeypatch.setitem(runtime_for("shenzhen").__dict__, "visit_policy", VisitPolicy("all"))


def queue_items() -> list[tuple[str, str]]:
    """The visitors' queue as stored: GSI1 VISITQ#shenzhen keys."""
    from chalicelib.storage import keys
    from chalicelib.storage.models import Item

    return [(i.appeal_id, i.state) for i in Item.gsi1.query(keys.visit_queue("shenzhen"))]


def test_the_scheduled_planner_puts_the_visit_task_once_into_the_visitors_queue(aws, client, staff_env,
                                                                                 monkeypatch):
    every_round(monkeypatch)
    appeal_id = answered(aws, client, staff_env)
    later = datetime.now(timezone.utc) + timedelta(hours=26)

    first, again = fire_planner(later), fire_planner(later + timedelta(hours=1))   # one more (empty) bucket

    assert ((first["planned"], first["candidates"]), (again["planned"], again["buckets"]), queue_items()) == (
        (1, 1), (0, 1), [(appeal_id, "open")])


def test_a_visitor_works_the_queue_and_an_unresolved_visit_sends_the_work_back(aws, client, staff_env, monkeypatch):
    from chalicelib.api import wiring
    from chalicelib.services.clock import FixedClock

    every_round(monkeypatch)
    appeal_id = answered(aws, client, staff_env)
    later = datetime.now(timezone.utc) + timedelta(hours=26)
    fire_planner(later)
    monkeypatch.setattr(wiring, "PLATFORM", wiring.PLATFORM.with_clock(FixedClock(later + timedelta(minutes=5))))

    queue = json.loads(client.http.get("/staff/visits?limit=10", headers=staff_env.headers("visitor")).body)
    handler_list = client.http.get("/staff/visits", headers=staff_env.headers("xixiang_handler")).status_code
    bad = act(client, staff_env, "visitor", appeal_id, "visit", {"reached": True, "satisfied": "不满意"})
    done = act(client, staff_env, "visitor", appeal_id, "visit",
               {"reached": True, "resolved": "未解决", "satisfied": "不满意", "note": "井盖仍松动"})
    again = act(client, staff_env, "visitor", appeal_id, "visit",
                {"reached": True, "resolved": "未解决", "satisfied": "不满意", "note": "井盖仍松动"})
    after = json.loads(client.http.get("/staff/visits", headers=staff_env.headers("visitor")).body)

    assert ([(v["appeal_id"], v["round"], v["attempts"], v["unit_id"]) for v in queue["visits"]], handler_list,
            (bad.status_code, json.loads(bad.body)["error"]["field"]),
            (done.status_code, json.loads(done.body)["status"]),
            (again.status_code, json.loads(again.body)["error"]["code"]), after["visits"],
            load(appeal_id).status.value) == (
        [(appeal_id, 0, 0, "U440306002-JD")], 403, (400, "resolved"), (200, "redo"), (409, "no_open_visit"), [],
        "redo")
