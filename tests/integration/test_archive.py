"""The archive (归档, issue 23) on the in-process stand-in: a closed appeal settles, is sealed into the
Object Lock bucket, read through its routes by who may, verified (tampering is found) and, after
retention, shredded while every count stays."""
from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from chalicelib.bootstrap import bootstrap
from chalicelib.domain.appeal import Status
from chalicelib.services import archive, analytics
from chalicelib.services.clock import FixedClock
from chalicelib.storage import repository
from chalicelib.storage.archive_store import ArchiveStore, archive_parts
from chalicelib.storage.models import AuditItem, CaseEventItem
from chalicelib.storage.store import DynamoStore
from infra import admin
from tests.integration.helpers import save
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401
from tests.integration.test_analytics_api import run_analytics
from tests.integration.test_dispatch_stage import client, load  # noqa: F401
from tests.integration.test_evaluation import GOOD, handled, rate

REGION = "shenzhen"


def closed(aws, client, staff_env) -> str:
    appeal_id = handled(aws, client, staff_env)
    assert rate(client, aws, "hotline", load(appeal_id).ticket_id, GOOD).status_code == 200
    assert load(appeal_id).status == Status.CLOSED
    return appeal_id


def closed_at(appeal_id: str):
    return [e for e in repository.load_case_file(appeal_id) if e.kind == "closed"][-1].at


def at(t):
    return bootstrap(clock=FixedClock(t))


def counters(p) -> list:
    return sorted((r.grain, r.period, r.dimension, r.ident, sorted(r.counts.items()))
                  for r in p.store.every_counter(REGION))


