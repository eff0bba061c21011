"""Encryption at rest for verbatims: AES-GCM with a data key per subject.

Each subject's data key is wrapped (AES-GCM) by the brand's master key and kept in the brand's
separate key store. Erasing a subject deletes their wrapped key, so every copy of their answers
(backups of the data store included) becomes unreadable: crypto-shredding. Master keys are
versioned; `candor keys rotate BRAND` re-wraps every data key under a new version.

Master keys come from `CANDOR_MASTER_KEYS` (JSON: {"brand": ["<base64 32 bytes>", ...]}, the
last one current) or, in the embedded default, are derived with HKDF from the installation key.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
FORMAT = "v1"


class KeyShredded(LookupError):
    """The subject's data key is gone (erased): their data can no longer be read."""


class CryptoError(ValueError):
    """A ciphertext that does not decrypt under the key and context it claims."""


@dataclass(frozen=True)
class MasterKeys:
    """Versioned master keys per brand: configured ones, else derived from one secret."""

    secret: bytes
    configured: Mapping[str, tuple[bytes, ...]] = field(default_factory=dict)

    @classmethod
    def from_env(cls, secret: bytes, raw: str | None = None) -> MasterKeys:
        raw = raw if raw is not None else os.environ.get("CANDOR_MASTER_KEYS")
        if not raw:
            return cls(secret)
        try:
            data = json.loads(raw)
            configured = {
                brand: tuple(base64.b64decode(k) for k in keys) for brand, keys in data.items()
            }
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(
                'CANDOR_MASTER_KEYS must be JSON like {"brand": ["<base64 of 32 random bytes>"]}'
            ) from exc
        if any(len(k) != 32 for keys in configured.values() for k in keys):
            raise ValueError("every master key in CANDOR_MASTER_KEYS must be 32 bytes")
        return cls(secret, configured)

    def latest_version(self, brand: str, stored: int) -> int:
        if brand in self.configured:
            return len(self.configured[brand])
        return max(stored, 1)

    def key(self, brand: str, version: int) -> bytes:
        if brand in self.configured:
            keys = self.configured[brand]
            if not 1 <= version <= len(keys):
                raise CryptoError(f"no master key version {version} for brand {brand}")
            return keys[version - 1]
        return HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=f"candor master key {brand} v{version}".encode(),
        ).derive(self.secret)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    return f"{FORMAT}:" + base64.b64encode(nonce + sealed).decode()


def open_sealed(key: bytes, token: str, aad: bytes) -> bytes:
    return open_with(AESGCM(key), token, aad)


def open_with(aead: AESGCM, token: str, aad: bytes) -> bytes:
    """`open_sealed` with the key already set up, for reading many answers of one subject."""
    prefix, _, body = token.partition(":")
    if prefix != FORMAT:
        raise CryptoError("unknown ciphertext format")
    raw = base64.b64decode(body)
    try:
        return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
    except InvalidTag:
        raise CryptoError("ciphertext does not match its key or context") from None
