"""The Appeal aggregate (诉求): its value types, states, and the case file it appends to."""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.errors import ConflictError, ValidationError
from chalicelib.domain.privacy import mask_free_text


class AppealType(str, enum.Enum):
    """F-IN-4 appeal types."""

    CONSULTATION = "咨询"
    HELP = "求助"
    COMPLAINT = "投诉"
    REPORT = "举报"
    SUGGESTION = "建议"


class Urgency(str, enum.Enum):
    """F-IN-4 urgency: 急件, 即办件, 普通."""

    URGENT = "急件"
    IMMEDIATE = "即办件"
    NORMAL = "普通"


# How urgent, lowest first: a master takes the highest urgency of its reports (F-DD-2).
URGENCY_RANK: dict[Urgency, int] = {Urgency.NORMAL: 0, Urgency.IMMEDIATE: 1, Urgency.URGENT: 2}


class Status(str, enum.Enum):
    """Lifecycle of an appeal; every change is a case-file event."""

    RECEIVED = "received"            # taken in, waiting for de-duplication
    JOINED = "joined"                # a duplicate joined to its master (F-DD-1)
    PENDING_DISPATCH = "pending_dispatch"  # in the dispatcher's manual queue
    DISPATCHED = "dispatched"        # sent to a unit, not yet signed for
    SIGNED = "signed"                # 签收
    CONTACTED = "contacted"          # citizen contacted
    REPLIED = "replied"              # 办结反馈, waiting for the citizen's rating
    REDO = "redo"                    # 重办 after a bad rating
    SUPERVISED = "supervised"        # 专项督办
    CLOSED = "closed"                # rated or closed by rule; archived


# Statuses the citizen's channel hears about (F-IN-3) and the public view shows.
CHANNEL_STATUSES = {"accepted", "dispatched", "replied", "closed"}

# Which statuses each state may move to. One table, so every transition is checked the same way.
TRANSITIONS: dict[Status, set[Status]] = {
    Status.RECEIVED: {Status.JOINED, Status.PENDING_DISPATCH, Status.DISPATCHED},
    Status.JOINED: {Status.PENDING_DISPATCH, Status.DISPATCHED, Status.CLOSED},
    Status.PENDING_DISPATCH: {Status.DISPATCHED, Status.JOINED},
    Status.DISPATCHED: {Status.SIGNED, Status.PENDING_DISPATCH, Status.DISPATCHED, Status.JOINED},
    # A reply needs a recorded contact (F-HD-1: sign, contact, handle, reply), reached or not.
    Status.SIGNED: {Status.CONTACTED, Status.PENDING_DISPATCH, Status.DISPATCHED},
    Status.CONTACTED: {Status.REPLIED, Status.DISPATCHED},
    Status.REPLIED: {Status.CLOSED, Status.REDO, Status.SUPERVISED},
    Status.REDO: {Status.SIGNED},
    Status.SUPERVISED: {Status.SIGNED, Status.CLOSED},
    Status.CLOSED: set(),
}


@dataclass(frozen=True)
class Location:
    """Where the event happened: free address text, optional WGS-84 point and grid code."""

    address: str = ""
    lat: float | None = None
    lng: float | None = None
    grid_code: str | None = None

    def __post_init__(self) -> None:
        if self.lat is not None and not -90 <= self.lat <= 90:
            raise ValidationError("latitude must be within -90..90", field="lat")
        if self.lng is not None and not -180 <= self.lng <= 180:
            raise ValidationError("longitude must be within -180..180", field="lng")
        if (self.lat is None) != (self.lng is None):
            raise ValidationError("latitude and longitude come together", field="lat" if self.lat is None else "lng")


@dataclass(frozen=True)
class Party:
    """The citizen behind an appeal. Personal data: never logged, stored only encrypted."""

    name: str = ""
    id_number: str = ""
    phone: str = ""

    def is_empty(self) -> bool:
        return not (self.name or self.id_number or self.phone)


