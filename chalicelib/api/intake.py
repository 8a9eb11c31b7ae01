"""Channel webhooks (F-IN-1): POST /channels/{channel}/appeals, one payload model per channel."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api import wiring
from chalicelib.api.errors import json_response, route
from chalicelib.channels.registry import channel_codes, payload_model
from chalicelib.channels.signing import signed_path
from chalicelib.domain.errors import UnsupportedMediaTypeError
from chalicelib.services import evaluation, intake, open311

bp = Blueprint(__name__)

# Chalice refuses undeclared content types with its own body; accept them all and refuse here.
_ANY = ["application/json", "text/plain", "application/octet-stream", "application/x-www-form-urlencoded"]


def _signed_path(req, path: str) -> str:
    """The path the partner signed: `path`, plus `?` and the canonical query when there is one
    (Chalice, like API Gateway, hands over the decoded parameters; see channels/signing.py)."""
    query = req.query_params
    return signed_path(path, [(name, value) for name in query for value in query.getlist(name)] if query else None)


@route(bp, "/channels", methods=["GET"])
def list_channels():
    """Every channel a partner can send by, where, and how it authenticates."""
    signed = "HMAC-SHA256 headers X-Jiesu-Key-Id, X-Jiesu-Timestamp, X-Jiesu-Nonce, X-Jiesu-Signature (README: Signing)"
    channels = [{"code": c, "name": payload_model(c).channel_name, "endpoint": f"/channels/{c}/appeals",
                 "content_type": "application/json", "auth": signed} for c in channel_codes()]
    channels.append({"code": "open311", "name": "Open311 GeoReport v2", "endpoint": "/open311/v2/requests.{json,xml}",
                     "content_type": "application/x-www-form-urlencoded",
                     "auth": "the form field api_key: <key_id>.<secret> of the open311 channel registration"})
    return json_response({"channels": channels})


@route(bp, "/channels/{channel}/appeals", methods=["POST"], content_types=_ANY)
def submit(channel: str):
    req = bp.current_request
    ctype = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise UnsupportedMediaTypeError("send the appeal as application/json", field="Content-Type")
    result = intake.take_in(
        wiring.PLATFORM,
        intake.ChannelRequest(channel=channel, method=req.method,
                              path=_signed_path(req, f"/channels/{channel}/appeals"),
                              headers=dict(req.headers), body=req.raw_body or b""))
    return json_response(result.body, result.status_code)


@route(bp, "/channels/{channel}/appeals/{ticket_id}/rating", methods=["POST"], content_types=_ANY)
def rate(channel: str, ticket_id: str):
    """评价 (F-EV-1): the citizen's four-dimension rating, sent by their channel, signed like intake."""
    req = bp.current_request
    if channel != open311.OPEN311:
        payload_model(channel)  # 404 for an unknown channel (Open311 takes appeals in by its form)
    result = evaluation.rate(
        wiring.PLATFORM,
        intake.ChannelRequest(channel=channel, method=req.method,
                              path=_signed_path(req, f"/channels/{channel}/appeals/{ticket_id}/rating"),
                              headers=dict(req.headers), body=req.raw_body or b""), ticket_id)
    return json_response(result)
