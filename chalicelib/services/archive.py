"""The archive (归档): seal a closed appeal's dossier, read it, verify the seal, shred personal data.

``sweep`` (functions/archive, hourly) reads the due entries of each UTC day from its mark to today
(services/archive_due.py filed them at closure) and, per entry, archives, cancels or files it
again (domain.archive.decide). Archiving one appeal: build the dossier (the appeal, its whole
case file with each event's chained hash, deadline versions, dispatch decisions, joined reports,
ratings, return visits, the public answer; personal data and the citizen's own text encrypted
under a fresh data key of this appeal), put it to the Object Lock bucket, then in ONE
transaction append the ``archived`` case event (the dossier's SHA-256 and the chain head), the
pointer and the wrapped key, and drop the due entry. ``shred`` destroys the keys after the
region's retention period. The adapters (``a``: storage.archive_store.Archive) come from the
entry point, like the platform.
"""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.domain import archive as ar
from chalicelib.domain.access import AppealScope, Principal, may, require, require_unmask, require_visible
from chalicelib.domain.appeal import Appeal
from chalicelib.domain.canonical import canonical_json
from chalicelib.domain.errors import NotFoundError, ValidationError, appeal_not_found
from chalicelib.domain.records import AuditEntry, SealedParty
from chalicelib.domain.return_visit import OPEN
from chalicelib.domain.timefmt import iso
from chalicelib.observability import logger, metrics
from chalicelib.services import public_views, work
from chalicelib.services.archive_due import policy
from chalicelib.storage.archive_store import retain_until

DAYS_PER_RUN = 31                  # a longer gap is caught up over successive runs, oldest first
FIRST_RUN_LOOKBACK = timedelta(days=7)
ENTRIES_PER_RUN = 200
SHRED_MONTHS_BACK = 24             # months of shred-due partitions read (entries leave when shredded)
SYSTEM_ACTOR = "system:archive"


# --- the sweep ------------------------------------------------------------------------------

def sweep(p, a) -> dict:
    """Archive what is due; returns counts. Cost follows the closures: one mark read, one query
    per day, then per due entry one read of the appeal's partition."""
    now = p.now()
    region = p.settings.region_code
    pol = policy(p, region)
    today = now.date()
    mark = a.store.mark(region)
    first = date.fromisoformat(mark) + timedelta(days=1) if mark else today - FIRST_RUN_LOOKBACK
    days = [first + timedelta(days=n) for n in range((today - first).days + 1)][:DAYS_PER_RUN]
    counts = {"archived": 0, "cancelled": 0, "later": 0, "missing": 0, "failed": 0}
    read: list[str] = []
    done = 0
    for day in days:
        entries = a.store.due_entries(region, day.isoformat())
        for entry in entries:
            try:
                counts[settle(p, a, entry, pol)] += 1
            except Exception:  # noqa: BLE001 - one appeal's failure must not stop the others
                logger.exception("archiving failed", extra={"appeal_id": entry.appeal_id})
                counts["failed"] += 1
        done += len(entries)
        if counts["failed"]:
            break            # the mark stays before this day: its failed entries are tried again
        read.append(day.isoformat())
        if done >= ENTRIES_PER_RUN:
            break
    complete = [d for d in read if d < today.isoformat()]   # today may still fill up
    if complete:
        a.store.move_mark(region, complete[-1], now)
    if counts["archived"]:
        metrics.add_metric(name="AppealsArchived", unit="Count", value=counts["archived"])
    return {"region": region, "days": len(read), "mark": complete[-1] if complete else mark, **counts}


def settle(p, a, entry: ar.ArchiveDue, pol: ar.ArchivePolicy) -> str:
    """One due entry: archived, cancelled (its entry goes), later (filed again) or missing."""
    now = p.now()
    try:
        appeal = p.store.load_appeal(entry.appeal_id)
    except NotFoundError:
        _drop(p, entry, now)
        return "missing"
    events = p.store.load_case_file(entry.appeal_id)
    tasks = p.store.visit_tasks(entry.appeal_id)
    verdict = ar.decide(appeal.status, events, appeal.last_report_at, sum(t.state == OPEN for t in tasks),
                        entry, now, pol)
    if verdict.action == "archive":
        archive_one(p, a, appeal, events, tasks, entry, pol)
        return "archived"
    if verdict.action == "later":
        _drop(p, entry, now, dataclasses.replace(entry, due_at=verdict.refile_at))
        return "later"
    logger.info("archiving cancelled", extra={"appeal_id": entry.appeal_id, "reason": verdict.reason})
    _drop(p, entry, now)
    return "cancelled"


def _drop(p, entry: ar.ArchiveDue, now: datetime, refile: ar.ArchiveDue | None = None) -> None:
    uow = p.store.unit_of_work(now)
    if refile is None or refile.day != entry.day:
        uow.delete(entry)      # (a refile in the same day is a put over the same key: one action)
    if refile is not None:
        uow.add(refile)
    uow.commit()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return getattr(value, "value", value) if not isinstance(value, (str, int, float, bool, type(None))) else value


