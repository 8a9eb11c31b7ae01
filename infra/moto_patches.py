"""The one place where moto 5.2.5 is patched, for the stand-in, the tests and the benchmarks alike.

Each patch removes an artefact of moto's implementation, never a DynamoDB or SQS behaviour;
tests/integration/test_moto_patches.py runs the same scenarios (conditions, transactions and
their cancellation, GSIs, paging, SQS redrive) on stock and patched moto and asserts equal results.

1. TransactWriteItems deep-copies every named *table* as a rollback backup, once per action:
   O(table) per transaction, so each appeal cost more than the last (1.9 s per appeal at a few
   thousand items) and the copies churned hundreds of MB. Here only the items the transaction
   names are backed up and put back if it fails.
2. A base-table Query builds and sorts a list of every item of the table: O(table log table).
   Here moto is handed only the queried partition, cut to the key condition and the limit in
   the query's direction (plus the item after, which decides LastEvaluatedKey); moto then
   applies the same condition, filter and limit.
3. The stand-in's state store pickles backends (infra/standin.py). An SQS queue holds a
   threading.Condition, which is dropped from the pickled state and made anew when loaded; KMS
   keys hold `cryptography` private keys, which pickle as PKCS#8 DER.
4. A queue remembers the receipt handles of every message ever deleted (so a second delete of
   the same handle succeeds): unbounded memory under a steady feed, and a pickle that grew
   with every message. It keeps the newest DELETED_HANDLES_KEPT in memory and none on disk.
5. ReceiveMessage checks each message's retention through get_queue_attributes, which builds
   every attribute of the queue (message counts included, by walking all its messages) three
   times per call: O(queue^2) per receive. Here the retention period is read off the queue.
6. The server lists moto's package folder (os.listdir + isdir of ~150 entries) on every request
   to route it; the list never changes while it runs, so it is read once.
7. SendMessage reads one attribute (ContentBasedDeduplication) through `Queue.attributes`, which
   counts the queue's messages three ways: O(queue depth) per send, so a backlog slowed every
   send. Here that one attribute is read off the queue.
8. (Not an artefact: a hook.) While `SQS_JOURNAL` is a list, every message a queue takes, hands
   out, changes the visibility of, or deletes is noted there, so the stand-in's state store
   writes only the messages a request touched (infra/standin.py).
9. A query on a global secondary index sorts every item of the table (DynamoType comparisons)
   before it filters them by the index's partition key: O(table log table) per query, which the
   minute-by-minute outbox sweep (eight GSI queries) and every inbox paid. Here moto is handed the
   items whose index partition key is the queried one (one pass, plain string compares); it then
   filters, sorts and pages them as before.
"""
from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from typing import Any

DELETED_HANDLES_KEPT = 1_000

# (event, queue or None, message or message id): set to a list by the stand-in, drained per request.
SQS_JOURNAL: list | None = None

_originals: dict[str, Any] = {}
_hint = threading.local()


def apply() -> None:
    """Install every patch (idempotent)."""
    if _originals:
        return
    _patch_transactions()
    _patch_queries()
    _patch_sqs_queue()
    _register_key_pickling()
    _patch_retention_check()
    _patch_module_listing()
    _patch_send_attributes()
    _patch_sqs_journal()


def revert() -> None:
    """Put stock moto back (tests compare the two)."""
    import moto.dynamodb.models as mm
    from moto.dynamodb.models.table import Table
    from moto.sqs.models import Queue

    if not _originals:
        return
    mm.copy = _originals.pop("copy")
    mm.DynamoDBBackend.transact_write_items = _originals.pop("transact_write_items")
    Table.query, Table.all_items = _originals.pop("query"), _originals.pop("all_items")
    for name in ("__getstate__", "__setstate__", "__init__"):
        original = _originals.pop(f"Queue.{name}")
        if original is None:
            delattr(Queue, name)
        else:
            setattr(Queue, name, original)
    from moto import backends
    from moto.sqs.models import SQSBackend

    SQSBackend.is_message_valid_based_on_retention_period = _originals.pop("retention")
    backends.list_of_moto_modules = _originals.pop("list_of_moto_modules")
    from moto.sqs.models import Message

    SQSBackend.send_message = _originals.pop("send_message")
    Queue.attributes = _originals.pop("Queue.attributes")
    Queue.add_message, Queue.delete_message = _originals.pop("add_message"), _originals.pop("delete_message")
    Message.mark_received, Message.change_visibility = _originals.pop("mark_received"), _originals.pop("change_visibility")


