"""The Appeal aggregate (诉求): the one root per appeal, and the case file it appends to.

Its parts with a life of their own are components the root changes and delegates to: the
dispatch record (``assignment``, domain.assignment), the handling clock (``handling_clock``,
domain.handling_clock) and the outcome (``evaluation``, domain.evaluation); the root's handling
steps are written in domain.handling_steps, its return visits (回访) in domain.return_visit. Every
change appends a case-file ``CaseEvent`` (stored) and the typed domain events the pipeline reacts
to (domain.events, not stored). Every status change goes through ``move_to`` and the one
``TRANSITIONS`` table (domain.lifecycle).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from chalicelib.domain import events as ev
from chalicelib.domain.assignment import Assignment
from chalicelib.domain.calendar import WorkCalendar
from chalicelib.domain.deadlines import Deadline, DeadlinePolicy
from chalicelib.domain.errors import ConflictError, ValidationError
# Re-exported: importers take the appeal's vocabulary from this module.
from chalicelib.domain.evaluation import (  # noqa: F401
    DEFAULT_MIN_ANSWER_CHARS, RATING_DIMENSIONS, UNSATISFIED_MAX, Evaluation, answer_length, is_unsatisfied,
    validate_rating,
)
from chalicelib.domain.handling_clock import HandlingClock
from chalicelib.domain.handling_steps import CONTACT_WAYS, HandlingSteps  # noqa: F401
from chalicelib.domain.lifecycle import (  # noqa: F401
    CHANNEL_STATUSES, PUBLIC_STATUS, TRANSITIONS, CaseEvent, Status,
)
from chalicelib.domain.privacy import mask_free_text
from chalicelib.domain.return_visit import ReturnVisits
from chalicelib.domain.values import URGENCY_RANK, AppealType, Location, NewAppeal, Party, Urgency  # noqa: F401


def _require_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", field="reason")
    if len(reason) > 2000:
        raise ValidationError("the reason is longer than 2000 characters", field="reason")


# Field metadata: a component is stored flat among the root's fields; a transient one not at all.
COMPONENT = {"component": True}
TRANSIENT = {"transient": True}


@dataclass
class Appeal(HandlingSteps, ReturnVisits):
    """The aggregate root. State changes go through methods that append case and domain events."""

    appeal_id: str
    region: str
    channel: str
    ticket_id: str
    appeal_type: AppealType
    urgency: Urgency
    title: str
    content: str
    location: Location
    attachments: tuple[str, ...]
    reported_at: datetime
    received_at: datetime
    status: Status = Status.RECEIVED
    anonymous: bool = False
    has_party: bool = False
    master_id: str | None = None
    street_code: str | None = None
    district_code: str | None = None
    weight: int = 1            # reports of this event, the master's own included (F-DD-2)
    duplicates: list[str] = field(default_factory=list)       # appeals joined to this master
    reporter_hashes: list[str] = field(default_factory=list)  # keyed hashes: distinct people, no PII
    channels: list[str] = field(default_factory=list)
    last_report_at: datetime | None = None
    key: bool = False                   # 重点办
    key_reason: str = ""
    consultation: dict[str, Any] = field(default_factory=dict)   # 会商
    followers: list[str] = field(default_factory=list)          # leaders following (跟踪关注)
    # Who handles it (F-DS), against which clock (F-HD), with what outcome (F-EV).
    assignment: Assignment = field(default_factory=Assignment, metadata=COMPONENT)
    handling_clock: HandlingClock = field(default_factory=HandlingClock, metadata=COMPONENT)
    evaluation: Evaluation = field(default_factory=Evaluation, metadata=COMPONENT)
    version: int = 0           # optimistic-lock counter, bumped on every save
    last_seq: int = 0          # number of case events stored so far
    notice_base: int = 0       # status notices are numbered after this (raised on a split, see notice_seq)
    public_changed_at: datetime | None = None   # newest public case event (Open311 updated_datetime)
    channel_meta: dict[str, Any] = field(default_factory=dict)
    tracking_salt: str = ""    # the citizen's tracking link is made from it (services/tracking.py)
    new_events: list[CaseEvent] = field(default_factory=list, repr=False, metadata=TRANSIENT)
    domain_events: list[ev.DomainEvent] = field(default_factory=list, repr=False, metadata=TRANSIENT)

    @classmethod
    def take_in(cls, cmd: NewAppeal, appeal_id: str, region: str, now: datetime) -> "Appeal":
        """受理: create the appeal from an intake command and record the first case event."""
        appeal = cls(
            appeal_id=appeal_id,
            region=region,
            channel=cmd.channel,
            ticket_id=cmd.ticket_id,
            appeal_type=cmd.appeal_type,
            urgency=cmd.urgency,
            title=cmd.title,
            content=cmd.content,
            location=cmd.location,
            attachments=cmd.attachments,
            reported_at=cmd.reported_at,
            received_at=now,
            anonymous=cmd.anonymous,
            has_party=not cmd.party.is_empty(),
            channel_meta=dict(cmd.channel_meta),
            channels=[cmd.channel],
            last_report_at=now,
        )
        appeal.record(now, "accepted", f"channel:{cmd.channel}", {"ticket_id": cmd.ticket_id})
        appeal._emit(ev.AppealReceived(appeal_id, now, cmd.channel, cmd.appeal_type.value, cmd.urgency.value,
                                       appeal.district_code))
        return appeal

    def record(self, at: datetime, kind: str, actor: str, data: dict[str, Any] | None = None,
               public: bool = True) -> CaseEvent:
        """Append a case event; it is stored in the same transaction as the new state."""
        self.last_seq += 1
        event = CaseEvent(self.last_seq, at, kind, actor, dict(data or {}), public)
        if public and (self.public_changed_at is None or at > self.public_changed_at):
            self.public_changed_at = at
        self.new_events.append(event)
        return event

    def _emit(self, event: ev.DomainEvent) -> None:
        self.domain_events.append(event)

    def pull_events(self) -> list[CaseEvent]:
        events, self.new_events = self.new_events, []
        return events

    def pull_domain_events(self) -> list[ev.DomainEvent]:
        """The domain events recorded since the last pull, oldest first (and forget them)."""
        events, self.domain_events = self.domain_events, []
        return events

    def _check_move(self, target: Status, doing: str | None = None) -> None:
        if target not in TRANSITIONS[self.status]:
            message = f"cannot {doing} an appeal that is {self.status.value}" if doing \
                else f"cannot go from {self.status.value} to {target.value}"
            raise ConflictError(message, field="status", code="invalid_state")

    def move_to(self, target: Status, at: datetime, actor: str, kind: str, data: dict[str, Any] | None = None,
                public: bool = True, doing: str | None = None, fact: ev.DomainEvent | None = None) -> CaseEvent:
        """The one place status changes: if the transition table allows it (else a 409 naming the
        current state), with its case event, the domain event ``fact`` and, when the public
        status changes, one PublicStatusChanged."""
        self._check_move(target, doing)
        before = self.public_status()
        self.status = target
        event = self.record(at, kind, actor, data, public)
        if fact is not None:
            self._emit(fact)
        after = self.public_status()
        if after != before:
            self._emit(ev.PublicStatusChanged(self.appeal_id, at, before, after))
        return event

    def public_status(self) -> str:
        """The status a channel or citizen sees (F-IN-3, F-AR-2)."""
        return PUBLIC_STATUS[self.status]

    # --- de-duplication (F-DD) ---------------------------------------------------------------
    def join_master(self, master_id: str, at: datetime, actor: str, decision: dict[str, Any]) -> CaseEvent:
        """F-DD-1: a duplicate joins its master instead of being handled again."""
        if master_id == self.appeal_id:
            raise ConflictError("an appeal cannot join itself", field="master_id")
        event = self.move_to(Status.JOINED, at, actor, "joined_master", {"master_id": master_id, **decision},
                             fact=ev.JoinedMaster(self.appeal_id, at, master_id))
        self.master_id = master_id
        return event

    def absorb(self, dup: "Appeal", reporter_hash: str | None, at: datetime, actor: str,
               decision: dict[str, Any]) -> CaseEvent:
        """F-DD-2: the master's weight rises with every report joined to it."""
        if dup.appeal_id not in self.duplicates:
            self.duplicates.append(dup.appeal_id)
            self.weight += 1
        if reporter_hash and reporter_hash not in self.reporter_hashes:
            self.reporter_hashes.append(reporter_hash)
        if dup.channel not in self.channels:
            self.channels.append(dup.channel)
        if self.last_report_at is None or dup.received_at > self.last_report_at:
            self.last_report_at = dup.received_at
        self._emit(ev.DuplicateAbsorbed(self.appeal_id, at, dup.appeal_id, self.weight))
        return self.record(at, "duplicate_joined", actor, {"duplicate_id": dup.appeal_id, **decision})

    def locate(self, district_code: str | None, street_code: str | None) -> None:
        """Where the appeal is about, as dispatch resolved it (district and street codes)."""
        self.district_code, self.street_code = district_code, street_code

    def change_master(self, master_id: str, at: datetime, actor: str, reason: str) -> CaseEvent:
        """A merge by hand moved this duplicate's group under another master: it stays JOINED,
        only its master changes (a JoinedMaster of the new master, for its channel to hear)."""
        if self.status != Status.JOINED or not self.master_id:
            raise ConflictError(f"appeal is {self.status.value}, not joined", field="status", code="invalid_state")
        former, self.master_id = self.master_id, master_id
        self._emit(ev.JoinedMaster(self.appeal_id, at, master_id))
        return self.record(at, "master_changed", actor, {"former_master_id": former, "master_id": master_id,
                                                         "reason": reason})

    def hand_over_duplicates(self, master_id: str, at: datetime, actor: str, reason: str) -> list[str]:
        """A master merged into another gives its duplicates over (they change master) and counts
        as one report again; returns the ids handed over."""
        moved, self.duplicates, self.weight = list(self.duplicates), [], 1
        if moved:
            self.record(at, "duplicates_moved", actor, {"master_id": master_id, "reason": reason,
                                                        "duplicate_ids": moved})
        return moved

    def add_reporters(self, hashes: Iterable[str]) -> None:
        """Distinct people (keyed hashes, no personal data) who reported this event."""
        for h in hashes:
            if h and h not in self.reporter_hashes:
                self.reporter_hashes.append(h)

    def outranked_by(self, urgency: Urgency | str) -> bool:
        """Whether ``urgency`` is higher than this appeal's (急件 > 即办件 > 普通)."""
        return URGENCY_RANK[Urgency(urgency)] > URGENCY_RANK[self.urgency]

    def raise_urgency(self, urgency: Urgency | str, at: datetime, actor: str, reason: str,
                      policy: DeadlinePolicy | None = None, calendar: WorkCalendar | None = None) -> list[Deadline]:
        """Take ``urgency`` if it is higher; recompute the steps not yet done for it.

        Each running deadline is recomputed from its start with the region's limits for the new
        urgency (``policy``/``calendar``, needed only when deadlines run) and, when that makes it
        due earlier, replaced by the new version, as an approved extension replaces one: the
        step's raised alerts are dropped so the new version raises its own, a pending extension
        request stays. A raised urgency never gives a step more time. Returns the new Deadlines.
        """
        if not self.outranked_by(urgency):
            return []
        previous, self.urgency = self.urgency, Urgency(urgency)
        self.record(at, "urgency_raised", actor, {"from": previous.value, "to": self.urgency.value,
                                                  "reason": reason}, public=False)
        self._emit(ev.UrgencyRaised(self.appeal_id, at, previous.value, self.urgency.value))
        new: list[Deadline] = []
        for fresh, before in self.handling_clock.tighten(policy, calendar, self.appeal_type.value,
                                                         self.urgency.value):
            self.record(at, "deadline_recomputed", actor, {"step": fresh.step, "urgency": self.urgency.value,
                                                           "reason": reason, "previous": before,
                                                           "deadline": fresh.to_dict()}, public=False)
            new.append(fresh)
        return new

    def release(self, dup_id: str, at: datetime, actor: str, reason: str) -> CaseEvent:
        """F-DD-3: a wrongly joined appeal is split back out of this master."""
        if dup_id not in self.duplicates:
            raise ConflictError(f"{dup_id} is not joined to this appeal", field="duplicate_id", code="not_joined")
        self.duplicates.remove(dup_id)
        self.weight -= 1
        self._emit(ev.Released(self.appeal_id, at, dup_id))
        return self.record(at, "duplicate_split", actor, {"duplicate_id": dup_id, "reason": reason})

    def notice_seq(self) -> int:
        """The sequence number of a status notice this appeal's change causes (F-IN-3): its case
        file's newest seq, after `notice_base`. A duplicate hears its master's changes numbered
        by the master's seq, so each partner sees one increasing sequence per ticket."""
        return self.notice_base + self.last_seq

    def split_from_master(self, at: datetime, actor: str, reason: str,
                          master_notice_seq: int = 0) -> CaseEvent:
        """F-DD-3: the counterpart of `release`; the appeal goes on to dispatch on its own.

        `master_notice_seq`: the master's newest notice number; this appeal's own notices go on
        after it, so its partner's sequence keeps increasing."""
        if self.status != Status.JOINED or not self.master_id:
            raise ConflictError(f"appeal is {self.status.value}, not joined", field="status", code="invalid_state")
        self.notice_base = max(self.notice_base, master_notice_seq)
        old = self.master_id
        self.master_id = None
        return self.move_to(Status.PENDING_DISPATCH, at, actor, "split_from_master",
                            {"former_master_id": old, "reason": reason}, fact=ev.Split(self.appeal_id, at, old))

    @property
    def distinct_reporters(self) -> int:
        return max(1, len(self.reporter_hashes))

    # --- dispatch (F-DS) ---------------------------------------------------------------------
    def dispatch_to(self, unit_id: str, catalog_code: str | None, catalog_version: str | None, loop: str,
                    at: datetime, actor: str, how: str, data: dict[str, Any] | None = None,
                    first_handler: bool = False) -> CaseEvent:
        """派单: send to one responsible unit (auto, manual, arbitration, leader, assignment).
        ``first_handler``: the unit is named first-handler responsible (首办负责) and may not return it."""
        if not unit_id:
            raise ValidationError("a unit is required", field="unit_id")
        data = dict(data or {})
        event = self.move_to(Status.DISPATCHED, at, actor, "dispatched",
                             {"unit_id": unit_id, "catalog_code": catalog_code, "catalog_version": catalog_version,
                              "how": how, **data}, doing="dispatch",
                             fact=ev.Dispatched(self.appeal_id, at, unit_id, catalog_code, catalog_version, loop, how))
        if first_handler:
            self.assignment.first_handler_locked = True
        self.assignment.assign(unit_id, catalog_code, catalog_version, loop, how, at, data)
        return event

    def queue_for_dispatcher(self, loop: str, at: datetime, actor: str, reason: str,
                             data: dict[str, Any] | None = None) -> CaseEvent:
        """Low confidence, no location, a return or an escalation: the dispatcher's manual queue."""
        data = dict(data or {})
        event = self.move_to(Status.PENDING_DISPATCH, at, actor, "queued_for_dispatcher",
                             {"reason": reason, "loop": loop, **data}, public=False, doing="queue",
                             fact=ev.QueuedForDispatcher(self.appeal_id, at, loop, reason))
        self.assignment.unassign(loop, reason, data)
        return event

    def require_lead(self, unit_id: str | None) -> None:
        if not self.assignment.is_lead(unit_id):
            raise ConflictError("only the lead unit may do this", field="unit_id", code="not_lead_unit")

    def return_by_unit(self, unit_id: str, reason: str, at: datetime, actor: str, within: timedelta) -> CaseEvent:
        """退单: not our duty. Allowed within a time limit; the second return makes it disputed."""
        self.require_lead(unit_id)
        _require_reason(reason)
        if self.assignment.first_handler_locked:
            raise ConflictError("arbitration named this unit first-handler responsible; it cannot be returned",
                                field="unit_id", code="first_handler_responsible")
        if self.status not in (Status.DISPATCHED, Status.SIGNED):
            raise ConflictError(f"cannot return an appeal that is {self.status.value}", field="status",
                                code="invalid_state")
        dispatched_at = self.assignment.dispatched_at() or self.received_at
        if at - dispatched_at > within:
            raise ConflictError(f"the return window of {within} has passed", field="reason", code="return_too_late")
        self.assignment.return_count += 1
        disputed = self.assignment.return_count >= 2
        self.record(at, "returned", actor, {"unit_id": unit_id, "reason": reason, "disputed": disputed},
                    public=False)
        self._emit(ev.Returned(self.appeal_id, at, unit_id, disputed))
        return self.queue_for_dispatcher(self.assignment.loop or "", at, actor,
                                         "disputed: needs arbitration" if disputed else "returned by unit",
                                         {"returned_by": unit_id, "disputed": disputed})

    @property
    def disputed(self) -> bool:
        return self.assignment.disputed

    def escalate(self, to_loop: str, at: datetime, actor: str, reason: str) -> CaseEvent:
        """吹哨/提级办理: the lead unit cannot solve it at its level; the dispatchers of ``to_loop``
        (the level above) take it."""
        unit_id = self.assignment.unit_id
        if not unit_id:
            raise ConflictError(f"only an appeal a unit handles is escalated (it is {self.status.value})",
                                field="status", code="invalid_state")
        self._check_move(Status.PENDING_DISPATCH, "queue")
        self.record(at, "escalated", actor, {"from_unit_id": unit_id, "from_loop": self.assignment.loop,
                                             "to_loop": to_loop, "reason": reason}, public=False)
        self._emit(ev.Escalated(self.appeal_id, at, unit_id, to_loop))
        return self.queue_for_dispatcher(to_loop, at, actor, "escalated by unit", {"escalated_from": unit_id})

    def arbitrate(self, unit_id: str, catalog_code: str, catalog_version: str | None, loop: str, at: datetime,
                  actor: str, reason: str) -> CaseEvent:
        """快速裁定: a final decision; the named unit is first-handler responsible (首办负责)."""
        _require_reason(reason)
        if self.status != Status.PENDING_DISPATCH:
            raise ConflictError(f"only a queued appeal can be arbitrated (it is {self.status.value})",
                                field="status", code="invalid_state")
        return self.dispatch_to(unit_id, catalog_code, catalog_version, loop, at, actor, "arbitration",
                                {"reason": reason, "final": True}, first_handler=True)

    def set_joint(self, lead: str, assisting: list[str], at: datetime, actor: str) -> CaseEvent:
        """部门联办: one lead unit and assisting units; only the lead replies."""
        if self.status not in (Status.DISPATCHED, Status.SIGNED, Status.CONTACTED):
            raise ConflictError(f"joint handling needs a dispatched appeal (it is {self.status.value})",
                                field="status", code="invalid_state")
        self.require_lead(lead)
        clean = sorted({u for u in assisting if u and u != lead})
        if not clean:
            raise ValidationError("name at least one assisting unit other than the lead", field="assisting_unit_ids")
        self.assignment.assisting_unit_ids = clean
        return self.record(at, "joint_handling", actor, {"lead_unit_id": lead, "assisting_unit_ids": clean})

    def key_reasons(self, min_reports: int, urgent_is_key: bool) -> list[str]:
        """Why this appeal is key work (重点办) by the region's rule: urgent work (when the region
        counts it), or an event at least ``min_reports`` people reported."""
        reasons = []
        if urgent_is_key and self.urgency == Urgency.URGENT:
            reasons.append("urgent (急件)")
        if self.weight >= min_reports:
            reasons.append(f"{self.weight} reports of the same event")
        return reasons

    def flag_key(self, reason: str, at: datetime, actor: str) -> CaseEvent:
        """重点办: flagged by rule or by hand; goes to the leaders' queue."""
        _require_reason(reason)
        if self.status == Status.CLOSED:
            raise ConflictError("a closed appeal cannot be flagged", field="status", code="invalid_state")
        self.key, self.key_reason = True, reason
        self._emit(ev.KeyFlagged(self.appeal_id, at, reason))
        return self.record(at, "flagged_key", actor, {"reason": reason}, public=False)

    def open_consultation(self, level: int, units: list[str], at: datetime, actor: str, topic: str) -> CaseEvent:
        """会商 at level 1 (unit), 2 (district) or 3 (city) with participant units."""
        if level not in (1, 2, 3):
            raise ValidationError("consultation level is 1, 2 or 3", field="level")
        if len(set(units)) < 2:
            raise ValidationError("a consultation needs at least two participant units", field="units")
        if self.consultation.get("open"):
            raise ConflictError("a consultation is already open", field="consultation", code="consultation_open")
        if self.status == Status.CLOSED:
            raise ConflictError("a closed appeal cannot be consulted on", field="status", code="invalid_state")
        self.consultation = {"open": True, "level": level, "units": sorted(set(units)), "topic": topic}
        return self.record(at, "consultation_opened", actor, dict(self.consultation), public=False)

    def close_consultation(self, minutes: str, lead: str, assisting: list[str], at: datetime, actor: str) -> dict:
        """The minutes name the lead unit (the caller dispatches to it) and the assisting units,
        who assist from now on."""
        if not self.consultation.get("open"):
            raise ConflictError("no consultation is open", field="consultation", code="no_consultation")
        if not minutes.strip():
            raise ValidationError("minutes are required", field="minutes")
        self.consultation = {**self.consultation, "open": False, "minutes": minutes, "lead_unit_id": lead,
                             "assisting_unit_ids": sorted(set(assisting) - {lead})}
        self.record(at, "consultation_closed", actor, {"minutes": minutes, "lead_unit_id": lead,
                                                       "assisting_unit_ids": self.consultation["assisting_unit_ids"]},
                    public=False)
        if self.consultation["assisting_unit_ids"]:
            self.assignment.assisting_unit_ids = list(self.consultation["assisting_unit_ids"])
        return self.consultation

    # --- the stored and shown form ----------------------------------------------------------------
    def flat_fields(self) -> dict[str, Any]:
        """The aggregate as stored and shown: the components' fields flat among the root's (the
        JSON shape of every stored appeal), the new events left out. Values are shared, not copied."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.metadata.get("transient"):
                continue
            if f.metadata.get("component"):
                out.update(getattr(self, f.name).to_fields())
            else:
                out[f.name] = getattr(self, f.name)
        return out

    @classmethod
    def from_fields(cls, values: Mapping[str, Any]) -> "Appeal":
        """The aggregate from its `flat_fields`; names it has no field for are ignored (a newer
        version may have written them)."""
        own = {f.name for f in dataclasses.fields(cls)
               if not f.metadata.get("component") and not f.metadata.get("transient")}
        return cls(**{k: v for k, v in values.items() if k in own}, assignment=Assignment.from_fields(values),
                   handling_clock=HandlingClock.from_fields(values), evaluation=Evaluation.from_fields(values))

    def to_dict(self) -> dict[str, Any]:
        """`flat_fields`, copied, with the location as a dict (staff views)."""
        d = copy.deepcopy(self.flat_fields())
        d["location"] = dataclasses.asdict(self.location)
        return d

    # --- evaluation (F-EV) ---------------------------------------------------------------------
    def record_rating(self, scores: dict[str, int], comment: str, at: datetime, actor: str,
                      round_: int = 0) -> CaseEvent:
        """The citizen of this appeal rates the outcome: once per handling round (a redo opens a new one)."""
        comment = mask_free_text(comment[:500])  # phones and ID numbers typed into it are masked
        rating = self.evaluation.rate(scores, comment, at, round_)
        self._emit(ev.Rated(self.appeal_id, at, dict(scores), rating.unsatisfied, round_))
        return self.record(at, "rated", actor, {**scores, "comment": comment, "round": round_,
                                                "unsatisfied": rating.unsatisfied})

    def conclude(self, unsatisfied: bool, at: datetime, actor: str, reason: str) -> Status:
        """After a rating: close, send back to redo (重办), or, when a redo did not satisfy,
        special supervision (专项督办)."""
        self._require_status({Status.REPLIED}, "conclude the handling")
        if not unsatisfied:
            self.move_to(Status.CLOSED, at, actor, "closed", {"reason": reason},
                         fact=ev.Closed(self.appeal_id, at, reason))
        elif self.evaluation.redo_count == 0:
            self.evaluation.redo_count += 1
            self.move_to(Status.REDO, at, actor, "sent_back_for_redo", {"reason": reason},
                         fact=ev.Redone(self.appeal_id, at, self.evaluation.redo_count))
        else:
            self.move_to(Status.SUPERVISED, at, actor, "special_supervision", {"reason": reason},
                         fact=ev.Supervised(self.appeal_id, at))
        return self.status
