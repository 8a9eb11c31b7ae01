"""Admin API (F-OP-1): load a region pack (dry run, diff), list versions, roll back."""
from __future__ import annotations

import json

from chalice import Blueprint

from chalicelib import auth
from chalicelib.api.errors import json_response, route
from chalicelib.domain.access import require
from chalicelib.domain.errors import ValidationError
from chalicelib.services import region_admin
from chalicelib.services.clock import SYSTEM_CLOCK

bp = Blueprint(__name__)


def _admin(action: str):
    who = auth.principal_from(dict(bp.current_request.headers))
    require(who, action)
    return who


@route(bp, "/admin/regions/{region}/packs", methods=["POST"])
def load(region: str):
    """Body: {"files": {"catalog.csv": "...", "examples/x.jsonl": "...", ...}, "dry_run": true|false}."""
    who = _admin("region.load")
    try:
        body = json.loads((bp.current_request.raw_body or b"{}").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationError("the body is not valid UTF-8 JSON", field="body") from None
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, dict) or not files or not all(isinstance(k, str) and isinstance(v, str)
                                                           for k, v in files.items()):
        raise ValidationError("files must map file names to their text", field="files")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValidationError("dry_run must be true or false", field="dry_run")
    result = region_admin.load(files, who.actor, dry_run=dry_run, clock=SYSTEM_CLOCK, region=region)
    return json_response(result.to_dict(), 200 if dry_run or result.noop else 201)


@route(bp, "/admin/regions/{region}/versions", methods=["GET"])
def versions(region: str):
    _admin("region.read")
    return json_response({"region": region, "versions": [v.to_dict() for v in region_admin.versions(region)]})


@route(bp, "/admin/regions/{region}/rollback", methods=["POST"])
def rollback(region: str):
    who = _admin("region.load")
    try:
        body = json.loads((bp.current_request.raw_body or b"{}").decode("utf-8"))
        version = int(body["version"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise ValidationError("send {\"version\": <number>}", field="version") from None
    return json_response(region_admin.rollback(region, version, who.actor, SYSTEM_CLOCK).to_dict())
