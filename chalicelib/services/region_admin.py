"""Admin use cases of region packs (F-OP-1): load a pack as a new live version, dry-run, list, roll back.

A load is: read + validate (any error: PackValidationError listing them all, nothing written)
→ diff against the live version → create missing channel secrets → write the pack as ONE
immutable S3 object (packs/<region>/<n:06d>-<hash16>/pack.json.gz) → ONE DynamoDB transaction
that registers VERSION#<n>, moves LIVE (conditional on the LIVE `seq` read at the start, so of
two concurrent loads exactly one wins), appends an AUDIT row and upserts every channel
registration (removed channels are disabled). Channel items ride in the transaction rather
than through chalicelib.storage.channels.save_channel one by one, so the live pointer and the
registrations can never disagree after a crash. Reloading the live content is a no-op. The
reads and writes themselves are chalicelib.storage.region_store's.
"""
from __future__ import annotations

import dataclasses
import secrets as _secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from chalicelib.domain.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.domain.records import Channel
from chalicelib.observability import logger
from chalicelib.policy.pack.diff import PackDiff, diff, empty_diff
from chalicelib.policy.pack.model import ChannelSpec, PackError, RegionPack
from chalicelib.policy.pack.parse import read_pack
from chalicelib.policy.pack.store import encode_pack, object_key
from chalicelib.policy.pack.validate import REGION_CODE_RE, validate
from chalicelib.policy.region import fetch_pack
from chalicelib.services.clock import SYSTEM_CLOCK, Clock
from chalicelib.settings import get_settings
from chalicelib.storage import region_store
from chalicelib.storage.region_store import LivePointer, PackObjects, PointerMoved, StoredVersion

PackSource = Union[str, Path, Mapping[str, Union[str, bytes]], RegionPack]


class PackValidationError(ValidationError):
    """The pack is not loadable; `errors` lists every problem (file, line, field, message)."""

    code = "invalid_region_pack"

    def __init__(self, errors: list[PackError]):
        first = errors[0] if errors else None
        super().__init__(f"region pack has {len(errors)} error(s); first: {first}", field=first.field if first else None)
        self.errors = errors
        self.details = [e.to_dict() for e in errors]  # every bad row, for API error bodies


class ConcurrentLoadError(ConflictError):
    code = "concurrent_region_change"


@dataclass(frozen=True)
class VersionInfo(StoredVersion):
    """A stored version as the admin API shows it: whether it is the live one, too."""

    live: bool = False

    @property
    def catalog_version(self) -> str:
        return f"v{self.version}-{self.content_hash[:8]}"

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "version": self.version, "catalog_version": self.catalog_version,
                "content_hash": self.content_hash, "s3_key": self.s3_key, "actor": self.actor,
                "created_at": self.created_at, "counts": dict(self.counts), "live": self.live}


@dataclass(frozen=True)
class LoadResult:
    """`version`: the live version after the call (for a dry run: the one that stays live)."""

    version: Optional[VersionInfo]
    diff: PackDiff
    errors: list[PackError] = field(default_factory=list)
    dry_run: bool = False
    noop: bool = False
    next_version: Optional[int] = None   # the number a real load would get (dry run)
    region: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "version": self.version.to_dict() if self.version else None,
                "dry_run": self.dry_run, "noop": self.noop, "next_version": self.next_version,
                "diff": self.diff.to_dict(), "errors": [e.to_dict() for e in self.errors]}


def _iso(clock: Clock) -> str:
    return clock.now().isoformat(timespec="seconds")


def secret_name(stage: str, key_id: str) -> str:
    return f"jiesu/{stage}/channels/{key_id}"


def channel_secret_ref(ch: ChannelSpec, stage: str) -> str:
    return ch.secret_ref or secret_name(stage, ch.key_id)


def _tick(progress, stage: str, item: str, done: int, total: int) -> None:
    if progress:
        progress(stage, item, done, total)


def check_region_code(region: str) -> str:
    """A region named by a caller (the admin API's path) has the shape of a region code; the
    message never repeats what was sent."""
    if not isinstance(region, str) or not REGION_CODE_RE.fullmatch(region):
        raise ValidationError("region: a region code is lower-case latin letters, digits or '-', 2-32 characters "
                              "(e.g. shenzhen)", field="region", code="bad_region")
    return region


