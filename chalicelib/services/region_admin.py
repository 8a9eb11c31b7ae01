"""Admin use cases of region packs (F-OP-1): load a pack as a new live version, dry-run, list, roll back.

A load is: read + validate (any error: PackValidationError listing them all, nothing written)
→ diff against the live version → create missing channel secrets → write the pack as ONE
immutable S3 object (packs/<region>/<n:06d>-<hash16>/pack.json.gz) → ONE DynamoDB transaction
that registers VERSION#<n>, moves LIVE (conditional on the LIVE `seq` read at the start, so of
two concurrent loads exactly one wins), appends an AUDIT row and upserts every channel
registration (removed channels are disabled). Channel items ride in the transaction rather
than through chalicelib.policy.channels.save_channel one by one, so the live pointer and the
registrations can never disagree after a crash. Reloading the live content is a no-op.
"""
from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.observability import logger
from chalicelib.policy import region_pack as rp
from chalicelib.policy.region import fetch_pack, read_live_pointer
from chalicelib.services.clock import SYSTEM_CLOCK, Clock
from chalicelib.settings import get_settings
from chalicelib.storage import keys
from chalicelib.storage.models import ChannelItem, Item
from chalicelib.storage.region_models import RegionAuditItem, RegionLiveItem, RegionVersionItem

PackSource = Union[str, Path, Mapping[str, Union[str, bytes]], rp.RegionPack]


class PackValidationError(ValidationError):
    """The pack is not loadable; `errors` lists every problem (file, line, field, message)."""

    code = "invalid_region_pack"

    def __init__(self, errors: list[rp.PackError]):
        first = errors[0] if errors else None
        super().__init__(f"region pack has {len(errors)} error(s); first: {first}", field=first.field if first else None)
        self.errors = errors
        self.details = [e.to_dict() for e in errors]  # every bad row, for API error bodies


class ConcurrentLoadError(ConflictError):
    code = "concurrent_region_change"


@dataclass(frozen=True)
class VersionInfo:
    region: str
    version: int
    content_hash: str
    s3_key: str
    actor: str
    created_at: str
    counts: Mapping[str, int] = field(default_factory=dict)
    s3_version_id: Optional[str] = None
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
    diff: rp.PackDiff
    errors: list[rp.PackError] = field(default_factory=list)
    dry_run: bool = False
    noop: bool = False
    next_version: Optional[int] = None   # the number a real load would get (dry run)
    region: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "version": self.version.to_dict() if self.version else None,
                "dry_run": self.dry_run, "noop": self.noop, "next_version": self.next_version,
                "diff": self.diff.to_dict(), "errors": [e.to_dict() for e in self.errors]}


class _Aws:
    """Clients for S3 and Secrets Manager: the process's (chalicelib.aws) unless a session is given."""

    def __init__(self, session=None):
        self.session = session

    def client(self, name: str):
        if self.session is not None:
            return self.session.client(name)
        from chalicelib.aws import client

        return client(name)


def _connection() -> Connection:
    return Item._get_connection().connection


def _iso(clock: Clock) -> str:
    return clock.now().isoformat(timespec="seconds")


def secret_name(stage: str, key_id: str) -> str:
    return f"jiesu/{stage}/channels/{key_id}"


def channel_secret_ref(ch: rp.ChannelSpec, stage: str) -> str:
    return ch.secret_ref or secret_name(stage, ch.key_id)


def _tick(progress, stage: str, item: str, done: int, total: int) -> None:
    if progress:
        progress(stage, item, done, total)


def check_region_code(region: str) -> str:
    """A region named by a caller (the admin API's path) has the shape of a region code; the
    message never repeats what was sent."""
    if not isinstance(region, str) or not rp._REGION_RE.fullmatch(region):
        raise ValidationError("region: a region code is lower-case latin letters, digits or '-', 2-32 characters "
                              "(e.g. shenzhen)", field="region", code="bad_region")
    return region


# --- reads ------------------------------------------------------------------------------------

def _version_info(item: RegionVersionItem, live: Optional[int] = None) -> VersionInfo:
    return VersionInfo(region=item.region, version=int(item.version), content_hash=item.content_hash,
                       s3_key=item.s3_key, actor=item.actor, created_at=item.created_at, counts=item.counts or {},
                       s3_version_id=item.s3_version_id, live=live == int(item.version))


def _get_version(region: str, version: int) -> Optional[RegionVersionItem]:
    try:
        return RegionVersionItem.get(keys.region_pk(region), keys.region_version_sk(version), consistent_read=True)
    except DoesNotExist:
        return None


def versions(region: str) -> list[VersionInfo]:
    """Every registered version, oldest first, with the live one marked."""
    check_region_code(region)
    live = read_live_pointer(region, consistent=True)
    live_v = int(live.version) if live else None
    items = RegionVersionItem.query(keys.region_pk(region),
                                    RegionVersionItem.SK.startswith(keys.REGION_VERSION_SK_PREFIX),
                                    consistent_read=True)
    return [_version_info(i, live_v) for i in items]


