"""The archive (归档): when a closed appeal is sealed, its dossier (卷宗), the seal and the shredding rule. Pure.

A closed appeal settles for the region's window (``ArchivePolicy.settle``, default 7 days after
closure or after the last report joined to it, later while a return visit is open); then its
dossier is built, stored sealed (Object Lock) and its SHA-256 recorded in the appeal's last case
event (``archived``), which also records the head of the case file's hash chain: every event's
hash is chained to the previous one, so a changed event or a changed dossier is found
(``verify``). The citizen's personal data, and the text as they wrote it, stay encrypted in the
dossier under a data key of that appeal alone: destroying the key after ``shred_after`` makes
them unreadable (crypto-shredding) while the dossier and every count stay.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from chalicelib.domain.canonical import canonical_json
from chalicelib.domain.lifecycle import CaseEvent, Status
from chalicelib.domain.privacy import mask_deep, mask_free_text
from chalicelib.domain.timefmt import iso

SCHEMA = "jiesu.dossier/1"
CHAIN_GENESIS = hashlib.sha256(b"jiesu.case-file/1").hexdigest()
ARCHIVED_KIND = "archived"
# Case-file kinds that carry a dispatch decision and its evidence (domain.appeal, domain.assignment).
DISPATCH_KINDS = ("dispatched", "queued_for_dispatcher", "returned", "escalated", "split_from_master",
                  "joined_master", "consultation_opened", "consultation_closed", "joint_handling")
# Appeal fields never put in a dossier: keyed hashes link a person (they go with the shredding),
# the tracking salt is a capability, the transient lists are not state.
LEFT_OUT = ("reporter_hashes", "tracking_salt", "new_events", "domain_events")
FREE_TEXT = ("title", "content")


@dataclass(frozen=True)
class ArchivePolicy:
    """A region's archive policy (policy.json ``archive``; every part has a default)."""

    settle: timedelta = timedelta(days=7)          # after closure (or the last report joined)
    visit_recheck: timedelta = timedelta(days=1)   # an open return visit puts the archiving off this long
    lock: timedelta = timedelta(days=10 * 365)     # Object Lock retention of a dossier (compliance mode)
    shred_after: timedelta = timedelta(days=3 * 365)   # personal data kept this long after archiving

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "ArchivePolicy":
        d = dict(d or {})
        days = {"settle_days": "settle", "visit_recheck_days": "visit_recheck", "lock_days": "lock",
                "shred_after_days": "shred_after"}
        unknown = sorted(set(d) - set(days))
        if unknown:
            raise ValueError(f"archive policy has no field {unknown[0]}")
        values = {}
        for key, name in days.items():
            if key in d:
                n = d[key]
                if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    raise ValueError(f"archive policy {key} must be a whole number of days >= 0")
                values[name] = timedelta(days=n)
        policy = cls(**values)
        if policy.lock < policy.shred_after:
            raise ValueError("archive policy lock_days must be at least shred_after_days")
        return policy


@dataclass(frozen=True)
class ArchiveDue:
    """A closed appeal's archiving date, in the partition of its UTC day (what the sweep reads)."""

    region: str
    appeal_id: str
    closed_seq: int          # the closure it was filed for (a later closure files its own)
    due_at: datetime

    @property
    def day(self) -> str:
        return self.due_at.date().isoformat()


@dataclass(frozen=True)
class ArchivePointer:
    """What stays of an archived appeal in the table: enough to find and read its dossier."""

    appeal_id: str
    region: str
    channel: str
    ticket_id: str
    received_at: datetime
    closed_at: datetime
    archived_at: datetime
    unit_id: str | None
    unit_ids: tuple[str, ...]
    district_code: str | None
    street_code: str | None
    anonymous: bool
    dossier_key: str
    dossier_version: str | None
    dossier_sha256: str
    chain_head: str          # the hash of the archived event (the case file's last)
    archive_seq: int
    shred_due: datetime
    hashes: tuple[str, ...] = ()            # keyed hashes of the party and the joined reporters
    hints: Mapping[str, str | None] = field(default_factory=dict)   # masked name/ID/phone (staff views)
    shredded_at: datetime | None = None


@dataclass(frozen=True)
class ArchiveKey:
    """The appeal's own data key of its dossier's personal data, wrapped by the platform key.
    Deleting it is the shredding: nothing else can open the dossier's envelope."""

    appeal_id: str
    wrapped_key: bytes


# --- when -----------------------------------------------------------------------------------

def closure(events: Iterable[CaseEvent]) -> CaseEvent | None:
    """The appeal's latest closure (a return visit can reopen and a new rating close again)."""
    last = None
    for e in events:
        if e.kind == "closed":
            last = e
    return last


def due_at(closed_at: datetime, last_report_at: datetime | None, policy: ArchivePolicy) -> datetime:
    """The settling window runs from the closure or from the last report joined to it, the later."""
    start = max(closed_at, last_report_at) if last_report_at else closed_at
    return start + policy.settle


