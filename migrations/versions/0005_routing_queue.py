"""routing: incident alerts, operator corrections, and the indexes the duplicate and incident look-ups use

- incident_alerts: several reports of one category in one kelurahan within an hour (the wall display);
  at most one *open* alert per (category, kelurahan), enforced by a partial unique index.
- routing_corrections: every operator correction of a routing decision (the labelled set to learn from).
- reports(merged_into_id) (partial): every reporter of a merged incident.
- reports(category_code, received_at) and reports(category_code, kelurahan_code, received_at): the
  duplicate candidates and the incident count are index range scans over a time window.

Revision ID: 0005_routing
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0005_routing"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_code", sa.String(length=32), nullable=False),
        sa.Column("kelurahan_code", sa.String(length=16), nullable=False),
        sa.Column("kecamatan", sa.String(length=64), nullable=True),
        sa.Column("first_at", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("first_report_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["category_code"], ["categories.code"],
                                name=op.f("fk_incident_alerts_category_code_categories")),
        sa.ForeignKeyConstraint(["kelurahan_code"], ["areas.kode"], name=op.f("fk_incident_alerts_kelurahan_code_areas")),
        sa.ForeignKeyConstraint(["first_report_id"], ["reports.id"],
                                name=op.f("fk_incident_alerts_first_report_id_reports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_alerts")),
    )
    op.create_index("uq_incident_alerts_open", "incident_alerts", ["category_code", "kelurahan_code"], unique=True,
                    sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
    op.create_index("ix_incident_alerts_status_last_at", "incident_alerts", ["status", "last_at"])
    op.create_table(
        "routing_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("proposed", sa.JSON(), nullable=True),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=24), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name=op.f("fk_routing_corrections_report_id_reports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_corrections")),
    )
    op.create_index("ix_routing_corrections_report_id", "routing_corrections", ["report_id"])
    op.create_index("ix_routing_corrections_at", "routing_corrections", ["at"])
    op.create_index("ix_reports_category_received", "reports", ["category_code", "received_at"])
    op.create_index("ix_reports_category_kelurahan_received", "reports",
                    ["category_code", "kelurahan_code", "received_at"])
    # Every reporter of an incident: the reports merged into it (few rows; the index holds only those).
    op.create_index("ix_reports_merged_into_id", "reports", ["merged_into_id"],
                    sqlite_where=sa.text("merged_into_id IS NOT NULL"),
                    postgresql_where=sa.text("merged_into_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_reports_merged_into_id", table_name="reports")
    op.drop_index("ix_reports_category_kelurahan_received", table_name="reports")
    op.drop_index("ix_reports_category_received", table_name="reports")
    op.drop_index("ix_routing_corrections_at", table_name="routing_corrections")
    op.drop_index("ix_routing_corrections_report_id", table_name="routing_corrections")
    op.drop_table("routing_corrections")
    op.drop_index("ix_incident_alerts_status_last_at", table_name="incident_alerts")
    op.drop_index("uq_incident_alerts_open", table_name="incident_alerts")
    op.drop_table("incident_alerts")