def live_version(region: str) -> Optional[VersionInfo]:
    live = read_live_pointer(region, consistent=True)
    if live is None:
        return None
    item = _get_version(region, int(live.version))
    return _version_info(item, int(live.version)) if item else None


def history(region: str) -> list[dict[str, Any]]:
    """Pointer changes (loads and rollbacks), oldest first."""
    items = RegionAuditItem.query(keys.region_pk(region), RegionAuditItem.SK.startswith(keys.REGION_AUDIT_SK_PREFIX))
    return [{"seq": int(i.seq), "action": i.action, "from": int(i.from_version) if i.from_version else None,
             "to": int(i.to_version), "actor": i.actor, "at": i.at} for i in items]


# --- load -------------------------------------------------------------------------------------

def read_source(source: PackSource, region: Optional[str] = None, progress=None) -> rp.RegionPack:
    if isinstance(source, rp.RegionPack):
        return source
    return rp.read_pack(source, code=region, progress=progress)


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
    aws = _Aws(session)
    pack = read_source(source, region, progress)
    errors = rp.validate(pack, progress)
    if not allow_other_region and settings.region_code and pack.code and pack.code != settings.region_code:
        errors.insert(0, rp.PackError("region.json", 0, "code", f"this stack serves region "
                                      f"{settings.region_code!r}, not {pack.code!r} (JIESU_REGION_CODE)"))
    if errors:
        raise PackValidationError(errors)
    bucket = settings.region_bucket
    if not bucket:
        raise RuntimeError("the region bucket is not configured (JIESU_REGION_BUCKET)")

    live = read_live_pointer(pack.code, consistent=True)
    digest = pack.content_hash
    if live is not None and live.content_hash == digest:
        info = _get_version(pack.code, int(live.version))
        return LoadResult(_version_info(info, int(live.version)) if info else None, rp.empty_diff(pack),
                          dry_run=dry_run, noop=True, region=pack.code)
    live_pack = fetch_pack(live.s3_key, int(live.version), live.content_hash, live.s3_version_id,
                           bucket=bucket, s3=aws.client("s3")) if live else None
    change = rp.diff(live_pack, pack)
    missing = _missing_secret_refs(pack, aws)
    if missing:
        raise PackValidationError(missing)
    n = (int(live.latest) if live else 0) + 1
    if dry_run:
        current = _get_version(pack.code, int(live.version)) if live else None
        return LoadResult(_version_info(current, int(live.version)) if current else None, change,
                          dry_run=True, next_version=n, region=pack.code)

    _ensure_channel_secrets(pack, stage, aws)
    s3_key = rp.object_key(pack.code, n, digest)
    blob = rp.encode_pack(pack)
    _tick(progress, "upload", s3_key, 0, len(blob))
    put = aws.client("s3").put_object(Bucket=bucket, Key=s3_key, Body=blob, ContentType="application/gzip",
                                      Metadata={"region": pack.code, "version": str(n), "content-sha256": digest})
    s3_version_id = put.get("VersionId")
    _tick(progress, "upload", s3_key, len(blob), len(blob))

    now = _iso(clock)
    version_item = RegionVersionItem(keys.region_pk(pack.code), keys.region_version_sk(n), region=pack.code,
                                     version=n, content_hash=digest, s3_key=s3_key, s3_version_id=s3_version_id,
                                     counts=pack.counts(), diff_summary=change.summary(), actor=actor, created_at=now)
    try:
        _commit(pack, live, version_item, "load", actor, now, stage, live_pack)
    except ConcurrentLoadError:
        # Our object is unreferenced: remove exactly the object version we wrote.
        if s3_version_id:
            aws.client("s3").delete_object(Bucket=bucket, Key=s3_key, VersionId=s3_version_id)
        raise
    _tick(progress, "commit", f"v{n}", 1, 1)
    logger.info("region pack loaded", extra={"region": pack.code, "version": n, "hash": digest[:12],
                                             "actor": actor, "diff": change.summary()})
    return LoadResult(_version_info(version_item, n), change, region=pack.code)


