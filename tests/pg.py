"""The real PostgreSQL and Redis the `postgres` tests use, and a store fixture for both backends.

PostgreSQL: `CANDOR_TEST_POSTGRES_URL` (default: the `test` database on 127.0.0.1, trust
auth). Redis: `CANDOR_TEST_REDIS_URL` (default: db 0 on 127.0.0.1). Without them a laptop skips
these tests; with CI=true they fail. Every test run gets its own schema/role prefix
(`CANDOR_SCHEMA_PREFIX`), dropped afterwards, so runs never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from storage.backends import Names, bound_engine, postgres_url, safe_url
from storage.crypto import MasterKeys
from storage.stores import Stores
from tests.stack import need

PG_URL = os.environ.get(
    "CANDOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CANDOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@cache
def postgres_up() -> bool:
    engine = create_engine(postgres_url(PG_URL), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@cache
def redis_up() -> bool:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def need_postgres() -> None:
    need(
        postgres_up(),
        f"PostgreSQL does not answer at {safe_url(PG_URL)} (CANDOR_TEST_POSTGRES_URL)",
    )


def need_redis() -> None:
    need(redis_up(), f"Redis does not answer at {safe_url(REDIS_URL)} (CANDOR_TEST_REDIS_URL)")


def new_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}_"


def admin_engine() -> Engine:
    return create_engine(postgres_url(PG_URL), isolation_level="AUTOCOMMIT")


def drop_prefix(prefix: str) -> None:
    """Drop every schema and role a test run created (all start with its prefix)."""
    engine = admin_engine()
    try:
        with engine.connect() as conn:
            schemas = conn.scalars(
                text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :p)"),
                {"p": prefix},
            ).all()
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            roles = conn.scalars(
                text("SELECT rolname FROM pg_roles WHERE starts_with(rolname, :p)"), {"p": prefix}
            ).all()
            for role in roles:
                conn.execute(text(f'DROP OWNED BY "{role}" CASCADE'))
                conn.execute(text(f'DROP ROLE "{role}"'))
    finally:
        engine.dispose()


@pytest.fixture
def pg_prefix() -> Iterator[str]:
    """A fresh schema/role prefix on the test PostgreSQL, dropped after the test."""
    need_postgres()
    prefix = new_prefix()
    try:
        yield prefix
    finally:
        drop_prefix(prefix)


@dataclass
class StoreBackend:
    """Opens `Stores` on one backend for a test, and looks at them the way an operator would."""

    name: str  # "sqlite" or "postgres"
    data_dir: Path
    prefix: str = ""
    opened: list[Stores] = field(default_factory=list)

    @property
    def database_url(self) -> str | None:
        return PG_URL if self.name == "postgres" else None

    def stores(self, *, master: MasterKeys | None = None) -> Stores:
        stores = Stores(
            self.data_dir, master=master, database_url=self.database_url, schema_prefix=self.prefix
        )
        self.opened.append(stores)
        return stores

    def env(self) -> dict[str, str]:
        """The CANDOR_* variables that make the CLI open these same stores."""
        values = {"CANDOR_DATA_DIR": str(self.data_dir)}
        if self.name == "postgres":
            values |= {"CANDOR_DATABASE_URL": PG_URL, "CANDOR_SCHEMA_PREFIX": self.prefix}
        return values

    def raw_brand_data(self, brand: str) -> bytes:
        """Everything in the brand's data store as bytes: its files, or every row as text."""
        if self.name == "sqlite":
            return b"".join(p.read_bytes() for p in (self.data_dir / "brands").iterdir())
        schema = Names(self.prefix).brand(brand)
        engine = admin_engine()
        try:
            with engine.connect() as conn:
                tables = conn.scalars(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
                ).all()
                rows = [
                    row
                    for table in tables
                    for row in conn.scalars(
                        text(f'SELECT row_to_json(t)::text FROM "{schema}"."{table}" t')
                    )
                ]
        finally:
            engine.dispose()
        return "\n".join(rows).encode()

    def backup(self, brand: str, target: Path) -> Engine:
        """Copy the brand's data store (never its keys), as a backup would; an engine on it."""
        if self.name == "sqlite":
            import shutil

            shutil.copy(self.data_dir / "brands" / f"{brand}.db", target)
            return create_engine(f"sqlite:///{target}")
        source = Names(self.prefix).brand(brand)
        copy = f"{self.prefix}backup_{uuid.uuid4().hex[:6]}"
        engine = admin_engine()
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{copy}"'))
                for table in conn.scalars(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": source}
                ).all():
                    conn.execute(
                        text(f'CREATE TABLE "{copy}"."{table}" AS TABLE "{source}"."{table}"')
                    )
        finally:
            engine.dispose()
        return bound_engine(postgres_url(PG_URL), schema=copy, role=None, pool_size=1)

    def close(self) -> None:
        for stores in self.opened:
            stores.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
    """Each storage test runs twice: on SQLite files and on PostgreSQL schemas."""
    if request.param == "sqlite":
        backend = StoreBackend("sqlite", tmp_path / "data")
        yield backend
        backend.close()
        return
    need_postgres()
    backend = StoreBackend("postgres", tmp_path / "data", prefix=new_prefix())
    try:
        yield backend
    finally:
        backend.close()
        drop_prefix(backend.prefix)
