"""Open311 GeoReport v2 endpoints (/open311/v2/...): routing only; the use cases are in
services/open311.py, the spec's JSON/XML in api/open311_render.py.

Chalice cannot route `services.json` with a partial path parameter, so the file name is the
parameter and the renderer splits off the format (.json / .xml; anything else is a 404).
"""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api import wiring
from chalicelib.api.caching import PUBLIC, cached
from chalicelib.api.errors import route
from chalicelib.api.open311_render import Reply, Result, answer
from chalicelib.domain.errors import MethodNotAllowedError
from chalicelib.services import open311, open311_read

bp = Blueprint(__name__)

# Chalice refuses undeclared content types with its own body; accept them all and let the
# service answer in the spec's error form.
_ANY = ["application/json", "text/plain", "application/octet-stream", "application/x-www-form-urlencoded",
        "multipart/form-data", "application/xml", "text/xml"]


def _http(reply: Reply) -> Response:
    return Response(body=reply.body, status_code=reply.status, headers={"Content-Type": reply.content_type})


def _public(reply: Reply) -> Response:
    """A read's answer: cacheable (ETag, Cache-Control) when it succeeded."""
    if reply.status != 200:
        return _http(reply)
    return cached(bp.current_request.headers, reply.body, reply.content_type, PUBLIC)


def _params() -> dict[str, str]:
    query = bp.current_request.query_params
    return {name: ",".join(query.getlist(name)) for name in query} if query else {}


def _refuse_post() -> Result:
    raise MethodNotAllowedError("method: services are read-only; POST to requests", field="method")


@route(bp, "/open311/v2/{resource}", methods=["GET"], content_types=_ANY)
def read(resource: str):
    params, p = _params(), wiring.PLATFORM
    return _public(answer(resource, {
        "services": lambda: Result(200, "services", open311.service_list(p, params)),
        "requests": lambda: Result(200, "requests", open311_read.find_requests(p, params, p.now())),
    }))


@route(bp, "/open311/v2/{resource}", methods=["POST"], content_types=_ANY)
def submit(resource: str):
    req, p = bp.current_request, wiring.PLATFORM
    return _http(answer(resource, {
        "requests": lambda: Result(201, "requests", open311.create_request(
            p, req.raw_body or b"", req.headers.get("content-type") or "", dict(req.headers), p.now())),
        "services": _refuse_post,
    }))


@route(bp, "/open311/v2/requests/{request_file}", methods=["GET"], content_types=_ANY)
def read_request(request_file: str):
    p = wiring.PLATFORM
    return _public(answer(request_file, lambda request_id: Result(200, "requests", open311_read.get_request(p, request_id))))


@route(bp, "/open311/v2/services/{service_file}", methods=["GET"], content_types=_ANY)
def read_service(service_file: str):
    params, p = _params(), wiring.PLATFORM
    return _public(answer(service_file, lambda code: Result(200, "services", open311.service_definition(p, code, params))))
