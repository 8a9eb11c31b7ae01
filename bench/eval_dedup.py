"""De-duplication through the real path: intake's store() and the dedup service on a fresh moto table.

    python bench/eval_dedup.py --cases tests/data/dedup-dev.jsonl

Every record is stored as intake stores it (channel, ticket id = record id, content = text,
address, party with id_number/phone, reported/received at the record's time), then the dedup
service decides each in received_at order (ties by id). The groups are read back from the
stored master links and scored against the gold clusters. The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.local import offline_aws_env  # noqa: E402 - must run before chalicelib is imported

offline_aws_env("test", quiet=True)


def read_cases(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def new_appeal(rec: dict):
    from chalicelib.domain.appeal import AppealType, Location, NewAppeal, Party, Urgency

    at = datetime.fromisoformat(rec["received_at"])
    return NewAppeal(channel=rec["channel"], ticket_id=rec["id"], appeal_type=AppealType(rec.get("appeal_type") or "投诉"),
                     urgency=Urgency.NORMAL, content=rec["text"], reported_at=at,
                     location=Location(address=rec.get("address", "")),
                     party=Party(id_number=rec.get("id_number", ""), phone=rec.get("phone", "")))


def run(records: list[dict]) -> dict:
    import boto3
    from moto import mock_aws

    from bench.intake import drain_queues
    from chalicelib.bootstrap import bootstrap
    from infra import moto_patches

    # moto artefacts that are not DynamoDB/SQS behaviour (see bench/intake.py, bench/dedup.py): a
    # whole-table deep copy per transaction action, a sort of the whole table per Query, and
    # SendMessage slowing with queue depth. Same results, only faster.
    moto_patches.apply()
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        from infra.local import in_process_stack

        res = in_process_stack(session)
        # The region is loaded as an admin would: the dedup path reads places and policy from the live pack.
        from infra.demo_region import load_demo_region

        load_demo_region(session, "test", ROOT / "regions" / "shenzhen")

        from bench.clustering_metrics import bcubed_scores, groups_from_links, pairwise_scores
        from chalicelib.observability import metrics
        from chalicelib.policy.runtime import runtime_for
        from chalicelib.services import dedup, intake
        from chalicelib.services.clock import FixedClock
        from chalicelib.storage import repository

        order = sorted(records, key=lambda r: (r["received_at"], r["id"]))
        t0 = time.perf_counter()
        appeal_of: dict[str, str] = {}
        for rec in order:
            at = datetime.fromisoformat(rec["received_at"])
            out = intake.store(bootstrap(), new_appeal(rec), intake.payload_hash(rec), None, at)
            appeal_of[rec["id"]] = out.body["appeal_id"]
            metrics.clear_metrics()  # nothing ships them here; a full buffer would print to stdout
            if len(appeal_of) % 50 == 0:
                drain_queues(session, res)
        t_store = time.perf_counter() - t0

        policy = runtime_for("shenzhen").dedup_policy
        t1 = time.perf_counter()
        outcomes: dict[str, int] = {}
        decisions: dict[str, object] = {}
        attempts = postings_read = 0
        for rec in order:
            r = dedup.process(bootstrap(clock=FixedClock(datetime.fromisoformat(rec["received_at"]))), appeal_of[rec["id"]], policy)
            decisions[rec["id"]] = r.decision
            outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
            attempts += r.attempts
            postings_read += r.postings_read
            metrics.clear_metrics()
            if sum(outcomes.values()) % 50 == 0:
                drain_queues(session, res)
        t_dedup = time.perf_counter() - t1

        # Read the groups back from what is stored: each appeal's master link.
        record_of = {a: rid for rid, a in appeal_of.items()}
        ids = [r["id"] for r in order]
        links = {}
        for rid in ids:
            a = repository.load_appeal(appeal_of[rid])
            links[rid] = record_of.get(a.master_id) if a.master_id else None
        groups = groups_from_links(ids, links)
        gold = {r["id"]: r["cluster"] for r in records}
        pw = pairwise_scores(groups, gold)
        b3 = bcubed_scores(groups, gold)
        errors = _errors(order, groups, links, gold, decisions, record_of)
        possible = _possible(order, decisions, record_of, gold)
        return {
            "records": len(records),
            "gold_clusters": len(set(gold.values())),
            "predicted_groups": len(set(groups.values())),
            "joined": outcomes.get("joined", 0),
            "new_masters": outcomes.get("new_master", 0),
            "pairwise": {k: round(v, 4) for k, v in pw.items()},
            "bcubed": {k: round(v, 4) for k, v in b3.items()},
            "borderline": possible["borderline"],
            "borderline_same_cluster": possible["same_cluster"],
            "false_merge_links": errors[0],
            "missed_appeals": errors[1],
            "dedup_attempts": attempts,
            "postings_read": postings_read,
            "store_seconds": round(t_store, 2),
            "dedup_seconds": round(t_dedup, 2),
            "policy": {"window_days": policy.window_days, "join_threshold": policy.join_threshold},
        }


def _signal(d) -> str:
    return f"signal={d.signal or '-'}" if d is not None else "signal=-"


def _fields(d) -> str:
    return json.dumps(d.matched_fields, ensure_ascii=False) if d is not None else "{}"


def _errors(order, groups, links, gold, decisions, record_of) -> tuple[int, int]:
    """Misses and wrong joins on stderr: the pair, the signal that decided it and the decision's
    reason and fields, for a region's dispatcher to review."""
    false_merges = sum(1 for rid, m in links.items() if m and gold[m] != gold[rid])
    misses = 0
    for i, rec in enumerate(order):
        earlier = [r for r in order[:i] if r["cluster"] == rec["cluster"]]
        if earlier and not any(groups[r["id"]] == groups[rec["id"]] for r in earlier):
            misses += 1
            d = decisions.get(rec["id"])
            near = record_of.get(d.candidate_id, d.candidate_id) if d is not None and d.candidate_id else None
            print(f"MISS {rec['id']} [{rec['cluster']}] ~ {earlier[-1]['id']} (nearest candidate {near}) "
                  f"{_signal(d)}: {d.reason if d else ''} fields={_fields(d)}", file=sys.stderr)
    for rid, m in links.items():
        if m and gold[m] != gold[rid]:
            d = decisions.get(rid)
            cand = record_of.get(d.candidate_id, d.candidate_id) if d is not None and d.candidate_id else m
            print(f"FALSE MERGE {rid} [{gold[rid]}] -> {cand} [{gold.get(cand, '?')}] (group {m}) {_signal(d)}: "
                  f"{d.reason if d else ''} fields={_fields(d)}", file=sys.stderr)
    return false_merges, misses


