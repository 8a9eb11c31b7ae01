"""Demo history and the demo's live units (infra/demo_history.py) on the platform of fakes."""
from __future__ import annotations

import random
from pathlib import Path

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.lifecycle import Status
from chalicelib.services import analytics, analytics_read, dispatch
from infra import demo_history
from tests.fakes import run_analytics
from tests.unit.test_public_side_without_aws import p, take_in  # noqa: F401
from tests.unit.test_services_without_aws import CLEAR, KEY_ID, SECRET, hotline, no_aws, rt, to_dispatch_stage  # noqa: F401

EXAMPLES = demo_history.examples_of(Path(__file__).parents[2] / "regions" / "shenzhen")


def test_seeded_history_goes_through_the_pipeline_is_marked_demo_and_counts_as_a_rebuild_would(p, rt):
    made = demo_history.seed(p, "shenzhen", {"hotline": (KEY_ID, SECRET)}, EXAMPLES, days=2, per_day=3,
                             log=lambda line: None)
    counted = run_analytics(p)
    closed = sum(1 for a in (p.store.load_appeal(i) for i in p.store.every_appeal_id("shenzhen"))
                 if a.status == Status.CLOSED)
    assert (made["appeals"] > 0, counted.get("failed", 0), analytics.rebuild(p)["mismatch_count"],
            analytics_read.demo_data(p, "shenzhen"), demo_history.already_seeded(p, "shenzhen"),
            closed == made["closed"]) == (True, 0, 0, True, True, True)


def test_the_live_units_sign_answer_and_have_the_citizen_rate_a_fed_appeal(p, rt):
    appeal_id = take_in(p, hotline(*CLEAR)).body["appeal_id"]
    units = demo_history.LiveUnits(p, random.Random(3), demo_history.Behaviour(rated=1.0, unhappy=0.0, sign_late=0.0))
    units.note(appeal_id)
    to_dispatch_stage(p, appeal_id)
    dispatch.process(p, appeal_id)
    units.tick()                      # planned now that it is dispatched
    p.clock.advance(minutes=200)
    units.tick()
    kinds = [e.kind for e in p.store.load_case_file(appeal_id)]
    assert (p.store.load_appeal(appeal_id).status, [k for k in kinds if k in ("signed", "contacted", "replied",
                                                                               "rated", "closed")], units.plans) == (
        Status.CLOSED, ["signed", "contacted", "replied", "rated", "closed"], {})


def test_a_fresh_demo_has_ranked_units_a_red_and_a_black_list_and_the_seeded_spike_raises_one_alert(p, rt):
    demo_history.seed(p, "shenzhen", {"hotline": (KEY_ID, SECRET)}, EXAMPLES, log=lambda line: None)
    run_analytics(p)
    who = Principal("d1", "dispatcher1", Role.DISPATCHER, "shenzhen", None, rt.city_code)
    screen = analytics_read.screen(p, who)
    ranks, alerts = screen["rankings"], screen["alerts"]
    struggling = demo_history.busy_units(rt, EXAMPLES, demo_history.BUSY_UNITS)[-1][0]
    assert (len(ranks["units"]) >= 5, len(ranks["red"]) >= 1, [u["unit_id"] for u in ranks["black"]],
            len(alerts), alerts[0]["observed"] >= 3) == (True, True, [struggling], 1, True)
