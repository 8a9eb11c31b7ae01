"""Run-time access to a region's live pack: cached per process, re-checked at most once a minute.

Services (dispatch, deadlines, intake…) call::

    pack = live_pack()                 # this stack's region (settings.region_code)
    pack.catalog_version               # "v3-1a2b3c4d": store it on the appeal when dispatching

and what they decide with (catalog, units, gazetteer, calendar, policies, classifier) comes from
the pack's runtime, built once per version (chalicelib.policy.runtime).

Cost: a warm Lambda does at most one GetItem (eventually consistent, 0.5 RRU) per region per
minute for the LIVE pointer, and one S3 GetObject only when the pointer moved. A new version
therefore reaches every warm function within REFRESH_S seconds. When the pointer read fails
and a pack is cached, the cached pack is served (stale beats down) and the read is retried on
the next call.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from chalicelib.domain.errors import NotFoundError
from chalicelib.policy.pack.model import RegionPack
from chalicelib.policy.pack.store import decode_pack
from chalicelib.settings import get_settings
from chalicelib.storage.region_store import PackObjects, live_pointer

REFRESH_S = 60.0
log = logging.getLogger(__name__)


class RegionNotLoaded(NotFoundError):
    code = "region_not_loaded"


def fetch_pack(s3_key: str, version: int, content_hash: str, s3_version_id: Optional[str] = None,
               bucket: Optional[str] = None, objects: Optional[PackObjects] = None) -> RegionPack:
    """Read one stored version from S3 and check it against its recorded content hash."""
    bucket = bucket or get_settings().region_bucket
    if not bucket:
        raise RuntimeError("the region bucket is not configured (JIESU_REGION_BUCKET)")
    blob = (objects or PackObjects()).read(bucket, s3_key, s3_version_id)
    return decode_pack(blob, version=version, expected_hash=content_hash)


@dataclass
class _Entry:
    pack: RegionPack
    checked_at: float


class LivePackCache:
    """The process-wide cache behind `live_pack` (tests make their own with a fake clock)."""

    def __init__(self, refresh_s: float = REFRESH_S, monotonic: Callable[[], float] = time.monotonic):
        self.refresh_s = refresh_s
        self.monotonic = monotonic
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.pointer_reads = 0
        self.pack_fetches = 0

    def get(self, region_code: Optional[str] = None) -> RegionPack:
        code = region_code or get_settings().region_code
        now = self.monotonic()
        with self._lock:
            entry = self._entries.get(code)
        if entry is not None and now - entry.checked_at < self.refresh_s:
            return entry.pack
        try:
            self.pointer_reads += 1
            live = live_pointer(code)
        except Exception:
            if entry is None:
                raise
            log.warning("region %s: live pointer read failed; serving cached %s", code, entry.pack.catalog_version,
                        exc_info=True)
            return entry.pack
        if live is None:
            raise RegionNotLoaded(f"no region pack is loaded for {code!r}; run `python -m infra.admin load "
                                  f"regions/{code}`", field="region")
        if entry is not None and entry.pack.version == live.version and entry.pack.content_hash == live.content_hash:
            pack = entry.pack
        else:
            self.pack_fetches += 1
            pack = fetch_pack(live.s3_key, live.version, live.content_hash, live.s3_version_id)
            if entry is not None:
                log.info("region %s: %s -> %s", code, entry.pack.catalog_version, pack.catalog_version)
        with self._lock:
            self._entries[code] = _Entry(pack, now)
        return pack

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE = LivePackCache()


def live_pack(region_code: Optional[str] = None) -> RegionPack:
    """The live pack of a region (default: this stack's), at most REFRESH_S seconds old."""
    return _CACHE.get(region_code)


def catalog_version(region_code: Optional[str] = None) -> str:
    """The version string an appeal records when dispatched, e.g. "v3-1a2b3c4d"."""
    return live_pack(region_code).catalog_version


def reset_cache() -> None:
    _CACHE.clear()