def archive_one(p, a, appeal: Appeal, events: list, tasks: list, entry: ar.ArchiveDue | None,
                pol: ar.ArchivePolicy) -> ar.ArchivePointer:
    """Seal one closed appeal (see the module docstring); returns its pointer."""
    now = p.now()
    appeal_id = appeal.appeal_id
    fields = _jsonable(appeal.to_dict())
    party = p.store.get_party(appeal_id) if appeal.has_party else None
    clear = dataclasses.asdict(p.sealer.unseal(party)) if party is not None else None
    key, envelope = a.sealer.seal({"party": clear, **ar.originals(fields, events)}, appeal_id)
    joined = [{"appeal_id": d.appeal_id, "channel": d.channel, "ticket_id": d.ticket_id,
               "received_at": iso(d.received_at), "status": d.status.value}
              for d in p.store.load_appeals(list(appeal.duplicates))]
    visits = [_jsonable({k: v for k, v in dataclasses.asdict(t).items() if k != "region"}) for t in tasks]
    doc = ar.build_dossier(fields, events, sealed_at=now, joined=joined, visits=visits,
                           public_answer=public_views.public_answer(p, appeal), envelope=envelope)
    body = ar.dossier_bytes(doc)
    digest = ar.sha256_hex(body)
    dossier_key = f"dossiers/{appeal.region}/{now:%Y/%m/%d}/{appeal_id}.json"
    version = a.bucket.put(dossier_key, body, "application/json", retain_until(now, pol.lock))
    closed = ar.closure(events)
    event = appeal.record(now, ar.ARCHIVED_KIND, SYSTEM_ACTOR,
                          ar.archive_event_data(dossier_key, digest, doc["chain"]["head"], len(events)), public=False)
    hints = {"name": party.name_hint, "id_number": party.id_hint, "phone": party.phone_hint} if party else {}
    pointer = ar.ArchivePointer(
        appeal_id=appeal_id, region=appeal.region, channel=appeal.channel, ticket_id=appeal.ticket_id,
        received_at=appeal.received_at, closed_at=closed.at if closed else now, archived_at=now,
        unit_id=appeal.assignment.unit_id, unit_ids=tuple(appeal.assignment.handling_units()),
        district_code=appeal.district_code, street_code=appeal.street_code, anonymous=appeal.anonymous,
        dossier_key=dossier_key, dossier_version=version, dossier_sha256=digest,
        chain_head=ar.chain_head([*events, event]), archive_seq=event.seq, shred_due=ar.shred_due(now, pol),
        hashes=tuple(dict.fromkeys([*(party.hashes if party else []), *appeal.reporter_hashes])), hints=hints)
    uow = p.store.unit_of_work(now)
    uow.track(appeal)
    uow.add(pointer, key)
    if entry is not None:
        uow.delete(entry)
    work.commit(p, uow)   # guarded by the appeal's version: a redo meanwhile leaves it unarchived
    logger.info("appeal archived", extra={"appeal_id": appeal_id, "dossier_key": dossier_key, "bytes": len(body)})
    return pointer


# --- reading a dossier ----------------------------------------------------------------------

def _scope(p, ptr: ar.ArchivePointer) -> AppealScope:
    return AppealScope(region=ptr.region, district_code=ptr.district_code, street_code=ptr.street_code,
                       unit_ids=ptr.unit_ids, city_code=p.settings.city_code)


def _audit(p, ptr: ar.ArchivePointer, who: Principal, action: str, reason: str, fields: tuple[str, ...]) -> None:
    uow = p.store.unit_of_work(p.now())
    uow.add(AuditEntry(ptr.region, ptr.appeal_id, who.actor, who.subject, action, reason, fields, p.now()))
    uow.commit()


def visible_pointer(p, a, appeal_id: str, who: Principal) -> ar.ArchivePointer:
    """The pointer of an archived appeal the person may see (a unit: its own; the centre, leaders
    and auditors: their jurisdiction); 404 otherwise, as for any appeal."""
    require(who, "appeal.read")
    ptr = a.store.get_pointer(appeal_id)
    if ptr is None:
        raise appeal_not_found()
    require_visible(who, _scope(p, ptr))
    return ptr


def dossier(p, a, appeal_id: str, who: Principal) -> tuple[ar.ArchivePointer, dict]:
    """The sealed dossier as stored (personal data encrypted, text masked); every read audited."""
    ptr = visible_pointer(p, a, appeal_id, who)
    body = a.bucket.get(ptr.dossier_key, ptr.dossier_version)
    doc = ar.canonical_load(body) if body is not None else None
    if doc is None:
        raise NotFoundError("the dossier is missing from the archive", field="appeal_id")
    _audit(p, ptr, who, "dossier.read", "read", ())
    return ptr, doc


