"""Kept segment facts (`storage.subject_facts`): what the answers say, sealed, and gone with them.

The dashboard reads each subject's answer facts from one sealed row instead of decrypting every
answer. These tests hold it to what it replaces and to the privacy rules: a kept row equals
what the answers say now (a changed answer is read again), it is never in clear on disk, and
erasure, withdrawal, rectification and retention delete it in the same transaction as the
answers it came from, down to the bytes once the store is reclaimed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from actions.consent_context import consent_context
from storage import rights, subject_facts
from storage.subject_facts import SubjectFacts
from tests.factories_store import BRAND, Seeded, seeded
from tests.pg import StoreBackend


def kept_rows(data: Seeded, session: Any | None = None) -> dict[str, str]:
    def read(s: Any) -> dict[str, str]:
        return dict(s.execute(select(SubjectFacts.subject_id, SubjectFacts.facts_enc)).all())

    if session is not None:
        return read(session)
    with data.stores.brand(BRAND) as s:
        return read(s)


def load(data: Seeded, subjects: set[str], part: str = "facts") -> dict[str, dict[Any, Any]]:
    with data.stores.brand(BRAND) as session:
        return subject_facts.load(session, data.stores.keyring(BRAND), subjects, part)


def live(data: Seeded, subjects: set[str], part: str = "facts") -> dict[str, dict[Any, Any]]:
    """The facts (or values) worked out from the answers now, without anything kept."""
    with data.stores.brand(BRAND) as session:
        keyring = data.stores.keyring(BRAND)
        facts = subject_facts.answer_facts(session, keyring, sorted(subjects))
        if part == "values":
            return {s: f["values"] for s, _, f in facts}
        return {s: {"answers": f["answers"], "words": f["words"]} for s, _, f in facts}


def test_kept_facts_are_what_the_answers_say(tmp_path: Path, store_backend: StoreBackend) -> None:
    data = seeded(tmp_path, store_backend.stores())
    everyone = {"alice", "bob"}
    built = load(data, everyone)
    assert set(kept_rows(data)) == everyone
    again = load(data, everyone)  # read from the kept rows this time
    assert again == built == live(data, everyone)
    assert load(data, everyone, "values") == live(data, everyone, "values")
    assert sorted(load(data, {"bob"}, "values")["bob"].values()) == [
        "no stock in my size",
        "trail shoes",
    ]
    assert again["alice"]["answers"] == {
        "need": "a rain jacket",
        "frustration": "queues at the till",
    }
    assert {"queue", "till", "rain", "jacket"} <= again["alice"]["words"]


def test_a_changed_answer_is_read_again(tmp_path: Path, store_backend: StoreBackend) -> None:
    data = seeded(tmp_path, store_backend.stores())
    load(data, {"alice"})
    before = kept_rows(data)["alice"]
    # A later answer written by any code path (no one tells the kept row): its stamp no longer
    # matches the answers, so it is rebuilt rather than trusted.
    data.answer("alice", "need", "a head torch", conversation="c2")
    facts = load(data, {"alice"})
    assert facts["alice"]["answers"]["need"] == "a head torch"
    assert "torch" in facts["alice"]["words"]
    assert kept_rows(data)["alice"] != before
    assert load(data, {"alice"}) == live(data, {"alice"})
    assert "a head torch" in load(data, {"alice"}, "values")["alice"].values()


def test_facts_are_sealed_on_disk(tmp_path: Path, store_backend: StoreBackend) -> None:
    data = seeded(tmp_path, store_backend.stores())
    load(data, {"alice", "bob"})
    data.stores.dispose()
    raw = store_backend.raw_brand_data(BRAND)
    for words in (b"rain jacket", b"queues at the till", b"trail shoes", b'"queue"', b'"till"'):
        assert words not in raw


def test_withdrawal_deletes_the_kept_facts_with_the_answers(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    load(data, {"alice", "bob"})
    ctx = consent_context(
        data.flow, "frustrations", step_id="consent_frustrations", channel="api", method="button"
    )
    with data.stores.brand(BRAND) as session:
        rights.withdraw(
            session,
            subject_id="alice",
            purpose="frustrations",
            ctx=ctx,
            keyring=data.stores.keyring(BRAND),
        )
        assert set(kept_rows(data, session)) == {"bob"}  # in the withdrawal's transaction
        session.commit()
    facts = load(data, {"alice"})["alice"]
    assert facts["answers"] == {"need": "a rain jacket"}
    assert not {"queue", "till"} & facts["words"]


def test_rectification_deletes_the_kept_facts(tmp_path: Path, store_backend: StoreBackend) -> None:
    data = seeded(tmp_path, store_backend.stores())
    load(data, {"alice", "bob"})
    with data.stores.brand(BRAND) as session:
        changed = rights.rectify(
            session,
            data.stores.keyring(BRAND),
            subject_id="bob",
            step_id="need",
            verbatim="a sleeping bag",
            value="a sleeping bag",
        )
        assert changed is not None
        assert set(kept_rows(data, session)) == {"alice"}  # the old value goes at once
        session.commit()
    facts = load(data, {"bob"})["bob"]
    assert facts["answers"]["need"] == "a sleeping bag"
    assert "shoe" not in facts["words"]


def test_retention_deletes_the_kept_facts_it_purges_from(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    load(data, {"alice", "bob"})
    contexts = {
        p: consent_context(data.flow, p, step_id=f"consent_{p}", channel="api", method="button")
        for p in data.flow.purposes
    }
    with data.stores.brand(BRAND) as session:
        rights.purge(
            session,
            retention_days={"frustrations": 1},
            contexts=contexts,
            now=datetime.now(UTC) + timedelta(days=2),
        )
        assert kept_rows(data, session) == {}
        session.commit()
    assert load(data, {"alice", "bob"}) == live(data, {"alice", "bob"})
    assert not {"queue", "till"} & load(data, {"alice"})["alice"]["words"]


def test_erasure_leaves_no_kept_facts_on_disk(tmp_path: Path, store_backend: StoreBackend) -> None:
    data = seeded(tmp_path, store_backend.stores())
    load(data, {"alice", "bob"})
    sealed = kept_rows(data)["alice"].partition(":")[2]
    with data.stores.brand(BRAND) as session:
        rights.erase_subject(session, data.stores.keyring(BRAND), subject_id="alice")
        assert set(kept_rows(data, session)) == {"bob"}
        session.commit()
    rights.reclaim(data.stores, BRAND)
    data.stores.dispose()
    raw = store_backend.raw_brand_data(BRAND)
    # Not even the ciphertext (which the shredded key could no longer open anyway).
    assert sealed[:40].encode() not in raw
    assert load(data, {"alice"}) == load(data, {"alice"}, "values") == {}


def test_an_answer_changed_in_place_is_read_again(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    # Joining more words keeps the answer's id (the stamp alone would not see it): the writer
    # deletes the kept row itself.
    from storage import records

    data = seeded(tmp_path, store_backend.stores())
    load(data, {"alice", "bob"})
    with data.stores.brand(BRAND) as session:
        joined = records.join_answer(
            session,
            data.stores.keyring(BRAND),
            subject_id="alice",
            conversation_id=f"{BRAND}:api:alice:c1",
            response_id="",
            step_id="need",
            purpose="needs",
            text="and a map case",
        )
        assert joined is not None
        assert set(kept_rows(data, session)) == {"bob"}
        session.commit()
    facts = load(data, {"alice"})["alice"]
    assert facts["answers"]["need"] == "a rain jacket and a map case"
    assert "map" in facts["words"]
    assert "a rain jacket and a map case" in load(data, {"alice"}, "values")["alice"].values()


def test_results_read_values_from_the_kept_facts(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    # `results.load` on either database: the driver's rows, and values from the kept rows
    # equal to the answers' own, a second response superseding the first.
    from storage import records, results

    data = seeded(tmp_path, store_backend.stores())
    data.answer("bob", "need", "a head torch", conversation="c2")
    keyring = data.stores.keyring(BRAND)
    for _ in range(2):  # built, then read from the kept rows
        with data.stores.brand(BRAND) as session:
            said = results.load(session, keyring, data.flow, results.Filters())
            views = {
                v.id: v
                for s in ("alice", "bob")
                for v in records.answers_of(session, keyring, subject_id=s)
            }
        assert {(s.subject_id, s.step_id, s.value) for s in said} == {
            ("alice", "need", "a rain jacket"),
            ("alice", "frustration", "queues at the till"),
            ("bob", "need", "a head torch"),
        }
        assert all(
            views[s.id].value == s.value
            and views[s.id].created_at.replace(tzinfo=None) == s.at.replace(tzinfo=None)
            for s in said
        )
    with data.stores.brand(BRAND) as session:
        later = results.Filters(since=datetime.now(UTC).date() + timedelta(days=1))
        assert results.load(session, keyring, data.flow, later) == []
        bob = results.load(session, keyring, data.flow, results.Filters(), members={"bob"})
    assert {s.subject_id for s in bob} == {"bob"}


def test_documents_kept_in_memory_follow_a_rewritten_row(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    # A report keeps what it decrypted in memory for the next one. A rectification keeps the
    # answers' ids (same stamp) and the row is rebuilt by another reader: the memory must follow
    # the row, never hand back the value it replaced; an erased subject leaves the memory.
    data = seeded(tmp_path, store_backend.stores())
    everyone = {"alice", "bob"}
    for _ in range(3):  # built; read and decrypted; read from memory
        assert load(data, everyone) == live(data, everyone)
        assert load(data, everyone, "values") == live(data, everyone, "values")
    with data.stores.brand(BRAND) as session:
        rights.rectify(
            session,
            data.stores.keyring(BRAND),
            subject_id="bob",
            step_id="need",
            verbatim="a sleeping bag",
            value="a sleeping bag",
        )
        session.commit()
    for _ in range(3):  # rebuilt with the same stamp; read; from memory
        assert load(data, everyone)["bob"]["answers"]["need"] == "a sleeping bag"
        assert "a sleeping bag" in load(data, everyone, "values")["bob"].values()
        assert load(data, everyone) == live(data, everyone)
    with data.stores.brand(BRAND) as session:
        rights.erase_subject(session, data.stores.keyring(BRAND), subject_id="bob")
        session.commit()
    assert set(load(data, everyone)) == set(load(data, everyone, "values")) == {"alice"}
    assert all("bob" not in memo for memo in subject_facts._memos[data.stores].values())


def in_memory(data: Seeded) -> set[str]:
    return {s for memo in subject_facts._memos.get(data.stores, {}).values() for s in memo}


def test_an_erased_subject_leaves_memory_at_the_erasure_not_at_the_next_report(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    everyone = {"alice", "bob"}
    for _ in range(2):  # decrypted, then kept in memory
        load(data, everyone)
        load(data, everyone, "values")
    assert in_memory(data) == everyone
    with data.stores.brand(BRAND) as session:
        rights.erase_subject(session, data.stores.keyring(BRAND), subject_id="bob")
        session.commit()
    assert in_memory(data) == {"alice"}, "no report ran: the erasure itself dropped bob"
    contexts = {
        p: consent_context(data.flow, p, step_id=f"consent_{p}", channel="api", method="button")
        for p in data.flow.purposes
    }
    with data.stores.brand(BRAND) as session:  # a retention purge that takes alice's answers
        rights.purge(
            session,
            retention_days=dict.fromkeys(data.flow.purposes, 1),
            contexts=contexts,
            now=datetime.now(UTC) + timedelta(days=2),
        )
        session.commit()
    assert in_memory(data) == set()


def test_results_follow_the_answers_after_a_kept_choice(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    # The choice of each respondent's answers is kept in the process while the answers table is
    # unchanged (`choice.chosen`): a new response, a rectification and an erasure after it
    # must all show in the next load, as the answers say.
    from storage import results

    data = seeded(tmp_path, store_backend.stores())
    keyring = data.stores.keyring(BRAND)

    def said() -> set[tuple[str, str, Any]]:
        with data.stores.brand(BRAND) as session:
            rows = results.load(session, keyring, data.flow, results.Filters())
        return {(s.subject_id, s.step_id, s.value) for s in rows}

    first = said()
    assert said() == first  # kept
    data.answer("bob", "need", "a head torch", conversation="c2")
    assert ("bob", "need", "a head torch") in said()
    with data.stores.brand(BRAND) as session:
        rights.rectify(
            session, keyring, subject_id="alice", step_id="need", verbatim="a map", value="a map"
        )
        session.commit()
    assert ("alice", "need", "a map") in said()
    with data.stores.brand(BRAND) as session:
        rights.erase_subject(session, keyring, subject_id="bob")
        session.commit()
    assert {s for s, _, _ in said()} == {"alice"}


def test_an_answer_deleted_behind_the_kept_stamps_is_not_counted(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    """Values kept in memory (`_memo`) are checked against the store's stamps on every read:
    a delete no writer announced (no `forget`) must not leave the deleted answer's value in
    what the next report counts."""
    from sqlalchemy import delete

    from storage.schema import Answer

    data = seeded(tmp_path, store_backend.stores())
    values = load(data, {"bob"}, "values")["bob"]
    assert len(values) == 2
    gone = min(values)
    with data.stores.brand(BRAND) as session:
        session.execute(delete(Answer).where(Answer.id == gone))
        session.commit()
    assert gone not in load(data, {"bob"}, "values")["bob"]
    assert load(data, {"bob"}, "values") == live(data, {"bob"}, "values")
