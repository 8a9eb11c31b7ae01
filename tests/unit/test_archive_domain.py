"""The archive's rules (domain.archive): the settling window and what cancels it, the dossier, the seal."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain import archive as ar
from chalicelib.domain.lifecycle import CaseEvent, Status

T0 = datetime(2026, 5, 6, 2, 30, tzinfo=timezone.utc)
POLICY = ar.ArchivePolicy()


def case_file(closed_at: datetime = T0) -> list[CaseEvent]:
    return [CaseEvent(1, closed_at - timedelta(days=3), "accepted", "channel:hotline", {"ticket_id": "T1"}),
            CaseEvent(2, closed_at - timedelta(days=2), "contacted", "unit_handler:u1",
                      {"note": "已联系 13812345678"}, False),
            CaseEvent(3, closed_at - timedelta(days=1), "rated", "channel:hotline", {"speed": 5}),
            CaseEvent(4, closed_at, "closed", "channel:hotline", {"reason": "satisfied"})]


def entry(events=None) -> ar.ArchiveDue:
    events = events or case_file()
    return ar.file_on_close("shenzhen", "A1", ar.closure(events), None, POLICY)


def test_a_closure_is_due_after_the_default_seven_days_and_the_region_can_change_it():
    e = entry()
    assert (e.closed_seq, e.due_at, e.day) == (4, T0 + timedelta(days=7), "2026-05-13")
    assert ar.ArchivePolicy.from_dict({"settle_days": 14}).settle == timedelta(days=14)
    with pytest.raises(ValueError, match="settle_days"):
        ar.ArchivePolicy.from_dict({"settle_days": -1})
    with pytest.raises(ValueError, match="no field"):
        ar.ArchivePolicy.from_dict({"settle": 3})
    with pytest.raises(ValueError, match="lock_days"):
        ar.ArchivePolicy.from_dict({"lock_days": 30, "shred_after_days": 60})


def test_the_window_is_kept_then_the_appeal_is_archived():
    events, e = case_file(), entry()
    assert ar.decide(Status.CLOSED, events, None, 0, e, T0 + timedelta(days=6), POLICY).action == "later"
    assert ar.decide(Status.CLOSED, events, None, 0, e, T0 + timedelta(days=7), POLICY) == ar.Verdict("archive", "due")


def test_a_redo_within_the_window_cancels_and_a_later_closure_files_its_own():
    events, e = case_file(), entry()
    v = ar.decide(Status.REDO, events, None, 0, e, T0 + timedelta(days=8), POLICY)
    assert (v.action, v.reason) == ("cancelled", "appeal is redo")
    reclosed = events + [CaseEvent(5, T0 + timedelta(days=2), "sent_back_for_redo", "x", {}),
                         CaseEvent(6, T0 + timedelta(days=4), "closed", "x", {})]
    assert ar.decide(Status.CLOSED, reclosed, None, 0, e, T0 + timedelta(days=8), POLICY).action == "cancelled"
    again = ar.file_on_close("shenzhen", "A1", ar.closure(reclosed), None, POLICY)
    assert again.closed_seq == 6
    assert ar.decide(Status.CLOSED, reclosed, None, 0, again, T0 + timedelta(days=11), POLICY).action == "archive"


def test_a_report_joined_within_the_window_moves_it_and_a_pending_visit_puts_it_off():
    events, e = case_file(), entry()
    joined_at = T0 + timedelta(days=5)
    v = ar.decide(Status.CLOSED, events, joined_at, 0, e, T0 + timedelta(days=7, hours=1), POLICY)
    assert (v.action, v.refile_at) == ("later", joined_at + timedelta(days=7))
    v = ar.decide(Status.CLOSED, events, None, 1, e, T0 + timedelta(days=7, hours=1), POLICY)
    assert (v.action, v.reason, v.refile_at) == ("later", "a return visit is pending",
                                                 T0 + timedelta(days=8, hours=1))
    archived = events + [CaseEvent(5, T0 + timedelta(days=7), ar.ARCHIVED_KIND, "system:archive", {})]
    assert ar.decide(Status.CLOSED, archived, None, 0, e, T0 + timedelta(days=9), POLICY).action == "cancelled"


APPEAL = {"appeal_id": "A1", "region": "shenzhen", "ticket_id": "T1", "title": "井盖丢失 13812345678",
          "content": "我是张三，身份证440301199001011234，电话13812345678", "location": {"address": "西乡大道1号"},
          "reporter_hashes": ["h1", "h2"], "tracking_salt": "s", "status": "closed",
          "deadlines": {"reply": {"step": "reply", "version": 2, "start": "2026-05-01T00:00:00+00:00",
                                  "due_at": "2026-05-05T00:00:00+00:00", "done_at": "2026-05-04T00:00:00+00:00"}},
          "dispatch_info": {"confidence": 0.91}}


def dossier(events=None) -> dict:
    events = events or case_file()
    return ar.build_dossier(APPEAL, events, sealed_at=T0 + timedelta(days=7), joined=[], visits=[],
                            public_answer="已补装井盖", envelope={"alg": "AES-256-GCM", "ciphertext": "x"})


def test_the_dossier_keeps_no_personal_data_in_clear():
    doc = dossier()
    text = json.dumps(doc, ensure_ascii=False)
    for secret in ("13812345678", "440301199001011234", "h1", "tracking_salt"):
        assert secret not in text
    assert doc["schema"] == ar.SCHEMA and doc["appeal"]["distinct_reporters"] == 2
    assert doc["personal_data"] == {"alg": "AES-256-GCM", "ciphertext": "x"}
    kept = ar.originals(APPEAL, case_file())
    assert kept["events"] == {"2": {"note": "已联系 13812345678"}} and "13812345678" in kept["text"]["content"]
    assert [(d["step"], d["version"], d["state"], d["met"]) for d in doc["deadlines"]] == [("reply", 2, "current", True)]
    assert [r["seq"] for r in doc["ratings"]] == [3]


def test_every_deadline_version_is_kept_and_the_running_one_says_whether_it_was_met():
    events = case_file()[:1] + [
        CaseEvent(2, T0 - timedelta(days=3), "deadlines_set", "system:dispatch",
                  {"sign": "2026-05-01T01:00:00+00:00", "reply": "2026-05-03T00:00:00+00:00"}),
        CaseEvent(3, T0 - timedelta(days=2), "extension_approved", "dispatcher:d1",
                  {"step": "reply", "deadline": {"step": "reply", "version": 2, "due_at": "2026-05-05T00:00:00+00:00"}}),
    ]
    appeal = {**APPEAL, "deadlines": {
        "reply": {"step": "reply", "version": 2, "due_at": "2026-05-05T00:00:00+00:00",
                  "done_at": "2026-05-04T00:00:00+00:00"},
        "sign": {"step": "sign", "version": 1, "due_at": "2026-05-01T01:00:00+00:00",
                 "done_at": "2026-05-01T02:00:00+00:00"}}}
    doc = ar.build_dossier(appeal, events, sealed_at=T0, joined=[], visits=[], public_answer=None, envelope=None)
    assert [(d["step"], d["version"], d["set_by"], d["state"], d["met"]) for d in doc["deadlines"]] == [
        ("reply", 1, "dispatch", "replaced", None), ("sign", 1, "dispatch", "current", False),
        ("reply", 2, "extension_approved", "current", True)]


def sealed(events=None):
    events = events or case_file()
    doc = dossier(events)
    body = ar.dossier_bytes(doc)
    archived = CaseEvent(5, T0 + timedelta(days=7), ar.ARCHIVED_KIND, "system:archive",
                         ar.archive_event_data("k", ar.sha256_hex(body), doc["chain"]["head"], len(events)), False)
    ptr = ar.ArchivePointer("A1", "shenzhen", "hotline", "T1", T0, T0, archived.at, "u1", ("u1",), None, None, False,
                            "k", "v1", ar.sha256_hex(body), ar.chain_head(events + [archived]), 5,
                            ar.shred_due(archived.at, POLICY))
    return ptr, body, events + [archived]


def test_the_seal_holds_and_a_changed_event_or_dossier_is_found():
    ptr, body, stored = sealed()
    assert ar.verify(ptr, body, stored) == [] and ar.verify(ptr, body, None) == []
    changed = list(stored)
    changed[2] = dataclasses.replace(changed[2], data={"speed": 1})
    problems = ar.verify(ptr, body, changed)
    assert "A1: case event 3 differs between the table and the dossier" in problems
    assert "A1: the case file changed after it was sealed" in problems
    tampered = body.replace("已补装井盖".encode(), "已经处理".encode())
    assert ar.verify(ptr, tampered, stored) == ["A1: dossier SHA-256 differs from the one recorded"]
    assert ar.verify(ptr, None, stored) == ["A1: dossier k is missing"]


def test_the_chain_changes_after_any_changed_or_dropped_event():
    records = [ar.event_record(e) for e in case_file()]
    hashes = ar.chain_hashes(records)
    assert len(set(hashes)) == 4 and hashes[0] != ar.CHAIN_GENESIS
    assert ar.chain_hashes(records[:1] + records[2:])[1:] != hashes[2:]
    assert ar.chain_hashes([{**records[0], "actor": "someone"}] + records[1:])[-1] != hashes[-1]


def test_a_region_pack_sets_its_archive_policy_and_a_bad_one_is_named():
    from chalicelib.policy.pack.parse import read_files, read_pack
    from chalicelib.policy.pack.validate import validate
    from tests.conftest import REGION_DIR

    files = {k: v.decode("utf-8") for k, v in read_files(REGION_DIR).items()}
    policy = json.loads(files["policy.json"])

    def errors(archive_policy) -> list[str]:
        text = json.dumps({**policy, "archive": archive_policy}, ensure_ascii=False, indent=1)
        return [str(e) for e in validate(read_pack({**files, "policy.json": text}, code="shenzhen"))]

    assert errors({"settle_days": 10, "shred_after_days": 1825, "lock_days": 3650}) == []
    [bad] = errors({"settle_days": "7"})
    assert "archive: archive policy settle_days must be a whole number of days >= 0" in bad
