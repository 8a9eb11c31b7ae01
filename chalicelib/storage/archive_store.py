"""The archive's items, its sealed bucket (S3 Object Lock) and the per-appeal data keys (domain.archive).

| entity          | kind            | PK                          | SK                      | GSI1PK / GSI1SK                            | GSI2PK / GSI2SK                               |
|-----------------|-----------------|-----------------------------|-------------------------|--------------------------------------------|-----------------------------------------------|
| Archive due     | archive_due     | ARCHDUE#<region>#<day>      | <id>#<closed seq:06d>   | –                                          | –                                             |
| Archive pointer | archive_pointer | ARCHIVE#<id>                | P                       | ARCHDAY#<region>#<day> / <archived>#<id>   | SHRED#<region>#<YYYY-MM> / <shred due>#<id> (until shredded) |
| Archive key     | archive_key     | ARCHIVE#<id>                | KEY                     | –                                          | –                                             |
| Archive mark    | sweep_state     | SWEEP#archive#<region>      | S                       | –                                          | –                                             |

`<day>` is a UTC date. Access patterns: a closure files its due entry in the day it falls due
(written in the closing transaction, services/archive_due.py); the sweep reads its mark, then one
partition per day up to today (never the appeals, never a scan) and archives, cancels or files
the entry again; a dossier is found by id (GetItem on the pointer); a day's dossiers are one GSI1
query (verification); the appeals whose personal data is due for shredding are one GSI2 query per
month, shred due <= today (the entry leaves GSI2 when shredded). The pointer lives in its own
partition, not the appeal's, so the appeal's hot items can expire (TTL) and the pointer stays.
"""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pynamodb.attributes import BinaryAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.aws import client
from chalicelib.domain.archive import ArchiveDue, ArchiveKey, ArchivePointer
from chalicelib.domain.canonical import canonical_json
from chalicelib.domain.timefmt import iso, parse_iso
from chalicelib.settings import get_settings
from chalicelib.storage.models import Item, SweepStateItem
from chalicelib.storage.records import to_item

BUCKET_ENV = "JIESU_ARCHIVE_BUCKET"
POINTER_SK, KEY_SK, MARK_SK = "P", "KEY", "S"


def due_pk(region: str, day: str) -> str:
    return f"ARCHDUE#{region}#{day}"


def due_sk(appeal_id: str, closed_seq: int) -> str:
    return f"{appeal_id}#{int(closed_seq):06d}"


def archive_pk(appeal_id: str) -> str:
    return f"ARCHIVE#{appeal_id}"


def day_pk(region: str, day: str) -> str:
    return f"ARCHDAY#{region}#{day}"


def shred_pk(region: str, month: str) -> str:
    return f"SHRED#{region}#{month}"


def mark_pk(region: str) -> str:
    return f"SWEEP#archive#{region}"


class ArchiveDueItem(Item, discriminator="archive_due"):
    """A closed appeal waiting out its settling window, in the partition of the day it is due."""

    appeal_id = UnicodeAttribute()
    region = UnicodeAttribute()
    closed_seq = NumberAttribute()
    due_at = UnicodeAttribute()


class ArchivePointerItem(Item, discriminator="archive_pointer"):
    """What stays of an archived appeal: ids, dates, unit, and where its sealed dossier is."""

    appeal_id = UnicodeAttribute()
    region = UnicodeAttribute()
    body = JSONAttribute()


class ArchiveKeyItem(Item, discriminator="archive_key"):
    """The appeal's own data key (KMS-wrapped) of its dossier's personal data: deleted to shred."""

    appeal_id = UnicodeAttribute()
    wrapped_key = BinaryAttribute(legacy_encoding=False)


@to_item.register
def _(d: ArchiveDue, now: datetime) -> ArchiveDueItem:
    return ArchiveDueItem(due_pk(d.region, d.day), due_sk(d.appeal_id, d.closed_seq), appeal_id=d.appeal_id,
                          region=d.region, closed_seq=d.closed_seq, due_at=iso(d.due_at))


def _due(item: ArchiveDueItem) -> ArchiveDue:
    return ArchiveDue(item.region, item.appeal_id, int(item.closed_seq), parse_iso(item.due_at))


