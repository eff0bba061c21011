"""Migrations build every store exactly as the models describe it, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect
from typer.testing import CliRunner

from bot.brands import create_brand
from bot.cli.app import app
from storage import migrations
from storage.schema import BrandStoreBase, KeyStoreBase, RegistryBase
from tests.factories import EXAMPLES
from tests.pg import StoreBackend

BRAND = "basics-store"


def differences(engine: Engine, target: str) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), migrations.metadata(target))


def test_migrated_stores_match_the_models(store_backend: StoreBackend) -> None:
    stores = store_backend.stores()
    engines = {
        "registry": stores.registry_engine,
        "brand": stores.brand_engine(BRAND),
        "keys": stores.key_engine(BRAND),
    }
    for target, engine in engines.items():
        assert differences(engine, target) == [], f"{target}: add a migration (see README)"
        with engine.connect() as conn:
            assert migrations.current(conn) == migrations.head(target)
    assert set(inspect(engines["brand"]).get_table_names()) == {
        *BrandStoreBase.metadata.tables,
        "alembic_version",
    }


def test_every_model_table_belongs_to_one_target() -> None:
    registry, brand, keys = (
        set(m.tables)
        for m in (RegistryBase.metadata, BrandStoreBase.metadata, KeyStoreBase.metadata)
    )
    assert not (registry & brand)
    assert not (registry & keys)
    assert not (brand & keys)
    assert {"channel_deliveries", "brands", "flow_versions"} <= registry


def test_the_shared_registry_holds_nothing_personal() -> None:
    """No registry column can name or quote a customer: those live in the brand's store."""
    personal = ("subject", "user", "customer", "verbatim", "answer", "email", "phone", "name")
    for table in RegistryBase.metadata.tables.values():
        for column in table.columns:
            allowed = column.name == "display_name"  # the brand's own name
            assert allowed or not any(word in column.name for word in personal), (
                f"{table.name}.{column.name} looks personal: keep it in the brand's store"
            )


def test_reopening_a_migrated_store_runs_nothing(store_backend: StoreBackend) -> None:
    stores = store_backend.stores()
    stores.brand_engine(BRAND)
    again = store_backend.stores()
    assert migrations.upgrade(again.brand_engine(BRAND), "brand") is False
    assert migrations.upgrade(again.registry_engine, "registry") is False


def test_a_store_made_before_migrations_is_adopted_with_its_data(tmp_path: Path) -> None:
    """Laptops that ran Candor before migrations: `create_all` files are stamped, not rebuilt."""
    data = tmp_path / "data"
    (data / "brands").mkdir(parents=True)
    legacy = create_engine(f"sqlite:///{data / 'brands' / f'{BRAND}.db'}")
    BrandStoreBase.metadata.create_all(legacy)
    with legacy.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO subjects (subject_id, channel, created_at, objects_to_profiling) "
            "VALUES ('s1', 'api', '2026-01-01', 0)"
        )
    legacy.dispose()
    stores = StoreBackend("sqlite", data).stores()
    stores.brand_engine(BRAND)
    stores.dispose()
    with sqlite3.connect(data / "brands" / f"{BRAND}.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrations.head("brand"),)
        ]
        assert db.execute("SELECT subject_id FROM subjects").fetchall() == [("s1",)]


def test_brands_create_and_migrate_commands(store_backend: StoreBackend, monkeypatch) -> None:
    for name, value in store_backend.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CANDOR_SECRET_KEY", "m" * 40)
    created = CliRunner().invoke(app, ["brands", "create", str(EXAMPLES / f"{BRAND}.yaml")])
    assert created.exit_code == 0, created.output
    stores = store_backend.stores()
    for engine, target in (
        (stores.brand_engine(BRAND), "brand"),
        (stores.key_engine(BRAND), "keys"),
    ):
        with engine.connect() as conn:
            assert migrations.current(conn) == migrations.head(target)
    create_brand(stores, EXAMPLES / "bean-there-coffee.yaml")
    done = CliRunner().invoke(app, ["migrate"])
    assert done.exit_code == 0, done.output
    assert "2 brand store(s) are at the latest migration" in done.output
