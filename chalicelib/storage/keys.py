"""Every key template of the single table, one function per access pattern.

One row per key shape of every entity type; `kind` is the entity's discriminator (models.py,
dedup_index.py, region_models.py), and a unit test fails when an entity is missing here or a row
names none. `<at>`, `<received>`, `<created>` and `<flagged>` are UTC ISO instants (milliseconds).

| entity           | kind           | PK                        | SK                              | GSI1PK / GSI1SK                                    | GSI2PK / GSI2SK (GSI3)                     |
|------------------|----------------|---------------------------|---------------------------------|----------------------------------------------------|--------------------------------------------|
| Appeal           | appeal         | APPEAL#<id>               | A                               | UNIT#<unit> or DISPATCHQ#<loop> / <status>#<due>#<id> | CHANNEL#<channel> / <received>#<id>; GSI3: AREA#<district> / <received>#<id> |
| Case event       | event          | APPEAL#<id>               | EV#<seq:06d>                    | –                                                  | –                                          |
| Party (PII)      | party          | APPEAL#<id>               | PARTY                           | –                                                  | –                                          |
| Outbox entry     | outbox         | APPEAL#<id>               | OUT#<topic>#<key>               | OUTBOX#<shard> / <created>#<id> (while pending)    | –                                          |
| Assist entry     | marker         | APPEAL#<id>               | ASSIST#<unit>                   | UNIT#<unit> / assisting#<at>#<id>                  | –                                          |
| Key flag         | marker         | APPEAL#<id>               | KEY                             | LEADERQ#<loop> / <flagged>#<id>                    | –                                          |
| Key, by place    | marker         | APPEAL#<id>               | KEY#AREA#<district>             | LEADERQ#<district> / <flagged>#<id>                | –                                          |
| Supervision copy | marker         | APPEAL#<id>               | COPY#<step>#<version>#<unit>    | UNIT#<unit> / supervision#<at>#<id>                | –                                          |
| Alert            | alert          | APPEAL#<id>               | ALERT#<step>#<version>#<alert>  | –                                                  | ALERTS#<region>#<YYYY-MM-DD> / <at>#<id>   |
| Ticket index     | ticket         | TICKET#<channel>#<ticket> | T                               | –                                                  | –                                          |
| Nonce            | nonce          | NONCE#<key_id>#<nonce>    | N                               | –                                                  | –                                          |
| Channel          | channel        | CHANNEL#<code>            | C                               | –                                                  | –                                          |
| Correction       | correction     | CORRECTIONS#<region>      | <at>#<id>                       | –                                                  | –                                          |
| Due instant      | due            | DUE#<minute>#<shard>      | <id>#<step>#<version>#<alert>   | –                                                  | –                                          |
| Sweep state      | sweep_state    | SWEEP#deadlines or SWEEP#visits#<region> | S                | –                                                  | –                                          |
| Visit candidate  | visit_candidate | VISITC#<region>#<hour>   | <id>#<round:03d>                | –                                                  | –                                          |
| Visit task       | visit_task     | APPEAL#<id>               | VISIT#<round:03d>               | VISITQ#<region> / <due>#<id> (while open)          | –                                          |
| Calendar alert   | calendar_alert | CALENDAR#<region>#<year>  | MISSING                         | ADMIN#<region> / <at>#calendar#<year>              | –                                          |
| Audit entry      | audit          | AUDIT#<region>#<day>      | <at>#<id>#<subject>             | –                                                  | –                                          |
| Feed entry       | feed           | FEED#<subject>            | <at>#<id>#<seq:06d>             | –                                                  | –                                          |
| Dedup posting    | dedup_posting  | DEDUP#<block key>         | <received>#<id>                 | –                                                  | –                                          |
| Dedup head       | dedup_head     | DEDUP#<block key>         | ~HEAD                           | –                                                  | –                                          |
| Region version   | region_version | REGION#<code>             | VERSION#<n:06d>                 | –                                                  | –                                          |
| Region live      | region_live    | REGION#<code>             | LIVE                            | –                                                  | –                                          |
| Region audit     | region_audit   | REGION#<code>             | AUDIT#<seq:06d>                 | –                                                  | –                                          |
| Tracking link    | tracking       | TRACK#<sha256 of token>   | T                               | –                                                  | –                                          |
| Public view      | public_view    | VIEW#<id>                 | V                               | O311A#<region>#<YYYY-MM> / <received>#<id> (while listed) | O311#<region>#<bucket>#<YYYY-MM> / <received>#<id> (while listed); GSI3: O311S#<region>#<service>#<bucket>#<YYYY-MM> / <received>#<id> |
| Counters         | counter        | AN#<region>#<D or M>#<day or month> | <dimension>#<id>      | –                                                  | –                                          |
| Analytics state  | analytics_state | APPEAL#<id>              | AN                              | –                                                  | –                                          |
| Hotspot state    | hotspot_state  | HOTSPOT#<region>          | <record key>                    | –                                                  | –                                          |
| Hotspot alert    | hotspot_alert  | HOTALERT#<region>#<day>   | <raised>#<alert id>             | –                                                  | –                                          |
| Report           | report         | REPORT#<region>#<scope>   | <kind>#<period start>           | –                                                  | –                                          |
| Public record    | public_record  | PUBREC#<region>#<facet>#<value>#<month or year> | <closed>#<id> | –                                           | –                                          |
| Snapshot         | snapshot       | SNAP#<region>             | <name>                          | –                                                  | –                                          |
| Archive due      | archive_due    | ARCHDUE#<region>#<day>    | <id>#<closed seq:06d>           | –                                                  | –                                          |
| Archive pointer  | archive_pointer | ARCHIVE#<id>             | P                               | ARCHDAY#<region>#<day> / <archived>#<id>           | SHRED#<region>#<YYYY-MM> / <shred due>#<id> (until shredded) |
| Archive key      | archive_key    | ARCHIVE#<id>              | KEY                             | –                                                  | –                                          |

Nonces, dedup postings and heads, feed entries, due instants (a week after the instant) and
delivered hand-offs (30 days after delivery) expire by TTL (`expires_at`). The GSIs project
keys, `kind` and the small entries' fields only (INDEX_ATTRIBUTES below), never a `body`.

Access patterns: load an appeal with its case file (one query on PK); find an appeal by a
channel's ticket id (get TICKET); list a channel's appeals by time (GSI2); an owner's queue
(GSI1: a unit's inbox, a dispatcher queue, a leader's key queue); a district's appeals (GSI3);
list pending hand-offs older than a grace period, per shard (GSI1 OUTBOX#n): the repair sweep
reads only those, never a scan. The sections below add the dedup index, region packs and the
deadline sweep with their own access patterns.
"""
from __future__ import annotations

