"""Where stores live: SQLite files (the embedded default) or PostgreSQL schemas (at scale).

SQLite: `registry.db`, `brands/<brand>.db` and `keys/<brand>.keys.db` under the data directory,
plus Rasa's `rasa_tracker.db`.

PostgreSQL (`CANDOR_DATABASE_URL`): one database, one schema per store.

| Store | Schema | Owner role (NOLOGIN) |
|---|---|---|
| shared registry | `candor_registry` | `candor_registry` |
| a brand's data | `brand_<slug with - as _>` | `brand_<slug>` |
| a brand's keys | `brand_<slug>_keys` | `brand_<slug>` |
| Rasa's trackers | `candor_tracker` | the login role (Rasa connects as it) |

Every connection of a brand's engine runs `SET ROLE brand_<slug>` and
`SET search_path TO brand_<slug>` before it is used, so a query on brand A's connection runs
with brand A's privileges only: schema B (and the registry) are not readable from it, whatever
the query names. The login role creates the roles and schemas and is a member of every brand
role; it never touches brand data itself. An optional prefix (`CANDOR_SCHEMA_PREFIX`) goes in
front of every schema and role name, so several installations (or test runs) can share one
database.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError
from sqlalchemy.orm import Session

_PREFIX = re.compile(r"^(?!pg_)[a-z][a-z0-9_]{0,19}$")
_MAX_IDENT = 63  # PostgreSQL truncates longer identifiers silently; never let it
_LOCK_PROVISION = 0x43414E44  # "CAND": serialises role and schema creation across replicas
log = logging.getLogger("candor.storage")


class StoreUnavailable(RuntimeError):
    """The database cannot be reached; the message names it without its password."""


def safe_url(url: str | URL) -> str:
    """A database or Redis URL fit for messages and logs: the password is replaced by ***."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        pass
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def postgres_url(raw: str | URL) -> URL:
    """Parse `CANDOR_DATABASE_URL`: a PostgreSQL URL, driven by psycopg 3."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError(
            "CANDOR_DATABASE_URL is not a database URL; write it like "
            "postgresql+psycopg://user:password@host:5432/dbname"
        ) from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(
            f"CANDOR_DATABASE_URL must point at PostgreSQL (got {url.get_backend_name()!r}); "
            "leave it unset to keep the embedded SQLite files"
        )
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if not url.database:
        raise ValueError("CANDOR_DATABASE_URL names no database; add /dbname at its end")
    return url


def check_prefix(prefix: str) -> str:
    if prefix and not _PREFIX.match(prefix):
        raise ValueError(
            "CANDOR_SCHEMA_PREFIX must be lowercase letters, digits and _, start with a "
            "letter, not start with pg_, and be at most 20 characters (e.g. 'staging_')"
        )
    return prefix


def _ident(name: str) -> str:
    """A quoted identifier; names are built from validated slugs and prefixes only."""
    if not re.fullmatch(r"[a-z0-9_]{1,63}", name):
        raise ValueError(f"not a safe identifier: {name!r}")
    return f'"{name}"'


@dataclass(frozen=True)
class Names:
    """Schema and role names in PostgreSQL for one installation (prefix)."""

    prefix: str = ""

    @property
    def registry(self) -> str:
        return f"{self.prefix}candor_registry"

    @property
    def tracker(self) -> str:
        return f"{self.prefix}candor_tracker"

    def brand(self, slug: str) -> str:
        base = f"{self.prefix}brand_{slug.replace('-', '_')}"
        if len(base) + len("_keys") > _MAX_IDENT:
            digest = hashlib.sha256(slug.encode()).hexdigest()[:8]
            base = f"{base[: _MAX_IDENT - len('_keys') - 9]}_{digest}"
        return base

    def keys(self, slug: str) -> str:
        return f"{self.brand(slug)}_keys"

    def role(self, slug: str) -> str:
        return self.brand(slug)


# Set on a pooled SQLite connection that deleted rows: it checkpoints when it goes back.
_RECLAIM = "candor_reclaim"
# How long a checkpoint waits for other connections' read transactions to end. A reader of the
# log keeps its frames (and the words in them) alive, so the checkpoint waits for it; turns read
# for milliseconds, so this is only reached when something holds a read transaction open.
RECLAIM_WAIT_S = 10.0


def sqlite_engine(path: Path) -> Engine:
    """A SQLite store: WAL mode, and no deleted byte left behind (see `reclaim`).

    `secure_delete` makes SQLite overwrite what a DELETE or an UPDATE frees with zeros, in the
    page and in freed pages; without it the old cell stays in the file until the space is reused
    (some builds, Debian's among them, turn it on by default; others do not, so it is set
    here). A connection that deleted rows checkpoints the log when the pool takes it back, so
    the old page images in the `-wal` file go too, whoever did the deleting (erasure by the
    admin route, the CLI or the chat, withdrawal, retention).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "after_cursor_execute")
    def _note_deletes(conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip()[:6].upper() == "DELETE":
            conn.info[_RECLAIM] = True

    @event.listens_for(engine, "checkin")
    def _checkpoint_after_deletes(dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
        # The pool has rolled back or the caller committed by now: no transaction is open.
        if dbapi_conn is None or not record.info.pop(_RECLAIM, False):
            return
        try:
            done = checkpoint_sqlite(dbapi_conn)
        except sqlite3.Error as exc:  # never fail the caller's (committed) work over this
            log.warning("checkpoint after a deletion failed: %s", type(exc).__name__)
            done = False
        if not done:
            record.info[_RECLAIM] = True  # readers held on; the next check-in tries again

    return engine


def checkpoint_sqlite(dbapi_conn: sqlite3.Connection, wait_s: float | None = None) -> bool:
    """Copy the log into the database file and truncate the log to zero bytes.

    Until then the `-wal` file keeps the old images of every page a transaction changed, so
    the words a DELETE zeroed in the database are still readable there. TRUNCATE waits (up to
    `wait_s`) for other connections' read transactions, including the engine's, to end: a
    reader still using the log keeps its frames, so the log cannot be emptied under it. False
    when a reader held on past `wait_s`: the frames are still there and the caller must retry.
    """
    wait_ms = int(1000 * (RECLAIM_WAIT_S if wait_s is None else wait_s))
    cursor = dbapi_conn.cursor()
    try:
        (previous,) = cursor.execute("PRAGMA busy_timeout").fetchone()
        cursor.execute(f"PRAGMA busy_timeout={wait_ms}")
        try:
            busy, log_frames, _copied = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            cursor.execute(f"PRAGMA busy_timeout={int(previous)}")
    finally:
        cursor.close()
    # Not in WAL mode (log_frames == -1) means there is no log to empty.
    return busy == 0 and log_frames in (0, -1)


class SqliteBackend:
    """The embedded default: one file per store under the data directory."""

    dialect = "sqlite"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def brand_path(self, slug: str) -> Path:
        return self.data_dir / "brands" / f"{slug}.db"

    def key_path(self, slug: str) -> Path:
        return self.data_dir / "keys" / f"{slug}.keys.db"

    def check(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def registry_engine(self) -> Engine:
        return sqlite_engine(self.data_dir / "registry.db")

    def provision_brand(self, slug: str) -> None:
        """Nothing to create up front: the files appear on first connection."""

    def brand_engine(self, slug: str) -> Engine:
        return sqlite_engine(self.brand_path(slug))

    def key_engine(self, slug: str) -> Engine:
        return sqlite_engine(self.key_path(slug))

    def tracker_engine(self) -> Engine:
        return sqlite_engine(self.data_dir / "rasa_tracker.db")

    def brand_location(self, slug: str) -> str:
        return str(self.brand_path(slug))

    def key_location(self, slug: str) -> str:
        return str(self.key_path(slug))

    def dispose(self) -> None:
        pass


class PostgresBackend:
    """One database; a schema per store; a NOLOGIN role per brand bound to each connection."""

    dialect = "postgresql"

    def __init__(self, url: str | URL, prefix: str = "") -> None:
        self.url = postgres_url(url)
        self.names = Names(check_prefix(prefix))
        # The login role, with no brand role: creates roles and schemas, nothing else.
        self._admin = create_engine(
            self.url, pool_pre_ping=True, pool_size=1, max_overflow=2, connect_args=_CONNECT
        )

    @property
    def safe_url(self) -> str:
        return safe_url(self.url)

    def check(self) -> None:
        """Connect once and create the shared schemas: fail early, naming the URL safely."""
        try:
            with self._admin.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_PROVISION})
                _ensure_role(conn, self.names.registry)
                _ensure_schema(conn, self.names.registry, owner=self.names.registry)
                _ensure_schema(conn, self.names.tracker, owner=None)
        except DBAPIError as exc:
            raise unavailable(self.url, exc) from None

    def _bound(self, *, schema: str, role: str | None) -> Engine:
        return bound_engine(self.url, schema=schema, role=role)

    def registry_engine(self) -> Engine:
        return self._bound(schema=self.names.registry, role=self.names.registry)

    def provision_brand(self, slug: str) -> None:
        """Create the brand's role and its two schemas if they are missing (idempotent)."""
        role = self.names.role(slug)
        with self._admin.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_PROVISION})
            _ensure_role(conn, role)
            _ensure_schema(conn, self.names.brand(slug), owner=role)
            _ensure_schema(conn, self.names.keys(slug), owner=role)

    def brand_engine(self, slug: str) -> Engine:
        return self._bound(schema=self.names.brand(slug), role=self.names.role(slug))

    def key_engine(self, slug: str) -> Engine:
        return self._bound(schema=self.names.keys(slug), role=self.names.role(slug))

    def tracker_engine(self) -> Engine:
        """Rasa's tracker tables, as the login role Rasa itself connects with."""
        return self._bound(schema=self.names.tracker, role=None)

    def brand_location(self, slug: str) -> str:
        return f"{self.safe_url} schema {self.names.brand(slug)}"

    def key_location(self, slug: str) -> str:
        return f"{self.safe_url} schema {self.names.keys(slug)}"

    def dispose(self) -> None:
        self._admin.dispose()


