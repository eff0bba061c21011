"""Choosing a backend: settings, names, the generated engine endpoints, and unreachable services."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML
from typer.testing import CliRunner

from bot.cli.app import app
from bot.engine import supervisor
from storage.backends import Names, StoreUnavailable, postgres_url, role_password, safe_url
from storage.stores import Stores
from tests.stack import free_port, make_settings

SECRET = "pa55-w0rd-never-shown"


def test_urls_are_shown_without_their_password() -> None:
    assert safe_url(f"postgresql+psycopg://candor:{SECRET}@db:5432/candor") == (
        "postgresql+psycopg://candor:***@db:5432/candor"
    )
    assert safe_url(f"redis://:{SECRET}@cache:6380/2") == "redis://:***@cache:6380/2"
    assert safe_url("redis://cache:6379/0") == "redis://cache:6379/0"


def test_database_url_must_be_postgresql(tmp_path: Path) -> None:
    assert postgres_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    for wrong, why in (
        ("mysql://u@h/db", "PostgreSQL"),
        ("postgresql://u@h", "names no database"),
        ("not a url", "not a database URL"),
    ):
        with pytest.raises(ValidationError, match=why):
            make_settings(tmp_path, database_url=wrong)
    with pytest.raises(ValidationError, match="redis://"):
        make_settings(tmp_path, redis_url="http://cache:6379")
    with pytest.raises(ValidationError, match="CANDOR_SCHEMA_PREFIX"):
        make_settings(tmp_path, schema_prefix="Bad-Prefix")


def test_schema_names_are_per_brand_and_never_truncated() -> None:
    names = Names("staging_")
    assert names.brand("trailhead-outfitters") == "staging_brand_trailhead_outfitters"
    assert names.keys("trailhead-outfitters") == "staging_brand_trailhead_outfitters_keys"
    assert names.registry == "staging_candor_registry"
    assert names.tracker == "staging_candor_tracker"
    long_a, long_b = "a" * 60 + "-x", "a" * 60 + "-y"
    assert names.brand(long_a) != names.brand(long_b)
    assert max(len(names.keys(long_a)), len(names.keys(long_b))) <= 63


def test_endpoints_default_to_sqlite_and_memory(tmp_path: Path) -> None:
    endpoints, _ = supervisor.write_engine_config(make_settings(tmp_path))
    config = YAML(typ="safe").load(endpoints.read_text())
    assert config["tracker_store"]["dialect"] == "sqlite"
    assert config["tracker_store"]["db"] == str(supervisor.tracker_db(make_settings(tmp_path)))
    assert config["lock_store"] == {"type": "in_memory"}


def test_endpoints_use_postgresql_and_redis_without_writing_passwords(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        database_url=f"postgresql+psycopg://candor:{SECRET}@db.internal:6543/candor?sslmode=require",
        redis_url=f"redis://:{SECRET}@cache.internal:6380/3",
        schema_prefix="prod_",
    )
    endpoints, _ = supervisor.write_engine_config(settings)
    text = endpoints.read_text()
    assert SECRET not in text
    config = YAML(typ="safe").load(text)
    tracker, lock = config["tracker_store"], config["lock_store"]
    assert tracker["type"] == "SQL"
    assert tracker["dialect"] == "postgresql"
    assert (tracker["url"], tracker["port"], tracker["db"]) == ("db.internal", 6543, "candor")
    assert tracker["username"] == "prod_candor_tracker"  # its own role, not the owner's
    assert tracker["password"] == "${" + supervisor.DB_PASSWORD_VAR + "}"
    assert tracker["query"] == {
        "options": "-csearch_path=prod_candor_tracker",
        "sslmode": "require",
    }
    assert lock["type"] == "redis"
    assert (lock["url"], lock["port"], lock["db"]) == (
        "cache.internal",
        6380,
        3,
    )
    assert lock["password"] == "${" + supervisor.REDIS_PASSWORD_VAR + "}"
    assert lock["key_prefix"].isalnum()
    assert lock["use_ssl"] is False
    env = supervisor.engine_env(settings)
    assert env[supervisor.DB_PASSWORD_VAR] == role_password(settings.key, "prod_candor_tracker")
    assert env[supervisor.REDIS_PASSWORD_VAR] == SECRET
    assert env[supervisor.AUTH_TOKEN_VAR] == settings.derived("rasa-http-api")
    assert SECRET not in env[supervisor.DB_PASSWORD_VAR]


def _closed_db_url() -> str:
    return f"postgresql+psycopg://candor:{SECRET}@127.0.0.1:{free_port()}/candor"


def test_unreachable_database_is_a_clear_error_without_password(tmp_path: Path) -> None:
    url = _closed_db_url()
    with pytest.raises(StoreUnavailable) as caught:
        Stores(tmp_path / "data", database_url=url)
    message = str(caught.value)
    assert safe_url(url) in message
    assert SECRET not in message
    assert "CANDOR_DATABASE_URL" in message


@pytest.mark.parametrize("command", [["up"], ["gateway"], ["migrate"], ["brands", "list"]])
def test_commands_refuse_to_start_without_the_database(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _closed_db_url()
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CANDOR_GATEWAY_PORT", str(free_port()))
    monkeypatch.setenv("CANDOR_DATABASE_URL", url)
    result = CliRunner().invoke(app, command)
    assert result.exit_code != 0
    output = result.output + repr(result.exception or "")
    assert SECRET not in output
    if command != ["brands", "list"]:  # the commands that start services say it plainly
        assert result.exit_code == 1
        assert f"cannot reach the database at {safe_url(url)}" in " ".join(output.split())


def test_up_refuses_to_start_without_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CANDOR_GATEWAY_PORT", str(free_port()))
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("CANDOR_REDIS_URL", url)
    result = CliRunner().invoke(app, ["up"])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert f"cannot reach Redis at {safe_url(url)}" in output
    assert SECRET not in output


def test_a_brand_is_known_once_registered_and_an_unknown_one_is_asked_again(
    tmp_path: Path,
) -> None:
    from storage import registry

    stores = Stores(tmp_path / "data")
    try:
        assert not stores.brand_exists("late-brand")
        with stores.registry() as session:
            registry.ensure_brand(session, slug="late-brand", display_name="Late")
            session.commit()
        assert stores.brand_exists("late-brand")  # the earlier "no" was not remembered
        assert stores.brand_exists("late-brand")
        assert not stores.brand_exists("other-brand")
    finally:
        stores.dispose()