def _commit(pack: rp.RegionPack, live: Optional[RegionLiveItem], version_item: Optional[RegionVersionItem],
            action: str, actor: str, now: str, stage: str, previous: Optional[rp.RegionPack],
            target: Optional[RegionVersionItem] = None) -> None:
    """One transaction: [new VERSION], LIVE (guarded by seq), AUDIT, channel registrations."""
    target = target or version_item
    seq = (int(live.seq) if live else 0) + 1
    latest = max(int(live.latest) if live else 0, int(target.version))
    new_live = RegionLiveItem(keys.region_pk(pack.code), keys.REGION_LIVE_SK, region=pack.code,
                              version=int(target.version), content_hash=target.content_hash, s3_key=target.s3_key,
                              s3_version_id=target.s3_version_id, latest=latest, seq=seq, action=action,
                              actor=actor, updated_at=now)
    audit = RegionAuditItem(keys.region_pk(pack.code), keys.region_audit_sk(seq), region=pack.code, seq=seq,
                            action=action, from_version=int(live.version) if live else None,
                            to_version=int(target.version), actor=actor, at=now)
    live_guard = (RegionLiveItem.seq == int(live.seq)) if live else RegionLiveItem.PK.does_not_exist()
    try:
        with TransactWrite(connection=_connection()) as tx:
            tx.save(new_live, condition=live_guard)
            if version_item is not None:
                tx.save(version_item, condition=RegionVersionItem.PK.does_not_exist())
            tx.save(audit, condition=RegionAuditItem.PK.does_not_exist())
            for item in _channel_items(pack, stage, previous):
                tx.save(item)
    except TransactWriteError as exc:
        if any(r and r.code == "ConditionalCheckFailed" for r in (exc.cancellation_reasons or [])):
            raise ConcurrentLoadError(f"region {pack.code}: the live version changed while this {action} ran "
                                      "(another admin?); check `versions` and try again",
                                      field="region") from None
        raise


def _channel_items(pack: rp.RegionPack, stage: str, previous: Optional[rp.RegionPack]) -> list[ChannelItem]:
    """The same registration save_channel writes, for every channel; channels dropped are disabled."""
    out = []
    for ch in pack.channels:
        out.append(ChannelItem(keys.channel_pk(ch.code), keys.CHANNEL_SK, code=ch.code, name=ch.name,
                               key_ids={ch.key_id: channel_secret_ref(ch, stage)}, callback_url=ch.callback_url,
                               callback_key_id=ch.key_id, enabled=True))
    if previous is not None:
        for ch in previous.channels:
            if ch.code not in pack.channels_by_code:
                out.append(ChannelItem(keys.channel_pk(ch.code), keys.CHANNEL_SK, code=ch.code, name=ch.name,
                                       key_ids={ch.key_id: channel_secret_ref(ch, stage)},
                                       callback_url=ch.callback_url, callback_key_id=ch.key_id, enabled=False))
    return out


def _missing_secret_refs(pack: rp.RegionPack, aws: _Aws) -> list[rp.PackError]:
    """Channels that name their own secret: it must exist (checked before anything is written)."""
    named = [ch for ch in pack.channels if ch.secret_ref]
    if not named:
        return []
    sm = aws.client("secretsmanager")
    errors = []
    for ch in named:
        try:
            sm.describe_secret(SecretId=ch.secret_ref)
        except sm.exceptions.ResourceNotFoundException:
            errors.append(rp.PackError("channels.json", pack.lines.get(("channels.json", ch.code), 0), "secret_ref",
                                       f"channel {ch.code!r}: secret {ch.secret_ref!r} does not exist in Secrets Manager"))
    return errors


def _ensure_channel_secrets(pack: rp.RegionPack, stage: str, aws: _Aws) -> list[str]:
    """Create the platform-owned secret of each channel without a secret_ref, if absent. Values never leave."""
    sm = aws.client("secretsmanager")
    created = []
    for ch in pack.channels:
        if ch.secret_ref:
            continue
        name = secret_name(stage, ch.key_id)
        try:
            sm.describe_secret(SecretId=name)
            continue
        except sm.exceptions.ResourceNotFoundException:
            pass
        try:
            sm.create_secret(Name=name, SecretString=_secrets.token_urlsafe(32),
                             Description=f"Jiesu channel signing key {ch.key_id} ({pack.code}/{ch.code})")
            created.append(name)
        except sm.exceptions.ResourceExistsException:
            pass  # a concurrent load created it
    if created:
        logger.info("channel secrets created", extra={"region": pack.code, "secrets": created})
    return created


# --- rollback -----------------------------------------------------------------------------------

def rollback(region: str, to_version: int, actor: str, clock: Clock = SYSTEM_CLOCK, *,
             stage: Optional[str] = None, session=None) -> VersionInfo:
    """Make an earlier (or any registered) version live again; channels follow that version."""
    check_region_code(region)
    stage = stage or get_settings().stage
    aws = _Aws(session)
    live = read_live_pointer(region, consistent=True)
    if live is None:
        raise NotFoundError("this region has no loaded version", field="region", code="region_not_loaded")
    target = _get_version(region, int(to_version))
    if target is None:
        raise NotFoundError("this region has no such version", field="version", code="unknown_version")
    if int(live.version) == int(to_version):
        return _version_info(target, int(live.version))
    s3 = aws.client("s3")
    pack = fetch_pack(target.s3_key, int(target.version), target.content_hash, target.s3_version_id, s3=s3)
    current = fetch_pack(live.s3_key, int(live.version), live.content_hash, live.s3_version_id, s3=s3)
    _ensure_channel_secrets(pack, stage, aws)
    _commit(pack, live, None, "rollback", actor, _iso(clock), stage, current, target=target)
    logger.info("region pack rolled back", extra={"region": region, "from": int(live.version),
                                                  "to": int(to_version), "actor": actor})
    return _version_info(target, int(to_version))
