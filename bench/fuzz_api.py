"""schemathesis over the API document against the app in process: the fuzz's counts (issue 22, item 2).

    python bench/fuzz_api.py [--max-examples 25] [--seed 22] [--steps 0]

The stack is the integration tests' (tests/conftest.py `aws`, `staff_env`): moto in process with
every resource of the spec, the demo region's channels and their signing keys, the demo region's
pack served, OIDC pointed at a test IdP on 127.0.0.1. The app is served through
tests/integration/fuzz_harness.ChaliceWSGI (chalice's local gateway, as `make run` serves it).
Every operation of /openapi.json is called with at most --max-examples positive and as many
negative examples (signed channel requests, staff tokens), then --steps stateful runs follow the
document's links (submit -> read -> act). tests/integration/test_fuzz_api.py runs the same, smaller.

The last stdout line is one JSON object: operations, examples, statuses by class, failures (count
and names: "<operation>: <check>"), the stateful runs and their calls, seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.local import offline_aws_env  # noqa: E402 - must run before chalicelib is imported

offline_aws_env("test", quiet=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--steps", type=int, default=10, help="stateful runs (0: none)")
    parser.add_argument("--verbose", action="store_true", help="print each failure's first example")
    args = parser.parse_args()

    import boto3
    from moto import mock_aws

    from infra import moto_patches
    from chalicelib.policy import runtime
    from tests.conftest import REGION_DIR, demo_pack
    from tests.integration import fuzz_harness as fh
    from tests.integration.staff_fixtures import AUDIENCE, ISSUER, IdP

    moto_patches.apply()
    idp = IdP()
    os.environ.update({"JIESU_OIDC_ISSUER": ISSUER, "JIESU_OIDC_AUDIENCE": AUDIENCE, "JIESU_OIDC_JWKS_URL": idp.jwks_url,
                       **fh.SIGN_IN_ENV})
    runtime.serve_packs({"shenzhen": demo_pack()})
    started = time.monotonic()
    try:
        with mock_aws():
            session = boto3.session.Session(region_name="us-east-1")
            from infra.local import in_process_stack, register_channels

            res = in_process_stack(session)
            creds = register_channels(session, REGION_DIR, "test", callback_url="http://127.0.0.1:9/callbacks")
            import app

            findings, stateful = fh.run_all(app.app, session, res.table_name, creds, idp, args.max_examples,
                                            args.seed, args.steps)
    finally:
        idp.server.shutdown()
        runtime.serve_packs(None)
    out = {**findings.summary(), "stateful": stateful, "max_examples": args.max_examples, "seed": args.seed,
           "seconds": round(time.monotonic() - started, 1)}
    if args.verbose:
        for (label, what), detail in sorted(findings.failures.items()):
            print(f"--- {label}: {what}\n{detail}\n")
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
