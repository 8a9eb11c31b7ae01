"""Fakes of the platform's ports, so service tests run without AWS and without moto.

    p = fake_platform(FixedClock(T0), region=shenzhen_runtime())
    intake.take_in(p, request); p.store.load_appeal(...); p.publisher.published

MemoryStore has every method of chalicelib.storage.store.DynamoStore (one per access pattern,
same names and parameters; tests/unit/test_services_without_aws.py fails when they drift) over
ONE plain dict: (PK, SK) -> the item's attribute map exactly as DynamoDB would store it
(`Model.serialize()`). Items are made and read back by the storage layer's own mapping
(storage/records.py `to_item`, repository.appeal_to_item / item_to_appeal, ...), so keys and index
entries are the real ones, and every read builds fresh objects: a service's in-memory changes
never leak into the store without a commit, and whatever does not survive serialization fails
here as it would on DynamoDB. Reads that DynamoDB answers from an index (GSI1..3) filter the same
dict on the index attributes.

MemoryUnitOfWork IS the real UnitOfWork (storage/unit_of_work.py) with the TransactWriteItems
call replaced by `MemoryStore.transact`: the same plan (appeals guarded by the version they were
loaded at, their case events pulled from the aggregate, add_once rows, outbox rows under the
appeal each message names, closes, head bumps, followers' feed entries, the 100-action limit),
the same error mapping (AlreadyCreated(record), ConcurrentUpdate, versions bumped on success and
restored on failure). `transact` applies it as DynamoDB does: every condition checked first,
then all written, or nothing, with the cancellation reasons DynamoDB gives; two actions on one
item are refused like DynamoDB's ValidationException.

Nothing here creates a boto3 or botocore client: PynamoDB models are built and serialized only.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from pynamodb.exceptions import CancellationReason, TransactWriteError

from chalicelib.bootstrap import Platform, bootstrap
from chalicelib.domain.appeal import Appeal, Party
from chalicelib.domain.errors import appeal_not_found
from chalicelib.domain.privacy import mask_id_number, mask_name, mask_phone
from chalicelib.domain.records import (
    AlertRecord,
    Channel,
    DueEntry,
    FeedEntry,
    Handoff,
    KeyRead,
    OutboxEntry,
    SealedParty,
)
from chalicelib.domain.timefmt import iso
from chalicelib.services.clock import Clock, FixedClock
from chalicelib.settings import Settings
from chalicelib.storage import keys, repository
from chalicelib.storage import records as rec
from chalicelib.storage.dedup_index import DedupHeadItem, DedupPostingItem
from chalicelib.storage.pii import KmsSealer
from chalicelib.storage.queues import QueuePublisher
from chalicelib.storage.models import (
    AppealItem,
    AuditItem,
    ChannelItem,
    FeedItem,
    Item,
    MarkerItem,
    OutboxItem,
    PartyItem,
    PublicViewItem,
    SweepStateItem,
)
from chalicelib.storage.unit_of_work import UnitOfWork
from chalicelib.domain.return_visit import VisitCandidate, VisitTask
from chalicelib.storage.models import VisitCandidateItem, VisitTaskItem

ROOT = Path(__file__).resolve().parent.parent
SHENZHEN_DIR = ROOT / "regions" / "shenzhen"

Key = tuple[str, str]
Raw = dict[str, dict[str, Any]]     # an item's attribute map, as DynamoDB stores it


# --- conditions, evaluated as DynamoDB evaluates them ------------------------------------------

def _typed(av: dict[str, Any] | None) -> Any:
    """A stored attribute value as something comparable (numbers as Decimal, like DynamoDB)."""
    if av is None:
        return None
    (kind, value), = av.items()
    return Decimal(value) if kind == "N" else value


def _operand(op: Any, raw: Raw) -> Any:
    if hasattr(op, "path"):                                  # pynamodb Path: an attribute of the item
        return _typed(raw.get(".".join(op.path)))
    return _typed(op.value)                                  # pynamodb Value


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def holds(condition: Any, raw: Raw | None) -> bool:
    """Does a PynamoDB condition hold for the stored item (None: no item)? Raises for an operator
    the fake does not know, rather than guessing."""
    raw = raw or {}
    op, values = condition.operator, condition.values
    if op == "AND":
        return all(holds(c, raw) for c in values)
    if op == "OR":
        return any(holds(c, raw) for c in values)
    if op == "NOT":
        return not holds(values[0], raw)
    if op == "attribute_exists":
        return ".".join(values[0].path) in raw
    if op == "attribute_not_exists":
        return ".".join(values[0].path) not in raw
    if op in _COMPARE:
        left, right = _operand(values[0], raw), _operand(values[1], raw)
        # A comparison with a missing attribute is false in DynamoDB (whatever the operator).
        return left is not None and right is not None and _COMPARE[op](left, right)
    if op == "begins_with":
        left, right = _operand(values[0], raw), _operand(values[1], raw)
        return isinstance(left, str) and left.startswith(right)
    if op == "BETWEEN":
        v, low, high = (_operand(x, raw) for x in values)
        return v is not None and low <= v <= high
    raise NotImplementedError(f"tests/fakes.py cannot evaluate the condition operator {op!r}")


def apply_update(raw: Raw, actions: list) -> Raw:
    """UpdateItem's SET (of a value) and ADD (to a number, 0 when missing), as DynamoDB applies
    them; raises for any other action rather than guessing."""
    for action in actions:
        path, operand = action.values
        name = ".".join(path.path)
        (kind, value), = operand.value.items()
        if action.format_string.startswith("{0} = {1}") and not hasattr(operand, "path"):
            raw[name] = {kind: value}
        elif action.format_string.startswith("{0} {1}") and kind == "N":   # ADD
            raw[name] = {"N": str(Decimal((raw.get(name) or {"N": "0"})["N"]) + Decimal(value))}
        else:
            raise NotImplementedError(f"tests/fakes.py cannot apply the update action {action!r}")
    return raw


class TransactionCancelled(TransactWriteError):
    """What PynamoDB raises for a cancelled TransactWriteItems: one reason per action, None for
    an action that was not the cause (DynamoDB's "None")."""

    def __init__(self, reasons: list[CancellationReason | None], message: str = "Failed to write transaction items"):
        super().__init__(message)
        self._reasons = reasons

    @property
    def cancellation_reasons(self) -> list[CancellationReason | None]:
        return self._reasons


def _key(item: Item) -> Key:
    return item.PK, item.SK


# --- the store ---------------------------------------------------------------------------------

class MemoryUnitOfWork(UnitOfWork):
    """The real unit of work, committing into a MemoryStore instead of DynamoDB."""

    def __init__(self, store: "MemoryStore", now: datetime):
        super().__init__(now, transact=store.transact)
        self.store = store


@dataclass
class Transaction:
    """One transaction the store was asked to write: its actions' keys, and how it ended."""

    keys: list[Key]
    outcome: str                      # committed | cancelled | failed
    reasons: list[str]


class MemoryStore:
    """DynamoStore's methods over a dict of items (see the module docstring)."""

    def __init__(self) -> None:
        self.items: dict[Key, Raw] = {}
        self.transactions: list[Transaction] = []
        self._before_commit: list[Callable[[], None]] = []

    # --- what tests arrange and inspect (not part of DynamoStore) ----------------------------

    def add_channel(self, channel: Channel) -> None:
        """Register a channel (the admin tool's job in a real stack)."""
        item = ChannelItem(keys.channel_pk(channel.code), keys.CHANNEL_SK, code=channel.code, name=channel.name,
                           key_ids=dict(channel.key_ids), callback_url=channel.callback_url,
                           callback_key_id=channel.callback_key_id, enabled=channel.enabled)
        self.items[_key(item)] = item.serialize()

    def before_next_commit(self, step: Callable[[], None]) -> None:
        """Run `step` when the next transaction arrives, before its conditions are checked: a
        concurrent writer (it may commit its own unit of work) or a failure (it may raise; the
        transaction then writes nothing, as a lost TransactWriteItems call)."""
        self._before_commit.append(step)

    def fail_next_commit(self, error: Exception | None = None) -> None:
        """The next transaction is lost in transport: nothing is written, `error` is raised (by
        default a TransactWriteError without cancellation reasons, as PynamoDB raises one)."""
        def fail() -> None:
            raise error or TransactWriteError("Failed to write transaction items (injected by the test)")
        self.before_next_commit(fail)

    def snapshot(self) -> dict[Key, Raw]:
        """Everything stored, copied (compare two snapshots to see what a call wrote)."""
        return copy.deepcopy(self.items)

    def kinds(self) -> Counter:
        """How many items of each entity type (`kind`) are stored."""
        return Counter(raw.get("kind", {}).get("S", "?") for raw in self.items.values())

    def items_of(self, kind: str) -> list[Item]:
        """The stored items of one entity type, as fresh model objects, in key order."""
        return [Item.from_raw_data(copy.deepcopy(raw)) for key, raw in sorted(self.items.items())
                if raw.get("kind", {}).get("S") == kind]

    # --- the transaction ---------------------------------------------------------------------

    def unit_of_work(self, now: datetime) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self, now)

    def transact(self, actions: list) -> None:
        """TransactWriteItems: every condition is checked before anything is written; one failed
        condition cancels all of it."""
        steps, self._before_commit = self._before_commit, []
        keys_ = [_key(a.item) for a in actions]
        try:
            for step in steps:
                step()
        except BaseException:
            self.transactions.append(Transaction(keys_, "failed", []))
            raise
        if not actions:
            return
        if len(set(keys_)) != len(keys_):
            twice = sorted({k for k in keys_ if keys_.count(k) > 1})
            self.transactions.append(Transaction(keys_, "failed", ["ValidationException"]))
            raise TransactionCancelled([], f"ValidationException: Transaction request cannot include multiple "
                                           f"operations on one item {twice}")
        if len(actions) > keys.TRANSACTION_LIMIT:
            self.transactions.append(Transaction(keys_, "failed", ["ValidationException"]))
            raise TransactionCancelled([], f"ValidationException: {len(actions)} actions, at most "
                                           f"{keys.TRANSACTION_LIMIT}")
        reasons: list[CancellationReason | None] = []
        for act, key in zip(actions, keys_):
            ok = act.condition is None or holds(act.condition, self.items.get(key))
            reasons.append(None if ok else CancellationReason(code="ConditionalCheckFailed"))
        if any(reasons):
            self.transactions.append(Transaction(keys_, "cancelled", [r.code if r else "None" for r in reasons]))
            raise TransactionCancelled(reasons)
        for act, key in zip(actions, keys_):
            if act.op == "delete":
                self.items.pop(key, None)
            elif act.op == "update":
                raw = self.items.get(key) or {"PK": {"S": key[0]}, "SK": {"S": key[1]}}
                self.items[key] = apply_update(copy.deepcopy(raw), act.actions)
            else:
                self.items[key] = act.item.serialize()
        self.transactions.append(Transaction(keys_, "committed", []))

    # --- single-item reads and writes, as PynamoDB does them ---------------------------------

    def _get(self, pk: str, sk: str) -> Item | None:
        raw = self.items.get((pk, sk))
        return Item.from_raw_data(copy.deepcopy(raw)) if raw is not None else None

    def _put(self, item: Item, condition: Any = None) -> bool:
        """PutItem; False when the condition fails (ConditionalCheckFailedException)."""
        if condition is not None and not holds(condition, self.items.get(_key(item))):
            return False
        self.items[_key(item)] = item.serialize()
        return True

    def _update(self, pk: str, sk: str, change: Callable[[Raw], None], condition: Any = None) -> bool:
        """UpdateItem on the attribute map; like DynamoDB, an update without a condition creates
        the item when it is missing (with nothing but its key and the attributes set)."""
        current = self.items.get((pk, sk))
        if condition is not None and not holds(condition, current):
            return False
        raw = copy.deepcopy(current) if current is not None else {"PK": {"S": pk}, "SK": {"S": sk}}
        change(raw)
        self.items[(pk, sk)] = raw
        return True

    def _query(self, pk: str, *, prefix: str | None = None, low: str | None = None, high: str | None = None,
               below: str | None = None, forward: bool = True, limit: int | None = None, index: int = 0
               ) -> list[Item]:
        """Query on the table (index 0) or on GSI1..3: the items of one partition key, by sort key."""
        pk_attr, sk_attr = ("PK", "SK") if index == 0 else (f"GSI{index}PK", f"GSI{index}SK")
        found = []
        for raw in self.items.values():
            if _typed(raw.get(pk_attr)) != pk or sk_attr not in raw:
                continue
            sk = _typed(raw[sk_attr])
            if (prefix is not None and not sk.startswith(prefix)) or (low is not None and sk < low) or \
                    (high is not None and sk > high) or (below is not None and sk >= below):
                continue
            found.append((sk, raw))
        found.sort(key=lambda x: x[0], reverse=not forward)
        if limit is not None:
            found = found[:limit]
        return [Item.from_raw_data(copy.deepcopy(raw)) for _, raw in found]

    # --- appeals and their partition ---------------------------------------------------------

    def load_appeal(self, appeal_id: str, consistent: bool = True) -> Appeal:
        item = self._get(keys.appeal_pk(appeal_id), keys.APPEAL_SK)
        if item is None:
            raise appeal_not_found()
        return repository.item_to_appeal(item)

    def load_case_file(self, appeal_id: str) -> list:
        return [repository.item_to_event(i)
                for i in self._query(keys.appeal_pk(appeal_id), prefix=keys.EVENT_SK_PREFIX)]

    def earlier_status_pending(self, appeal_id: str, key: str) -> bool:
        upto = keys.outbox_sk("status", key)
        items = self._query(keys.appeal_pk(appeal_id), low=keys.outbox_sk("status", ""), high=upto)
        return any(i.SK < upto and not i.done_at for i in items if isinstance(i, OutboxItem))

    def mark_outbox_done(self, appeal_id: str, topic: str, key: str, now: datetime) -> bool:
        def close(raw: Raw) -> None:
            raw["done_at"] = {"S": iso(now)}
            raw.pop("GSI1PK", None)
            raw.pop("GSI1SK", None)
        return self._update(keys.appeal_pk(appeal_id), keys.outbox_sk(topic, key), close,
                            OutboxItem.PK.exists() & OutboxItem.done_at.does_not_exist())

    def load_appeals(self, appeal_ids: list[str]) -> list[Appeal]:
        out = []
        for appeal_id in appeal_ids:
            item = self._get(keys.appeal_pk(appeal_id), keys.APPEAL_SK)
            if item is not None:
                out.append(repository.item_to_appeal(item))
        return out

    def load_for_dedup(self, appeal_id: str, topic: str) -> tuple[Appeal, list[str], bool]:
        appeal, hashes, still_open = None, [], False
        for it in self._query(keys.appeal_pk(appeal_id)):
            if isinstance(it, AppealItem):
                appeal = repository.item_to_appeal(it)
            elif isinstance(it, PartyItem):
                hashes = rec.sealed_party(it).hashes
            elif isinstance(it, OutboxItem) and it.SK == keys.outbox_sk(topic, "1") and not it.done_at:
                still_open = True
        if appeal is None:
            raise appeal_not_found()
        return appeal, hashes, still_open

    def get_party(self, appeal_id: str) -> SealedParty | None:
        item = self._get(keys.appeal_pk(appeal_id), keys.PARTY_SK)
        return rec.sealed_party(item) if item else None

    def get_ticket(self, channel: str, ticket_id: str):
        item = self._get(keys.ticket_pk(channel, ticket_id), keys.TICKET_SK)
        return rec.ticket(item) if item else None

    def get_channel(self, code: str) -> Channel | None:
        item = self._get(keys.channel_pk(code), keys.CHANNEL_SK)
        return rec.channel(item) if item else None

    # --- outbox ------------------------------------------------------------------------------

    def get_outbox(self, appeal_id: str, topic: str, key: str) -> OutboxEntry | None:
        item = self._get(keys.appeal_pk(appeal_id), keys.outbox_sk(topic, key))
        return rec.outbox_entry(item) if item else None

    def pending_outbox(self, older_than: datetime, limit_per_shard: int = 100) -> Iterator[OutboxEntry]:
        cutoff = iso(older_than)
        for shard in range(keys.OUTBOX_SHARDS):
            for item in self._query(keys.outbox_gsi_pk(shard), below=cutoff, limit=limit_per_shard, index=1):
                yield rec.outbox_entry(item)

    def put_once(self, record, now: datetime) -> bool:
        return self._put(rec.to_item(record, now), Item.PK.does_not_exist())

    def put_handoffs_once(self, handoffs: list[Handoff], now: datetime) -> list[Handoff]:
        return [h for h in handoffs if self.put_once(h, now)]

    def outbox_resent(self, entry: OutboxEntry, now: datetime) -> None:
        def resent(raw: Raw) -> None:
            raw["resends"] = {"N": str(int(_typed(raw.get("resends")) or 0) + 1)}
            raw["GSI1SK"] = {"S": keys.time_id_sk(iso(now), entry.appeal_id)}
        self._update(keys.appeal_pk(entry.appeal_id), keys.outbox_sk(entry.topic, entry.key), resent,
                     OutboxItem.PK.exists() & OutboxItem.done_at.does_not_exist())

    def outbox_abandoned(self, entry: OutboxEntry, now: datetime) -> None:
        def abandoned(raw: Raw) -> None:
            raw.pop("GSI1PK", None)
            raw.pop("GSI1SK", None)
            raw["done_at"] = {"S": "abandoned:" + iso(now)}
        self._update(keys.appeal_pk(entry.appeal_id), keys.outbox_sk(entry.topic, entry.key), abandoned)

    # --- staff lists -------------------------------------------------------------------------

    def unit_inbox(self, unit_id: str, status: str | None, limit: int) -> list[Appeal]:
        return self._appeals_of(self._query(keys.unit_queue(unit_id), prefix=f"{status}#" if status else None,
                                            limit=limit, index=1))

    def dispatch_queue(self, loop: str, limit: int) -> list[Appeal]:
        return self._appeals_of(self._query(keys.dispatcher_queue(loop), limit=limit, index=1))

    def key_queue(self, loop: str, limit: int) -> list[Appeal]:
        return self._appeals_of(self._query(keys.leader_queue(loop), limit=limit, index=1))

    def area_appeals(self, district_code: str, limit: int) -> list[Appeal]:
        return self._appeals_of(self._query(keys.area_pk(district_code), forward=False, limit=limit, index=3))

    def _appeals_of(self, items: Iterable[Item]) -> list[Appeal]:
        out = []
        for it in items:
            if isinstance(it, AppealItem):
                out.append(repository.item_to_appeal(it))
            elif isinstance(it, MarkerItem):
                out.append(self.load_appeal(it.appeal_id, consistent=False))
        return out

    def feed(self, subject: str, limit: int) -> list[FeedEntry]:
        items = self._query(keys.feed_pk(subject), forward=False, limit=limit)
        return [FeedEntry(i.subject, i.appeal_id, int(i.seq), i.at, i.event_kind, i.actor, dict(i.data or {}))
                for i in items if isinstance(i, FeedItem)]

    def audit_trail(self, region: str, day: str, limit: int) -> list[dict]:
        return [{"at": a.at, "actor": a.actor, "appeal_id": a.appeal_id, "action": a.action, "reason": a.reason,
                 "fields": a.fields} for a in self._query(keys.audit_pk(region, day), limit=limit)
                if isinstance(a, AuditItem)]

    # --- deadlines ---------------------------------------------------------------------------

    def due_in_bucket(self, bucket: str) -> list[DueEntry]:
        return [rec.due_entry(d) for pk in keys.due_pks(bucket) for d in self._query(pk)]

    def sweep_mark(self) -> str | None:
        item = self._get(keys.SWEEP_DEADLINES_PK, keys.SWEEP_SK)
        return item.last_bucket if item else None

    def move_sweep_mark(self, last_bucket: str, now: datetime) -> None:
        item = SweepStateItem(keys.SWEEP_DEADLINES_PK, keys.SWEEP_SK, last_bucket=last_bucket, updated_at=iso(now))
        self._put(item, SweepStateItem.PK.does_not_exist() | (SweepStateItem.last_bucket < last_bucket))

    def alerts_of_day(self, region: str, local_day: str, limit: int = 200) -> list[AlertRecord]:
        items = self._query(keys.alerts_day_pk(region, local_day), forward=False, limit=limit, index=2)
        return [rec.alert_record(i) for i in items]

    # --- return visits -----------------------------------------------------------------------

    def visit_candidates(self, region: str, bucket: str) -> list[VisitCandidate]:
        return [rec.visit_candidate(i) for i in self._query(keys.visit_candidates_pk(region, bucket))
                if isinstance(i, VisitCandidateItem)]

    def visit_tasks(self, appeal_id: str) -> list[VisitTask]:
        return [rec.visit_task(i) for i in self._query(keys.appeal_pk(appeal_id), prefix=keys.VISIT_SK_PREFIX)
                if isinstance(i, VisitTaskItem)]

    def visit_queue(self, region: str, limit: int) -> list[VisitTask]:
        return [rec.visit_task(i) for i in self._query(keys.visit_queue(region), limit=limit, index=1)
                if isinstance(i, VisitTaskItem)]

    def visit_mark(self, region: str) -> str | None:
        item = self._get(keys.visit_mark_pk(region), keys.SWEEP_SK)
        return item.last_bucket if item else None

    def move_visit_mark(self, region: str, last_bucket: str, now: datetime) -> None:
        item = SweepStateItem(keys.visit_mark_pk(region), keys.SWEEP_SK, last_bucket=last_bucket, updated_at=iso(now))
        self._put(item, SweepStateItem.PK.does_not_exist() | (SweepStateItem.last_bucket < last_bucket))

    # --- what the citizen and the public see -------------------------------------------------

    def get_tracking(self, token_hash: str):
        item = self._get(keys.tracking_pk(token_hash), keys.TRACKING_SK)
        return rec.tracking_link(item) if item else None

    def get_view(self, appeal_id: str):
        item = self._get(keys.view_pk(appeal_id), keys.VIEW_SK)
        return rec.public_view(item) if item else None

    def load_views(self, appeal_ids: list[str], consistent: bool = False) -> dict:
        views = (self.get_view(i) for i in dict.fromkeys(appeal_ids))
        return {v.appeal_id: v for v in views if v is not None}

    def open311_views(self, region: str, bucket: str | None, month: str, low: str, high: str, limit: int,
                      service_code: str | None = None) -> list:
        pk, index = ((keys.open311_all_pk(region, month), 1) if bucket is None else
                     (keys.open311_service_pk(region, service_code, bucket, month), 3) if service_code else
                     (keys.open311_month_pk(region, bucket, month), 2))
        items = self._query(pk, low=low, high=high + "#\uffff", forward=False, limit=limit, index=index)
        return [rec.public_view(i) for i in items if isinstance(i, PublicViewItem)]

    def public_records(self, region: str, facet: str, value: str, partition: str, low: str, below: str,
                       limit: int) -> list:
        items = self._query(keys.public_record_pk(region, facet, value, partition), low=low, below=below,
                            forward=False, limit=limit)
        return [rec.public_record_row(i) for i in items]

    # --- analytics ---------------------------------------------------------------------------

    def counters(self, region: str, grain: str, period: str, dimension: str | None = None) -> list:
        prefix = keys.counter_sk(dimension, "") if dimension else None
        return [rec.counter_row(i) for i in self._query(keys.counters_pk(region, grain, period), prefix=prefix)]

    def counter(self, region: str, grain: str, period: str, dimension: str, ident: str):
        item = self._get(keys.counters_pk(region, grain, period), keys.counter_sk(dimension, ident))
        return rec.counter_row(item) if item else None

    def analytics_states(self, appeal_ids: list[str]) -> dict:
        items = (self._get(keys.appeal_pk(i), keys.ANALYTICS_SK) for i in dict.fromkeys(appeal_ids))
        return {s.appeal_id: s for s in (rec.analytics_state(i) for i in items if i is not None)}

    def hotspot_records(self, region: str, record_keys: list[str]) -> dict:
        items = ((k, self._get(keys.hotspot_pk(region), k)) for k in dict.fromkeys(record_keys))
        return {k: dict(i.body) for k, i in items if i is not None}

    def hotspot_alerts(self, region: str, local_day: str, limit: int = 200) -> list:
        items = self._query(keys.hotspot_alerts_pk(region, local_day), forward=False, limit=limit)
        return [rec.hotspot_alert(i) for i in items]

    def reports(self, region: str, scope: str, limit: int = 100) -> list:
        items = self._query(keys.report_pk(region, scope), forward=False, limit=limit)
        return sorted((rec.report_entry(i) for i in items), key=lambda e: (e.start, e.kind), reverse=True)

    def get_report(self, region: str, scope: str, kind: str, start: str):
        item = self._get(keys.report_pk(region, scope), f"{kind}#{start}")
        return rec.report_entry(item) if item else None

    def every_appeal_id(self, region: str):
        return [_typed(raw["appeal_id"]) for raw in list(self.items.values())
                if _typed(raw.get("kind")) == "appeal" and _typed(raw.get("region")) == region]

    def _counter_keys(self, region: str) -> list:
        return [k for k, raw in self.items.items()
                if _typed(raw.get("kind")) == "counter" and k[0].startswith(f"AN#{region}#")]

    def every_counter(self, region: str):
        return [rec.counter_row(self._get(*k)) for k in self._counter_keys(region)]

    def delete_counters(self, region: str) -> int:
        found = self._counter_keys(region)
        for k in found:
            self.items.pop(k)
        return len(found)

    def get_snapshot(self, region: str, name: str):
        item = self._get(keys.snapshot_pk(region), name)
        return rec.snapshot(item) if item else None

    def put_snapshot(self, snapshot, now: datetime) -> None:
        self._put(rec.to_item(snapshot, now))

    # --- de-duplication index ----------------------------------------------------------------

    def read_key(self, key: str, since: datetime, limit: int) -> KeyRead:
        items = self._query(keys.dedup_pk(key), low=iso(since), forward=False, limit=limit + 1)
        out = KeyRead(key, None, items_read=len(items))
        for it in items:
            if isinstance(it, DedupHeadItem):
                out.head = int(it.n)
            elif isinstance(it, DedupPostingItem) and len(out.postings) < limit:
                out.postings.append(rec.posting(it, key))
        return out


