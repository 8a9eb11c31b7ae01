"""Hand-offs between stages: recorded with the change (transactional outbox), sent after commit,
closed by the consumer, and re-sent by the repair sweep if they stay open."""
from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.appeal import Appeal
from chalicelib.domain.records import Handoff
from chalicelib.services import public_views
from chalicelib.observability import logger, metrics


def stage_handoff(stage: str, appeal_id: str) -> Handoff:
    """Ask the next pipeline stage (dedup, dispatch, ...) to process an appeal."""
    return Handoff(queue=stage, topic=stage, key="1",
                   message={"topic": stage, "key": "1", "appeal_id": appeal_id})


def status_handoff(appeal: Appeal, status: str, source: Appeal | None = None, answer: str | None = None) -> Handoff:
    """Tell the appeal's channel of a status it should hear about (F-IN-3).

    Every notice is an event of its own: numbered (`seq`, from the case file of `source`, the
    appeal whose change it reports: the appeal itself, or the master a duplicate is joined to)
    and identified (`event_id`), so a redo's second `dispatched` or `replied` is not a replay.
    The outbox key sorts by seq, which is how notify delivers them in order.

    The message carries what the callback tells the citizen besides the status: the public
    `answer` of a reply (scrubbed, services/public_views.public_answer) and `track`, the salt of
    the citizen's own tracking link (notify makes the link from it; the link is never stored)."""
    seq = (source or appeal).notice_seq()
    key = status_key(seq, status)
    message = {"topic": "status", "key": key, "appeal_id": appeal.appeal_id, "seq": seq,
               "event_id": f"{appeal.appeal_id}:{seq}:{status}",
               "channel": appeal.channel, "ticket_id": appeal.ticket_id, "status": status,
               "track": appeal.tracking_salt}
    if answer is not None:
        message["answer"] = answer
    return Handoff(queue="notify", topic="status", key=key, message=message)


def status_key(seq: int, status: str) -> str:
    return f"{seq:08d}.{status}"


def sweep(p) -> dict[str, int]:
    """Re-send hand-offs still open after the grace period; give up (and alarm) after a few tries."""
    settings = p.settings
    now = p.now()
    resent = abandoned = 0
    for entry in p.store.pending_outbox(now - timedelta(seconds=settings.outbox_grace_s)):
        if entry.resends >= settings.outbox_max_resends:
            logger.error("hand-off abandoned after repeated re-sends", extra={"appeal_id": entry.appeal_id,
                                                                               "queue": entry.queue})
            p.store.outbox_abandoned(entry, now)
            abandoned += 1
            continue
        try:
            p.publisher.send(entry.queue, entry.message)
        except Exception:  # noqa: BLE001
            logger.exception("outbox re-send failed", extra={"appeal_id": entry.appeal_id})
            continue
        p.store.outbox_resent(entry, now)
        resent += 1
    if resent or abandoned:
        metrics.add_metric(name="OutboxResent", unit="Count", value=resent)
        metrics.add_metric(name="OutboxAbandoned", unit="Count", value=abandoned)
    return {"resent": resent, "abandoned": abandoned}


# --- groups of joined appeals (appended by the dedup stage, F-DD-1 / F-IN-3) --------------------

def status_handoffs_with_joined(p, master: Appeal, status: str, joined: list[Appeal] | None = None
                                ) -> list[Handoff]:
    """The status hand-off of a master and one for every duplicate joined to it: each citizen
    hears of the one handling through their own channel and ticket (each hand-off is stored
    under the appeal its message names, where the notify consumer looks it up).

    `joined` may be passed when the caller has the duplicates loaded; otherwise they are read in
    one batch."""
    if joined is None:
        joined = p.store.load_appeals(master.duplicates)
    by_id = {a.appeal_id: a for a in joined}
    answer = public_views.public_answer(p, master) if status == "replied" else None
    return [status_handoff(master, status, answer=answer)] + [
        status_handoff(by_id[i], status, source=master, answer=answer) for i in master.duplicates if i in by_id]

