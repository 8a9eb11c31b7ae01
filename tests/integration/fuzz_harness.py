"""schemathesis over the API document (GET /openapi.json) against the app in process (issue 22, item 2).

The app is served as the local stack serves it (infra/devserver.py hands every request to
chalice.local.LocalGateway), here through a small WSGI adapter (`ChaliceWSGI`), so schemathesis
loads the document from the app itself and calls every operation in process, on the moto stack
of the `aws` fixture (or the bench's own, bench/fuzz_api.py).

Requests are made as a real client makes them: channel routes are signed (`Caller.send` serialises
the body itself, signs exactly those bytes with the channel's key, channels/signing.py, and hands
them to schemathesis as the body to send); staff, admin, analytics and workbench routes carry a
demo person's ID token (tests/integration/staff_fixtures.IdP); Open311's form carries its api_key.

Pass criteria, checked on every response (`Findings.run`):
- no 5xx (schemathesis's not_a_server_error);
- every status, content type and body as the document says (status_code_conformance,
  content_type_conformance, response_schema_conformance); data the document calls invalid is
  refused (negative_data_rejection);
- every 4xx that answers JSON is the documented error shape with the field named (`Error`'s
  error.field, or Open311's description led by the parameter's name);
- nothing written for a refused request: the table's items, by kind, are the same before and after
  (`Table.kinds`); a signature's nonce is the only thing a refused signed request may leave (it is
  what refuses a replay, written when the signature is checked, before the body is read).
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from urllib.parse import quote, urlencode

import hypothesis
import schemathesis
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.meta import negated_parameters
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)

from chalicelib.api.openapi import PATH
from chalicelib.channels.signing import signed_headers

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
NEGATIVE_CHECKS = CHECKS + [negative_data_rejection]
# Kinds of item a refused request may leave: the nonce of a correctly signed request (replay guard).
MAY_WRITE_WHEN_REFUSED = {"nonce"}
# The sign-in's endpoints, configured (a region on an IdP without discovery sets them so): the test
# issuer has no discovery document, and an IdP that cannot be reached is a 502 (登录暂不可用).
SIGN_IN_ENV = {"JIESU_OIDC_AUTHORIZE_URL": "https://idp.example.test/jiesu/oauth2/authorize",
               "JIESU_OIDC_TOKEN_URL": "https://idp.example.test/jiesu/oauth2/token"}


class ChaliceWSGI:
    """A WSGI app over Chalice's local gateway: what `make run` serves, without a socket."""

    def __init__(self, chalice_app):
        self.gateway = LocalGateway(chalice_app, Config())

    def __call__(self, environ, start_response):
        path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", "/"))
        if "?" not in path and environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
            if environ.get(key):
                headers[name] = environ[key]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            answer = self.gateway.handle_request(method=environ["REQUEST_METHOD"], path=path, headers=headers,
                                                 body=body)
            status, out = answer["statusCode"], answer["body"]
            pairs = [(k, v) for k, v in answer["headers"].items()]
            pairs += [(k, v) for k, vs in answer.get("multiValueHeaders", {}).items() for v in vs]
        except LocalGatewayException as exc:
            status, out, pairs = exc.CODE, exc.body or b"", list(exc.headers.items())
        data = out.encode() if isinstance(out, str) else (out or b"")
        start_response(f"{status} {HTTPStatus(status).phrase}", [(k, str(v)) for k, v in pairs])
        return [data]


def load(wsgi_app):
    """The document as the app serves it, bound to the app."""
    return schemathesis.openapi.from_wsgi(PATH, wsgi_app)


