"""The appeal's value types: its type and urgency, where it happened, who is behind it, and the
intake command every channel's payload maps to (统一数据)."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import ValidationError


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
