"""Evaluation (评价, F-EV): the citizen rates through their channel; a bad rating sends the work back.

Every citizen of an event rates through their own appeal: the master's citizen and the citizen of
every duplicate joined to it (F-DD-3). The first rating of a replied master concludes it (closed,
redo, or special supervision after an unsatisfying redo); later ratings are recorded too.
"""
from __future__ import annotations

from chalicelib.channels.fields import has_control_characters
from chalicelib.domain.appeal import Status, is_unsatisfied, validate_rating
from chalicelib.domain.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.services import deadlines, intake, outbox
from chalicelib.services.clock import Clock
from chalicelib.storage import repository


def rate(req: intake.ChannelRequest, ticket_id: str, clock: Clock) -> dict:
    now = clock.now()
    _, nonce_key = intake.authenticate(req.channel, req, now)
    body = intake.decode_object(req.body)
    scores = validate_rating(body)
    comment = body.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > 500:
        raise ValidationError("comment is text of at most 500 characters", field="comment")
    if has_control_characters(comment, free_text=True):
        raise ValidationError("comment must not contain control characters (line breaks and tabs are fine)",
                              field="comment")
    ticket = repository.get_ticket(req.channel, ticket_id)
    if ticket is None:
        raise NotFoundError("no appeal with this ticket id on this channel", field="ticket_id")
    appeal = repository.load_appeal(ticket.appeal_id)
    master = repository.load_appeal(appeal.master_id) if appeal.master_id else appeal
    if master.status not in (Status.REPLIED, Status.CLOSED):
        raise ConflictError(f"the appeal cannot be rated before it is answered (it is {master.status.value})",
                            field="status", code="not_answered")
    repository.put_nonce(intake._nonce(nonce_key, now))
    actor = f"citizen:{req.channel}"
    appeal.record_rating(scores, comment, now, actor, master.redo_count)
    unsatisfied = is_unsatisfied(scores)
    handoffs, extra = [], []
    if master.status == Status.REPLIED:
        target = master
        before = target.public_status()
        target.conclude(unsatisfied, now, actor, f"rating by the citizen of {appeal.appeal_id}")
        if target.status == Status.REDO:
            extra += deadlines.start_clock(target, now)
        if target.public_status() != before:
            handoffs = outbox.status_handoffs_with_joined(target, target.public_status())
    if master is not appeal:
        # The unit that must redo reads why on its own appeal: the comment as the duplicate kept it.
        master.record(now, "duplicate_rated", actor, {"duplicate_id": appeal.appeal_id, **scores,
                                                      "comment": appeal.rating["comment"]}, public=False)
        repository.save_appeal(master, now, handoffs, extra_items=extra)
        repository.save_appeal(appeal, now)
    else:
        repository.save_appeal(appeal, now, handoffs, extra_items=extra)
    outbox.publish(handoffs)
    return {"appeal_id": appeal.appeal_id, "rated": True, "unsatisfied": unsatisfied,
            "status": appeal.public_status() if master is appeal else master.public_status()}
