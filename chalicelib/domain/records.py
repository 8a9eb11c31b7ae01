"""The facts a use case writes besides the appeal itself: hand-offs and index entries.

Services build these and hand them to the unit of work; only `chalicelib.storage` knows how each
is keyed and stored (storage/records.py maps every type to its item). Pure dataclasses: times
are aware datetimes, never ISO strings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


SPILL_TOPIC = "spill"   # one outbox row carrying many hand-offs (storage/unit_of_work.py, plan 2)


@dataclass(frozen=True)
class Handoff:
    """A message for a queue, recorded in the outbox with the change that caused it and stored
    under the appeal the message names (a master's change notifies its duplicates)."""

    queue: str
    topic: str
    key: str
    message: dict[str, Any]

    @property
    def appeal_id(self) -> str:
        return self.message["appeal_id"]


@dataclass(frozen=True)
class OutboxEntry:
    """A stored hand-off as the consumer and the repair sweep see it."""

    appeal_id: str
    topic: str
    key: str
    queue: str
    message: dict[str, Any]
    created_at: str
    done_at: str | None
    resends: int = 0


@dataclass(frozen=True)
class Ticket:
    """The channel's own ticket id: the idempotency key of intake, with the answer it got."""

    channel: str
    ticket_id: str
    appeal_id: str
    payload_hash: str
    response: dict[str, Any]
    status_code: int


@dataclass(frozen=True)
class Nonce:
    """A request signature's nonce, spent once (kept until the signature window has passed)."""

    key_id: str
    nonce: str
    seen_at: datetime
    expires_at: int


@dataclass(frozen=True)
class SealedParty:
    """The citizen's personal data, encrypted, with keyed hashes and masked hints."""

    appeal_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes
    id_hash: str | None = None
    phone_hash: str | None = None
    id_hint: str | None = None
    phone_hint: str | None = None
    name_hint: str | None = None

    @property
    def hashes(self) -> list[str]:
        return [h for h in (self.id_hash, self.phone_hash) if h]


@dataclass(frozen=True)
class Channel:
    """A channel registration: who may sign for it and where its status callbacks go."""

    code: str
    name: str
    key_ids: dict[str, str]
    callback_url: str | None
    callback_key_id: str | None
    enabled: bool


@dataclass(frozen=True)
class KeyMarker:
    """A key appeal (重点办) in the leaders' key queue of `queue_loop`; `area` is set for the
    second marker in the district of the place it is about."""

    appeal_id: str
    queue_loop: str
    reason: str
    flagged_at: datetime
    area: str | None = None


@dataclass(frozen=True)
class AssistEntry:
    """An assisting unit's inbox entry for a joint appeal (部门联办)."""

    appeal_id: str
    unit_id: str
    lead_unit_id: str | None
    at: datetime


@dataclass(frozen=True)
class SupervisionCopy:
    """A unit copied on a supervision notice (督办函) sees the appeal in its inbox."""

    appeal_id: str
    step: str
    deadline_version: int
    unit_id: str
    lead_unit_id: str | None
    at: datetime


@dataclass(frozen=True)
class DueEntry:
    """A deadline instant in the minute bucket the sweep reads it from."""

    appeal_id: str
    step: str
    alert: str              # warning | overdue | supervise
    deadline_version: int
    at: datetime            # the instant
    bucket: str             # the minute bucket (YYYY-MM-DDTHH:MM, UTC) it is filed under


@dataclass(frozen=True)
class Correction:
    """A dispatcher's correction of the classifier: later decisions learn from it."""

    region: str
    appeal_id: str
    text: str
    code: str
    at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """Who saw personal data, when and why (every unmasking)."""

    region: str
    appeal_id: str
    actor: str
    subject: str
    action: str
    reason: str
    fields: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class AlertRecord:
    """One raised alert (预警 / 红色预警 / 督办函) of one deadline version: exists once."""

    appeal_id: str
    region: str
    step: str
    alert: str
    deadline_version: int
    at: datetime
    instant: str
    unit_id: str | None
    local_day: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CalendarAlert:
    """The region admins are told once that a calendar year is missing (deadlines provisional)."""

    region: str
    year: int
    at: datetime
    appeal_id: str | None = None


@dataclass(frozen=True)
class FeedEntry:
    """A case event of a followed appeal in a follower's feed (跟踪关注)."""

    subject: str
    appeal_id: str
    seq: int
    at: str
    kind: str
    actor: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Posting:
    """One appeal under one blocking key of the de-duplication index."""

    block_key: str
    appeal_id: str
    received_at: datetime
    features: dict[str, Any]
    party_hashes: tuple[str, ...]
    master_id: str | None
    keep_days: float


@dataclass(frozen=True)
class HeadBump:
    """A blocking key's write counter moved on from the value a decision read (None: unwritten)."""

    block_key: str
    seen: int | None
    keep_days: float


@dataclass
class KeyRead:
    """What one bounded read of a blocking key saw."""

    key: str
    head: int | None
    postings: list[Posting] = field(default_factory=list)
    items_read: int = 0


# --- what the citizen and the public see (domain.public_view) -----------------------------------

@dataclass(frozen=True)
class TrackingLink:
    """A citizen's tracking link (F-AR-2): only the SHA-256 of its token is stored, as the key
    that finds the appeal; a revoked link finds nothing."""

    token_hash: str
    appeal_id: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class PublicView:
    """An appeal's public view (domain.public_view.summary) and its timeline, rewritten whole
    with every change the public sees. `listed_month`: the local month it was received, when it
    is listed (Open311 lists by it); None keeps it out of every list."""

    appeal_id: str
    region: str
    summary: dict[str, Any]
    timeline: tuple[dict[str, Any], ...]
    listed_month: str | None = None


@dataclass(frozen=True)
class CounterBump:
    """Counts added to one scope's counters (`dimension`, `ident`: the city, a unit, a street ...,
    domain.metrics.DIMENSIONS) of one local day (`grain` "D", YYYY-MM-DD) or month ("M", YYYY-MM),
    atomically (an ADD, never read and written back); counts may be negative (a change taken back)."""

    region: str
    grain: str
    period: str
    dimension: str
    ident: str
    counts: dict[str, int]


@dataclass(frozen=True)
class CounterRow:
    """One scope's counters of one day or month, as stored."""

    grain: str
    period: str
    dimension: str
    ident: str
    counts: dict[str, int]


@dataclass(frozen=True)
class AnalyticsState:
    """What the analytics stage last counted of one appeal: the case file folded up to `seq`
    (domain.metrics.Facts) and the contribution it added (metrics.encode). Written only over the
    `seen` seq it was read at (None: there was none), so two deliveries never both count."""

    appeal_id: str
    region: str
    seq: int
    facts: dict[str, Any]
    contribution: dict[str, Any]
    seen: int | None = None


@dataclass(frozen=True)
class HotspotRecord:
    """One record of the hotspot detector's state (domain.hotspots.HotspotState)."""

    region: str
    key: str
    body: dict[str, Any]


@dataclass(frozen=True)
class HotspotAlertRecord:
    """A spike alert on the dispatchers' and leaders' feed (domain.hotspots.Alert.to_dict)."""

    region: str
    alert_id: str
    raised_at: datetime
    district: str
    body: dict[str, Any]


@dataclass(frozen=True)
class ReportEntry:
    """A written report (每日快报, 周分析, 月研判) of one scope and period: where its files are."""

    region: str
    scope: str              # the city code or a district code
    kind: str               # daily | weekly | monthly
    start: str              # the period's first local day
    end: str
    title: str
    files: dict[str, str]   # format (html, csv) -> S3 key
    created_at: datetime
    demo: bool = False


@dataclass(frozen=True)
class PublicRecordRow:
    """One closed, listed appeal in one list of the public record (一网晒单): all of the region's
    (facet "all"), a unit's, a category's or a district's, partitioned by month or year."""

    region: str
    facet: str
    value: str
    partition: str
    closed_at: str
    appeal_id: str
    summary: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Snapshot:
    """A view a scheduled job computes whole (the rankings, a unit's record): read in one GetItem."""

    region: str
    name: str
    body: dict[str, Any]
    updated_at: datetime
