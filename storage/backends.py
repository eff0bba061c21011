"""Where stores live: SQLite files (the embedded default) or PostgreSQL schemas (at scale).

SQLite: `registry.db`, `brands/<brand>.db` and `keys/<brand>.keys.db` under the data directory,
plus Rasa's `rasa_tracker.db`. Every file is 0600 in 0700 directories (`private_file`,
`tighten`), whatever the umask: they hold answers, wrapped keys and whole conversations.

PostgreSQL (`CANDOR_DATABASE_URL`): one database, one schema per store, and one LOGIN role per
store, owner of its schema.

| Store | Schema | Role it logs in as |
|---|---|---|
| shared registry | `candor_registry` | `candor_registry` |
| a brand's data | `brand_<slug with - as _>` | `brand_<slug>` |
| a brand's keys | `brand_<slug>_keys` | `brand_<slug>` |
| Rasa's trackers | `candor_tracker` | `candor_tracker` (the engine and the gateway) |

A brand's connections log in as that brand's own role, which is a member of no other role and
no superuser, so a query on brand A's connection runs with brand A's privileges only: schema B
(and the registry) are not readable from it, whatever the query names, and a `SET ROLE` or
`SET SESSION AUTHORIZATION` to any other role is refused by PostgreSQL itself. Each connection
also runs `SET search_path TO <its schema>` before it is used. The role of the database URL
(the owner) creates the roles and schemas and nothing else; it is a member of every role it
created (PostgreSQL asks for that to create a schema owned by another role) and never touches
brand data. Each role's password is derived from the installation secret (`role_password`)
and given to PostgreSQL as a SCRAM verifier, never in clear; with `trust` authentication it is
not asked for. An optional prefix (`CANDOR_SCHEMA_PREFIX`) goes in front of every schema and
role name, so several installations (or test runs) can share one database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from storage import sqlite_writer

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

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


# Owner-only: group and others get nothing (`tighten`, `private_dir`, `private_file`).
PRIVATE_UMASK = 0o077
_OTHERS = 0o077


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) readable by its owner only.

    The mode is given at creation rather than fixed afterwards, so there is no moment when
    another account could open the directory; an existing one is left to `tighten`.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """Create an empty `path` as 0600 if it is missing, before anything writes to it.

    SQLite gives a database's `-wal` and `-shm` files the database file's own mode, so a
    store created here keeps all three private even under a permissive umask.
    """
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return path
    os.close(fd)
    return path


def _tree(root: Path) -> Iterator[Path]:
    yield root
    for top, dirs, files in os.walk(root):  # never follows symbolic links
        for name in dirs + files:
            yield Path(top, name)


def tighten(roots: Iterable[Path]) -> tuple[int, int, int]:
    """Take group and other permissions off every file and directory under `roots`.

    For installs made before Candor set its umask: their stores, keys, tracker and logs were
    created 0644 in 0755 directories. Owner bits are kept; symbolic links are not followed
    (their targets are not ours to change). Returns (files, directories, failures) changed.
    """
    files = dirs = failed = 0
    for root in roots:
        if not root.is_dir():
            continue
        for path in _tree(root):
            try:
                info = path.lstat()
                if stat.S_ISLNK(info.st_mode) or not info.st_mode & _OTHERS:
                    continue
                path.chmod(stat.S_IMODE(info.st_mode) & ~_OTHERS)
            except OSError:
                failed += 1
                continue
            if stat.S_ISDIR(info.st_mode):
                dirs += 1
            else:
                files += 1
    return files, dirs, failed


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
    admin route, the CLI or the chat, withdrawal, retention). The file is created 0600 first
    (`private_file`), so it and its log are never readable by another account.
    """
    private_file(path)
    engine = create_engine(f"sqlite:///{path}", connect_args=sqlite_writer.connect_args(30.0))
    sqlite_writer.install(engine, 30.0)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "after_cursor_execute")
    def _note_deletes(
        conn: Connection,
        _cursor: DBAPICursor,
        statement: str,
        _params: Any,
        _context: ExecutionContext | None,
        _many: bool,
    ) -> None:
        if statement.lstrip()[:6].upper() == "DELETE":
            conn.info[_RECLAIM] = True

    @event.listens_for(engine, "checkin")
    def _checkpoint_after_deletes(
        dbapi_conn: sqlite3.Connection | None, record: ConnectionPoolEntry
    ) -> None:
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
        private_dir(self.data_dir)

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
    """One database; a schema per store; each store's connections log in as its own role.

    `role_secret` derives each role's password (`role_password`); without it the roles get no
    password, so they can log in only where `pg_hba.conf` trusts them (a laptop, a test run).
    """

    dialect = "postgresql"

    def __init__(self, url: str | URL, prefix: str = "", role_secret: bytes | None = None) -> None:
        self.url = postgres_url(url)
        self.names = Names(check_prefix(prefix))
        self._role_secret = role_secret
        # The owner (the URL's role): creates roles and schemas, nothing else.
        self._admin = create_engine(
            self.url, pool_pre_ping=True, pool_size=1, max_overflow=2, connect_args=_CONNECT
        )

    @property
    def safe_url(self) -> str:
        return safe_url(self.url)

    def password(self, role: str) -> str | None:
        """The password `role` logs in with (None: no password, trust authentication only)."""
        return None if self._role_secret is None else role_password(self._role_secret, role)

    def login_url(self, role: str) -> URL:
        """The database URL with `role` (and its password) in place of the owner's."""
        return self.url.set(username=role, password=self.password(role))

    def check(self) -> None:
        """Connect once and create the shared schemas: fail early, naming the URL safely."""
        try:
            with self._admin.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_PROVISION})
                for shared in (self.names.registry, self.names.tracker):
                    _ensure_role(conn, shared, self.password(shared))
                    _ensure_schema(conn, shared, owner=shared)
        except DBAPIError as exc:
            raise unavailable(self.url, exc) from None

    def _bound(self, *, schema: str, role: str) -> Engine:
        return bound_engine(self.login_url(role), schema=schema, role=None)

    def registry_engine(self) -> Engine:
        return self._bound(schema=self.names.registry, role=self.names.registry)

    def provision_brand(self, slug: str) -> None:
        """Create the brand's role and its two schemas if they are missing (idempotent)."""
        role = self.names.role(slug)
        with self._admin.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_PROVISION})
            _ensure_role(conn, role, self.password(role))
            _ensure_schema(conn, self.names.brand(slug), owner=role)
            _ensure_schema(conn, self.names.keys(slug), owner=role)

    def brand_engine(self, slug: str) -> Engine:
        return self._bound(schema=self.names.brand(slug), role=self.names.role(slug))

    def key_engine(self, slug: str) -> Engine:
        return self._bound(schema=self.names.keys(slug), role=self.names.role(slug))

    def tracker_engine(self) -> Engine:
        """Rasa's tracker tables, as the tracker role Rasa itself connects with."""
        return self._bound(schema=self.names.tracker, role=self.names.tracker)

    def brand_location(self, slug: str) -> str:
        return f"{self.safe_url} schema {self.names.brand(slug)}"

    def key_location(self, slug: str) -> str:
        return f"{self.safe_url} schema {self.names.keys(slug)}"

    def dispose(self) -> None:
        self._admin.dispose()


