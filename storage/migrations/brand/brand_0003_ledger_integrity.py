"""Ledger integrity: every column of a consent event under the ledger's check.

No table changes shape; two data moves make existing ledgers verify under the stricter check
(`storage/ledger.py`, module docstring):

1. `consent_events.id` must equal `seq`. SQLite gave them equal anyway; a PostgreSQL sequence
   skips numbers when a transaction rolls back, so `id` may run ahead there. Such ids are
   renumbered, and the rows that reference them (`answers`, `subject_tags`) follow.
2. An erased row must be listed by a later `erased` event. Erasures made before this revision
   have none, so one is appended, chained after the head, listing every erased row not
   already listed. The computation is a frozen copy of `ledger.erasure_event` (a migration
   must keep doing what it did when the module changes); the tests verify its result.

Revision ID: brand_0003
Revises: brand_0002
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "brand_0003"
down_revision = "brand_0002"
branch_labels = None
depends_on = None

SCHEMA_VERSION = "candor-consent-1.0 (Kantara CR 1.1, ISO/IEC TS 27560)"
GENESIS = "0" * 64

events = sa.table(
    "consent_events",
    sa.column("id", sa.Integer),
    sa.column("seq", sa.Integer),
    sa.column("record_id", sa.String),
    sa.column("subject_id", sa.String),
    sa.column("event", sa.String),
    sa.column("purpose", sa.String),
    sa.column("payload_json", sa.Text),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("prev_hash", sa.String),
    sa.column("payload_digest", sa.String),
    sa.column("hash", sa.String),
    sa.column("redacted", sa.Boolean),
)
head = sa.table(
    "ledger_head", sa.column("id", sa.Integer), sa.column("seq", sa.Integer), sa.column("hash")
)


def upgrade() -> None:
    conn = op.get_bind()
    _ids_equal_to_seqs(conn)
    _record_past_erasures(conn)


def _ids_equal_to_seqs(conn: sa.Connection) -> None:
    diverged = conn.scalar(
        sa.select(sa.func.count()).select_from(events).where(events.c.id != events.c.seq)
    )
    if not diverged:
        return
    inspector = sa.inspect(conn)
    references = [
        (table, fk)
        for table in inspector.get_table_names()
        for fk in inspector.get_foreign_keys(table)
        if fk["referred_table"] == "consent_events" and fk["referred_columns"] == ["id"]
    ]
    postgres = conn.dialect.name == "postgresql"
    if postgres:  # its foreign keys are checked row by row: lift them while ids move
        for table, fk in references:
            assert fk["name"] is not None  # PostgreSQL names every constraint
            op.drop_constraint(fk["name"], table, type_="foreignkey")
    else:  # SQLite: check them at commit, when every id and reference has moved
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    for table, fk in references:
        column = fk["constrained_columns"][0]
        referrer = sa.table(table, sa.column(column, sa.Integer))
        conn.execute(
            sa.update(referrer).values(
                {
                    column: sa.select(events.c.seq)
                    .where(events.c.id == referrer.c[column])
                    .scalar_subquery()
                }
            )
        )
    # Through negative ids, so no row ever takes an id another still holds.
    conn.execute(sa.update(events).values(id=-events.c.seq))
    conn.execute(sa.update(events).values(id=events.c.seq))
    if postgres:
        for table, fk in references:
            op.create_foreign_key(
                fk["name"],
                table,
                "consent_events",
                fk["constrained_columns"],
                ["id"],
                **{k: v for k, v in fk.get("options", {}).items() if k in ("ondelete", "onupdate")},
            )


def _record_past_erasures(conn: sa.Connection) -> None:
    erased = set(conn.scalars(sa.select(events.c.seq).where(events.c.redacted.is_(True))))
    for text in conn.scalars(sa.select(events.c.payload_json).where(events.c.event == "erased")):
        erased -= set(json.loads(text).get("redacted_seqs", []))
    if not erased:
        return
    # Locked like `ledger._head`: a replica still running the old code appends under it.
    last = conn.execute(
        sa.select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()
    ).first()
    if last is None:  # a ledger without a head: chain after its last event
        last = conn.execute(
            sa.select(events.c.seq, events.c.hash).order_by(events.c.seq.desc()).limit(1)
        ).first()
    seq, previous = (last.seq + 1, last.hash) if last is not None else (1, GENESIS)
    record_id, when = str(uuid.uuid4()), datetime.now(UTC)
    body = json.dumps(
        {
            "record_id": record_id,
            "schema_version": SCHEMA_VERSION,
            "event": "erased",
            "redacted_seqs": sorted(erased),
            "timestamp": when.isoformat(),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    payload_digest = hashlib.sha256(body.encode()).hexdigest()
    chained = hashlib.sha256((previous + payload_digest).encode()).hexdigest()
    conn.execute(
        sa.insert(events).values(
            id=seq,
            seq=seq,
            record_id=record_id,
            subject_id=None,
            event="erased",
            purpose=None,
            payload_json=body,
            created_at=when,
            prev_hash=previous,
            payload_digest=payload_digest,
            hash=chained,
            redacted=False,
        )
    )
    if conn.execute(sa.update(head).where(head.c.id == 1).values(seq=seq, hash=chained)).rowcount:
        return
    conn.execute(sa.insert(head).values(id=1, seq=seq, hash=chained))


def downgrade() -> None:
    """Nothing to undo: ids equal to seqs and the appended erasure event are valid ledger
    history under the earlier check too (its columns agree with its signed payload)."""