import zlib

OUTBOX_SHARDS = 8

# What each GSI projects besides the table's and its own keys (INCLUDE, issue 21): `kind` (the
# discriminator) and the attributes of the small entries its queries use whole (outbox rows,
# markers, visit tasks, calendar alerts; alerts). Never an appeal's or a public view's `body`:
# their lists read the index's keys, then the items themselves in one BatchGetItem (store.py,
# public_store.py), so a change of an appeal writes its index entries only when their keys move.
# infra/spec.py declares the indexes with these lists, models.py queries them.
INDEX_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "GSI1": ("kind", "appeal_id", "queue", "message", "created_at", "done_at", "resends", "note", "region",
             "round", "replied_at", "due_at", "attempts", "state", "last_called_at", "year", "at"),
    "GSI2": ("kind", "appeal_id", "region", "step", "alert", "deadline_version", "at", "instant", "unit_id",
             "data"),
    "GSI3": ("kind", "appeal_id"),
}


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


# --- de-duplication index (appended by the dedup stage) -----------------------------------------
#
# | entity        | PK                 | SK                         | what                                   |
# |---------------|--------------------|----------------------------|----------------------------------------|
# | Dedup posting | DEDUP#<block key>  | <received>#<appeal id>     | features + party hashes + master hint  |
# | Dedup head    | DEDUP#<block key>  | ~HEAD                      | write counter of the key (optimistic lock) |
#
# Access pattern: candidates of a blocking key = one query on DEDUP#<key>, SK >= window start,
# newest first, Limit n+1: the head ("~" sorts after every timestamp) and the n newest postings.

def dedup_pk(block_key: str) -> str:
    return f"DEDUP#{block_key}"


DEDUP_HEAD_SK = "~HEAD"


def dedup_posting_sk(received_iso: str, appeal_id: str) -> str:
    return time_id_sk(received_iso, appeal_id)


def unit_queue(unit_id: str) -> str:
    """A unit's inbox (lead work and, through assist entries, assisting work)."""
    return f"UNIT#{unit_id}"


def dispatcher_queue(loop: str) -> str:
    """The manual dispatch queue of one loop: a district's small loop or the city's big loop."""
    return f"DISPATCHQ#{loop}"


def leader_queue(loop: str) -> str:
    return f"LEADERQ#{loop}"


def area_pk(district_code: str) -> str:
    return f"AREA#{district_code}"


def assist_sk(unit_id: str) -> str:
    return f"ASSIST#{unit_id}"


KEY_SK = "KEY"


def key_area_sk(district_code: str) -> str:
    """A key appeal's second leader-queue marker, in the district of the place it is about."""
    return f"KEY#AREA#{district_code}"


