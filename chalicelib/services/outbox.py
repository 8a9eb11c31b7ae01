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


def status_handoff(appeal: Appeal, status: str) -> Handoff:
    """Tell the appeal's channel of a status it should hear about (F-IN-3)."""
    return Handoff(queue="notify", topic="status", key=status,
                   message={"topic": "status", "key": status, "appeal_id": appeal.appeal_id,
                            "channel": appeal.channel, "ticket_id": appeal.ticket_id, "status": status})


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
