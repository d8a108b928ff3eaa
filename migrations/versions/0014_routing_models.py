"""routing: trained model versions (routing_model_versions), at most one active

Revision ID: 0014_routing_models
Revises: 0005_routing
"""
from alembic import op
import sqlalchemy as sa


revision = "0014_routing_models"
down_revision = "0005_routing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("trained_by", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("activated_at", sa.DateTime(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=True),
        sa.Column("thresholds", sa.JSON(), nullable=True),
        sa.Column("corrections_upto", sa.Integer(), nullable=True),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_model_versions")),
    )
    op.create_index("ix_routing_model_versions_active", "routing_model_versions", ["is_active"], unique=True,
                    sqlite_where=sa.text("is_active"), postgresql_where=sa.text("is_active"))


def downgrade() -> None:
    op.drop_index("ix_routing_model_versions_active", table_name="routing_model_versions")
    op.drop_table("routing_model_versions")
