"""Access as a property (issue 22, item 6): random staff (role × jurisdiction × unit) against random
appeals, over the real API (Chalice's test client on moto), each answer compared with what
chalicelib/domain/access.py decides for that person and that appeal.

The oracle calls only access.py (check_claims, require, can_see, require_in_jurisdiction) with the
region's own unit and area tables and the appeal's scope (region, district, street, the units
handling it), in the order the API applies them; the test never restates the rules. For each
generated person it asks:
  * GET  /staff/appeals/{id}                 (appeal.read)
  * POST /staff/appeals/{id}/actions/note    (handle.reply: a unit's handling note)
  * POST /staff/appeals/{id}/actions/follow  (leader.follow, then the leader's jurisdiction)
and expects exactly 200, or the documented error body with the status and field access.py implies
(403 `Authorization` for claims the pack refutes, 403 `role` for a role without the permission,
404 `appeal_id` with the same body as a missing appeal). A refused action writes nothing.
"""
from __future__ import annotations

import itertools
import json
import time

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.bootstrap import bootstrap
from chalicelib.domain.access import (AppealScope, Principal, Role, can_see, check_claims, require,
                                      require_in_jurisdiction)
from chalicelib.domain.errors import DomainError
from tests.conftest import channel_fixture
from tests.integration.helpers import save, signed_post
from tests.integration.staff_fixtures import idp, staff_env  # noqa: F401

EXAMPLES = 100          # examples per run (3 requests each); about 20 s on an idle 2-core machine

# Units a token may name (and None): street, district, city and community units, some the
# appeals below are dispatched to, some not; one unit id no pack has.
UNITS = [None, "U440306002-JD", "U440306002-PCS", "U440304-ZJ", "U440300-SZJ", "U440300-SMS", "U440304010-JD",
         "U440303001-JD", "U440303001001-SQ", "U440306002-NOPE"]
# Jurisdiction claims: the city, districts, streets, a community, an unknown code, another city's.
JURISDICTIONS = ["440300", "440306", "440304", "440303", "440306002", "440304010", "440303001", "440303001001",
                 "440306002001", "440399999", "110000"]
NOT_FOUND = {"error": {"code": "not_found", "message": "appeal not found", "field": "appeal_id"}}

# The appeals: (lead unit, street, assisting units); None = waiting in the dispatcher's queue.
APPEALS = [("U440306002-JD", "440306002", ()), ("U440304-ZJ", "440304010", ()),
           ("U440300-SZJ", "440303001", ()), ("U440306002-JD", "440306002", ("U440304-ZJ",)),
           (None, "440306002", ())]
_tickets = itertools.count(1)


@pytest.fixture
def client(staff_env):
    import app

    with Client(app.app) as c:
        yield c


def make_appeal(aws, client, idp, unit_id, street, assisting) -> str:
    from chalicelib.services import dispatch
    from chalicelib.services.clock import SYSTEM_CLOCK
    from chalicelib.storage import repository

    payload = channel_fixture("hotline")
    payload["gdbh"] = payload["gdbh"][:-4] + f"{7000 + next(_tickets):04d}"
    resp = signed_post(client, aws.creds, "hotline", payload)
    appeal_id = json.loads(resp.body)["appeal_id"]
    appeal = repository.load_appeal(appeal_id)
    now = SYSTEM_CLOCK.now()
    appeal.district_code, appeal.street_code = street[:6], street
    appeal.queue_for_dispatcher(street[:6], now, "test", "setup")
    extra = []
    if unit_id:
        who = Principal("sub-dispatcher", "dispatcher", Role.DISPATCHER, "shenzhen", "U440300-SMS", "440300")
        extra = dispatch.manual_dispatch(bootstrap(), appeal, who, now, unit_id, "01.01.001")
    save(appeal, now, *extra)
    if assisting:
        joint = client.http.post(f"/staff/appeals/{appeal_id}/actions/joint", headers=idp.headers("dispatcher"),
                                 body=json.dumps({"assisting_unit_ids": list(assisting)}))
        assert joint.status_code == 200, joint.body
    return appeal_id


@st.composite
def staff(draw):
    """A token's claims: any role, any unit (or none), and a jurisdiction that is the unit's own
    about half the time (so unit staff pass the claims check often enough to reach the appeal);
    a quarter of the people are staff of a unit that handles one of the appeals."""
    own = {u: u[1:].split("-")[0] for u in UNITS if u}
    if draw(st.integers(0, 3)) == 0:
        # a unit's own staff member of a unit some appeal is with (else they rarely meet one)
        role = draw(st.sampled_from([Role.UNIT_HANDLER, Role.UNIT_MANAGER]))
        unit = draw(st.sampled_from(sorted({u for lead, _, assisting in APPEALS for u in (lead, *assisting) if u})))
        return role, unit, own[unit], draw(st.integers(0, 3))
    role = draw(st.sampled_from(list(Role)))
    unit = draw(st.sampled_from(UNITS))
    if unit and draw(st.booleans()):
        jurisdiction = own[unit]
    else:
        jurisdiction = draw(st.sampled_from(JURISDICTIONS))
    return role, unit, jurisdiction, draw(st.integers(0, 3))


