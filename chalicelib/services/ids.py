"""Appeal ids: time-ordered, unguessable, and free of personal data (they appear in URLs)."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_CHINA = timezone(timedelta(hours=8))


def new_appeal_id(now: datetime) -> str:
    """e.g. 20261123-7K3M9Q2XHD: the local receipt date, then 50 random bits."""
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{now.astimezone(_CHINA):%Y%m%d}-{tail}"
