"""How an export cuts the store into batches for its worker processes: every answer in force
exactly once, in order, and (responses layout) never a response split between two batches,
even one longer than a batch. What is decided per subject (consent, channel, segment, an
erased key) leaves out exactly their answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import export_reading, exports, results
from tests.factories_store import BRAND, Seeded, seeded


@pytest.fixture
def data(tmp_path: Path) -> Seeded:
    """alice and bob (tests/factories_store.py), then three surveys of carol's with four, one
    and three answers, and a fourth answer of alice's in her first response."""
    data = seeded(tmp_path)
    data.consent("carol", "needs", "requested")
    data.consent("carol", "needs")
    for conversation, steps in (
        ("c1", ("activity", "need", "need_running", "priorities")),
        ("c2", ("need",)),
        ("c3", ("activity", "need", "priorities")),
    ):
        for step in steps:
            data.answer("carol", step, f"{conversation} {step}", conversation=conversation)
    data.answer("alice", "activity", "running")
    return data


def everything(data: Seeded) -> list[exports.Row]:
    with data.stores.brand(BRAND) as session:
        return list(exports.read(session, data.stores.keyring(BRAND), batch=10_000))


def cut(data: Seeded, size: int, **options: object) -> list[list[exports.Row]]:
    keyring = data.stores.keyring(BRAND)
    with data.stores.brand(BRAND) as session:
        found = exports.batches(session, keyring, size=size, **options)  # type: ignore[arg-type]
        return [exports.decrypted(BRAND, batch) for batch in found]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_answers_come_once_each_in_order_whatever_the_batch_size(data: Seeded, size: int) -> None:
    whole = everything(data)
    assert len(whole) == 13
    parts = cut(data, size)
    assert [row for part in parts for row in part] == whole
    assert all(len(part) <= size for part in parts)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_a_response_is_never_split_between_batches(data: Seeded, size: int) -> None:
    parts = cut(data, size, by_response=True)
    rows = [row for part in parts for row in part]
    assert sorted(rows) == sorted(everything(data))
    seen: dict[tuple[str, str], int] = {}
    for n, part in enumerate(parts):
        for row in part:
            assert seen.setdefault((row.subject_id, row.response_id), n) == n, (size, row)
    # The responses layout groups what one batch holds into its rows.
    assert len(seen) == sum(len(list(exports.responses(part))) for part in parts)


def test_a_response_longer_than_a_batch_stays_whole() -> None:
    rows = [("a", "c", "r1")] * 2 + [("b", "c", "r1")] * 5 + [("b", "c", "r2")] * 2
    assert export_reading._response_end(rows, 3) == 2  # before b's first response starts
    assert export_reading._response_end(rows[2:], 3) == 5  # b's first response, longer than 3
    assert export_reading._response_end(rows[2:7], 3) == 0  # all one response: read on


def test_what_is_decided_per_subject_leaves_out_only_their_answers(data: Seeded) -> None:
    whole = everything(data)
    only_bob = [r for part in cut(data, 2, members={"bob", "nobody"}) for r in part]
    assert only_bob == [r for r in whole if r.subject_id == "bob"]
    on_web = [r for part in cut(data, 2, filters=results.Filters(channel="web")) for r in part]
    assert on_web == []  # the seeded subjects are all on the api channel
    data.stores.keyring(BRAND).shred("carol")  # as if erased while the export was running
    kept = [r for part in cut(data, 2) for r in part]
    assert kept == [r for r in whole if r.subject_id != "carol"]
