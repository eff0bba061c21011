"""Flow drafts and history: a version can be a draft (never served), says who published it, and
which version a rollback copied.

Revision ID: registry_0003
Revises: registry_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "registry_0003"
down_revision = "registry_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flow_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("draft", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("published_by", sa.String(length=100), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("rolled_back_from", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flow_versions", schema=None) as batch_op:
        batch_op.drop_column("rolled_back_from")
        batch_op.drop_column("published_by")
        batch_op.drop_column("draft")
