"""The language of each answer: the conversation's language when the customer answered, so
verbatim analysis reads it with that language's pipeline and the report groups themes per
language (docs/analysis.md, "Languages").

Nullable, with no default: rows stored before it keep NULL, which readers take as the flow's
default language (right for single-language flows; which language a multilingual flow's
conversation was in was not kept before, and cannot be recovered). An ALTER TABLE ADD COLUMN
on SQLite and PostgreSQL alike: no table rebuild, however many answers a store holds.

Revision ID: brand_0011
Revises: brand_0010
Create Date: 2026-11-30 22:08:48.690440
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "brand_0011"
down_revision = "brand_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    # Answers stay; only which language each was given in is lost (read as the flow's again).
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_column("language")
