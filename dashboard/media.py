"""/media/<id>: a report's stored photo or file (citizens' media, agencies' evidence), for the roles that
may open the report: the control room, and an agency officer for their own agency's reports only.
Never for the kiosk, executives or the public. Files are served from the attachments folder only."""
from __future__ import annotations

from pathlib import Path

from flask import abort, send_file
from flask_login import current_user
from sqlalchemy import select

from dashboard import auth
from dashboard.context import services
from domain.models import Attachment, Report

ROLES = frozenset({"admin", "operator", "supervisor", "agency_officer"})
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})  # everything else downloads


def url(attachment_id: int) -> str:
    return f"/media/{attachment_id}"


def install(server) -> None:
    @server.route("/media/<int:attachment_id>")
    def media(attachment_id: int):
        role = auth.role()
        if role is None:
            abort(401)
        if role not in ROLES:
            abort(403)
        with services().reads() as s:
            row = s.execute(select(Attachment.path, Attachment.content_type, Attachment.filename, Report.agency_code)
                            .join(Report, Report.id == Attachment.report_id)
                            .where(Attachment.id == attachment_id)).first()
        # another agency's file answers as a missing one: its existence is not disclosed
        if row is None or not row.path or (role == "agency_officer" and row.agency_code != current_user.agency_code):
            abort(404)
        root = Path(services().settings.attachments_dir).resolve()
        path = Path(row.path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            abort(404)
        inline = row.content_type in INLINE_TYPES
        response = send_file(path, mimetype=row.content_type if inline else "application/octet-stream",
                             as_attachment=not inline, download_name=row.filename, max_age=0)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response
