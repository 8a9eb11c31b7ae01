"""The Appeal aggregate (诉求): its value types, states, and the case file it appends to."""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import ConflictError, ValidationError


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
    Status.SIGNED: {Status.CONTACTED, Status.REPLIED, Status.PENDING_DISPATCH, Status.DISPATCHED},
    Status.CONTACTED: {Status.REPLIED, Status.DISPATCHED},
    Status.REPLIED: {Status.CLOSED, Status.REDO},
    Status.REDO: {Status.SIGNED, Status.REPLIED},
    Status.SUPERVISED: {Status.SIGNED, Status.REPLIED, Status.CLOSED},
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
    version: int = 0           # optimistic-lock counter, bumped on every save
    last_seq: int = 0          # number of case events stored so far
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

    def release(self, dup_id: str, at: datetime, actor: str, reason: str) -> CaseEvent:
        """F-DD-3: a wrongly joined appeal is split back out of this master."""
        if dup_id not in self.duplicates:
            raise ConflictError(f"{dup_id} is not joined to this appeal", field="duplicate_id", code="not_joined")
        self.duplicates.remove(dup_id)
        self.weight -= 1
        return self.record(at, "duplicate_split", actor, {"duplicate_id": dup_id, "reason": reason})

    def split_from_master(self, at: datetime, actor: str, reason: str) -> CaseEvent:
        """F-DD-3: the counterpart of `release`; the appeal goes on to dispatch on its own."""
        if self.status != Status.JOINED or not self.master_id:
            raise ConflictError(f"appeal is {self.status.value}, not joined", field="status", code="invalid_state")
        old = self.master_id
        self.master_id = None
        return self.move_to(Status.PENDING_DISPATCH, at, actor, "split_from_master",
                            {"former_master_id": old, "reason": reason})

    @property
    def distinct_reporters(self) -> int:
        return max(1, len(self.reporter_hashes))

    def pull_events(self) -> list[CaseEvent]:
        events, self.new_events = self.new_events, []
        return events

    def public_status(self) -> str:
        """The status a channel or citizen sees (F-IN-3, F-AR-2)."""
        if self.status in (Status.RECEIVED, Status.JOINED, Status.PENDING_DISPATCH):
            return "accepted"
        if self.status in (Status.DISPATCHED, Status.SIGNED, Status.CONTACTED, Status.REDO,
                           Status.SUPERVISED):
            return "dispatched"
        if self.status == Status.REPLIED:
            return "replied"
        return "closed"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("new_events")
        return d
