"""The embedded AWS stand-in: moto's app, made safe under concurrent clients and durable on disk.

moto's backends are plain Python objects that are not safe for concurrent mutation (its server
raised `dictionary changed size during iteration` hundreds of times under `make run`'s feed) and
live only in memory. This module serves moto's own WSGI app (with waitress, which keeps
connections alive, in a process of its own: StandInProcess) behind a thin middleware that

* runs one request at a time against the backends (one lock), which is what makes each request
  atomic, as DynamoDB and SQS are; SQS long polls wait *outside* the lock: the poll is retried
  without a wait each time another request may have sent a message, until it has messages or
  its WaitTimeSeconds are up;
* writes what each successful mutating request changed to a SQLite file (WAL) **before** the
  response goes back, in one SQLite transaction per request: the DynamoDB items the request
  named (their after-images, so a TransactWriteItems is all-or-nothing on disk too), and for every
  other service its whole backend (SQS queues with their messages, KMS keys with their key
  material, secrets, S3 objects, the Cognito pool and its users, EventBridge rules), which are
  small. What a client was told was written survives SIGKILL of the process the moment after;
  SQLite's synchronous=NORMAL leaves only an operating-system crash able to lose the last commits.

On start the state file, if any, is loaded back into moto before the first request is served.
Why SQLite and pickled backends rather than moto's request recorder: replaying requests cannot
bring back KMS key material (random per key) nor SQS receipt handles, and replay time grows with
history; a state store is read back in time proportional to what is kept.
"""
from __future__ import annotations

import io
import json
import logging
import pickle
import sqlite3
import threading
import time
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from infra import moto_patches

READ_PREFIXES = ("Get", "Describe", "List", "Query", "Scan", "BatchGet", "Head", "Encrypt", "Decrypt",
                 "GenerateDataKey", "GenerateRandom", "Sign", "Verify", "ReEncrypt", "Lookup", "Test", "Check")
DDB_ITEM_OPS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
SCHEMA = """
CREATE TABLE IF NOT EXISTS backends (service TEXT PRIMARY KEY, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ddb_items (account TEXT, region TEXT, tname TEXT, key TEXT, blob BLOB NOT NULL,
                                      PRIMARY KEY (account, region, tname, key));
CREATE TABLE IF NOT EXISTS sqs_queues (account TEXT, region TEXT, name TEXT, blob BLOB NOT NULL,
                                       PRIMARY KEY (account, region, name));
CREATE TABLE IF NOT EXISTS sqs_messages (id TEXT PRIMARY KEY, account TEXT, region TEXT, queue TEXT, blob BLOB NOT NULL);
"""
QUEUE_OPS = {"CreateQueue", "SetQueueAttributes", "TagQueue", "UntagQueue", "AddPermission", "RemovePermission"}


class _QueueRef:
    """A queue named inside another queue's pickle (its DLQ): resolved once all are loaded."""

    def __init__(self, name: str):
        self.name = name


def _pickle_queue(queue) -> bytes:
    """One SQS queue without its messages (those are rows of their own); a queue it points to
    (its DLQ) is pickled as its name."""
    from moto.sqs.models import Queue

    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, pickle.HIGHEST_PROTOCOL)
    pickler.persistent_id = lambda obj: ("queue", obj.name) if isinstance(obj, Queue) and obj is not queue else None
    messages, pending = queue._messages, queue._pending_messages
    queue._messages, queue._pending_messages = [], set()
    try:
        pickler.dump(queue)
    finally:
        queue._messages, queue._pending_messages = messages, pending
    return buf.getvalue()


def _unpickle_queue(blob: bytes):
    unpickler = pickle.Unpickler(io.BytesIO(blob))
    unpickler.persistent_load = lambda pid: _QueueRef(pid[1])
    return unpickler.load()


@dataclass
class Call:
    """What the middleware needs to know of one request."""
    service: str
    region: str
    operation: str
    body: bytes

    @property
    def mutating(self) -> bool:
        if self.service == "s3":
            return self.operation not in ("GET", "HEAD")
        return bool(self.operation) and not self.operation.startswith(READ_PREFIXES)