_CONNECT = {"connect_timeout": 5}


def bound_engine(url: URL, *, schema: str, role: str | None, pool_size: int = 5) -> Engine:
    """An engine whose connections are bound to one schema (and role) every time they are used.

    The binding (`SET ROLE`, `SET search_path`) runs when a connection is made and again each
    time the pool hands it out, in autocommit, so nothing a previous user of the connection did
    can carry over. That statement doubles as the liveness check: a connection that died with
    the server is thrown away and replaced (SQLAlchemy's pessimistic disconnect handling).
    """
    engine = create_engine(url, pool_size=pool_size, max_overflow=10, connect_args=_CONNECT)
    binding = "; ".join(
        ([f"SET ROLE {_ident(role)}"] if role else []) + [f"SET search_path TO {_ident(schema)}"]
    )

    def bind(dbapi_conn) -> None:  # type: ignore[no-untyped-def]
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        try:
            dbapi_conn.execute(binding)
        finally:
            dbapi_conn.autocommit = autocommit

    # insert=True: bind before SQLAlchemy's first-connect checks read current_schema().
    @event.listens_for(engine, "connect", insert=True)
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        bind(dbapi_conn)

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
        try:
            bind(dbapi_conn)
        except psycopg.OperationalError as exc:  # the pool retries with a new connection
            raise DisconnectionError(str(exc)) from exc

    return engine


