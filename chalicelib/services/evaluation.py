"""Evaluation (评价, F-EV): the citizen rates through their channel; a bad rating sends the work back.

Every citizen of an event rates through their own appeal: the master's citizen and the citizen of
every duplicate joined to it (F-DD-3). The first rating of a replied master concludes it (closed,
redo, or special supervision after an unsatisfying redo); later ratings are recorded too.
"""
from __future__ import annotations

from typing import Any, Mapping

from chalicelib.channels.fields import has_control_characters
from chalicelib.domain.appeal import RATING_DIMENSIONS, Status, is_unsatisfied, validate_rating
from chalicelib.domain.errors import AlreadyCreated, AuthenticationError, ConflictError, NotFoundError, ValidationError
from chalicelib.domain.records import Nonce
from chalicelib.services import deadlines, intake, tracking, work


def rate(p, req: intake.ChannelRequest, ticket_id: str) -> dict:
    """One transaction: the spent nonce, the rated appeal and (for a duplicate) its master, the
    conclusion's deadlines and status notices; a failure anywhere leaves nothing written, so the
    channel may send the same rating again. A concurrent change of either appeal is met by
    deciding again on fresh copies."""
    return work.on_fresh_copy(lambda: _rate_once(p, req, ticket_id))


def _rate_once(p, req: intake.ChannelRequest, ticket_id: str) -> dict:
    now = p.now()
    _, nonce_key = intake.authenticate(p, req.channel, req, now)
    scores, comment = read_rating(intake.decode_object(req.body))
    ticket = p.store.get_ticket(req.channel, ticket_id)
    if ticket is None:
        raise NotFoundError("no appeal with this ticket id on this channel", field="ticket_id")
    return _rate(p, ticket.appeal_id, scores, comment, f"citizen:{req.channel}", intake.nonce_record(p, nonce_key, now),
                 now)


def rate_on_page(p, token: str, form: Mapping[str, Any]) -> dict:
    """The citizen rates from their tracking page (a form): the same rules as the channel's route
    (four scores of 1 to 5, once per answer, a bad one sends the work back), the link for the
    signature."""
    appeal_id = tracking.resolve(p, token)
    fields = {k: v for k, v in form.items() if k in (*RATING_DIMENSIONS, "comment")}
    unknown = sorted(set(form) - set(fields))
    if unknown:
        raise ValidationError("the rating form takes no such field", field=unknown[0] or "body")
    for name in RATING_DIMENSIONS:
        value = fields.get(name)
        if isinstance(value, str) and value.strip().isdigit():
            fields[name] = int(value.strip())
    scores, comment = read_rating(fields)
    return work.on_fresh_copy(lambda: _rate(p, appeal_id, scores, comment, "citizen:tracking_page", None, p.now()))


def read_rating(body: Mapping[str, Any]) -> tuple[dict[str, int], str]:
    """The four scores and the optional comment of a rating, checked."""
    scores = validate_rating(body)
    comment = body.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > 500:
        raise ValidationError("comment is text of at most 500 characters", field="comment")
    if has_control_characters(comment, free_text=True):
        raise ValidationError("comment must not contain control characters (line breaks and tabs are fine)",
                              field="comment")
    return scores, comment


def _rate(p, appeal_id: str, scores: dict[str, int], comment: str, actor: str, nonce: Nonce | None,
          now) -> dict:
    appeal = p.store.load_appeal(appeal_id)
    master = p.store.load_appeal(appeal.master_id) if appeal.master_id else appeal
    if master.status not in (Status.REPLIED, Status.CLOSED):
        raise ConflictError(f"the appeal cannot be rated before it is answered (it is {master.status.value})",
                            field="status", code="not_answered")
    uow = p.store.unit_of_work(now)
    if nonce is not None:
        uow.add_once(nonce)
    appeal.record_rating(scores, comment, now, actor, master.evaluation.redo_count)
    unsatisfied = is_unsatisfied(scores)
    if master.status == Status.REPLIED:
        master.conclude(unsatisfied, now, actor, f"rating by the citizen of {appeal.appeal_id}")
        if master.status == Status.REDO:
            uow.add(*deadlines.start_clock(p, master, now))
    if master is not appeal:
        # The unit that must redo reads why on its own appeal: the comment as the duplicate kept it.
        master.record(now, "duplicate_rated", actor, {"duplicate_id": appeal.appeal_id, **scores,
                                                      "comment": appeal.evaluation.rating.comment}, public=False)
    uow.track(master, appeal)
    try:
        work.commit(p, uow)
    except AlreadyCreated as exc:
        if isinstance(exc.record, Nonce):
            raise AuthenticationError("nonce already used", field="X-Jiesu-Nonce", code="replayed_nonce") from None
        raise
    return {"appeal_id": appeal.appeal_id, "rated": True, "unsatisfied": unsatisfied,
            "status": master.public_status()}