# --- the publisher -----------------------------------------------------------------------------

class ListPublisher:
    """QueuePublisher's behaviour without SQS: what was sent, in order.

    Messages are JSON round-tripped as the real send serializes them (a message that is not
    JSON fails here too). `publish` never raises (a failed send stays in the outbox for the repair
    sweep); `send` raises. With a store, it notes every hand-off published before its outbox row
    was stored (`unstored`), which is publishing before the commit."""

    def __init__(self, store: MemoryStore | None = None, failing_queues: Iterable[str] = ()):
        self.store = store
        self.failing_queues = set(failing_queues)
        self.published: list[Handoff] = []       # hand-offs publish() delivered
        self.failed: list[Handoff] = []          # hand-offs publish() could not deliver
        self.unstored: list[Handoff] = []        # published while no outbox row held them
        self.sent: list[tuple[str, dict]] = []   # every message put on a queue (publish and send)

    def _deliver(self, queue: str, message: dict[str, Any]) -> None:
        if queue in self.failing_queues:
            raise ConnectionError(f"queue {queue} unreachable (the test says so)")
        self.sent.append((queue, json.loads(json.dumps(message, ensure_ascii=False))))

    def send(self, queue: str, message: dict[str, Any]) -> None:
        self._deliver(queue, message)

    def publish(self, handoffs: list[Handoff]) -> int:
        sent = 0
        for h in handoffs:
            if self.store is not None and self.store.get_outbox(h.appeal_id, h.topic, h.key) is None:
                self.unstored.append(h)
            try:
                self._deliver(h.queue, h.message)
            except Exception:  # noqa: BLE001 - as QueuePublisher: logged there, kept for the sweep
                self.failed.append(h)
                continue
            self.published.append(h)
            sent += 1
        return sent

    def messages(self, queue: str) -> list[dict]:
        return [m for q, m in self.sent if q == queue]

    def take(self, queue: str) -> list[dict]:
        """The messages sent to `queue` since the last take (what a consumer would receive next)."""
        done = getattr(self, "_taken", {})
        self._taken = done
        mine = self.messages(queue)
        fresh, done[queue] = mine[done.get(queue, 0):], len(mine)
        return fresh