_POINTER_TIMES = ("received_at", "closed_at", "archived_at", "shred_due", "shredded_at")


@to_item.register
def _(p: ArchivePointer, now: datetime) -> ArchivePointerItem:
    body: dict[str, Any] = {k: getattr(p, k) for k in ArchivePointer.__dataclass_fields__}
    for name in _POINTER_TIMES:
        body[name] = iso(body[name]) if body[name] else None
    body["unit_ids"], body["hashes"], body["hints"] = list(p.unit_ids), list(p.hashes), dict(p.hints)
    archived = iso(p.archived_at)
    item = ArchivePointerItem(archive_pk(p.appeal_id), POINTER_SK, appeal_id=p.appeal_id, region=p.region, body=body,
                              GSI1PK=day_pk(p.region, archived[:10]), GSI1SK=f"{archived}#{p.appeal_id}")
    if p.shredded_at is None:
        due = iso(p.shred_due)
        item.GSI2PK, item.GSI2SK = shred_pk(p.region, due[:7]), f"{due}#{p.appeal_id}"
    return item


def pointer(item: ArchivePointerItem) -> ArchivePointer:
    b = dict(item.body)
    for name in _POINTER_TIMES:
        b[name] = parse_iso(b[name]) if b.get(name) else None
    b["unit_ids"], b["hashes"] = tuple(b.get("unit_ids") or ()), tuple(b.get("hashes") or ())
    known = set(ArchivePointer.__dataclass_fields__)
    return ArchivePointer(**{k: v for k, v in b.items() if k in known})


@to_item.register
def _(k: ArchiveKey, now: datetime) -> ArchiveKeyItem:
    return ArchiveKeyItem(archive_pk(k.appeal_id), KEY_SK, appeal_id=k.appeal_id, wrapped_key=k.wrapped_key)


class ArchiveStore:
    """The archive's reads (bounded queries and GetItems); its writes go through the unit of work."""

    def due_entries(self, region: str, day: str) -> list[ArchiveDue]:
        return [_due(i) for i in ArchiveDueItem.query(due_pk(region, day), consistent_read=True)]

    def mark(self, region: str) -> str | None:
        try:
            return SweepStateItem.get(mark_pk(region), MARK_SK, consistent_read=True).last_bucket
        except DoesNotExist:
            return None

    def move_mark(self, region: str, day: str, now: datetime) -> None:
        """Forward only: an overlapping older run never moves it back."""
        item = SweepStateItem(mark_pk(region), MARK_SK, last_bucket=day, updated_at=iso(now))
        try:
            item.save(condition=SweepStateItem.PK.does_not_exist() | (SweepStateItem.last_bucket < day))
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise

    def get_pointer(self, appeal_id: str) -> ArchivePointer | None:
        try:
            return pointer(ArchivePointerItem.get(archive_pk(appeal_id), POINTER_SK, consistent_read=True))
        except DoesNotExist:
            return None

    def get_key(self, appeal_id: str) -> ArchiveKey | None:
        try:
            item = ArchiveKeyItem.get(archive_pk(appeal_id), KEY_SK, consistent_read=True)
        except DoesNotExist:
            return None
        return ArchiveKey(item.appeal_id, bytes(item.wrapped_key))

    def pointers_of_day(self, region: str, day: str) -> list[ArchivePointer]:
        return self._pointers(Item.gsi1.query(day_pk(region, day)))

    def shred_due(self, region: str, month: str, through: datetime, limit: int) -> list[ArchivePointer]:
        """Pointers of one month whose shredding is due by `through` (not yet shredded)."""
        if limit <= 0:
            return []
        return self._pointers(Item.gsi2.query(shred_pk(region, month), Item.GSI2SK <= f"{iso(through)}#~",
                                              limit=limit))

    def _pointers(self, entries) -> list[ArchivePointer]:
        """Index entries (whatever the index projects: the keys and `appeal_id` suffice) to the
        pointers, in the index's order, read in one BatchGetItem per 100."""
        ids = [i.appeal_id for i in entries if isinstance(i, ArchivePointerItem)]
        found: dict[str, ArchivePointer] = {}
        for start in range(0, len(ids), 100):
            for item in ArchivePointerItem.batch_get([(archive_pk(i), POINTER_SK) for i in ids[start:start + 100]]):
                found[item.appeal_id] = pointer(item)
        return [found[i] for i in ids if i in found]


