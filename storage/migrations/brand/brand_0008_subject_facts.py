"""Subject facts: each subject's answer facts for segments and answer values for per-question
results, sealed with their own data key, and the stamp of the answers they were built from
(storage/subject_facts.py).

The table starts empty: building it needs the subjects' keys, which a migration does not have.
The first segment computation after the upgrade fills it, at the cost it had before (one
decryption per answer); later ones decrypt one row per subject.

Revision ID: brand_0008
Revises: brand_0007
Create Date: 2026-11-30 15:38:36.546498
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "brand_0008"
down_revision = "brand_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_facts",
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("stamp", sa.String(length=120), nullable=False),
        sa.Column("facts_enc", sa.Text(), nullable=False),
        sa.Column("values_enc", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.subject_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subject_id"),
    )


def downgrade() -> None:
    # A cache of what the answers say: dropping it loses nothing.
    op.drop_table("subject_facts")
