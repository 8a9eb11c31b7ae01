"""What an archived appeal keeps in the table (归档, issue 23), and what the staff lists read.

    python bench/archive_footprint.py [--n 3]

In one process on moto (the spec's resources, the demo region), N appeals go through their whole
life as the integration tests drive them (signed intake, dedup and dispatch stages, sign, contact
and reply through the staff API, a satisfied rating through the channel), then the archive sweep
seals them (services/archive.sweep at closure + 8 days). Measured, from the table itself (a scan:
this is a benchmark, not a code path), with DynamoDB's item-size rules (bench/capacity.item_size):

- `hot`: the items and bytes per appeal that belong to it (its partition, its public view,
  ticket, tracking link, public-record rows, ...), before archiving;
- `archive`: the items the archive adds per appeal (pointer, wrapped key) and the dossier bytes;
- `after_ttl`: what stays once the hot items expire: the pointer and key only. Computed, not
  observed: the TTL step is not implemented yet (README, "The archive"), and moto never expires;
- `reads`: items a unit inbox (GSI1) and an area list (GSI3) read with the appeals closed and
  with them archived; closed appeals are in no owner queue, so the inbox does not grow; the area
  list still holds them until the TTL step takes them out of GSI3.

The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.local import offline_aws_env  # noqa: E402 - must run before chalicelib is imported

offline_aws_env("test", quiet=True)

REGION_DIR = ROOT / "regions" / "shenzhen"
UNIT = "U440306002-JD"
DISTRICT = "440306"


def owner(raw: dict, ids: set[str]) -> str | None:
    """The appeal an item belongs to: its `appeal_id` attribute or an id in its keys."""
    aid = raw.get("appeal_id", {}).get("S")
    if aid in ids:
        return aid
    for k in ("PK", "SK"):
        v = raw.get(k, {}).get("S", "")
        for i in ids:
            if i in v:
                return i
    return None


def footprint(session, table: str, ids: set[str]) -> dict[str, dict]:
    from bench.capacity import item_size

    ddb = session.client("dynamodb")
    per: dict[str, dict] = defaultdict(lambda: {"items": 0, "bytes": 0, "kinds": defaultdict(int),
                                                "kind_bytes": defaultdict(int)})
    kwargs: dict = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        for raw in page["Items"]:
            aid = owner(raw, ids)
            if aid:
                per[aid]["items"] += 1
                per[aid]["bytes"] += item_size(raw)
                kind = raw.get("kind", {}).get("S", "?")
                per[aid]["kinds"][kind] += 1
                per[aid]["kind_bytes"][kind] += item_size(raw)
        if "LastEvaluatedKey" not in page:
            return per
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def index_reads(session, table: str) -> dict[str, int]:
    ddb = session.client("dynamodb")

    def count(index: str, pk: str) -> int:
        return ddb.query(TableName=table, IndexName=index, KeyConditionExpression="#p = :v",
                         ExpressionAttributeNames={"#p": f"{index}PK"},
                         ExpressionAttributeValues={":v": {"S": pk}}, Select="COUNT")["ScannedCount"]

    return {"unit_inbox_items": count("GSI1", f"UNIT#{UNIT}"), "area_items": count("GSI3", f"AREA#{DISTRICT}")}


def mean(rows: list[dict], key: str) -> float:
    return round(sum(r[key] for r in rows) / len(rows), 1) if rows else 0.0


def run(n: int) -> dict:
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from infra import moto_patches
    from chalicelib.policy import runtime
    from chalicelib.policy.pack.parse import read_pack

    moto_patches.apply()
    runtime.serve_packs({"shenzhen": read_pack(REGION_DIR).with_version(1)})
    with mock_aws():
        from infra.local import in_process_stack, register_channels, reset_process_caches

        session = boto3.session.Session(region_name="us-east-1")
        res = in_process_stack(session)
        creds = register_channels(session, REGION_DIR, "test", callback_url="http://127.0.0.1:9/callbacks")
        from tests.conftest import AwsStack
        from tests.integration.staff_fixtures import AUDIENCE, ISSUER, IdP

        idp = IdP()
        os.environ.update({"JIESU_OIDC_ISSUER": ISSUER, "JIESU_OIDC_AUDIENCE": AUDIENCE,
                           "JIESU_OIDC_JWKS_URL": idp.jwks_url})
        from chalicelib.settings import get_settings

        get_settings.cache_clear()
        try:
            import app as chalice_app
            from chalicelib.bootstrap import bootstrap
            from chalicelib.services import archive
            from chalicelib.services.clock import FixedClock
            from chalicelib.storage.archive_store import archive_parts
            from tests.integration.test_archive import closed, closed_at

            aws = AwsStack(session, res, creds)
            with Client(chalice_app.app) as client:
                ids = [closed(aws, client, idp) for _ in range(n)]
            reads_closed = index_reads(session, res.table_name)
            hot = footprint(session, res.table_name, set(ids))
            latest = max(closed_at(i) for i in ids)
            parts = archive_parts()
            swept = archive.sweep(bootstrap(clock=FixedClock(latest + timedelta(days=8))), parts)
            assert swept["archived"] == n, swept
            after = footprint(session, res.table_name, set(ids))
            reads_archived = index_reads(session, res.table_name)
            dossier_bytes = []
            for i in ids:
                ptr = parts.store.get_pointer(i)
                dossier_bytes.append(len(parts.bucket.get(ptr.dossier_key, ptr.dossier_version)))
        finally:
            idp.server.shutdown()
            reset_process_caches()
            runtime.serve_packs(None)
    hot_rows = [hot[i] for i in ids]
    added = [{"items": after[i]["kinds"]["archive_pointer"] + after[i]["kinds"]["archive_key"],
              "bytes": after[i]["bytes"] - hot[i]["bytes"]} for i in ids]
    kinds = defaultdict(int)
    for r in hot_rows:
        for k, v in r["kinds"].items():
            kinds[k] += v
    return {
        "appeals": n,
        "hot": {"items_per_appeal": mean(hot_rows, "items"), "bytes_per_appeal": mean(hot_rows, "bytes"),
                "items_by_kind": {k: round(v / n, 1) for k, v in sorted(kinds.items())}},
        "archive": {"items_per_appeal": mean(added, "items"),
                    "bytes_per_appeal_incl_archived_event": mean(added, "bytes"),
                    "dossier_bytes_per_appeal": round(sum(dossier_bytes) / n, 1)},
        "after_ttl": {"items_per_appeal": 2, "kinds": ["archive_pointer", "archive_key"], "observed": False,
                      "bytes_per_appeal": round(sum(after[i]["kind_bytes"]["archive_pointer"]
                                                    + after[i]["kind_bytes"]["archive_key"] for i in ids) / n, 1)},
        "reads": {"closed": reads_closed, "archived": reads_archived},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3)
    args = ap.parse_args(argv)
    r = run(args.n)
    print(f"{r['appeals']} appeals: hot {r['hot']['items_per_appeal']} items / {r['hot']['bytes_per_appeal']} B each; "
          f"archive adds {r['archive']['items_per_appeal']} items, dossier {r['archive']['dossier_bytes_per_appeal']} B")
    print(f"reads closed {r['reads']['closed']} archived {r['reads']['archived']}")
    print(json.dumps(r, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
