"""tracking page for citizens: an unguessable code per report (reports.tracking_code, backfilled), and which
attachments are an agency's evidence photos (attachments.evidence_stage: before | after; NULL is the
citizen's own media) with a per-photo public reference (attachments.public_ref) for the public photo route

Revision ID: 0018_tracking_codes
Revises: 0001
"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = "0018_tracking_codes"
down_revision = "0001"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("tracking_code", sa.String(length=32), nullable=True))
    with op.batch_alter_table("attachments") as batch:
        batch.add_column(sa.Column("evidence_stage", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("public_ref", sa.String(length=32), nullable=True))
    op.create_index("uq_attachments_public_ref", "attachments", ["public_ref"], unique=True)
    conn = op.get_bind()
    _backfill_codes(conn)
    _backfill_evidence(conn)


def _backfill_codes(conn) -> None:
    """Every existing report gets its own random code (the same generator as new reports)."""
    reports = sa.table("reports", sa.column("id", sa.Integer), sa.column("tracking_code", sa.String))
    ids = conn.execute(sa.select(reports.c.id).where(reports.c.tracking_code.is_(None))).scalars().all()
    stmt = (sa.update(reports).where(reports.c.id == sa.bindparam("rid"))
            .values(tracking_code=sa.bindparam("code")))
    for start in range(0, len(ids), BATCH):
        conn.execute(stmt, [{"rid": rid, "code": secrets.token_urlsafe(16)} for rid in ids[start:start + BATCH]])


def _backfill_evidence(conn) -> None:
    """Agency evidence stored before this revision is known by its `evidence_added` event (report and
    SHA-256 of the file): it becomes an "after" photo with a public reference. Citizens' media stay NULL."""
    events = sa.table("events", sa.column("report_id", sa.Integer), sa.column("type", sa.String),
                      sa.column("after", sa.JSON))
    attachments = sa.table("attachments", sa.column("id", sa.Integer), sa.column("report_id", sa.Integer),
                           sa.column("sha256", sa.String), sa.column("evidence_stage", sa.String),
                           sa.column("public_ref", sa.String))
    added = {(rid, (after or {}).get("sha256")) for rid, after in conn.execute(
        sa.select(events.c.report_id, events.c.after).where(events.c.type == "evidence_added"))}
    if not added:
        return
    report_ids = sorted({rid for rid, _ in added if rid is not None})
    rows = []
    for start in range(0, len(report_ids), BATCH):
        rows += conn.execute(sa.select(attachments.c.id, attachments.c.report_id, attachments.c.sha256)
                             .where(attachments.c.report_id.in_(report_ids[start:start + BATCH]))).all()
    marks = [{"aid": aid, "ref": secrets.token_urlsafe(16)} for aid, rid, digest in rows if (rid, digest) in added]
    if marks:
        conn.execute(sa.update(attachments).where(attachments.c.id == sa.bindparam("aid"))
                     .values(evidence_stage="after", public_ref=sa.bindparam("ref")), marks)


def downgrade() -> None:
    op.drop_index("uq_attachments_public_ref", table_name="attachments")
    with op.batch_alter_table("attachments") as batch:
        batch.drop_column("public_ref")
        batch.drop_column("evidence_stage")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("tracking_code")
