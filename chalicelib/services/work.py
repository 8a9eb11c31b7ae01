"""Committing a use case's unit of work: one transaction, then the hand-offs are published."""
from __future__ import annotations

from typing import Any, Callable

from chalicelib.domain.appeal import Appeal
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.events import AppealReceived, DomainEvent, JoinedMaster, PublicStatusChanged
from chalicelib.domain.lifecycle import Status
from chalicelib.domain.records import Handoff
from chalicelib.services import analytics, outbox, public_views
from chalicelib.services.archive_due import file_archive_due
from chalicelib.services.visit_candidates import write_visit_candidates


def commit(p, uow) -> list[Handoff]:
    """Commit `uow` (all or nothing) with what its appeals' domain events call for (pulled here,
    once): the status notices, and the writes of every reaction in REACTIONS (the public views,
    the return-visit candidates, the analytics hand-off); then send its hand-offs. A send that fails stays in the outbox
    for the repair sweep. Returns the hand-offs committed."""
    events = {a.appeal_id: a.pull_domain_events() for a in uow.appeals}
    uow.hand_off(*status_notices(p, uow.appeals, events))
    for react in REACTIONS:
        react(p, uow, events)
    uow.commit()
    p.publisher.publish(uow.handoffs)
    return uow.handoffs


FRESH_COPY_TRIES = 3


def on_fresh_copy(step: Callable[[], Any]) -> Any:
    """Run a step that loads, decides and saves an appeal; when the save finds the appeal
    changed meanwhile (a stage or another person saved first), run it again on the new version:
    its checks then apply to what the appeal is now. After a few tries the 409 stands."""
    for attempt in range(1, FRESH_COPY_TRIES + 1):
        try:
            return step()
        except ConflictError as exc:
            if exc.code != "concurrent_update" or attempt == FRESH_COPY_TRIES:
                raise


# fn(p, uow, events by appeal id): adds the writes a change's domain events call for to `uow`,
# before it commits. Listed here, so every entry point that commits runs them all; a reaction's
# module must not import this one.
REACTIONS: tuple[Callable[[Any, Any, dict[str, list[DomainEvent]]], None], ...] = (
    public_views.project, write_visit_candidates, analytics.hand_off_counts, file_archive_due)


def status_notices(p, appeals: list[Appeal], events: dict[str, list[DomainEvent]]) -> list[Handoff]:
    """What each channel must hear of a change (F-IN-3), from the domain events the aggregates
    recorded (`events`, by appeal id):

    - AppealReceived: "accepted";
    - PublicStatusChanged of a master (not of a joined duplicate): the status it ends at, to its
      own channel and to every duplicate joined to it (several changes in one unit of work are
      one notice of where it ended; none if it ended where it began);
    - JoinedMaster: the joined appeal's channel hears its master's status, unless "accepted"
      (which it heard already)."""
    tracked = {a.appeal_id: a for a in appeals}
    notices: list[Handoff] = []
    for appeal in appeals:
        changes = [e for e in events[appeal.appeal_id] if isinstance(e, PublicStatusChanged)]
        for event in events[appeal.appeal_id]:
            if isinstance(event, AppealReceived):
                notices.append(outbox.status_handoff(appeal, "accepted"))
            elif isinstance(event, JoinedMaster):
                master = tracked.get(event.master_id) or p.store.load_appeal(event.master_id)
                status = master.public_status()
                if status != "accepted":
                    answer = public_views.public_answer(p, master) if status == "replied" else None
                    notices.append(outbox.status_handoff(appeal, status, source=master, answer=answer))
        if changes and changes[0].before != changes[-1].after and appeal.status != Status.JOINED:
            notices += outbox.status_handoffs_with_joined(p, appeal, changes[-1].after)
    return notices