# --- reads ------------------------------------------------------------------------------------

def _version_info(v: StoredVersion, live: Optional[int] = None) -> VersionInfo:
    return VersionInfo(**dataclasses.asdict(v), live=live == v.version)


def versions(region: str) -> list[VersionInfo]:
    """Every registered version, oldest first, with the live one marked."""
    check_region_code(region)
    live = region_store.live_pointer(region, consistent=True)
    live_v = live.version if live else None
    return [_version_info(v, live_v) for v in region_store.stored_versions(region)]


def live_version(region: str) -> Optional[VersionInfo]:
    live = region_store.live_pointer(region, consistent=True)
    if live is None:
        return None
    v = region_store.stored_version(region, live.version)
    return _version_info(v, live.version) if v else None


def history(region: str) -> list[dict[str, Any]]:
    """Pointer changes (loads and rollbacks), oldest first."""
    return region_store.pointer_history(region)


# --- load -------------------------------------------------------------------------------------

def read_source(source: PackSource, region: Optional[str] = None, progress=None) -> RegionPack:
    if isinstance(source, RegionPack):
        return source
    return read_pack(source, code=region, progress=progress)


def load(source: PackSource, actor: str, dry_run: bool = False, clock: Clock = SYSTEM_CLOCK, progress=None, *,
         region: Optional[str] = None, stage: Optional[str] = None, session=None,
         allow_other_region: bool = False) -> LoadResult:
    """Validate a pack and make it the live version of its region (see the module docstring).

    `source`: a pack folder, a {file name: text} dict (give `region` unless it has region.json)
    or a parsed RegionPack. `progress(stage, item, done, total)` is called as work proceeds.
    Raises PackValidationError (nothing written) or ConcurrentLoadError (another load won).
    A stack serves one region (channel registrations are not region-scoped), so a pack of
    another region than settings.region_code is refused unless `allow_other_region`.
    """
    if region is not None:
        check_region_code(region)
    settings = get_settings()
    stage = stage or settings.stage
    objects = PackObjects(session)
    pack = read_source(source, region, progress)
    errors = validate(pack, progress)
    if not allow_other_region and settings.region_code and pack.code and pack.code != settings.region_code:
        errors.insert(0, PackError("region.json", 0, "code", f"this stack serves region "
                                      f"{settings.region_code!r}, not {pack.code!r} (JIESU_REGION_CODE)"))
    if errors:
        raise PackValidationError(errors)
    bucket = settings.region_bucket
    if not bucket:
        raise RuntimeError("the region bucket is not configured (JIESU_REGION_BUCKET)")

    live = region_store.live_pointer(pack.code, consistent=True)
    digest = pack.content_hash
    if live is not None and live.content_hash == digest:
        info = region_store.stored_version(pack.code, live.version)
        return LoadResult(_version_info(info, live.version) if info else None, empty_diff(pack),
                          dry_run=dry_run, noop=True, region=pack.code)
    live_pack = fetch_pack(live.s3_key, live.version, live.content_hash, live.s3_version_id,
                           bucket=bucket, objects=objects) if live else None
    change = diff(live_pack, pack)
    missing = _missing_secret_refs(pack, objects)
    if missing:
        raise PackValidationError(missing)
    n = (live.latest if live else 0) + 1
    if dry_run:
        current = region_store.stored_version(pack.code, live.version) if live else None
        return LoadResult(_version_info(current, live.version) if current else None, change,
                          dry_run=True, next_version=n, region=pack.code)

    _ensure_channel_secrets(pack, stage, objects)
    s3_key = object_key(pack.code, n, digest)
    blob = encode_pack(pack)
    _tick(progress, "upload", s3_key, 0, len(blob))
    s3_version_id = objects.put(bucket, s3_key, blob,
                                {"region": pack.code, "version": str(n), "content-sha256": digest})
    _tick(progress, "upload", s3_key, len(blob), len(blob))

    now = _iso(clock)
    version = StoredVersion(region=pack.code, version=n, content_hash=digest, s3_key=s3_key, actor=actor,
                            created_at=now, counts=pack.counts(), s3_version_id=s3_version_id)
    try:
        _commit(pack, live, version, "load", actor, now, stage, live_pack, new_version=True,
                diff_summary=change.summary())
    except ConcurrentLoadError:
        # Our object is unreferenced: remove exactly the object version we wrote.
        if s3_version_id:
            objects.delete(bucket, s3_key, s3_version_id)
        raise
    _tick(progress, "commit", f"v{n}", 1, 1)
    logger.info("region pack loaded", extra={"region": pack.code, "version": n, "hash": digest[:12],
                                             "actor": actor, "diff": change.summary()})
    return LoadResult(_version_info(version, n), change, region=pack.code)


