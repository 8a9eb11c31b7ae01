"""研判 over HTTP on the stand-in (moto): the analytics stage's handler fed from its real queue,
dashboards and the screen's data by jurisdiction, the reports written to S3, listed and
downloaded, and the screen page's sign-in (issue 17)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from chalicelib.bootstrap import bootstrap
from chalicelib.domain.calendar import SHANGHAI, to_local
from chalicelib.services import reports
from chalicelib.services.clock import FixedClock
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401
from tests.integration.test_dedup_stage import sqs_event
from tests.integration.test_dispatch_stage import client  # noqa: F401
from tests.integration.test_evaluation import handled


def run_analytics(aws) -> int:
    """Every message of the analytics queue through the function's handler, as Lambda would."""
    from functions.analytics.handler import lambda_handler

    sqs, url, n = aws.session.client("sqs"), aws.resources.queue_urls["analytics"], 0
    while msgs := aws.receive("analytics"):
        assert lambda_handler(sqs_event(aws, msgs), None) == {"batchItemFailures": []}
        for m in msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        n += len(msgs)
    return n


def get(client, staff_env, person: str, path: str):
    return client.http.get(path, headers=staff_env.headers(person))


def test_the_dashboard_counts_the_days_work_and_each_leader_sees_their_own_district(aws, client, staff_env):
    handled(aws, client, staff_env)
    assert run_analytics(aws) > 0
    city = json.loads(get(client, staff_env, "dispatcher", "/staff/analytics?period=day").body)
    baoan = json.loads(get(client, staff_env, "baoan_leader", "/staff/analytics?period=day").body)
    futian = json.loads(get(client, staff_env, "futian_leader", "/staff/analytics?period=day").body)
    outside = get(client, staff_env, "futian_leader", "/staff/analytics?scope=440306")
    assert (city["volume"]["count"], city["counts"]["replied"], city["counts"]["open"], baoan["scope"]["code"],
            baoan["volume"]["count"], futian["volume"]["count"], outside.status_code,
            json.loads(outside.body)["error"]["field"]) == (1, 1, 0, "440306", 1, 0, 403, "scope")


def test_a_bad_parameter_is_400_naming_it(aws, client, staff_env):
    colour = get(client, staff_env, "dispatcher", "/staff/analytics?colour=red")
    period = get(client, staff_env, "dispatcher", "/staff/analytics?period=year")
    day = get(client, staff_env, "dispatcher", "/staff/analytics?period=day&date=2026-13-01")
    assert [(r.status_code, json.loads(r.body)["error"]["field"]) for r in (colour, period, day)] == [
        (400, "colour"), (400, "period"), (400, "date")]


def test_a_unit_handler_may_not_read_analytics_nor_reports(aws, client, staff_env):
    a = get(client, staff_env, "xixiang_handler", "/staff/analytics")
    r = get(client, staff_env, "xixiang_handler", "/staff/reports")
    assert (a.status_code, r.status_code) == (403, 403)


def test_the_daily_report_is_written_to_s3_listed_and_downloaded_by_scope(aws, client, staff_env):
    handled(aws, client, staff_env)
    run_analytics(aws)
    today = to_local(datetime.now(SHANGHAI)).date()
    tomorrow_9 = datetime(today.year, today.month, today.day, 9, tzinfo=SHANGHAI) + timedelta(days=1)
    p = bootstrap().with_clock(FixedClock(tomorrow_9))
    first, again = reports.run(p), reports.run(p)
    listing = json.loads(get(client, staff_env, "baoan_leader", "/staff/reports").body)
    daily = next(r for r in listing["reports"] if r["kind"] == "daily" and r["from"] == today.isoformat())
    html = get(client, staff_env, "baoan_leader", f"/staff/reports/daily/{today.isoformat()}.html")
    csv = get(client, staff_env, "baoan_leader", f"/staff/reports/daily/{today.isoformat()}.csv")
    city = get(client, staff_env, "baoan_leader", f"/staff/reports/daily/{today.isoformat()}.html?scope=440300")
    objects = aws.session.client("s3").list_objects_v2(Bucket=aws.resources.report_bucket)["KeyCount"]
    assert (again["written"], listing["scope"], sorted(daily["files"]), html.status_code,
            html.headers["Content-Type"], "每日快报" in html.body.decode(), csv.headers["Content-Type"],
            csv.body.decode("utf-8").splitlines()[0].startswith("\ufeff每日快报"), city.status_code,
            objects) == (0, "440306", ["csv", "html"], 200, "text/html; charset=utf-8", True,
                         "text/csv; charset=utf-8", True, 403, first["written"] * 2)


def test_the_screen_page_sends_to_sign_in_and_a_session_cookie_reads_but_never_changes(aws, client, staff_env):
    appeal_id = handled(aws, client, staff_env)
    run_analytics(aws)
    anonymous = client.http.get("/staff/screen")
    token = staff_env.headers("dispatcher")["Authorization"].split(" ", 1)[1]
    session = client.http.post("/staff/session", headers={"Content-Type": "application/x-www-form-urlencoded"},
                               body=f"token={token}&next=/staff/screen")
    cookie = session.headers["Set-Cookie"].split(";", 1)[0]
    page = client.http.get("/staff/screen", headers={"Cookie": cookie})
    data = client.http.get("/staff/analytics/screen", headers={"Cookie": cookie})
    change = client.http.post(f"/staff/appeals/{appeal_id}/actions/flag_key", headers={
        "Cookie": cookie, "Content-Type": "application/json"}, body=json.dumps({"reason": "测试"}))
    assert (anonymous.status_code, anonymous.headers["Location"], session.status_code,
            session.headers["Location"], "HttpOnly" in session.headers["Set-Cookie"],
            "SameSite=Strict" in session.headers["Set-Cookie"], page.status_code,
            'data-metric="open"' in page.body.decode(), json.loads(data.body)["counts"]["received_today"],
            change.status_code) == (302, "/staff/sign-in?next=/staff/screen", 303, "/staff/screen", True, True, 200,
                                    True, 1, 401)


def test_the_rebuild_command_agrees_with_the_stage_and_finds_a_tampered_counter(aws, client, staff_env, capsys):
    from chalicelib.services import analytics
    from infra import admin

    handled(aws, client, staff_env)
    run_analytics(aws)
    agree = admin.main(["--json", "rebuild"])
    first = json.loads(capsys.readouterr().out)
    p = bootstrap()
    uow = p.store.unit_of_work(p.now())
    day = to_local(p.now()).date().isoformat()
    uow.update(*analytics.bumps("shenzhen", {("D", day, "city", "-"): {"received": 3}}))
    uow.commit()
    found = admin.main(["--json", "rebuild"])
    second = json.loads(capsys.readouterr().out)
    assert (agree, first["mismatch_count"], first["appeals"], found, second["mismatch_count"],
            second["mismatches"][0]["counter"]) == (0, 0, 1, 5, 1, f"D~{day}~city~-")
