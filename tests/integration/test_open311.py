"""Open311 GeoReport v2 over real HTTP: the Chalice app served on 127.0.0.1 inside moto, read with
the `georeport` client, written with plain form-encoded POSTs."""
from __future__ import annotations

import json
import socket
import threading
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
import requests
from georeport import GeoReport

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PERSONAL = {"first_name": "小明", "last_name": "王", "email": "wang.xm@example.cn", "phone": "13812345678",
            "device_id": "dev-7f3a9c", "account_id": "acct-55821"}


@pytest.fixture(scope="module")
def base_url():
    """One local server per module: create_local_server re-bases the app's class, so only once."""
    import app
    from chalice.config import Config
    from chalice.local import LocalChalice, LocalDevServer, create_local_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = Config.create(chalice_stage="dev", app_name="jiesu")
    if isinstance(app.app, LocalChalice):  # another module already served it
        server = LocalDevServer(app.app, config, "127.0.0.1", port)
    else:
        server = create_local_server(app.app, config, "127.0.0.1", port)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/open311/v2"
    server.shutdown()
    server.server.server_close()
    thread.join(5)


@pytest.fixture
def api(aws, base_url):
    """The server with a fresh moto stack behind it (moto's mock is process-wide, threads included)."""
    key_id, secret = aws.creds["open311"]
    return type("Api", (), {"url": base_url, "key": f"{key_id}.{secret}", "secret": secret, "geo": GeoReport(base_url),
                            "geo_xml": GeoReport(base_url, output_format="xml")})


def post(api, fmt="json", headers=None, **fields):
    return requests.post(f"{api.url}/requests.{fmt}", data=fields, headers={**FORM, **(headers or {})}, timeout=10)


def good_form(api, **over):
    form = {"api_key": api.key, "service_code": "01.01", "lat": "22.5431", "long": "114.0579",
            "description": "路边垃圾堆了三天没人清运，气味很大。", "media_url": "https://img.example.cn/a.jpg",
            **PERSONAL}
    form.update(over)
    return {k: v for k, v in form.items() if v is not None}


def snapshot(aws):
    return (sorted(json.dumps(i, sort_keys=True, default=repr) for i in aws.table_items()),
            {q: aws.queue_depth(q) for q in aws.resources.queue_urls})


def appeal_items(aws):
    return [i for i in aws.table_items() if i["SK"]["S"] == "A" and i["PK"]["S"].startswith("APPEAL#")]


def errors_of(resp, fmt):
    """The spec's error list as [(code, description)], from JSON or XML."""
    if fmt == "json":
        assert resp.headers["Content-Type"].startswith("application/json")
        return [(e["code"], e["description"]) for e in resp.json()]
    assert resp.headers["Content-Type"].startswith("text/xml")
    assert resp.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(resp.content)
    assert root.tag == "errors"
    return [(int(e.findtext("code")), e.findtext("description")) for e in root.findall("error")]


def created_ids(resp, fmt):
    if fmt == "json":
        return resp.json()
    root = ET.fromstring(resp.content)
    return [{c.tag: c.text for c in r} for r in root.findall("request")]


# ------------------------------------------------------------------------------ services

def test_service_list_is_the_catalogs_level_two_groups(api):
    services = api.geo.get_service_list()
    assert len(services) == 113
    street = next(s for s in services if s["service_code"] == "01.01")
    assert street["service_name"] == "市容环境卫生" and street["group"] == "城市管理"
    assert street["metadata"] is False and street["type"] == "realtime"
    assert "道路清扫保洁不到位" in street["description"] and "垃圾满溢" in street["keywords"].split(",")
    xml_services = api.geo_xml.get_service_list()
    assert [s["service_code"] for s in xml_services] == [s["service_code"] for s in services]
    assert xml_services[0]["metadata"] == "false" and xml_services[0]["type"] == "realtime"


# ------------------------------------------------------------------------------ create

