"""Soak: the local platform as `make run` starts it, fed for N minutes, then restarted and checked.

    .venv/bin/python bench/soak.py --minutes 60               # make run's default feed (1 per 3 s)
    .venv/bin/python bench/soak.py --minutes 10 --rate 10     # 10 appeals a second

Starts infra/devserver.py as a child (own ports on 127.0.0.1, own state dir, its feeder off) and
is the feeder itself, so that it knows every payload: signed appeals built by the same sample
generator the demo feeder uses, on a fixed schedule (a small pool of senders keeps the rate
when one request is slow). Meanwhile it samples the child's RSS every 5 s. Afterwards:

* for every accepted appeal, its case file through the staff API: the time from `accepted` to
  the first of `dispatched`, `queued_for_dispatcher` or `joined_master` (de-duplicated and
  dispatched, or queued for a dispatcher, or joined to its master);
* the child's log: 5xx responses, failed records, moto exceptions (Traceback lines);
* the restart check: SIGTERM (time to exit), start again on the same state, then the same
  credentials file, a staff token issued before the restart accepted, sampled appeals served
  with the same status, and a partner's retry of a ticket sent before the restart answered
  with the same appeal id.

The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake import percentile  # noqa: E402
from chalicelib.channels.signing import signed_headers  # noqa: E402

DONE_KINDS = ("dispatched", "queued_for_dispatcher", "joined_master")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def rss_mb(pid: int) -> float:
    """RSS of the stack: the devserver and every process under it (the stand-in's)."""
    todo, total = [pid], 0
    while todo:
        p = todo.pop()
        total += _rss_kb(p)
        todo += _children(p)
    return total / 1024


class Child:
    """infra/devserver.py in a child process, its output in a log file."""

    def __init__(self, state_dir: Path, log_path: Path):
        self.state_dir, self.log_path = state_dir, log_path
        self.api_port, self.moto_port, self.receiver_port = free_port(), free_port(), free_port()
        self.idp_port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, timeout_s: float = 120) -> float:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JIESU_"))}
        cmd = [sys.executable, str(ROOT / "infra" / "devserver.py"), "--api-port", str(self.api_port),
               "--moto-port", str(self.moto_port), "--receiver-port", str(self.receiver_port),
               "--idp-port", str(self.idp_port),
               "--feed-every", "0", "--demo-days", "0", "--no-demo-units", "--state-dir", str(self.state_dir)]
        self.log = open(self.log_path, "ab")
        mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        while time.monotonic() - started < timeout_s:
            with open(self.log_path, "rb") as fh:
                fh.seek(mark)
                if b"ready in" in fh.read():
                    return time.monotonic() - started
            if self.proc.poll() is not None:
                raise RuntimeError("stack exited:\n" + self.log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError("stack not ready")

    def stop(self) -> float:
        """SIGTERM; seconds until the process is gone (killed after 30 s)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return time.monotonic() - started


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}


class Feeder:
    """Signed demo appeals on a fixed schedule; remembers each payload and answer."""

    def __init__(self, child: Child, creds: dict, seed: int = 7):
        from infra.samples import sample_payload

        self.child, self.creds, self.sample_payload = child, creds, sample_payload
        self.examples = [json.loads(line) for line in (ROOT / "regions" / "shenzhen" / "examples" /
                                                      "history-train.jsonl").read_text(encoding="utf-8").splitlines()]
        self.rng = random.Random(seed)
        self.channels = sorted(c for c in creds if c != "open311")
        self.seq = int(time.time())
        self.sent: list[dict] = []
        self.lock = threading.Lock()

    def post(self, channel: str, body: bytes) -> tuple[int, dict]:
        c = self.creds[channel]
        path = f"/channels/{channel}/appeals"
        headers = {"Content-Type": "application/json", **signed_headers(c["key_id"], c["secret"], "POST", path, body)}
        return http("POST", self.child.url + path, body, headers)

    def one(self) -> None:
        with self.lock:
            ex = self.rng.choice(self.examples)
            channel = self.rng.choice(self.channels)
            self.seq += 1
            payload = self.sample_payload(channel, self.rng, ex["text"], ex["address"], ex["appeal_type"], self.seq)
        body = json.dumps(payload, ensure_ascii=False).encode()
        at = time.time()
        try:
            status, answer = self.post(channel, body)
        except Exception as exc:  # noqa: BLE001 - counted, the feed goes on
            status, answer = 0, {"error": exc.__class__.__name__}
        with self.lock:
            self.sent.append({"channel": channel, "body": body, "status": status, "at": at,
                              "appeal_id": answer.get("appeal_id")})

    def run(self, rate: float, seconds: float) -> None:
        interval = 1.0 / rate
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=max(2, int(rate * 2))) as pool:
            n = 0
            while True:
                due = start + n * interval
                if due - start >= seconds:
                    break
                time.sleep(max(0.0, due - time.monotonic()))
                pool.submit(self.one)
                n += 1


def staff_token(state_dir: Path, user: str = "dispatcher1") -> str:
    out = subprocess.run([sys.executable, str(ROOT / "infra" / "identity.py"), user, "--state",
                          str(state_dir / "identity.json")], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def case_latency(child: Child, token: str, appeal_id: str) -> float | None:
    status, view = http("GET", f"{child.url}/staff/appeals/{appeal_id}", headers={"Authorization": f"Bearer {token}"})
    if status != 200:
        return None
    events = view.get("case_file", [])
    accepted = next((e["at"] for e in events if e["kind"] == "accepted"), None)
    done = next((e["at"] for e in events if e["kind"] in DONE_KINDS), None)
    if not accepted or not done:
        return None
    return (datetime.fromisoformat(done) - datetime.fromisoformat(accepted)).total_seconds()


def log_counts(text: str) -> dict:
    return {
        "http_5xx": len(re.findall(r'" 5\d\d -', text)),
        "failed_records": text.count("record failed for appeal"),
        "failed_batches": len(re.findall(r"\[runner\] \w+: batch of \d+ failed", text)),
        "moto_exceptions": text.count("Traceback (most recent call last)"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=1 / 3, help="appeals per second (make run's feed: 1 per 3 s)")
    ap.add_argument("--settle", type=float, default=30, help="seconds to let the pipeline drain after the feed")
    ap.add_argument("--state-dir", help="default: a fresh temporary folder")
    ap.add_argument("--sample", type=int, default=0, help="case files read for latency (0: every appeal)")
    args = ap.parse_args()

    work = Path(args.state_dir or tempfile.mkdtemp(prefix="jiesu-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    child = Child(work, work / "stack.log")
    first_ready = child.start()
    try:
        creds = json.loads((work / "credentials.json").read_text())
        feeder = Feeder(child, creds)

        samples: list[float] = []
        stop_sampling = threading.Event()

        def sample_rss():
            while not stop_sampling.wait(5):
                samples.append(rss_mb(child.proc.pid))

        threading.Thread(target=sample_rss, daemon=True).start()
        print(f"feeding {args.rate:g}/s for {args.minutes:g} min; state in {work}", file=sys.stderr)
        feeder.run(args.rate, args.minutes * 60)
        time.sleep(args.settle)
        stop_sampling.set()
        final_rss = rss_mb(child.proc.pid)

        token = staff_token(work)
        accepted = [s for s in feeder.sent if s["status"] in (200, 201, 202) and s["appeal_id"]]
        chosen = accepted if not args.sample else random.Random(1).sample(accepted, min(args.sample, len(accepted)))
        latencies = [case_latency(child, token, s["appeal_id"]) for s in chosen]
        done = [x for x in latencies if x is not None]

        # -- restart check ---------------------------------------------------------------------------
        before_creds = (work / "credentials.json").read_text()
        probe = random.Random(2).sample(accepted, min(20, len(accepted)))
        before = {s["appeal_id"]: http("GET", f"{child.url}/staff/appeals/{s['appeal_id']}",
                                       headers={"Authorization": f"Bearer {token}"})[1].get("status") for s in probe}
        stop_s = child.stop()
        restart_ready = child.start()
        after = {a: http("GET", f"{child.url}/staff/appeals/{a}", headers={"Authorization": f"Bearer {token}"})[1].get("status")
                 for a in before}
        retry_ok = all(feeder.post(s["channel"], s["body"])[1].get("appeal_id") == s["appeal_id"] for s in probe[:5])
        restart = {"stop_s": round(stop_s, 2), "ready_s": round(restart_ready, 2),
                   "same_credentials": (work / "credentials.json").read_text() == before_creds,
                   "old_token_accepted": http("GET", f"{child.url}/staff/me",
                                              headers={"Authorization": f"Bearer {token}"})[0] == 200,
                   "appeals_same_status": sum(before[a] == after[a] for a in before), "appeals_checked": len(before),
                   "retries_same_id": retry_ok}
        final_stop_s = child.stop()
    finally:  # whatever failed above, the stack it started does not outlive the soak
        if child.proc.poll() is None:
            child.stop()
    counts = log_counts((work / "stack.log").read_text(errors="replace"))
    result = {
        "minutes": args.minutes, "rate_per_s": round(args.rate, 3), "sent": len(feeder.sent),
        "accepted": len(accepted), "refused_4xx": sum(400 <= s["status"] < 500 for s in feeder.sent),
        "http_5xx_seen_by_feeder": sum(s["status"] >= 500 for s in feeder.sent),
        "no_answer": sum(s["status"] == 0 for s in feeder.sent), **counts,
        "pipeline_done": len(done), "pipeline_checked": len(chosen),
        "p50_intake_to_dispatched_s": round(percentile(done, 50), 3) if done else None,
        "p95_intake_to_dispatched_s": round(percentile(done, 95), 3) if done else None,
        "max_intake_to_dispatched_s": round(max(done), 3) if done else None,
        "first_ready_s": round(first_ready, 2),
        "rss_mb_peak": round(max(samples or [0]), 1), "rss_mb_final": round(final_rss, 1),
        "rss_mb_at_10pct": round(samples[len(samples) // 10], 1) if samples else None,
        "restart": restart, "final_stop_s": round(final_stop_s, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
