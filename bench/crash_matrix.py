"""The crash matrix (issue 22, item 3): every stage run once with a recorder, then once per fault
at each of its calls (crash before and after every AWS call and partner callback, DynamoDB
throttling with both codes on every DynamoDB call, every SQS send failing), redelivered up to 3
times, the pipeline settled, the invariants checked over the whole table (tests/faults.py).

    .venv/bin/python -m bench.crash_matrix [--stages intake,dedup,...] [--distinct]

`--distinct` runs only the points that leave distinct states (what the test runs). Prints one
line per failing point, then the matrix as one JSON object on the last line: per stage its calls,
points by kind, points run, points not reached (a read a cache answered), failures.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--stages", default="", help="comma-separated stage names (default: all)")
    args.add_argument("--distinct", action="store_true", help="only the points that leave distinct states")
    opts = args.parse_args(argv)

    import tests.conftest as conftest            # the offline AWS environment and moto's patches
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib.policy import runtime
    from infra.local import in_process_stack, register_channels, reset_process_caches
    from tests import faults

    logging.disable(logging.ERROR)               # the stages log every injected failure
    wanted = [s for s in opts.stages.split(",") if s]
    stages = [s for s in faults.STAGES if not wanted or s.name in wanted]
    runtime.serve_packs({"shenzhen": conftest.demo_pack()})
    runtime.rewind_corrections()
    started = time.monotonic()
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        resources = in_process_stack(session)
        creds = register_channels(session, conftest.REGION_DIR, "test", callback_url="http://127.0.0.1:9/callbacks")
        aws = conftest.AwsStack(session, resources, creds)
        import app
        from chalicelib.services import notify

        injector = faults.Injector()
        with Client(app.app) as client, injector.installed():
            env = faults.Env(aws, client, injector)
            real_post, notify.http_post = notify.http_post, env.partner
            try:
                result = faults.matrix(env, stages, only_distinct=opts.distinct, on_point=_print_failure)
            finally:
                notify.http_post = real_post
        reset_process_caches()
    stages_out = {name: {k: v for k, v in s.items() if k != "call_names"} for name, s in result["stages"].items()}
    summary = {
        "bench": "crash_matrix", "mode": "distinct" if opts.distinct else "every point",
        "redeliveries": faults.REDELIVERIES,
        "stages": stages_out,
        "points": sum(s["points"] for s in stages_out.values()),
        "run": sum(s["run"] for s in stages_out.values()),
        "not_reached": sum(s["not_reached"] for s in stages_out.values()),
        "failed": sum(s["failed"] for s in stages_out.values()),
        "reposted_callback": sum(s["reposted_callback"] for s in stages_out.values()),
        "failures": result["failures"][:20],
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 1 if summary["failed"] else 0


def _print_failure(stage: str, outcome) -> None:
    """One line per point: ok, not reached (the call did not come again), or FAIL with why."""
    if outcome.violations or not outcome.delivered:
        print(f"FAIL {stage} {outcome.fault}: delivered={outcome.delivered} {outcome.violations[:2]}", flush=True)
    else:
        print(f"{'ok' if outcome.fired else 'not reached'} {stage} {outcome.fault}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