def test_create_by_point_and_by_address_and_retries_return_the_same_request(aws, api):
    first = post(api, **good_form(api))
    assert first.status_code == 201, first.text
    [created] = first.json()
    assert created["account_id"] is None and created["service_notice"]
    before = snapshot(aws)
    again = post(api, **good_form(api))  # an identical retry, no Idempotency-Key
    assert again.status_code == 201 and again.json() == first.json()
    assert snapshot(aws) == before

    by_address = good_form(api, lat=None, long=None, address_string="福田区深南大道6008号")
    resp = post(api, "xml", **by_address)
    assert resp.status_code == 201, resp.text
    [xml_created] = created_ids(resp, "xml")
    assert xml_created["service_request_id"] != created["service_request_id"]
    assert xml_created["account_id"] is None
    assert created_ids(post(api, "xml", **by_address), "xml") == [xml_created]
    assert len(appeal_items(aws)) == 2

    from chalicelib.storage import repository

    appeal = repository.load_appeal(created["service_request_id"])
    assert appeal.channel == "open311" and appeal.appeal_type.value == "投诉" and appeal.title == "市容环境卫生"
    assert (appeal.location.lat, appeal.location.lng) == (22.5431, 114.0579)
    assert appeal.attachments == ("https://img.example.cn/a.jpg",)
    assert appeal.channel_meta["service_code"] == "01.01"
    assert aws.queue_depth("dedup") == 2


def test_idempotency_key_header(aws, api):
    one = post(api, headers={"Idempotency-Key": "c0ffee-1"}, **good_form(api))
    two = post(api, headers={"Idempotency-Key": "c0ffee-2"}, **good_form(api))
    assert one.status_code == two.status_code == 201
    assert one.json()[0]["service_request_id"] != two.json()[0]["service_request_id"]
    assert post(api, headers={"Idempotency-Key": "c0ffee-1"}, **good_form(api)).json() == one.json()
    before = snapshot(aws)
    clash = post(api, headers={"Idempotency-Key": "c0ffee-1"}, **good_form(api, description="别的事情"))
    assert clash.status_code == 409
    assert errors_of(clash, "json")[0][1].startswith("Idempotency-Key:")
    assert snapshot(aws) == before


def test_personal_fields_go_only_into_the_encrypted_party(aws, api):
    resp = post(api, **good_form(api))
    appeal_id = resp.json()[0]["service_request_id"]
    dump = json.dumps(aws.table_items(), ensure_ascii=False, default=repr)
    # (the party item may keep a masked staff hint such as 王**, so the lone surname is not checked)
    for value in (*(v for k, v in PERSONAL.items() if k != "last_name"), "王小明"):
        assert value not in dump
    from chalicelib.storage import pii, repository

    party = repository.get_party(appeal_id)
    restored = pii.decrypt_party(party.wrapped_key, party.nonce, party.ciphertext, appeal_id)
    assert (restored.name, restored.phone) == ("王小明", "13812345678")


# ------------------------------------------------------------------------------ list and get