@dataclass(frozen=True)
class NewAppeal:
    """An appeal as mapped from any channel's payload (统一数据): the intake command."""

    channel: str
    ticket_id: str
    appeal_type: AppealType
    urgency: Urgency
    content: str
    reported_at: datetime
    title: str = ""
    location: Location = field(default_factory=Location)
    party: Party = field(default_factory=Party)
    attachments: tuple[str, ...] = ()
    anonymous: bool = False
    # Channel-specific, non-personal facts kept for the case file (e.g. hotline operator id).
    channel_meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.ticket_id or len(self.ticket_id) > 128:
            raise ValidationError("ticket id is required (at most 128 characters)", field="ticket_id")
        if not self.content or not self.content.strip():
            raise ValidationError("the appeal's content is required", field="content")
        if len(self.content) > 5000:
            raise ValidationError("content is longer than 5000 characters", field="content")
        if self.reported_at.tzinfo is None:
            raise ValidationError("timestamps need a timezone offset", field="reported_at")
        if len(self.attachments) > 20:
            raise ValidationError("at most 20 attachments", field="attachments")


RATING_DIMENSIONS = ("speed", "effect", "service", "reply_quality")  # 处置速度 处置效果 服务体验 反馈质量
UNSATISFIED_MAX = 2  # a score of 1 or 2 (of 5) is unsatisfied
DEFAULT_MIN_ANSWER_CHARS = 15  # a reply shorter than this says nothing of what was done (policy: handling)
CONTACT_WAYS = ("direct", "relay", "not_possible")


def answer_length(text: str) -> int:
    """Characters of an answer that carry words: letters, digits and CJK, not punctuation or spaces."""
    return sum(1 for ch in text if ch.isalnum())


def validate_rating(scores: dict[str, Any]) -> dict[str, int]:
    """F-EV-1: four dimensions, each a whole number 1..5."""
    out = {}
    for dim in RATING_DIMENSIONS:
        value = scores.get(dim)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise ValidationError(f"{dim} must be a whole number from 1 to 5", field=dim)
        out[dim] = value
    return out


def is_unsatisfied(scores: dict[str, int]) -> bool:
    """F-EV-2: a bad rating of the effect or of the reply's quality sends the work back."""
    return scores["effect"] <= UNSATISFIED_MAX or scores["reply_quality"] <= UNSATISFIED_MAX


def _require_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", field="reason")
    if len(reason) > 2000:
        raise ValidationError("the reason is longer than 2000 characters", field="reason")


@dataclass(frozen=True)
class CaseEvent:
    """One entry of the case file (卷宗, F-AR-1): who did what, when, and why."""

    seq: int
    at: datetime
    kind: str
    actor: str
    data: dict[str, Any] = field(default_factory=dict)
    public: bool = True  # shown on the citizen's progress view (全流程可视)


