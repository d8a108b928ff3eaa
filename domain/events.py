"""The append-only event log: every change records who, what, when, before and after."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from domain.actors import Actor
from domain.models import Event, Report


def record(
    session: Session,
    report: Report | None,
    actor: Actor,
    type: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    citizen_id: int | None = None,
    at=None,
) -> Event:
    from domain.clock import utcnow

    event = Event(
        at=at or utcnow(),
        report_id=report.id if report is not None else None,
        citizen_id=citizen_id if citizen_id is not None else (report.citizen_id if report is not None else None),
        actor=actor.name,
        actor_role=actor.role.value,
        type=type,
        before=before,
        after=after,
        reason=reason,
    )
    session.add(event)
    return event