class ArchiveBucket:
    """The sealed dossiers: S3 with Object Lock, every object in compliance mode until its date."""

    def __init__(self, bucket: str | None = None) -> None:
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        name = self._bucket or os.environ.get(BUCKET_ENV, "")
        if not name:
            raise RuntimeError(f"{BUCKET_ENV} names no archive bucket")
        return name

    def put(self, key: str, body: bytes, content_type: str, retain_until: datetime) -> str | None:
        """Store a sealed object; returns its version id. S3 refuses any delete or overwrite of
        that version before `retain_until` (compliance mode: not even the account root)."""
        resp = client("s3").put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type,
                                       ServerSideEncryption="AES256", ChecksumAlgorithm="SHA256",
                                       ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=retain_until)
        return resp.get("VersionId")

    def get(self, key: str, version: str | None = None) -> bytes | None:
        args = {"Bucket": self.bucket, "Key": key, **({"VersionId": version} if version else {})}
        try:
            return client("s3").get_object(**args)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "404"):
                return None
            raise

    def retention(self, key: str, version: str | None = None) -> dict[str, Any]:
        args = {"Bucket": self.bucket, "Key": key, **({"VersionId": version} if version else {})}
        head = client("s3").head_object(**args)
        return {"mode": head.get("ObjectLockMode"), "retain_until": head.get("ObjectLockRetainUntilDate")}


class ArchiveSealer:
    """Envelope encryption of a dossier's personal data under a data key of that appeal only.

    Unlike the hot party items (storage/pii.py, a data key shared for a few minutes), every
    dossier gets a fresh key: deleting its wrapped copy (ArchiveKeyItem) shreds that appeal
    alone. The appeal id and region are bound as KMS encryption context and AES-GCM associated data."""

    def _context(self, appeal_id: str) -> dict[str, str]:
        return {"purpose": "archive", "region": get_settings().region_code, "appeal_id": appeal_id}

    def seal(self, plain: Any, appeal_id: str) -> tuple[ArchiveKey, dict[str, Any]]:
        resp = client("kms").generate_data_key(KeyId=get_settings().pii_key_id, KeySpec="AES_256",
                                               EncryptionContext=self._context(appeal_id))
        nonce = os.urandom(12)
        ciphertext = AESGCM(resp["Plaintext"]).encrypt(nonce, canonical_json(plain).encode(), appeal_id.encode())
        envelope = {"alg": "AES-256-GCM", "key": f"archive-key:{appeal_id}", "aad": "appeal_id",
                    "nonce": base64.b64encode(nonce).decode(), "ciphertext": base64.b64encode(ciphertext).decode()}
        return ArchiveKey(appeal_id, resp["CiphertextBlob"]), envelope

    def open(self, key: ArchiveKey | None, envelope: dict[str, Any], appeal_id: str) -> Any:
        """The plaintext; LookupError once the key is destroyed (or the envelope is not this appeal's)."""
        if key is None:
            raise LookupError("the dossier's data key was destroyed (personal data shredded)")
        plain = client("kms").decrypt(CiphertextBlob=key.wrapped_key,
                                      EncryptionContext=self._context(appeal_id))["Plaintext"]
        try:
            data = AESGCM(plain).decrypt(base64.b64decode(envelope["nonce"]),
                                         base64.b64decode(envelope["ciphertext"]), appeal_id.encode())
        except InvalidTag:
            raise LookupError("the envelope does not open with this appeal's key") from None
        return json.loads(data)


@dataclass
class Archive:
    """The archive's adapters, handed to services/archive.py by its entry points."""

    store: ArchiveStore
    bucket: ArchiveBucket
    sealer: ArchiveSealer


def archive_parts(bucket: str | None = None) -> Archive:
    return Archive(ArchiveStore(), ArchiveBucket(bucket), ArchiveSealer())


def retain_until(archived_at: datetime, lock: timedelta) -> datetime:
    return (archived_at + lock).astimezone(timezone.utc)
