"""Staff API (dispatchers, units, leaders, auditors): OIDC bearer tokens, roles and jurisdictions."""
from __future__ import annotations

from datetime import date

from chalice import Blueprint

from chalicelib import auth
from chalicelib.api import wiring
from chalicelib.api.errors import json_response, route
from chalicelib.domain.access import require
from chalicelib.domain.errors import ValidationError
from chalicelib.services import handling, intake, staff

bp = Blueprint(__name__)


def _who():
    return staff.signed_in(wiring.PLATFORM, auth.principal_from(dict(bp.current_request.headers)))


def _body() -> dict:
    """The request's JSON object (no body is `{}`), through the one decoder of request bodies."""
    return intake.decode_object(bp.current_request.raw_body or b"", empty={})


def _query() -> dict:
    return dict(bp.current_request.query_params or {})


@route(bp, "/staff/me", methods=["GET"])
def me():
    who = _who()
    return json_response({"subject": who.subject, "username": who.username, "role": who.role.value,
                          "unit_id": who.unit_id, "jurisdiction": who.jurisdiction, "region": who.region})


@route(bp, "/staff/appeals", methods=["GET"])
def list_appeals():
    who = _who()
    q = _query()
    try:
        limit = int(q.get("limit", 50))
    except ValueError:
        raise ValidationError("limit must be a whole number", field="limit") from None
    return json_response(staff.inbox(wiring.PLATFORM, who, q.get("queue"), q.get("status"), limit))


@route(bp, "/staff/appeals/{appeal_id}", methods=["GET"])
def get_appeal(appeal_id: str):
    who = _who()
    require(who, "appeal.read")
    p = wiring.PLATFORM
    return json_response(staff.staff_view(p, staff.load_visible(p, appeal_id, who), who))


@route(bp, "/staff/appeals/{appeal_id}/unmask", methods=["POST"])
def unmask(appeal_id: str):
    who = _who()
    return json_response(staff.unmask(wiring.PLATFORM, appeal_id, who, _body().get("reason", "")))


@route(bp, "/staff/appeals/{appeal_id}/actions/{action}", methods=["POST"])
def act(appeal_id: str, action: str):
    who = _who()
    p = wiring.PLATFORM
    result = staff.perform(p, appeal_id, action, who, _body())
    if hasattr(result, "appeal_id"):
        return json_response(staff.staff_view(p, result, who, with_case_file=False))
    return json_response(result if isinstance(result, dict) else {"result": result})


@route(bp, "/staff/visits", methods=["GET"])
def visit_queue():
    """回访: the visitors' queue, oldest due first (record a call with the action `visit`)."""
    who = _who()
    try:
        limit = int(_query().get("limit", 50))
    except ValueError:
        raise ValidationError("limit must be a whole number", field="limit") from None
    return json_response(staff.visit_queue(wiring.PLATFORM, who, limit))


@route(bp, "/staff/audit", methods=["GET"])
def audit():
    who = _who()
    # The audit trail is partitioned by the UTC day of each entry: today is that day too.
    day = _query().get("day") or wiring.PLATFORM.now().date().isoformat()
    try:
        date.fromisoformat(day)
    except ValueError:
        raise ValidationError("day must be YYYY-MM-DD", field="day") from None
    return json_response({"day": day, "entries": staff.audit_trail(wiring.PLATFORM, who.region, day, who)})


@route(bp, "/staff/feed", methods=["GET"])
def feed():
    """跟踪关注: every change of the appeals the signed-in leader follows, newest first."""
    who = _who()
    require(who, "leader.follow")
    return json_response({"entries": handling.feed(wiring.PLATFORM, who.subject, 50)})
