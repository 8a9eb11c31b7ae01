"""Personal data at rest: envelope encryption under a KMS key, and keyed hashes for matching."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.aws import client
from chalicelib.domain.appeal import Party
from chalicelib.domain.records import SealedParty
from chalicelib.domain.privacy import mask_id_number, mask_name, mask_phone
from chalicelib.settings import get_settings

# A data key is reused for a while (as the AWS Encryption SDK's caching does) so intake does not
# pay a KMS call per appeal; each item stores its own wrapped key, so rotation needs no rewrite.
_DATA_KEY_MAX_AGE_S = 300
_DATA_KEY_MAX_USES = 10_000


@dataclass
class _DataKey:
    plaintext: bytes
    wrapped: bytes
    created: float
    uses: int = 0


_lock = threading.Lock()
_current: _DataKey | None = None
_unwrapped: dict[bytes, bytes] = {}
_hash_key: bytes | None = None


def _context() -> dict[str, str]:
    return {"purpose": "pii", "region": get_settings().region_code}


def _data_key() -> _DataKey:
    global _current
    with _lock:
        now = time.monotonic()
        if _current is None or now - _current.created > _DATA_KEY_MAX_AGE_S or _current.uses >= _DATA_KEY_MAX_USES:
            resp = client("kms").generate_data_key(KeyId=get_settings().pii_key_id, KeySpec="AES_256",
                                                   EncryptionContext=_context())
            _current = _DataKey(resp["Plaintext"], resp["CiphertextBlob"], now)
        _current.uses += 1
        return _current


def encrypt_party(party: Party, appeal_id: str) -> tuple[bytes, bytes, bytes]:
    """Return (wrapped data key, nonce, ciphertext); the appeal id is bound as associated data."""
    key = _data_key()
    nonce = os.urandom(12)
    plain = json.dumps({"name": party.name, "id_number": party.id_number, "phone": party.phone},
                       ensure_ascii=False).encode()
    return key.wrapped, nonce, AESGCM(key.plaintext).encrypt(nonce, plain, appeal_id.encode())


def decrypt_party(wrapped: bytes, nonce: bytes, ciphertext: bytes, appeal_id: str) -> Party:
    with _lock:
        plaintext = _unwrapped.get(wrapped)
    if plaintext is None:
        plaintext = client("kms").decrypt(CiphertextBlob=wrapped, EncryptionContext=_context())["Plaintext"]
        with _lock:
            _unwrapped[wrapped] = plaintext
    data = json.loads(AESGCM(plaintext).decrypt(nonce, ciphertext, appeal_id.encode()))
    return Party(**data)


def _key() -> bytes:
    global _hash_key
    if _hash_key is None:
        secret = client("secretsmanager").get_secret_value(SecretId=get_settings().hash_key_secret)["SecretString"]
        _hash_key = secret.encode()
    return _hash_key


def keyed_hash(kind: str, value: str) -> str:
    """HMAC-SHA256 of a normalised identifier: equal people match, the value cannot be recovered."""
    normalised = value.strip().upper().replace(" ", "")
    return hmac.new(_key(), f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()[:32]


def derive_token(purpose: str, value: str) -> str:
    """A capability token (a tracking link's): the whole HMAC-SHA256 of `value` under the
    platform's secret key, URL-safe base64 (256 bits, 43 characters). Only the key holder can
    make it again; the value alone (an appeal id and a random salt) gives nothing away."""
    digest = hmac.new(_key(), f"token:{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def party_hashes(party: Party) -> dict[str, str | None]:
    return {
        "id_hash": keyed_hash("id", party.id_number) if party.id_number else None,
        "phone_hash": keyed_hash("phone", party.phone) if party.phone else None,
        "id_hint": mask_id_number(party.id_number) or None,
        "phone_hint": mask_phone(party.phone) or None,
        "name_hint": mask_name(party.name) or None,
    }


class KmsSealer:
    """The citizen's personal data sealed for storage (and opened again for an audited unmask)."""

    def seal(self, party: Party, appeal_id: str) -> SealedParty:
        wrapped, nonce, ciphertext = encrypt_party(party, appeal_id)
        return SealedParty(appeal_id, wrapped, nonce, ciphertext, **party_hashes(party))

    def unseal(self, sealed: SealedParty) -> Party:
        return decrypt_party(sealed.wrapped_key, sealed.nonce, sealed.ciphertext, sealed.appeal_id)

    def keyed_hash(self, kind: str, value: str) -> str:
        return keyed_hash(kind, value)

    def derive_token(self, purpose: str, value: str) -> str:
        return derive_token(purpose, value)


def reset_caches() -> None:
    """For tests that swap the stand-in between cases."""
    global _current, _hash_key
    with _lock:
        _current, _hash_key = None, None
        _unwrapped.clear()