def owner_queue(status: str, unit_id: str | None, loop: str | None) -> str | None:
    """Which list an appeal shows in now: its unit's inbox, a dispatcher queue, or none."""
    if status == "pending_dispatch":
        return dispatcher_queue(loop or "city")
    if unit_id and status in ("dispatched", "signed", "contacted", "replied", "redo", "supervised"):
        return unit_queue(unit_id)
    return None


def corrections_pk(region: str) -> str:
    """Dispatchers' corrections of one region, newest last (SK <at>#<appeal_id>)."""
    return f"CORRECTIONS#{region}"


DUE_SHARDS = 4


def due_pk(bucket: str, appeal_id: str) -> str:
    """Deadline instants by UTC minute bucket, spread over a few shards (a spike's deadlines
    land in the same minutes)."""
    return f"DUE#{bucket}#{zlib.crc32(appeal_id.encode()) % DUE_SHARDS}"


def due_pks(bucket: str) -> list[str]:
    return [f"DUE#{bucket}#{n}" for n in range(DUE_SHARDS)]


def due_sk(appeal_id: str, step: str, version: int, alert: str) -> str:
    return f"{appeal_id}#{step}#{version}#{alert}"


# --- return visits (回访, F-EV-3: services/visit_candidates.py, services/visits.py) ---------------
#
# | entity          | PK                       | SK                 | GSI1PK / GSI1SK                          |
# |-----------------|--------------------------|--------------------|------------------------------------------|
# | Visit candidate | VISITC#<region>#<hour>   | <id>#<round:03d>   | –                                        |
# | Visit task      | APPEAL#<id>              | VISIT#<round:03d>  | VISITQ#<region> / <due>#<id> (while open) |
# | Planner mark    | SWEEP#visits#<region>    | S                  | –                                        |
#
# `<hour>` is the UTC hour of the reply (YYYY-MM-DDTHH). Access patterns: an answered round is
# written as a candidate in the transaction of the reply; the planner reads its mark, then one
# partition per hour bucket (never the appeals), and puts each task once (conditional put); the
# visitors' queue is one GSI1 query, oldest due first; an appeal's tasks are one query on its
# partition (SK begins_with VISIT#). Candidates expire by TTL.

def visit_candidates_pk(region: str, hour: str) -> str:
    return f"VISITC#{region}#{hour}"


def visit_candidate_sk(appeal_id: str, round_: int) -> str:
    return f"{appeal_id}#{int(round_):03d}"


VISIT_SK_PREFIX = "VISIT#"


def visit_task_sk(round_: int) -> str:
    return f"{VISIT_SK_PREFIX}{int(round_):03d}"


def visit_queue(region: str) -> str:
    """The visitors' queue of a region: open visit tasks by due time."""
    return f"VISITQ#{region}"


def visit_mark_pk(region: str) -> str:
    """Where the return-visit planner of a region got to: the last hour bucket it read."""
    return f"SWEEP#visits#{region}"


# --- region packs (appended by the region admin, F-OP-1) -------------------------------------------
#
# | entity          | PK               | SK                | what                                           |
# |-----------------|------------------|-------------------|------------------------------------------------|
# | Region version  | REGION#<code>    | VERSION#<n:06d>   | immutable: content hash, S3 key, counts, actor |
# | Region live     | REGION#<code>    | LIVE              | live version + its S3 key; seq = optimistic lock |
# | Region audit    | REGION#<code>    | AUDIT#<seq:06d>   | one per pointer change (load, rollback)        |
#
# Access patterns: the live pack of a region = one GetItem on LIVE (it carries the S3 key, so a
# Lambda needs no second read); list versions = one query on REGION#<code>, SK begins_with
# VERSION#; history of pointer changes = query, SK begins_with AUDIT#.

def region_pk(code: str) -> str:
    return f"REGION#{code}"


REGION_LIVE_SK = "LIVE"
REGION_VERSION_SK_PREFIX = "VERSION#"
REGION_AUDIT_SK_PREFIX = "AUDIT#"


def region_version_sk(version: int) -> str:
    return f"{REGION_VERSION_SK_PREFIX}{version:06d}"


def region_audit_sk(seq: int) -> str:
    return f"{REGION_AUDIT_SK_PREFIX}{seq:06d}"


def audit_pk(region: str, day: str) -> str:
    """The audit trail of one region and day (SK <at>#<appeal_id>#<actor>)."""
    return f"AUDIT#{region}#{day}"


