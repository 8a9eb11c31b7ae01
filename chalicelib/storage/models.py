"""PynamoDB models of the single table; `kind` is the discriminator of every entity type."""
from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    DiscriminatorAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.settings import get_settings


class _Meta:
    table_name = get_settings().table_name
    host = get_settings().endpoint_url


class GSI1(GlobalSecondaryIndex):
    class Meta:
        index_name = "GSI1"
        projection = AllProjection()

    GSI1PK = UnicodeAttribute(hash_key=True)
    GSI1SK = UnicodeAttribute(range_key=True)


class GSI2(GlobalSecondaryIndex):
    class Meta:
        index_name = "GSI2"
        projection = AllProjection()

    GSI2PK = UnicodeAttribute(hash_key=True)
    GSI2SK = UnicodeAttribute(range_key=True)


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
    expires_at = NumberAttribute(null=True)  # TTL (epoch seconds)
    gsi1 = GSI1()
    gsi2 = GSI2()


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
    body = JSONAttribute()


class CaseEventItem(Item, discriminator="event"):
    appeal_id = UnicodeAttribute()
    seq = NumberAttribute()
    at = UnicodeAttribute()
    event_kind = UnicodeAttribute()
    actor = UnicodeAttribute()
    data = JSONAttribute()
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


class OutboxItem(Item, discriminator="outbox"):
    """A hand-off to a queue written with the state change; the consumer closes it."""

    appeal_id = UnicodeAttribute()
    queue = UnicodeAttribute()
    message = JSONAttribute()
    created_at = UnicodeAttribute()
    done_at = UnicodeAttribute(null=True)
    resends = NumberAttribute(default=0)


class TicketItem(Item, discriminator="ticket"):
    """The channel's own ticket id: the idempotency key of intake."""

    appeal_id = UnicodeAttribute()
    payload_hash = UnicodeAttribute()
    response = JSONAttribute()
    status_code = NumberAttribute()


class NonceItem(Item, discriminator="nonce"):
    seen_at = UnicodeAttribute()


class ChannelItem(Item, discriminator="channel"):
    """A channel registration: who may sign for it and where its status callbacks go."""

    code = UnicodeAttribute()
    name = UnicodeAttribute()
    key_ids = JSONAttribute()          # {key_id: secret reference}
    callback_url = UnicodeAttribute(null=True)
    callback_key_id = UnicodeAttribute(null=True)
    enabled = BooleanAttribute(default=True)
