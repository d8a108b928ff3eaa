"""A citizen's 1-5 rating of how their report was handled: one domain path for every way it arrives
(the WhatsApp/e-mail survey answer in ingest/conversation.py, the tracking page's form).

A report may be rated once it is resolved (RESOLVED, or CLOSED after a resolution), and only once: the
first rating stands and a second is refused with a clear error. The optional comment is the citizen's
own text: it is kept in the event's reason for the control room and never shown on a public surface.
"""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.orm import Session

from domain.actors import Actor
from domain.events import record
from domain.lifecycle import Status, TransitionError, ValidationError
from domain.models import Report

SCORES = range(1, 6)
MAX_COMMENT = 1000
RATEABLE = frozenset({Status.RESOLVED.value, Status.CLOSED.value})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def rateable(report: Report) -> bool:
    """Resolved (closed after a resolution counts) and not yet rated."""
    return report.status in RATEABLE and report.resolved_at is not None and report.satisfaction is None


def clean_comment(comment) -> str | None:
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise ValidationError("comment", "must be text")
    text = _CONTROL.sub("", comment).strip()
    if len(text) > MAX_COMMENT:
        raise ValidationError("comment", f"at most {MAX_COMMENT} characters")
    return text or None


def rate(session: Session, report: Report, actor: Actor, score, *, channel: str, now: datetime,
         comment: str | None = None) -> None:
    """Record the rating in the caller's transaction (the report row locked by the caller): the report's
    satisfaction and a `satisfaction_rated` event. Raises ValidationError / TransitionError, writing nothing."""
    if isinstance(score, bool) or not isinstance(score, int) or score not in SCORES:
        raise ValidationError("satisfaction", "must be a whole number from 1 to 5")
    comment = clean_comment(comment)
    if report.satisfaction is not None:
        raise TransitionError(f"{report.ticket} has already been rated")
    if not rateable(report):
        raise TransitionError(f"{report.ticket} can be rated once it is resolved")
    report.satisfaction = score
    report.updated_at = now
    record(session, report, actor, "satisfaction_rated", after={"satisfaction": score, "channel": channel},
           reason=comment, at=now)
