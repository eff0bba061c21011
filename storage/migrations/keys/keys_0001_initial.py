"""Initial schema: the models when migrations began (storage/schema.py, storage/dedup.py).

Revision ID: keys_0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "keys_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_meta",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("master_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "subject_keys",
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("master_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_id"),
    )


def downgrade() -> None:
    op.drop_table("subject_keys")
    op.drop_table("key_meta")
