"""HMAC-SHA256 request signatures for channel partners and our status callbacks (stdlib only).

The string to sign is five lines: METHOD, the signed path, timestamp (epoch seconds), nonce,
and the hex SHA-256 of the raw body. Headers carry the key id, timestamp, nonce and hex signature.

The signed path is the path, plus `?` and the canonical query string when the request has a
query (`signed_path`): every name=value pair, decoded as a form decodes it (`+` is a space),
sorted by name then value, each name and value percent-encoded again (RFC 3986: only
A-Z a-z 0-9 - _ . ~ stay as they are), joined with `&`. API Gateway and Chalice hand a function
the decoded parameters, never the raw query, so the canonical form is what both sides can
compute; for a query such as `a=1&b=x` it is the query as sent. A request without a query
signs the bare path.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from chalicelib.domain.errors import AuthenticationError

H_KEY_ID = "X-Jiesu-Key-Id"
H_TIMESTAMP = "X-Jiesu-Timestamp"
H_NONCE = "X-Jiesu-Nonce"
H_SIGNATURE = "X-Jiesu-Signature"
SIGNED_HEADERS = (H_KEY_ID, H_TIMESTAMP, H_NONCE, H_SIGNATURE)


Query = str | Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]] | None
"""A query as a client writes it (`"a=1&b=2"`), as a mapping (values may be lists) or as pairs."""


def query_pairs(query: Query) -> list[tuple[str, str]]:
    if not query:
        return []
    if isinstance(query, str):
        return parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if isinstance(query, Mapping):
        return [(str(k), str(v)) for k, vs in query.items()
                for v in ([vs] if isinstance(vs, str) else vs)]
    return [(str(k), str(v)) for k, v in query]


def canonical_query(query: Query) -> str:
    """Pairs sorted by name then value, each part percent-encoded (RFC 3986 unreserved kept)."""
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query_pairs(query)))


def signed_path(path: str, query: Query = None) -> str:
    """What the second line of the string to sign holds: `path` or `path?<canonical query>`."""
    canonical = canonical_query(query)
    return f"{path}?{canonical}" if canonical else path


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(secret.encode(), string_to_sign(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def signed_headers(key_id: str, secret: str, method: str, path: str, body: bytes,
                   now: float | None = None, query: Query = None) -> dict[str, str]:
    """Headers a client sends (the demo feeder, tests, and our own callbacks to partners).

    `path` is the bare path; give the query the request carries (if any) as `query`."""
    ts = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(16)
    return {H_KEY_ID: key_id, H_TIMESTAMP: ts, H_NONCE: nonce,
            H_SIGNATURE: sign(secret, method, signed_path(path, query), ts, nonce, body)}


@dataclass(frozen=True)
class SignedRequest:
    key_id: str
    timestamp: str
    nonce: str
    signature: str


def read_headers(headers: dict[str, str]) -> SignedRequest:
    """Pull the signature headers (case-insensitive); a missing one is a 401 naming it."""
    lower = {k.lower(): v for k, v in headers.items()}
    values = []
    for name in SIGNED_HEADERS:
        value = lower.get(name.lower(), "").strip()
        if not value or len(value) > 256:
            raise AuthenticationError(f"header {name} is missing or malformed", field=name, code="bad_signature")
        values.append(value)
    return SignedRequest(*values)


def verify(req: SignedRequest, secret: str, method: str, path: str, body: bytes, now: float,
           window_s: int) -> None:
    """Check the timestamp window and the signature; raise a 401 naming the failing header."""
    if not _EPOCH.fullmatch(req.timestamp):
        raise AuthenticationError("timestamp must be epoch seconds", field=H_TIMESTAMP, code="bad_signature")
    if abs(now - int(req.timestamp)) > window_s:
        raise AuthenticationError(f"timestamp outside the ±{window_s}s window", field=H_TIMESTAMP,
                                  code="stale_request")
    if not _HEX_SHA256.fullmatch(req.signature):
        # Anything but 64 hex digits (say, a non-ASCII character) cannot match: refuse it as such.
        raise AuthenticationError("signature must be 64 hex digits", field=H_SIGNATURE, code="bad_signature")
    expected = sign(secret, method, path, req.timestamp, req.nonce, body)
    if not hmac.compare_digest(expected.encode("ascii"), req.signature.lower().encode("ascii")):
        raise AuthenticationError("signature does not match", field=H_SIGNATURE, code="bad_signature")


_EPOCH = re.compile(r"-?[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
