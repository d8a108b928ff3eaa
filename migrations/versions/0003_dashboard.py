"""dashboard: deadline-extension requests and the indexes the wall and the panels read through

Revision ID: 0003_dashboard
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_dashboard"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN_CLOCK = "met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "extension_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name=op.f("fk_extension_requests_report_id_reports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extension_requests")),
    )
    op.create_index("ix_extension_requests_report_id", "extension_requests", ["report_id"])
    op.create_index("ix_extension_requests_status", "extension_requests", ["status"])
    # The wall: every open, running clock with what colours it (a small partial index, ~2 per open report).
    op.create_index("ix_sla_clocks_running", "sla_clocks", ["report_id", "due_at", "warn_at"],
                    sqlite_where=sa.text(OPEN_CLOCK), postgresql_where=sa.text(OPEN_CLOCK))
    # "Resolved today" and the panels' resolution figures.
    op.create_index("ix_reports_resolved_at", "reports", ["resolved_at"])
    # The executive panel and the public page aggregate a period of reports from the index alone.
    op.create_index("ix_reports_received_cover", "reports",
                    ["received_at", "agency_code", "channel", "status", "category_code", "kecamatan"])
    op.create_index("ix_reports_transfer_count", "reports", ["transfer_count"],
                    sqlite_where=sa.text("transfer_count > 2"), postgresql_where=sa.text("transfer_count > 2"))


def downgrade() -> None:
    op.drop_index("ix_reports_transfer_count", "reports")
    op.drop_index("ix_reports_received_cover", "reports")
    op.drop_index("ix_reports_resolved_at", "reports")
    op.drop_index("ix_sla_clocks_running", "sla_clocks")
    op.drop_table("extension_requests")
