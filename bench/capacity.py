"""Count DynamoDB read/write request units from the requests a process actually makes.

moto reports a constant ConsumedCapacity, so benchmarks count on-demand request units here, by
AWS's published rules, from the requests themselves. Usage::

    from bench.capacity import CapacityMeter
    with CapacityMeter() as meter:          # installs the hook once per process
        ...                                 # boto3 clients, PynamoDB models, Powertools: all seen
    meter.snapshot()  # {"read_units": .., "write_units": .., "requests_by_op": {..}, ...}

snapshot() also gives ``units_by_op``, ``errors`` (op:error code counts), ``approximate`` (requests
whose units are estimates, see below), ``unpriced`` (PartiQL) and ``hook_seconds`` (time spent in
the hook, shadow reads included: time a metered run with that in mind, or time it unmetered).

How it hooks in
---------------
`install()` wraps ``botocore.client.BaseClient._make_api_call`` (the one path every botocore
client takes, including PynamoDB's, which creates its own botocore session and client per
thread in ``pynamodb/connection/base.py``). The wrapper does one thing, and only for clients of
service ``dynamodb``: it registers two handlers, once, on that client's own event emitter
(``before-call.dynamodb`` and ``after-call.dynamodb``, unique ids so never twice). The handlers
see the request as sent (the serialized JSON body, after any boto3 resource-level
transformation) and the parsed response, errors included. When no meter is active they return
at once, so an installed but idle hook costs almost nothing.

Before/after images (the choice, and why)
-----------------------------------------
Writes are charged on the larger of the item before and after the write (Put replacing an item,
Update, Delete), and index writes depend on whether the old and new item carry index keys.
The request alone does not tell us "before" (nor "after" for UpdateItem), so the hook reads both
with *shadow* GetItem calls (ConsistentRead) on the same client: before-images in
``before-call``, after-images of Update actions in ``after-call``. Shadow calls are flagged
thread-locally and never counted. This is exact for sequential load on moto; under concurrent
writers to the same item a shadow read may see a neighbour's write (fine for a benchmark). We
did not use ReturnValues=ALL_OLD/ALL_NEW: it would change what the caller gets back, does not
exist inside transactions, and yields only one of the two images. Table key and index
definitions come from one shadow DescribeTable per table (cached; dropped when a
CreateTable/UpdateTable/DeleteTable goes through the hook).

Rules implemented (on-demand; 1 WRU = 1 KB write, 1 RRU = 4 KB strongly consistent read)
--------------------------------------------------------------------------------------------
Item size: sum over attributes of UTF-8 name length + value size. S: UTF-8 bytes; N:
ceil(significant digits / 2) + 1 (leading/trailing zeros trimmed, sign ignored); B: raw bytes;
BOOL/NULL: 1; SS/NS/BS: sum of their elements; M/L: 3 + sum of elements + 1 per element (a map
element also counts its key's UTF-8 length).

* PutItem / UpdateItem: ceil(max(before, after) / 1 KB) WRU, at least 1. DeleteItem:
  ceil(before / 1 KB), at least 1 (also when nothing was there).
* Failed condition (ConditionalCheckFailedException): the write still costs
  ceil(existing item / 1 KB), at least 1; no index writes.
* Secondary indexes (GSI and LSI), per index and per written item, from the index entry
  (projected attributes: ALL = whole item; KEYS_ONLY = table + index keys; INCLUDE = keys +
  listed attributes) before and after the write; an item is in an index only if it has all the
  index's key attributes (sparse indexes):
  - absent before and after: 0;  appears: ceil(new entry / 1 KB);  disappears (key removed or
    item deleted): ceil(old entry / 1 KB);
  - index key changed: a delete plus a put, ceil(old / 1 KB) + ceil(new / 1 KB);
  - same index key, projected attributes changed: ceil(max(old, new) / 1 KB); unchanged: 0.
* GetItem: ceil(item / 4 KB) RRU strongly consistent, half that eventually consistent; at
  least 1 (0.5) when the item does not exist. A projection does not reduce it: with a
  ProjectionExpression the full item is shadow-read for its size.
* Query / Scan: ceil(sum of returned item sizes / 4 KB), at least 1; halved unless
  ConsistentRead (GSI queries are always eventually consistent). When a filter dropped items
  (ScannedCount > Count) the total is scaled by ScannedCount / Count; with Select=COUNT, a
  projection or a filter that left nothing, the sizes of unreturned items are unknown and the
  request is tallied under ``approximate``.
* BatchGetItem: each returned item as its own GetItem (rounded up per item); a requested key
  neither returned nor unprocessed costs the GetItem minimum. BatchWriteItem: each processed
  put/delete as PutItem/DeleteItem (with index writes); UnprocessedItems cost nothing.
* TransactGetItems: 2 x (per-item strongly consistent GetItem units).
* TransactWriteItems: 2 x (per-item Put/Update/Delete units); a ConditionCheck is charged as a
  write of the checked item: 2 x ceil(item / 1 KB), at least 2 (AWS bills condition checks in
  TransactWriteItems as transactional writes). Index writes are charged once, at the standard
  rate (``TRANSACT_INDEX_FACTOR``): index maintenance is asynchronous and not part of the
  two-phase prepare/commit that doubles the table writes. A cancelled transaction
  (TransactionCanceledException) is charged its prepare phase only: 1 x ceil(existing item /
  1 KB), at least 1, per action, no index writes.
* Other operations (DescribeTable, CreateTable, PartiQL, ...) are counted as requests with no
  units; PartiQL ones are also tallied under ``unpriced``. Requests that fail before DynamoDB
  evaluates them (validation, throttling, missing table) cost nothing.
"""
from __future__ import annotations