def run_analytics(p, batch: int = 10) -> dict:
    """Deliver every analytics message sent so far to the analytics stage, in batches as SQS would."""
    from chalicelib.services import analytics

    msgs = p.publisher.take("analytics")
    out: Counter = Counter()
    for i in range(0, len(msgs), batch):
        result = analytics.process(p, msgs[i:i + batch])
        out.update({k: v for k, v in result.items() if k != "failed"})
        out["failed"] += len(result["failed"])
    return dict(out)


class MemoryFiles:
    """ReportFiles without S3: key -> (bytes, content type)."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = (bytes(body), content_type)

    def get(self, key: str) -> tuple[bytes, str]:
        return self.objects[key]


# --- the sealer --------------------------------------------------------------------------------

class FakeSealer:
    """KmsSealer's behaviour without KMS or a crypto library.

    Sealed text is the party as JSON XOR'd with a keystream of the appeal id: not plain text, not
    secret. It is bound to its appeal id as AES-GCM's associated data binds it (unsealing under
    another id fails). Keyed hashes are HMAC-SHA256 under a fixed test key, normalised as
    storage/pii.keyed_hash normalises, so equal people match across appeals; hints are masked
    by domain.privacy as the real sealer masks them."""

    HASH_KEY = b"jiesu-fake-hash-key"
    WRAPPED_KEY = b"fake-wrapped-data-key"

    def __init__(self) -> None:
        self.sealed = 0
        self.unsealed = 0

    @staticmethod
    def _stream(appeal_id: str, n: int) -> bytes:
        out, block = b"", 0
        while len(out) < n:
            out += hashlib.sha256(f"{appeal_id}:{block}".encode()).digest()
            block += 1
        return out[:n]

    def keyed_hash(self, kind: str, value: str) -> str:
        normalised = value.strip().upper().replace(" ", "")
        return hmac.new(self.HASH_KEY, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()[:32]

    def derive_token(self, purpose: str, value: str) -> str:
        digest = hmac.new(self.HASH_KEY, f"token:{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def seal(self, party: Party, appeal_id: str) -> SealedParty:
        self.sealed += 1
        plain = json.dumps({"appeal_id": appeal_id, "name": party.name, "id_number": party.id_number,
                            "phone": party.phone}, ensure_ascii=False).encode()
        cipher = bytes(a ^ b for a, b in zip(plain, self._stream(appeal_id, len(plain))))
        return SealedParty(appeal_id, self.WRAPPED_KEY, hashlib.sha256(appeal_id.encode()).digest()[:12], cipher,
                           id_hash=self.keyed_hash("id", party.id_number) if party.id_number else None,
                           phone_hash=self.keyed_hash("phone", party.phone) if party.phone else None,
                           id_hint=mask_id_number(party.id_number) or None,
                           phone_hint=mask_phone(party.phone) or None,
                           name_hint=mask_name(party.name) or None)

    def unseal(self, sealed: SealedParty) -> Party:
        self.unsealed += 1
        cipher = bytes(sealed.ciphertext)
        plain = bytes(a ^ b for a, b in zip(cipher, self._stream(sealed.appeal_id, len(cipher))))
        try:
            data = json.loads(plain)
        except ValueError:
            raise ValueError("sealed for another appeal") from None
        if data.pop("appeal_id") != sealed.appeal_id:
            raise ValueError("sealed for another appeal")
        return Party(**data)


# --- the platform ------------------------------------------------------------------------------

QUEUES = ("dedup", "dispatch", "notify")          # infra/spec.py

SETTINGS = Settings(
    stage="test", region_code="shenzhen", table_name="jiesu-fake",
    queue_urls={q: f"memory://queues/{q}" for q in QUEUES},
    pii_key_id="alias/jiesu-fake-pii", hash_key_secret="jiesu/fake-hash-key", endpoint_url=None,
    city_code="440300",
)


@lru_cache(maxsize=None)
def region_runtime(folder: str = str(SHENZHEN_DIR)):
    """A region folder's runtime, as chalicelib.policy builds one (pack read from the folder,
    parts built on first use), with no stored corrections: nothing reads the table. Cached per
    folder (building the classifier takes a second); do not fold corrections into it."""
    from chalicelib.policy.pack.parse import read_pack
    from chalicelib.policy.runtime import RegionRuntime

    return RegionRuntime(read_pack(folder), corrections=lambda region, after="": [])


def shenzhen_runtime():
    return region_runtime(str(SHENZHEN_DIR))


RegionArg = Any   # None | a RegionRuntime | {code: runtime} | a function code -> runtime


def _region_source(region: RegionArg) -> Callable[[str], Any]:
    if callable(region):
        return region
    by_code: Mapping[str, Any] = {} if region is None else region if isinstance(region, Mapping) else \
        {region.region: region}

    def source(code: str):
        from chalicelib.policy.region import RegionNotLoaded

        try:
            return by_code[code]
        except KeyError:
            raise RegionNotLoaded(f"region {code!r} is not loaded in this test (fake_platform(region=...))",
                                  field="region") from None
    return source


def _secret_source(secrets: Mapping[str, str]) -> Callable[[str], str]:
    def get(ref: str) -> str:
        try:
            return secrets[ref]
        except KeyError:
            raise KeyError(f"no secret {ref!r} in this test (fake_platform(secrets=...))") from None
    return get


def fake_platform(clock: Clock | datetime, region: RegionArg = None, *, store: MemoryStore | None = None,
                  secrets: Mapping[str, str] | None = None, settings: Settings = SETTINGS,
                  publisher: ListPublisher | None = None, sealer: FakeSealer | None = None,
                  files: "MemoryFiles | None" = None) -> Platform:
    """A Platform of fakes through the composition root (chalicelib.bootstrap): a memory store, a
    list publisher watching it, a fake sealer, secrets from a dict, fixed settings and the region
    runtime(s) given. Every part is passed, so bootstrap builds nothing real."""
    if isinstance(clock, datetime):
        clock = FixedClock(clock)
    store = MemoryStore() if store is None else store
    p = bootstrap(clock=clock, store=store,
                  publisher=ListPublisher(store) if publisher is None else publisher,
                  region=_region_source(region), secrets=_secret_source(dict(secrets or {})),
                  sealer=FakeSealer() if sealer is None else sealer, settings=settings,
                  files=MemoryFiles() if files is None else files)
    # bootstrap picks its defaults with `or`: a fake that were falsy would be swapped for the real
    # part, which would then call AWS. None of these is, and this says so if one ever becomes so.
    assert p.store is store and not isinstance(p.publisher, QueuePublisher) and not isinstance(p.sealer, KmsSealer)
    return p
