"""Committing a use case's unit of work: one transaction, then the hand-offs are published."""
from __future__ import annotations

from typing import Any, Callable

from chalicelib.domain.errors import ConflictError
from chalicelib.domain.records import Handoff


def commit(p, uow) -> list[Handoff]:
    """Commit `uow` (all or nothing) and send its hand-offs; a send that fails stays in the outbox
    for the repair sweep. Returns the hand-offs committed."""
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
