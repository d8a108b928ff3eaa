"""attachment paths relative to ATTACHMENTS_DIR; categories.public (which topics a public tracker may list)

Before, citizens' files were stored as paths relative to the attachments folder but served as paths
relative to the working directory (so /media answered 404), while agency evidence was stored as an
absolute (or working-directory relative) path. Every stored path becomes relative to ATTACHMENTS_DIR:
files are content-addressed (`<2 hex>/<sha256><ext>`, `evidence/<sha256><ext>`), so the tail of any
old path names the file whatever folder it was written under. A path of another shape is left as it
is (the server still serves it only when it lies inside the attachments folder).

`categories.public` starts false for every category (nothing is public until the seed reads
data/categories.csv, which `init-db` does right after migrating).

Revision ID: 0011_attachment_paths
Revises: 0001
"""
import re

from alembic import op
import sqlalchemy as sa


revision = "0011_attachment_paths"
down_revision = "0001"
branch_labels = None
depends_on = None

CONTENT_ADDRESSED = re.compile(r"(?:^|/)((?:evidence|[0-9a-f]{2})/[0-9a-f]{64}(?:\.[A-Za-z0-9]{1,9})?)$")


def relative_path(stored: str) -> str:
    """An old stored path as the path relative to the attachments folder ('' and None stay)."""
    if not stored:
        return stored
    match = CONTENT_ADDRESSED.search(stored.replace("\\", "/"))
    return match.group(1) if match else stored


def upgrade() -> None:
    with op.batch_alter_table("categories") as batch:
        batch.add_column(sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.false()))
    conn = op.get_bind()
    attachments = sa.table("attachments", sa.column("id", sa.Integer), sa.column("path", sa.String))
    rows = conn.execute(sa.select(attachments.c.id, attachments.c.path).where(attachments.c.path.is_not(None),
                                                                             attachments.c.path != "")).all()
    for row_id, stored in rows:
        moved = relative_path(stored)
        if moved != stored:
            conn.execute(attachments.update().where(attachments.c.id == row_id).values(path=moved))


def downgrade() -> None:
    # Relative paths stay relative: the older code could not serve them either way.
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("public")
