"""PynamoDB models of the single table; `kind` is the discriminator of every entity type."""
from __future__ import annotations

import json
import zlib
from datetime import timedelta, timezone
from typing import Any

from pynamodb.attributes import (
    Attribute,
    BinaryAttribute,
    BooleanAttribute,
    DiscriminatorAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.constants import BINARY, STRING
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chalicelib.domain.metrics import COUNTERS
from chalicelib.settings import get_settings
from chalicelib.storage import keys


class CompactJSONAttribute(JSONAttribute):
    """JSON as UTF-8 text without padding: a Chinese character costs 3 bytes, not a 6-byte \\u
    escape, and no blanks after separators. Item size is what every write and read is billed on
    (issue 21: an appeal's body about half the size). Reads accept either form, so items stored
    by PynamoDB's JSONAttribute (ASCII-escaped, padded) still read as they are."""

    sort_keys = False

    def serialize(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=self.sort_keys)


class PackedJSONAttribute(Attribute[Any]):
    """A large JSON value, compact UTF-8 JSON compressed with zlib and stored as binary: an
    appeal's body, a public view, what analytics counted (their JSON repeats its keys: 2.5 to 7
    times smaller, so a write of one costs 1 or 2 write units, not 3 to 5). Reads accept the
    text form too (JSONAttribute's or CompactJSONAttribute's), so items stored before issue 21
    read as they are and are rewritten packed on their next change."""

    attr_type = BINARY

    def serialize(self, value: Any) -> bytes | None:
        if value is None:
            return None
        return zlib.compress(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())

    def get_value(self, value: dict[str, Any]) -> Any:
        for form in (BINARY, STRING):
            if form in value:
                return value[form]
        return super().get_value(value)   # neither: PynamoDB's AttributeDeserializationError

    def deserialize(self, value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            value = zlib.decompress(value).decode()
        return json.loads(value, strict=False)


class _Meta:
    table_name = get_settings().table_name
    host = get_settings().endpoint_url


def _index(name: str) -> type[GlobalSecondaryIndex]:
    """A generic GSI of the single table: <name>PK / <name>SK, projecting the keys and
    keys.INDEX_ATTRIBUTES[name] (INCLUDE)."""
    meta = type("Meta", (), {"index_name": name, "projection": IncludeProjection(list(keys.INDEX_ATTRIBUTES[name]))})
    return type(name, (GlobalSecondaryIndex,), {"Meta": meta, f"{name}PK": UnicodeAttribute(hash_key=True),
                                                f"{name}SK": UnicodeAttribute(range_key=True)})


# GSI1: owner queues and pending hand-offs; GSI2: channel lists, alert days; GSI3: areas (keys.py).
GSI1, GSI2, GSI3 = (_index(n) for n in ("GSI1", "GSI2", "GSI3"))


class Item(Model):
    """Every row of the table. Subclasses add their attributes and key templates."""

    class Meta(_Meta):
        pass

    PK = UnicodeAttribute(hash_key=True)
    SK = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    GSI1PK = UnicodeAttribute(null=True)
    GSI1SK = UnicodeAttribute(null=True)
    GSI2PK = UnicodeAttribute(null=True)
    GSI2SK = UnicodeAttribute(null=True)
    GSI3PK = UnicodeAttribute(null=True)
    GSI3SK = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)  # TTL (epoch seconds)
    gsi1 = GSI1()
    gsi2 = GSI2()
    gsi3 = GSI3()


class AppealItem(Item, discriminator="appeal"):
    appeal_id = UnicodeAttribute()
    region = UnicodeAttribute()
    channel = UnicodeAttribute()
    ticket_id = UnicodeAttribute()
    status = UnicodeAttribute()
    version = NumberAttribute()
    last_seq = NumberAttribute()
    received_at = UnicodeAttribute()
    # The rest of the aggregate as JSON: it is read and written whole, never queried by field.
    body = PackedJSONAttribute()


class CaseEventItem(Item, discriminator="event"):
    appeal_id = UnicodeAttribute()
    seq = NumberAttribute()
    at = UnicodeAttribute()
    event_kind = UnicodeAttribute()
    actor = UnicodeAttribute()
    data = PackedJSONAttribute()
    public = BooleanAttribute(default=True)


class PartyItem(Item, discriminator="party"):
    """Personal data, encrypted (envelope: KMS-wrapped data key + AES-GCM), plus keyed hashes."""

    appeal_id = UnicodeAttribute()
    wrapped_key = BinaryAttribute(legacy_encoding=False)
    nonce = BinaryAttribute(legacy_encoding=False)
    ciphertext = BinaryAttribute(legacy_encoding=False)
    id_hash = UnicodeAttribute(null=True)
    phone_hash = UnicodeAttribute(null=True)
    id_hint = UnicodeAttribute(null=True)     # masked form for staff views, e.g. 440305********1234
    phone_hint = UnicodeAttribute(null=True)  # 138****5678
    name_hint = UnicodeAttribute(null=True)   # 张**


class OutboxItem(Item, discriminator="outbox"):
    """A hand-off to a queue written with the state change; the consumer closes it."""

    appeal_id = UnicodeAttribute()
    queue = UnicodeAttribute()
    message = CompactJSONAttribute()
    created_at = UnicodeAttribute()
    done_at = UnicodeAttribute(null=True)
    resends = NumberAttribute(default=0)


class TicketItem(Item, discriminator="ticket"):
    """The channel's own ticket id: the idempotency key of intake."""

    appeal_id = UnicodeAttribute()
    payload_hash = UnicodeAttribute()
    response = CompactJSONAttribute()
    status_code = NumberAttribute()


class NonceItem(Item, discriminator="nonce"):
    seen_at = UnicodeAttribute()


class ChannelItem(Item, discriminator="channel"):
    """A channel registration: who may sign for it and where its status callbacks go."""

    code = UnicodeAttribute()
    name = UnicodeAttribute()
    key_ids = CompactJSONAttribute()          # {key_id: secret reference}
    callback_url = UnicodeAttribute(null=True)
    callback_key_id = UnicodeAttribute(null=True)
    enabled = BooleanAttribute(default=True)


class CorrectionItem(Item, discriminator="correction"):
    """A dispatcher's correction of the classifier: later decisions learn from it (no redeploy)."""

    text = UnicodeAttribute()
    code = UnicodeAttribute()
    at = UnicodeAttribute()


class MarkerItem(Item, discriminator="marker"):
    """A small index entry pointing at an appeal (assisting unit inbox, leaders' key queue, ...)."""

    appeal_id = UnicodeAttribute()
    note = CompactJSONAttribute(null=True)


class DueItem(Item, discriminator="due"):
    """A deadline instant in its minute bucket: the sweep reads due buckets, never open appeals."""

    appeal_id = UnicodeAttribute()
    step = UnicodeAttribute()
    alert = UnicodeAttribute()        # warning | overdue | supervise
    deadline_version = NumberAttribute()
    at = UnicodeAttribute()


class AuditItem(Item, discriminator="audit"):
    """Who saw personal data, when and why (every unmasking), by region and day."""

    actor = UnicodeAttribute()
    appeal_id = UnicodeAttribute()
    action = UnicodeAttribute()
    reason = UnicodeAttribute()
    at = UnicodeAttribute()
    fields = CompactJSONAttribute()


class AlertItem(Item, discriminator="alert"):
    """One raised alert (预警 / 红色预警 / 督办函) of one deadline version: its key exists once.

    GSI2 lists a region's alerts per local day for the city dashboard.
    """

    appeal_id = UnicodeAttribute()
    region = UnicodeAttribute()
    step = UnicodeAttribute()
    alert = UnicodeAttribute()          # warning | overdue | supervise
    deadline_version = NumberAttribute()
    at = UnicodeAttribute()             # when it was raised
    instant = UnicodeAttribute()        # the deadline instant it is about
    unit_id = UnicodeAttribute(null=True)
    data = CompactJSONAttribute(null=True)     # e.g. who a supervision notice is copied to


class FeedItem(Item, discriminator="feed"):
    """A case event of a followed appeal in a follower's feed (跟踪关注)."""

    subject = UnicodeAttribute()
    appeal_id = UnicodeAttribute()
    seq = NumberAttribute()
    at = UnicodeAttribute()
    event_kind = UnicodeAttribute()
    actor = UnicodeAttribute()
    data = CompactJSONAttribute(null=True)

    FEED_TTL_DAYS = 180

    @classmethod
    def for_events(cls, appeal_id: str, followers: list[str], events: list, room: int) -> list["FeedItem"]:
        """Feed entries for the case events of one save, within `room` transaction actions.

        One entry per follower and event when that fits; otherwise one digest entry per
        follower (keyed by the last event) listing the save's events, so a save never breaks
        DynamoDB's 100-action limit and no follower misses a change.
        """
        if not followers or not events or room <= 0:
            return []

        def at_iso(ev) -> str:
            return ev.at.astimezone(timezone.utc).isoformat(timespec="milliseconds")

        expires = int((events[-1].at + timedelta(days=cls.FEED_TTL_DAYS)).timestamp())
        subjects = list(dict.fromkeys(followers))[:room]
        if len(subjects) * len(events) <= room:
            return [cls(keys.feed_pk(s), keys.feed_sk(at_iso(ev), appeal_id, ev.seq), subject=s, appeal_id=appeal_id,
                        seq=ev.seq, at=at_iso(ev), event_kind=ev.kind, actor=ev.actor, data=dict(ev.data),
                        expires_at=expires)
                    for s in subjects for ev in events]
        last = events[-1]
        digest = {"events": [{"seq": ev.seq, "kind": ev.kind, "actor": ev.actor, "at": at_iso(ev)}
                             for ev in events]}
        return [cls(keys.feed_pk(s), keys.feed_sk(at_iso(last), appeal_id, last.seq), subject=s, appeal_id=appeal_id,
                    seq=last.seq, at=at_iso(last), event_kind="digest", actor=last.actor, data=digest,
                    expires_at=expires)
                for s in subjects]


class SweepStateItem(Item, discriminator="sweep_state"):
    """Where a sweep got to: the last bucket it read completely (the deadline sweep's minute, the
    return-visit planner's hour)."""

    last_bucket = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class VisitCandidateItem(Item, discriminator="visit_candidate"):
    """An answered handling round in the hour bucket of its reply: the return-visit planner reads
    buckets, never the appeals (expires by TTL)."""

    appeal_id = UnicodeAttribute()
    region = UnicodeAttribute()
    round = NumberAttribute()
    replied_at = UnicodeAttribute()


class VisitTaskItem(Item, discriminator="visit_task"):
    """One round's return visit (回访); in the visitors' queue (GSI1) while open."""

    appeal_id = UnicodeAttribute()
    region = UnicodeAttribute()
    round = NumberAttribute()
    replied_at = UnicodeAttribute()
    due_at = UnicodeAttribute()
    created_at = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    state = UnicodeAttribute()            # open | done | unreached
    last_called_at = UnicodeAttribute(null=True)


class CalendarAlertItem(Item, discriminator="calendar_alert"):
    """The region admins were told once that a calendar year is missing (deadlines provisional)."""

    region = UnicodeAttribute()
    year = NumberAttribute()
    at = UnicodeAttribute()
    appeal_id = UnicodeAttribute(null=True)   # the first appeal whose deadline needed the year


class TrackingItem(Item, discriminator="tracking"):
    """A citizen's tracking link, keyed by the SHA-256 of its token (the token is never stored)."""

    appeal_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    revoked_at = UnicodeAttribute(null=True)


class PublicViewItem(Item, discriminator="public_view"):
    """An appeal's public view: the summary and the timeline the citizen and the public see."""

    appeal_id = UnicodeAttribute()
    region = UnicodeAttribute()
    body = PackedJSONAttribute()
    timeline = PackedJSONAttribute()


class CounterItem(Item, discriminator="counter"):
    """One scope's counters of one local day or month: each is added to, never written back
    (one number attribute per counter of domain.metrics.COUNTERS)."""

    region = UnicodeAttribute(null=True)
    dimension = UnicodeAttribute(null=True)
    ident = UnicodeAttribute(null=True)
    locals().update({name: NumberAttribute(null=True) for name in COUNTERS})


class AnalyticsStateItem(Item, discriminator="analytics_state"):
    """What the analytics stage last counted of an appeal (domain.records.AnalyticsState)."""

    region = UnicodeAttribute()
    seq = NumberAttribute()
    facts = PackedJSONAttribute()
    contribution = PackedJSONAttribute()


class HotspotStateItem(Item, discriminator="hotspot_state"):
    body = CompactJSONAttribute()


class HotspotAlertItem(Item, discriminator="hotspot_alert"):
    alert_id = UnicodeAttribute()
    district = UnicodeAttribute()
    raised_at = UnicodeAttribute()
    body = CompactJSONAttribute()


class ReportItem(Item, discriminator="report"):
    kind_of_report = UnicodeAttribute()
    start = UnicodeAttribute()
    end = UnicodeAttribute()
    title = UnicodeAttribute()
    files = CompactJSONAttribute()
    created_at = UnicodeAttribute()
    demo = BooleanAttribute(default=False)


class PublicRecordItem(Item, discriminator="public_record"):
    """A closed, listed appeal in one list of the public record (its row, small enough to list)."""

    appeal_id = UnicodeAttribute()
    closed_at = UnicodeAttribute()
    body = CompactJSONAttribute()


class SnapshotItem(Item, discriminator="snapshot"):
    """A view a scheduled job computes whole (rankings, a unit's record)."""

    body = CompactJSONAttribute()
    updated_at = UnicodeAttribute()
