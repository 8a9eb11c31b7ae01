"""Bring a stored table's GSIs to the projections of the spec (issue 21): `python -m infra.admin
reproject [--dry-run]`.

Tables created before issue 21 project everything into GSI1-3 (ProjectionType ALL); the spec now
projects the keys, `kind` and the small entries' fields (chalicelib.storage.keys.INDEX_ATTRIBUTES).
The code reads both (a list reads whole entries where an index still holds them), so the change
can wait for a quiet hour. DynamoDB cannot change an index's projection in place, so each
differing index is deleted and created again with the same keys, one at a time, and DynamoDB
backfills it from the table. This command does that on a table outside CloudFormation (the
local stand-in, a copy); for the deployed stack the same steps go as stack updates, since
CloudFormation deletes or adds one GSI per update and refuses both at once for one name: a
deploy without the index, then one with it as the spec has it, index by index (the dry run
says which differ). What it costs: while one index is rebuilt its lists (an inbox, a queue, Open311's
month lists, the alert days, the repair sweep's pending hand-offs) answer with an error; stored
items are not touched. `--dry-run` prints the plan and the number of entries each rebuilt index
holds (counted by a Scan of the index with Select=COUNT: once, about half a read unit per 4 KB
of index), changing nothing.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from infra.spec import SPEC, Spec


def _projection(p: dict | None) -> tuple:
    if not p:
        return ()
    return p.get("ProjectionType", "ALL"), tuple(sorted(p.get("NonKeyAttributes") or ()))


def plan(ddb, table_name: str, spec: Spec = SPEC) -> list[dict[str, Any]]:
    """The spec's indexes whose stored projection differs (or that are missing), in spec order."""
    desc = ddb.describe_table(TableName=table_name)["Table"]
    live = {ix["IndexName"]: ix for ix in desc.get("GlobalSecondaryIndexes", [])}
    steps = []
    for ix in spec.table.indexes:
        have = live.get(ix.name)
        if have is not None and _projection(have.get("Projection")) == _projection(ix.projection):
            continue
        steps.append({"index": ix.name, "from": have.get("Projection") if have else None, "to": ix.projection,
                      "entries": count_entries(ddb, table_name, ix.name) if have else 0})
    return steps


def count_entries(ddb, table_name: str, index: str) -> int:
    n, kwargs = 0, {"TableName": table_name, "IndexName": index, "Select": "COUNT"}
    while True:
        page = ddb.scan(**kwargs)
        n += int(page["Count"])
        if "LastEvaluatedKey" not in page:
            return n
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _wait(ddb, table_name: str, done: Callable[[dict], bool], timeout_s: float, poll_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        desc = ddb.describe_table(TableName=table_name)["Table"]
        if done(desc):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{table_name}: indexes still changing after {timeout_s:.0f}s")
        time.sleep(poll_s)


def reproject(ddb, table_name: str, spec: Spec = SPEC, dry_run: bool = True, timeout_s: float = 6 * 3600,
              poll_s: float = 15.0) -> dict[str, Any]:
    """Delete and create again each index of `plan` (unless `dry_run`), waiting for each to be
    ACTIVE before the next. Returns the plan and what was done."""
    steps = plan(ddb, table_name, spec)
    out = {"table": table_name, "dry_run": dry_run, "indexes": steps, "count": len(steps),
           "entries": sum(s["entries"] for s in steps), "rebuilt": []}
    if dry_run:
        return out
    by_name = {ix.name: ix for ix in spec.table.indexes}
    for step in steps:
        ix = by_name[step["index"]]
        if step["from"] is not None:
            ddb.update_table(TableName=table_name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": ix.name}}])
            _wait(ddb, table_name,
                  lambda d: all(g["IndexName"] != ix.name for g in d.get("GlobalSecondaryIndexes", [])),
                  timeout_s, poll_s)
        ddb.update_table(
            TableName=table_name,
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in (ix.pk, ix.sk)],
            GlobalSecondaryIndexUpdates=[{"Create": {
                "IndexName": ix.name, "Projection": ix.projection,
                "KeySchema": [{"AttributeName": ix.pk, "KeyType": "HASH"},
                              {"AttributeName": ix.sk, "KeyType": "RANGE"}]}}])
        _wait(ddb, table_name, lambda d: any(g["IndexName"] == ix.name and g.get("IndexStatus", "ACTIVE") == "ACTIVE"
                                             for g in d.get("GlobalSecondaryIndexes", [])), timeout_s, poll_s)
        out["rebuilt"].append(ix.name)
    return out
