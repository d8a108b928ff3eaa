"""ingest: staging inbox of webhooks (inbound_messages)

Revision ID: 0007_ingest_inbox
Revises: 0002_ingest
"""
from alembic import op
import sqlalchemy as sa


revision = "0007_ingest_inbox"
down_revision = "0002_ingest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("ticket", sa.String(length=32), nullable=True),
        sa.Column("dead_letter_id", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["dead_letter_id"], ["dead_letters.id"],
                                name=op.f("fk_inbound_messages_dead_letter_id_dead_letters")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint("channel", "external_id", name=op.f("uq_inbound_messages_channel")),
    )
    op.create_index("ix_inbound_messages_state_id", "inbound_messages", ["state", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("inbound_messages")
