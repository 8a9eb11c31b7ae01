"""The one text form of an instant in stored keys and answers: UTC, milliseconds, with offset."""
from __future__ import annotations

from datetime import datetime, timezone


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)
