"""Alembic migrations for the three kinds of store, run in code, store by store.

- `registry`: the shared registry (brands, API key hashes, flow versions, channel bookkeeping).
- `brand`: one brand's data (subjects, consent ledger, answers, tags).
- `keys`: one brand's key store (wrapped data keys), kept apart for crypto-shredding.

Each target has its own version directory here, and each store its own `alembic_version`
table (in its SQLite file, or in its PostgreSQL schema). `Stores` upgrades a store the first
time a process opens it; `candor migrate` upgrades every store at once. How to add a
migration: `storage/migrations/README.md`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text

HERE = Path(__file__).resolve().parent
TARGETS = ("registry", "brand", "keys")
# A table each target's first revision creates: a store that has it but no alembic_version
# was made before migrations existed (by `create_all`). It is stamped, not re-created: at head
# if it already matches the models, else at the first revision and upgraded from there.
_BASELINE = {
    "registry": ("brands", "registry_0001"),
    "brand": ("subjects", "brand_0001"),
    "keys": ("subject_keys", "keys_0001"),
}


def metadata(target: str) -> MetaData:
    """The models a target's migrations must match. Import new model modules here."""
    from storage import dedup, schema, subject_facts, turns, webhooks  # noqa: F401  (dedup: reg.)

    return {
        "registry": schema.RegistryBase.metadata,
        "brand": schema.BrandStoreBase.metadata,
        "keys": schema.KeyStoreBase.metadata,
    }[target]


def config(target: str, connection: Connection | None = None) -> Config:
    if target not in TARGETS:
        raise ValueError(f"unknown migration target {target!r}; use one of {TARGETS}")
    cfg = Config()
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("version_locations", str(HERE / target))
    cfg.attributes["target"] = target
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def head(target: str) -> str | None:
    return ScriptDirectory.from_config(config(target)).get_current_head()


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, target: str) -> bool:
    """Bring one store to the latest revision; returns whether anything ran.

    On PostgreSQL an advisory lock per schema makes replicas that start together take turns.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema()))"))
        revision = current(conn)
        if revision == head(target):
            return False
        cfg = config(target, conn)
        table, baseline = _BASELINE[target]
        if revision is None and inspect(conn).has_table(table):
            matches = not compare_metadata(MigrationContext.configure(conn), metadata(target))
            command.stamp(cfg, "head" if matches else baseline)
        command.upgrade(cfg, "head")
    return True
