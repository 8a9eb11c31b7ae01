"""Where region packs are kept: one S3 object per version, its registry row, the live pointer and its audit trail.

| access pattern                     | how                                                         |
|------------------------------------|-------------------------------------------------------------|
| live pointer of a region           | GetItem REGION#<code> / LIVE                                 |
| one registered version             | GetItem REGION#<code> / VERSION#<n:06d>                      |
| every version, oldest first        | Query REGION#<code>, SK begins_with VERSION#                 |
| pointer changes, oldest first      | Query REGION#<code>, SK begins_with AUDIT#                   |
| move the pointer                   | ONE TransactWrite: [VERSION], LIVE (guarded by its seq),     |
|                                    | AUDIT, every channel registration                            |
| a version's content                | S3 GetObject of its key (and object version when recorded)   |

S3 and Secrets Manager go through `PackObjects`: the process's clients, or a given boto3 session
(the admin CLI and the local demo set-up load packs into a stack from outside it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Optional

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.aws import client
from chalicelib.domain.records import Channel
from chalicelib.storage import keys
from chalicelib.storage.models import Item
from chalicelib.storage.records import to_item
from chalicelib.storage.region_models import RegionAuditItem, RegionLiveItem, RegionVersionItem


@dataclass(frozen=True)
class StoredVersion:
    """A registered, immutable version of a region pack."""

    region: str
    version: int
    content_hash: str
    s3_key: str
    actor: str
    created_at: str
    counts: Mapping[str, int] = field(default_factory=dict)
    s3_version_id: Optional[str] = None


@dataclass(frozen=True)
class LivePointer:
    """Which version is live; `seq` counts pointer changes, `latest` is the highest version registered."""

    region: str
    version: int
    content_hash: str
    s3_key: str
    s3_version_id: Optional[str]
    latest: int
    seq: int


class PointerMoved(Exception):
    """The live pointer changed after it was read (another load or rollback won)."""


# --- reads ------------------------------------------------------------------------------------

def live_pointer(region: str, consistent: bool = False) -> Optional[LivePointer]:
    try:
        it = RegionLiveItem.get(keys.region_pk(region), keys.REGION_LIVE_SK, consistent_read=consistent)
    except DoesNotExist:
        return None
    return LivePointer(it.region, int(it.version), it.content_hash, it.s3_key, it.s3_version_id, int(it.latest),
                       int(it.seq))


def stored_version(region: str, version: int) -> Optional[StoredVersion]:
    try:
        it = RegionVersionItem.get(keys.region_pk(region), keys.region_version_sk(version), consistent_read=True)
    except DoesNotExist:
        return None
    return _version(it)


def stored_versions(region: str) -> list[StoredVersion]:
    items = RegionVersionItem.query(keys.region_pk(region),
                                    RegionVersionItem.SK.startswith(keys.REGION_VERSION_SK_PREFIX),
                                    consistent_read=True)
    return [_version(i) for i in items]


def pointer_history(region: str) -> list[dict[str, Any]]:
    """Pointer changes (loads and rollbacks), oldest first."""
    items = RegionAuditItem.query(keys.region_pk(region), RegionAuditItem.SK.startswith(keys.REGION_AUDIT_SK_PREFIX))
    return [{"seq": int(i.seq), "action": i.action, "from": int(i.from_version) if i.from_version else None,
             "to": int(i.to_version), "actor": i.actor, "at": i.at} for i in items]


def _version(it: RegionVersionItem) -> StoredVersion:
    return StoredVersion(region=it.region, version=int(it.version), content_hash=it.content_hash, s3_key=it.s3_key,
                         actor=it.actor, created_at=it.created_at, counts=it.counts or {},
                         s3_version_id=it.s3_version_id)


# --- the one write ------------------------------------------------------------------------------

def move_pointer(region: str, live: Optional[LivePointer], target: StoredVersion, action: str, actor: str, now: str,
                 channels: Iterable[Channel], new_version: bool = False,
                 diff_summary: Optional[Mapping[str, Any]] = None) -> None:
    """One transaction: [register `target` as a new VERSION], LIVE -> target (conditional on the
    `seq` of `live`, or on there being no pointer), an AUDIT row, and every channel registration.
    Raises PointerMoved when the pointer is no longer what `live` says."""
    seq = (live.seq if live else 0) + 1
    latest = max(live.latest if live else 0, target.version)
    pk = keys.region_pk(region)
    new_live = RegionLiveItem(pk, keys.REGION_LIVE_SK, region=region, version=target.version,
                              content_hash=target.content_hash, s3_key=target.s3_key,
                              s3_version_id=target.s3_version_id, latest=latest, seq=seq, action=action,
                              actor=actor, updated_at=now)
    audit = RegionAuditItem(pk, keys.region_audit_sk(seq), region=region, seq=seq, action=action,
                            from_version=live.version if live else None, to_version=target.version, actor=actor,
                            at=now)
    live_guard = (RegionLiveItem.seq == live.seq) if live else RegionLiveItem.PK.does_not_exist()
    try:
        with TransactWrite(connection=Item._get_connection().connection) as tx:
            tx.save(new_live, condition=live_guard)
            if new_version:
                version_item = RegionVersionItem(pk, keys.region_version_sk(target.version), region=region,
                                                 version=target.version, content_hash=target.content_hash,
                                                 s3_key=target.s3_key, s3_version_id=target.s3_version_id,
                                                 counts=dict(target.counts), diff_summary=diff_summary,
                                                 actor=target.actor, created_at=target.created_at)
                tx.save(version_item, condition=RegionVersionItem.PK.does_not_exist())
            tx.save(audit, condition=RegionAuditItem.PK.does_not_exist())
            for ch in channels:
                tx.save(to_item(ch, datetime.now(timezone.utc)))
    except TransactWriteError as exc:
        if any(r and r.code == "ConditionalCheckFailed" for r in (exc.cancellation_reasons or [])):
            raise PointerMoved(region) from None
        raise


# --- S3 objects and channel secrets --------------------------------------------------------------

class PackObjects:
    """The pack objects in S3 and the channel secrets in Secrets Manager."""

    def __init__(self, session=None):
        self.session = session

    def _client(self, name: str):
        return self.session.client(name) if self.session is not None else client(name)

    def read(self, bucket: str, s3_key: str, s3_version_id: Optional[str] = None) -> bytes:
        args = {"Bucket": bucket, "Key": s3_key}
        if s3_version_id:
            args["VersionId"] = s3_version_id
        return self._client("s3").get_object(**args)["Body"].read()

    def put(self, bucket: str, s3_key: str, blob: bytes, metadata: Mapping[str, str]) -> Optional[str]:
        """Store an object; returns its S3 version id (None when the bucket is not versioned)."""
        put = self._client("s3").put_object(Bucket=bucket, Key=s3_key, Body=blob, ContentType="application/gzip",
                                            Metadata=dict(metadata))
        return put.get("VersionId")

    def delete(self, bucket: str, s3_key: str, s3_version_id: str) -> None:
        self._client("s3").delete_object(Bucket=bucket, Key=s3_key, VersionId=s3_version_id)

    def secret_exists(self, name: str) -> bool:
        sm = self._client("secretsmanager")
        try:
            sm.describe_secret(SecretId=name)
            return True
        except sm.exceptions.ResourceNotFoundException:
            return False

    def create_secret(self, name: str, value: str, description: str) -> bool:
        """Create a secret; False when it exists already (a concurrent load created it)."""
        sm = self._client("secretsmanager")
        try:
            sm.create_secret(Name=name, SecretString=value, Description=description)
            return True
        except sm.exceptions.ResourceExistsException:
            return False
