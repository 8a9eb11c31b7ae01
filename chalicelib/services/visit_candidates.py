"""Return-visit candidates (回访, F-EV-3): every answered handling round, written with its reply.

A reaction of services/work.py (listed in its REACTIONS, run before every commit): for each
``Replied`` of the change, one candidate row in the hour bucket of the reply, in the same
transaction, so the planner (services/visits.py) reads buckets and never scans the appeals.
Which candidates become visit tasks is the region's policy, decided when the planner runs.
This module must not import services/work.py.
"""
from __future__ import annotations

from chalicelib.domain.events import DomainEvent, Replied
from chalicelib.domain.return_visit import VisitCandidate


def write_visit_candidates(p, uow, events_by_appeal_id: dict[str, list[DomainEvent]]) -> None:
    """A candidate per answered round (the round: the appeal's redo count when it was answered).
    A duplicate joined to a master is never answered itself: the master is visited."""
    for appeal in uow.appeals:
        if appeal.master_id:
            continue
        for event in events_by_appeal_id.get(appeal.appeal_id, ()):
            if isinstance(event, Replied):
                uow.add(VisitCandidate(appeal.region, appeal.appeal_id, appeal.evaluation.redo_count, event.at))
