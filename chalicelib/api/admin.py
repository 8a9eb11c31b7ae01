"""Admin API (F-OP-1): load a region pack (dry run, diff), list versions, roll back."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib import auth
from chalicelib.api import wiring
from chalicelib.api.errors import json_response, route
from chalicelib.domain.access import require
from chalicelib.domain.errors import ValidationError
from chalicelib.services import intake, region_admin

bp = Blueprint(__name__)


def _body() -> dict:
    """The request's JSON object (no body is `{}`), through the one decoder of request bodies."""
    return intake.decode_object(bp.current_request.raw_body or b"", empty={})


def _admin(action: str):
    who = auth.principal_from(dict(bp.current_request.headers))
    require(who, action)
    return who


@route(bp, "/admin/regions/{region}/packs", methods=["POST"])
def load(region: str):
    """Body: {"files": {"catalog.csv": "...", "examples/x.jsonl": "...", ...}, "dry_run": true|false}."""
    who = _admin("region.load")
    body = _body()
    files = body.get("files")
    if not isinstance(files, dict) or not files or not all(isinstance(k, str) and isinstance(v, str)
                                                           for k, v in files.items()):
        raise ValidationError("files must map file names to their text", field="files")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValidationError("dry_run must be true or false", field="dry_run")
    result = region_admin.load(files, who.actor, dry_run=dry_run, clock=wiring.PLATFORM.clock, region=region)
    return json_response(result.to_dict(), 200 if dry_run or result.noop else 201)


@route(bp, "/admin/regions/{region}/versions", methods=["GET"])
def versions(region: str):
    _admin("region.read")
    return json_response({"region": region, "versions": [v.to_dict() for v in region_admin.versions(region)]})


@route(bp, "/admin/regions/{region}/rollback", methods=["POST"])
def rollback(region: str):
    who = _admin("region.load")
    version = _body().get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValidationError("send {\"version\": <whole number>}", field="version")
    return json_response(region_admin.rollback(region, version, who.actor, wiring.PLATFORM.clock).to_dict())
