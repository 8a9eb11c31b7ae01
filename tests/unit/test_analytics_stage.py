"""The analytics stage (services/analytics.py): counters kept as work happens, counted once
whatever SQS does, and the same as a rebuild from the case files (issue 17)."""
from __future__ import annotations

import random

from chalicelib.domain.metrics import COUNTERS
from chalicelib.services import analytics, dispatch, evaluation, staff
from tests.fakes import run_analytics
from tests.unit.test_public_side_without_aws import closed, handle, p, take_in, token_of  # noqa: F401
from tests.unit.test_services_without_aws import (  # noqa: F401
    CITY_MANAGEMENT_BAOAN, CLEAR, handler_of, hotline, no_aws, rt, to_dispatch_stage,
)

DAY = "2026-05-06"


def unit_row(p, unit=CITY_MANAGEMENT_BAOAN, grain="D", period=DAY) -> dict:
    row = p.store.counter("shenzhen", grain, period, "unit", unit)
    return row.counts if row else {}


def stored(p) -> dict:
    return {(r.grain, r.period, r.dimension, r.ident): r.counts for r in p.store.every_counter("shenzhen")}


def test_a_closed_appeal_adds_its_lead_units_handling_once_to_the_day_and_the_month(p, rt):
    closed(p, rt)
    run_analytics(p)
    expected = {"dispatched": 1, "signed_in_time": 1, "responded_in_time": 1, "replied": 1, "due": 1, "on_time": 1,
                "rated": 1, "satisfied": 1, "resolved": 1, "closed": 1, "sign_h0": 1, "reply_h0": 1}
    city = p.store.counter("shenzhen", "D", DAY, "city", "-").counts
    assert (unit_row(p), unit_row(p, grain="M", period=DAY[:7]), city["received"], city.get("open", 0)) == (
        expected, expected, 1, 0)


def test_an_open_appeal_is_in_the_backlog_until_it_is_replied(p, rt):
    result = take_in(p, hotline(*CLEAR))
    appeal_id = result.body["appeal_id"]
    to_dispatch_stage(p, appeal_id)
    dispatch.process(p, appeal_id)
    run_analytics(p)
    before = unit_row(p).get("open")
    handle(p, rt, appeal_id)
    run_analytics(p)
    assert (before, unit_row(p).get("open", 0), unit_row(p)["replied"]) == (1, 0, 1)


def test_every_message_delivered_twice_and_shuffled_counts_once(p, rt):
    for _ in range(3):
        closed(p, rt)
    once = [m for m in p.publisher.take("analytics")]
    twice = once + once
    random.Random(7).shuffle(twice)
    for i in range(0, len(twice), 4):
        analytics.process(p, twice[i:i + 4])
    assert (unit_row(p)["dispatched"], unit_row(p)["closed"], analytics.rebuild(p)["mismatch_count"]) == (3, 3, 0)


def test_a_lost_message_is_made_up_from_the_case_file_by_the_next_one(p, rt):
    appeal_id = closed(p, rt)
    msgs = [m for m in p.publisher.take("analytics") if m["appeal_id"] == appeal_id]
    lost = msgs[1]
    analytics.process(p, [m for m in msgs if m is not lost])
    assert (unit_row(p)["dispatched"], unit_row(p)["signed_in_time"], analytics.rebuild(p)["mismatch_count"]) == (
        1, 1, 0)


def test_a_return_counts_against_the_unit_that_returned_and_the_next_unit_gets_its_own_dispatch(p, rt):
    result = take_in(p, hotline(*CLEAR))
    appeal_id = result.body["appeal_id"]
    to_dispatch_stage(p, appeal_id)
    dispatch.process(p, appeal_id)
    staff.perform(p, appeal_id, "return", handler_of(rt, CITY_MANAGEMENT_BAOAN), {"reason": "不属于本单位职责范围，应由街道办理"})
    run_analytics(p)
    row = unit_row(p)
    assert (row["dispatched"], row["returned"], row.get("signed_in_time", 0), analytics.rebuild(p)["mismatch_count"]
            ) == (1, 1, 0, 0)


def test_rebuild_finds_a_tampered_counter_and_writes_the_case_files_numbers_back(p, rt):
    closed(p, rt)
    closed(p, rt)
    run_analytics(p)
    right = stored(p)
    uow = p.store.unit_of_work(p.now())
    uow.update(*analytics.bumps("shenzhen", {("D", DAY, "unit", CITY_MANAGEMENT_BAOAN): {"dispatched": 5}}))
    uow.commit()
    found = analytics.rebuild(p)
    fixed = analytics.rebuild(p, write=True)
    assert (found["mismatch_count"], found["mismatches"][0]["counter"], fixed["written"], stored(p),
            analytics.rebuild(p)["mismatch_count"]) == (1, f"D~{DAY}~unit~{CITY_MANAGEMENT_BAOAN}", True, right, 0)


def test_a_rating_by_the_citizen_page_counts_for_satisfaction_with_the_regions_levels(p, rt):
    result = take_in(p, hotline(*CLEAR))
    appeal_id = result.body["appeal_id"]
    to_dispatch_stage(p, appeal_id)
    dispatch.process(p, appeal_id)
    handle(p, rt, appeal_id)
    # mean 3.75: 基本满意 (3.5 <= mean < 4.5), satisfied; effect 3 < 4: not resolved
    evaluation.rate_on_page(p, token_of(result), {"speed": "4", "effect": "3", "service": "4", "reply_quality": "4"})
    run_analytics(p)
    row = unit_row(p)
    assert (row["rated"], row["satisfied"], row.get("resolved", 0)) == (1, 1, 0)


def test_every_counter_the_stage_writes_is_a_known_one(p, rt):
    closed(p, rt)
    run_analytics(p)
    assert {c for counts in stored(p).values() for c in counts} <= set(COUNTERS)


def test_the_dashboard_ranks_districts_for_the_city_and_names_them(p, rt):
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services import analytics_read

    for _ in range(2):
        closed(p, rt)
    run_analytics(p)
    city = Principal("d1", "dispatcher", Role.DISPATCHER, "shenzhen", None, "440300")
    district = Principal("l1", "leader", Role.LEADER, "shenzhen", None, "440306")
    board = analytics_read.dashboard(p, city, {"period": "day"})
    theirs = analytics_read.dashboard(p, district, {"period": "day"})
    # 2 cases: under the minimum volume (10), so listed as unranked, not ranked
    assert (board["district_rankings"]["ranked"], board["district_rankings"]["unranked"], board["volume"]["count"],
            theirs["district_rankings"], theirs["scope"]["name"]) == ([], 1, 2, None, "宝安区")
