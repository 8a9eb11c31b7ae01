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

from chalicelib.domain.access import Principal, require_extension_decider, require_in_jurisdiction
from chalicelib.domain.appeal import DEFAULT_MIN_ANSWER_CHARS, Appeal
from chalicelib.domain.errors import ValidationError
from chalicelib.services import deadlines


def sign(p, appeal: Appeal, who: Principal, now: datetime) -> list:
    """签收 by the lead unit; stops the sign clock."""
    appeal.sign_for(who.unit_id, now, who.actor)
    return []


def contact(p, appeal: Appeal, who: Principal, now: datetime, note: str, how: str | None = None) -> list:
    """The lead unit contacted the citizen (directly, through the centre, or says why not); stops
    the contact clock."""
    appeal.contact_citizen(who.unit_id, note, now, who.actor, how or "direct")
    return []


def min_answer_chars(p, region: str) -> int:
    """Region policy `handling.min_answer_chars` (default DEFAULT_MIN_ANSWER_CHARS)."""
    handling = p.region(region).policy.get("handling") or {}
    return int(handling.get("min_answer_chars", DEFAULT_MIN_ANSWER_CHARS))


def reply(p, appeal: Appeal, who: Principal, now: datetime, answer: str, attachments: list[str] | None = None) -> list:
    """办结反馈 by the lead unit; the public status becomes "replied" (the caller notifies the channel)."""
    appeal.reply_to_citizen(who.unit_id, answer, list(attachments or ()), now, who.actor,
                            min_answer_chars(p, appeal.region))
    return []


def note(p, appeal: Appeal, who: Principal, now: datetime, note: str) -> list:
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


def extension_request(p, appeal: Appeal, who: Principal, now: datetime, reason: str, new_due_at: Any,
                      step: str = "reply") -> list:
    """延期申请 for the reply step: reason + requested due time; at most one pending."""
    appeal.request_extension(who.unit_id, reason, _instant(new_due_at, "new_due_at"), now, who.actor, step)
    return []


def extension_decide(p, appeal: Appeal, who: Principal, now: datetime, approve: bool, reason: str = "",
                     step: str = "reply") -> list:
    """Approve or refuse the pending extension. Approval writes a new deadline version and its
    due-index entries; the old version's entries go stale (the sweep checks the version)."""
    model = p.region(appeal.region)
    require_extension_decider(who, appeal.region, model.units.by_id(appeal.assignment.unit_id), model.units.by_id(who.unit_id),
                              model.city_code)
    if not isinstance(approve, bool):
        raise ValidationError("approve must be true or false", field="approve")
    new = appeal.decide_extension(approve, model.calendar, now, who.actor, reason, step)
    if new is None:
        return []
    if new.provisional:
        deadlines.alert_calendar_missing(p, appeal.region, new.missing_years, now, appeal.appeal_id)
    return deadlines.due_items_from(appeal.appeal_id, new, now)


def _in_jurisdiction(p, appeal: Appeal, who: Principal) -> None:
    require_in_jurisdiction(who, appeal.region, appeal.street_code or appeal.district_code,
                            p.region(appeal.region).city_code)


def leader_instruct(p, appeal: Appeal, who: Principal, now: datetime, text: str) -> list:
    """点评批示 on an appeal in the leader's jurisdiction."""
    _in_jurisdiction(p, appeal, who)
    appeal.instruct(text, now, who.actor)
    return []


def leader_follow(p, appeal: Appeal, who: Principal, now: datetime) -> list:
    """跟踪关注: every later case event of the appeal lands in the leader's feed."""
    _in_jurisdiction(p, appeal, who)
    appeal.follow(who.subject, now, who.actor)
    return []


def leader_unfollow(p, appeal: Appeal, who: Principal, now: datetime) -> list:
    appeal.unfollow(who.subject, now, who.actor)
    return []


def feed(p, subject: str, limit: int = 50) -> list[dict]:
    """A follower's feed, newest first: one entry per case event of the appeals they follow."""
    limit = max(1, min(int(limit), 200))
    return [{"appeal_id": e.appeal_id, "seq": e.seq, "at": e.at, "kind": e.kind, "actor": e.actor, "data": e.data}
            for e in p.store.feed(subject, limit)]


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
