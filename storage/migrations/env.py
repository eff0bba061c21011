"""Alembic environment for Candor's stores; run only through `storage.migrations`.

The caller passes the connection (already bound to one store: a SQLite file or one PostgreSQL
schema under its role) and the target (`registry`, `brand` or `keys`) in `config.attributes`.
"""

from __future__ import annotations

from alembic import context

from storage.migrations import metadata

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata(config.attributes["target"]),
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
