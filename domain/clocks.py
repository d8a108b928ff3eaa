"""Operations on a report's SLA clocks inside a transaction (start, meet, pause, resume, recompute)."""
from __future__ import annotations

from datetime import datetime

from domain.clock import isoformat
from domain.models import Report, SlaClock
from domain.sla import SlaBook, deadline_for


def open_clocks(report: Report) -> list[SlaClock]:
    return [c for c in report.clocks if c.met_at is None and c.cancelled_at is None]


def clock(report: Report, stage: str) -> SlaClock | None:
    return next((c for c in report.clocks if c.stage == stage), None)


def start(report: Report, stage: str, started_at: datetime, sla: SlaBook) -> SlaClock:
    """Start (or restart) a stage's clock from `started_at`."""
    existing = clock(report, stage)
    target = sla.target_minutes(report.sla_policy_set, report.priority, stage)
    calendar = sla.calendar_for(report.sla_policy_set, report.priority)
    deadline = deadline_for(calendar, started_at, target, warning_fraction=sla.warning_fraction)
    if existing is None:
        existing = SlaClock(stage=stage, paused_seconds=0, extended_minutes=0)
        report.clocks.append(existing)
    existing.calendar = calendar.name
    existing.started_at = started_at
    existing.target_minutes = target
    existing.due_at = deadline.due_at
    existing.warn_at = deadline.warn_at
    existing.paused_seconds = 0
    existing.extended_minutes = 0
    existing.met_at = existing.breached_at = existing.warned_at = None
    existing.cancelled_at = existing.paused_at = None
    existing.next_check_at = existing.escalation_level = None
    return existing


def initial_row(report_id: int, stage: str, policy_set: str, priority: str, started_at: datetime,
                sla: SlaBook) -> dict:
    """The row of a stage's clock as it starts (for set-based inserts on the submit path)."""
    target = sla.target_minutes(policy_set, priority, stage)
    calendar = sla.calendar_for(policy_set, priority)
    deadline = deadline_for(calendar, started_at, target, warning_fraction=sla.warning_fraction)
    return dict(report_id=report_id, stage=stage, calendar=calendar.name, started_at=started_at,
                target_minutes=target, due_at=deadline.due_at, warn_at=deadline.warn_at,
                paused_seconds=0, extended_minutes=0)


def recompute(c: SlaClock, report: Report, sla: SlaBook) -> None:
    """Re-derive due and warning times from the report's current priority (targets may have changed)."""
    c.target_minutes = sla.target_minutes(report.sla_policy_set, report.priority, c.stage)
    calendar = sla.calendar_for(report.sla_policy_set, report.priority)
    c.calendar = calendar.name
    deadline = deadline_for(
        calendar,
        c.started_at,
        c.target_minutes,
        paused_seconds=c.paused_seconds,
        extended_minutes=c.extended_minutes,
        warning_fraction=sla.warning_fraction,
    )
    c.due_at, c.warn_at = deadline.due_at, deadline.warn_at
    if c.breached_at is not None and c.next_check_at is not None:
        c.next_check_at = min(c.next_check_at, c.due_at)  # an earlier deadline brings escalation forward


def meet(report: Report, stage: str, at: datetime) -> None:
    c = clock(report, stage)
    if c is not None and c.met_at is None and c.cancelled_at is None:
        c.met_at = at
        c.paused_at = None


def cancel_open(report: Report, at: datetime) -> None:
    for c in open_clocks(report):
        c.cancelled_at = at


def pause_open(report: Report, at: datetime, *, except_stage: str | None = None) -> None:
    for c in open_clocks(report):
        if c.stage != except_stage and c.paused_at is None:
            c.paused_at = at


def resume_paused(report: Report, at: datetime, sla: SlaBook) -> None:
    for c in open_clocks(report):
        if c.paused_at is not None:
            calendar = sla.calendars[c.calendar]
            c.paused_seconds += int(calendar.elapsed_seconds(c.paused_at, at))
            c.paused_at = None
            recompute(c, report, sla)


def describe(report: Report) -> dict[str, dict | None]:
    """Every stage's due time and, once known, when it was met or breached (None: not started)."""
    out: dict[str, dict | None] = {}
    for stage in ("acknowledge", "dispatch", "resolve"):
        c = clock(report, stage)
        out[stage] = None if c is None else {
            "due_at": isoformat(c.due_at),
            "warn_at": isoformat(c.warn_at),
            "met_at": isoformat(c.met_at),
            "breached_at": isoformat(c.breached_at),
            "paused": c.paused_at is not None,
            "cancelled": c.cancelled_at is not None,
            "extended_minutes": c.extended_minutes,
        }
    return out
