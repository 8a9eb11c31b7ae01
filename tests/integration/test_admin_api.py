"""The admin API loads region packs with validation, dry run, versions and rollback."""
from __future__ import annotations

import json

import pytest
from chalice.test import Client

from chalicelib.policy.pack.parse import read_files
from tests.conftest import REGION_DIR
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401


@pytest.fixture
def client(staff_env):
    import app

    with Client(app.app) as c:
        yield c


def files() -> dict[str, str]:
    return {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in read_files(REGION_DIR).items()}


def post(client, idp, person, path, body):
    return client.http.post(path, headers=idp.headers(person), body=json.dumps(body, ensure_ascii=False))


def test_admin_loads_dry_runs_and_rolls_back(aws, client, staff_env):
    dry = post(client, staff_env, "admin", "/admin/regions/shenzhen/packs", {"files": files(), "dry_run": True})
    assert dry.status_code == 200, dry.body[:500]
    body = json.loads(dry.body)
    assert body["dry_run"] and body["next_version"] == 1 and body["diff"]
    v = client.http.get("/admin/regions/shenzhen/versions", headers=staff_env.headers("admin"))
    assert json.loads(v.body)["versions"] == []  # a dry run writes nothing
    first = post(client, staff_env, "admin", "/admin/regions/shenzhen/packs", {"files": files()})
    assert first.status_code == 201, first.body[:500]
    changed = files()
    changed["policy.json"] = json.dumps({**json.loads(changed["policy.json"]), "note": "v2"})
    second = post(client, staff_env, "admin", "/admin/regions/shenzhen/packs", {"files": changed})
    assert second.status_code == 201
    versions = json.loads(client.http.get("/admin/regions/shenzhen/versions",
                                          headers=staff_env.headers("auditor")).body)["versions"]
    assert len(versions) == 2
    back = post(client, staff_env, "admin", "/admin/regions/shenzhen/rollback", {"version": 1})
    assert back.status_code == 200, back.body


def test_a_bad_pack_names_every_bad_row_and_changes_nothing(aws, client, staff_env):
    broken = files()
    lines = broken["units.csv"].splitlines()
    lines[3] = lines[3].replace("440300", "999999")
    broken["units.csv"] = "\n".join(lines) + "\n"
    before = aws.table_items()
    resp = post(client, staff_env, "admin", "/admin/regions/shenzhen/packs", {"files": broken})
    assert resp.status_code == 400, resp.body[:300]
    err = json.loads(resp.body)["error"]
    assert err["code"] == "invalid_region_pack" and any(d["file"] == "units.csv" and d["line"] == 4
                                                        for d in err["details"])
    assert aws.table_items() == before


def test_only_admins_load(aws, client, staff_env):
    resp = post(client, staff_env, "dispatcher", "/admin/regions/shenzhen/packs", {"files": files()})
    assert resp.status_code == 403
    resp = post(client, staff_env, "admin", "/admin/regions/shenzhen/packs", {"files": "nope"})
    assert resp.status_code == 400 and json.loads(resp.body)["error"]["field"] == "files"


# ------------------------------------------------------------------ issue 14: 13, 15

BAD_REGIONS = ["..%2F..%2Fetc", "..", "Shenzhen", "shen zhen", "x", "s" * 40, "%3Cscript%3E"]


@pytest.mark.parametrize("region", BAD_REGIONS)
def test_a_malformed_region_in_the_path_is_400_naming_region_without_echoing_it(aws, client, staff_env, region):
    before = aws.table_items()
    answers = [client.http.get(f"/admin/regions/{region}/versions", headers=staff_env.headers("admin")),
               post(client, staff_env, "admin", f"/admin/regions/{region}/rollback", {"version": 1}),
               post(client, staff_env, "admin", f"/admin/regions/{region}/packs", {"files": files(), "dry_run": True})]
    for resp in answers:
        assert resp.status_code == 400, resp.body[:300]
        err = json.loads(resp.body)["error"]
        assert (err["field"], err["code"]) == ("region", "bad_region")
        assert region not in resp.body.decode()
    assert aws.table_items() == before


def test_rolling_back_a_region_never_loaded_does_not_echo_it(aws, client, staff_env):
    resp = post(client, staff_env, "admin", "/admin/regions/nowhere-land/rollback", {"version": 7})
    assert resp.status_code == 404 and json.loads(resp.body)["error"]["field"] == "region"
    assert "nowhere-land" not in resp.body.decode()


@pytest.mark.parametrize("raw, field", [
    (b'{"version": 1, "version": 2}', "version"),
    (b'{"version": ' + b"[" * 2000 + b"]" * 2000 + b"}", "body"),
    (b'{"version": ' + b"1" * 5000 + b"}", "body"),
    (b'{"version": true}', "version"),
    (b'{"version": "1"}', "version"),
])
def test_admin_bodies_decode_with_the_one_decoder(aws, client, staff_env, raw, field):
    resp = client.http.post("/admin/regions/shenzhen/rollback", headers=staff_env.headers("admin"), body=raw)
    assert resp.status_code == 400, resp.body[:300]
    assert json.loads(resp.body)["error"]["field"] == field
