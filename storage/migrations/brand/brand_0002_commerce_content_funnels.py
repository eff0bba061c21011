"""Customer links, imported transactions, content sent and anonymous funnel counts.

Revision ID: brand_0002
Revises: brand_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "brand_0002"
down_revision = "brand_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funnel_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.String(length=63), nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=63), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("flow_id", "flow_version", "step_id", "event", "day"),
    )
    op.create_table(
        "content_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=63), nullable=False),
        sa.Column("tailored", sa.Boolean(), nullable=False),
        sa.Column("segments_json", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.subject_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("content_sent", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_content_sent_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "customer_links",
        sa.Column("customer_key", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.subject_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_key"),
    )
    with op.batch_alter_table("customer_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_links_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=63), nullable=False),
        sa.Column("purchased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("age_band", sa.String(length=20), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.subject_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transactions_subject_id"), ["subject_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transactions_subject_id"))

    op.drop_table("transactions")
    with op.batch_alter_table("customer_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_links_subject_id"))

    op.drop_table("customer_links")
    with op.batch_alter_table("content_sent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_content_sent_subject_id"))

    op.drop_table("content_sent")
    op.drop_table("funnel_counts")
