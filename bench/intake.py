"""Intake speed and DynamoDB cost: accepted appeals per second through the Chalice app on moto.

Usage: python bench/intake.py [--n 500] [--metered N] [--retries 50] [--seed 7] [--drain-every 50]
                              [--stock-moto] [--no-progress]

Everything runs in this process: moto (mock_aws) with the spec's resources (infra.local), the
region's channels registered, and the Chalice app driven by chalice.test.Client with signed
requests, exactly as tests/conftest.py sets it up. Payloads come from
infra.samples with texts and addresses of regions/shenzhen/examples/
history-train.jsonl, round-robin over every channel that has a sample builder (not open311).

Phases (ticket ids never repeat across them):
  warm-up    one appeal per channel, not measured (first KMS/secret/channel reads, imports);
  timed      --n appeals with the capacity meter idle: accepted/s (wall, the whole loop
             including payload building and signing) and per-request latency (the POST only);
  metered    --metered appeals (default: --n) with bench.capacity counting request units; its
             shadow reads would skew timing, hence a separate phase;
  retries    --retries idempotent retries (same body, new nonce) of earlier tickets, metered.

Two artefacts of the stand-in are removed so that the numbers measure our code, not moto:
  * moto deep-copies the whole table per action of every TransactWriteItems (a rollback backup),
    so each appeal would be slower than the last; moto_patches.apply() backs up only the
    touched items (same semantics; --stock-moto turns it off);
  * moto's SendMessage is O(queue depth), and nothing consumes the queues here: every
    --drain-every appeals the queues are emptied (what dedup/notify consumers do), outside the
    measured wall time.
The last stdout line is one JSON object (everything else printed goes to stderr, with progress).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REGION_DIR = ROOT / "regions" / "shenzhen"
HISTORY = REGION_DIR / "examples" / "history-train.jsonl"

from infra.local import offline_aws_env  # noqa: E402 - must run before chalicelib is imported

offline_aws_env("test", quiet=True)

EXCLUDED_CHANNELS = {"open311"}


def drain_queues(session, res) -> None:
    """Empty every queue, as the dedup/notify consumers would (moto's SendMessage is O(depth))."""
    sqs = session.client("sqs")  # PurgeQueue is limited to once a minute: receive and delete
    for url in res.queue_urls.values():
        while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def load_history(path: Path = HISTORY) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("text")]


class Sender:
    """Builds varied, signed appeals and posts them to the app; remembers what it sent."""

    def __init__(self, client, creds: dict, channels: list[str], history: list[dict], seed: int) -> None:
        self.client, self.creds, self.channels, self.history = client, creds, channels, history
        self.rng = random.Random(seed)
        self.seq = 0
        self.sent: list[tuple[str, bytes, dict]] = []  # (channel, body, first response)

    def next_body(self) -> tuple[str, bytes]:
        from infra.samples import sample_payload

        code = self.channels[self.seq % len(self.channels)]
        row = self.history[self.rng.randrange(len(self.history))]
        payload = sample_payload(code, self.rng, row["text"], row.get("address") or "", row["appeal_type"], self.seq)
        self.seq += 1
        return code, json.dumps(payload, ensure_ascii=False).encode()

    def post(self, code: str, body: bytes):
        from chalicelib.channels.signing import signed_headers

        path = f"/channels/{code}/appeals"
        kid, secret = self.creds[code]
        headers = {"Content-Type": "application/json", **signed_headers(kid, secret, "POST", path, body)}
        t0 = time.perf_counter()
        resp = self.client.http.post(path, headers=headers, body=body)
        return resp, (time.perf_counter() - t0) * 1000


def run_phase(sender: Sender, n: int, progress, label: str, *, record: bool, drain=None,
              drain_every: int = 0) -> dict:
    """n fresh appeals; wall time covers building, signing and posting, not the queue drains."""
    task = progress.add_task(label, total=n) if progress else None
    lat, accepted, failures, ids = [], 0, {}, set()
    started, paused = time.perf_counter(), 0.0
    for i in range(n):
        if drain is not None and drain_every and i and i % drain_every == 0:
            t0 = time.perf_counter()
            drain()
            paused += time.perf_counter() - t0
        code, body = sender.next_body()
        resp, ms = sender.post(code, body)
        lat.append(ms)
        out = json.loads(resp.body) if resp.body else {}
        if resp.status_code == 201 and out.get("status") == "accepted":
            accepted += 1
            ids.add(out["appeal_id"])
            if record:
                sender.sent.append((code, body, out))
        else:
            key = f"{code}:{resp.status_code}:{(out.get('error') or {}).get('field', '')}"
            failures[key] = failures.get(key, 0) + 1
        if task is not None:
            progress.advance(task)
    wall = time.perf_counter() - started - paused
    return {"n": n, "accepted": accepted, "distinct_appeals": len(ids), "wall_s": wall, "lat": lat,
            "failures": failures}