def fire_archive(t) -> dict:
    """One firing of the schedule: the Scheduled Event fixture into functions/archive/handler at `t`."""
    from functions.archive import handler
    from infra.runner import LambdaContext
    from infra.spec import SPEC
    from tests.conftest import EVENTS

    event = json.loads((EVENTS / "schedule" / "archive.json").read_text(encoding="utf-8"))
    event["time"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    real = handler.PLATFORM
    handler.PLATFORM = real.with_clock(FixedClock(t))
    try:
        fn = next(f for f in SPEC.functions if f.name == "archive")
        return handler.lambda_handler(event, LambdaContext(fn, "us-east-1", "aws"))
    finally:
        handler.PLATFORM = real


def audits(appeal_id: str, action: str) -> int:
    return sum(1 for a in AuditItem.scan() if a.appeal_id == appeal_id and a.action == action)


def test_a_closed_appeal_settles_then_is_sealed_verified_and_read_by_who_may(aws, client, staff_env):
    appeal_id = closed(aws, client, staff_env)
    t = closed_at(appeal_id)
    a = archive_parts()
    [due] = [e for e in ArchiveStore().due_entries(REGION, (t + timedelta(days=7)).date().isoformat())
             if e.appeal_id == appeal_id]
    assert due.due_at == t + timedelta(days=7)
    run_analytics(aws)
    before = counters(at(t))
    # Inside the window nothing happens; after it, the appeal is sealed.
    assert archive.sweep(at(t + timedelta(days=6)), a)["archived"] == 0
    assert ArchiveStore().get_pointer(appeal_id) is None
    # On the due day but before the hour, the entry is filed again (in the same day) and waits.
    morning = due.due_at.replace(hour=0, minute=0, second=0, microsecond=0)
    if morning < due.due_at:
        assert archive.sweep(at(morning), a)["later"] == 1
        assert [e.appeal_id for e in ArchiveStore().due_entries(REGION, due.day)].count(appeal_id) == 1
    result = archive.sweep(at(t + timedelta(days=7, hours=1)), a)
    assert (result["archived"], result["cancelled"], result["later"]) == (1, 0, 0)
    ptr = ArchiveStore().get_pointer(appeal_id)
    events = repository.load_case_file(appeal_id)
    assert events[-1].kind == "archived" and events[-1].data["dossier_sha256"] == ptr.dossier_sha256
    assert ptr.archive_seq == events[-1].seq and ptr.unit_id == "U440306002-JD"
    lock = a.bucket.retention(ptr.dossier_key, ptr.dossier_version)
    assert lock["mode"] == "COMPLIANCE" and lock["retain_until"] > t + timedelta(days=9 * 365)
    body = a.bucket.get(ptr.dossier_key, ptr.dossier_version)
    doc = json.loads(body)
    assert doc["schema"] == "jiesu.dossier/1" and len(doc["case_file"]) == len(events) - 1
    assert doc["public_answer"] and doc["ratings"] and doc["deadlines"] and doc["dispatch"]["decisions"]
    assert doc["personal_data"]["alg"] == "AES-256-GCM"
    # A second run archives nothing again; the analytics stage counts the archived event as nothing.
    assert archive.sweep(at(t + timedelta(days=7, hours=2)), a)["archived"] == 0
    run_analytics(aws)
    assert counters(at(t)) == before
    # The seal holds, for the appeal and for its day.
    assert archive.verify_one(at(t), a, appeal_id) == {"appeal_id": appeal_id, "ok": True, "problems": [],
                                                       "case_file": "table"}
    day = archive.verify_day(at(t), a, REGION, ptr.archived_at.date().isoformat())
    assert (day["checked"], day["mismatch_count"]) == (1, 0)

    # Reads: the unit that handled it, the centre and the auditor; another unit is told nothing.
    path = f"/staff/appeals/{appeal_id}/dossier"
    own = client.http.get(path, headers=staff_env.headers("xixiang_handler"))
    assert own.status_code == 200 and json.loads(own.body)["appeal_id"] == appeal_id
    assert client.http.get(path, headers=staff_env.headers("auditor")).status_code == 200
    other = client.http.get(path, headers=staff_env.headers("yuanling_handler"))
    assert other.status_code == 404 and json.loads(other.body)["error"]["code"] == "not_found"
    assert client.http.get(f"/staff/appeals/ZZ-none/dossier", headers=staff_env.headers("auditor")).status_code == 404
    assert audits(appeal_id, "dossier.read") == 2
    page = client.http.get(path + "/page", headers=staff_env.headers("dispatcher"))
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert "诉求办理卷宗" in html and "dossier.css" in html and "<script" not in html
    assert ptr.hints["phone"] in html and "个人信息已遮盖" in html
    refused = client.http.post(path + "/unmask", headers=staff_env.headers("dispatcher"), body=json.dumps({"reason": ""}))
    assert refused.status_code == 400 and json.loads(refused.body)["error"]["field"] == "reason"
    assert client.http.post(path + "/unmask", headers=staff_env.headers("auditor"),
                            body=json.dumps({"reason": "审计抽查卷宗"})).status_code == 403
    clear = client.http.post(path + "/unmask", headers=staff_env.headers("dispatcher"),
                             body=json.dumps({"reason": "复核来电人身份"}))
    assert clear.status_code == 200 and "已按 复核来电人身份 的事由解除遮盖" in clear.body.decode()
    assert audits(appeal_id, "dossier.unmask") == 1


def test_a_tampered_case_event_or_dossier_is_found(aws, client, staff_env, capsys):
    appeal_id = closed(aws, client, staff_env)
    t = closed_at(appeal_id)
    a = archive_parts()
    fired = fire_archive(t + timedelta(days=8))
    assert (fired["archive"]["archived"], fired["shred"]["shredded"]) == (1, 0)
    ptr = ArchiveStore().get_pointer(appeal_id)
    day_arg = ptr.archived_at.date().isoformat()
    assert admin.main(["--json", "archive-verify", "--day", day_arg]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["checked"] == 1
    assert admin.main(["archive-verify", "--appeal", "ZZ-none"]) == admin.EXIT_NOT_FOUND
    capsys.readouterr()
    item = CaseEventItem.get(f"APPEAL#{appeal_id}", "EV#000002")
    item.update(actions=[CaseEventItem.actor.set("someone:else")])
    result = archive.verify_one(at(t), a, appeal_id)
    assert not result["ok"] and f"{appeal_id}: case event 2 differs between the table and the dossier" in result["problems"]
    assert admin.main(["archive-verify", "--appeal", appeal_id]) == admin.EXIT_MISMATCH
    assert f"{appeal_id}: case event 2 differs" in capsys.readouterr().out
    # A dossier put in its place (a new version of the key: the locked one cannot be changed) and
    # the pointer moved to it: its hash is not the one recorded.
    forged = a.bucket.get(ptr.dossier_key, ptr.dossier_version).replace(b'"closed"', b'"replied"')
    version = a.bucket.put(ptr.dossier_key, forged, "application/json", t + timedelta(days=30))
    uow = DynamoStore().unit_of_work(t)
    uow.add(dataclasses.replace(ptr, dossier_version=version))
    uow.commit()
    day = archive.verify_day(at(t), a, REGION, ptr.archived_at.date().isoformat())
    assert day["mismatch_count"] == 1
    assert f"{appeal_id}: dossier SHA-256 differs from the one recorded" in day["mismatches"][0]["problems"]
    # The original version is still there, unchanged, and cannot be deleted.
    assert a.bucket.get(ptr.dossier_key, ptr.dossier_version) != forged


def test_a_redo_within_the_window_cancels_the_archiving(aws, client, staff_env):
    appeal_id = closed(aws, client, staff_env)
    t = closed_at(appeal_id)
    appeal = load(appeal_id)
    appeal.move_to(Status.REDO, t + timedelta(days=2), "visitor:v1", "reopened_after_visit", {"reason": "未解决"})
    save(appeal, t + timedelta(days=2))
    result = archive.sweep(at(t + timedelta(days=8)), archive_parts())
    assert (result["archived"], result["cancelled"]) == (0, 1)
    assert ArchiveStore().get_pointer(appeal_id) is None
    assert ArchiveStore().due_entries(REGION, (t + timedelta(days=7)).date().isoformat()) == []


def test_after_retention_the_personal_data_is_shredded_and_every_count_stays(aws, client, staff_env):
    appeal_id = closed(aws, client, staff_env)
    t = closed_at(appeal_id)
    a = archive_parts()
    assert archive.sweep(at(t + timedelta(days=8)), a)["archived"] == 1
    run_analytics(aws)
    ptr = ArchiveStore().get_pointer(appeal_id)
    assert ptr.hashes and ptr.hints
    doc = json.loads(a.bucket.get(ptr.dossier_key, ptr.dossier_version))
    opened = a.sealer.open(a.store.get_key(appeal_id), doc["personal_data"], appeal_id)
    assert opened["party"]["phone"] and opened["text"]["content"]
    before = counters(at(t))
    later = t + timedelta(days=8) + timedelta(days=3 * 365, hours=1)
    assert archive.shred(at(later - timedelta(days=2)), a, dry_run=True)["due"] == []
    dry = archive.shred(at(later), a, dry_run=True)
    assert [d["appeal_id"] for d in dry["due"]] == [appeal_id] and dry["shredded"] == 0
    assert a.store.get_key(appeal_id) is not None
    done = archive.shred(at(later), a, dry_run=False)
    assert done["shredded"] == 1 and audits(appeal_id, "party.shred") == 1
    assert a.store.get_key(appeal_id) is None
    try:
        a.sealer.open(a.store.get_key(appeal_id), doc["personal_data"], appeal_id)
        raise AssertionError("the envelope opened after shredding")
    except LookupError:
        pass
    shredded = ArchiveStore().get_pointer(appeal_id)
    assert (shredded.hashes, dict(shredded.hints), shredded.shredded_at) == ((), {}, later)
    assert bootstrap().store.get_party(appeal_id) is None
    # The dossier stays (and its seal holds); the page says the data is gone; counts are unchanged.
    assert archive.verify_one(at(later), a, appeal_id)["ok"]
    html = client.http.get(f"/staff/appeals/{appeal_id}/dossier/page", headers=staff_env.headers("dispatcher"))
    assert "当事人个人信息已销毁" in html.body.decode()
    gone = client.http.post(f"/staff/appeals/{appeal_id}/dossier/unmask", headers=staff_env.headers("dispatcher"),
                            body=json.dumps({"reason": "复核来电人身份"}))
    assert gone.status_code == 404 and json.loads(gone.body)["error"]["field"] == "party"
    run_analytics(aws)
    assert counters(at(t)) == before
    assert analytics.rebuild(at(later), REGION)["mismatch_count"] == 0
    assert archive.shred(at(later), a, dry_run=True)["due"] == []   # left the shred index
