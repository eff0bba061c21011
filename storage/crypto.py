"""Encryption at rest for verbatims: AES-GCM with a data key per subject.

Each subject's data key is wrapped (AES-GCM) by the brand's master key and kept in the brand's
separate key store. Erasing a subject deletes their wrapped key, so every copy of their answers
(backups of the data store included) becomes unreadable: crypto-shredding. Master keys are
versioned; `candor keys rotate BRAND` re-wraps every data key under a new version.

Master keys are configured (`CANDOR_MASTER_KEYS`, JSON: {"brand": ["<base64 32 bytes>", ...]},
the last one current) or, in the embedded default, derived with HKDF from the installation key.
Storage reads no environment: `bot.settings.Settings` owns both values and passes them in.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.backends import private_file

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
    def parse(cls, secret: bytes, raw: str | None = None) -> MasterKeys:
        """Keys from their configured JSON (`Settings.master_keys`); without any, every brand's
        key is derived from `secret`. Raises ValueError saying what the JSON should look like."""
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


def installation_secret(data_dir: Path) -> bytes:
    """The embedded default's installation secret: created once, kept in the data directory.

    The one copy of this logic: `Settings.key` uses it when `CANDOR_SECRET_KEY` is unset, and
    `Stores` when it is given no master keys, so both derive from the same file.
    """
    path = data_dir / "secret.key"
    if not path.exists():
        private_file(path)  # 0600 in a 0700 directory before the secret is written into it
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip().encode()


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
