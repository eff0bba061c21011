"""`Keyring.preload`: many subjects' keys in one read, the same keys, and erasure still shreds."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import records, rights
from storage.crypto import KeyShredded
from tests.factories_store import BRAND, seeded
from tests.pg import StoreBackend


def test_preloaded_keys_decrypt_the_same_and_erased_subjects_stay_shredded(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    stores = data.stores
    with stores.brand(BRAND) as session:
        rights.erase_subject(session, stores.keyring(BRAND), subject_id="bob")
        session.commit()
        rows = records.answer_rows(session, subject_id="alice")

    one_by_one = [records.view(row, stores.keyring(BRAND)).verbatim for row in rows]
    everyone = stores.keyring(BRAND)
    assert everyone.preload() == 1  # only alice still has a key
    assert [records.view(row, everyone).verbatim for row in rows] == one_by_one
    assert one_by_one == ["a rain jacket", "queues at the till"]

    chosen = stores.keyring(BRAND)
    assert chosen.preload(["alice", "bob", "nobody"]) == 1
    assert chosen.preload([]) == 1  # nothing more to read
    with pytest.raises(KeyShredded):
        chosen.data_key("bob", create=False)
