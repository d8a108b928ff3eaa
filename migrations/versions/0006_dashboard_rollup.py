"""dashboard: per-day rollup of reports for the executive panel, and its watermark

Revision ID: 0006_dashboard_rollup
Revises: 0003_dashboard
"""
from alembic import op
import sqlalchemy as sa

revision = "0006_dashboard_rollup"
down_revision = "0003_dashboard"
branch_labels = None
depends_on = None
HISTOGRAM_BUCKETS = 26  # dashboard.rollup.BUCKETS and an open-ended last bucket


def upgrade() -> None:
    op.create_table(
        "dashboard_rollup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("measure", sa.String(length=12), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("open", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("satisfaction_sum", sa.Integer(), nullable=False),
        sa.Column("satisfaction_count", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("accepted_on_time", sa.Integer(), nullable=False),
        sa.Column("sla_met", sa.Integer(), nullable=False),
        sa.Column("sla_on_time", sa.Integer(), nullable=False),
        # Histograms of minutes to accept and to resolve: one count column per fixed bucket.
        *[sa.Column(f"{kind}_{i}", sa.Integer(), nullable=False, server_default="0")
          for kind in ("accept", "resolve") for i in range(HISTOGRAM_BUCKETS)],
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_rollup")),
        sa.UniqueConstraint("measure", "day", "key", name=op.f("uq_dashboard_rollup_measure")),
    )
    op.create_index("ix_dashboard_rollup_day", "dashboard_rollup", ["day"])  # recomputing a touched day
    op.create_table(
        "dashboard_rollup_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("complete_before", sa.String(length=10), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_dashboard_rollup_state")),
    )


    # The wall's map: open reports per priority and point from the index alone.
    op.create_index("ix_reports_open_map", "reports", ["status", "priority", "kelurahan_code", "lat", "lon"])
    # "Met today" (wall compliance, the panel's live day): met clocks with their due time from the index alone.
    op.create_index("ix_sla_clocks_met_due", "sla_clocks", ["met_at", "due_at"],
                    sqlite_where=sa.text("met_at IS NOT NULL"), postgresql_where=sa.text("met_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_sla_clocks_met_due", "sla_clocks")
    op.drop_index("ix_reports_open_map", "reports")
    op.drop_table("dashboard_rollup_state")
    op.drop_table("dashboard_rollup")
