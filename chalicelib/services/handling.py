"""Handling against the clock (限时办理, F-HD-1/F-HD-4): unit steps, extensions, leaders' actions, feeds.

Each staff action has dispatch.py's shape, ``fn(appeal, who, now, **fields) -> extra items``:
the caller loads the appeal, checks the role (domain.access ACTIONS) and visibility, calls fn,
adds status hand-offs when ``public_status()`` changed (so "replied" reaches the channel), saves
with ``repository.save_appeal`` and publishes. The followers' feed needs nothing here: the save
writes one feed entry per follower and case event in the same transaction.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain.access import Principal, Role, covers
from chalicelib.domain.appeal import DEFAULT_MIN_ANSWER_CHARS, Appeal
from chalicelib.domain.errors import ForbiddenError, ValidationError, appeal_not_found
from chalicelib.services import deadlines
from chalicelib.services.dispatch_model import DispatchModel, model_for
from chalicelib.storage import keys
from chalicelib.storage.models import FeedItem

LEVEL_RANK = {"city": 0, "district": 1, "street": 2, "community": 3}


def sign(appeal: Appeal, who: Principal, now: datetime) -> list:
    """签收 by the lead unit; stops the sign clock."""
    appeal.sign_for(who.unit_id, now, who.actor)
    return []


def contact(appeal: Appeal, who: Principal, now: datetime, note: str, how: str | None = None) -> list:
    """The lead unit contacted the citizen (directly, through the centre, or says why not); stops
    the contact clock."""
    appeal.contact_citizen(who.unit_id, note, now, who.actor, how or "direct")
    return []


def min_answer_chars(region: str) -> int:
    """Region policy `handling.min_answer_chars` (default DEFAULT_MIN_ANSWER_CHARS)."""
    handling = model_for(region).policy.get("handling") or {}
    return int(handling.get("min_answer_chars", DEFAULT_MIN_ANSWER_CHARS))


def reply(appeal: Appeal, who: Principal, now: datetime, answer: str, attachments: list[str] | None = None) -> list:
    """办结反馈 by the lead unit; the public status becomes "replied" (the caller notifies the channel)."""
    appeal.reply_to_citizen(who.unit_id, answer, list(attachments or ()), now, who.actor,
                            min_answer_chars(appeal.region))
    return []


def note(appeal: Appeal, who: Principal, now: datetime, note: str) -> list:
    """A handling note by the lead or an assisting unit (部门联办)."""
    appeal.add_unit_note(who.unit_id, note, now, who.actor)
    return []


def _instant(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value.strip():
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"{name} must be an ISO-8601 time with an offset", field=name) from None
        return dt
    raise ValidationError(f"{name} is required", field=name)


def extension_request(appeal: Appeal, who: Principal, now: datetime, reason: str, new_due_at: Any,
                      step: str = "reply") -> list:
    """延期申请 for the reply step: reason + requested due time; at most one pending."""
    appeal.request_extension(who.unit_id, reason, _instant(new_due_at, "new_due_at"), now, who.actor, step)
    return []


def _unit(model: DispatchModel, unit_id: str | None):
    return next((u for u in model.units.units if u.unit_id == unit_id), None)


def can_approve(model: DispatchModel, appeal: Appeal, who: Principal) -> bool:
    """A dispatcher of the region, or a unit manager of a unit above the lead unit (higher level
    and covering its jurisdiction). The requesting unit never approves its own request."""
    if who.region != appeal.region:
        return False
    if who.role == Role.DISPATCHER:
        return True
    if who.role != Role.UNIT_MANAGER or not who.unit_id or who.unit_id == appeal.unit_id:
        return False
    mine, lead = _unit(model, who.unit_id), _unit(model, appeal.unit_id)
    if mine is None or lead is None:
        return False
    return LEVEL_RANK.get(mine.level, 9) < LEVEL_RANK.get(lead.level, 9) and \
        covers(mine.jurisdiction_code, lead.jurisdiction_code, model.city_code)


def extension_decide(appeal: Appeal, who: Principal, now: datetime, approve: bool, reason: str = "",
                     step: str = "reply") -> list:
    """Approve or refuse the pending extension. Approval writes a new deadline version and its
    due-index entries; the old version's entries go stale (the sweep checks the version)."""
    model = model_for(appeal.region)
    if not can_approve(model, appeal, who):
        raise ForbiddenError("only a dispatcher or a manager of a unit above may decide extensions",
                             field="role", code="not_approver")
    if not isinstance(approve, bool):
        raise ValidationError("approve must be true or false", field="approve")
    new = appeal.decide_extension(approve, model.calendar, now, who.actor, reason, step)
    if new is None:
        return []
    if new.provisional:
        deadlines.alert_calendar_missing(appeal.region, new.missing_years, now, appeal.appeal_id)
    return deadlines.due_items_from(appeal.appeal_id, new, now)


def _in_jurisdiction(appeal: Appeal, who: Principal) -> None:
    model = model_for(appeal.region)
    area = appeal.street_code or appeal.district_code
    if who.region != appeal.region or not (who.jurisdiction == model.city_code
                                           or covers(who.jurisdiction, area, model.city_code)):
        # As for visibility: an appeal outside one's jurisdiction is not disclosed.
        raise appeal_not_found()


def leader_instruct(appeal: Appeal, who: Principal, now: datetime, text: str) -> list:
    """点评批示 on an appeal in the leader's jurisdiction."""
    _in_jurisdiction(appeal, who)
    appeal.instruct(text, now, who.actor)
    return []


def leader_follow(appeal: Appeal, who: Principal, now: datetime) -> list:
    """跟踪关注: every later case event of the appeal lands in the leader's feed."""
    _in_jurisdiction(appeal, who)
    appeal.follow(who.subject, now, who.actor)
    return []


def leader_unfollow(appeal: Appeal, who: Principal, now: datetime) -> list:
    appeal.unfollow(who.subject, now, who.actor)
    return []


def feed(subject: str, limit: int = 50) -> list[dict]:
    """A follower's feed, newest first: one entry per case event of the appeals they follow."""
    limit = max(1, min(int(limit), 200))
    items = FeedItem.query(keys.feed_pk(subject), scan_index_forward=False, limit=limit)
    return [{"appeal_id": i.appeal_id, "seq": int(i.seq), "at": i.at, "kind": i.event_kind, "actor": i.actor,
             "data": dict(i.data or {})} for i in items]


# name -> (permission in domain.access.ACTIONS, body fields {name: (type, required)}, fn): what the
# staff API registers (chalicelib.services.staff.register) to expose these actions. Notes by
# assisting units use "handle.reply": the roles that may work on a reply may annotate it.
STAFF_ACTIONS: dict[str, tuple[str, dict, Any]] = {
    "sign": ("handle.sign", {}, sign),
    "contact": ("handle.contact", {"note": (str, True), "how": (str, False)}, contact),
    "reply": ("handle.reply", {"answer": (str, True), "attachments": (list, False)}, reply),
    "note": ("handle.reply", {"note": (str, True)}, note),
    "extension_request": ("handle.extend_request", {"reason": (str, True), "new_due_at": (str, True)},
                          extension_request),
    "extension_decide": ("handle.extend_decide", {"approve": (bool, True), "reason": (str, False)},
                         extension_decide),
    "instruct": ("leader.instruct", {"text": (str, True)}, leader_instruct),
    "follow": ("leader.follow", {}, leader_follow),
    "unfollow": ("leader.follow", {}, leader_unfollow),
}
