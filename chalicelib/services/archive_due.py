"""Archive due entries (归档): every closure files its archiving date, in the closing transaction.

A reaction of services/work.py (listed in its REACTIONS, run before every commit): for each
``Closed`` of the change, one entry in the partition of the UTC day the settling window ends
(domain.archive), so the archive sweep (services/archive.py) reads days, never the appeals.
A redo, a reopening or a report joined within the window is found when the entry falls due.
This module must not import services/work.py.
"""
from __future__ import annotations

from chalicelib.domain import archive
from chalicelib.domain.events import Closed, DomainEvent
from chalicelib.storage import archive_store  # noqa: F401 - registers how the entries are stored


def policy(p, region: str) -> archive.ArchivePolicy:
    """The region's archive policy (policy.json ``archive``; defaults when it names none)."""
    return archive.ArchivePolicy.from_dict(p.region(region).policy.get("archive"))


def file_archive_due(p, uow, events_by_appeal_id: dict[str, list[DomainEvent]]) -> None:
    """One due entry per closure of a master (a joined duplicate is archived with its master)."""
    for appeal in uow.appeals:
        if appeal.master_id or not any(isinstance(e, Closed) for e in events_by_appeal_id.get(appeal.appeal_id, ())):
            continue
        closed = archive.closure(appeal.new_events)
        if closed is not None:
            uow.add(archive.file_on_close(appeal.region, appeal.appeal_id, closed, appeal.last_report_at,
                                          policy(p, appeal.region)))