# -- 1. transactions -------------------------------------------------------------------------

def _patch_transactions() -> None:
    import moto.dynamodb.models as mm
    from moto.dynamodb.models.dynamo_type import DynamoType

    backend = mm.DynamoDBBackend
    original = backend.transact_write_items
    _originals["copy"], _originals["transact_write_items"] = mm.copy, original

    class _NoTableCopy:
        """moto's module-level `copy`, except that a Table is not copied (the items are backed up)."""

        @staticmethod
        def deepcopy(obj, memo=None):
            return obj if isinstance(obj, mm.Table) else copy.deepcopy(obj, memo)

    def transact_write_items(self, transact_items):
        saved = []
        for entry in transact_items:
            if len(entry) != 1:
                continue
            (op_type, op), = entry.items()
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            key = (op.get("Item") if op_type == "Put" else op.get("Key")) if table is not None else None
            if not key or table.hash_key_attr not in key or (table.range_key_attr and table.range_key_attr not in key):
                continue
            h = DynamoType(key[table.hash_key_attr])
            r = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            saved.append((table, h, r, copy.deepcopy(table.get_item(h, r))))
        try:
            return original(self, transact_items)
        except Exception:
            for table, h, r, old in reversed(saved):
                if old is None:
                    if table.get_item(h, r) is not None:
                        table.delete_item(h, r)
                elif r is not None:
                    table.items[h][r] = old
                else:
                    table.items[h] = old
            raise

    mm.copy = _NoTableCopy
    backend.transact_write_items = transact_write_items


# -- 2. base-table queries ---------------------------------------------------------------------

def _patch_queries() -> None:
    from moto.dynamodb.models.table import Table

    original_query, original_all = Table.query, Table.all_items
    _originals["query"], _originals["all_items"] = original_query, original_all
    tests = {"GE": lambda v, a: v >= a[0], "GT": lambda v, a: v > a[0], "LE": lambda v, a: v <= a[0],
             "LT": lambda v, a: v < a[0], "EQ": lambda v, a: v == a[0],
             "BETWEEN": lambda v, a: a[0] <= v <= a[1], "BEGINS_WITH": lambda v, a: v.startswith(a[0])}
    names = ("range_comparison", "range_objs", "limit", "exclusive_start_key", "scan_index_forward",
             "projection_expressions", "index_name")

    def query(self, hash_key, *args, **kwargs):
        given = dict(zip(names, args), **{k: v for k, v in kwargs.items() if k in names})
        _hint.q = (hash_key, given) if given.get("index_name") is None else None
        conds = kwargs.get("hash_key_conditions") or []
        _hint.ix = (conds[0][0], conds[0][1].value) if given.get("index_name") and len(conds) == 1 and \
            getattr(conds[0][1], "type", None) == "S" else None
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _hint.q = _hint.ix = None

    def all_items(self):
        ix = getattr(_hint, "ix", None)
        if ix is not None and self.range_key_attr:     # 9: an index query: its partition's items only
            attr, value = ix
            return [i for part in self.items.values() for i in part.values()
                    if (v := i.attrs.get(attr)) is not None and v.type == "S" and v.value == value]
        q = getattr(_hint, "q", None)
        if q is None or not self.range_key_attr:
            return original_all(self)
        hash_key, g = q
        part = sorted(self.items.get(hash_key, {}).values(), key=lambda i: i.range_key.value)
        cmp, objs = g.get("range_comparison"), g.get("range_objs") or []
        if g.get("exclusive_start_key") or not g.get("limit") or (cmp and cmp not in tests) or \
                any(o.type != "S" for o in objs) or any(i.range_key.type != "S" for i in part[:1]):
            return part
        forward = g.get("scan_index_forward", True)
        ordered = part if forward else part[::-1]
        values = [o.value for o in objs]
        matches = [n for n, i in enumerate(ordered) if not cmp or tests[cmp](i.range_key.value, values)]
        limit = int(g["limit"])
        if len(matches) < limit:
            return [ordered[n] for n in matches]
        # moto answers a LastEvaluatedKey when any item of the partition follows the limit-th
        # match in the query's direction: hand it that one too, as stock moto would see it.
        last = matches[limit - 1]
        return [ordered[n] for n in matches[:limit]] + ordered[last + 1:last + 2]

    Table.query, Table.all_items = query, all_items


# -- 3 and 4. SQS queues ------------------------------------------------------------------------

