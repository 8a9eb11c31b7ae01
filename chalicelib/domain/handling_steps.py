"""The Appeal root's handling steps against the clock (限时办理, F-HD-1/F-HD-4).

Sign for, contact, reply, handling notes, extensions, the sweep's alerts, and leaders'
comments and follows. A mixin of ``domain.appeal.Appeal`` (the one aggregate root), kept in its
own module: it works on the root's state (status, ``assignment``, ``handling_clock``,
``evaluation``, ``followers``) and changes status only through ``Appeal.move_to``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from chalicelib.domain import events as ev
from chalicelib.domain.calendar import WorkCalendar
from chalicelib.domain.deadlines import Deadline
from chalicelib.domain.errors import ConflictError, ValidationError
from chalicelib.domain.evaluation import (
    DEFAULT_MIN_ANSWER_CHARS, MAX_REPLY_ATTACHMENTS, Reply, check_answer, check_links,
)
from chalicelib.domain.handling_clock import ALERT_KINDS, ExtensionRequest
from chalicelib.domain.lifecycle import TRANSITIONS, CaseEvent, Status

CONTACT_WAYS = ("direct", "relay", "not_possible")


class HandlingSteps:
    """Every step stops its own clock (``handling_clock.stop``); only the lead unit signs,
    contacts, replies and asks for more time."""

    HANDLING_STATUSES = frozenset({Status.DISPATCHED, Status.SIGNED, Status.CONTACTED, Status.REDO,
                                   Status.SUPERVISED})
    MAX_FOLLOWERS = 20          # keeps one save's feed fan-out inside a single transaction
    MAX_TEXT = 5000
    MAX_REPLY_ATTACHMENTS = MAX_REPLY_ATTACHMENTS

    def _require_status(self, allowed: set[Status] | frozenset[Status], doing: str) -> None:
        if self.status not in allowed:
            raise ConflictError(f"cannot {doing}: the appeal is {self.status.value}", field="status",
                                code="invalid_state")

    @staticmethod
    def _require_text(value: str | None, name: str, limit: int = 5000) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"{name} is required", field=name)
        if len(value) > limit:
            raise ValidationError(f"{name} is longer than {limit} characters", field=name)
        return value.strip()

    def start_clock(self, deadlines: Iterable[Deadline], at: datetime, actor: str) -> list[Deadline]:
        """Run these deadlines (one per step) from now on, each the next version of its step's
        (a new dispatch restarts the clock). Returns them as they now run."""
        started = [self.handling_clock.start(d) for d in deadlines]
        self.record(at, "deadlines_set", actor, {d.step: d.due_at.isoformat() for d in started}, public=True)
        return started

    def sign_for(self, unit_id: str | None, at: datetime, actor: str) -> CaseEvent:
        """签收: the lead unit takes the dispatched appeal (or takes a redo/supervised one back)."""
        self._require_status({Status.DISPATCHED, Status.REDO, Status.SUPERVISED}, "sign for it")
        self.require_lead(unit_id)
        event = self.move_to(Status.SIGNED, at, actor, "signed", {"unit_id": unit_id},
                             fact=ev.Signed(self.appeal_id, at, unit_id))
        self.handling_clock.stop("sign", at)
        return event

    def contact_citizen(self, unit_id: str | None, note: str, at: datetime, actor: str,
                        how: str = "direct") -> CaseEvent:
        """联系诉求人: the lead unit has contacted the citizen (the note stays internal).

        `how`: "direct" (the unit reached the citizen itself), "relay" (through the dispatch
        centre: the note is the message the centre passes on; the only way to a confidential
        appeal's citizen, whose identity units never see) or "not_possible" (the note says why,
        e.g. anonymous without a number). Each is a recorded contact that lets the unit reply."""
        self._require_status({Status.SIGNED}, "record contact")
        self.require_lead(unit_id)
        if how not in CONTACT_WAYS:
            raise ValidationError(f"how must be one of {', '.join(CONTACT_WAYS)}", field="how")
        if how == "direct" and self.anonymous:
            raise ConflictError("a confidential appeal's citizen is contacted through the dispatch centre "
                                "(how: relay) or not at all (how: not_possible)", field="how", code="confidential")
        note = self._require_text(note, "note", self.MAX_TEXT)
        event = self.move_to(Status.CONTACTED, at, actor, "contacted", {"unit_id": unit_id, "note": note, "how": how},
                             fact=ev.Contacted(self.appeal_id, at, unit_id, how))
        self.handling_clock.stop("contact", at)
        return event

    def reply_to_citizen(self, unit_id: str | None, answer: str, attachments: list[str] | tuple[str, ...],
                         at: datetime, actor: str, min_answer_chars: int = DEFAULT_MIN_ANSWER_CHARS) -> CaseEvent:
        """办结反馈: the lead unit's answer (public reply) with https attachment links.

        Only after a recorded contact (reached, relayed, or why it was not possible), and an
        answer that says what was done: at least the region's `min_answer_chars` characters of
        text (punctuation and spaces not counted)."""
        if self.status == Status.SIGNED or self.status in (Status.REDO, Status.SUPERVISED):
            self.require_lead(unit_id)
            raise ConflictError("record the contact with the citizen first (or why it was not possible)",
                                field="status", code="contact_required")
        self._require_status({s for s in self.HANDLING_STATUSES if Status.REPLIED in TRANSITIONS[s]},
                             "reply")
        self.require_lead(unit_id)
        answer = self._require_text(answer, "answer", self.MAX_TEXT)
        check_answer(answer, min_answer_chars)
        links = check_links(attachments)
        event = self.move_to(Status.REPLIED, at, actor, "replied",
                             {"unit_id": unit_id, "answer": answer, "attachments": links},
                             fact=ev.Replied(self.appeal_id, at, unit_id))
        self.evaluation.reply = Reply(unit_id, answer, tuple(links), at, actor)
        # A reply ends the handling: no contact, reply or redo alert may follow it.
        for step in ("contact", "reply", "redo"):
            self.handling_clock.stop(step, at)
        return event

    def add_unit_note(self, unit_id: str | None, note: str, at: datetime, actor: str) -> CaseEvent:
        """A note on the handling by the lead or an assisting unit (部门联办); status unchanged."""
        self._require_status(self.HANDLING_STATUSES, "add a note")
        if not unit_id or (unit_id != self.assignment.unit_id and unit_id not in self.assignment.assisting_unit_ids):
            raise ConflictError("only the lead or an assisting unit may add notes", field="unit_id",
                                code="not_handling_unit")
        note = self._require_text(note, "note", self.MAX_TEXT)
        role = "lead" if unit_id == self.assignment.unit_id else "assisting"
        return self.record(at, "unit_note", actor, {"unit_id": unit_id, "role": role, "note": note}, public=False)

    def pending_extension(self, step: str = "reply") -> ExtensionRequest | None:
        return self.handling_clock.pending_extension(step)

    def request_extension(self, unit_id: str | None, reason: str, new_due_at: datetime, at: datetime,
                          actor: str, step: str = "reply") -> CaseEvent:
        """延期申请: the lead unit asks for a later due time; status unchanged; one pending at most."""
        self._require_status(self.HANDLING_STATUSES - {Status.DISPATCHED}, "request an extension")
        self.require_lead(unit_id)
        reason = self._require_text(reason, "reason", 2000)
        request = self.handling_clock.request_extension(step, unit_id, reason, new_due_at, at, actor)
        return self.record(at, "extension_requested", actor, {"step": step, **request.to_dict()}, public=False)

    def decide_extension(self, approve: bool, calendar: WorkCalendar, at: datetime, actor: str, reason: str = "",
                         step: str = "reply") -> Deadline | None:
        """Approve (a new deadline version via domain.deadlines.extend) or refuse the pending request.

        Returns the new `Deadline` on approval, None on refusal. The case event carries the
        previous and the new version whole, so the case file keeps every version.
        """
        self.handling_clock.require_pending(step)
        if not approve:
            reason = self._require_text(reason, "reason", 2000)
            request = self.handling_clock.refuse_extension(step)
            self.record(at, "extension_refused", actor, {"step": step, "reason": reason,
                                                         "requested": request.to_dict()}, public=False)
            self._emit(ev.ExtensionDecided(self.appeal_id, at, step, False, request.version))
            return None
        request, new, before = self.handling_clock.approve_extension(step, calendar)
        self.record(at, "extension_approved", actor, {"step": step, "note": reason, "requested": request.to_dict(),
                                                      "previous": before, "deadline": new.to_dict()})
        self._emit(ev.ExtensionDecided(self.appeal_id, at, step, True, new.version))
        return new

    def alert_verdict(self, step: str, version: int, alert: str) -> str:
        """What the sweep does with an alert instant (domain.handling_clock.HandlingClock.alert_verdict):
        only an appeal a unit is handling now gets alerts for running steps."""
        handling = self.status in self.HANDLING_STATUSES and bool(self.assignment.unit_id)
        return self.handling_clock.alert_verdict(step, version, alert, handling)

    def raise_alert(self, step: str, version: int, alert: str, at: datetime, actor: str,
                    data: dict[str, Any] | None = None) -> CaseEvent:
        """预警 / 红色预警 / 发函督办 raised by the sweep for one deadline version (internal event)."""
        self.handling_clock.raise_alert(step, version, alert)
        self._emit(ev.AlertRaised(self.appeal_id, at, step, alert, int(version)))
        return self.record(at, ALERT_KINDS.get(alert, f"alert_{alert}"), actor,
                           {"step": step, "version": int(version), "alert": alert, **(data or {})}, public=False)

    def add_overseers(self, unit_ids: Iterable[str]) -> None:
        """Units copied on a supervision notice (督办函) may open the appeal from their inbox."""
        self.assignment.oversee(unit_ids)

    def instruct(self, text: str, at: datetime, actor: str) -> CaseEvent:
        """点评批示: a leader's comment or instruction on the appeal."""
        if self.status == Status.CLOSED:
            raise ConflictError("a closed appeal takes no instructions", field="status", code="invalid_state")
        text = self._require_text(text, "text", 2000)
        return self.record(at, "leader_instruction", actor, {"text": text}, public=False)

    def follow(self, subject: str, at: datetime, actor: str) -> CaseEvent | None:
        """跟踪关注: the subject's feed gets every later case event (None if already following)."""
        if not subject:
            raise ValidationError("a subject is required", field="subject")
        if subject in self.followers:
            return None
        if len(self.followers) >= self.MAX_FOLLOWERS:
            raise ConflictError(f"at most {self.MAX_FOLLOWERS} followers", field="followers",
                                code="too_many_followers")
        self.followers.append(subject)
        return self.record(at, "followed", actor, {"subject": subject}, public=False)

    def unfollow(self, subject: str, at: datetime, actor: str) -> CaseEvent | None:
        if subject not in self.followers:
            return None
        event = self.record(at, "unfollowed", actor, {"subject": subject}, public=False)
        self.followers.remove(subject)
        return event
