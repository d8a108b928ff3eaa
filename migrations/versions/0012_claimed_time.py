"""ingest: the time a channel's payload claims (reports.claimed_at, display only) beside the time the
control room received it; dead letters stored once per source message (dead_letters.source_key)

Revision ID: 0012_claimed_time
Revises: 0001

Existing dead letters get the SHA-256 of their bytes as source key; of earlier copies of one message
(stored again on every re-read of a mailbox) the oldest keeps the key, the copies keep NULL.
"""
import hashlib

from alembic import op
import sqlalchemy as sa


revision = "0012_claimed_time"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("source_key", sa.String(length=80), nullable=True))
    conn = op.get_bind()
    letters = sa.table("dead_letters", sa.column("id", sa.Integer), sa.column("channel", sa.String),
                       sa.column("raw", sa.LargeBinary), sa.column("source_key", sa.String))
    seen, last = set(), 0
    while True:  # in batches: a deployed table may hold many letters
        rows = conn.execute(sa.select(letters.c.id, letters.c.channel, letters.c.raw)
                            .where(letters.c.id > last).order_by(letters.c.id).limit(500)).all()
        if not rows:
            break
        for letter_id, channel, raw in rows:
            key = (channel, "sha256:" + hashlib.sha256(bytes(raw or b"")).hexdigest())
            if key not in seen:
                seen.add(key)
                conn.execute(letters.update().where(letters.c.id == letter_id).values(source_key=key[1]))
        last = rows[-1][0]
    with op.batch_alter_table("dead_letters") as batch:
        batch.create_unique_constraint("uq_dead_letters_channel", ["channel", "source_key"])


def downgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_constraint("uq_dead_letters_channel", type_="unique")
        batch.drop_column("source_key")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("claimed_at")