def describe(environ: dict, body: bytes) -> Call:
    """Service, region and operation of a signed AWS request, from its SigV4 scope and target."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    service = region = ""
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 5:
            region, service = scope[2], scope[3]
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        operation = target.rsplit(".", 1)[-1]
    elif service == "s3":
        operation = environ.get("REQUEST_METHOD", "GET")
    else:  # query protocol: Action=... in the form body or the query string
        form = urllib.parse.parse_qs(body.decode("latin-1")) if body else {}
        form = form or urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        operation = (form.get("Action") or [""])[0]
    return Call(service, region, operation, body)


class StateStore:
    """The stand-in's state on disk: one SQLite file."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self.db.close()

    # -- writing (the caller holds the middleware's lock) ---------------------------------------
    def record(self, call: Call) -> None:
        self.db.execute("BEGIN")
        try:
            if call.service == "dynamodb" and call.operation in DDB_ITEM_OPS:
                self._items(call)
            elif call.service == "dynamodb":
                self._dynamodb_whole(call.region)
            elif call.service == "sqs":
                self._queues(call)
            elif call.service:
                self._backend(call.service)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _backend(self, service: str) -> None:
        from moto.backends import get_backend

        per_region = {(acct, region): backend for acct, regions in dict.items(get_backend(service))
                      for region, backend in dict.items(regions)}
        self.db.execute("INSERT OR REPLACE INTO backends VALUES (?, ?)",
                        (service, pickle.dumps(per_region, pickle.HIGHEST_PROTOCOL)))

    def _queues(self, call: Call) -> None:
        """A queue's own changes (created, attributes, deleted, purged) as its row; then each
        message the request touched (moto_patches.SQS_JOURNAL) as its own row: O(what changed)."""
        from moto.backends import get_backend

        params = json.loads(call.body or b"{}") if call.body[:1] == b"{" else {}
        name = queue_name(call.body) or params.get("QueueName") or ""
        op = call.operation
        for acct, regions in dict.items(get_backend("sqs")):
            if call.region not in dict.keys(regions):
                continue
            backend = dict.__getitem__(regions, call.region)
            where = (acct, call.region, name)
            if op in ("DeleteQueue", "PurgeQueue"):
                self.db.execute("DELETE FROM sqs_messages WHERE account=? AND region=? AND queue=?", where)
            if op == "DeleteQueue" or (name and name not in backend.queues):
                self.db.execute("DELETE FROM sqs_queues WHERE account=? AND region=? AND name=?", where)
            elif op in QUEUE_OPS or not name:
                for q in ([backend.queues[name]] if name else list(backend.queues.values())):
                    self.db.execute("INSERT OR REPLACE INTO sqs_queues VALUES (?, ?, ?, ?)",
                                    (acct, call.region, q.name, _pickle_queue(q)))
        self._messages()

    def _messages(self) -> None:
        journal, moto_patches.SQS_JOURNAL[:] = list(moto_patches.SQS_JOURNAL), []
        latest: dict[str, tuple[str, Any, Any]] = {}
        for event, queue, message in journal:
            ident = message if event == "delete" else message.id
            previous = latest.get(ident)
            if event == "put" and queue is None and previous is not None and previous[1] is not None:
                queue = previous[1]  # received after it was sent, in the same request
            latest[ident] = (event, queue, message)
        for ident, (event, queue, message) in latest.items():
            if event == "delete":
                self.db.execute("DELETE FROM sqs_messages WHERE id=?", (ident,))
            elif queue is not None:
                self.db.execute("INSERT OR REPLACE INTO sqs_messages VALUES (?, ?, ?, ?, ?)",
                                (ident, queue.account_id, queue.region, queue.name,
                                 pickle.dumps(message, pickle.HIGHEST_PROTOCOL)))
            else:
                self.db.execute("UPDATE sqs_messages SET blob=? WHERE id=?",
                                (pickle.dumps(message, pickle.HIGHEST_PROTOCOL), ident))

    def _dynamodb_backends(self, region: str):
        from moto.backends import get_backend

        for acct, regions in dict.items(get_backend("dynamodb")):
            if region in dict.keys(regions):
                yield acct, dict.__getitem__(regions, region)

    def _items(self, call: Call) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        for table_name, key in touched_keys(json.loads(call.body or b"{}")):
            for acct, backend in self._dynamodb_backends(call.region):
                table = backend.tables.get(table_name)
                if table is None:
                    continue
                # `key` is the Key, or for a Put the whole item, which holds the key attributes
                if not key or table.hash_key_attr not in key or \
                        (table.range_key_attr and table.range_key_attr not in key):
                    continue
                h = DynamoType(key[table.hash_key_attr])
                r = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                ident = json.dumps([key[table.hash_key_attr], key.get(table.range_key_attr or "", "")], sort_keys=True)
                item = table.get_item(h, r)
                if item is None:
                    self.db.execute("DELETE FROM ddb_items WHERE account=? AND region=? AND tname=? AND key=?",
                                    (acct, call.region, table_name, ident))
                else:
                    self.db.execute("INSERT OR REPLACE INTO ddb_items VALUES (?, ?, ?, ?, ?)",
                                    (acct, call.region, table_name, ident, pickle.dumps(item, pickle.HIGHEST_PROTOCOL)))

    def _dynamodb_whole(self, region: str) -> None:
        """A table-level change (create, update, delete, TTL, ...): the tables' definitions, and
        every item of the region again (rare: bootstrap and admin operations only)."""
        from moto.backends import get_backend

        backends = {(acct, rg): b for acct, regions in dict.items(get_backend("dynamodb"))
                    for rg, b in dict.items(regions)}
        saved = {}
        try:
            for key, backend in backends.items():
                for name, table in backend.tables.items():
                    saved[(key, name)], table.items = table.items, defaultdict(dict)
            blob = pickle.dumps(backends, pickle.HIGHEST_PROTOCOL)
        finally:
            for ((key, name), items) in saved.items():
                backends[key].tables[name].items = items
        self.db.execute("INSERT OR REPLACE INTO backends VALUES ('dynamodb', ?)", (blob,))
        self.db.execute("DELETE FROM ddb_items")
        for (acct, rg), backend in backends.items():
            for name, table in backend.tables.items():
                for item in table.all_items():
                    ident = json.dumps([item.hash_key.to_json(), item.range_key.to_json() if item.range_key else ""],
                                       sort_keys=True)  # the same spelling as _items writes
                    self.db.execute("INSERT OR REPLACE INTO ddb_items VALUES (?, ?, ?, ?, ?)",
                                    (acct, rg, name, ident, pickle.dumps(item, pickle.HIGHEST_PROTOCOL)))

    def wipe(self) -> None:
        for table in ("backends", "ddb_items", "sqs_queues", "sqs_messages"):
            self.db.execute(f"DELETE FROM {table}")

    # -- reading back ------------------------------------------------------------------------------
    def restore(self) -> dict[str, int]:
        """Load every stored backend into moto; returns counts for the log."""
        from moto.backends import get_backend

        counts = {"services": 0, "items": 0}
        for service, blob in self.db.execute("SELECT service, blob FROM backends WHERE service != 'sqs'"):
            backend_dict = get_backend(service)
            for (acct, region), backend in pickle.loads(blob).items():
                dict.__setitem__(backend_dict[acct], region, backend)
            counts["services"] += 1
        sqs, loaded = get_backend("sqs"), []
        for acct, region, name, blob in self.db.execute("SELECT account, region, name, blob FROM sqs_queues"):
            backend = sqs[acct][region]
            backend.queues[name] = _unpickle_queue(blob)
            loaded.append(backend)
        for backend in loaded:
            for q in backend.queues.values():
                if isinstance(q.dead_letter_queue, _QueueRef):
                    q.dead_letter_queue = backend.queues.get(q.dead_letter_queue.name)
        for acct, region, queue, blob in self.db.execute("SELECT account, region, queue, blob FROM sqs_messages"):
            q = sqs[acct][region].queues.get(queue)
            if q is not None:
                q._messages.append(pickle.loads(blob))
        for backend in loaded:
            for q in backend.queues.values():
                q._messages.sort(key=lambda m: (m.sent_timestamp or 0))
        counts["messages"] = sum(len(q._messages) for b in loaded for q in b.queues.values())
        counts["queues"] = sum(len(b.queues) for b in {id(b): b for b in loaded}.values())
        ddb = get_backend("dynamodb")
        for acct, region, tname, blob in self.db.execute("SELECT account, region, tname, blob FROM ddb_items"):
            table = dict.__getitem__(ddb[acct], region).tables.get(tname) if region in dict.keys(ddb[acct]) else None
            if table is None:
                continue
            item = pickle.loads(blob)
            if table.range_key_attr:
                table.items[item.hash_key][item.range_key] = item
            else:
                table.items[item.hash_key] = item
            counts["items"] += 1
        return counts


