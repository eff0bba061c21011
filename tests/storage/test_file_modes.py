"""Least privilege on disk: data, key and tracker files are 0600 in 0700 directories.

The stores hold answers and wrapped keys, the tracker holds whole conversations and the logs
name subjects: another account on the machine must read none of them, whatever its umask.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from bot.cli.app import app
from bot.engine import preflight
from storage.stores import Stores
from tests.factories import EXAMPLES
from tests.stack import Stack, make_settings

BRAND = "trailhead-outfitters"


def walk(root: Path) -> Iterator[tuple[Path, int]]:
    """Every directory and file under `root` (itself included), with its permission bits."""
    yield root, stat.S_IMODE(root.stat().st_mode)
    for path in sorted(root.rglob("*")):
        yield path, stat.S_IMODE(path.lstat().st_mode)


def loose(*roots: Path) -> list[str]:
    """What another account could open: anything but 0700 directories and 0600 files."""
    found = []
    for root in roots:
        for path, mode in walk(root):
            wanted = 0o700 if path.is_dir() else 0o600
            if mode != wanted:
                found.append(f"{path.relative_to(root.parent)} {mode:o}")
    return found


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual default umask, so only Candor's own care can make files private."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_stores_make_owner_only_files_whatever_the_umask(tmp_path: Path, umask_022: None) -> None:
    stores = Stores(tmp_path / "data")
    try:
        stores.keyring(BRAND).encrypt("alice", "a rain jacket", "answer")
        tracker = stores.tracker_engine()
        with tracker.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS events (id INTEGER, data TEXT)"))
            conn.execute(text("INSERT INTO events VALUES (1, 'hello')"))
        # Connections held open, so each store's -wal and -shm files exist while we look.
        with (
            stores.brand_engine(BRAND).connect() as brand,
            stores.key_engine(BRAND).connect() as keys,
            tracker.connect() as trail,
        ):
            for conn in (brand, keys, trail):
                conn.execute(text("SELECT 1")).all()
            names = {p.name for p, _ in walk(tmp_path / "data")}
            assert {"rasa_tracker.db-wal", "rasa_tracker.db-shm"} <= names
            assert f"{BRAND}.keys.db-wal" in names
            assert f"{BRAND}.db" in names
            assert loose(tmp_path / "data") == []
    finally:
        stores.dispose()


def test_an_existing_install_is_tightened_at_start(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    stores.keyring(BRAND).encrypt("alice", "a rain jacket", "answer")
    stores.dispose()
    settings.run_dir.mkdir(parents=True)
    (settings.run_dir / "engine.log").write_text("engine started\n")
    (settings.run_dir / "replica-0").mkdir()
    for root in (settings.data_dir, settings.run_dir):  # an install made before this fix
        for path, _ in walk(root):
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert loose(settings.data_dir, settings.run_dir)

    caplog.set_level(logging.INFO)
    preflight.check(settings)  # what `candor up`, `gateway`, `engine` and `scale` run first

    assert loose(settings.data_dir, settings.run_dir) == []
    notes = [r.getMessage() for r in caplog.records if "tightened" in r.getMessage()]
    assert len(notes) == 1, notes
    assert str(settings.data_dir) in notes[0]
    assert "0600" in notes[0]
    assert "rain jacket" not in caplog.text
    assert "alice" not in caplog.text
    caplog.clear()
    preflight.check(settings)  # nothing left to tighten: nothing said
    assert not [r for r in caplog.records if "tightened" in r.getMessage()]


def test_the_cli_starts_with_an_owner_only_umask(umask_022: None) -> None:
    result = CliRunner().invoke(app, ["flows", "validate", str(EXAMPLES / f"{BRAND}.yaml")])
    assert result.exit_code == 0, result.output
    now = os.umask(0o022)
    assert now == 0o077, f"{now:o}"


@pytest.mark.engine
def test_a_running_stack_leaves_only_owner_only_files(stack: Stack) -> None:
    """The engine's tracker (with its -wal and -shm), its log, the stores, the keys: all 0600."""
    who = "modes-" + os.urandom(4).hex()
    stack.say(BRAND, who, payload="/greet")
    stack.say(BRAND, who, payload="/affirm")
    stack.say(BRAND, who, text="hiking")
    data, run = stack.settings.data_dir, stack.settings.run_dir
    files = {p.name for p, _ in walk(data)} | {p.name for p, _ in walk(run)}
    assert {"rasa_tracker.db", "registry.db", f"{BRAND}.db", f"{BRAND}.keys.db"} <= files
    assert {"engine.log", "endpoints.yml", "credentials.yml"} <= files
    assert "rasa_tracker.db-wal" in files
    assert loose(data, run) == []
