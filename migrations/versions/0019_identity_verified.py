"""citizens: whether the channel vouched for an identity (citizen_identities.verified)

Revision ID: 0019_identity_verified
Revises: 0001

A phone or e-mail typed into the city app, the web form, an Open311 client or at the counter is a contact
hint, not proof: it may name someone else. Only identities the channel itself vouches for (the WhatsApp
sender, a social account, the 112 caller, an e-mail with our server's DKIM/SPF verdict) join or extend a
citizen that others' reports belong to (domain/citizens.py). Existing rows keep counting as vouched.
"""
from alembic import op
import sqlalchemy as sa


revision = "0019_identity_verified"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("citizen_identities") as batch:
        batch.add_column(sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("citizen_identities") as batch:
        batch.drop_column("verified")
