"""One demo report's life played without a database, writing the rows the real code would have written.

The demo history (ingest/demo_history.py) plans each report as a list of steps (verify, assign, accept,
transfer, resolve, an extension request, a citizen's rating, ...) and plays them here on transient ORM
objects with the domain's own pieces: the state machine (domain.lifecycle.check_transition), the SLA
clock operations (domain.clocks), the event snapshots of domain.workflow, the escalation ladder
(domain.escalation). Between two steps the SLA sweep is simulated as the running worker does it
(domain/sweep.py: warnings, breaches, escalation levels, their notifications), recorded right when each
level falls due. Each change mirrors one method: Workflow.<action>, dashboard.actions.request_extension
and decide_extension, ingest.conversation's rating and BUKA. tests/test_demo_history.py plays the same
steps through those real services and compares the rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain import clocks
from domain.actors import SYSTEM, Actor
from domain.clock import isoformat
from domain.escalation import Contact, EscalationLadder
from domain.lifecycle import (
    PING_PONG_TRANSFERS,
    Action,
    RejectReason,
    Role,
    Status,
    TransitionError,
    check_transition,
)
from domain.models import Report, SlaClock
from domain.sla import SlaBook
from domain.workflow import _diff, _snapshot, reopen_clocks
from ingest.demo_sweep import SweepPlay

SENT_AFTER = timedelta(seconds=3)  # demo messages are marked sent (never sent) this long after writing


@dataclass
class Step:
    """One thing that happens to a report: a Workflow method name, or request_extension, decide_extension,
    rate (the citizen's 1-5 answer) and citizen_reopen (the citizen's BUKA)."""

    at: datetime
    action: str
    actor: Actor
    args: dict = field(default_factory=dict)


@dataclass
class Played:
    """The rows of one report; ids of other rows are the writer's business (report and citizen keys)."""

    report: dict
    clocks: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    assignments: list[dict] = field(default_factory=list)
    breaches: list[dict] = field(default_factory=list)
    outbox: list[dict] = field(default_factory=list)
    extensions: list[dict] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    corrections: list[dict] = field(default_factory=list)


class Reference:
    """What the plays read once: SLA targets, the ladder, agency contacts, category labels, templates."""

    def __init__(self, sla: SlaBook, ladder: EscalationLadder, agencies: dict[str, tuple[str, Contact]],
                 categories: dict[str, str], templates):
        self.sla, self.ladder, self.agencies, self.categories = sla, ladder, agencies, categories
        self.templates = templates


