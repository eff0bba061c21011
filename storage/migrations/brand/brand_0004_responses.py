"""Responses: each run of a flow is its own response, and each time a loop asks a step again
its own occurrence; rectifications recorded; content_sent knows the purposes it came from.

Existing answers become their conversation's response (`response_id = conversation_id`: until
now a conversation held one answer per step, which is exactly one response), occurrence 1.
Tailored content records from before get `["*"]` (sources unknown: removed with the first
purpose withdrawn, refused or expired); generic ones `[]` (nothing of the customer's chose them).

Revision ID: brand_0004
Revises: brand_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "brand_0004"
down_revision = "brand_0003"
branch_labels = None
depends_on = None

OLD_COLUMNS = ["conversation_id", "flow_id", "step_id"]
NEW_COLUMNS = ["conversation_id", "response_id", "flow_id", "step_id", "occurrence"]
NEW_NAME = "uq_answers_response_step"
# SQLite keeps the old constraint unnamed; batch mode names it by this convention to drop it.
CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s_%(column_2_name)s"}
SQLITE_OLD_NAME = "uq_answers_conversation_id_flow_id_step_id"
# What a downgrade names the old constraint: PostgreSQL's own name for it, as brand_0001 made it.
OLD_NAMES = {
    "sqlite": SQLITE_OLD_NAME,
    "postgresql": "answers_conversation_id_flow_id_step_id_key",
}


def _unique_name(columns: list[str]) -> str | None:
    """The store's own name for the unique constraint on `columns` (None: unnamed, SQLite)."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints("answers"):
        if constraint["column_names"] == columns:
            return constraint["name"]
    raise LookupError(f"answers has no unique constraint on {columns}")


def upgrade() -> None:
    old_name = _unique_name(OLD_COLUMNS) or SQLITE_OLD_NAME
    with op.batch_alter_table("answers", naming_convention=CONVENTION) as batch_op:
        batch_op.add_column(sa.Column("response_id", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("occurrence", sa.Integer(), server_default="1", nullable=False)
        )
        batch_op.add_column(
            sa.Column("rectifications", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("rectified_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE answers SET response_id = conversation_id")
    with op.batch_alter_table("answers", naming_convention=CONVENTION) as batch_op:
        batch_op.alter_column("response_id", existing_type=sa.String(length=200), nullable=False)
        batch_op.drop_constraint(old_name, type_="unique")
        batch_op.create_unique_constraint(NEW_NAME, NEW_COLUMNS)

    with op.batch_alter_table("content_sent") as batch_op:
        batch_op.add_column(
            sa.Column("purposes_json", sa.Text(), server_default="[]", nullable=False)
        )
    op.execute("UPDATE content_sent SET purposes_json = '[\"*\"]' WHERE tailored")


def downgrade() -> None:
    # The old schema holds one answer per step and conversation; answers of several responses
    # of one conversation cannot go back into it without deleting some, which a downgrade
    # must never do silently.
    shared = op.get_bind().scalar(
        sa.text(
            "SELECT count(*) FROM (SELECT 1 FROM answers GROUP BY conversation_id, flow_id, "
            "step_id HAVING count(*) > 1) AS steps"
        )
    )
    if shared:
        raise RuntimeError(
            f"{shared} step(s) were answered in several responses of one conversation; the "
            "schema before brand_0004 keeps one answer per step: export the brand's data and "
            "decide which to keep before downgrading"
        )
    with op.batch_alter_table("content_sent") as batch_op:
        batch_op.drop_column("purposes_json")
    with op.batch_alter_table("answers", naming_convention=CONVENTION) as batch_op:
        batch_op.drop_constraint(NEW_NAME, type_="unique")
        batch_op.create_unique_constraint(OLD_NAMES[op.get_bind().dialect.name], OLD_COLUMNS)
        batch_op.drop_column("rectified_at")
        batch_op.drop_column("rectifications")
        batch_op.drop_column("occurrence")
        batch_op.drop_column("response_id")
