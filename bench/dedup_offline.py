"""Offline de-duplication benchmark: replays an appeal file through the online protocol in memory."""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.clustering_metrics import bcubed_scores, groups_from_links, pairwise_scores  # noqa: E402
from chalicelib.domain.dedup import DEFAULT_POLICY, CandidateScore, DedupPolicy, decide  # noqa: E402
from chalicelib.nlp.concepts import CONCEPTS, concept_index  # noqa: E402
from chalicelib.nlp.dedup_features import blocking_keys, dispatch_view, extract_features, pair_features  # noqa: E402
from chalicelib.policy import build  # noqa: E402
from chalicelib.policy.pack.parse import read_pack  # noqa: E402

# A fixed, public test key: the benchmark must be reproducible; production uses a secret key.
TEST_HMAC_KEY = b"jiesu-dedup-bench-test-key"


def party_hashes(record: dict, key: bytes = TEST_HMAC_KEY) -> list[str]:
    """HMAC-SHA256 of the ID number and phone, so that raw personal data never reaches an index."""
    out = []
    for kind in ("id_number", "phone"):
        value = (record.get(kind) or "").strip().upper()
        if value:
            out.append(hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32])
    return out


class Featurizer:
    """Features of a case as the dedup stage computes them, cached per (case, concept lexicon).

    The dispatch model's view is computed once per case (it does not depend on the concept lexicon).
    """

    def __init__(self, pack_dir: Path, dispatch: bool = True) -> None:
        pack = read_pack(pack_dir)
        self.lexicon = build.place_lexicon(pack)
        self.classifier = build.classifier(pack) if dispatch else None
        self._views: dict[str, tuple] = {}
        self._cache: dict[tuple, object] = {}

    def view(self, rec: dict):
        if self.classifier is None:
            return None
        got = self._views.get(rec["id"])
        if got is None:
            acc, _ = self.classifier.scores(rec["text"])
            got = self._views[rec["id"]] = dispatch_view(sorted(acc.items(), key=lambda kv: -kv[1]))
        return got

    def for_concepts(self, held_out: frozenset[str] = frozenset()) -> Callable[[dict], object]:
        index = concept_index({k: v for k, v in CONCEPTS.items() if k not in held_out}) if held_out else None

        def featurize(rec: dict):
            key = (rec["id"], held_out)
            got = self._cache.get(key)
            if got is None:
                got = self._cache[key] = extract_features(rec, self.lexicon, index, self.view(rec))
            return got
        return featurize


class InMemoryIndex:
    """Key -> time-ordered postings, read like a DynamoDB query: newest first, bounded, in window."""

    def __init__(self) -> None:
        self.postings: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self.reads = 0

    def put(self, key: str, at: float, appeal_id: str) -> None:
        self.postings[key].append((at, appeal_id))

    def query(self, key: str, now: float, window_hours: float, limit: int) -> list[str]:
        self.reads += 1
        out = []
        for at, appeal_id in reversed(self.postings.get(key, [])):
            if at < now - window_hours:
                break
            out.append(appeal_id)
            if len(out) >= limit:
                break
        return out


def run(records: list[dict], policy: DedupPolicy = DEFAULT_POLICY, featurize=None) -> dict:
    """Process records in (received_at, id) order; return groups, links and decisions.

    `featurize(record)` gives a record's AppealFeatures (default: as the dedup stage computes them
    with the demo region's places and dispatch model).
    """
    order = sorted(records, key=lambda r: (r["received_at"], r["id"]))
    index = InMemoryIndex()
    # What the real store keeps per appeal so that rescoring needs no extra reads.
    stored: dict[str, dict] = {}
    master: dict[str, str] = {}
    links: dict[str, str | None] = {}
    decisions: dict[str, object] = {}
    featurize = featurize or Featurizer(ROOT / "regions" / "shenzhen").for_concepts()
    for rec in order:
        feats = featurize(rec)
        hashes = party_hashes(rec)
        keys = blocking_keys(feats, hashes)
        cand_ids: list[str] = []
        for key in keys:
            for cid in index.query(key, feats.received_at, policy.window_days * 24, policy.max_candidates_per_key):
                if cid not in cand_ids:
                    cand_ids.append(cid)
        cands = []
        for cid in cand_ids:
            other = stored[cid]
            same_party = bool(set(hashes) & set(other["party_hashes"]))
            cands.append(CandidateScore(cid, pair_features(feats, other["features"], same_party),
                                        master_id=other["master_id"]))
        d = decide(cands, policy)
        decisions[rec["id"]] = d
        m = d.master_id
        links[rec["id"]] = m
        master[rec["id"]] = m or rec["id"]
        stored[rec["id"]] = {"features": feats, "party_hashes": hashes, "master_id": m}
        for key in keys:
            index.put(key, feats.received_at, rec["id"])
    ids = [r["id"] for r in order]
    groups = groups_from_links(ids, links)
    return {"groups": groups, "links": links, "decisions": decisions, "reads": index.reads,
            "order": order}


