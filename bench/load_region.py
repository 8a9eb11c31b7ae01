"""Region pack load cost: wall time and DynamoDB request units, Shenzhen demo and a 4,315-item catalog.

Usage: .venv/bin/python bench/load_region.py [--items 4315]
Runs on moto in-process (mock_aws) with the spec's resources (infra.local.bootstrap). DynamoDB
request units come from bench.capacity.CapacityMeter (on-demand rules applied to the requests
actually made; transactional writes count double). S3 and Secrets Manager calls are counted
per operation with a botocore event hook. Times are moto's, so they measure our code plus an
in-process stand-in, not AWS latency. The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHENZHEN = ROOT / "regions" / "shenzhen"

from infra.local import offline_aws_env  # noqa: E402 - must run before chalicelib is imported

offline_aws_env("bench", quiet=True)

_QUALIFIERS = ("城中村", "工业区", "学校周边", "商业区", "住宅小区", "公共场所", "农村地区", "交通干道",
               "涉外", "新建项目", "老旧小区", "口岸周边")


def synthetic_pack(dest: Path, leaves: int) -> Path:
    """Shenzhen's pack with its catalog grown to `leaves` items over the same 18 level-1 categories.

    Each demo leaf is split into place/object variants (the way the real list refines a duty),
    keeping its unit type and level, so every row stays dispatchable and valid.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for p in SHENZHEN.iterdir():
        if p.is_file() and p.name != "catalog.csv":
            (dest / p.name).write_bytes(p.read_bytes())
    with open(SHENZHEN / "catalog.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    base = [r for r in rows if r["code"] != "99.99.999"]
    fallback = [r for r in rows if r["code"] == "99.99.999"]
    groups: dict[str, list[dict]] = {}
    for r in base:
        groups.setdefault(r["code"][:5], []).append(r)
    out, n_group = [], Counter()
    i = 0
    while len(out) < leaves:
        r = base[i % len(base)]
        rnd = i // len(base)
        g = r["code"][:5]
        n_group[g] += 1
        item = r["item"] if rnd == 0 else f"{r['item']}（{_QUALIFIERS[(rnd - 1) % len(_QUALIFIERS)]}{'' if rnd <= len(_QUALIFIERS) else rnd}）"
        out.append({**r, "code": f"{g}.{n_group[g]:03d}", "item": item})
        i += 1
    assert len(groups) and len({r["code"][:2] for r in out}) == 18
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(out + fallback)
    (dest / "catalog.csv").write_text(buf.getvalue(), encoding="utf-8")
    return dest


class CallCounter:
    """Counts S3 / Secrets Manager operations made through a client."""

    def __init__(self):
        self.calls = Counter()

    def attach(self, client) -> None:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-call.{service}",
                                    lambda model, **_: self.calls.update([f"{service}:{model.name}"]),
                                    unique_id=f"bench-count-{service}")

    def take(self) -> dict:
        out = dict(sorted(self.calls.items()))
        self.calls.clear()
        return out


def measure(name: str, fn, meter, counter) -> dict:
    meter.reset()
    counter.take()
    t0 = time.perf_counter()
    with meter:
        result = fn()
    elapsed = time.perf_counter() - t0
    snap = meter.snapshot()
    # The meter's shadow reads (before/after images) are not part of the work measured.
    row = {"case": name, "seconds": round(elapsed - snap["hook_seconds"], 3), "read_units": snap["read_units"],
           "write_units": snap["write_units"], "dynamodb_requests": snap.get("requests_by_op", {}),
           "other_requests": counter.take()}
    return row, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=4315)
    args = ap.parse_args()

    import boto3
    from moto import mock_aws

    from bench.capacity import CapacityMeter, install

    install()
    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        session = boto3.session.Session(region_name="us-east-1")
        from infra.local import in_process_stack

        in_process_stack(session, "bench")
        from chalicelib.aws import client
        from chalicelib.policy.pack.parse import read_pack
        from chalicelib.policy.pack.store import encode_pack
        from chalicelib.policy.pack.validate import validate
        from chalicelib.policy.region import LivePackCache
        from chalicelib.services import region_admin

        counter = CallCounter()
        counter.attach(client("s3"))
        counter.attach(client("secretsmanager"))
        meter = CapacityMeter()
        rows = []

        t0 = time.perf_counter()
        sz = read_pack(SHENZHEN)
        errs = validate(sz)
        sz_validate_s = time.perf_counter() - t0
        assert not errs, errs[:3]

        row, r = measure("shenzhen: first load (v1)", lambda: region_admin.load(SHENZHEN, "bench"), meter, counter)
        rows.append({**row, "validate_seconds": round(sz_validate_s, 3), "catalog_items": len(sz.catalog),
                     "object_bytes": len(encode_pack(sz)), "version": r.version.catalog_version})
        row, r = measure("shenzhen: identical reload (no-op)", lambda: region_admin.load(SHENZHEN, "bench"),
                         meter, counter)
        rows.append({**row, "noop": r.noop})

        big_dir = synthetic_pack(Path(tmp) / "shenzhen", args.items)
        t0 = time.perf_counter()
        big = read_pack(big_dir)
        big_errs = validate(big)
        big_validate_s = time.perf_counter() - t0
        assert not big_errs, [str(e) for e in big_errs[:3]]
        row, r = measure(f"synthetic {len(big.catalog) - 1} leaves: dry run",
                         lambda: region_admin.load(big_dir, "bench", dry_run=True), meter, counter)
        rows.append({**row, "diff": r.diff.summary().get("catalog")})
        row, r = measure(f"synthetic {len(big.catalog) - 1} leaves: load (v2)",
                         lambda: region_admin.load(big_dir, "bench"), meter, counter)
        rows.append({**row, "validate_seconds": round(big_validate_s, 3), "catalog_items": len(big.catalog),
                     "object_bytes": len(encode_pack(big)), "version": r.version.catalog_version})
        row, _ = measure("rollback to v1", lambda: region_admin.rollback("shenzhen", 1, "bench"), meter, counter)
        rows.append(row)

        cache = LivePackCache()
        row, p = measure("live_pack: cold (pointer + S3 object)", lambda: cache.get("shenzhen"), meter, counter)
        rows.append({**row, "version": p.catalog_version})
        cache.refresh_s = 0.0
        row, _ = measure("live_pack: re-check, unchanged (one GetItem)", lambda: cache.get("shenzhen"), meter, counter)
        rows.append(row)

    for row in rows:
        print(f"{row['case']:<46} {row['seconds']:>7.3f}s  RRU {row['read_units']:>5}  WRU {row['write_units']:>5}  "
              f"{row['other_requests']}")
    summary = {
        "bench": "load_region", "items": args.items, "cases": rows,
        "capacity_source": "bench.capacity.CapacityMeter",
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
