"""The citizen's and the public's pages over HTTP on the stand-in (moto): the tracking page in HTML
and JSON, rating from its form, caching, errors; the public record and a unit's page (issue 16)."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from chalicelib.bootstrap import bootstrap
from chalicelib.services import public_record, tracking
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401
from tests.integration.test_analytics_api import run_analytics
from tests.integration.test_dispatch_stage import client, load  # noqa: F401
from tests.integration.test_evaluation import ANSWER, handled

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_ACCEPT = {"Accept": "application/json"}


def track_path(appeal_id: str) -> str:
    url = tracking.tracking_url(bootstrap(), appeal_id, load(appeal_id).tracking_salt)
    return urlsplit(url).path


def test_the_tracking_page_in_html_and_json_is_private_cacheable_and_keeps_its_link_out_of_referrers(
        aws, client, staff_env):
    appeal_id = handled(aws, client, staff_env)
    path = track_path(appeal_id)
    html = client.http.get(path)
    again = client.http.get(path, headers={"If-None-Match": html.headers["ETag"]})
    data = client.http.get(path, headers=JSON_ACCEPT)
    body = json.loads(data.body)
    assert (html.status_code, html.headers["Content-Type"], html.headers["Cache-Control"],
            html.headers["Referrer-Policy"], again.status_code, again.body, data.headers["Content-Type"]) == (
        200, "text/html; charset=utf-8", "private, no-cache", "no-referrer", 304, b"",
        "application/json; charset=utf-8")
    assert ANSWER in html.body.decode() and "请您评价" in html.body.decode()
    # dispatched_to_xixiang: the pipeline's dispatch, then the dispatcher's to the street office.
    assert ([e["kind"] for e in body["timeline"]], body["status"], body["can_rate"]) == (
        ["accepted", "dispatched", "deadlines_set", "dispatched", "deadlines_set", "signed", "contacted", "replied"],
        "replied", True)


def test_rating_from_the_form_redirects_to_the_page_and_a_second_rating_is_refused(aws, client, staff_env):
    appeal_id = handled(aws, client, staff_env)
    path = track_path(appeal_id)
    form = "speed=5&effect=4&service=5&reply_quality=5&comment=%E5%BE%88%E5%8F%8A%E6%97%B6"
    first = client.http.post(f"{path}/rating", headers=FORM, body=form)
    second = client.http.post(f"{path}/rating", headers=FORM, body=form)
    assert (first.status_code, first.headers["Location"], load(appeal_id).status.value, second.status_code,
            "这次答复已经评价过了" in second.body.decode()) == (303, f"{path}?rated=1", "closed", 409, True)


def test_a_bad_rating_form_is_400_naming_the_field_and_changes_nothing(aws, client, staff_env):
    appeal_id = handled(aws, client, staff_env)
    path = track_path(appeal_id)
    html = client.http.post(f"{path}/rating", headers=FORM, body="speed=5&effect=0&service=5&reply_quality=5")
    as_json = client.http.post(f"{path}/rating", headers={"Content-Type": "application/json", **JSON_ACCEPT},
                               body=json.dumps({"speed": 5, "effect": 5, "service": 5}))
    assert (html.status_code, "处置效果" in html.body.decode(), as_json.status_code,
            json.loads(as_json.body)["error"]["field"], load(appeal_id).status.value) == (
        400, True, 400, "reply_quality", "replied")


def test_an_unknown_link_is_404_in_html_and_in_json_naming_the_token(aws, client):
    path = "/track/" + "A" * 43
    html = client.http.get(path)
    data = client.http.get(path, headers=JSON_ACCEPT)
    assert (html.status_code, html.headers["Content-Type"], data.status_code,
            json.loads(data.body)["error"]["field"]) == (404, "text/html; charset=utf-8", 404, "token")


def test_the_public_record_and_the_units_page_show_the_closed_appeal_and_are_cacheable(aws, client, staff_env):
    appeal_id = handled(aws, client, staff_env)
    client.http.post(f"{track_path(appeal_id)}/rating", headers=FORM,
                     body="speed=5&effect=5&service=5&reply_quality=5")
    run_analytics(aws)
    public_record.refresh(bootstrap())
    listing = client.http.get("/public", headers=JSON_ACCEPT)
    rows = json.loads(listing.body)["rows"]
    unit_id = rows[0]["unit"]["id"]
    unit = json.loads(client.http.get(f"/public/units/{unit_id}", headers=JSON_ACCEPT).body)
    page = client.http.get("/public")
    assert ([r["appeal_id"] for r in rows], rows[0]["answer"], listing.headers["Cache-Control"].split(",")[0],
            unit["periods"]["30d"]["record"]["volume"], [r["appeal_id"] for r in unit["recent"]],
            page.status_code, appeal_id in page.body.decode()) == (
        [appeal_id], ANSWER, "public", 1, [appeal_id], 200, True)


def test_public_filters_are_checked_and_an_unknown_unit_is_404(aws, client):
    bad = client.http.get("/public?phone=139", headers=JSON_ACCEPT)
    date = client.http.get("/public?from=yesterday", headers=JSON_ACCEPT)
    unit = client.http.get("/public/units/nope", headers=JSON_ACCEPT)
    assert [(r.status_code, json.loads(r.body)["error"]["field"]) for r in (bad, date, unit)] == [
        (400, "phone"), (400, "from"), (404, "unit_id")]


def test_the_scheduled_job_writes_the_rankings_the_public_page_reads(aws, client, staff_env):
    """functions/public_record/handler driven by EventBridge's Scheduled Event: the rankings and
    every active unit's record, as snapshots (one GetItem per page)."""
    from functions.public_record import handler
    from infra.runner import LambdaContext
    from infra.spec import SPEC
    from tests.conftest import EVENTS

    appeal_id = handled(aws, client, staff_env)
    run_analytics(aws)
    event = json.loads((EVENTS / "schedule" / "public_record.json").read_text(encoding="utf-8"))
    fn = next(f for f in SPEC.functions if f.name == "public_record")
    result = handler.lambda_handler(event, LambdaContext(fn, "us-east-1", "aws"))
    from chalicelib.storage import repository

    top = json.loads(client.http.get("/public/rankings?period=year&metric=volume", headers=JSON_ACCEPT).body)
    dispatched_to = {e.data["unit_id"] for e in repository.load_case_file(appeal_id) if e.kind == "dispatched"}
    unit = json.loads(client.http.get(f"/public/units/{load(appeal_id).assignment.unit_id}",
                                      headers=JSON_ACCEPT).body)
    n = len(dispatched_to)          # one dispatch each: under the minimum volume, so none is ranked
    assert (result["units"], result["units_changed"], top["unranked_count"], top["ranked"],
            unit["periods"]["year"]["record"]["volume"], unit["periods"]["year"]["ranks"]["volume"]) == (
        n, n, n, [], 1, None)


def test_links_and_forms_start_with_the_base_path_the_stack_is_served_under(aws, client, staff_env, monkeypatch):
    """Under an API Gateway stage (or a custom domain's base path) every link, form and redirect
    of a page starts with the public base URL's path."""
    import dataclasses

    from chalicelib.api import wiring

    appeal_id = handled(aws, client, staff_env)
    path = track_path(appeal_id)
    settings = dataclasses.replace(wiring.PLATFORM.settings, public_base_url="https://12345.example.cn/api")
    monkeypatch.setattr(wiring, "PLATFORM", dataclasses.replace(wiring.PLATFORM, settings_source=lambda: settings))
    page = client.http.get(path).body.decode()
    rated = client.http.post(f"{path}/rating", headers=FORM, body="speed=5&effect=5&service=5&reply_quality=5")
    assert ('action="/api/track/' in page, 'href="/api/static/jiesu.css?v=' in page, 'href="/public' in page,
            rated.headers["Location"]) == (True, True, False, f"/api{path}?rated=1")
