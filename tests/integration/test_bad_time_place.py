"""Bad times and bad places at intake (README: "Bad times and bad places"), on moto through the
Chalice app and the dispatch stage: a partner's time far in the future or before the platform
existed is a 400 naming the field and writes nothing; a real offset other than +08:00 is the
instant it names; a time long ago is kept as sent and never drives a deadline; a GPS point or an
address outside the region goes to a dispatcher with the reason, never to a unit guessed from
the text."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from chalice.test import Client

from tests.conftest import channel_fixture
from tests.integration.helpers import signed_post
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401
from tests.integration.test_dispatch_stage import load, run_dispatch, to_dispatch_stage

CHINA = timezone(timedelta(hours=8))
# A text that names a place in the region, so only the outside-the-region rule keeps it from a unit.
IN_REGION_TEXT = "西乡大道坪洲地铁站C出口旁的井盖丢失了，一个黑洞很危险，晚上有人差点掉下去，请尽快补上井盖。"


@pytest.fixture
def client(staff_env):
    import app

    with Client(app.app) as c:
        yield c


def stored_appeal_rows(aws) -> list[dict]:
    return [i for i in aws.table_items() if i["PK"]["S"].startswith(("APPEAL#", "TICKET#"))]


def hotline(ticket: str, **changes) -> dict:
    return {**channel_fixture("hotline"), "gdbh": ticket, **changes}


def at(delta: timedelta, tz=CHINA) -> str:
    return (datetime.now(timezone.utc) + delta).astimezone(tz).isoformat(timespec="seconds")


@pytest.mark.parametrize("field,value,code_words", [
    ("ldsj", "2100-01-01T09:00:00+08:00", "later than the time the request was received"),
    ("ldsj", None, "later than the time the request was received"),          # 10 minutes ahead
    ("ldsj", "1999-12-31T23:59:00+08:00", "before the platform took its first appeal"),
    ("ldsj", "2025-12-31T23:59:59+08:00", "before the platform took its first appeal"),
    ("ldsj", "2026-04-02T09:20:00+15:00", "offset must lie between -14:00 and +14:00"),
])
def test_an_impossible_time_is_400_naming_the_field_and_writes_nothing(aws, client, field, value, code_words):
    value = value or at(timedelta(minutes=10))
    resp = signed_post(client, aws.creds, "hotline", hotline("SZ20260402009001", **{field: value}))
    assert resp.status_code == 400, resp.body
    error = json.loads(resp.body)["error"]
    assert error["field"] == field and code_words in error["message"], error
    assert stored_appeal_rows(aws) == []


def test_a_second_time_of_a_payload_is_checked_too(aws, client):
    payload = {**channel_fixture("police"), "transferredAt": "2100-01-01T00:00:00+08:00"}
    resp = signed_post(client, aws.creds, "police", payload)
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "transferredAt", resp.body
    assert stored_appeal_rows(aws) == []


def test_a_clock_a_little_ahead_is_accepted_as_sent(aws, client):
    sent = at(timedelta(minutes=2))          # within the signing window (settings.signature_window_s)
    resp = signed_post(client, aws.creds, "hotline", hotline("SZ20260402009002", ldsj=sent))
    assert resp.status_code == 201, resp.body
    assert load(json.loads(resp.body)["appeal_id"]).reported_at == datetime.fromisoformat(sent)


@pytest.mark.parametrize("sent", ["2026-04-02T01:20:00Z", "2026-04-01T20:20:00-05:00", "2026-04-02T15:20:00+14:00",
                                  "2026-04-01T13:20:00-12:00"])
def test_other_offsets_are_the_instant_they_name_with_the_offset_kept(aws, client, sent):
    resp = signed_post(client, aws.creds, "hotline", hotline("SZ20260402009003", ldsj=sent))
    assert resp.status_code == 201, resp.body
    stored = load(json.loads(resp.body)["appeal_id"]).reported_at
    assert stored == datetime(2026, 4, 2, 9, 20, tzinfo=CHINA) and stored.utcoffset() == \
        datetime.fromisoformat(sent.replace("Z", "+00:00")).utcoffset()


def test_a_time_long_ago_is_kept_and_deadlines_run_from_receipt(aws, client):
    sent = "2026-01-01T00:00:00+08:00"       # the platform's first day: the oldest time taken
    resp = signed_post(client, aws.creds, "hotline",
                       hotline("SZ20260402009004", ldsj=sent, sqnr=IN_REGION_TEXT,
                               fsdz="宝安区西乡街道西乡大道坪洲地铁站C出口"))
    assert resp.status_code == 201, resp.body
    appeal_id = json.loads(resp.body)["appeal_id"]
    before = datetime.now(timezone.utc)
    to_dispatch_stage(appeal_id)
    assert run_dispatch(aws, appeal_id) == {"batchItemFailures": []}
    a = load(appeal_id)
    assert a.status.value == "dispatched" and a.reported_at == datetime.fromisoformat(sent)
    deadlines = a.to_dict()["deadlines"].values()
    starts = [datetime.fromisoformat(d["start"]) for d in deadlines]
    due = [datetime.fromisoformat(d["due_at"]) for d in deadlines]
    assert len(due) == 3 and all(before - timedelta(seconds=1) < s < datetime.now(timezone.utc) for s in starts)
    assert all(before < d < before + timedelta(days=60) for d in due), due


def test_an_address_in_another_city_goes_to_a_dispatcher_with_the_reason(aws, client):
    resp = signed_post(client, aws.creds, "hotline",
                       hotline("SZ20260402009005", sqnr=IN_REGION_TEXT, fsdz="北京市朝阳区建国路88号"))
    assert resp.status_code == 201, resp.body
    appeal_id = json.loads(resp.body)["appeal_id"]
    to_dispatch_stage(appeal_id)
    assert run_dispatch(aws, appeal_id) == {"batchItemFailures": []}
    a = load(appeal_id)
    assert a.status.value == "pending_dispatch" and a.assignment.unit_id is None and a.street_code is None
    assert a.assignment.dispatch_info["reason"] == "location not resolved: outside the region: the address names 北京市"


def test_a_gps_point_outside_the_region_goes_to_a_dispatcher_with_the_reason(aws, client):
    payload = {**channel_fixture("app"), "address": "", "content": IN_REGION_TEXT,
               "location": {"lng": 116.404, "lat": 39.915, "coordType": "wgs84"}}      # Beijing
    resp = signed_post(client, aws.creds, "app", payload)
    assert resp.status_code == 201, resp.body
    appeal_id = json.loads(resp.body)["appeal_id"]
    to_dispatch_stage(appeal_id)
    assert run_dispatch(aws, appeal_id) == {"batchItemFailures": []}
    a = load(appeal_id)
    assert a.status.value == "pending_dispatch" and a.assignment.unit_id is None
    reason = a.assignment.dispatch_info["reason"]
    assert reason.startswith("location not resolved: outside the region: the GPS point is ") and \
        reason.endswith(" km from the nearest street"), reason


def test_an_address_in_the_region_wins_over_a_stray_gps_point(aws, client):
    payload = {**channel_fixture("app"), "address": "宝安区西乡街道西乡大道坪洲地铁站C出口", "content": IN_REGION_TEXT,
               "location": {"lng": 116.404, "lat": 39.915, "coordType": "wgs84"}}
    resp = signed_post(client, aws.creds, "app", payload)
    assert resp.status_code == 201, resp.body
    appeal_id = json.loads(resp.body)["appeal_id"]
    to_dispatch_stage(appeal_id)
    run_dispatch(aws, appeal_id)
    assert load(appeal_id).street_code == "440306002"