@dataclass
class Appeal:
    """The aggregate. State changes go through methods that append case events."""

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
    unit_id: str | None = None
    catalog_code: str | None = None
    catalog_version: str | None = None
    street_code: str | None = None
    district_code: str | None = None
    weight: int = 1            # reports of this event, the master's own included (F-DD-2)
    duplicates: list[str] = field(default_factory=list)       # appeals joined to this master
    reporter_hashes: list[str] = field(default_factory=list)  # keyed hashes: distinct people, no PII
    channels: list[str] = field(default_factory=list)
    last_report_at: datetime | None = None
    # Dispatch (F-DS): who handles it, in which loop, and how it got there.
    assisting_unit_ids: list[str] = field(default_factory=list)   # 部门联办: assisting units
    overseeing_unit_ids: list[str] = field(default_factory=list)  # copied on a 督办函: may follow it
    loop: str | None = None            # district code for a district loop, the city code for the big loop
    dispatch_info: dict[str, Any] = field(default_factory=dict)  # last decision: how, confidence, suggestions
    return_count: int = 0
    first_handler_locked: bool = False  # 首办负责: after arbitration the named unit may not return it
    key: bool = False                   # 重点办
    key_reason: str = ""
    consultation: dict[str, Any] = field(default_factory=dict)   # 会商
    # Handling against the clock (F-HD).
    deadlines: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> Deadline.to_dict()
    reply: dict[str, Any] = field(default_factory=dict)
    followers: list[str] = field(default_factory=list)          # leaders following (跟踪关注)
    alerts: list[str] = field(default_factory=list)             # raised alerts, e.g. "reply:warning"
    # Evaluation (F-EV): this citizen's rating, and how often the unit had to redo the work.
    rating: dict[str, Any] = field(default_factory=dict)
    redo_count: int = 0
    version: int = 0           # optimistic-lock counter, bumped on every save
    last_seq: int = 0          # number of case events stored so far
    notice_base: int = 0       # status notices are numbered after this (raised on a split, see notice_seq)
    public_changed_at: datetime | None = None   # newest public case event (Open311 updated_datetime)
    channel_meta: dict[str, Any] = field(default_factory=dict)
    new_events: list[CaseEvent] = field(default_factory=list, repr=False)

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

    def move_to(self, target: Status, at: datetime, actor: str, kind: str,
                data: dict[str, Any] | None = None) -> CaseEvent:
        """Change status if the transition table allows it, else a 409 naming the current state."""
        if target not in TRANSITIONS[self.status]:
            raise ConflictError(
                f"cannot go from {self.status.value} to {target.value}", field="status",
                code="invalid_state")
        self.status = target
        return self.record(at, kind, actor, data)

    def join_master(self, master_id: str, at: datetime, actor: str, decision: dict[str, Any]) -> CaseEvent:
        """F-DD-1: a duplicate joins its master instead of being handled again."""
        if master_id == self.appeal_id:
            raise ConflictError("an appeal cannot join itself", field="master_id")
        event = self.move_to(Status.JOINED, at, actor, "joined_master", {"master_id": master_id, **decision})
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
        return self.record(at, "duplicate_joined", actor, {"duplicate_id": dup.appeal_id, **decision})

    def outranked_by(self, urgency: Urgency | str) -> bool:
        """Whether ``urgency`` is higher than this appeal's (急件 > 即办件 > 普通)."""
        return URGENCY_RANK[Urgency(urgency)] > URGENCY_RANK[self.urgency]

    def raise_urgency(self, urgency: Urgency | str, at: datetime, actor: str, reason: str,
                      policy: Any = None, calendar: Any = None) -> list[Any]:
        """Take ``urgency`` if it is higher; recompute the steps not yet done for it.

        Each running deadline is recomputed from its start with the region's limits for the new
        urgency (``policy``/``calendar``, needed only when deadlines run) and, when that makes it
        due earlier, replaced by the new version, as an approved extension replaces one: the
        step's raised alerts are dropped so the new version raises its own, a pending extension
        request stays. A raised urgency never gives a step more time. Returns the new Deadlines.
        """
        from chalicelib.domain.deadlines import Deadline, recompute

        if not self.outranked_by(urgency):
            return []
        previous, self.urgency = self.urgency, Urgency(urgency)
        self.record(at, "urgency_raised", actor, {"from": previous.value, "to": self.urgency.value,
                                                  "reason": reason}, public=False)
        running = [step for step, d in self.deadlines.items() if not d.get("done_at")]
        if running and (policy is None or calendar is None):
            raise ValueError("running deadlines need the region's deadline policy and calendar")
        new: list[Any] = []
        for step in running:
            current = self.deadlines[step]
            old = Deadline.from_dict(current)
            fresh = recompute(old, policy, calendar, self.appeal_type.value, self.urgency.value)
            if fresh.due_at >= old.due_at:
                continue
            before = {k: v for k, v in current.items() if k != "pending_extension"}
            self.deadlines[step] = fresh.to_dict()
            if current.get("pending_extension"):
                self.deadlines[step]["pending_extension"] = current["pending_extension"]
            self.alerts = [a for a in self.alerts if not a.startswith(f"{step}:")]
            self.record(at, "deadline_recomputed", actor, {"step": step, "urgency": self.urgency.value,
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
                            {"former_master_id": old, "reason": reason})

    @property
    def distinct_reporters(self) -> int:
        return max(1, len(self.reporter_hashes))

    # --- dispatch (F-DS) ---------------------------------------------------------------------
    def dispatch_to(self, unit_id: str, catalog_code: str, catalog_version: str | None, loop: str, at: datetime,
                    actor: str, how: str, data: dict[str, Any] | None = None) -> CaseEvent:
        """派单: send to one responsible unit (auto, manual, arbitration, leader, assignment)."""
        if not unit_id:
            raise ValidationError("a unit is required", field="unit_id")
        allowed = {Status.RECEIVED, Status.PENDING_DISPATCH, Status.DISPATCHED, Status.SIGNED}
        if self.status not in allowed:
            raise ConflictError(f"cannot dispatch an appeal that is {self.status.value}", field="status",
                                code="invalid_state")
        self.status = Status.DISPATCHED
        self.unit_id, self.catalog_code, self.catalog_version, self.loop = unit_id, catalog_code, catalog_version, loop
        self.dispatch_info = {"how": how, "at": at.isoformat(), **(data or {})}
        self.assisting_unit_ids = [u for u in self.assisting_unit_ids if u != unit_id]
        return self.record(at, "dispatched", actor, {"unit_id": unit_id, "catalog_code": catalog_code,
                                                     "catalog_version": catalog_version, "how": how, **(data or {})})

    def queue_for_dispatcher(self, loop: str, at: datetime, actor: str, reason: str,
                             data: dict[str, Any] | None = None) -> CaseEvent:
        """Low confidence, no location, a return or an escalation: the dispatcher's manual queue."""
        if self.status not in (Status.RECEIVED, Status.PENDING_DISPATCH, Status.DISPATCHED, Status.SIGNED):
            raise ConflictError(f"cannot queue an appeal that is {self.status.value}", field="status",
                                code="invalid_state")
        self.status = Status.PENDING_DISPATCH
        self.loop = loop
        self.unit_id = None
        self.dispatch_info = {"how": "manual_queue", "reason": reason, **(data or {})}
        return self.record(at, "queued_for_dispatcher", actor, {"reason": reason, "loop": loop, **(data or {})},
                           public=False)

    def require_lead(self, unit_id: str | None) -> None:
        if not unit_id or unit_id != self.unit_id:
            raise ConflictError("only the lead unit may do this", field="unit_id", code="not_lead_unit")

    def return_by_unit(self, unit_id: str, reason: str, at: datetime, actor: str, within: timedelta) -> CaseEvent:
        """退单: not our duty. Allowed within a time limit; the second return makes it disputed."""
        self.require_lead(unit_id)
        _require_reason(reason)
        if self.first_handler_locked:
            raise ConflictError("arbitration named this unit first-handler responsible; it cannot be returned",
                                field="unit_id", code="first_handler_responsible")
        if self.status not in (Status.DISPATCHED, Status.SIGNED):
            raise ConflictError(f"cannot return an appeal that is {self.status.value}", field="status",
                                code="invalid_state")
        dispatched_at = self._dispatched_at() or self.received_at
        if at - dispatched_at > within:
            raise ConflictError(f"the return window of {within} has passed", field="reason", code="return_too_late")
        self.return_count += 1
        disputed = self.return_count >= 2
        self.record(at, "returned", actor, {"unit_id": unit_id, "reason": reason, "disputed": disputed},
                    public=False)
        return self.queue_for_dispatcher(self.loop or "", at, actor,
                                         "disputed: needs arbitration" if disputed else "returned by unit",
                                         {"returned_by": unit_id, "disputed": disputed})

    @property
    def disputed(self) -> bool:
        return self.return_count >= 2 and not self.first_handler_locked

    def arbitrate(self, unit_id: str, catalog_code: str, catalog_version: str | None, loop: str, at: datetime,
                  actor: str, reason: str) -> CaseEvent:
        """快速裁定: a final decision; the named unit is first-handler responsible (首办负责)."""
        _require_reason(reason)
        if self.status != Status.PENDING_DISPATCH:
            raise ConflictError(f"only a queued appeal can be arbitrated (it is {self.status.value})",
                                field="status", code="invalid_state")
        self.first_handler_locked = True
        return self.dispatch_to(unit_id, catalog_code, catalog_version, loop, at, actor, "arbitration",
                                {"reason": reason, "final": True})

    def set_joint(self, lead: str, assisting: list[str], at: datetime, actor: str) -> CaseEvent:
        """部门联办: one lead unit and assisting units; only the lead replies."""
        if self.status not in (Status.DISPATCHED, Status.SIGNED, Status.CONTACTED):
            raise ConflictError(f"joint handling needs a dispatched appeal (it is {self.status.value})",
                                field="status", code="invalid_state")
        self.require_lead(lead)
        clean = sorted({u for u in assisting if u and u != lead})
        if not clean:
            raise ValidationError("name at least one assisting unit other than the lead", field="assisting_unit_ids")
        self.assisting_unit_ids = clean
        return self.record(at, "joint_handling", actor, {"lead_unit_id": lead, "assisting_unit_ids": clean})

    def flag_key(self, reason: str, at: datetime, actor: str) -> CaseEvent:
        """重点办: flagged by rule or by hand; goes to the leaders' queue."""
        _require_reason(reason)
        if self.status == Status.CLOSED:
            raise ConflictError("a closed appeal cannot be flagged", field="status", code="invalid_state")
        self.key, self.key_reason = True, reason
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
        if not self.consultation.get("open"):
            raise ConflictError("no consultation is open", field="consultation", code="no_consultation")
        if not minutes.strip():
            raise ValidationError("minutes are required", field="minutes")
        self.consultation = {**self.consultation, "open": False, "minutes": minutes, "lead_unit_id": lead,
                             "assisting_unit_ids": sorted(set(assisting) - {lead})}
        self.record(at, "consultation_closed", actor, {"minutes": minutes, "lead_unit_id": lead,
                                                       "assisting_unit_ids": self.consultation["assisting_unit_ids"]},
                    public=False)
        return self.consultation

    def _dispatched_at(self) -> datetime | None:
        at = self.dispatch_info.get("at")
        return datetime.fromisoformat(at) if at else None

    def pull_events(self) -> list[CaseEvent]:
        events, self.new_events = self.new_events, []
        return events

    def public_status(self) -> str:
        """The status a channel or citizen sees (F-IN-3, F-AR-2)."""
        if self.status in (Status.RECEIVED, Status.JOINED, Status.PENDING_DISPATCH):
            return "accepted"
        if self.status in (Status.REDO, Status.SUPERVISED):
            return "redo"  # sent back to the unit after an unsatisfied rating (F-EV-2)
        if self.status in (Status.DISPATCHED, Status.SIGNED, Status.CONTACTED):
            return "dispatched"
        if self.status == Status.REPLIED:
            return "replied"
        return "closed"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("new_events")
        return d

    # --- handling (F-HD) ---------------------------------------------------------------------
    # Steps against the clock (限时办理): sign for, contact, reply, extensions, leaders' comments
    # and follows, and the sweep's alerts. Every step stops its own clock by marking
    # `deadlines[step]["done_at"]`; a deadline dict is replaced whole by a new dispatch or an
    # approved extension, so marks and pending requests never leak into a newer version.

    HANDLING_STATUSES = frozenset({Status.DISPATCHED, Status.SIGNED, Status.CONTACTED, Status.REDO,
                                   Status.SUPERVISED})
    MAX_FOLLOWERS = 20          # keeps one save's feed fan-out inside a single transaction
    MAX_TEXT = 5000
    MAX_REPLY_ATTACHMENTS = 20

    def _require_status(self, allowed: set[Status] | frozenset[Status], doing: str) -> None:
        if self.status not in allowed:
            raise ConflictError(f"cannot {doing}: the appeal is {self.status.value}", field="status",
                                code="invalid_state")

    def _stop_clock(self, step: str, at: datetime) -> None:
        d = self.deadlines.get(step)
        if d is not None and not d.get("done_at"):
            d["done_at"] = at.isoformat()

    @staticmethod
    def _require_text(value: str | None, name: str, limit: int = 5000) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"{name} is required", field=name)
        if len(value) > limit:
            raise ValidationError(f"{name} is longer than {limit} characters", field=name)
        return value.strip()

    def sign_for(self, unit_id: str | None, at: datetime, actor: str) -> CaseEvent:
        """签收: the lead unit takes the dispatched appeal (or takes a redo/supervised one back)."""
        self._require_status({Status.DISPATCHED, Status.REDO, Status.SUPERVISED}, "sign for it")
        self.require_lead(unit_id)
        step = "sign"
        event = self.move_to(Status.SIGNED, at, actor, "signed", {"unit_id": unit_id})
        self._stop_clock(step, at)
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
        event = self.move_to(Status.CONTACTED, at, actor, "contacted", {"unit_id": unit_id, "note": note, "how": how})
        self._stop_clock("contact", at)
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
        if answer_length(answer) < min_answer_chars:
            raise ValidationError(f"the answer must say what was done, in at least {min_answer_chars} characters",
                                  field="answer", code="answer_too_short")
        links = list(attachments or ())
        if len(links) > self.MAX_REPLY_ATTACHMENTS:
            raise ValidationError(f"at most {self.MAX_REPLY_ATTACHMENTS} attachments", field="attachments")
        for url in links:
            if not isinstance(url, str) or not url.startswith("https://") or len(url) > 2048 \
                    or any(c.isspace() for c in url) or len(url) <= len("https://"):
                raise ValidationError("attachments must be https URLs", field="attachments")
        was_redo = self.status == Status.REDO
        self.reply = {"unit_id": unit_id, "answer": answer, "attachments": links, "at": at.isoformat(),
                      "actor": actor}
        event = self.move_to(Status.REPLIED, at, actor, "replied",
                             {"unit_id": unit_id, "answer": answer, "attachments": links})
        # A reply ends the handling: no contact or reply alert may follow it.
        for step in ("contact", "reply") + (("redo",) if was_redo else ()):
            self._stop_clock(step, at)
        return event

    def add_unit_note(self, unit_id: str | None, note: str, at: datetime, actor: str) -> CaseEvent:
        """A note on the handling by the lead or an assisting unit (部门联办); status unchanged."""
        self._require_status(self.HANDLING_STATUSES, "add a note")
        if not unit_id or (unit_id != self.unit_id and unit_id not in self.assisting_unit_ids):
            raise ConflictError("only the lead or an assisting unit may add notes", field="unit_id",
                                code="not_handling_unit")
        note = self._require_text(note, "note", self.MAX_TEXT)
        role = "lead" if unit_id == self.unit_id else "assisting"
        return self.record(at, "unit_note", actor, {"unit_id": unit_id, "role": role, "note": note}, public=False)

    def pending_extension(self, step: str = "reply") -> dict[str, Any] | None:
        return (self.deadlines.get(step) or {}).get("pending_extension")

    def request_extension(self, unit_id: str | None, reason: str, new_due_at: datetime, at: datetime,
                          actor: str, step: str = "reply") -> CaseEvent:
        """延期申请: the lead unit asks for a later due time; status unchanged; one pending at most."""
        self._require_status(self.HANDLING_STATUSES - {Status.DISPATCHED}, "request an extension")
        self.require_lead(unit_id)
        reason = self._require_text(reason, "reason", 2000)
        d = self.deadlines.get(step)
        if d is None:
            raise ConflictError(f"no {step} deadline is running", field="step", code="no_deadline")
        if d.get("done_at"):
            raise ConflictError(f"the {step} step is already done", field="step", code="step_done")
        if d.get("pending_extension"):
            raise ConflictError("an extension request is already pending", field="new_due_at",
                                code="extension_pending")
        if not isinstance(new_due_at, datetime) or new_due_at.tzinfo is None:
            raise ValidationError("new_due_at is required, with a timezone offset", field="new_due_at")
        if new_due_at <= datetime.fromisoformat(d["due_at"]):
            raise ValidationError("the requested due time must be later than the current one",
                                  field="new_due_at")
        request = {"unit_id": unit_id, "reason": reason, "new_due_at": new_due_at.isoformat(),
                   "requested_at": at.isoformat(), "actor": actor, "version": int(d.get("version", 1))}
        d["pending_extension"] = request
        return self.record(at, "extension_requested", actor, {"step": step, **request}, public=False)

    def decide_extension(self, approve: bool, calendar: Any, at: datetime, actor: str, reason: str = "",
                         step: str = "reply") -> Any:
        """Approve (a new deadline version via domain.deadlines.extend) or refuse the pending request.

        Returns the new `Deadline` on approval, None on refusal. The case event carries the
        previous and the new version whole, so the case file keeps every version.
        """
        from chalicelib.domain.deadlines import Deadline, extend

        request = self.pending_extension(step)
        if not request:
            raise ConflictError("no extension request is pending", field="step", code="no_pending_extension")
        current = self.deadlines[step]
        if not approve:
            reason = self._require_text(reason, "reason", 2000)
            current.pop("pending_extension", None)
            self.record(at, "extension_refused", actor, {"step": step, "reason": reason,
                                                         "requested": request}, public=False)
            return None
        previous = Deadline.from_dict(current)
        new = extend(previous, datetime.fromisoformat(request["new_due_at"]), request["reason"], calendar)
        before = {k: v for k, v in current.items() if k != "pending_extension"}
        self.deadlines[step] = new.to_dict()
        # The earlier version's alerts no longer describe the step; the new version raises its own.
        self.alerts = [a for a in self.alerts if not a.startswith(f"{step}:")]
        self.record(at, "extension_approved", actor, {"step": step, "note": reason, "requested": request,
                                                      "previous": before, "deadline": new.to_dict()})
        return new

    def raise_alert(self, step: str, version: int, alert: str, at: datetime, actor: str,
                    data: dict[str, Any] | None = None) -> CaseEvent:
        """预警 / 红色预警 / 发函督办 raised by the sweep for one deadline version (internal event)."""
        d = self.deadlines.get(step)
        if d is None or int(d.get("version", 1)) != int(version):
            raise ConflictError(f"{step} deadline version {version} is not current", field="version",
                                code="stale_deadline")
        raised = d.setdefault("alerted", [])
        if alert not in raised:
            raised.append(alert)
        tag = f"{step}:{alert}"
        if tag not in self.alerts:
            self.alerts.append(tag)
        kind = {"warning": "deadline_warning", "overdue": "red_alert",
                "supervise": "supervision_notice"}.get(alert, f"alert_{alert}")
        return self.record(at, kind, actor, {"step": step, "version": int(version), "alert": alert,
                                             **(data or {})}, public=False)

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

    # --- evaluation (F-EV) ---------------------------------------------------------------------
    def record_rating(self, scores: dict[str, int], comment: str, at: datetime, actor: str,
                      round_: int = 0) -> CaseEvent:
        """The citizen of this appeal rates the outcome: once per handling round (a redo opens a new one)."""
        if self.rating and self.rating.get("round", 0) == round_:
            raise ConflictError("this answer was already rated", field="rating", code="already_rated")
        comment = mask_free_text(comment[:500])  # phones and ID numbers typed into it are masked
        self.rating = {**scores, "comment": comment, "at": at.isoformat(), "round": round_}
        return self.record(at, "rated", actor, {**scores, "comment": comment, "round": round_,
                                                "unsatisfied": is_unsatisfied(scores)})

    def conclude(self, unsatisfied: bool, at: datetime, actor: str, reason: str) -> Status:
        """After a rating: close, send back to redo (重办), or, when a redo did not satisfy,
        special supervision (专项督办)."""
        self._require_status({Status.REPLIED}, "conclude the handling")
        if not unsatisfied:
            self.move_to(Status.CLOSED, at, actor, "closed", {"reason": reason})
        elif self.redo_count == 0:
            self.redo_count += 1
            self.move_to(Status.REDO, at, actor, "sent_back_for_redo", {"reason": reason})
        else:
            self.move_to(Status.SUPERVISED, at, actor, "special_supervision", {"reason": reason})
        return self.status

