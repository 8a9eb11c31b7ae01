"""Hand-offs between stages: recorded with the change (transactional outbox), sent after commit,
closed by the consumer, and re-sent by the repair sweep if they stay open."""
from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.appeal import Appeal
from chalicelib.observability import logger, metrics
from chalicelib.services.clock import Clock
from chalicelib.settings import get_settings
from chalicelib.storage import keys, queues, repository
from chalicelib.storage.models import OutboxItem
from chalicelib.storage.repository import Handoff


def stage_handoff(stage: str, appeal_id: str) -> Handoff:
    """Ask the next pipeline stage (dedup, dispatch, ...) to process an appeal."""
    return Handoff(queue=stage, topic=stage, key="1",
                   message={"topic": stage, "key": "1", "appeal_id": appeal_id})


def status_handoff(appeal: Appeal, status: str, source: Appeal | None = None) -> Handoff:
    """Tell the appeal's channel of a status it should hear about (F-IN-3).

    Every notice is an event of its own: numbered (`seq`, from the case file of `source`, the
    appeal whose change it reports: the appeal itself, or the master a duplicate is joined to)
    and identified (`event_id`), so a redo's second `dispatched` or `replied` is not a replay.
    The outbox key sorts by seq, which is how notify delivers them in order."""
    seq = (source or appeal).notice_seq()
    key = status_key(seq, status)
    return Handoff(queue="notify", topic="status", key=key,
                   message={"topic": "status", "key": key, "appeal_id": appeal.appeal_id, "seq": seq,
                            "event_id": f"{appeal.appeal_id}:{seq}:{status}",
                            "channel": appeal.channel, "ticket_id": appeal.ticket_id, "status": status})


def status_key(seq: int, status: str) -> str:
    return f"{seq:08d}.{status}"


def publish(handoffs: list[Handoff]) -> int:
    """Send after commit. A failure is logged, not raised: the outbox sweep will re-send it."""
    sent = 0
    for h in handoffs:
        try:
            queues.send(h.queue, h.message)
            sent += 1
        except Exception:  # noqa: BLE001 - any transport failure is repaired by the sweep
            logger.exception("hand-off not sent; the outbox sweep will retry",
                             extra={"queue": h.queue, "appeal_id": h.message.get("appeal_id")})
            metrics.add_metric(name="HandoffSendFailed", unit="Count", value=1)
    return sent


def sweep(clock: Clock) -> dict[str, int]:
    """Re-send hand-offs still open after the grace period; give up (and alarm) after a few tries."""
    settings = get_settings()
    now = clock.now()
    resent = abandoned = 0
    for item in repository.pending_outbox(now - timedelta(seconds=settings.outbox_grace_s)):
        if (item.resends or 0) >= settings.outbox_max_resends:
            _abandon(item, now)
            abandoned += 1
            continue
        try:
            queues.send(item.queue, dict(item.message))
        except Exception:  # noqa: BLE001
            logger.exception("outbox re-send failed", extra={"appeal_id": item.appeal_id})
            continue
        # Restart the grace period so the next sweep does not send it again at once.
        item.update(actions=[OutboxItem.resends.add(1), OutboxItem.GSI1SK.set(
            keys.time_id_sk(repository.iso(now), item.appeal_id))],
            condition=OutboxItem.done_at.does_not_exist())
        resent += 1
    if resent or abandoned:
        metrics.add_metric(name="OutboxResent", unit="Count", value=resent)
        metrics.add_metric(name="OutboxAbandoned", unit="Count", value=abandoned)
    return {"resent": resent, "abandoned": abandoned}


def _abandon(item: OutboxItem, now) -> None:
    logger.error("hand-off abandoned after repeated re-sends", extra={"appeal_id": item.appeal_id,
                                                                       "queue": item.queue})
    item.update(actions=[OutboxItem.GSI1PK.remove(), OutboxItem.GSI1SK.remove(),
                         OutboxItem.done_at.set("abandoned:" + repository.iso(now))])


# --- groups of joined appeals (appended by the dedup stage, F-DD-1 / F-IN-3) --------------------

def status_handoffs_with_joined(master: Appeal, status: str, joined: list[Appeal] | None = None) -> list[Handoff]:
    """The status hand-off of a master and one for every duplicate joined to it: each citizen
    hears of the one handling through their own channel and ticket.

    `joined` may be passed when the caller has the duplicates loaded; otherwise they are read in
    one batch. Each hand-off must be stored under the appeal its message names (the notify
    consumer looks it up there): `handoff_items(handoffs, now)`, or dedup_index.commit, do that.
    """
    if joined is None:
        joined = _load_joined(master.duplicates)
    by_id = {a.appeal_id: a for a in joined}
    return [status_handoff(master, status)] + [status_handoff(by_id[i], status, source=master)
                                                for i in master.duplicates if i in by_id]


def handoff_items(handoffs: list[Handoff], now) -> list[OutboxItem]:
    """Outbox items, each under the appeal its message is about (for save_appeal's extra_items)."""
    return [h.item(h.message["appeal_id"], now) for h in handoffs]


def _load_joined(ids: list[str]) -> list[Appeal]:
    from chalicelib.storage.models import AppealItem

    if not ids:
        return []
    items = AppealItem.batch_get([(keys.appeal_pk(i), keys.APPEAL_SK) for i in ids])
    return [repository.item_to_appeal(i) for i in items]
