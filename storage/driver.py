"""Rows straight from the database driver, for the few readers that go through every row of
a large table (the export, the ledger's fingerprints): plain tuples, streamed.

Building a SQLAlchemy row for each of a million rows costs as much as reading it, and these
readers need neither the row objects nor any type conversion (what they read is text and
integers, or they convert it themselves). The query's values are written into it as literals,
so they must be checked values: numbers, dates, fixed names. On PostgreSQL the cursor is a
server-side one, so rows arrive a batch at a time instead of all at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session


def rows(session: Session, query: Select[Any], batch: int) -> Iterator[list[tuple[Any, ...]]]:
    """`query`'s rows, `batch` at a time, on the session's connection (and transaction)."""
    connection = session.connection()
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    driver: Any = connection.connection.dbapi_connection
    postgres = connection.dialect.name == "postgresql"
    cursor = driver.cursor(name="candor_rows") if postgres else driver.cursor()
    try:
        cursor.execute(sql)
        while found := cursor.fetchmany(batch):
            yield found
    finally:
        cursor.close()
