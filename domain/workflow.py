"""Lifecycle changes of stored reports: each is one transaction that checks the role, applies the
transition, moves the SLA clocks and records an event. A refused change raises and writes nothing.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from domain import clocks, scope
from domain.actors import SYSTEM, Actor
from domain.clock import isoformat
from domain.db import transaction_state
from domain.events import record
from domain.lifecycle import (
    PING_PONG_TRANSFERS,
    REOPEN_WINDOW,
    WAIT_LIMIT,
    Action,
    RejectReason,
    Role,
    report_not_found,
    Status,
    TransitionError,
    ValidationError,
    check_transition,
    ticket_of,
)
from domain.models import Agency, Assignment, Report
from domain.queue import QueueService

SNAPSHOT_FIELDS = ("status", "kind", "category_code", "priority", "agency_code", "merged_into_id",
                   "reject_reason", "close_reason", "transfer_count", "needs_supervisor")


def reopen_clocks(report: Report, now: datetime, sla) -> None:
    """What a reopening does to a report before its new assignment (the workflow and the demo history's replay
    of it): only within 72 h of the resolution; not closed any more, the resolve clock running again, a new
    dispatch clock."""
    if report.resolved_at is None or now - report.resolved_at > REOPEN_WINDOW:
        raise TransitionError(f"{report.ticket} can be reopened only within 72 h of its resolution")
    report.closed_at = report.close_reason = None
    resolve_clock = clocks.clock(report, "resolve")
    if resolve_clock is not None:
        resolve_clock.met_at = None
    clocks.start(report, "dispatch", now, sla)


def _snapshot(report: Report) -> dict:
    return {f: getattr(report, f) for f in SNAPSHOT_FIELDS}


def _diff(before: dict, after: dict) -> tuple[dict, dict]:
    keys = [k for k in before if before[k] != after[k]]
    return {k: before[k] for k in keys}, {k: after[k] for k in keys}


class Workflow:
    """Transitions on the queue's reports (a thin layer over the state machine in domain.lifecycle)."""

    def __init__(self, queue: QueueService):
        self.queue = queue
        self.sla = queue.sla

    # ------------------------------------------------------------ plumbing
    def _change(self, ticket: str, actor: Actor, action: Action | None, apply, *, reason: str | None = None,
                event_type: str | None = None, extra: dict | None = None) -> Report:
        now = self.queue.clock()
        with self.queue.sessions.begin() as s:
            report = self._load(s, ticket)
            return self._apply(s, report, actor, action, apply, now, reason=reason, event_type=event_type,
                               extra=extra)

    def _apply(self, s: Session, report: Report, actor: Actor, action: Action | None, apply, now: datetime, *,
               reason: str | None = None, event_type: str | None = None, extra: dict | None = None) -> Report:
        scope.check_officer(s, report, actor)
        if action is not None:
            transition = check_transition(action, report.status, actor.role)
        before = _snapshot(report)
        details = apply(s, report, now) or {}
        if action is not None and transition.target is not None:
            report.status = transition.target.value
        report.updated_at = now
        b, a = _diff(before, _snapshot(report))
        a.update(details)
        if extra:
            a.update(extra)
        event = event_type or (action.value if action else "changed")
        record(s, report, actor, event, before=b, after=a, reason=reason, at=now)
        self.queue.notify(s, report, event, a)
        return report

    @staticmethod
    def _load(s: Session, ticket: str) -> Report:
        report = s.scalar(
            select(Report).where(Report.ticket == ticket_of(ticket))
            .options(selectinload(Report.clocks)).with_for_update()
        )
        if report is None:
            raise report_not_found(ticket)
        return report

    @staticmethod
    def _require_agency(s: Session, code: str) -> str:
        """Checked in the caller's transaction: a second session here would wait on SQLite's write lock."""
        code = (code or "").strip().upper()
        active = transaction_state(s, "workflow_agencies")  # read once per transaction (a batch forwards many)
        if code and code not in active:
            if not active:  # every agency at once, without flushing the transaction's pending changes
                with s.no_autoflush:
                    active.update((code_, bool(on)) for code_, on in s.execute(select(Agency.code, Agency.active)))
            if code not in active:  # not stored yet (created in this transaction?): the session knows
                agency = s.get(Agency, code)
                active[code] = agency is not None and agency.active
        if not code or not active[code]:
            raise ValidationError("agency", f"unknown agency code {code!r}")
        return code

    @staticmethod
    def _require_reason(reason: str | None) -> str:
        if not reason or not reason.strip():
            raise ValidationError("reason", "a reason is required")
        return reason.strip()

    @staticmethod
    def _assign(s: Session, report: Report, agency: str, kind: str, actor: Actor, now: datetime,
                reason: str | None) -> None:
        # The stored open assignments and those added in this transaction, read without a flush; an
        # assignment ended in this transaction but not flushed is skipped by its ended_at in memory.
        with s.no_autoflush:
            stored = list(s.scalars(select(Assignment).where(Assignment.report_id == report.id,
                                                              Assignment.ended_at.is_(None))))
        pending = [a for a in s.new if isinstance(a, Assignment) and a.report_id == report.id]
        for current in {id(a): a for a in (*stored, *pending)}.values():
            if current.ended_at is None:
                current.ended_at = now
        s.add(Assignment(report_id=report.id, agency_code=agency, kind=kind, assigned_at=now,
                         assigned_by=actor.name, reason=reason))
        report.agency_code = agency

    # ------------------------------------------------------------ transitions
    def _verify_apply(self, s, report, now):
        clocks.meet(report, "acknowledge", now)
        report.verified_at = now
        report.claimed_by = report.claimed_until = None
        clocks.start(report, "dispatch", now, self.sla)

    def verify(self, ticket: str, actor: Actor) -> Report:
        return self._change(ticket, actor, Action.VERIFY, self._verify_apply)

    def forward_in(self, s: Session, report: Report, actor: Actor, reason: str | None = None) -> Report:
        """Verify `report` and assign it to its agency inside the caller's transaction: the system's own
        forwarding of a confident report, in the transaction that stores it (routing/automation.py).
        The same checks, events and listeners (the citizen's "forwarded" message) as verify + assign."""
        now = self.queue.clock()
        self._apply(s, report, actor, Action.VERIFY, self._verify_apply, now)

        def assign(s, report, now):
            self._assign(s, report, self._require_agency(s, report.agency_code), "assign", actor, now, reason)
        return self._apply(s, report, actor, Action.ASSIGN, assign, now, reason=reason)

    def assign(self, ticket: str, actor: Actor, agency: str | None = None, reason: str | None = None) -> Report:
        def apply(s, report, now):
            self._assign(s, report, self._require_agency(s, agency or report.agency_code), "assign", actor, now, reason)
        return self._change(ticket, actor, Action.ASSIGN, apply, reason=reason)

    def verify_and_assign(self, ticket: str, actor: Actor, agency: str | None = None,
                          reason: str | None = None) -> Report:
        self.verify(ticket, actor)
        return self.assign(ticket, actor, agency, reason)

    def accept(self, ticket: str, actor: Actor) -> Report:
        return self._change(ticket, actor, Action.ACCEPT, lambda s, r, now: clocks.meet(r, "dispatch", now))

    def start(self, ticket: str, actor: Actor, note: str | None = None) -> Report:
        return self._change(ticket, actor, Action.START, lambda s, r, now: None, reason=note)

    def resolve(self, ticket: str, actor: Actor, note: str) -> Report:
        note = self._require_reason(note)

        def apply(s, report, now):
            clocks.meet(report, "resolve", now)
            report.resolved_at, report.resolution_note = now, note
        return self._change(ticket, actor, Action.RESOLVE, apply, reason=note)

    def close(self, ticket: str, actor: Actor, satisfaction: int | None = None) -> Report:
        if satisfaction is not None and satisfaction not in range(1, 6):
            raise ValidationError("satisfaction", "must be 1 to 5")

        def apply(s, report, now):
            report.closed_at, report.close_reason = now, "resolved"
            if satisfaction is not None:
                report.satisfaction = satisfaction
        return self._change(ticket, actor, Action.CLOSE, apply)

    def reject(self, ticket: str, actor: Actor, reason: str, note: str | None = None) -> Report:
        try:
            code = RejectReason(reason)
        except ValueError:
            raise ValidationError("reason", f"unknown reject reason {reason!r} "
                                            f"(one of: {', '.join(r.value for r in RejectReason)})") from None

        def apply(s, report, now):
            clocks.meet(report, "acknowledge", now)
            clocks.cancel_open(report, now)
            report.reject_reason, report.closed_at = code.value, now
        return self._change(ticket, actor, Action.REJECT, apply, reason=note or code.value)

    def merge(self, ticket: str, actor: Actor, into_ticket: str, reason: str | None = None) -> Report:
        def apply(s, report, now):
            target = s.scalar(select(Report).where(Report.ticket == ticket_of(into_ticket)))
            if target is None:
                raise report_not_found(into_ticket)
            if target.id == report.id:
                raise TransitionError("a report cannot be merged into itself")
            if target.status == Status.MERGED.value:
                raise TransitionError(f"{target.ticket} is itself merged; merge into {target.merged_into_id}")
            clocks.meet(report, "acknowledge", now)
            clocks.cancel_open(report, now)
            report.merged_into_id, report.closed_at = target.id, now
            return {"merged_into": target.ticket}
        return self._change(ticket, actor, Action.MERGE, apply, reason=reason)

    def ask_citizen(self, ticket: str, actor: Actor, question: str) -> Report:
        question = self._require_reason(question)

        def apply(s, report, now):
            clocks.meet(report, "acknowledge", now)
            clocks.pause_open(report, now)
            report.status_before_wait, report.waiting_since = report.status, now
        return self._change(ticket, actor, Action.ASK_CITIZEN, apply, reason=question)

    def citizen_replied(self, ticket: str, actor: Actor = SYSTEM) -> Report:
        def apply(s, report, now):
            clocks.resume_paused(report, now, self.sla)
            report.status = report.status_before_wait or Status.NEW.value
            report.status_before_wait = report.waiting_since = None
        return self._change(ticket, actor, Action.CITIZEN_REPLIED, apply)

    def expire_wait(self, ticket: str) -> Report:
        def apply(s, report, now):
            if report.waiting_since is None or now - report.waiting_since < WAIT_LIMIT:
                raise TransitionError(f"{report.ticket} has waited less than {WAIT_LIMIT}")
            clocks.cancel_open(report, now)
            report.closed_at, report.close_reason, report.status_before_wait = now, "incomplete", None
        return self._change(ticket, SYSTEM, Action.EXPIRE_WAIT, apply, reason="no answer from the citizen in 72 h")

    def reopen(self, ticket: str, actor: Actor, reason: str) -> Report:
        reason = self._require_reason(reason)

        def apply(s, report, now):
            reopen_clocks(report, now, self.sla)
            self._assign(s, report, report.agency_code, "reopen", actor, now, reason)
        return self._change(ticket, actor, Action.REOPEN, apply, reason=reason)

    def transfer(self, ticket: str, actor: Actor, agency: str, reason: str) -> Report:
        reason = self._require_reason(reason)

        def apply(s, report, now):
            target = self._require_agency(s, agency)
            if target == report.agency_code:
                raise TransitionError(f"{report.ticket} is already with {target}")
            report.transfer_count += 1
            if report.transfer_count > PING_PONG_TRANSFERS:
                report.needs_supervisor = True
            self._assign(s, report, target, "transfer", actor, now, reason)
            clocks.start(report, "dispatch", now, self.sla)
        return self._change(ticket, actor, Action.TRANSFER, apply, reason=reason)

    # ------------------------------------------------------------ deadlines
    def change_priority(self, ticket: str, actor: Actor, priority: str, reason: str) -> Report:
        reason = self._require_reason(reason)
        priority = (priority or "").strip().upper()
        if priority not in ("P1", "P2", "P3", "P4"):
            raise ValidationError("priority", f"unknown priority {priority!r} (P1..P4)")
        if actor.role not in (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN, Role.SYSTEM):
            raise TransitionError(f"role {actor.role.value} may not change a priority")

        def apply(s, report, now):
            if Status(report.status) in (Status.CLOSED, Status.REJECTED, Status.MERGED):
                raise TransitionError(f"{report.ticket} is {report.status}; its deadlines are final")
            before = {c.stage: isoformat(c.due_at) for c in clocks.open_clocks(report)}
            report.priority = priority
            for c in clocks.open_clocks(report):
                clocks.recompute(c, report, self.sla)
            return {"due_before": before, "due_after": {c.stage: isoformat(c.due_at)
                                                        for c in clocks.open_clocks(report)}}
        return self._change(ticket, actor, None, apply, reason=reason, event_type="priority_changed")

    def extend_deadline(self, ticket: str, actor: Actor, stage: str, minutes: int, reason: str) -> Report:
        """A supervisor's decision: moves a stage's deadline, past the 168 h ceiling if need be."""
        reason = self._require_reason(reason)
        if actor.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise TransitionError("only a supervisor may extend a deadline")
        if not isinstance(minutes, int) or minutes <= 0:
            raise ValidationError("minutes", "must be a positive whole number of minutes")

        def apply(s, report, now):
            c = clocks.clock(report, stage)
            if c is None or c.met_at is not None or c.cancelled_at is not None:
                raise TransitionError(f"{report.ticket} has no open {stage} clock to extend")
            old = c.due_at
            c.extended_minutes += minutes
            clocks.recompute(c, report, self.sla)
            return {"stage": stage, "due_before": isoformat(old), "due_after": isoformat(c.due_at),
                    "extended_minutes": c.extended_minutes}
        return self._change(ticket, actor, None, apply, reason=reason, event_type="deadline_extended")

    # ------------------------------------------------------------ housekeeping (the worker calls these)
    def expire_waiting(self, limit: int = 500) -> list[str]:
        """Close every report that has waited for its citizen longer than 72 h."""
        cutoff = self.queue.clock() - WAIT_LIMIT
        with self.queue.sessions() as s:
            tickets = list(s.scalars(select(Report.ticket).where(
                Report.status == Status.WAITING_CITIZEN.value, Report.waiting_since <= cutoff).limit(limit)))
        done = []
        for ticket in tickets:
            try:
                self.expire_wait(ticket)
                done.append(ticket)
            except TransitionError:
                continue  # the citizen answered meanwhile
        return done

    def close_resolved(self, after: timedelta = REOPEN_WINDOW, limit: int = 500) -> list[str]:
        """Close resolved reports whose reopening window has passed without a dispute."""
        cutoff = self.queue.clock() - after
        with self.queue.sessions() as s:
            tickets = list(s.scalars(select(Report.ticket).where(
                Report.status == Status.RESOLVED.value, Report.resolved_at <= cutoff).limit(limit)))
        done = []
        for ticket in tickets:
            try:
                self.close(ticket, SYSTEM)
                done.append(ticket)
            except TransitionError:
                continue
        return done

