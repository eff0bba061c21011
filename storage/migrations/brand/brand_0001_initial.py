"""Initial schema: the models when migrations began (storage/schema.py, storage/dedup.py).

Revision ID: brand_0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "brand_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "subjects",
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("objects_to_profiling", sa.Boolean(), nullable=False),
        sa.Column("objected_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject_id"),
    )
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=True),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("event", sa.String(length=16), nullable=True),
        sa.Column("purpose", sa.String(length=63), nullable=True),
        sa.Column("payload_json", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("payload_digest", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("redacted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.subject_id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id"),
        sa.UniqueConstraint("seq"),
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_events_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=False),
        sa.Column("flow_brand", sa.String(length=63), nullable=False),
        sa.Column("flow_id", sa.String(length=63), nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=63), nullable=False),
        sa.Column("ask_type", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=63), nullable=False),
        sa.Column("verbatim_enc", sa.Text(), nullable=False),
        sa.Column("value_enc", sa.Text(), nullable=False),
        sa.Column("consent_event_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_event_id"],
            ["consent_events.id"],
        ),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.subject_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "flow_id", "step_id"),
    )
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_answers_purpose"), ["purpose"], unique=False)
        batch_op.create_index(batch_op.f("ix_answers_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "subject_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=63), nullable=False),
        sa.Column("purpose", sa.String(length=63), nullable=False),
        sa.Column("flow_id", sa.String(length=63), nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=False),
        sa.Column("consent_event_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_event_id"],
            ["consent_events.id"],
        ),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.subject_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_id", "tag", "purpose"),
    )
    with op.batch_alter_table("subject_tags", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subject_tags_subject_id"), ["subject_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("subject_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_tags_subject_id"))

    op.drop_table("subject_tags")
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_answers_subject_id"))
        batch_op.drop_index(batch_op.f("ix_answers_purpose"))

    op.drop_table("answers")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_events_subject_id"))

    op.drop_table("consent_events")
    op.drop_table("subjects")
    op.drop_table("ledger_head")
