"""Probed answers: the follow-up question asked after a vague answer, and the customer's
reply to it (encrypted with the subject's key, like the verbatim), on the answer itself.

Revision ID: brand_0006
Revises: brand_0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "brand_0006"
down_revision = "brand_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("answers") as batch_op:
        batch_op.add_column(sa.Column("probe", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("followup_enc", sa.Text(), nullable=True))


def downgrade() -> None:
    # Dropping the reply loses what customers added after a follow-up: their first answers stay.
    with op.batch_alter_table("answers") as batch_op:
        batch_op.drop_column("followup_enc")
        batch_op.drop_column("probe")
