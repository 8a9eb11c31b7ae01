"""Return visits (回访, F-EV-3): the planner that fills the visitors' queue, and a visitor's call.

Every answered handling round left a candidate in the hour bucket of its reply
(services/visit_candidates.py). ``plan`` (functions/visits, every 15 minutes) reads the buckets
from its own mark forward to the newest one whose every reply is ``after_hours`` old, a bounded
number per run, and puts the visit task of each round the region's policy selects, once.
``record`` is the staff action ``visit``: the call goes into the case file, and a reached call
may send the work back (domain.return_visit), all in the one unit of work of the appeal.
"""
from __future__ import annotations

import collections
from datetime import datetime, timedelta

from chalicelib.domain.access import Principal
from chalicelib.domain.appeal import Appeal, Status
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.privacy import mask_free_text
from chalicelib.domain.return_visit import (
    VisitCandidate, VisitPolicy, VisitTask, bucket_start, hour_bucket, hour_buckets, rated_unsatisfied,
    visit_outcome,
)
from chalicelib.observability import logger, metrics
from chalicelib.services import deadlines

BUCKETS_PER_RUN = 24                     # a longer gap is caught up over successive runs, oldest first
# A first run (no mark yet) reads one run's worth of buckets: candidates exist only from the
# deployment of return visits on, which is when the planner first runs.
FIRST_RUN_LOOKBACK = timedelta(hours=BUCKETS_PER_RUN)
CANDIDATES_PER_RUN = 500                 # ...and so is a run of busy hours (a bucket is read whole)
COUNTS = ("planned", "already", "not_selected", "joined", "missing")


def plan(p) -> dict:
    """Put the visit tasks of the answered rounds that are due now; returns counts.

    Cost follows the replies, not the open appeals: one mark read, one query per hour bucket, one
    batch read of the candidates' appeals, one conditional put per selected round. A rerun (or
    an overlapping run) writes nothing new: a task is put only if its key is new."""
    now = p.now()
    region = p.settings.region_code
    policy: VisitPolicy = p.region(region).visit_policy
    newest = hour_bucket(now - policy.after - timedelta(hours=1))   # every reply in it is due by now
    mark = p.store.visit_mark(region)
    pending = hour_buckets(mark or hour_bucket(bucket_start(newest) - FIRST_RUN_LOOKBACK), newest)
    read: list[str] = []
    candidates: list[VisitCandidate] = []
    for bucket in pending[:BUCKETS_PER_RUN]:
        if read and len(candidates) >= CANDIDATES_PER_RUN:
            break
        candidates += p.store.visit_candidates(region, bucket)
        read.append(bucket)
    appeals = {a.appeal_id: a for a in p.store.load_appeals(sorted({c.appeal_id for c in candidates}))}
    counts: collections.Counter = collections.Counter()
    for c in sorted(candidates, key=lambda c: (c.replied_at, c.appeal_id, c.round)):
        verdict = _verdict(appeals.get(c.appeal_id), c, policy)
        if verdict == "selected":
            verdict = "planned" if p.store.put_once(VisitTask.plan(c, policy, now), now) else "already"
        counts[verdict] += 1
    if read:
        p.store.move_visit_mark(region, read[-1], now)
    behind = len(pending) - len(read)
    if behind:
        logger.info("return-visit planner catching up", extra={"region": region, "buckets_behind": behind})
    if counts["planned"]:
        metrics.add_metric(name="ReturnVisitsPlanned", unit="Count", value=counts["planned"])
    return {"region": region, "buckets": len(read), "last_bucket": read[-1] if read else mark,
            "buckets_behind": behind, "candidates": len(candidates), **{k: counts[k] for k in COUNTS}}


def _verdict(appeal: Appeal | None, c: VisitCandidate, policy: VisitPolicy) -> str:
    if appeal is None:
        return "missing"
    if appeal.master_id or appeal.status == Status.JOINED:
        return "joined"          # a duplicate is never visited: its master is
    if not policy.selects(c.appeal_id, c.round, rated_unsatisfied(appeal.evaluation, c.round)):
        return "not_selected"
    return "selected"


# --- the staff action "visit" ----------------------------------------------------------------------

# body fields {name: (type, required)}, as services/staff.py parses them
FIELDS = {"reached": (bool, True), "resolved": (str, False), "satisfied": (str, False), "note": (str, False),
          "called_at": (str, False)}


def open_task(p, appeal_id: str) -> VisitTask:
    """The appeal's open visit task due first; 409 when it has none."""
    tasks = sorted((t for t in p.store.visit_tasks(appeal_id) if t.is_open), key=lambda t: (t.due_at, t.round))
    if not tasks:
        raise ConflictError("this appeal has no open return visit", field="appeal_id", code="no_open_visit")
    return tasks[0]


def record(p, appeal: Appeal, who: Principal, now: datetime, reached: bool, resolved: str | None = None,
           satisfied: str | None = None, note: str | None = None, called_at: str | None = None) -> list:
    """回访: record a visitor's call of the appeal's open visit; returns the task as it is after
    the call and, when the call sent the work back to redo, the redo's deadlines (started as
    after a bad rating), to be saved with the appeal."""
    outcome = visit_outcome(reached, resolved, satisfied, note, called_at, now)
    task = open_task(p, appeal.appeal_id)
    if not outcome.reached and task.due_at > now:
        # A call not reached makes the task due again retry_after_hours later: until then another
        # one is refused, so a retried request never counts a second attempt. (A reached call
        # closes the task: its retry finds no open visit.)
        raise ConflictError(f"the next call of this return visit is due at {task.due_at.isoformat()}",
                            field="reached", code="visit_not_due")
    before = appeal.status
    after = appeal.record_return_visit(task, outcome, p.region(appeal.region).visit_policy, now, who.actor)
    records: list = [after]
    if appeal.status == Status.REDO and before != Status.REDO:
        records += deadlines.start_clock(p, appeal, now)
    return records


# --- the visitors' queue -----------------------------------------------------------------------------

ANSWER_SUMMARY = 200


def queue_entry(task: VisitTask, appeal: Appeal, model, now: datetime) -> dict:
    """A task as the visitors' queue shows it: the round, the appeal's category, unit and answer
    (text masked as staff views mask it)."""
    item = model.catalog.get(appeal.assignment.catalog_code or "")
    unit = model.units.by_id(appeal.assignment.unit_id)
    reply = appeal.evaluation.reply
    answer = mask_free_text(reply.answer) if reply else ""
    return {"appeal_id": task.appeal_id, "round": task.round, "attempts": task.attempts,
            "due_at": task.due_at.isoformat(), "due": task.due_at <= now, "replied_at": task.replied_at.isoformat(),
            "status": appeal.status.value, "title": mask_free_text(appeal.title),
            "category": {"code": item.code, "level1": item.level1, "level2": item.level2, "item": item.item}
            if item else None,
            "unit_id": appeal.assignment.unit_id, "unit_name": unit.name if unit else None,
            "answer": answer[:ANSWER_SUMMARY] + ("…" if len(answer) > ANSWER_SUMMARY else ""),
            "rated_unsatisfied": rated_unsatisfied(appeal.evaluation, task.round)}
