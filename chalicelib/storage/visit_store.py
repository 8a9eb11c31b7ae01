"""The reads and the planner mark of return visits (回访, F-EV-3); their keys are in keys.py.

Candidates and tasks are written through the unit of work (records.py maps them); the planner
puts each new task with DynamoStore.put_once. Every read here is a bounded Query or a GetItem.
"""
from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.domain.return_visit import VisitCandidate, VisitTask
from chalicelib.domain.timefmt import iso
from chalicelib.storage import keys
from chalicelib.storage import records as rec
from chalicelib.storage.models import Item, SweepStateItem, VisitCandidateItem, VisitTaskItem


def visit_candidates(region: str, bucket: str) -> list[VisitCandidate]:
    """The answered rounds of one hour bucket (every page of its partition)."""
    return [rec.visit_candidate(i) for i in VisitCandidateItem.query(keys.visit_candidates_pk(region, bucket),
                                                                     consistent_read=True)]


def visit_tasks(appeal_id: str) -> list[VisitTask]:
    """An appeal's visit tasks, by round (one query on its partition, consistent)."""
    items = VisitTaskItem.query(keys.appeal_pk(appeal_id), VisitTaskItem.SK.startswith(keys.VISIT_SK_PREFIX),
                                consistent_read=True)
    return [rec.visit_task(i) for i in items]


def visit_queue(region: str, limit: int) -> list[VisitTask]:
    """The region's open visit tasks, oldest due first (the visitors' queue, GSI1)."""
    return [rec.visit_task(i) for i in Item.gsi1.query(keys.visit_queue(region), limit=limit)
            if isinstance(i, VisitTaskItem)]


def visit_mark(region: str) -> str | None:
    """The last hour bucket the region's return-visit planner read (None before its first run)."""
    try:
        return SweepStateItem.get(keys.visit_mark_pk(region), keys.SWEEP_SK, consistent_read=True).last_bucket
    except DoesNotExist:
        return None


def move_visit_mark(region: str, last_bucket: str, now: datetime) -> None:
    """Forward only: an overlapping older run never moves it back."""
    item = SweepStateItem(keys.visit_mark_pk(region), keys.SWEEP_SK, last_bucket=last_bucket, updated_at=iso(now))
    try:
        item.save(condition=SweepStateItem.PK.does_not_exist() | (SweepStateItem.last_bucket < last_bucket))
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