def role_password(secret: bytes, role: str) -> str:
    """A role's password, derived from the installation secret: every replica (and the engine)
    computes the same one, and none is stored anywhere."""
    return hmac.new(secret, f"candor postgres role {role}".encode(), hashlib.sha256).hexdigest()


def scram_verifier(password: str, *, iterations: int = 4096) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5803), computed here so the
    password itself is never sent in a statement (statements can end up in the server log)."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}$"
        f"{b64(stored).decode()}:{b64(server).decode()}"
    )


_CONNECT = {"connect_timeout": 5}


def bound_engine(url: URL, *, schema: str, role: str | None, pool_size: int = 5) -> Engine:
    """An engine whose connections are bound to one schema (and role) every time they are used.

    The binding (`SET search_path`, and `SET ROLE` when `role` is given) runs when a connection
    is made and again each time the pool hands it out, in autocommit, so nothing a previous user
    of the connection did can carry over. That statement doubles as the liveness check: a
    connection that died with the server is thrown away and replaced (SQLAlchemy's pessimistic
    disconnect handling). Stores pass `role=None` and a URL that logs in as the store's own
    role (`PostgresBackend.login_url`): a `SET ROLE` could be undone by the code it protects
    against, a login cannot.
    """
    engine = create_engine(url, pool_size=pool_size, max_overflow=10, connect_args=_CONNECT)
    binding = "; ".join(
        ([f"SET ROLE {_ident(role)}"] if role else []) + [f"SET search_path TO {_ident(schema)}"]
    )

    def bind(dbapi_conn: psycopg.Connection[Any]) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        try:
            dbapi_conn.execute(binding)
        finally:
            dbapi_conn.autocommit = autocommit

    # insert=True: bind before SQLAlchemy's first-connect checks read current_schema().
    @event.listens_for(engine, "connect", insert=True)
    def _on_connect(dbapi_conn: psycopg.Connection[Any], _record: ConnectionPoolEntry) -> None:
        bind(dbapi_conn)

    @event.listens_for(engine, "checkout")
    def _on_checkout(
        dbapi_conn: psycopg.Connection[Any],
        _record: ConnectionPoolEntry,
        _proxy: PoolProxiedConnection,
    ) -> None:
        try:
            bind(dbapi_conn)
        except psycopg.OperationalError as exc:  # the pool retries with a new connection
            raise DisconnectionError(str(exc)) from exc

    return engine


