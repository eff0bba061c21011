"""The answers held as arrays for the report's choice (`storage.answer_index`, `storage.choice`).

The choice used to read every answer row for each filter set; it now reads the store once and
then only what changed. These tests hold the arrays to the store: after any sequence of what
writers do (new answers, rectifications, erasures, and deletes and edits no writer announced),
the choice made over the arrays is the choice made from the rows themselves, for every filter.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, select, text, update

from storage import answer_index, choice, rights
from storage.results import Filters
from storage.schema import Answer, Subject
from tests.factories_store import BRAND, Seeded, seeded
from tests.pg import StoreBackend

SUBJECTS = ("alice", "bob", "carol")


def _moment(at: str | datetime) -> datetime:
    """A time as the store or the choice gives it, as an aware UTC datetime (SQLite's text and
    the choice's datetimes carry no offset: they are UTC)."""
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


STEPS = ("need", "frustration")
PURPOSE = {"need": "needs", "frustration": "frustrations"}


def reference(data: Seeded, filters: Filters) -> set[tuple[Any, ...]]:
    """The choice as the store's rows say it, worked out the plain way: per subject their
    latest response (time, then response id), in it per question the highest occurrence,
    then id."""
    rows = Answer.__table__
    statement = select(
        rows.c.id,
        rows.c.subject_id,
        rows.c.response_id,
        rows.c.step_id,
        rows.c.occurrence,
        rows.c.created_at,
    ).where(rows.c.flow_id == data.flow.id)
    if filters.since is not None:
        statement = statement.where(
            rows.c.created_at >= datetime.combine(filters.since, time(), UTC)
        )
    if filters.until is not None:
        end = datetime.combine(filters.until + timedelta(days=1), time(), UTC)
        statement = statement.where(rows.c.created_at < end)
    if filters.flow_version is not None:
        statement = statement.where(rows.c.flow_version == filters.flow_version)
    if filters.channel is not None:
        subjects = Subject.__table__
        statement = statement.join(subjects, subjects.c.subject_id == rows.c.subject_id).where(
            subjects.c.channel == filters.channel
        )
    with data.stores.brand(BRAND) as session:
        found = session.execute(statement).all()
    latest: dict[str, tuple[datetime, str]] = {}
    best: dict[tuple[str, str, str], Any] = {}
    for row in found:
        at = _moment(row.created_at)
        if row.subject_id not in latest or (at, row.response_id) > latest[row.subject_id]:
            latest[row.subject_id] = (at, row.response_id)
        key = (row.subject_id, row.response_id, row.step_id)
        if key not in best or (best[key].occurrence, best[key].id) < (row.occurrence, row.id):
            best[key] = row
    return {
        (r.id, r.subject_id, r.response_id, r.step_id, r.occurrence, _moment(r.created_at))
        for (subject, response, _), r in best.items()
        if latest[subject][1] == response
    }


def chosen(data: Seeded, filters: Filters) -> set[tuple[Any, ...]]:
    with data.stores.brand(BRAND) as session:
        rows = choice._choose(session, data.flow, filters)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # in order of answer id
    return {(*row[:5], _moment(row[5])) for row in rows}


def filter_sets() -> list[Filters]:
    today = datetime.now(UTC).date()
    return [
        Filters(),
        Filters(since=today),
        Filters(until=today - timedelta(days=1)),
        Filters(since=today - timedelta(days=3), until=today - timedelta(days=2)),
        Filters(channel="api"),
        Filters(channel="web"),
        Filters(flow_version=1),
        Filters(flow_version=2, since=date(2000, 1, 1)),
    ]


def agree(data: Seeded) -> None:
    for filters in filter_sets():
        assert chosen(data, filters) == reference(data, filters), filters


def answer(data: Seeded, subject: str, step: str, conversation: str) -> None:
    data.consent(subject, PURPOSE[step], "requested")
    data.consent(subject, PURPOSE[step])
    data.answer(subject, step, f"{subject} says {step} in {conversation}", conversation)


def raw(data: Seeded, pick: int, **values: Any) -> None:
    """Change or delete one answer row behind every writer's back (no `forget`)."""
    rows = cast(Table, Answer.__table__)
    with data.stores.brand(BRAND) as session:
        ids = sorted(session.scalars(select(rows.c.id)))
        if not ids:
            return
        target = ids[pick % len(ids)]
        if values:
            session.execute(update(rows).where(rows.c.id == target).values(**values))
        else:
            session.execute(rows.delete().where(rows.c.id == target))
        session.commit()


operation = st.one_of(
    st.tuples(
        st.just("answer"),
        st.sampled_from(SUBJECTS),
        st.sampled_from(STEPS),
        st.sampled_from(("c1", "c2", "c3")),
    ),
    st.tuples(st.just("rectify"), st.sampled_from(SUBJECTS), st.sampled_from(STEPS)),
    st.tuples(st.just("erase"), st.sampled_from(SUBJECTS)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("move"), st.integers(0, 50), st.integers(0, 4)),
    st.tuples(st.just("version"), st.integers(0, 50)),
)


def apply(data: Seeded, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "answer":
        answer(data, op[1], op[2], op[3])
    elif kind == "rectify":
        with data.stores.brand(BRAND) as session:
            try:
                rights.rectify(
                    session,
                    data.stores.keyring(BRAND),
                    subject_id=op[1],
                    step_id=op[2],
                    verbatim="changed",
                    value="changed",
                )
            except LookupError:
                return  # nothing of theirs to rectify
            session.commit()
    elif kind == "erase":
        with data.stores.brand(BRAND) as session:
            rights.erase_subject(session, data.stores.keyring(BRAND), subject_id=op[1])
            session.commit()
    elif kind == "delete":
        raw(data, op[1])
    elif kind == "move":  # a writer that changed a chosen column, as any change does
        moment = datetime.now(UTC) - timedelta(days=op[2], hours=1)
        raw(data, op[1], created_at=moment, updated_at=datetime.now(UTC))
    else:
        raw(data, op[1], flow_version=2, updated_at=datetime.now(UTC))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=8))
