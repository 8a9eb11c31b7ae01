"""Channel secrets from Secrets Manager, cached briefly so rotation takes effect within minutes."""
from __future__ import annotations

import threading
import time

from chalicelib.aws import client

_TTL_S = 300
_cache: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()


def get_secret(ref: str) -> str:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(ref)
    if hit and now - hit[0] < _TTL_S:
        return hit[1]
    value = client("secretsmanager").get_secret_value(SecretId=ref)["SecretString"]
    with _lock:
        _cache[ref] = (now, value)
    return value


def clear() -> None:
    with _lock:
        _cache.clear()