def test_list_and_get_show_public_fields_only(aws, api):
    ids = []
    second = good_form(api, service_code="01.02", lat=None, long=None, address_string="南山区科技园",
                       description="分类垃圾混装，联系我13912345678")
    for form in (good_form(api), second):
        resp = post(api, **form)
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()[0]["service_request_id"])
    listed = api.geo.get_service_requests()
    assert [r["service_request_id"] for r in listed] == ids[::-1]  # newest first
    one = api.geo.get_service_request(ids[0])
    assert one == listed[1]
    assert one["status"] == "open" and one["service_code"] == "01.01" and one["service_name"] == "市容环境卫生"
    assert (one["lat"], one["long"]) == (22.543, 114.058)     # about 100 m: where, not which door
    assert one["media_url"] == "https://img.example.cn/a.jpg"
    assert one["requested_datetime"].endswith("+00:00") and one["updated_datetime"]
    assert set(one) == {"service_request_id", "status", "status_notes", "service_name", "service_code",
                        "description", "requested_datetime", "updated_datetime", "address", "lat", "long",
                        "media_url", "agency_responsible", "notes"}
    assert [(n["type"], n["description"]) for n in one["notes"]] == [("accepted", "诉求已受理")]
    assert listed[0]["address"] == "南山区科技园" and "13912345678" not in listed[0]["description"]

    xml_list = api.geo_xml.get_service_requests()
    assert [r["service_request_id"] for r in xml_list] == ids[::-1]
    xml_one = api.geo_xml.get_service_request(ids[0])
    assert xml_one["status"] == "open" and xml_one["lat"] == "22.543" and xml_one["address"] is None

    raw = "".join(requests.get(u, timeout=10).text for u in (
        f"{api.url}/requests.json", f"{api.url}/requests.xml",
        f"{api.url}/requests/{ids[0]}.json", f"{api.url}/requests/{ids[0]}.xml"))
    for value in (*PERSONAL.values(), "王小明", "小明", "13912345678", api.secret, "sz-open311-1"):
        assert value not in raw


def test_list_filters(aws, api):
    from chalicelib.domain.appeal import Status
    from chalicelib.storage import repository

    a = post(api, **good_form(api)).json()[0]["service_request_id"]
    b = post(api, **good_form(api, service_code="01.02")).json()[0]["service_request_id"]
    appeal = repository.load_appeal(b)
    closed_at = datetime.now(timezone.utc) + timedelta(seconds=5)
    appeal.status = Status.CLOSED
    appeal.record(closed_at, "closed", "test")
    save(appeal, closed_at)

    def ids(**params):
        return [r["service_request_id"] for r in api.geo.get_service_requests(**params)]

    assert ids(service_code="01.01") == [a]
    assert ids(service_code="01.01,01.02") == [b, a]
    assert ids(status="closed") == [b] and ids(status="open") == [a]
    assert ids(service_request_id=f"{a},nope-0000,{b}") == [a, b]
    now = datetime.now(timezone.utc)
    def days(n):
        return (now + timedelta(days=n)).isoformat()

    assert ids(start_date=days(-2), end_date=days(1)) == [b, a]
    assert ids(start_date=days(-30), end_date=days(-2)) == []
    assert ids(end_date=days(-2)) == []
    closed = api.geo.get_service_request(b)
    assert closed["status"] == "closed" and closed["updated_datetime"] > closed["requested_datetime"]


def test_listing_reads_the_asked_window_not_just_the_newest_requests(aws, api, monkeypatch):
    from chalicelib.services import open311_read
    from chalicelib.storage import repository

    made = [post(api, **good_form(api, description=f"第{i}处井盖缺失，请尽快处理")).json()[0]["service_request_id"]
            for i in range(4)]
    now = datetime.now(timezone.utc)
    for i, rid in enumerate(made):            # received 10, 40, 70 and 100 days ago
        appeal = repository.load_appeal(rid)
        appeal.received_at = now - timedelta(days=10 + 30 * i)
        save(appeal, now)

    def ids(**params):
        return [r["service_request_id"] for r in api.geo.get_service_requests(**params)]

    def days(n):
        return (now + timedelta(days=n)).isoformat()

    assert ids() == made[:3]                                  # the default window: the last 90 days
    assert ids(start_date=days(-45), end_date=days(-5)) == made[:2]
    assert ids(start_date=days(-120), end_date=days(-60)) == made[2:]   # older than 90 days: by asking
    # With two items readable per listing, the newest of the window still come first.
    monkeypatch.setattr(open311_read, "SCAN_LIMIT", 2)
    assert ids(start_date=days(-120), end_date=days(-30)) == made[1:3]


# ------------------------------------------------------------------------------ errors

