"""Domain events: the facts the Appeal aggregate records as it changes, for hand-offs and analytics.

Each is a small frozen dataclass naming one fact, with the appeal it is about and when it
happened. The aggregate appends them (``Appeal.pull_domain_events`` returns and clears them);
they are never stored with the appeal: the case file (``CaseEvent``) is the stored history,
these are what the pipeline reacts to after a commit.

``PublicStatusChanged`` is recorded exactly once whenever an Appeal method changes
``Appeal.public_status()`` (the status a channel and the public see); taking an appeal in
records ``AppealReceived`` and no status change (intake says "accepted" itself).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping


@dataclass(frozen=True)
class DomainEvent:
    appeal_id: str
    at: datetime


@dataclass(frozen=True)
class AppealReceived(DomainEvent):
    """受理: taken in from a channel."""

    channel: str
    appeal_type: str
    urgency: str
    district_code: str | None


@dataclass(frozen=True)
class PublicStatusChanged(DomainEvent):
    """The public status (accepted, dispatched, replied, redo, closed) moved from ``before`` to ``after``."""

    before: str
    after: str


@dataclass(frozen=True)
class JoinedMaster(DomainEvent):
    """A duplicate joined its master (F-DD-1), by the stage or by a merge."""

    master_id: str


@dataclass(frozen=True)
class DuplicateAbsorbed(DomainEvent):
    """The master took a report of the same event; ``weight`` is its count of reports now (F-DD-2)."""

    duplicate_id: str
    weight: int


@dataclass(frozen=True)
class Released(DomainEvent):
    """The master let a wrongly joined duplicate go (F-DD-3)."""

    duplicate_id: str


@dataclass(frozen=True)
class Split(DomainEvent):
    """The duplicate left its master and goes on to dispatch on its own (F-DD-3)."""

    former_master_id: str


@dataclass(frozen=True)
class UrgencyRaised(DomainEvent):
    """A more urgent report raised the appeal's urgency (its running deadlines follow)."""

    before: str
    after: str


@dataclass(frozen=True)
class Dispatched(DomainEvent):
    """派单 to a lead unit; ``how``: auto, manual, arbitration, leader, assigned, consultation."""

    unit_id: str
    catalog_code: str | None
    catalog_version: str | None
    loop: str
    how: str


@dataclass(frozen=True)
class QueuedForDispatcher(DomainEvent):
    """In a dispatcher's manual queue of ``loop`` (low confidence, no place, a return, an escalation)."""

    loop: str
    reason: str


@dataclass(frozen=True)
class Returned(DomainEvent):
    """退单 by the lead unit; ``disputed`` from the second return on (arbitration needed)."""

    unit_id: str
    disputed: bool


@dataclass(frozen=True)
class Escalated(DomainEvent):
    """吹哨/提级: the lead unit sent it up to the dispatchers of ``to_loop``."""

    from_unit_id: str | None
    to_loop: str


@dataclass(frozen=True)
class Signed(DomainEvent):
    """签收 by the lead unit."""

    unit_id: str


@dataclass(frozen=True)
class Contacted(DomainEvent):
    """The lead unit recorded its contact with the citizen: direct, relay or not_possible."""

    unit_id: str
    how: str


@dataclass(frozen=True)
class Replied(DomainEvent):
    """办结反馈: the lead unit's answer to the citizen."""

    unit_id: str


@dataclass(frozen=True)
class ExtensionDecided(DomainEvent):
    """延期: the pending request for ``step`` was approved (a new deadline ``version``) or refused."""

    step: str
    approved: bool
    version: int


@dataclass(frozen=True)
class AlertRaised(DomainEvent):
    """The sweep raised ``alert`` (warning, overdue, supervise) for one deadline version of ``step``."""

    step: str
    alert: str
    deadline_version: int


@dataclass(frozen=True)
class Rated(DomainEvent):
    """The citizen of this appeal rated the outcome (F-EV-1) in handling round ``round``."""

    scores: Mapping[str, int] = field(hash=False)
    unsatisfied: bool
    round: int


@dataclass(frozen=True)
class Redone(DomainEvent):
    """重办: an unsatisfied rating sent the work back to the unit (F-EV-2)."""

    redo_count: int


@dataclass(frozen=True)
class Supervised(DomainEvent):
    """专项督办: a redo did not satisfy either."""


@dataclass(frozen=True)
class Closed(DomainEvent):
    """Rated satisfied: closed and archived."""

    reason: str


@dataclass(frozen=True)
class KeyFlagged(DomainEvent):
    """重点办: flagged by rule or by hand."""

    reason: str


@dataclass(frozen=True)
class Visited(DomainEvent):
    """回访: a visitor called the citizen about handling round ``round`` (call ``attempt`` of it).
    ``resolved`` (解决/部分解决/未解决) and ``satisfied`` (满意/基本满意/不满意) are None when the
    citizen was not reached; ``unsatisfied``: reached, and 未解决 or 不满意 (the work goes back)."""

    round: int
    attempt: int
    reached: bool
    resolved: str | None
    satisfied: str | None
    unsatisfied: bool
