"""Run-time access to a region's live pack: cached per process, re-checked at most once a minute.

Services (dispatch, deadlines, intake…) call::

    pack = live_pack()                 # this stack's region (settings.region_code)
    pack.catalog_version               # "v3-1a2b3c4d": store it on the appeal when dispatching
    pack.catalog_by_code[code]; pack.unit_directory(); pack.gazetteer(); pack.work_calendar()

Cost: a warm Lambda does at most one GetItem (eventually consistent, 0.5 RRU) per region per
minute for the LIVE pointer, and one S3 GetObject only when the pointer moved. A new version
therefore reaches every warm function within REFRESH_S seconds. When the pointer read fails
and a pack is cached, the cached pack is served (stale beats down) and the read is retried on
the next call.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from pynamodb.exceptions import DoesNotExist

from chalicelib.aws import client
from chalicelib.domain.errors import NotFoundError
from chalicelib.policy.region_pack import RegionPack, decode_pack
from chalicelib.settings import get_settings
from chalicelib.storage import keys
from chalicelib.storage.region_models import RegionLiveItem

REFRESH_S = 60.0
log = logging.getLogger(__name__)


class RegionNotLoaded(NotFoundError):
    code = "region_not_loaded"


def fetch_pack(s3_key: str, version: int, content_hash: str, s3_version_id: Optional[str] = None,
               bucket: Optional[str] = None, s3=None) -> RegionPack:
    """Read one stored version from S3 and check it against its recorded content hash."""
    bucket = bucket or get_settings().region_bucket
    if not bucket:
        raise RuntimeError("the region bucket is not configured (JIESU_REGION_BUCKET)")
    args = {"Bucket": bucket, "Key": s3_key}
    if s3_version_id:
        args["VersionId"] = s3_version_id
    blob = (s3 or client("s3")).get_object(**args)["Body"].read()
    return decode_pack(blob, version=version, expected_hash=content_hash)


def read_live_pointer(region_code: str, consistent: bool = False) -> Optional[RegionLiveItem]:
    try:
        return RegionLiveItem.get(keys.region_pk(region_code), keys.REGION_LIVE_SK, consistent_read=consistent)
    except DoesNotExist:
        return None


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
            live = read_live_pointer(code)
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
            pack = fetch_pack(live.s3_key, int(live.version), live.content_hash, live.s3_version_id)
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


def materialize(region_code: Optional[str] = None) -> tuple[Path, str]:
    """The live pack written out as a region folder (for loaders that read files, such as the
    classifier), once per version per process; returns (folder, catalog version)."""
    pack = live_pack(region_code)
    base = Path(tempfile.gettempdir()) / "jiesu-regions"
    folder = base / f"{pack.code}-{pack.catalog_version}"
    if not (folder / ".complete").exists():
        staging = Path(tempfile.mkdtemp(prefix="pack-", dir=_ensure(base)))
        pack.write_dir(staging)
        (staging / ".complete").write_text(pack.catalog_version)
        try:
            staging.rename(folder)
        except OSError:  # another thread or process wrote the same version first
            shutil.rmtree(staging, ignore_errors=True)
    return folder, pack.catalog_version


def _ensure(path):
    path.mkdir(parents=True, exist_ok=True)
    return path