def decide(who: Principal, scope: AppealScope, permission: str, model, leader_area: bool = False):
    """(status, field, code) as access.py decides it, in the API's order."""
    try:
        check_claims(who, model.unit_jurisdictions, model.areas)
        require(who, permission)
        if not can_see(who, scope):
            return 404, "appeal_id", "not_found"
        if leader_area:
            require_in_jurisdiction(who, scope.region, scope.street_code or scope.district_code, scope.city_code)
    except DomainError as exc:
        return exc.status, exc.field, exc.code
    return 200, None, None


def outcome(resp) -> tuple:
    body = json.loads(resp.body)
    if resp.status_code == 200:
        return 200, None, None
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    if resp.status_code == 404:
        assert body == NOT_FOUND       # outside the jurisdiction answers as a missing appeal does
    return resp.status_code, body["error"]["field"], body["error"]["code"]


# What a refused request must not call: any write to the table or a queue.
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
                    "SendMessage", "SendMessageBatch"})
FULL_SCANS = 12         # refusals also checked against the whole table (a scan costs ~0.1-0.3 s)


@pytest.fixture
def aws_writes(monkeypatch):
    """Every AWS write call made in this test, by operation name (botocore's one entry point)."""
    import botocore.client

    calls: list[str] = []
    make = botocore.client.BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        if operation_name in WRITES:
            calls.append(operation_name)
        return make(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    return calls


def test_each_person_sees_and_acts_on_an_appeal_exactly_when_access_py_says_so(aws, client, staff_env, aws_writes):
    p = bootstrap()
    model = p.region("shenzhen")
    appeals = []
    for unit_id, street, assisting in APPEALS:
        appeal_id = make_appeal(aws, client, staff_env, unit_id, street, assisting)
        appeal = p.store.load_appeal(appeal_id)
        scope = AppealScope(region="shenzhen", district_code=street[:6], street_code=street,
                            unit_ids=((unit_id,) if unit_id else ()) + tuple(assisting), city_code="440300")
        assert scope.unit_ids == appeal.assignment.handling_units()   # the scope the oracle uses is the appeal's
        appeals.append((appeal_id, scope))
    seen: dict[tuple, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(person=staff(), pick=st.integers(0, len(APPEALS) - 1))
    def check(person, pick):
        role, unit, jurisdiction, n = person
        appeal_id, scope = appeals[pick]
        claims = {"sub": f"sub-prop-{role.value}-{n}", "custom:role": role.value,
                  "custom:jurisdiction": jurisdiction, "custom:unit_id": unit or ""}
        headers = {"Authorization": "Bearer " + staff_env.token("dispatcher", **claims),
                   "Content-Type": "application/json"}
        who = Principal(claims["sub"], "dispatcher", role, "shenzhen", unit, jurisdiction)

        read = client.http.get(f"/staff/appeals/{appeal_id}", headers=headers)
        expected = decide(who, scope, "appeal.read", model)
        assert outcome(read) == expected, (person, appeal_id, read.body[:300])
        if read.status_code == 200:
            assert json.loads(read.body)["appeal_id"] == appeal_id
        seen[("read", expected[0])] = seen.get(("read", expected[0]), 0) + 1

        for action, body, permission, leader_area in (("note", {"note": "已现场查看"}, "handle.reply", False),
                                                      ("follow", {}, "leader.follow", True)):
            expected = decide(who, scope, permission, model, leader_area)
            refused = expected[0] != 200
            scanned = refused and sum(n for (_, s), n in seen.items() if s != 200) < FULL_SCANS
            before, writes = aws.table_items() if scanned else None, len(aws_writes)
            resp = client.http.post(f"/staff/appeals/{appeal_id}/actions/{action}", headers=headers,
                                    body=json.dumps(body))
            assert outcome(resp) == expected, (action, person, appeal_id, resp.body[:300])
            if refused:                                          # a refusal writes nothing
                assert aws_writes[writes:] == [], (action, person)
            else:                                                # (and the recorder sees writes)
                assert aws_writes[writes:] != [], (action, person)
            if scanned:
                assert aws.table_items() == before, (action, person)
            seen[(action, expected[0])] = seen.get((action, expected[0]), 0) + 1

    started = time.monotonic()
    check()
    took = time.monotonic() - started
    print(f"access property: {EXAMPLES} examples, {3 * EXAMPLES} requests, {took:.1f} s; outcomes {sorted(seen.items())}")
    # The generated people reach every kind of answer for every request (else the property is vacuous).
    for request in ("read", "note", "follow"):
        assert {s for (r, s) in seen if r == request} == {200, 403, 404}, (request, seen)
