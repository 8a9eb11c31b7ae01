"""The unit of work: what one use case changed, committed once, in one DynamoDB transaction.

A use case loads aggregates, lets them decide, and tells the unit of work what to write:

    uow = store.unit_of_work(now)
    uow.track(appeal)                 # saved guarded by the version it was loaded at, with its new
                                      # case events (and followers' feed entries)
    uow.add(DueEntry(...))            # index rows (chalicelib.domain.records), put as they are
    uow.add_once(AlertRecord(...))    # put only if its key is new: else nothing is written and
                                      # AlreadyCreated(record) is raised
    uow.update(CounterBump(...))      # counters added to where they are stored (an ADD, no read)
    uow.bump(AnalyticsState(...))     # put only over what was read (records.guard): a dedup head,
                                      # the analytics stage's count of an appeal
    uow.delete(PublicRecordRow(...))  # a row that no longer holds (by its key)
    uow.hand_off(handoff)             # an outbox row, published by the caller after commit
    uow.close(appeal_id, topic, key)  # the consumed hand-off leaves the outbox
    uow.commit()

Everything goes into ONE TransactWriteItems: all or nothing, so an index row never points at a
change that did not happen and a hand-off is never lost. A failed version guard, a moved
dedup head or a conflicting concurrent transaction raise ConcurrentUpdate (409
`concurrent_update`; staff steps and stages recompute on a fresh copy).

DynamoDB allows 100 actions per transaction. Plan above it, in order:
1. followers' feed entries shrink to one digest entry per follower (FeedItem.for_events);
2. hand-offs to appeals the change does not itself save (a de-duplication master's status
   notice to each of its joined duplicates: a big event can have hundreds of reports) spill into
   ONE outbox row (topic `spill`) in the transaction, carrying their messages; the notify stage
   writes them out as ordinary outbox rows (each written once) and sends them (services.notify).
   The spill row is an outbox row like any other: if its send is lost, the repair sweep re-sends;
3. if the change still needs more than 100 actions, nothing is written and TransactionTooLarge
   names the counts (merges are capped, dedup.MAX_MERGE_APPEALS, so no use case gets here).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.appeal import Appeal
from chalicelib.domain.errors import AlreadyCreated, ConcurrentUpdate
from chalicelib.domain.records import SPILL_TOPIC, Handoff, HeadBump
from chalicelib.domain.timefmt import iso
from chalicelib.storage import keys
from chalicelib.storage.repository import appeal_to_item, event_item
from chalicelib.storage.models import AppealItem, CaseEventItem, FeedItem, Item, OutboxItem
from chalicelib.storage.records import guard, to_item, to_update


class TransactionTooLarge(ValueError):
    pass


@dataclass
class _Action:
    op: str                       # save | delete | update
    item: Item
    condition: Any = None
    once: Any = None              # the add_once record this action stores
    actions: Any = None           # an update's actions (PynamoDB), for op "update"


class UnitOfWork:
    def __init__(self, now: datetime, transact: Callable[[list[_Action]], None] | None = None):
        self.now = now
        self._appeals: dict[str, Appeal] = {}
        self._new: set[str] = set()
        self._puts: list[Any] = []
        self._once: list[Any] = []
        self._heads: list[HeadBump] = []
        self._updates: list[Any] = []
        self._deletes: list[Any] = []
        self._closed: list[tuple[str, str, str]] = []
        self.handoffs: list[Handoff] = []
        self._transact = transact or _transact

    # --- collecting --------------------------------------------------------------------------

    def create(self, appeal: Appeal) -> None:
        """A new appeal: stored only if its key is new."""
        self._appeals[appeal.appeal_id] = appeal
        self._new.add(appeal.appeal_id)

    def track(self, *appeals: Appeal) -> None:
        for a in appeals:
            self._appeals[a.appeal_id] = a

    @property
    def appeals(self) -> list[Appeal]:
        return list(self._appeals.values())

    def add(self, *records: Any) -> None:
        self._puts.extend(records)

    def add_once(self, *records: Any) -> None:
        self._once.extend(records)

    def update(self, *records: Any) -> None:
        self._updates.extend(records)

    def delete(self, *records: Any) -> None:
        self._deletes.extend(records)

    def bump(self, *heads: HeadBump) -> None:
        self._heads.extend(heads)

    def hand_off(self, *handoffs: Handoff) -> None:
        self.handoffs.extend(handoffs)

    def close(self, appeal_id: str, topic: str, key: str) -> None:
        self._closed.append((appeal_id, topic, key))

    # --- committing --------------------------------------------------------------------------

    def commit(self) -> None:
        events = {a.appeal_id: a.pull_events() for a in self._appeals.values()}
        expected = {a.appeal_id: a.version for a in self._appeals.values()}
        actions = self._plan(events, expected)
        for a in self._appeals.values():
            a.version = 1 if a.appeal_id in self._new else expected[a.appeal_id] + 1
        try:
            self._transact(actions)
        except TransactWriteError as exc:
            for a in self._appeals.values():
                a.version = expected[a.appeal_id]
            reasons = [getattr(r, "code", None) for r in (exc.cancellation_reasons or [])]
            failed_once = [actions[i].once for i, code in enumerate(reasons)
                           if code == "ConditionalCheckFailed" and i < len(actions) and actions[i].once is not None]
            if failed_once:
                raise AlreadyCreated(failed_once[0]) from None
            codes = sorted({c for c in reasons if c and c != "None"})
            if codes and set(codes) <= {"ConditionalCheckFailed", "TransactionConflict"}:
                raise ConcurrentUpdate(codes) from None
            raise

    def _plan(self, events: dict[str, list], expected: dict[str, int]) -> list[_Action]:
        now = self.now
        actions: list[_Action] = []
        for once in self._once:
            actions.append(_Action("save", to_item(once, now), Item.PK.does_not_exist(), once=once))
        for a in self._appeals.values():
            new = a.appeal_id in self._new
            a.version = 1 if new else expected[a.appeal_id] + 1   # the item carries the new version
            cond = AppealItem.PK.does_not_exist() if new else AppealItem.version == expected[a.appeal_id]
            actions.append(_Action("save", appeal_to_item(a), cond))
            a.version = expected[a.appeal_id]
            for ev in events[a.appeal_id]:
                actions.append(_Action("save", event_item(a.appeal_id, ev),
                                       None if new else CaseEventItem.PK.does_not_exist()))
        for h in self.handoffs:
            actions.append(_Action("save", to_item(h, now)))
        for appeal_id, topic, key in self._closed:
            actions.append(_Action("delete", OutboxItem(keys.appeal_pk(appeal_id), keys.outbox_sk(topic, key))))
        for h in self._heads:
            actions.append(_Action("save", to_item(h, now), guard(h)))
        for rec in self._puts:
            actions.append(_Action("save", to_item(rec, now)))
        for rec in self._deletes:
            actions.append(_Action("delete", to_item(rec, now)))
        for rec in self._updates:
            item, updates = to_update(rec, now)
            actions.append(_Action("update", item, actions=updates))
        if len(actions) > keys.TRANSACTION_LIMIT:
            actions = self._spill(actions, now)
        room = keys.TRANSACTION_LIMIT - len(actions)
        for a in self._appeals.values():
            feed = FeedItem.for_events(a.appeal_id, a.followers, events[a.appeal_id], room)
            actions += [_Action("save", f) for f in feed]
            room -= len(feed)
        if len(actions) > keys.TRANSACTION_LIMIT:
            raise TransactionTooLarge(f"one change needs {len(actions)} writes (appeals {len(self._appeals)}, "
                                      f"hand-offs {len(self.handoffs)}, index rows {len(self._puts)}); "
                                      f"DynamoDB allows {keys.TRANSACTION_LIMIT}")
        return actions


    def _spill(self, actions: list[_Action], now: datetime) -> list[_Action]:
        """Move the hand-offs to appeals this change does not save into one spill row (plan, 2)."""
        saved = set(self._appeals)
        others = [h for h in self.handoffs if h.appeal_id not in saved]
        excess = len(actions) - keys.TRANSACTION_LIMIT + 1          # + 1: the spill row itself
        if not others or excess > len(others):
            return actions
        moved = others[-excess:] if excess < len(others) else others
        moved_keys = {(h.appeal_id, h.topic, h.key) for h in moved}
        anchor = next(iter(self._appeals))
        spill = Handoff(queue="notify", topic=SPILL_TOPIC, key=f"{iso(now)}#{moved[0].key}",
                        message={"topic": SPILL_TOPIC, "key": f"{iso(now)}#{moved[0].key}", "appeal_id": anchor,
                                 "handoffs": [dataclasses.asdict(h) for h in moved]})
        kept = [a for a in actions if not (isinstance(a.item, OutboxItem) and a.op == "save" and
                                           (a.item.appeal_id, *a.item.SK.split("#", 2)[1:]) in moved_keys)]
        self.handoffs = [h for h in self.handoffs if (h.appeal_id, h.topic, h.key) not in moved_keys] + [spill]
        return kept + [_Action("save", to_item(spill, now))]


def _transact(actions: list[_Action]) -> None:
    if not actions:
        return
    with TransactWrite(connection=Item._get_connection().connection) as tx:
        for act in actions:
            if act.op == "delete":
                tx.delete(act.item)
            elif act.op == "update":
                tx.update(act.item, actions=act.actions, condition=act.condition)
            elif act.condition is not None:
                tx.save(act.item, condition=act.condition)
            else:
                tx.save(act.item)