def _commit(pack: RegionPack, live: Optional[LivePointer], target: StoredVersion, action: str, actor: str,
            now: str, stage: str, previous: Optional[RegionPack], new_version: bool = False,
            diff_summary: Optional[Mapping[str, Any]] = None) -> None:
    """One transaction: [new VERSION], LIVE (guarded by seq), AUDIT, channel registrations."""
    try:
        region_store.move_pointer(pack.code, live, target, action, actor, now, _channel_registrations(pack, stage, previous),
                                  new_version=new_version, diff_summary=diff_summary)
    except PointerMoved:
        raise ConcurrentLoadError(f"region {pack.code}: the live version changed while this {action} ran "
                                  "(another admin?); check `versions` and try again", field="region") from None


def _channel_registrations(pack: RegionPack, stage: str, previous: Optional[RegionPack]) -> list[Channel]:
    """The same registration save_channel writes, for every channel; channels dropped are disabled."""
    def registration(ch: ChannelSpec, enabled: bool) -> Channel:
        return Channel(ch.code, ch.name, {ch.key_id: channel_secret_ref(ch, stage)}, ch.callback_url, ch.key_id,
                       enabled)

    out = [registration(ch, True) for ch in pack.channels]
    if previous is not None:
        out += [registration(ch, False) for ch in previous.channels if ch.code not in pack.channels_by_code]
    return out


def _missing_secret_refs(pack: RegionPack, objects: PackObjects) -> list[PackError]:
    """Channels that name their own secret: it must exist (checked before anything is written)."""
    errors = []
    for ch in pack.channels:
        if ch.secret_ref and not objects.secret_exists(ch.secret_ref):
            errors.append(PackError("channels.json", pack.lines.get(("channels.json", ch.code), 0), "secret_ref",
                                       f"channel {ch.code!r}: secret {ch.secret_ref!r} does not exist in Secrets Manager"))
    return errors


def _ensure_channel_secrets(pack: RegionPack, stage: str, objects: PackObjects) -> list[str]:
    """Create the platform-owned secret of each channel without a secret_ref, if absent. Values never leave."""
    created = []
    for ch in pack.channels:
        if ch.secret_ref:
            continue
        name = secret_name(stage, ch.key_id)
        if objects.secret_exists(name):
            continue
        if objects.create_secret(name, _secrets.token_urlsafe(32),
                                 f"Jiesu channel signing key {ch.key_id} ({pack.code}/{ch.code})"):
            created.append(name)   # False: a concurrent load created it
    if created:
        logger.info("channel secrets created", extra={"region": pack.code, "secrets": created})
    return created


# --- rollback -----------------------------------------------------------------------------------

def rollback(region: str, to_version: int, actor: str, clock: Clock = SYSTEM_CLOCK, *,
             stage: Optional[str] = None, session=None) -> VersionInfo:
    """Make an earlier (or any registered) version live again; channels follow that version."""
    check_region_code(region)
    stage = stage or get_settings().stage
    objects = PackObjects(session)
    live = region_store.live_pointer(region, consistent=True)
    if live is None:
        raise NotFoundError("this region has no loaded version", field="region", code="region_not_loaded")
    target = region_store.stored_version(region, int(to_version))
    if target is None:
        raise NotFoundError("this region has no such version", field="version", code="unknown_version")
    if live.version == int(to_version):
        return _version_info(target, live.version)
    pack = fetch_pack(target.s3_key, target.version, target.content_hash, target.s3_version_id, objects=objects)
    current = fetch_pack(live.s3_key, live.version, live.content_hash, live.s3_version_id, objects=objects)
    _ensure_channel_secrets(pack, stage, objects)
    _commit(pack, live, target, "rollback", actor, _iso(clock), stage, current)
    logger.info("region pack rolled back", extra={"region": region, "from": int(live.version),
                                                  "to": int(to_version), "actor": actor})
    return _version_info(target, int(to_version))