# --- handling against the clock (F-HD, appended by the deadlines sweep) -------------------------
#
# | entity          | PK                          | SK                                | GSI1PK / GSI1SK                    | GSI2PK / GSI2SK                       |
# |-----------------|-----------------------------|-----------------------------------|------------------------------------|---------------------------------------|
# | Alert           | APPEAL#<id>                 | ALERT#<step>#<version>#<alert>    | –                                  | ALERTS#<region>#<YYYY-MM-DD> / <at>#<id> |
# | Supervision copy| APPEAL#<id>                 | COPY#<step>#<version>#<unit>      | UNIT#<unit> / supervision#<at>#<id> | –                                    |
# | Feed entry      | FEED#<subject>              | <at>#<appeal id>#<seq:06d>        | –                                  | –                                     |
# | Sweep state     | SWEEP#deadlines             | S                                 | –                                  | –                                     |
# | Calendar alert  | CALENDAR#<region>#<year>    | MISSING                           | ADMIN#<region> / <at>#calendar#<year> | –                                  |
#
# Access patterns: an alert is raised at most once (conditional put of its key in the same
# transaction as the appeal update); today's alerts of a region for the city dashboard = one
# GSI2 query (the day is the local Asia/Shanghai date); a leader's feed = one query on
# FEED#<subject>, newest first; the sweep reads its state item, then DUE#<bucket>#<shard>.

TRANSACTION_LIMIT = 100  # DynamoDB's maximum number of actions in one TransactWriteItems


def alert_sk(step: str, version: int, alert: str) -> str:
    return f"ALERT#{step}#{int(version)}#{alert}"


ALERT_SK_PREFIX = "ALERT#"


def alerts_day_pk(region: str, local_day: str) -> str:
    """A region's alerts of one local day (YYYY-MM-DD), for the city dashboard (一屏观全市)."""
    return f"ALERTS#{region}#{local_day}"


def supervision_copy_sk(step: str, version: int, unit_id: str) -> str:
    return f"COPY#{step}#{int(version)}#{unit_id}"


def feed_pk(subject: str) -> str:
    return f"FEED#{subject}"


def feed_sk(at_iso: str, appeal_id: str, seq: int) -> str:
    return f"{at_iso}#{appeal_id}#{int(seq):06d}"


SWEEP_DEADLINES_PK = "SWEEP#deadlines"
SWEEP_SK = "S"


def calendar_alert_pk(region: str, year: int) -> str:
    return f"CALENDAR#{region}#{int(year)}"


CALENDAR_ALERT_SK = "MISSING"


def admin_queue(region: str) -> str:
    """What a region's admins must act on (e.g. a missing official calendar year)."""
    return f"ADMIN#{region}"


# --- what the citizen and the public see (services/public_views.py, services/public_record.py) ---
# A tracking link is found by the SHA-256 of its token (never stored itself). A public view sits
# in its own partition (not the appeal's: the appeal's partition queries stay as they were) and
# is, while listed, in GSI1 by its local month of receipt (Open311's window), in GSI2 by its
# bucket (open, closed, joined) and month (the status filter), and in GSI3 by its service,
# bucket and month (service_code). Unit counters are
# one row per unit in a partition per local day or month, so the rankings job reads one
# partition per day, whatever the number of units. The public record keeps one row per closed,
# listed appeal in each of its lists: all ("all", by month), a unit's ("unit", by year), a
# category's ("category", level 1, by month) and a district's ("district", by month).

def tracking_pk(token_hash: str) -> str:
    return f"TRACK#{token_hash}"


TRACKING_SK = "T"


def view_pk(appeal_id: str) -> str:
    return f"VIEW#{appeal_id}"


VIEW_SK = "V"


def open311_month_pk(region: str, bucket: str, month: str) -> str:
    """Open311's list of one local month, in one of three buckets: open, closed, or joined (a
    report joined to a master, whose status is its master's: its bucket cannot say it)."""
    return f"O311#{region}#{bucket}#{month}"


def open311_all_pk(region: str, month: str) -> str:
    """Open311's list of one local month, every status together (a listing without filters)."""
    return f"O311A#{region}#{month}"


def open311_service_pk(region: str, service_code: str, bucket: str, month: str) -> str:
    return f"O311S#{region}#{service_code}#{bucket}#{month}"


def counters_pk(region: str, grain: str, period: str) -> str:
    """Every scope's counters of one local day (grain D) or month (M): one partition."""
    return f"AN#{region}#{grain}#{period}"


def counter_sk(dimension: str, ident: str) -> str:
    return f"{dimension}#{ident}"


ANALYTICS_SK = "AN"


def hotspot_pk(region: str) -> str:
    return f"HOTSPOT#{region}"


def hotspot_alerts_pk(region: str, local_day: str) -> str:
    return f"HOTALERT#{region}#{local_day}"


def report_pk(region: str, scope: str) -> str:
    return f"REPORT#{region}#{scope}"


def public_record_pk(region: str, facet: str, value: str, partition: str) -> str:
    return f"PUBREC#{region}#{facet}#{value}#{partition}"


def snapshot_pk(region: str) -> str:
    return f"SNAP#{region}"