POST_ERRORS = {
    "missing_api_key": (dict(api_key=None), 400, "api_key"),
    "wrong_api_key": (dict(api_key="sz-open311-1.not-the-secret"), 403, "api_key"),
    "unknown_key_id": (dict(api_key="someone-else.whatever"), 403, "api_key"),
    "key_without_secret": (dict(api_key="sz-open311-1"), 403, "api_key"),
    "unknown_service_code": (dict(service_code="77.77"), 400, "service_code"),
    "missing_service_code": (dict(service_code=None), 400, "service_code"),
    "no_location": (dict(lat=None, long=None), 400, "address_string"),
    "bad_lat": (dict(lat="north"), 400, "lat"),
    "lat_out_of_range": (dict(lat="91"), 400, "lat"),
    "lat_without_long": (dict(long=None), 400, "long"),
    "missing_description": (dict(description=None), 400, "description"),
    "http_media_url": (dict(media_url="http://img.example.cn/a.jpg"), 400, "media_url"),
    "bad_phone": (dict(phone="12345"), 400, "phone"),
    "bad_email": (dict(email="not-an-email"), 400, "email"),
    "nul_in_first_name": (dict(first_name="小\x00明"), 400, "first_name"),
    "escape_in_last_name": (dict(last_name="王\x1b[31m"), 400, "last_name"),
    "nul_in_description": (dict(description="路边垃圾\x00堆了三天"), 400, "description"),
}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bad_posts_are_spec_errors_naming_the_parameter_and_write_nothing(aws, api, fmt):
    before = snapshot(aws)
    for case, (over, status, param) in sorted(POST_ERRORS.items()):
        resp = post(api, fmt, **good_form(api, **over))
        assert resp.status_code == status, (case, resp.text)
        [(code, description)] = errors_of(resp, fmt)
        assert code == status and description.startswith(f"{param}:"), (case, description)
        assert "not-the-secret" not in resp.text and api.secret not in resp.text
    assert snapshot(aws) == before


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_wrong_content_type_and_bad_query_parameters(aws, api, fmt):
    before = snapshot(aws)
    resp = requests.post(f"{api.url}/requests.{fmt}", json=good_form(api), timeout=10)
    assert resp.status_code == 415 and errors_of(resp, fmt)[0][1].startswith("Content-Type:")
    resp = requests.get(f"{api.url}/requests.{fmt}", params={"start_date": "yesterday"}, timeout=10)
    assert resp.status_code == 400 and errors_of(resp, fmt)[0][1].startswith("start_date:")
    resp = requests.get(f"{api.url}/requests.{fmt}", params={"start_date": "2026-01-01T00:00:00Z",
                                                             "end_date": "2026-06-01T00:00:00Z"}, timeout=10)
    assert resp.status_code == 400 and errors_of(resp, fmt)[0][1].startswith("end_date:")
    resp = requests.get(f"{api.url}/requests.{fmt}", params={"status": "pending"}, timeout=10)
    assert resp.status_code == 400 and errors_of(resp, fmt)[0][1].startswith("status:")
    resp = requests.post(f"{api.url}/services.{fmt}", data=good_form(api), timeout=10)
    assert resp.status_code == 405 and errors_of(resp, fmt)[0][0] == 405
    assert snapshot(aws) == before


# Dates at the ends of the calendar: the default 90-day window (or UTC) would leave it.
EDGE_DATES = [
    ("start_date=9999-12-31T00:00:00%2B14:00", "start_date"),
    ("end_date=0001-01-02T00:00:00Z", "end_date"),
    ("start_date=0001-01-01T00:00:00%2B14:00&end_date=0001-01-02T00:00:00Z", "start_date"),
    ("start_date=9999-12-30T00:00:00Z&end_date=9999-12-31T23:59:00-14:00", "end_date"),
    ("end_date=0001-03-01T00:00:00%2B14:00", "end_date"),
]


