"""GET /: a small index of what this API serves, so a newcomer (or a client) finds its way in."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.errors import json_response, route

bp = Blueprint(__name__)


@route(bp, "/", methods=["GET"])
def index():
    return json_response({
        "name": "Jiesu 接诉即办",
        "links": {
            "openapi": "/openapi.json",
            "channels": "/channels",
            "intake": "/channels/{channel}/appeals",
            "rating": "/channels/{channel}/appeals/{ticket_id}/rating",
            "open311_services": "/open311/v2/services.json",
            "open311_requests": "/open311/v2/requests.json",
            "staff": "/staff/me",
        },
        "errors": {"shape": {"error": {"code": "...", "message": "...", "field": "..."}}},
    })
