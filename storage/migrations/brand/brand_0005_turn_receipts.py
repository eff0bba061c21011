"""Turn receipts: what the latest turn of each conversation stored, so a replay after a crash
does not store it twice (storage/turns.py). Digests only; rows live at most an hour.

Revision ID: brand_0005
Revises: brand_0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "brand_0005"
down_revision = "brand_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "turn_receipts",
        sa.Column("conversation", sa.String(length=64), nullable=False),
        sa.Column("turn", sa.String(length=64), nullable=False),
        sa.Column("done_json", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("conversation"),
    )
    with op.batch_alter_table("turn_receipts") as batch_op:
        batch_op.create_index(batch_op.f("ix_turn_receipts_at"), ["at"], unique=False)


def downgrade() -> None:
    # Receipts only guard replays within the hour; dropping them loses no customer data.
    with op.batch_alter_table("turn_receipts") as batch_op:
        batch_op.drop_index(batch_op.f("ix_turn_receipts_at"))
    op.drop_table("turn_receipts")