class _BoundedHandles(OrderedDict):
    """The set interface moto's Queue uses for deleted receipt handles, keeping the newest only."""

    def update(self, handles):  # type: ignore[override]
        for h in handles:
            self[h] = None
            self.move_to_end(h)
        while len(self) > DELETED_HANDLES_KEPT:
            self.popitem(last=False)


def _patch_sqs_queue() -> None:
    from moto.sqs.models import Queue

    for name in ("__getstate__", "__setstate__", "__init__"):
        _originals[f"Queue.{name}"] = Queue.__dict__.get(name)
    original_init = Queue.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.deleted_messages = _BoundedHandles()

    def __getstate__(self):
        # Not kept: the lock, and the handles of deleted messages (after a restart a second
        # delete of an old handle is refused, as for a handle that expired).
        state = dict(self.__dict__)
        state.pop("_messages_lock", None)
        state.pop("deleted_messages", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._messages_lock = threading.Condition()
        self.deleted_messages = _BoundedHandles()

    Queue.__init__, Queue.__getstate__, Queue.__setstate__ = __init__, __getstate__, __setstate__


def _load_der_key(der: bytes):
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    return load_der_private_key(der, password=None)


def _register_key_pickling() -> None:
    """Private keys pickle as their DER bytes (copyreg: no change to moto's classes)."""
    import copyreg

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    def reduce(key):
        return _load_der_key, (key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()),)

    for key in (rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1())):
        copyreg.pickle(type(key), reduce)


# -- 5 and 6. per-request costs of moto's own ----------------------------------------------------

def _patch_retention_check() -> None:
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    _originals["retention"] = SQSBackend.is_message_valid_based_on_retention_period

    def is_message_valid_based_on_retention_period(self, queue_name, message):
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return retention_period + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


def _patch_module_listing() -> None:
    from moto import backends

    original = backends.list_of_moto_modules
    _originals["list_of_moto_modules"] = original
    listed = tuple(original())
    backends.list_of_moto_modules = lambda: listed


# -- 7. the one attribute a send reads -------------------------------------------------------------

def _patch_send_attributes() -> None:
    from moto.sqs.models import Queue, SQSBackend

    original_send, original_attributes = SQSBackend.send_message, Queue.attributes
    _originals["send_message"], _originals["Queue.attributes"] = original_send, original_attributes

    def attributes(self):
        if getattr(_hint, "sending", False):  # all send_message reads of it
            return {"ContentBasedDeduplication": str(bool(self.content_based_deduplication)).lower()}
        return original_attributes.fget(self)

    def send_message(self, *args, **kwargs):
        _hint.sending = True
        try:
            return original_send(self, *args, **kwargs)
        finally:
            _hint.sending = False

    Queue.attributes = property(attributes)
    SQSBackend.send_message = send_message


# -- 8. the SQS journal --------------------------------------------------------------------------

def _note(event: str, queue, message) -> None:
    if SQS_JOURNAL is not None:
        SQS_JOURNAL.append((event, queue, message))


def _patch_sqs_journal() -> None:
    from moto.sqs.exceptions import ReceiptHandleIsInvalid
    from moto.sqs.models import Message, Queue

    original_add = Queue.add_message
    _originals["add_message"], _originals["delete_message"] = original_add, Queue.delete_message
    _originals["mark_received"], _originals["change_visibility"] = Message.mark_received, Message.change_visibility
    original_received, original_visibility = Message.mark_received, Message.change_visibility

    def add_message(self, message):
        before = len(self._messages)
        original_add(self, message)
        if len(self._messages) > before:  # not dropped as a FIFO duplicate
            _note("put", self, message)

    def delete_message(self, receipt_handle):
        # moto's own, noting which message went
        if receipt_handle in self.deleted_messages:
            return
        kept, gone = [], []
        for message in self._messages:
            (gone if message.had_receipt_handle(receipt_handle) else kept).append(message)
        if not gone:
            raise ReceiptHandleIsInvalid()
        for message in gone:
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            _note("delete", self, message.id)
        self._messages = kept

    def mark_received(self, visibility_timeout=None):
        original_received(self, visibility_timeout)
        _note("put", None, self)

    def change_visibility(self, visibility_timeout):
        original_visibility(self, visibility_timeout)
        _note("put", None, self)

    Queue.add_message, Queue.delete_message = add_message, delete_message
    Message.mark_received, Message.change_visibility = mark_received, change_visibility
