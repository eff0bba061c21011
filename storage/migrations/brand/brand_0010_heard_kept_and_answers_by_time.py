"""Themes and quality kept across restarts (`heard_kept`, storage/heard_kept.py), and two
indexes on answers: the columns a report reads, by flow and date (`ix_answers_report`: a
report reads it instead of the rows and their ciphertexts), and `updated_at` (the themes'
stamp).

The table starts empty: the next report hears the themes and keeps them. It holds no subject
id; it is cleared whenever an answer is deleted or changed in place.

Revision ID: brand_0010
Revises: brand_0009
Create Date: 2026-11-30 16:49:34.770691
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "brand_0010"
down_revision = "brand_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "heard_kept",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stamp", sa.String(length=300), nullable=False),
        sa.Column("heard_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_answers_report",
            [
                "flow_id",
                "created_at",
                "subject_id",
                "response_id",
                "step_id",
                "occurrence",
                "flow_version",
            ],
            unique=False,
        )
        batch_op.create_index("ix_answers_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_index("ix_answers_updated_at")
        batch_op.drop_index("ix_answers_report")

    # What was heard is heard again by the next report: dropping it loses nothing.
    op.drop_table("heard_kept")