class Table:
    """The one table's items by kind (a refused request must leave it as it was)."""

    def __init__(self, session, table_name: str):
        self.ddb, self.name = session.client("dynamodb"), table_name

    def kinds(self) -> Counter:
        out: Counter = Counter()
        kwargs = {"TableName": self.name, "ProjectionExpression": "kind"}
        while True:
            page = self.ddb.scan(**kwargs)
            out.update(i.get("kind", {}).get("S", "?") for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass
class Caller:
    """How a client calls each operation: signed for channels, a token for staff, an api_key for Open311."""

    creds: dict                 # channel code -> (key_id, secret)
    tokens: dict                # "staff" (a dispatcher's) and "admin" -> that person's ID token

    def channel_of(self, case) -> str | None:
        m = re.fullmatch(r"/channels/([^/{}]+)/appeals", case.operation.path)
        return m.group(1) if m else (case.path_parameters or {}).get("channel")

    def prepare(self, case) -> tuple[dict, bytes | None]:
        """(headers, raw body) for a case: the body serialised here, so the signature covers it."""
        headers: dict = {}
        raw = None
        media = case.media_type
        # A negative case that broke a credential itself sends it broken (and must be refused).
        negated = {name.lower() for name, _ in negated_parameters(case._meta)}
        has_body = case.body is not None and type(case.body).__name__ != "NotSet"
        if has_body and isinstance(case.body, bytes):
            raw = case.body       # a negative example's raw bytes, sent as they are
        elif has_body and media == "application/json":
            raw = json.dumps(case.body, ensure_ascii=False).encode()
        elif has_body and media == "application/x-www-form-urlencoded":
            form = case.body
            if case.operation.path.startswith("/open311/") and isinstance(form, dict) and "api_key" in form \
                    and "api_key" not in negated:
                key_id, secret = self.creds["open311"]
                form = {**form, "api_key": f"{key_id}.{secret}"}
            raw = (urlencode(form, doseq=True) if isinstance(form, dict) else str(form)).encode()
        elif has_body:
            raw = str(case.body).encode()
        if raw is not None:
            headers["Content-Type"] = media
        schemes = {name for req in (case.operation.definition.raw.get("security") or []) for name in req}
        if {"authorization", "x-jiesu-signature", "cookie"} & negated:
            pass
        elif "channelSignature" in schemes:
            channel = self.channel_of(case)
            key_id, secret = self.creds.get(channel, ("unknown", "unknown"))
            path = case.operation.path.format(**(case.path_parameters or {}))
            headers.update(signed_headers(key_id, secret, case.method.upper(), path, raw or b""))
        elif "staffBearer" in schemes:
            who = "admin" if case.operation.path.startswith("/admin/") else "staff"
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return headers, raw

    def send(self, case):
        headers, raw = self.prepare(case)
        case.headers = {**(case.headers or {}), **headers}
        return case.call(**({"data": raw} if raw is not None else {}))


@dataclass
class Findings:
    """Counts and failures of a fuzz run (the bench prints them)."""

    table: Table
    operations: set = field(default_factory=set)
    examples: Counter = field(default_factory=Counter)        # operation label -> calls
    statuses: Counter = field(default_factory=Counter)        # status class -> calls
    failures: dict = field(default_factory=dict)              # (label, what) -> first example
    answered: set = field(default_factory=set)                # operations that answered a 2xx at least once
    seconds: Counter = field(default_factory=Counter)         # operation label -> time in the app
    last: Counter | None = None                                # the table after the previous call

    def fail(self, case, what: str, detail: str) -> None:
        key = (case.operation.label, what)
        if key not in self.failures:
            self.failures[key] = detail[:1500]

    def run(self, caller: Caller, case, negative: bool, stateful: bool = False):
        """Call one case as a client would and check its answer; the response."""
        before = self.last if self.last is not None else self.table.kinds()
        started = time.monotonic()
        response = caller.send(case)
        self.seconds[case.operation.label] += time.monotonic() - started
        self.last = after = self.table.kinds()
        label = case.operation.label
        self.operations.add(label)
        self.examples["stateful" if stateful else label] += 1
        self.statuses[f"{response.status_code // 100}xx"] += 1
        if response.status_code < 300:
            self.answered.add(label)
        # GeoReport v2: service_request_id "overrides all other arguments", so they are not checked then.
        ignored = case.operation.path.startswith("/open311/v2/requests.") and "service_request_id" in (
            case.query or {})
        try:
            case.validate_response(response, checks=NEGATIVE_CHECKS if negative and not ignored else CHECKS)
        except FailureGroup as exc:
            for failure in exc.exceptions:
                self.fail(case, type(failure).__name__, f"{failure.title}: {failure.message}\n{case.as_curl_command()}"
                                                        f"\n-> {response.status_code} {response.text[:300]}")
        if 400 <= response.status_code < 500:
            self.check_error_shape(case, response)
            written = {k: after[k] - before[k] for k in after if after[k] != before[k]}
            if set(written) - MAY_WRITE_WHEN_REFUSED:
                self.fail(case, "written_when_refused", f"{response.status_code}: {written}\n{case.as_curl_command()}")
        return response

    def check_error_shape(self, case, response) -> None:
        ctype = response.headers.get("content-type", [""])[0]
        if ctype.startswith("text/xml"):          # Open311's XML: each <description> led by the parameter's name
            descriptions = re.findall(r"<description>(.*?)</description>", response.text, re.S)
            if not descriptions or not all(re.match(r"^[A-Za-z_-]+: ", d) for d in descriptions):
                self.fail(case, "error_shape", f"{response.status_code} {response.text[:300]}")
            return
        if not ctype.startswith("application/json"):
            return      # an HTML page refuses with an HTML page, as the document says
        try:
            body = json.loads(response.text)
        except ValueError:
            self.fail(case, "error_not_json", response.text[:300])
            return
        if case.operation.path.startswith("/open311/"):
            ok = isinstance(body, list) and body and all(re.match(r"^[A-Za-z_-]+: ", e.get("description", ""))
                                                         for e in body)
        else:
            err = body.get("error") if isinstance(body, dict) else None
            ok = isinstance(err, dict) and bool(err.get("code")) and bool(err.get("field"))
        if not ok:
            self.fail(case, "error_shape", f"{response.status_code} {response.text[:300]}\n{case.as_curl_command()}")

    def summary(self) -> dict:
        return {"operations": len(self.operations),
                "examples": sum(n for label, n in self.examples.items() if label != "stateful"),
                "stateful_calls": self.examples["stateful"],
                "statuses": dict(sorted(self.statuses.items())), "operations_answering_2xx": len(self.answered),
                "never_2xx": sorted(self.operations - self.answered),
                "slowest_s": {k: round(v, 1) for k, v in self.seconds.most_common(5)}, "failures": len(self.failures),
                "failed": sorted(f"{label}: {what}" for label, what in self.failures)}


_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def recent_times(case):
    """A positive example's report times made recent (an hour before now, +08:00): the platform
    refuses a time before it existed or after the request's receipt (a rule of the received time,
    which a schema cannot state), so random date-times would all be refused and no appeal taken."""
    recent = (datetime.now(timezone(timedelta(hours=8))) - timedelta(hours=1)).isoformat(timespec="seconds")

    def fix(value):
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return recent if isinstance(value, str) and _TIME.match(value) else value

    if isinstance(case.body, dict):
        case.body = fix(case.body)
    return case


def fuzz(schema, caller: Caller, findings: Findings, max_examples: int, seed: int = 22) -> None:
    """Every operation, positive then negative examples, at most `max_examples` each."""
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception:  # noqa: BLE001 - nothing to negate (no parameters, no body)
                continue
            if mode is GenerationMode.POSITIVE and operation.path.startswith("/channels/"):
                strategy = strategy.map(recent_times)
            negative = mode is GenerationMode.NEGATIVE

            @hypothesis.seed(seed)
            @settings(max_examples=max_examples, deadline=None, database=None, derandomize=False,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(strategy)
            def one(case):
                findings.run(caller, case, negative)

            try:
                one()
            except hypothesis.errors.Unsatisfiable:
                pass


def run_all(chalice_app, session, table_name: str, creds: dict, idp, max_examples: int, seed: int = 22,
            steps: int = 0) -> tuple[Findings, dict]:
    """The whole fuzz on a started stack: every operation, then `steps` stateful runs."""
    schema = load(ChaliceWSGI(chalice_app))
    caller = Caller(creds, {"staff": idp.token("dispatcher", exp_in=3600), "admin": idp.token("admin", exp_in=3600)})
    findings = Findings(Table(session, table_name))
    fuzz(schema, caller, findings, max_examples, seed)
    stateful = follow_links(schema, caller, findings, steps) if steps else {"runs": 0, "runs_done": 0, "answered_on_a_link": {}, "stopped": None}
    return findings, stateful


LINKED_OPERATIONS = r"^(channel_.*_submit|staff_get_appeal|staff_act)$"


def follow_links(schema, caller: Caller, findings: Findings, runs: int) -> dict:
    """Stateful runs over the document's links (a channel's 201 -> the staff read and act on that
    appeal_id): each call made and checked as in `fuzz`; how many runs and calls used a link."""
    linked = Counter()
    linked_ops = schema.include(operation_id_regex=LINKED_OPERATIONS)   # the operations the links join

    class Machine(linked_ops.as_state_machine()):
        def call(self, case, **kwargs):
            if case.operation.path.startswith("/channels/"):
                recent_times(case)
            response = findings.run(caller, case, negative=False, stateful=True)
            if case.operation.path.startswith("/staff/appeals/{appeal_id}") and response.status_code < 300:
                linked[case.operation.label] += 1     # a stored appeal's id: it came by a link
            return response

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            pass    # checked in findings.run, failures collected there

        def teardown(self):
            linked["runs"] += 1

    stopped = None
    try:
        Machine.run(settings=settings(max_examples=runs, stateful_step_count=6, deadline=None, database=None,
                                      phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
    except hypothesis.errors.FlakyStrategyDefinition as exc:
        # hypothesis replays a run's choices; the stack's state moved on (a ticket already taken), so a
        # bundle can differ: the runs made so far stand, their calls were checked one by one.
        stopped = type(exc).__name__
    done = linked.pop("runs", 0)
    return {"runs": runs, "runs_done": done, "answered_on_a_link": dict(sorted(linked.items())), "stopped": stopped}