def file_on_close(region: str, appeal_id: str, closed: CaseEvent, last_report_at: datetime | None,
                  policy: ArchivePolicy) -> ArchiveDue:
    return ArchiveDue(region, appeal_id, closed.seq, due_at(closed.at, last_report_at, policy))


@dataclass(frozen=True)
class Verdict:
    """What the sweep does with a due entry: ``archive`` now, ``cancelled`` (the entry goes),
    ``later`` (filed again at ``refile_at``)."""

    action: str
    reason: str
    refile_at: datetime | None = None


def decide(status: Status, events: list[CaseEvent], last_report_at: datetime | None, open_visits: int,
           entry: ArchiveDue, now: datetime, policy: ArchivePolicy) -> Verdict:
    """A redo or a reopening cancels (the next closure files anew); a new report joined within
    the window moves it on; an open return visit puts it off; else it is archived when due."""
    if status != Status.CLOSED:
        return Verdict("cancelled", f"appeal is {status.value}")
    closed = closure(events)
    if closed is None or closed.seq != entry.closed_seq:
        return Verdict("cancelled", "superseded by a later closure")
    if any(e.kind == ARCHIVED_KIND for e in events):
        return Verdict("cancelled", "already archived")
    due = due_at(closed.at, last_report_at, policy)
    if due > now:
        return Verdict("later", "a report joined within the settling window" if due > entry.due_at
                       else "not yet due", due)
    if open_visits:
        return Verdict("later", "a return visit is pending", now + policy.visit_recheck)
    return Verdict("archive", "due")


# --- the seal -------------------------------------------------------------------------------

def event_record(e: CaseEvent) -> dict[str, Any]:
    """A case event as hashed and stored: its exact content, the instant as stored (ms, UTC)."""
    return {"seq": e.seq, "at": iso(e.at), "kind": e.kind, "actor": e.actor, "data": e.data, "public": e.public}


def chain_hashes(records: Iterable[Mapping[str, Any]], start: str = CHAIN_GENESIS) -> list[str]:
    """h_i = SHA-256(h_(i-1) + canonical JSON of event i): a changed, dropped or reordered event
    changes every hash after it."""
    out, prev = [], start
    for r in records:
        prev = hashlib.sha256(f"{prev}\n{canonical_json(r)}".encode()).hexdigest()
        out.append(prev)
    return out


def chain_head(events: Iterable[CaseEvent]) -> str:
    hashes = chain_hashes(event_record(e) for e in events)
    return hashes[-1] if hashes else CHAIN_GENESIS


def dossier_bytes(doc: Mapping[str, Any]) -> bytes:
    """The stored form: canonical JSON, UTF-8 (what the SHA-256 is taken of)."""
    return canonical_json(doc).encode()


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def archive_event_data(dossier_key: str, dossier_sha256: str, previous_head: str, events: int) -> dict[str, Any]:
    """The archived event records the dossier's hash and the chain head of the events before it."""
    return {"dossier_key": dossier_key, "dossier_sha256": dossier_sha256, "previous_hash": previous_head,
            "events": events, "schema": SCHEMA}


# --- the dossier ----------------------------------------------------------------------------

def originals(appeal: Mapping[str, Any], events: list[CaseEvent]) -> dict[str, Any]:
    """What the dossier keeps only encrypted: the citizen's text as written and every case-event
    note whose masked form differs (typed-in phones or ID numbers)."""
    text = {k: appeal.get(k) for k in FREE_TEXT}
    text["address"] = (appeal.get("location") or {}).get("address")
    return {"text": text, "events": {str(e.seq): e.data for e in events if mask_deep(e.data) != e.data}}


def _deadlines(appeal: Mapping[str, Any], events: list[CaseEvent]) -> list[dict[str, Any]]:
    """Every deadline version of every step, in the order the case file set them, and whether it
    was met: the running version by its done time; an earlier one was replaced (a new dispatch,
    an approved extension, a raised urgency) and is shown as such."""
    rows: list[dict[str, Any]] = []
    latest: dict[str, dict[str, Any]] = {}

    def add(step: str, due: str, version: int | None, seq: int, how: str) -> None:
        version = version or (latest[step]["version"] + 1 if step in latest else 1)
        row = {"step": step, "version": version, "due_at": due, "set_by": how, "recorded_seq": seq}
        rows.append(row)
        latest[step] = row

    for e in events:
        d = e.data if isinstance(e.data, Mapping) else {}
        if e.kind == "deadlines_set":
            for step, due in sorted(d.items()):
                if isinstance(due, str):
                    add(step, due, None, e.seq, "dispatch")
        elif isinstance(d.get("deadline"), Mapping) and "due_at" in d["deadline"]:
            dl = d["deadline"]
            add(dl.get("step") or d.get("step"), dl["due_at"], int(dl.get("version") or 0) or None, e.seq, e.kind)
    current = appeal.get("deadlines") or {}
    for step, cur in current.items():
        if step not in latest or latest[step]["due_at"] != cur.get("due_at"):
            add(step, cur.get("due_at"), int(cur.get("version") or 0) or None, 0, "current")
    out = []
    for row in rows:
        cur = current.get(row["step"]) or {}
        if row is latest[row["step"]]:
            done = cur.get("done_at")
            met = None if not done or not row["due_at"] else \
                datetime.fromisoformat(done) <= datetime.fromisoformat(row["due_at"])
            out.append({**row, "state": "current", "done_at": done, "met": met})
        else:
            out.append({**row, "state": "replaced", "done_at": None, "met": None})
    return out


