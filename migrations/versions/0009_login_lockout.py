"""dashboard: lock an account after repeated failed logins (users.failed_logins, users.locked_until)

Revision ID: 0009_login_lockout
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0009_login_lockout"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locked_until")
        batch.drop_column("failed_logins")