@pytest.mark.parametrize("query, param", EDGE_DATES)
def test_dates_at_the_ends_of_the_calendar_are_400_naming_the_parameter(aws, api, query, param):
    resp = requests.get(f"{api.url}/requests.json?{query}", timeout=10)
    assert resp.status_code == 400, resp.text
    [(code, description)] = errors_of(resp, "json")
    assert code == 400 and description.startswith(f"{param}:"), description


def test_a_window_just_inside_the_calendar_is_listed(aws, api):
    resp = requests.get(f"{api.url}/requests.json?start_date=9999-10-01T00:00:00Z", timeout=10)
    assert (resp.status_code, resp.json()) == (200, [])


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_ids_services_and_resources_are_404(aws, api, fmt):
    for path in ("requests/20260506-ZZZZZZZZZZ", "requests/not..an..id", "services/77.77", "services/01.01", "tickets"):
        resp = requests.get(f"{api.url}/{path}.{fmt}", timeout=10)
        assert resp.status_code == 404, path
        [(code, description)] = errors_of(resp, fmt)
        assert code == 404 and description
    with pytest.raises(requests.HTTPError) as err:
        (api.geo if fmt == "json" else api.geo_xml).get_service_request("20260506-ZZZZZZZZZZ")
    assert err.value.response.status_code == 404


def test_a_request_of_another_channel_is_shown_once_its_category_is_known_and_public(aws, api):
    """Open311 lists the city's public requests whatever channel brought them in; a report not yet
    sorted into a category is not shown (it might be one the region keeps out of public view)."""
    from chalice.test import Client

    import app
    from chalicelib.bootstrap import bootstrap
    from chalicelib.services import dedup, dispatch
    from tests.conftest import channel_fixture
    from tests.integration.helpers import signed_post

    with Client(app.app) as client:
        other = json.loads(signed_post(client, aws.creds, "hotline", channel_fixture("hotline")).body)["appeal_id"]
    unsorted = (requests.get(f"{api.url}/requests/{other}.json", timeout=10).status_code,
                api.geo.get_service_requests(service_request_id=other), api.geo.get_service_requests())
    p = bootstrap()
    dedup.process(p, other)
    assert dispatch.process(p, other) == "dispatched"
    shown = api.geo.get_service_request(other)
    assert (unsorted, [r["service_request_id"] for r in api.geo.get_service_requests()], shown["status"],
            [n["type"] for n in shown["notes"]]) == (
        (404, [], []), [other], "open", ["accepted", "dispatched", "deadlines_set"])


def test_unknown_format_is_404_in_json(aws, api):
    post(api, **good_form(api))
    before = snapshot(aws)
    for method, path in (("get", "services.csv"), ("get", "requests.csv"), ("get", "requests"),
                         ("post", "requests.csv"), ("get", "requests/20260506-ZZZZZZZZZZ.html")):
        resp = getattr(requests, method)(f"{api.url}/{path}", data=good_form(api) if method == "post" else None,
                                         timeout=10)
        assert resp.status_code == 404, path
        assert errors_of(resp, "json") == [(404, "format: unknown; use .json or .xml")]
    assert snapshot(aws) == before


def test_xml_leaves_out_characters_xml_cannot_carry():
    from chalicelib.api.open311_render import render

    reply = render("xml", "requests", [{"description": "垃圾\x0b满溢\x00", "lat": None}])
    request = ET.fromstring(reply.body.encode()).find("request")
    assert request.findtext("description") == "垃圾满溢" and request.findtext("lat") == ""