def run_retries(sender: Sender, n: int, progress, rng: random.Random) -> dict:
    task = progress.add_task("retries", total=n) if progress else None
    lat, same = [], 0
    for code, body, first in (rng.choice(sender.sent) for _ in range(n)):
        resp, ms = sender.post(code, body)  # same body, fresh nonce: a real retry
        lat.append(ms)
        same += resp.status_code == 201 and json.loads(resp.body) == first
        if task is not None:
            progress.advance(task)
    return {"n": n, "same_answer": same, "lat": lat}


def per(snapshot: dict, count: int) -> dict:
    if not count:
        return {"read_units": None, "write_units": None}
    return {"read_units": round(snapshot["read_units"] / count, 3),
            "write_units": round(snapshot["write_units"] / count, 3)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="appeals in the timed phase")
    ap.add_argument("--metered", type=int, default=None, help="appeals in the metered phase (default: --n)")
    ap.add_argument("--retries", type=int, default=50, help="idempotent retries of earlier tickets (metered)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--drain-every", type=int, default=50,
                    help="purge the queues every N appeals, standing in for their consumers (0: never)")
    ap.add_argument("--stock-moto", action="store_true",
                    help="keep moto's whole-table copy per transaction action (slows as the table grows)")
    args = ap.parse_args(argv)
    metered_n = args.n if args.metered is None else args.metered
    # Only the result goes to stdout: Powertools' metric flushes and any stray print go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        result = run(args, metered_n)
    print(json.dumps(result, ensure_ascii=False))
    return result


def run(args: argparse.Namespace, metered_n: int) -> dict:
    import boto3
    from chalice.test import Client
    from moto import mock_aws
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bench.capacity import CapacityMeter, install

    if not args.stock_moto:
        from infra import moto_patches

        moto_patches.apply()
    install()  # hook in now; the meter only counts while started
    history = load_history()
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        from infra.local import in_process_stack, register_channels

        res = in_process_stack(session)
        creds = register_channels(session, REGION_DIR, "test", callback_url="http://127.0.0.1:9/callbacks")

        import app
        from infra.samples import SAMPLE_CODES

        channels = [c for c in creds if c in SAMPLE_CODES and c not in EXCLUDED_CHANNELS]
        meter = CapacityMeter()
        console = Console(stderr=True)
        progress = None if args.no_progress else Progress(
            TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=False)
        with Client(app.app) as client:
            sender = Sender(client, creds, channels, history, args.seed)
            if progress:
                progress.start()
            try:
                drain = (lambda: drain_queues(session, res)) if args.drain_every else None
                warm = run_phase(sender, len(channels), progress, "warm-up", record=True)
                timed = run_phase(sender, args.n, progress, "timed", record=True, drain=drain,
                                  drain_every=args.drain_every)
                meter.start()
                metered = run_phase(sender, metered_n, progress, "metered", record=True, drain=drain,
                                    drain_every=args.drain_every)
                meter.stop()
                appeal_snap = meter.snapshot()
                meter.reset()
                meter.start()
                retries = run_retries(sender, args.retries, progress, random.Random(args.seed + 1))
                meter.stop()
                retry_snap = meter.snapshot()
            finally:
                if progress:
                    progress.stop()
        from infra.local import reset_process_caches

        reset_process_caches()

    lat = timed["lat"]
    result = {
        "bench": "intake",
        "n": args.n,
        "channels": channels,
        "accepted": timed["accepted"],
        "distinct_appeals": timed["distinct_appeals"],
        "failures": dict(sum((Counter(ph["failures"]) for ph in (warm, timed, metered)), Counter())),
        "accepted_per_s": round(timed["accepted"] / timed["wall_s"], 2) if timed["wall_s"] else None,
        "wall_s": round(timed["wall_s"], 3),
        "p50_ms": round(percentile(lat, 50), 2),
        "p95_ms": round(percentile(lat, 95), 2),
        "mean_ms": round(statistics.fmean(lat), 2) if lat else None,
        "per_accepted_appeal": {**per(appeal_snap, metered["accepted"]),
                                "requests": round(appeal_snap["requests"] / metered["accepted"], 3)
                                if metered["accepted"] else None},
        "metered_appeals": metered["accepted"],
        "metered_requests_by_op": appeal_snap["requests_by_op"],
        "metered_units_by_op": appeal_snap["units_by_op"],
        "per_idempotent_retry": {**per(retry_snap, retries["n"]),
                                 "requests_by_op": retry_snap["requests_by_op"],
                                 "same_answer": retries["same_answer"], "n": retries["n"],
                                 "p50_ms": round(percentile(retries["lat"], 50), 2),
                                 "p95_ms": round(percentile(retries["lat"], 95), 2)},
        "meter": {"approximate": appeal_snap["approximate"] + retry_snap["approximate"],
                  "errors": {**appeal_snap["errors"], **retry_snap["errors"]},
                  "hook_seconds": round(appeal_snap["hook_seconds"] + retry_snap["hook_seconds"], 3)},
        "warmup": warm["n"],
        "drain_every": args.drain_every,
        "moto_transactions": "stock" if args.stock_moto else "infra.moto_patches",
        "seed": args.seed,
    }
    return result


if __name__ == "__main__":
    main()
