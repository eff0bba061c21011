"""Write a new migration for one target from the models: `python -m storage.migrations`.

    .venv/bin/python -m storage.migrations revision brand "add segments"

It migrates an empty SQLite store to the current head, compares it with the models
(`storage.migrations.metadata`) and writes `storage/migrations/<target>/<target>_<n>_*.py`.
Read and edit the result (autogenerate misses renames and data moves), then run the tests:
`tests/storage/test_migrations.py` checks that the migrated schema equals the models on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from storage.migrations import HERE, TARGETS, config, upgrade


def revision(target: str, message: str) -> Path:
    existing = sorted((HERE / target).glob(f"{target}_*.py"))
    rev_id = f"{target}_{len(existing) + 1:04d}"
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/empty.db")
        upgrade(engine, target)
        with engine.begin() as conn:
            script = command.revision(
                config(target, conn), message=message, autogenerate=True, rev_id=rev_id
            )
        engine.dispose()
    assert script is not None
    assert not isinstance(script, list)
    path = Path(script.path)
    for fix in (["check", "--fix", "-q"], ["format", "-q"]):  # autogenerate's style, then ours
        subprocess.run([sys.executable, "-m", "ruff", *fix, str(path)], check=False)
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "revision" or argv[1] not in TARGETS:
        print(__doc__, file=sys.stderr)
        print(f"usage: python -m storage.migrations revision {{{','.join(TARGETS)}}} MESSAGE")
        return 2
    print(f"wrote {revision(argv[1], argv[2])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
