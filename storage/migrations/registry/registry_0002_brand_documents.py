"""Brand documents: published segment definitions and content libraries (YAML, by version).

Revision ID: registry_0002
Revises: registry_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "registry_0002"
down_revision = "registry_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "brand_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["brand"], ["brands.slug"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("brand", "kind", "version"),
    )


def downgrade() -> None:
    op.drop_table("brand_documents")
