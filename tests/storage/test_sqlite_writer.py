"""The in-process writer lock of a SQLite store (storage/sqlite_writer.py).

A second writer in the same process must wait for the first one's commit on the lock, not in
SQLite's busy handler: here SQLite's own timeout is 50 ms, so a writer that reached SQLite
while another transaction was open would fail with "database is locked"; with the lock it
waits and then writes. The lock must come back after a commit, a rollback and a connection
handed back to the pool, and a thread never waits on a lock it already holds.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from storage import sqlite_writer
from storage.backends import sqlite_engine

SQLITE_BUSY_S = 0.05


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    made = create_engine(
        f"sqlite:///{tmp_path / 'store.db'}",
        connect_args=sqlite_writer.connect_args(SQLITE_BUSY_S),
    )
    sqlite_writer.install(made, 30.0)
    with made.begin() as conn:
        conn.execute(text("PRAGMA journal_mode=WAL"))
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    return made


def _rows(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [n for (n,) in conn.execute(text("SELECT n FROM t ORDER BY n"))]


def test_a_second_writer_waits_for_the_first_commit_instead_of_failing(engine: Engine) -> None:
    first_wrote, second_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        first_wrote.wait()
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (2)"))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        second_done.set()

    worker = threading.Thread(target=second)
    worker.start()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        first_wrote.set()
        # Far longer than SQLite's own 50 ms: without the lock the second writer fails here.
        assert not second_done.wait(0.5)
    worker.join(10)
    assert not worker.is_alive()
    assert errors == []
    assert _rows(engine) == [1, 2]


@pytest.mark.parametrize("ending", ["commit", "rollback", "returned"])
def test_the_lock_comes_back_when_the_transaction_ends(engine: Engine, ending: str) -> None:
    conn = engine.connect()
    conn.execute(text("INSERT INTO t VALUES (1)"))
    if ending == "commit":
        conn.commit()
    elif ending == "rollback":
        conn.rollback()
    conn.close()  # "returned": the pool rolls the open transaction back
    done = threading.Event()

    def write() -> None:
        with engine.begin() as other:
            other.execute(text("INSERT INTO t VALUES (2)"))
        done.set()

    worker = threading.Thread(target=write)
    worker.start()
    worker.join(10)
    assert done.is_set()
    assert _rows(engine) == ([1, 2] if ending == "commit" else [2])


def test_reads_never_take_the_lock(engine: Engine) -> None:
    with engine.connect() as writer:
        writer.execute(text("INSERT INTO t VALUES (1)"))
        # Another thread can still read while a write transaction is open (WAL).
        seen: list[list[int]] = []
        reader = threading.Thread(target=lambda: seen.append(_rows(engine)))
        reader.start()
        reader.join(10)
        assert seen == [[]]
        writer.commit()


def test_a_thread_never_waits_on_the_lock_it_holds() -> None:
    lock = sqlite_writer.WriterLock(timeout_s=3600)
    result: list[bool] = []

    def twice() -> None:
        result.append(lock.take())
        result.append(lock.take())  # would wait an hour if it waited on itself
        lock.give_back()

    worker = threading.Thread(target=twice)
    worker.start()
    worker.join(10)
    assert not worker.is_alive()
    assert result == [True, False]
    assert lock.take()  # given back


def test_a_nested_write_in_one_thread_is_left_to_sqlite(engine: Engine) -> None:
    """The same thread writing through a second connection gets SQLite's busy error, as
    before the lock, instead of waiting on itself."""
    with engine.connect() as outer:
        outer.execute(text("INSERT INTO t VALUES (1)"))
        with engine.connect() as inner, pytest.raises(OperationalError, match="locked"):
            inner.execute(text("INSERT INTO t VALUES (2)"))
        outer.commit()
    assert _rows(engine) == [1]


def test_store_engines_use_the_lock(tmp_path: Path) -> None:
    made = sqlite_engine(tmp_path / "brand.db")
    with made.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite_writer.LockedConnection)
        assert isinstance(raw, sqlite3.Connection)
        assert raw.writer is not None
