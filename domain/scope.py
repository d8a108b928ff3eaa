"""Which reports an agency officer may see and act on: those forwarded to their agency and still held by it.

"Forwarded" is an open row of `assignments` (made by assign, transfer or reopen, ended by the next one):
a NEW or VERIFIED report routed to an agency is not forwarded yet, and neither is a report the control
room asked the citizen about before forwarding it. After a transfer away the former agency's assignment
is ended: from then on the report is another agency's, and the former one sees it no more (its breaches
stay attributed to it in the supervisor's views). One predicate for the workflow, the dashboard's
actions and queries, and /media.
"""
from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from domain.actors import Actor
from domain.lifecycle import Role, report_not_found
from domain.models import Assignment, Report


def held_by(agency_code: str | None):
    """SQL: the report (`Report.id`) is forwarded to `agency_code` and not moved on since."""
    return exists().where(Assignment.report_id == Report.id, Assignment.agency_code == (agency_code or ""),
                          Assignment.ended_at.is_(None))


def holds(session: Session, report_id: int, agency_code: str | None) -> bool:
    return bool(session.scalar(select(held_by(agency_code)).where(Report.id == report_id)))


def check_officer(session: Session, report: Report, actor: Actor) -> None:
    """Raise NotFound, exactly as for a ticket that names no report (domain.lifecycle.report_not_found),
    when an agency officer's agency does not hold the report: an officer cannot learn that a ticket
    exists outside their scope, nor whose it is. Every other role passes (the lifecycle table decides
    what they may do). Checked inside the caller's transaction."""
    if actor.role != Role.AGENCY_OFFICER:
        return
    if report.agency_code != actor.agency_code or not holds(session, report.id, actor.agency_code):
        raise report_not_found(report.ticket)