def test_updated_datetime_is_the_newest_public_event_and_reading_never_touches_the_appeal(aws, api, monkeypatch):
    from chalicelib.domain.timefmt import iso
    from chalicelib.services import open311_read
    from chalicelib.storage import repository
    from chalicelib.storage.store import DynamoStore

    rid = post(api, **good_form(api)).json()[0]["service_request_id"]
    appeal = repository.load_appeal(rid)
    later = appeal.received_at + timedelta(minutes=7)
    appeal.record(later, "dispatched", "test", {"unit_id": "U1"})
    appeal.record(later + timedelta(minutes=1), "internal_note", "test", public=False)
    save(appeal, later)

    def no_appeal_reads(*args, **kwargs):
        raise AssertionError("an appeal or its case file was read")

    for name in ("load_appeal", "load_appeals", "load_case_file"):
        monkeypatch.setattr(DynamoStore, name, staticmethod(no_appeal_reads))
    view = api.geo.get_service_request(rid)
    listed = api.geo.get_service_requests()
    assert (view["updated_datetime"], listed[0]["updated_datetime"]) == (open311_read._w3(iso(later)),) * 2


def test_an_appeal_stored_before_views_existed_gets_its_whole_timeline_from_its_case_file(aws, api):
    from chalicelib.storage import keys, repository
    from chalicelib.storage.models import PublicViewItem

    rid = post(api, **good_form(api)).json()[0]["service_request_id"]
    PublicViewItem(keys.view_pk(rid), keys.VIEW_SK).delete()           # as appeals stored before views
    assert requests.get(f"{api.url}/requests/{rid}.json", timeout=10).status_code == 404
    appeal = repository.load_appeal(rid)
    later = appeal.received_at + timedelta(minutes=7)
    appeal.record(later, "dispatched", "test", {"unit_id": "U1"})
    save(appeal, later)
    assert [n["type"] for n in api.geo.get_service_request(rid)["notes"]] == ["accepted", "dispatched"]


def test_the_open311_sample_form_is_accepted_and_channels_lists_how_open311_authenticates(api):
    from tests.conftest import EVENTS

    sample = (EVENTS / "channels" / "open311.form").read_text(encoding="utf-8").strip()
    resp = requests.post(f"{api.url}/requests.json", data=sample + "&api_key=" + api.key, headers=FORM, timeout=10)
    assert resp.status_code == 201, resp.text
    assert resp.json()[0]["service_request_id"]
    listed = requests.get(api.url.replace("/open311/v2", "") + "/channels", timeout=10).json()["channels"]
    [open311] = [c for c in listed if c["code"] == "open311"]
    assert "api_key" in open311["auth"] and open311["content_type"] == "application/x-www-form-urlencoded"
    assert {c["code"] for c in listed} >= {"hotline", "mediation", "open311"}
from tests.integration.helpers import save


def test_an_empty_listing_is_valid_json_and_xml_and_cacheable(aws, api):
    as_json = requests.get(f"{api.url}/requests.json", timeout=10)
    as_xml = requests.get(f"{api.url}/requests.xml", timeout=10)
    again = requests.get(f"{api.url}/requests.json", headers={"If-None-Match": as_json.headers["ETag"]}, timeout=10)
    root = ET.fromstring(as_xml.content)
    assert (as_json.status_code, as_json.json(), as_xml.status_code, root.tag, list(root),
            as_json.headers["Cache-Control"].split(",")[0], again.status_code) == (
        200, [], 200, "service_requests", [], "public", 304)


def test_page_size_bounds_an_answer_newest_first_and_a_bad_one_is_400(aws, api):
    made = [post(api, **good_form(api, description=f"第{i}处路灯不亮，请尽快维修")).json()[0]["service_request_id"]
            for i in range(3)]

    def ids(**params):
        resp = requests.get(f"{api.url}/requests.json", params=params, timeout=10)
        return [r["service_request_id"] for r in resp.json()] if resp.status_code == 200 else resp.status_code

    bad = requests.get(f"{api.url}/requests.json", params={"page_size": "0"}, timeout=10)
    assert (ids(page_size="2"), ids(page_size="3"), ids(), bad.status_code, bad.json()[0]["description"]) == (
        made[::-1][:2], made[::-1], made[::-1], 400, "page_size: a whole number from 1 to 1000")