class CasePlayer(SweepPlay):
    """Plays the steps of one report (`play`), in time order, up to the history's end (`until`); the SLA
    sweep between the steps is ingest/demo_sweep.py's."""

    def __init__(self, ref: Reference):
        self.ref = ref

    def play(self, fields: dict, steps: list[Step], until: datetime, targets: dict[str, int] | None = None,
             reply: dict | None = None) -> Played:
        """`fields`: the report's columns at intake (with `key`, its placeholder id); `targets`: tickets of
        reports this one may be merged into -> their keys; `reply`: the citizen's route for answers."""
        # Plain objects with the models' attributes: domain.clocks and the snapshots need nothing more (a
        # transient ORM object would cost the instrumentation of every attribute, thousands of times).
        self.report = report = _Plain(_REPORT_COLUMNS, {k: v for k, v in fields.items() if k != "key"})
        report.id = fields["key"]
        report.clocks = [_Plain(_CLOCK_COLUMNS, clocks.initial_row(
            report.id, s, report.sla_policy_set, report.priority, report.received_at, self.ref.sla))
            for s in ("acknowledge", "resolve")]
        self.out = Played(report={})
        self.targets, self.reply = targets or {}, reply
        self.recorded: set[tuple[str, str]] = set()  # (stage, level) rows of sla_breaches
        self.last_action_at = report.created_at
        self._event(report.created_at, SYSTEM, "received", before=None, after={
            "ticket": report.ticket, "status": report.status, "kind": report.kind,
            "category": report.category_code, "priority": report.priority, "agency": report.agency_code,
            "channel": report.channel})
        for step in steps:
            if step.at >= until:
                break
            self._sweep(step.at)
            getattr(self, f"_do_{step.action}")(step)
            self.last_action_at = step.at
        self._sweep(until)
        self.out.report = {c: getattr(report, c) for c in _REPORT_COLUMNS if c != "id"}
        self.out.report["key"] = report.id
        self.out.clocks = [_clock_row(c) for c in report.clocks]
        return self.out

    # ------------------------------------------------------------ plumbing (Workflow._change)
    def _event(self, at, actor: Actor, type_: str, *, before=None, after=None, reason=None) -> None:
        self.out.events.append(dict(at=at, report_key=self.report.id, citizen_key=self.report.citizen_id,
                                    actor=actor.name, actor_role=actor.role.value, type=type_, before=before,
                                    after=after, reason=reason))

    def _change(self, step: Step, action: Action | None, apply, *, reason=None, event_type=None) -> None:
        report, now = self.report, step.at
        if step.actor.role == Role.AGENCY_OFFICER and report.agency_code != step.actor.agency_code:
            raise TransitionError(f"{report.ticket} belongs to {report.agency_code}, not {step.actor.agency_code}")
        transition = check_transition(action, report.status, step.actor.role) if action is not None else None
        before = _snapshot(report)
        details = apply(now) or {}
        if transition is not None and transition.target is not None:
            report.status = transition.target.value
        report.updated_at = now
        b, a = _diff(before, _snapshot(report))
        a.update(details)
        event = event_type or action.value
        self._event(now, step.actor, event, before=b, after=a, reason=reason)
        self._correction(step, event, b, details)

    def _correction(self, step: Step, event: str, before: dict, details: dict) -> None:
        """routing/corrections.on_event: a person's transfer, assignment elsewhere or merge is a correction."""
        report = self.report
        if event not in ("transfer", "assign", "merge") or step.actor.role == Role.SYSTEM:
            return
        proposed = (report.routing or {}).get("proposed") or {}
        row = None
        if event == "transfer" and before.get("agency_code") != report.agency_code:
            row = ("agency", before.get("agency_code"), report.agency_code, proposed.get("agency"))
        elif event == "assign":
            routed = proposed.get("agency", before.get("agency_code"))
            if routed and routed != report.agency_code:
                row = ("agency", routed, report.agency_code, routed)
        elif event == "merge":
            row = ("merge", None, details.get("merged_into"), None)
        if row is not None:
            self.out.corrections.append(dict(report_key=report.id, field=row[0], before=row[1], after=row[2],
                                             proposed=row[3], event_type=event, actor=step.actor.name,
                                             actor_role=step.actor.role.value, at=step.at))

    def _assign(self, agency: str, kind: str, actor: Actor, now: datetime, reason: str | None) -> None:
        for current in self.out.assignments:
            if current["ended_at"] is None:
                current["ended_at"] = now
        self.out.assignments.append(dict(report_key=self.report.id, agency_code=agency, kind=kind,
                                         assigned_at=now, assigned_by=actor.name, reason=reason, ended_at=None))
        self.report.agency_code = agency

    # ------------------------------------------------------------ Workflow's transitions
    def _do_verify(self, step: Step) -> None:
        def apply(now):
            clocks.meet(self.report, "acknowledge", now)
            self.report.verified_at = now
            self.report.claimed_by = self.report.claimed_until = None
            clocks.start(self.report, "dispatch", now, self.ref.sla)
        self._change(step, Action.VERIFY, apply)

    def _do_assign(self, step: Step) -> None:
        reason = step.args.get("reason")
        agency = step.args.get("agency") or self.report.agency_code
        self._change(step, Action.ASSIGN, lambda now: self._assign(agency, "assign", step.actor, now, reason),
                     reason=reason)

    def _do_accept(self, step: Step) -> None:
        self._change(step, Action.ACCEPT, lambda now: clocks.meet(self.report, "dispatch", now))

    def _do_start(self, step: Step) -> None:
        self._change(step, Action.START, lambda now: None, reason=step.args.get("note"))

    def _do_resolve(self, step: Step) -> None:
        note = step.args["note"]

        def apply(now):
            clocks.meet(self.report, "resolve", now)
            self.report.resolved_at, self.report.resolution_note = now, note
        self._change(step, Action.RESOLVE, apply, reason=note)

    def _do_close(self, step: Step) -> None:
        def apply(now):
            self.report.closed_at, self.report.close_reason = now, "resolved"
        self._change(step, Action.CLOSE, apply)

    def _do_reject(self, step: Step) -> None:
        code = RejectReason(step.args["reason"])

        def apply(now):
            clocks.meet(self.report, "acknowledge", now)
            clocks.cancel_open(self.report, now)
            self.report.reject_reason, self.report.closed_at = code.value, now
        self._change(step, Action.REJECT, apply, reason=step.args.get("note") or code.value)

    def _do_merge(self, step: Step) -> None:
        into = step.args["into"]

        def apply(now):
            clocks.meet(self.report, "acknowledge", now)
            clocks.cancel_open(self.report, now)
            self.report.merged_into_id, self.report.closed_at = self.targets[into], now
            return {"merged_into": into}
        self._change(step, Action.MERGE, apply, reason=step.args.get("reason"))

    def _do_transfer(self, step: Step) -> None:
        agency, reason = step.args["agency"], step.args["reason"]

        def apply(now):
            if agency == self.report.agency_code:
                raise TransitionError(f"{self.report.ticket} is already with {agency}")
            self.report.transfer_count += 1
            if self.report.transfer_count > PING_PONG_TRANSFERS:
                self.report.needs_supervisor = True
            self._assign(agency, "transfer", step.actor, now, reason)
            clocks.start(self.report, "dispatch", now, self.ref.sla)
        self._change(step, Action.TRANSFER, apply, reason=reason)

    def _do_reopen(self, step: Step) -> None:
        reason = step.args["reason"]

        def apply(now):
            reopen_clocks(self.report, now, self.ref.sla)
            self._assign(self.report.agency_code, "reopen", step.actor, now, reason)
        self._change(step, Action.REOPEN, apply, reason=reason)

    def _do_extend_deadline(self, step: Step) -> None:
        stage, minutes = step.args["stage"], step.args["minutes"]

        def apply(now):
            c = clocks.clock(self.report, stage)
            if c is None or c.met_at is not None or c.cancelled_at is not None:
                raise TransitionError(f"{self.report.ticket} has no open {stage} clock to extend")
            old = c.due_at
            c.extended_minutes += minutes
            clocks.recompute(c, self.report, self.ref.sla)
            return {"stage": stage, "due_before": isoformat(old), "due_after": isoformat(c.due_at),
                    "extended_minutes": c.extended_minutes}
        self._change(step, None, apply, reason=step.args["reason"], event_type="deadline_extended")

    # ------------------------------------------------------------ dashboard.actions and the citizen's commands
    def _do_request_extension(self, step: Step) -> None:
        a = step.args
        self.out.extensions.append(dict(report_key=self.report.id, stage=a["stage"], minutes=a["minutes"],
                                        reason_code=a["reason_code"], reason=a["reason"].strip(),
                                        requested_by=step.actor.name, agency_code=self.report.agency_code,
                                        requested_at=step.at, status="pending", decided_by=None, decided_at=None,
                                        decision_note=None))
        self._event(step.at, step.actor, "extension_requested", after={
            "stage": a["stage"], "minutes": a["minutes"], "reason_code": a["reason_code"]}, reason=a["reason"])

    def _do_decide_extension(self, step: Step) -> None:
        request = next(r for r in reversed(self.out.extensions) if r["status"] == "pending")
        note, approve = step.args.get("note"), step.args["approve"]
        if approve:
            self._do_extend_deadline(Step(step.at, "extend_deadline", step.actor, {
                "stage": request["stage"], "minutes": request["minutes"],
                "reason": note or f"disetujui: {request['reason']}"}))
        request.update(status="approved" if approve else "refused", decided_by=step.actor.name, decided_at=step.at,
                       decision_note=note)
        if not approve:
            self._event(step.at, step.actor, "extension_refused", reason=note or "-")

    def _inbound(self, step: Step, body: str) -> None:
        self.out.messages.append(dict(report_key=self.report.id, direction="in", channel=self.reply["channel"],
                                      external_id=step.args["message_id"], author=step.args["author"], body=body,
                                      at=step.at))

    def _do_citizen_reopen(self, step: Step) -> None:
        """ingest.conversation._reopen: the citizen's BUKA, kept in the conversation, then Workflow.reopen."""
        self._inbound(step, f"BUKA {self.report.ticket} {step.args['reason']}")
        self._do_reopen(step)

    def _do_rate(self, step: Step) -> None:
        """domain.ratings (through ingest.conversation): the score on the citizen's closed report, and the thanks."""
        report, score = self.report, step.args["score"]
        if report.status != Status.CLOSED.value or report.satisfaction is not None:
            raise TransitionError(f"{report.ticket} cannot be rated now")
        self._inbound(step, str(score))
        report.satisfaction = score
        report.updated_at = step.at
        self._event(step.at, step.actor, "satisfaction_rated", after={"satisfaction": score,
                                                                      "channel": self.reply["channel"]})
        rendered = self.ref.templates.render("survey_thanks", ticket=report.ticket, score=score)
        payload = {"thread": self.reply.get("thread", {})}
        if self.reply["channel"] == "email":
            payload["message_id"] = f"<demo-{report.ticket.lower()}-thanks@tangerangkota.go.id>"
        self._message_out(step.at, self.reply["channel"], self.reply["to"], rendered.body,
                          rendered.subject, "survey_thanks", payload)

    def _message_out(self, at, channel, recipient, body, subject, template, payload, *, conversation=True):
        """ingest.outbox.enqueue (and the sweep's own rows): written at `at`, marked sent, never sent."""
        self.out.outbox.append(dict(report_key=self.report.id, channel=channel, recipient=recipient, template=template,
                                    subject=subject, body=body, payload=payload, status="sent", attempts=1,
                                    next_attempt_at=at, last_error=None, provider_id=None, delivery_status=None,
                                    created_at=at, sent_at=at + SENT_AFTER))
        if conversation:
            self.out.messages.append(dict(report_key=self.report.id, direction="out", channel=channel,
                                          external_id=payload.get("message_id"), author="system", body=body, at=at))


_REPORT_COLUMNS = tuple(c.key for c in Report.__table__.columns)
_CLOCK_COLUMNS = tuple(c.key for c in SlaClock.__table__.columns)


class _Plain:
    """A row as a plain object: every column of its table as an attribute (None unless given)."""

    def __init__(self, columns: tuple[str, ...], values: dict):
        self.__dict__.update(dict.fromkeys(columns), **values)


def _clock_row(c) -> dict:
    """A clock's columns (clocks.start adds an ORM SlaClock for a stage that had none: both read alike)."""
    return {col: getattr(c, col) for col in _CLOCK_COLUMNS if col not in ("id", "report_id")}


__all__ = ["CasePlayer", "Played", "Reference", "Step"]