def _short(rec: dict) -> str:
    return f"{rec['id']} [{rec['cluster']}] {rec['received_at'][:16]} {rec['channel']} @{rec['address']}: {rec['text']}"


def report_errors(records: list[dict], result: dict, out=sys.stderr) -> dict:
    """Print false merges and misses with both texts; return counts by kind."""
    by_id = {r["id"]: r for r in records}
    gold = {r["id"]: r["cluster"] for r in records}
    groups = result["groups"]
    false_merges = misses = 0
    for rec in result["order"]:
        d = result["decisions"][rec["id"]]
        if d.candidate_id and d.master_id and gold[d.candidate_id] != gold[rec["id"]]:
            false_merges += 1
            print(f"FALSE MERGE signal={d.signal} ({d.reason})\n  new : {_short(rec)}\n  with: {_short(by_id[d.candidate_id])}\n"
                  f"  fields: {d.matched_fields}", file=out)
    for rec in result["order"]:
        earlier = [r for r in result["order"] if r["cluster"] == rec["cluster"] and r["id"] < rec["id"]
                   and (r["received_at"], r["id"]) < (rec["received_at"], rec["id"])]
        if earlier and not any(groups[r["id"]] == groups[rec["id"]] for r in earlier):
            misses += 1
            d = result["decisions"][rec["id"]]
            print(f"MISS signal={d.signal or '-'} ({d.reason})\n  new : {_short(rec)}\n  gold: {_short(earlier[-1])}\n"
                  f"  fields: {d.matched_fields}", file=out)
    return {"false_merges": false_merges, "misses": misses}


def evaluate(records: list[dict], policy: DedupPolicy = DEFAULT_POLICY, verbose: bool = True) -> dict:
    t0 = time.perf_counter()
    result = run(records, policy)
    elapsed = time.perf_counter() - t0
    gold = {r["id"]: r["cluster"] for r in records}
    pw = pairwise_scores(result["groups"], gold)
    b3 = bcubed_scores(result["groups"], gold)
    errors = report_errors(records, result, out=sys.stderr if verbose else open("/dev/null", "w"))
    return {
        "records": len(records),
        "gold_clusters": len(set(gold.values())),
        "predicted_groups": len(set(result["groups"].values())),
        "pairwise": {k: round(v, 4) for k, v in pw.items()},
        "bcubed": {k: round(v, 4) for k, v in b3.items()},
        "borderline": sum(1 for d in result["decisions"].values() if d.possible_id),
        "false_merge_links": errors["false_merges"],
        "missed_appeals": errors["misses"],
        "index_reads": result["reads"],
        "seconds": round(elapsed, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", nargs="?", default=str(ROOT / "tests" / "data" / "dedup-dev.jsonl"))
    ap.add_argument("--quiet", action="store_true", help="do not list errors on stderr")
    args = ap.parse_args(argv)
    with open(args.path, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    summary = evaluate(records, verbose=not args.quiet)
    print(f"pairwise  P={summary['pairwise']['precision']:.4f} R={summary['pairwise']['recall']:.4f} "
          f"F1={summary['pairwise']['f1']:.4f}", file=sys.stderr)
    print(f"B-cubed   P={summary['bcubed']['precision']:.4f} R={summary['bcubed']['recall']:.4f} "
          f"F1={summary['bcubed']['f1']:.4f}", file=sys.stderr)
    print(f"groups    {summary['predicted_groups']} predicted / {summary['gold_clusters']} gold", file=sys.stderr)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