def _ensure_role(conn: Connection, role: str, password: str | None) -> None:
    """A LOGIN role that can become nothing else: no superuser, no member of any role.

    A role from an install before brands logged in as themselves (NOLOGIN, switched to with
    `SET ROLE` by a login role that was a member of every brand) gets LOGIN here. The owner
    (current user) is made a member so it can create the role's schemas; the reverse never.
    """
    row = conn.execute(
        text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).first()
    verifier = f" PASSWORD '{scram_verifier(password)}'" if password else ""
    if row is None:
        conn.exec_driver_sql(
            f"CREATE ROLE {_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE{verifier}"
        )
    elif not row.rolcanlogin:
        conn.exec_driver_sql(f"ALTER ROLE {_ident(role)} LOGIN{verifier}")
    member = conn.execute(
        text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": role}
    ).scalar_one()
    if not member:
        conn.execute(text(f"GRANT {_ident(role)} TO CURRENT_USER"))


def _ensure_schema(conn: Connection, schema: str, *, owner: str) -> None:
    """The schema, owned by `owner` with everything in it (an older install's tracker schema
    and Rasa's tables in it belonged to the login role: they move to the tracker role)."""
    current = conn.execute(
        text("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = :s"),
        {"s": schema},
    ).scalar_one_or_none()
    if current is None:
        conn.execute(text(f"CREATE SCHEMA {_ident(schema)} AUTHORIZATION {_ident(owner)}"))
        conn.execute(text(f"REVOKE ALL ON SCHEMA {_ident(schema)} FROM PUBLIC"))
        return
    if current != owner:
        conn.execute(text(f"ALTER SCHEMA {_ident(schema)} OWNER TO {_ident(owner)}"))
    # Tables first: ALTER TABLE also moves the sequences their columns own.
    for kinds, verb in ((("r", "p", "v", "m", "f"), "TABLE"), (("S",), "SEQUENCE")):
        for name in conn.scalars(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relkind = ANY(:k) "
                "AND pg_get_userbyid(c.relowner) <> :o"
            ),
            {"s": schema, "k": list(kinds), "o": owner},
        ).all():
            conn.execute(
                text(f"ALTER {verb} {_ident(schema)}.{_ident(name)} OWNER TO {_ident(owner)}")
            )


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
            return checkpoint_sqlite(cast(sqlite3.Connection, conn.connection.dbapi_connection))
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


def upsert_insert(session: Session) -> Callable[[type[Any]], postgresql.Insert | sqlite.Insert]:
    """`INSERT` with `ON CONFLICT` for the session's database (SQLite or PostgreSQL).

    Several gateway replicas write to one brand's store at once: a "read, then insert or
    update" would let two of them insert the same key (an IntegrityError) or lose an update.
    """
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


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
    data_dir: Path,
    database_url: str | URL | None,
    prefix: str = "",
    role_secret: bytes | None = None,
) -> SqliteBackend | PostgresBackend:
    if database_url is None:
        return SqliteBackend(data_dir)
    return PostgresBackend(database_url, prefix, role_secret)