def build_dossier(appeal: Mapping[str, Any], events: list[CaseEvent], *, sealed_at: datetime,
                  joined: list[Mapping[str, Any]], visits: list[Mapping[str, Any]], public_answer: str | None,
                  envelope: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dossier (卷宗) of one appeal: ``appeal`` is its ``Appeal.to_dict()``, ``events`` its whole
    case file, ``joined`` the reports joined to it, ``visits`` its return visits, ``envelope`` the
    encrypted personal data and originals (or None). Everything in clear is masked."""
    a = {k: v for k, v in copy.deepcopy(dict(appeal)).items() if k not in LEFT_OUT}
    for k in FREE_TEXT:
        a[k] = mask_free_text(a.get(k) or "")
    if a.get("location"):
        a["location"] = {**a["location"], "address": mask_free_text(a["location"].get("address") or "")}
    a["distinct_reporters"] = max(1, len(appeal.get("reporter_hashes") or ()))
    a = mask_deep(a)
    records = [event_record(e) for e in events]
    hashes = chain_hashes(records)
    case_file = [{**r, "data": mask_deep(r["data"]), "hash": h} for r, h in zip(records, hashes)]
    return {
        "schema": SCHEMA,
        "appeal_id": appeal["appeal_id"],
        "region": appeal["region"],
        "sealed_at": iso(sealed_at),
        "appeal": a,
        "case_file": case_file,
        "chain": {"genesis": CHAIN_GENESIS, "head": hashes[-1] if hashes else CHAIN_GENESIS, "events": len(hashes)},
        "deadlines": _deadlines(appeal, events),
        "dispatch": {"info": a.get("dispatch_info"),
                     "decisions": [c for c in case_file if c["kind"] in DISPATCH_KINDS]},
        "joined_reports": [dict(j) for j in joined],
        "ratings": [c for c in case_file if c["kind"] == "rated"],
        "return_visits": [dict(v) for v in visits],
        "public_answer": public_answer,
        "personal_data": dict(envelope) if envelope else None,
    }


# --- verification ---------------------------------------------------------------------------

def verify(pointer: ArchivePointer, body: bytes | None, stored_events: list[CaseEvent] | None) -> list[str]:
    """Every mismatch between the record and what is stored; [] when the seal holds.

    ``body``: the dossier as read from the archive (None: missing). ``stored_events``: the case
    file still in the table (None once its hot items expired); its events before the archived
    one must hash to what the dossier shows, and the archived event must name this dossier."""
    problems = []
    if body is None:
        return [f"{pointer.appeal_id}: dossier {pointer.dossier_key} is missing"]
    if sha256_hex(body) != pointer.dossier_sha256:
        problems.append(f"{pointer.appeal_id}: dossier SHA-256 differs from the one recorded")
    doc = canonical_load(body)
    if doc is None:
        return problems + [f"{pointer.appeal_id}: dossier is not JSON"]
    records = [{k: c.get(k) for k in ("seq", "at", "kind", "actor", "data", "public")} for c in doc.get("case_file", [])]
    # The clear copy is masked, so the chain is checked on the hashes it lists, then on the table.
    listed = [c.get("hash") for c in doc.get("case_file", [])]
    head = listed[-1] if listed else CHAIN_GENESIS
    if doc.get("chain", {}).get("head") != head:
        problems.append(f"{pointer.appeal_id}: dossier chain head differs from its last event's hash")
    if stored_events is not None:
        archived = [e for e in stored_events if e.kind == ARCHIVED_KIND]
        before = [e for e in stored_events if e.seq < pointer.archive_seq]
        if not archived or archived[-1].data.get("dossier_sha256") != pointer.dossier_sha256:
            problems.append(f"{pointer.appeal_id}: the archived case event does not record this dossier")
        elif archived[-1].data.get("previous_hash") != chain_head(before):
            problems.append(f"{pointer.appeal_id}: the case file changed after it was sealed")
        table_hashes = chain_hashes(event_record(e) for e in before)
        if table_hashes != listed:
            first = next((i for i, (x, y) in enumerate(zip(table_hashes, listed)) if x != y),
                         min(len(table_hashes), len(listed)))
            seq = records[first]["seq"] if first < len(records) else first + 1
            problems.append(f"{pointer.appeal_id}: case event {seq} differs between the table and the dossier")
        sealed = [e for e in stored_events if e.seq <= pointer.archive_seq]
        if archived and chain_head(sealed) != pointer.chain_head:
            problems.append(f"{pointer.appeal_id}: the archived event's hash differs from the one recorded")
    return problems


def canonical_load(body: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(body.decode())
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


# --- letting go of personal data ---------------------------------------------------------------

def shred_due(archived_at: datetime, policy: ArchivePolicy) -> datetime:
    return archived_at + policy.shred_after
