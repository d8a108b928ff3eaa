"""sla: escalation cursor on SLA clocks

Two columns on sla_clocks, maintained by the SLA sweep (domain/sweep.py):
- next_check_at: when the next escalation level of a breached, open clock falls due (NULL: none left);
- escalation_level: the highest level recorded for the clock (breach, escalate_150, escalate_200).
The partial index keeps the escalation query an index range scan over open clocks only.

Revision ID: 0004_sla
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0004_sla"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN_WITH_NEXT_CHECK = (
    "met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND next_check_at IS NOT NULL"
)


def upgrade() -> None:
    op.add_column("sla_clocks", sa.Column("next_check_at", sa.DateTime(), nullable=True))
    op.add_column("sla_clocks", sa.Column("escalation_level", sa.String(length=16), nullable=True))
    op.create_index(
        "ix_sla_clocks_open_next_check",
        "sla_clocks",
        ["next_check_at"],
        unique=False,
        sqlite_where=sa.text(OPEN_WITH_NEXT_CHECK),
        postgresql_where=sa.text(OPEN_WITH_NEXT_CHECK),
    )


def downgrade() -> None:
    op.drop_index("ix_sla_clocks_open_next_check", table_name="sla_clocks")
    with op.batch_alter_table("sla_clocks") as batch_op:
        batch_op.drop_column("escalation_level")
        batch_op.drop_column("next_check_at")
