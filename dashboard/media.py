"""/media/<id>: a report's stored photo or file (citizens' media, agencies' evidence), for the roles that
may open the report: the control room, and an agency officer for their own agency's reports only.
Never for the kiosk, executives or the public. A stored path is relative to ATTACHMENTS_DIR (resolved
when served, so moving the folder or starting from another directory keeps every file); whatever it
says, only a file inside the attachments folder is ever served."""
from __future__ import annotations

from flask import abort, send_file
from flask_login import current_user
from sqlalchemy import select

from dashboard import auth
from dashboard.context import services
from domain.models import Attachment, Report
from domain.scope import holds
from ingest.media import stored_file

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
        officer = current_user.agency_code if role == "agency_officer" else None
        with services().reads() as s:
            row = s.execute(select(Attachment.path, Attachment.content_type, Attachment.filename, Report.id,
                                   Report.agency_code)
                            .join(Report, Report.id == Attachment.report_id)
                            .where(Attachment.id == attachment_id)).first()
            # an agency's officer: only files of reports forwarded to the agency and still with it; another
            # agency's file, or one of a report not forwarded yet, answers as a missing one
            hidden = row is not None and role == "agency_officer" and (
                row.agency_code != officer or not holds(s, row.id, officer))
        if row is None or hidden:
            abort(404)
        path = stored_file(services().settings.attachments_dir, row.path)
        if path is None:
            abort(404)
        inline = row.content_type in INLINE_TYPES
        response = send_file(path, mimetype=row.content_type if inline else "application/octet-stream",
                             as_attachment=not inline, download_name=row.filename, max_age=0)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response