def queue_name(body: bytes) -> str:
    """The queue an SQS request names (the last part of its QueueUrl), '' if none."""
    if body[:1] == b"{":
        url = json.loads(body).get("QueueUrl") or ""
    else:
        url = (urllib.parse.parse_qs(body.decode("latin-1")).get("QueueUrl") or [""])[0]
    return url.rstrip("/").rsplit("/", 1)[-1]


def touched_keys(body: dict) -> Iterable[tuple[str, dict | None]]:
    """(table, key-or-item) of every item a DynamoDB write request names."""
    if "TransactItems" in body:
        for entry in body["TransactItems"]:
            for op_type, op in entry.items():
                if op_type != "ConditionCheck":
                    yield op["TableName"], op.get("Item") if op_type == "Put" else op.get("Key")
    elif "RequestItems" in body:
        for table, requests in body["RequestItems"].items():
            for req in requests:
                if "PutRequest" in req:
                    yield table, req["PutRequest"]["Item"]
                elif "DeleteRequest" in req:
                    yield table, req["DeleteRequest"]["Key"]
    elif "TableName" in body:
        yield body["TableName"], body.get("Item") or body.get("Key")


class SerialisedApp:
    """WSGI middleware: one request at a time into moto, long polls outside, state written first."""

    def __init__(self, app, store: StateStore | None):
        self.app, self.store = app, store
        self.lock = threading.Lock()
        self.sqs_changed = threading.Condition()  # with `changed`: which queues saw a send since
        self.changed: dict[str, int] = {}
        self.requests = 0

    def __call__(self, environ: dict, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        call = describe(environ, body)
        if call.service == "sqs" and call.operation == "ReceiveMessage":
            status, headers, out = self._receive(environ, call)
        else:
            status, headers, out = self._run(environ, body, call)
        start_response(status, headers)
        return [out]

    def _run(self, environ: dict, body: bytes, call: Call) -> tuple[str, list, bytes]:
        with self.lock:
            status, headers, out = self._inner(environ, body)
            self.requests += 1
            if self.store is not None:
                if environ.get("PATH_INFO", "").startswith("/moto-api/reset"):
                    self.store.wipe()
                elif call.mutating and status[:1] == "2":
                    self.store.record(call)
                if moto_patches.SQS_JOURNAL:  # a refused request changed nothing worth keeping
                    moto_patches.SQS_JOURNAL.clear()
        if call.service == "sqs" and call.mutating and call.operation != "ReceiveMessage":
            with self.sqs_changed:
                name = queue_name(call.body)
                self.changed[name] = self.changed.get(name, 0) + 1
                self.sqs_changed.notify_all()
        return status, headers, out

    def _receive(self, environ: dict, call: Call) -> tuple[str, list, bytes]:
        """ReceiveMessage with WaitTimeSeconds: poll without waiting, and wait between polls."""
        json_protocol = bool(environ.get("HTTP_X_AMZ_TARGET"))
        if json_protocol:
            params = json.loads(call.body or b"{}")
            wait = float(params.get("WaitTimeSeconds") or 0)
            params["WaitTimeSeconds"] = 0
            body = json.dumps(params).encode()
        else:
            form = urllib.parse.parse_qs(call.body.decode("latin-1"), keep_blank_values=True)
            wait = float((form.get("WaitTimeSeconds") or ["0"])[0])
            form["WaitTimeSeconds"] = ["0"]
            body = urllib.parse.urlencode(form, doseq=True).encode("latin-1")
        deadline = time.monotonic() + wait
        name = queue_name(call.body)
        while True:
            with self.sqs_changed:
                seen = self.changed.get(name, 0)
            status, headers, out = self._run(environ, body, call)
            remaining = deadline - time.monotonic()
            if status[:1] != "2" or remaining <= 0 or b"ReceiptHandle" in out:
                return status, headers, out
            # Poll again when this queue saw a send (or a visibility change), or after a while
            # (a message may become visible by its own timer).
            with self.sqs_changed:
                self.sqs_changed.wait_for(lambda: self.changed.get(name, 0) != seen, timeout=min(remaining, 0.5))

    def _inner(self, environ: dict, body: bytes) -> tuple[str, list, bytes]:
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(body)
        env["CONTENT_LENGTH"] = str(len(body))
        captured: dict[str, Any] = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = self.app(env, start_response)
        try:
            out = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(out))))
        return captured["status"], headers, out