def unmasked(p, a, appeal_id: str, who: Principal, reason: str) -> tuple[ar.ArchivePointer, dict, dict]:
    """The dossier with its envelope opened (personal data and the text as written), for a role
    that may unmask, with a reason, audited before anything is shown; 404 once shredded."""
    require(who, "party.unmask")
    if not isinstance(reason, str) or len(reason.strip()) < 4:
        raise ValidationError("say why you need the personal data (at least 4 characters)", field="reason")
    ptr = visible_pointer(p, a, appeal_id, who)
    require_unmask(who, ptr.anonymous)
    body = a.bucket.get(ptr.dossier_key, ptr.dossier_version)
    doc = ar.canonical_load(body) if body is not None else None
    if doc is None or not doc.get("personal_data"):
        raise NotFoundError("this dossier holds no personal data", field="party")
    _audit(p, ptr, who, "dossier.unmask", reason.strip(), ("name", "id_number", "phone", "text"))
    try:
        clear = a.sealer.open(a.store.get_key(appeal_id), doc["personal_data"], appeal_id)
    except LookupError:
        raise NotFoundError("the personal data of this appeal was shredded after its retention period",
                            field="party") from None
    return ptr, doc, clear


def page_context(ptr: ar.ArchivePointer, doc: dict, who: Principal, clear: dict | None = None,
                 reason: str | None = None) -> dict:
    """What the printable page shows: masked text and hints, unless `clear` (an opened envelope)."""
    a = doc["appeal"]
    text = {"title": a.get("title"), "content": a.get("content"), "address": (a.get("location") or {}).get("address")}
    originals = (clear or {}).get("events", {})
    notes = {c["seq"]: canonical_json(originals.get(str(c["seq"]), c["data"])) for c in doc["case_file"]}
    if clear is not None:
        text = dict(clear.get("text") or text)
    if not doc.get("personal_data"):
        state, party = "none", None
    elif ptr.shredded_at is not None:
        state, party = "shredded", None
    elif clear is not None:
        party = clear.get("party")
        state = "clear" if party else "none"
    elif ptr.anonymous and not may(who, "party.unmask_confidential"):
        state, party = "confidential", None
    else:
        state, party = ("masked", dict(ptr.hints)) if ptr.hints else ("none", None)
    return {"doc": doc, "text": text, "notes": notes, "party_state": state, "party": party, "reason": reason,
            "sha256": ptr.dossier_sha256}


# --- verification ---------------------------------------------------------------------------

def verify_one(p, a, appeal_id: str) -> dict:
    ptr = a.store.get_pointer(appeal_id)
    if ptr is None:
        return {"appeal_id": appeal_id, "ok": False, "problems": [f"{appeal_id}: not archived"]}
    body = a.bucket.get(ptr.dossier_key, ptr.dossier_version)
    events = p.store.load_case_file(appeal_id) or None   # None once the hot items expired
    problems = ar.verify(ptr, body, events)
    return {"appeal_id": appeal_id, "ok": not problems, "problems": problems,
            "case_file": "table" if events else "dossier only"}


def verify_day(p, a, region: str, day: str) -> dict:
    """Every dossier archived on one UTC day (one index query), each checked."""
    try:
        date.fromisoformat(day)
    except ValueError:
        raise ValidationError("day is YYYY-MM-DD", field="day") from None
    results = [verify_one(p, a, ptr.appeal_id) for ptr in a.store.pointers_of_day(region, day)]
    bad = [r for r in results if not r["ok"]]
    return {"region": region, "day": day, "checked": len(results), "mismatch_count": len(bad), "mismatches": bad}


# --- letting go of personal data -----------------------------------------------------------

def _months(now: datetime, back: int) -> list[str]:
    y, m = now.year, now.month
    out = []
    for _ in range(back + 1):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return sorted(out)


def shred(p, a, dry_run: bool = True, limit: int = 100) -> dict:
    """Destroy the data key of every dossier whose retention period ended (crypto-shredding),
    remove the pointer's keyed hashes and hints and the hot party item; each shred audited in
    its own transaction. ``dry_run`` lists what would be shredded and writes nothing."""
    now = p.now()
    region = p.settings.region_code
    due: list[ar.ArchivePointer] = []
    for month in _months(now, SHRED_MONTHS_BACK):
        due += a.store.shred_due(region, month, now, limit - len(due))
        if len(due) >= limit:
            break
    listed = [{"appeal_id": ptr.appeal_id, "archived_at": iso(ptr.archived_at), "shred_due": iso(ptr.shred_due)}
              for ptr in due]
    if dry_run:
        return {"region": region, "dry_run": True, "due": listed, "shredded": 0}
    for ptr in due:
        uow = p.store.unit_of_work(now)
        uow.delete(ar.ArchiveKey(ptr.appeal_id, b""), SealedParty(ptr.appeal_id, b"", b"", b""))
        uow.add(dataclasses.replace(ptr, hashes=(), hints={}, shredded_at=now),
                AuditEntry(ptr.region, ptr.appeal_id, SYSTEM_ACTOR, "archive", "party.shred",
                           "retention period ended", ("data_key", "keyed_hashes", "hints"), now))
        uow.commit()
    if due:
        metrics.add_metric(name="DossiersShredded", unit="Count", value=len(due))
    return {"region": region, "dry_run": False, "due": listed, "shredded": len(due)}


def run(p, a) -> dict:
    """The scheduled run: archive what is due, then shred what is past retention."""
    return {"archive": sweep(p, a), "shred": shred(p, a, dry_run=False)}
