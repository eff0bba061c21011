"""A keyring sets each subject's key up for AES-GCM once; shredding the key drops that too."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import records
from storage.crypto import CryptoError, KeyShredded, open_sealed, open_with
from tests.factories_store import BRAND, seeded


def test_a_shredded_key_stops_decryption_in_the_same_keyring(tmp_path: Path) -> None:
    data = seeded(tmp_path)
    keyring = data.stores.keyring(BRAND)
    with data.stores.brand(BRAND) as session:
        rows = records.answer_rows(session, subject_id="alice")
    assert [records.view(r, keyring).verbatim for r in rows] == [
        "a rain jacket",
        "queues at the till",
    ]
    assert keyring.shred("alice")
    with pytest.raises(KeyShredded):
        records.view(rows[0], keyring)


def test_open_with_reads_what_open_sealed_reads_and_checks_the_context(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from storage.crypto import new_data_key, seal

    key = new_data_key()
    token = seal(key, b"trail shoes", b"ctx")
    assert open_with(AESGCM(key), token, b"ctx") == open_sealed(key, token, b"ctx")
    with pytest.raises(CryptoError):
        open_with(AESGCM(key), token, b"another answer's context")
    with pytest.raises(CryptoError):
        open_with(AESGCM(key), "v0:" + token[3:], b"ctx")