THREADS = 32  # request threads: pollers waiting in long polls each hold one


class StandIn:
    """moto's server on 127.0.0.1, serialised and (with `state_file`) kept on disk."""

    def __init__(self, port: int, state_file: Path | None = None, host: str = "127.0.0.1"):
        self.host, self.port, self.state_file = host, port, state_file
        self.restored: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from waitress.server import create_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_patches.apply()
        self.store = StateStore(self.state_file) if self.state_file else None
        if self.store is not None:
            self.restored = self.store.restore()
            moto_patches.SQS_JOURNAL = []
        self.app = SerialisedApp(DomainDispatcherApplication(create_backend_app), self.store)
        # waitress rather than werkzeug's dev server: it keeps HTTP/1.1 connections alive (werkzeug
        # closes every one, so each AWS call paid a new TCP connection on both sides), and its
        # thread pool bounds the threads; long polls hold one each, hence the size.
        self.server = create_server(self.app, host=self.host, port=self.port, threads=THREADS,
                                    connection_limit=1000, channel_timeout=120, ident="jiesu-standin")
        self.thread = threading.Thread(target=self.server.run, name="standin", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.close()
        for channel in list(self.server._map.values()):  # kept-alive client connections too
            channel.close()
        self.server.task_dispatcher.shutdown(timeout=2)
        self.thread.join(timeout=5)
        if self.store is not None:
            with self.app.lock:  # no request is half-way through its write
                self.store.close()


class StandInProcess(StandIn):
    """The stand-in in a child process of its own (`python -m infra.standin`): moto's work then
    runs on another core than the API's and the stages' (one process has one GIL). The child
    dies with its parent (PR_SET_PDEATHSIG), so a killed devserver leaves no server behind."""

    READY = "stand-in ready on "

    def start(self, timeout_s: float = 60) -> None:
        import os
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "infra.standin", "--port", str(self.port)]
        if self.state_file:
            cmd += ["--state", str(self.state_file)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JIESU_", "AWS_ENDPOINT"))}
        self.proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, preexec_fn=_die_with_parent)
        line = self.proc.stdout.readline()
        if not line.startswith(self.READY):
            self.proc.kill()
            raise RuntimeError(f"the stand-in did not start: {line}{self.proc.stdout.read()[-2000:]}")
        self.restored = json.loads(line.split(" restored ", 1)[1])
        threading.Thread(target=self._relay, name="standin-log", daemon=True).start()

    def _relay(self) -> None:
        for line in self.proc.stdout:  # anything moto prints (it should print nothing)
            print(f"[stand-in] {line.rstrip()}", flush=True)

    def stop(self, timeout_s: float = 5) -> None:
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _die_with_parent() -> None:
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def main() -> None:
    """`python -m infra.standin --port N --state FILE`: the stand-in alone, until SIGINT/SIGTERM."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--state", type=Path, help="the state file (none: memory only)")
    args = parser.parse_args()
    standin = StandIn(args.port, state_file=args.state)
    standin.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"{StandInProcess.READY}{standin.url} restored {json.dumps(standin.restored)}", flush=True)
    stop.wait()
    standin.stop()


if __name__ == "__main__":
    main()
