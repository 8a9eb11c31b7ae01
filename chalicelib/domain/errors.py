"""Typed domain errors; entry points map them to HTTP status and a JSON body in one place."""
from __future__ import annotations


class DomainError(Exception):
    """Base: `code` is machine-readable, `field` names the offending input when there is one."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class ValidationError(DomainError):
    status = 400
    code = "invalid"


class AuthenticationError(DomainError):
    status = 401
    code = "unauthenticated"


class ForbiddenError(DomainError):
    status = 403
    code = "forbidden"


class NotFoundError(DomainError):
    status = 404
    code = "not_found"


class ConflictError(DomainError):
    """The request contradicts what is stored (same ticket, other payload; wrong state)."""

    status = 409
    code = "conflict"


class AlreadyCreated(ConflictError):
    """A write that may happen only once found its record stored already (an alert an earlier
    sweep raised, a spent nonce, a ticket id taken by a concurrent retry); `record` is it."""

    code = "already_created"

    def __init__(self, record: object):
        super().__init__(f"{type(record).__name__} already exists", field="create_once", code=self.code)
        self.record = record


class ConcurrentUpdate(ConflictError):
    """Something a change was decided on changed meanwhile; decide again on fresh reads.
    `transient`: only a conflicting concurrent transaction (nothing read was stale)."""

    code = "concurrent_update"

    def __init__(self, reasons: list[str]):
        super().__init__("the appeal changed meanwhile; retry", field="version", code=self.code)
        self.reasons = reasons
        self.transient = reasons == ["TransactionConflict"]


class PayloadTooLargeError(DomainError):
    status = 413
    code = "too_large"


class UnsupportedMediaTypeError(DomainError):
    status = 415
    code = "unsupported_media_type"


class MethodNotAllowedError(DomainError):
    status = 405
    code = "method_not_allowed"


def appeal_not_found() -> NotFoundError:
    """The one answer for an appeal that does not exist and for one outside the caller's
    jurisdiction: the two must not be told apart (its existence is not disclosed)."""
    return NotFoundError("appeal not found", field="appeal_id")