def test_the_choice_over_the_arrays_is_the_choice_over_the_rows(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[Any, ...]]
) -> None:
    data = seeded(tmp_path_factory.mktemp("index"))
    try:
        agree(data)
        for op in ops:
            apply(data, op)
            agree(data)
    finally:
        data.stores.dispose()


def test_every_transition_on_both_stores(tmp_path: Path, store_backend: StoreBackend) -> None:
    """One long walk of every kind of change, on SQLite and PostgreSQL, checked at each step."""
    data = seeded(tmp_path, store_backend.stores())
    agree(data)
    walk = [
        ("answer", "carol", "need", "c1"),
        ("answer", "alice", "need", "c2"),
        ("move", 0, 3),
        ("answer", "alice", "frustration", "c2"),
        ("rectify", "bob", "need"),
        ("version", 1),
        ("answer", "bob", "need", "c1"),
        ("delete", 2),
        ("answer", "carol", "frustration", "c3"),
        ("erase", "alice"),
        ("answer", "alice", "need", "c4"),
        ("move", 5, 2),
    ]
    for op in walk:
        apply(data, op)
        agree(data)


def test_new_answers_are_read_alone_and_a_delete_reads_everything(tmp_path: Path) -> None:
    """After the first read only what changed is read (the codes carry over); rows gone from
    the store make it read everything again (nothing erased may stay in the arrays)."""
    data = seeded(tmp_path)
    with data.stores.brand(BRAND) as session:
        first = answer_index.current(session)
    answer(data, "carol", "need", "c1")
    with data.stores.brand(BRAND) as session:
        second = answer_index.current(session)
    assert second is not first
    assert second.subjects is first.subjects
    assert "carol" in second.subjects.of
    assert "carol" not in first.subjects.values[:2]
    assert len(second.columns.ids) == len(first.columns.ids) + 1
    with data.stores.brand(BRAND) as session:
        rights.erase_subject(session, data.stores.keyring(BRAND), subject_id="carol")
        session.commit()
    with data.stores.brand(BRAND) as session:
        third = answer_index.current(session)
    assert third.subjects is not second.subjects  # read whole
    assert "carol" not in third.subjects.of  # not even as a code
    agree(data)


def test_an_index_given_out_is_never_changed(tmp_path: Path) -> None:
    """A report keeps reading the index it was given while another brings the store's up to
    date: an edited row makes new arrays, never edits the held ones."""
    data = seeded(tmp_path)
    with data.stores.brand(BRAND) as session:
        held = answer_index.current(session)
    before = {name: getattr(held.columns, name).copy() for name in answer_index._NAMES}
    raw(data, 0, created_at=datetime(2020, 1, 1, tzinfo=UTC), updated_at=datetime.now(UTC))
    with data.stores.brand(BRAND) as session:
        assert answer_index.current(session) is not held
        session.execute(text("select 1"))
    for name, column in before.items():
        assert (getattr(held.columns, name) == column).all(), name
    by_step: dict[str, int] = defaultdict(int)
    for row in chosen(data, Filters(until=date(2020, 1, 1))):
        by_step[row[3]] += 1
    assert sum(by_step.values()) == 1


def test_an_erasure_leaves_no_id_of_the_subject_in_memory(tmp_path: Path) -> None:
    """The arrays and the kept choices name every respondent; an erasure drops them at once,
    not at the next report (which would read the store again anyway)."""
    data = seeded(tmp_path)
    answer(data, "carol", "need", "c1")
    keyring = data.stores.keyring(BRAND)
    with data.stores.brand(BRAND) as session:
        choice.chosen(session, keyring, data.flow, Filters())
        choice.chosen(session, keyring, data.flow, Filters(channel="api"))
        engine = session.get_bind()
    assert "carol" in answer_index._indexes[engine].subjects.of

    def held() -> str:
        index = answer_index._indexes.get(engine)
        kept = choice._choices.get(data.stores, {})
        return repr((index.subjects.values if index else None, kept))

    assert "carol" in held()
    with data.stores.brand(BRAND) as session:
        rights.erase_subject(session, keyring, subject_id="carol")
        session.commit()
    assert "carol" not in held()
    assert "alice" not in held()  # dropped whole: read again at the next report
    agree(data)
