"""One writer at a time per SQLite file, handed over in-process instead of by SQLite's polling.

SQLite lets one transaction write at a time. A second writer gets `SQLITE_BUSY` and its busy
handler sleeps and retries, backing off 1, 2, 5, 10, 15, 20, 25... ms. With several turns in
the gateway's thread pool at once, a turn often found the store mid-write and slept well past
the moment the other transaction committed: py-spy showed a tenth of the gateway's samples in
`sqlite3InvokeBusyHandler` at concurrency 8, and those naps were the people-paced p99.

Here each engine gets a lock that a connection takes just before its first write statement and
gives back right after its commit or rollback, so a waiting turn starts the moment the other
one ends. Nothing changes across processes (the CLI, the engine's tracker store): SQLite's own
lock and busy handler still decide there, as before. A thread that already holds the lock
through another connection to the same file never waits on it again (SQLite's busy timeout
decides, as it did), and a wait longer than SQLite's own timeout gives up and lets SQLite
report the busy store the usual way, so this never turns an error into a hang.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class WriterLock:
    """The in-process writer lock of one SQLite file, with the thread that holds it."""

    def __init__(self, timeout_s: float) -> None:
        self._lock = threading.Lock()
        self._timeout_s = timeout_s
        self.owner: int | None = None

    def take(self) -> bool:
        """Wait for the lock; False when it was not taken (held by this thread, or timed out)."""
        me = threading.get_ident()
        if self.owner == me:
            return False
        if not self._lock.acquire(timeout=self._timeout_s):
            return False
        self.owner = me
        return True

    def give_back(self) -> None:
        self.owner = None
        self._lock.release()


class LockedConnection(sqlite3.Connection):
    """A sqlite3 connection that gives the writer lock back once its transaction has ended."""

    writer: WriterLock | None = None
    holding: bool = False

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def _release(self) -> None:
        if self.holding and self.writer is not None:
            self.holding = False
            self.writer.give_back()


def connect_args(timeout_s: float) -> dict[str, Any]:
    """What `create_engine` passes to `sqlite3.connect` for a connection `install` can lock."""
    return {"timeout": timeout_s, "factory": LockedConnection}


def install(engine: Engine, timeout_s: float) -> WriterLock:
    """Give `engine`'s connections (made with `connect_args`) one shared writer lock."""
    writer = WriterLock(timeout_s)

    @event.listens_for(engine, "connect")
    def _attach(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        if isinstance(dbapi_conn, LockedConnection):
            dbapi_conn.writer = writer

    @event.listens_for(engine, "before_cursor_execute")
    def _take_before_writing(
        _conn: Any,
        cursor: DBAPICursor,
        statement: str,
        _params: Any,
        _context: ExecutionContext | None,
        _many: bool,
    ) -> None:
        dbapi_conn = getattr(cursor, "connection", None)
        if not isinstance(dbapi_conn, LockedConnection) or dbapi_conn.holding:
            return
        if statement.lstrip()[:7].upper().startswith(_WRITES) and writer.take():
            dbapi_conn.holding = True

    return writer