import base64
import functools
import json
import math
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
TRANSACT_FACTOR = 2
TRANSACT_INDEX_FACTOR = 1

WRITE_OPS = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
TABLE_CHANGES = frozenset({"CreateTable", "UpdateTable", "DeleteTable"})
UNPRICED_OPS = frozenset({"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})

Item = Mapping[str, Mapping[str, Any]]  # {name: AttributeValue}, B values as bytes


# --- pure size and unit functions ---------------------------------------------------------

def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def number_size(text: str | int | float | Decimal) -> int:
    """Bytes of a DynamoDB number: 1 per two significant digits, plus 1."""
    try:
        digits = "".join(map(str, Decimal(str(text)).as_tuple().digits)).strip("0")
    except (InvalidOperation, TypeError):
        digits = str(text).lstrip("+-").replace(".", "").strip("0")
    significant = max(1, len(digits))
    return math.ceil(significant / 2) + 1


def _binary_size(value: Any) -> int:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if hasattr(value, "value"):  # boto3.dynamodb.types.Binary
        return len(value.value)
    return _utf8(str(value))


def value_size(av: Mapping[str, Any]) -> int:
    """Bytes of one AttributeValue ({"S": ...}, {"M": {...}}, ...), its name not included."""
    (tag, value), = av.items()
    if tag == "S":
        return _utf8(value)
    if tag == "N":
        return number_size(value)
    if tag == "B":
        return _binary_size(value)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(_utf8(v) for v in value)
    if tag == "NS":
        return sum(number_size(v) for v in value)
    if tag == "BS":
        return sum(_binary_size(v) for v in value)
    if tag == "L":
        return 3 + sum(value_size(v) + 1 for v in value)
    if tag == "M":
        return 3 + sum(_utf8(k) + value_size(v) + 1 for k, v in value.items())
    raise ValueError(f"unknown AttributeValue type {tag!r}")


def item_size(item: Item | None) -> int:
    """Bytes of an item by DynamoDB's rules: attribute name lengths plus value sizes."""
    if not item:
        return 0
    return sum(_utf8(name) + value_size(av) for name, av in item.items())


def write_units(size: int) -> int:
    """WRU for writing `size` bytes: 1 per KB, rounded up, at least 1."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool = True) -> float:
    """RRU for reading `size` bytes: 1 per 4 KB, rounded up, at least 1; halved if eventual."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def query_read_units(sizes: Iterable[int], consistent: bool = False) -> float:
    """Query/Scan: the items read are summed first, then rounded up to 4 KB."""
    return read_units(sum(sizes), consistent)


@dataclass(frozen=True)
class IndexDef:
    name: str
    keys: tuple[str, ...]
    projection: str = "ALL"                 # ALL | KEYS_ONLY | INCLUDE
    non_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableDef:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[IndexDef, ...] = ()

    @classmethod
    def from_description(cls, desc: Mapping[str, Any]) -> "TableDef":
        keys = tuple(k["AttributeName"] for k in desc["KeySchema"])
        indexes = []
        for ix in list(desc.get("GlobalSecondaryIndexes") or []) + list(desc.get("LocalSecondaryIndexes") or []):
            proj = ix.get("Projection") or {}
            indexes.append(IndexDef(ix["IndexName"], tuple(k["AttributeName"] for k in ix["KeySchema"]),
                                    proj.get("ProjectionType", "ALL"), tuple(proj.get("NonKeyAttributes") or ())))
        return cls(desc["TableName"], keys, tuple(indexes))

    def key_of(self, item: Item) -> dict[str, Any]:
        return {k: item[k] for k in self.keys if k in item}


def index_entry(item: Item | None, index: IndexDef, table_keys: Iterable[str]) -> dict[str, Any] | None:
    """The item's entry in an index (its projected attributes), or None if it is not in it."""
    if not item or any(k not in item for k in index.keys):
        return None
    if index.projection == "ALL":
        return dict(item)
    wanted = set(index.keys) | set(table_keys)
    if index.projection == "INCLUDE":
        wanted |= set(index.non_key)
    return {k: v for k, v in item.items() if k in wanted}


def index_write_units(before: Item | None, after: Item | None, index: IndexDef, table_keys: Iterable[str]) -> int:
    """Index writes caused by changing an item from `before` to `after` (None = absent)."""
    table_keys = tuple(table_keys)
    old, new = index_entry(before, index, table_keys), index_entry(after, index, table_keys)
    if old is None and new is None:
        return 0
    if old is None:
        return write_units(item_size(new))
    if new is None:
        return write_units(item_size(old))
    if any(old[k] != new[k] for k in index.keys):
        return write_units(item_size(old)) + write_units(item_size(new))  # delete + put on the index
    if old == new:
        return 0
    return write_units(max(item_size(old), item_size(new)))


def item_write_units(before: Item | None, after: Item | None, table: TableDef | None) -> tuple[int, int]:
    """(table WRU, index WRU) of one successful Put/Update (after = new item) or Delete (after=None)."""
    table_units = write_units(max(item_size(before), item_size(after)))
    if table is None:
        return table_units, 0
    return table_units, sum(index_write_units(before, after, ix, table.keys) for ix in table.indexes)


# --- the meter ------------------------------------------------------------------------------

@dataclass
class _Charge:
    op: str
    read: float = 0.0
    write: float = 0.0
    approximate: bool = False
    unpriced: bool = False
    error: str | None = None


class CapacityMeter:
    """Accumulates request units of every DynamoDB request in the process while active.

    Thread-safe. Use as a context manager (``with CapacityMeter() as m``) or ``start()``/``stop()``.
    """

    def __init__(self, *, start: bool = False) -> None:
        self._lock = threading.Lock()
        self.reset()
        if start:
            self.start()

    def reset(self) -> None:
        with self._lock:
            self._read = 0.0
            self._write = 0.0
            self._requests: Counter[str] = Counter()
            self._units: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
            self._errors: Counter[str] = Counter()
            self._approximate = 0
            self._unpriced = 0
            self._hook_s = 0.0

    def start(self) -> "CapacityMeter":
        install()
        with _active_lock:
            if self not in _active:
                _active.append(self)
        return self

    def stop(self) -> None:
        with _active_lock:
            if self in _active:
                _active.remove(self)

    def __enter__(self) -> "CapacityMeter":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def active(self) -> bool:
        return self in _active

    def _add(self, charge: _Charge) -> None:
        with self._lock:
            self._read += charge.read
            self._write += charge.write
            self._requests[charge.op] += 1
            u = self._units[charge.op]
            u[0] += charge.read
            u[1] += charge.write
            if charge.error:
                self._errors[f"{charge.op}:{charge.error}"] += 1
            self._approximate += charge.approximate
            self._unpriced += charge.unpriced

    def _add_hook_time(self, seconds: float) -> None:
        with self._lock:
            self._hook_s += seconds

    def snapshot(self) -> dict[str, Any]:
        """Totals so far: read/write units, requests and units per operation, oddities."""
        with self._lock:
            return {
                "read_units": self._read,
                "write_units": self._write,
                "requests": sum(self._requests.values()),
                "requests_by_op": dict(sorted(self._requests.items())),
                "units_by_op": {op: {"read": r, "write": w} for op, (r, w) in sorted(self._units.items())},
                "errors": dict(sorted(self._errors.items())),
                "approximate": self._approximate,
                "unpriced": self._unpriced,
                "hook_seconds": round(self._hook_s, 6),
            }


_active: list[CapacityMeter] = []
_active_lock = threading.Lock()
_install_lock = threading.Lock()
_installed = False
_local = threading.local()
_tables: dict[str, TableDef] = {}
_tables_lock = threading.Lock()
_CTX = "jiesu_capacity"


def install() -> None:
    """Hook every botocore DynamoDB client of the process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from botocore.client import BaseClient

        original = BaseClient._make_api_call

        @functools.wraps(original)
        def _make_api_call(self, operation_name, api_params):
            if not getattr(self, "_jiesu_capacity_hooked", False) and \
                    self.meta.service_model.service_name == "dynamodb":
                events = self.meta.events
                events.register_last("before-call.dynamodb", functools.partial(_before_call, self),
                                     unique_id="jiesu-capacity-before")
                events.register_last("after-call.dynamodb", functools.partial(_after_call, self),
                                     unique_id="jiesu-capacity-after")
                self._jiesu_capacity_hooked = True
            return original(self, operation_name, api_params)

        _make_api_call.__jiesu_original__ = original
        BaseClient._make_api_call = _make_api_call
        _installed = True


def forget_tables() -> None:
    """Drop cached table definitions (they are also dropped on Create/Update/DeleteTable)."""
    with _tables_lock:
        _tables.clear()


def _meters() -> list[CapacityMeter]:
    if getattr(_local, "shadow", 0):
        return []
    with _active_lock:
        return list(_active)


def _shadow(client, op: str, params: dict) -> dict:
    _local.shadow = getattr(_local, "shadow", 0) + 1
    try:
        return client._make_api_call(op, params)
    finally:
        _local.shadow -= 1


def _table(client, name: str) -> TableDef | None:
    with _tables_lock:
        cached = _tables.get(name)
    if cached is not None:
        return cached
    try:
        desc = _shadow(client, "DescribeTable", {"TableName": name})["Table"]
    except Exception:
        return None
    table = TableDef.from_description(desc)
    with _tables_lock:
        _tables[name] = table
    return table


def _get(client, table: str, key: Mapping[str, Any]) -> dict | None:
    try:
        return _shadow(client, "GetItem", {"TableName": table, "Key": dict(key), "ConsistentRead": True}).get("Item")
    except Exception:
        return None


def _unwire(av: Any) -> Any:
    """AttributeValues from the JSON wire (B as base64 text) to botocore's form (B as bytes)."""
    if not isinstance(av, dict) or len(av) != 1:
        return av
    (tag, value), = av.items()
    if tag == "B":
        return {"B": base64.b64decode(value)}
    if tag == "BS":
        return {"BS": [base64.b64decode(v) for v in value]}
    if tag == "L":
        return {"L": [_unwire(v) for v in value]}
    if tag == "M":
        return {"M": {k: _unwire(v) for k, v in value.items()}}
    return av


def _unwire_item(item: Mapping[str, Any] | None) -> dict | None:
    return None if item is None else {k: _unwire(v) for k, v in item.items()}


def _write_actions(op: str, body: dict) -> list[dict]:
    """Normalized write actions of a request: kind, table, key, new item (Put), index in request."""
    if op == "PutItem":
        return [{"kind": "Put", "table": body["TableName"], "item": _unwire_item(body["Item"])}]
    if op in ("UpdateItem", "DeleteItem"):
        return [{"kind": op[:-4], "table": body["TableName"], "key": _unwire_item(body["Key"])}]
    if op == "TransactWriteItems":
        actions = []
        for entry in body.get("TransactItems", []):
            (kind, spec), = entry.items()
            a = {"kind": kind, "table": spec["TableName"]}
            if kind == "Put":
                a["item"] = _unwire_item(spec["Item"])
            else:
                a["key"] = _unwire_item(spec["Key"])
            actions.append(a)
        return actions
    if op == "BatchWriteItem":
        actions = []
        for table, requests in body.get("RequestItems", {}).items():
            for r in requests:
                if "PutRequest" in r:
                    actions.append({"kind": "Put", "table": table, "item": _unwire_item(r["PutRequest"]["Item"])})
                else:
                    actions.append({"kind": "Delete", "table": table, "key": _unwire_item(r["DeleteRequest"]["Key"])})
        return actions
    return []


def _before_call(client, model=None, params=None, context=None, **_):
    meters = _meters()
    if not meters or context is None:
        return None
    started = time.perf_counter()
    op = model.name
    state: dict[str, Any] = {"op": op, "meters": meters}
    try:
        raw = params.get("body") or b"{}"
        body = json.loads(raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw)
        state["body"] = body
        if op in TABLE_CHANGES:
            with _tables_lock:
                _tables.pop(body.get("TableName", ""), None)
        actions = _write_actions(op, body)
        for a in actions:
            a["def"] = _table(client, a["table"])
            if "key" not in a:
                a["key"] = a["def"].key_of(a["item"]) if a["def"] else {}
            a["before"] = _get(client, a["table"], a["key"]) if a["key"] else None
        state["actions"] = actions
    except Exception as exc:  # never break the caller's request
        state["broken"] = repr(exc)
    context[_CTX] = state
    state["hook_s"] = time.perf_counter() - started
    return None


def _after_call(client, http_response=None, parsed=None, model=None, context=None, **_):
    state = (context or {}).pop(_CTX, None)
    if state is None or getattr(_local, "shadow", 0):
        return
    started = time.perf_counter()
    op = state["op"]
    status = getattr(http_response, "status_code", 200)
    error = (parsed or {}).get("Error", {}).get("Code") if status >= 300 else None
    if "broken" in state:
        charge = _Charge(op, approximate=True, error="meter:" + state["broken"][:80])
    else:
        try:
            charge = _price(client, op, state, parsed or {}, error)
        except Exception as exc:
            charge = _Charge(op, approximate=True, error="meter:" + repr(exc)[:80])
    elapsed = state.get("hook_s", 0.0) + time.perf_counter() - started
    for m in state["meters"]:
        m._add(charge)
        m._add_hook_time(elapsed)


def _short(code: str | None) -> str:
    return (code or "").rsplit("#", 1)[-1]


def _price(client, op: str, state: dict, parsed: dict, error: str | None) -> _Charge:
    body = state["body"]
    actions = state["actions"]
    charge = _Charge(op, error=_short(error) if error else None)
    if op in UNPRICED_OPS:
        charge.unpriced = True
        return charge
    if error:
        code = _short(error)
        if code == "ConditionalCheckFailedException" and op in WRITE_OPS:
            charge.write = write_units(item_size(actions[0]["before"]))
        elif code == "TransactionCanceledException" and op == "TransactWriteItems":
            charge.write = sum(write_units(item_size(a["before"])) for a in actions)
        return charge

    if op in WRITE_OPS or op in ("TransactWriteItems", "BatchWriteItem"):
        unprocessed = set()
        if op == "BatchWriteItem":
            defs = {a["table"]: a["def"] for a in actions}
            for table, reqs in (parsed.get("UnprocessedItems") or {}).items():
                for r in reqs:
                    got = r["PutRequest"]["Item"] if "PutRequest" in r else r["DeleteRequest"]["Key"]
                    unprocessed.add((table, _key_token(got, defs.get(table))))
        factor = TRANSACT_FACTOR if op == "TransactWriteItems" else 1
        for a in actions:
            tdef = a["def"]
            if op == "BatchWriteItem" and (a["table"], _key_token(a.get("item") or a["key"], tdef)) in unprocessed:
                continue
            before = a["before"]
            if a["kind"] == "ConditionCheck":
                charge.write += factor * write_units(item_size(before))
                continue
            if a["kind"] == "Put":
                after = a["item"]
            elif a["kind"] == "Delete":
                after = None
            else:
                after = _get(client, a["table"], a["key"])
            table_units, index_units = item_write_units(before, after, tdef)
            charge.write += factor * table_units
            charge.write += (TRANSACT_INDEX_FACTOR if op == "TransactWriteItems" else 1) * index_units
        return charge

    if op == "GetItem":
        consistent = bool(body.get("ConsistentRead"))
        item = parsed.get("Item")
        if item is not None and ("ProjectionExpression" in body or "AttributesToGet" in body):
            item = _get(client, body["TableName"], _unwire_item(body["Key"])) or item
        charge.read = read_units(item_size(item), consistent)
        return charge

    if op in ("Query", "Scan"):
        consistent = bool(body.get("ConsistentRead"))
        items = parsed.get("Items") or []
        total = sum(item_size(i) for i in items)
        count, scanned = parsed.get("Count", len(items)), parsed.get("ScannedCount", len(items))
        if scanned > count and count > 0:
            total = total * scanned / count
        if (scanned > count and count == 0) or body.get("Select") == "COUNT" or "ProjectionExpression" in body \
                or "AttributesToGet" in body:
            charge.approximate = True
        charge.read = read_units(math.ceil(total), consistent)
        return charge

    if op == "BatchGetItem":
        returned = parsed.get("Responses") or {}
        unprocessed = parsed.get("UnprocessedKeys") or {}
        for table, spec in (body.get("RequestItems") or {}).items():
            consistent = bool(spec.get("ConsistentRead"))
            items = returned.get(table) or []
            charge.read += sum(read_units(item_size(i), consistent) for i in items)
            missing = len(spec.get("Keys", [])) - len(items) - len((unprocessed.get(table) or {}).get("Keys", []))
            charge.read += max(0, missing) * read_units(0, consistent)
            if "ProjectionExpression" in spec or "AttributesToGet" in spec:
                charge.approximate = True
        return charge

    if op == "TransactGetItems":
        for r in parsed.get("Responses") or []:
            charge.read += TRANSACT_FACTOR * read_units(item_size(r.get("Item")), True)
        if any("ProjectionExpression" in t.get("Get", {}) for t in body.get("TransactItems", [])):
            charge.approximate = True
        return charge

    return charge  # control-plane and other operations: a request, no units


def _key_token(item: Mapping[str, Any], tdef: TableDef | None) -> str:
    """A comparable token of an item's primary key (items in botocore form, B as bytes)."""
    keys = tdef.keys if tdef else None
    picked = {k: v for k, v in item.items() if keys is None or k in keys}
    return json.dumps(picked, sort_keys=True, default=lambda b: base64.b64encode(b).decode())
