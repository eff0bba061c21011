"""Verbatims are encrypted at rest, erasure shreds the key, and keys rotate."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import records, rights
from storage.crypto import CryptoError, KeyShredded, MasterKeys
from storage.schema import Answer, SubjectKey
from tests.factories_store import BRAND, seeded
from tests.pg import StoreBackend


def test_verbatims_are_not_in_the_database_file_in_clear(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    data.stores.dispose()
    raw = store_backend.raw_brand_data(BRAND)
    assert b"rain jacket" not in raw
    assert b"queues at the till" not in raw
    with data.stores.brand(BRAND) as session:
        views = records.answers_of(session, data.stores.keyring(BRAND), subject_id="alice")
    assert [v.verbatim for v in views] == ["a rain jacket", "queues at the till"]


def test_a_backup_taken_before_erasure_cannot_be_read_for_that_subject(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    data.stores.dispose()
    engine = store_backend.backup(BRAND, tmp_path / "backup.db")

    with data.stores.brand(BRAND) as session:
        rights.erase_subject(session, data.stores.keyring(BRAND), subject_id="alice")
        session.commit()

    with Session(engine) as old:
        alice = old.scalars(select(Answer).where(Answer.subject_id == "alice")).all()
        bob = old.scalars(select(Answer).where(Answer.subject_id == "bob")).all()
        assert len(alice) == 2
        for row in alice:
            with pytest.raises(KeyShredded):
                records.view(row, data.stores.keyring(BRAND))
        assert records.view(bob[0], data.stores.keyring(BRAND)).verbatim == "trail shoes"
    engine.dispose()


def test_the_key_store_is_a_separate_file(tmp_path: Path, store_backend: StoreBackend) -> None:
    data = seeded(tmp_path, store_backend.stores())
    assert data.stores.key_location(BRAND) != data.stores.brand_location(BRAND)
    with data.stores.keys(BRAND) as session:
        assert {k.subject_id for k in session.scalars(select(SubjectKey))} == {"alice", "bob"}


def test_rotation_rewraps_every_key_and_keeps_data_readable(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    with data.stores.keys(BRAND) as session:
        before = {k.subject_id: k.wrapped_key for k in session.scalars(select(SubjectKey))}
    version, count = data.stores.keyring(BRAND).rotate()
    assert (version, count) == (2, 2)
    with data.stores.keys(BRAND) as session:
        after = {
            k.subject_id: (k.wrapped_key, k.master_version)
            for k in session.scalars(select(SubjectKey))
        }
    assert all(after[s][0] != before[s] and after[s][1] == 2 for s in before)
    with data.stores.brand(BRAND) as session:
        views = records.answers_of(session, data.stores.keyring(BRAND), subject_id="bob")
    assert views[0].verbatim == "trail shoes"


def test_configured_master_keys_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        MasterKeys.parse(b"s", '{"b": ["c2hvcnQ="]}')
    with pytest.raises(ValueError, match="JSON"):
        MasterKeys.parse(b"s", "not json")


def test_wrong_master_key_cannot_unwrap(tmp_path: Path, store_backend: StoreBackend) -> None:
    data = seeded(tmp_path, store_backend.stores())
    other = store_backend.stores(master=MasterKeys(b"another installation secret"))
    with other.brand(BRAND) as session:
        row = session.scalars(select(Answer)).first()
        assert row is not None
        with pytest.raises(CryptoError, match="does not match its key"):
            records.view(row, other.keyring(BRAND))
    other.dispose()
    data.stores.dispose()
