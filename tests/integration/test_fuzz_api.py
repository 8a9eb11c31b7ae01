"""The API fuzzed against its document (issue 22, item 2), bounded for `make test`: schemathesis
calls every operation of GET /openapi.json on the in-process stack (signed channel requests, staff
tokens) with a few positive and negative examples each, then follows the document's links
(a channel's 201 -> the staff read and act on that appeal). The pass criteria are in
tests/integration/fuzz_harness.py: no 5xx, every answer as documented, every JSON 4xx in the
error shape naming the field, nothing written for a refused request. bench/fuzz_api.py runs the
same with more examples and prints the counts."""
from __future__ import annotations

import pytest

from tests.integration import fuzz_harness as fh
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401

MAX_EXAMPLES = 3      # per operation and mode (positive, negative): ~1 minute on one core
STATEFUL_RUNS = 5


@pytest.fixture
def fuzz_env(staff_env, monkeypatch):
    from chalicelib.settings import get_settings

    for name, value in fh.SIGN_IN_ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield staff_env
    get_settings.cache_clear()


def test_every_operation_fuzzed_answers_as_documented(aws, fuzz_env):
    import app
    from chalicelib.api.openapi import generate

    findings, stateful = fh.run_all(app.app, aws.session, aws.resources.table_name, aws.creds, fuzz_env,
                                    MAX_EXAMPLES, steps=STATEFUL_RUNS)
    summary = findings.summary()
    failures = "\n\n".join(f"{label}: {what}\n{detail}" for (label, what), detail in sorted(findings.failures.items()))
    assert summary["failures"] == 0, failures
    operations = sum(1 for item in generate()["paths"].values() for _ in item)
    # Every operation was called (schemathesis leaves out only the document's own GET /openapi.json).
    assert summary["operations"] == operations - 1, sorted(findings.operations)
    assert summary["examples"] >= operations and summary["statuses"].get("4xx", 0) > 0
    assert summary["statuses"].get("2xx", 0) > 0 and "5xx" not in summary["statuses"]
    assert stateful["runs"] == STATEFUL_RUNS and stateful["runs_done"] >= 1


def test_the_checks_catch_what_they_look_for(aws, fuzz_env):
    """The harness is not blind: a 5xx, an error without its field and a write on a refusal are failures."""
    import json

    import app
    from chalice import Response


    schema = fh.load(fh.ChaliceWSGI(app.app))
    caller = fh.Caller(aws.creds, {"staff": fuzz_env.token("dispatcher"), "admin": fuzz_env.token("admin")})
    findings = fh.Findings(fh.Table(aws.session, aws.resources.table_name))
    me = schema["/staff/me"]["GET"]
    entry = app.app.routes["/staff/me"]["GET"]
    original = entry.view_function
    answers = iter([
        Response(body="boom", status_code=500),
        Response(body=json.dumps({"error": {"code": "invalid", "message": "x", "field": None}}), status_code=400,
                 headers={"Content-Type": "application/json"}),
    ])
    try:
        entry.view_function = lambda *a, **k: next(answers)
        findings.run(caller, me.Case(), negative=False)
        findings.run(caller, me.Case(), negative=False)
    finally:
        entry.view_function = original
    whats = {what for _, what in findings.failures}
    assert {"ServerError", "error_shape"} <= whats, findings.failures

    # A refused request that leaves an item behind.
    def refuse_after_writing(*a, **k):
        aws.session.client("dynamodb").put_item(TableName=aws.resources.table_name, Item={
            "PK": {"S": "PROBE#1"}, "SK": {"S": "PROBE"}, "kind": {"S": "probe"}})
        return Response(body=json.dumps({"error": {"code": "invalid", "message": "x", "field": "body"}}),
                        status_code=400, headers={"Content-Type": "application/json"})

    try:
        entry.view_function = refuse_after_writing
        findings.run(caller, me.Case(), negative=False)
    finally:
        entry.view_function = original
    assert ("GET /staff/me", "written_when_refused") in findings.failures


def test_the_defects_the_fuzzer_found_stay_fixed(aws, fuzz_env):
    """Each answered a 500 or an error naming no field before it was fixed."""
    import json

    import app
    from chalice.test import Client

    token = fuzz_env.token("dispatcher")
    bearer = {"Authorization": f"Bearer {token}"}
    with Client(app.app) as client:
        # A form's anti-forgery value with a non-ASCII character: hmac.compare_digest raised (500).
        resp = client.http.post("/staff/work/appeals/20261207-HKCS7FG0MD/unmask", body=b"reason=x&csrf=%C3%96",
                                headers={"Cookie": f"jiesu_session={token}",
                                         "Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status_code == 403
        # A query parameter without a name (`?=x`): 400 with an empty field.
        for path in ("/staff/analytics?=x", "/staff/analytics/alerts?=x", "/staff/sign-in?=x", "/public?=x"):
            resp = client.http.get(path, headers={**bearer, "Accept": "application/json"})
            assert resp.status_code == 400, (path, resp.body[:200])
            assert json.loads(resp.body)["error"]["field"] == "query", path