def _possible(order, decisions, record_of, gold) -> dict:
    """Appeals left as new masters with a possible duplicate for a dispatcher (one line each)."""
    n = same = 0
    for rec in order:
        d = decisions.get(rec["id"])
        if d is None or not d.possible_id:
            continue
        n += 1
        cand = record_of.get(d.possible_candidate_id, d.possible_candidate_id)
        same += gold.get(cand) == rec["cluster"]
        print(f"POSSIBLE {rec['id']} [{rec['cluster']}] ~ {cand} [{gold.get(cand, '?')}]: {d.possible_reason}",
              file=sys.stderr)
    return {"borderline": n, "same_cluster": same}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=str(ROOT / "tests" / "data" / "dedup-dev.jsonl"))
    args = ap.parse_args(argv)
    summary = run(read_cases(args.cases))
    print(f"pairwise  P={summary['pairwise']['precision']:.4f} R={summary['pairwise']['recall']:.4f} "
          f"F1={summary['pairwise']['f1']:.4f}", file=sys.stderr)
    print(f"B-cubed   P={summary['bcubed']['precision']:.4f} R={summary['bcubed']['recall']:.4f} "
          f"F1={summary['bcubed']['f1']:.4f}", file=sys.stderr)
    print(f"borderline {summary['borderline']} possible duplicates for a dispatcher "
          f"({summary['borderline_same_cluster']} of them the same matter)", file=sys.stderr)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
