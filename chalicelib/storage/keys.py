"""Every key template of the single table, one function per access pattern.

| entity        | PK                         | SK                    | GSI1PK / GSI1SK                       | GSI2PK / GSI2SK                 |
|---------------|----------------------------|-----------------------|---------------------------------------|---------------------------------|
| Appeal        | APPEAL#<id>                | A                     | owner queue: UNIT#<unit> / DISPATCH#… | CHANNEL#<channel> / <received>#<id> |
| Case event    | APPEAL#<id>                | EV#<seq:06d>          | –                                     | –                               |
| Party (PII)   | APPEAL#<id>                | PARTY                 | –                                     | –                               |
| Outbox entry  | APPEAL#<id>                | OUT#<topic>#<key>     | OUTBOX#<shard> / <created>#<id>  (only while pending) | –               |
| Ticket index  | TICKET#<channel>#<ticket>  | T                     | –                                     | –                               |
| Nonce         | NONCE#<key_id>#<nonce>     | N                     | –                                     | –                               |
| Channel       | CHANNEL#<code>             | C                     | –                                     | –                               |
| Idempotency   | (Powertools) idempotency#… | <hash>                | –                                     | –                               |

Access patterns: load an appeal with its case file (one query on PK); find an appeal by a
channel's ticket id (get TICKET); list a channel's appeals by time (GSI2); list pending
hand-offs older than a grace period, per shard (GSI1 OUTBOX#n): the repair sweep reads only
those, never a scan.
"""
from __future__ import annotations

import zlib

OUTBOX_SHARDS = 8


def appeal_pk(appeal_id: str) -> str:
    return f"APPEAL#{appeal_id}"


APPEAL_SK = "A"
PARTY_SK = "PARTY"


def event_sk(seq: int) -> str:
    return f"EV#{seq:06d}"


EVENT_SK_PREFIX = "EV#"


def outbox_sk(topic: str, key: str) -> str:
    return f"OUT#{topic}#{key}"


def outbox_shard(appeal_id: str) -> int:
    # Spread pending hand-offs over a few GSI partitions so a 10x spike does not heat one key.
    return zlib.crc32(appeal_id.encode()) % OUTBOX_SHARDS


def outbox_gsi_pk(shard: int) -> str:
    return f"OUTBOX#{shard}"


def ticket_pk(channel: str, ticket_id: str) -> str:
    return f"TICKET#{channel}#{ticket_id}"


TICKET_SK = "T"


def nonce_pk(key_id: str, nonce: str) -> str:
    return f"NONCE#{key_id}#{nonce}"


NONCE_SK = "N"


def channel_pk(code: str) -> str:
    return f"CHANNEL#{code}"


CHANNEL_SK = "C"


def channel_list_pk(channel: str) -> str:
    return f"CHANNEL#{channel}"


def time_id_sk(at_iso: str, appeal_id: str) -> str:
    return f"{at_iso}#{appeal_id}"
