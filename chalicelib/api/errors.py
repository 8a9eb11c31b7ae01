"""The one place where domain errors become HTTP responses: status + {"error": {code, message, field}}."""
from __future__ import annotations

import functools
import json

from chalice import Response

from chalicelib.aws import throttled
from chalicelib.domain.errors import DomainError, MethodNotAllowedError
from chalicelib.observability import logger

JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
RETRY_AFTER_S = 1       # a throttled request: DynamoDB and SQS recover within a second or two


def error_response(status: int, code: str, message: str, field: str | None = None,
                   details: list | None = None) -> Response:
    body = {"error": {"code": code, "message": message, "field": field}}
    if details:
        body["error"]["details"] = details
    return Response(body=json.dumps(body, ensure_ascii=False), status_code=status, headers=JSON_HEADERS)


def json_response(body: dict, status: int = 200) -> Response:
    return Response(body=json.dumps(body, ensure_ascii=False), status_code=status, headers=JSON_HEADERS)


def mapped(view):
    """Wrap a view so every exception becomes our error body (Chalice catches view errors before
    any middleware sees them, so the mapping has to sit on the view itself)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except DomainError as exc:
            # Messages are written by us and never echo input values, so they are safe to return.
            return error_response(exc.status, exc.code, exc.message, exc.field, getattr(exc, "details", None))
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is ours: 500 without details
            if throttled(exc):     # AWS over its rate for now: a retry is safe (every write is idempotent)
                logger.warning("throttled by AWS", extra={"error": exc.__class__.__name__})
                body = {"error": {"code": "busy", "message": "the service is busy; retry shortly", "field": None}}
                return Response(body=json.dumps(body), status_code=503,
                                headers={**JSON_HEADERS, "Retry-After": str(RETRY_AFTER_S)})
            logger.exception("unhandled error")
            return error_response(500, "internal", "internal error; it has been logged")

    return wrapper


def route(bp, path: str, **options):
    """`bp.route` with the error mapping applied: every API route is declared through this."""

    def decorate(view):
        bp.route(path, **options)(mapped(view))
        return view

    return decorate


HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def refuse_other_methods(app) -> None:
    """Every path answers the methods it does not serve with a 405 in our error shape (Chalice's
    own answer is `{"Code": "MethodNotAllowedError"}`, and API Gateway's a 403 with no route).
    Call once, after every blueprint is registered."""
    for path, entries in list(app.routes.items()):
        missing = [m for m in HTTP_METHODS if m not in entries]
        if not missing:
            continue
        allowed = ", ".join(sorted(entries))

        def refuse(*args, _allowed=allowed, **kwargs):
            raise MethodNotAllowedError(f"this path answers {_allowed}", field="method")

        refuse.__name__ = f"method_not_allowed_{len(app.routes)}_{abs(hash(path))}"
        app.route(path, methods=missing, content_types=["application/json", "application/x-www-form-urlencoded",
                                                         "text/plain", "application/xml", "text/xml"])(mapped(refuse))
