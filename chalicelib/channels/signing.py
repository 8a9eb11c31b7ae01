"""HMAC-SHA256 request signatures for channel partners and our status callbacks (stdlib only).

The string to sign is five lines: METHOD, path (with query string, if any), timestamp (epoch
seconds), nonce, and the hex SHA-256 of the raw body. Headers carry the key id, timestamp,
nonce and hex signature.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from chalicelib.domain.errors import AuthenticationError

H_KEY_ID = "X-Jiesu-Key-Id"
H_TIMESTAMP = "X-Jiesu-Timestamp"
H_NONCE = "X-Jiesu-Nonce"
H_SIGNATURE = "X-Jiesu-Signature"
SIGNED_HEADERS = (H_KEY_ID, H_TIMESTAMP, H_NONCE, H_SIGNATURE)


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(secret.encode(), string_to_sign(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def signed_headers(key_id: str, secret: str, method: str, path: str, body: bytes,
                   now: float | None = None) -> dict[str, str]:
    """Headers a client sends (the demo feeder, tests, and our own callbacks to partners)."""
    ts = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(16)
    return {H_KEY_ID: key_id, H_TIMESTAMP: ts, H_NONCE: nonce,
            H_SIGNATURE: sign(secret, method, path, ts, nonce, body)}


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
    try:
        ts = int(req.timestamp)
    except ValueError:
        raise AuthenticationError("timestamp must be epoch seconds", field=H_TIMESTAMP, code="bad_signature") from None
    if abs(now - ts) > window_s:
        raise AuthenticationError(f"timestamp outside the ±{window_s}s window", field=H_TIMESTAMP,
                                  code="stale_request")
    expected = sign(secret, method, path, req.timestamp, req.nonce, body)
    if not hmac.compare_digest(expected, req.signature.lower()):
        raise AuthenticationError("signature does not match", field=H_SIGNATURE, code="bad_signature")