def _ensure_role(conn, role: str) -> None:  # type: ignore[no-untyped-def]
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if exists is None:
        conn.execute(text(f"CREATE ROLE {_ident(role)} NOLOGIN"))
    member = conn.execute(
        text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": role}
    ).scalar_one()
    if not member:
        conn.execute(text(f"GRANT {_ident(role)} TO CURRENT_USER"))


def _ensure_schema(conn, schema: str, *, owner: str | None) -> None:  # type: ignore[no-untyped-def]
    exists = conn.execute(
        text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
    ).first()
    if exists is None:
        owned = f" AUTHORIZATION {_ident(owner)}" if owner else ""
        conn.execute(text(f"CREATE SCHEMA {_ident(schema)}{owned}"))
        conn.execute(text(f"REVOKE ALL ON SCHEMA {_ident(schema)} FROM PUBLIC"))


def reclaim(engine: Engine, tables: Iterable[str] = (), *, full: bool = False) -> bool:
    """After an erasure, a withdrawal or a rewrite: leave no readable copy of what went.

    SQLite (every connection runs with `secure_delete`): checkpoint and truncate the log, see
    `checkpoint_sqlite`; `tables` are not needed. PostgreSQL: a DELETE leaves dead row versions
    in the table's pages until VACUUM removes them, so VACUUM each of `tables` (names in the
    engine's schema), in autocommit since VACUUM cannot run inside a transaction. A plain
    VACUUM frees the space for reuse and drops the index entries but does not zero it, so bytes
    can stay in the relation files until new rows overwrite them; `full` rewrites each table
    into a new file (VACUUM FULL: an exclusive lock on the table while it runs). Neither touches
    PostgreSQL's own write-ahead log (docs/privacy.md, "Erasure on disk"). False when the work
    could not be finished now (SQLite readers held on); the caller retries later.
    """
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            return checkpoint_sqlite(conn.connection.dbapi_connection)  # type: ignore[arg-type]
    verb = "VACUUM (FULL)" if full else "VACUUM"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        present = set(
            conn.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        )
        for table in dict.fromkeys(tables):
            if table in present:
                conn.execute(text(f"{verb} {_ident(table)}"))
    return True


def upsert_insert(session: Session):  # type: ignore[no-untyped-def]
    """`INSERT` with `ON CONFLICT` for the session's database (SQLite or PostgreSQL).

    Several gateway replicas write to one brand's store at once: a "read, then insert or
    update" would let two of them insert the same key (an IntegrityError) or lose an update.
    """
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def unavailable(url: str | URL, exc: BaseException) -> StoreUnavailable:
    """A clear error for an unreachable database, never showing its password."""
    reason = str(getattr(exc, "orig", exc) or type(exc).__name__).strip().splitlines()
    detail = reason[0] if reason else type(exc).__name__
    url = make_url(url) if isinstance(url, str) else url
    if url.password:
        detail = detail.replace(str(url.password), "***")
    return StoreUnavailable(
        f"cannot reach the database at {safe_url(url)} ({detail}); check CANDOR_DATABASE_URL "
        "and that PostgreSQL is running and accepts connections"
    )


def open_backend(
    data_dir: Path, database_url: str | URL | None, prefix: str = ""
) -> SqliteBackend | PostgresBackend:
    if database_url is None:
        return SqliteBackend(data_dir)
    return PostgresBackend(database_url, prefix)
