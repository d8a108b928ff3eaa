"""A citizen's message on a two-way channel (WhatsApp, email, Meta, X): a command, a follow-up to
their open report, or a new report. Every channel adapter ends here, so the rules are the same.

    STATUS TLR-2026-000123   answers with the status of the citizen's own report
    BUKA TLR-2026-000123     reopens the citizen's own resolved report within 72 h
    1 .. 5                   rates the citizen's most recently closed report (once)
    anything else            goes to the citizen's open report on this channel, else a new report

A command acts only on a report whose citizen is the sender (the same contact), never on a ticket a
stranger types: STATUS of anyone else's ticket is answered exactly like an unknown ticket, and nothing
is written into that report. A sender the channel cannot vouch for (`authenticated` False: an e-mail
without a passing DKIM/SPF verdict of our receiving server, ingest/mail_auth.py) is nobody's citizen
for commands: STATUS gets the unknown-ticket answer, anything else is an ordinary message. A report
merged into another answers with the incident's progress under the citizen's own ticket.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select

from domain import ratings
from domain.clock import to_wib
from domain.intake import AttachmentInfo, IncomingReport
from domain.lifecycle import DomainError, Status
from domain.models import Agency, Report
from ingest.inbox import REOPEN_COMMAND, RATING, STATUS_COMMAND, SURVEY_WINDOW, Outcome, citizen_actor
from ingest.outbox import enqueue


@dataclass(frozen=True)
class InboundMessage:
    channel: str
    external_id: str
    identity: tuple[str, str] | None  # (kind, value) of the sender, e.g. ("phone", "+62812...")
    author: str | None
    text: str
    reply: dict  # reply_route(...) for answers to commands
    build_report: Callable[[], IncomingReport]  # the new report, when it is one (may raise Unusable)
    attachments: tuple[AttachmentInfo, ...] = ()
    find_report: Callable[[], Report | None] | None = None  # channel-specific threading (email refs)
    join_open_report: bool = True  # chat channels: a message while a report is open continues it
    authenticated: bool = True  # the channel vouches for the sender (signed webhooks; e-mail: DKIM/SPF)


def handle(channels, msg: InboundMessage, submit: Callable[[IncomingReport], Outcome] | None = None) -> Outcome:
    """`submit` stores a new report (default: at once; the staging drain collects them for submit_many)."""
    inbox = channels.inbox
    submit = submit or inbox.submit
    seen = inbox.seen(msg.channel, msg.external_id)
    if seen is not None:
        return seen
    text = msg.text or ""
    citizen_id = inbox.citizen_of(*msg.identity) if msg.identity and msg.authenticated else None
    if (m := STATUS_COMMAND.match(text)) and not msg.attachments:
        return _status(channels, msg, m.group(1).upper(), citizen_id)
    if (m := REOPEN_COMMAND.match(text)) and citizen_id is not None:
        return _reopen(channels, msg, m.group(1).upper(), m.group(2).strip(), citizen_id, submit)
    if (m := RATING.match(text)) and citizen_id is not None and not msg.attachments:
        outcome = _rate(channels, msg, int(m.group(1)), citizen_id)
        if outcome is not None:
            return outcome
    target = msg.find_report() if msg.find_report else None
    if target is None and msg.join_open_report:
        target = inbox.open_report(citizen_id, msg.channel)
    if target is not None:
        return inbox.add_followup(target.id, msg.channel, msg.external_id, msg.author, text, msg.attachments)
    return submit(msg.build_report())


def _reply(channels, s, report: Report | None, msg: InboundMessage, template: str, **values) -> None:
    rendered = channels.templates.render(template, **values)
    enqueue(s, channel=msg.reply["channel"], recipient=msg.reply["to"], body=rendered.body,
            subject=rendered.subject, template=template, report=report, now=channels.clock(),
            payload={"thread": msg.reply.get("thread", {})})


def _status(channels, msg: InboundMessage, ticket: str, citizen_id: int | None) -> Outcome:
    inbox = channels.inbox
    with inbox.sessions.begin() as s:
        report = _owned(s, ticket, citizen_id)  # None: unknown, or not the sender's (answered alike)
        if not inbox.remember_command(s, report, msg.channel, msg.external_id, msg.author, msg.text,
                                      channels.clock()):
            return Outcome("duplicate", ticket)
        if report is None:
            _reply(channels, s, None, msg, "status_unknown", ticket=ticket)
        else:
            incident = _incident(s, report)
            agency = s.get(Agency, incident.agency_code) if incident.agency_code else None
            _reply(channels, s, report, msg, "status", ticket=ticket,
                   status_label=channels.templates.status_label(incident.status),
                   agency_name=agency.name if agency else (incident.agency_code or "-"),
                   received_at=to_wib(report.received_at).strftime("%d-%m-%Y %H:%M"))
    return Outcome("command", ticket if report is not None else None)


def _owned(s, ticket: str, citizen_id: int | None) -> Report | None:
    """The report with this ticket when its citizen is the sender (None for anyone else)."""
    if citizen_id is None:
        return None
    return s.scalar(select(Report).where(Report.ticket == ticket, Report.citizen_id == citizen_id))


def _incident(s, report: Report) -> Report:
    """The report a merged duplicate was folded into (following merges), else the report itself."""
    seen = {report.id}
    while report.status == Status.MERGED.value and report.merged_into_id and report.merged_into_id not in seen:
        seen.add(report.merged_into_id)
        report = s.get(Report, report.merged_into_id)
    return report


def _reopen(channels, msg: InboundMessage, ticket: str, reason: str, citizen_id: int, submit) -> Outcome:
    with channels.inbox.sessions() as s:
        report = _owned(s, ticket, citizen_id)
        incident_ticket = _incident(s, report).ticket if report is not None else None
    if report is None:  # not theirs: an ordinary message
        return submit(msg.build_report())
    with channels.inbox.sessions.begin() as s:
        fresh = channels.inbox.remember_command(s, s.get(Report, report.id), msg.channel, msg.external_id,
                                                msg.author, msg.text, channels.clock())
    if not fresh:
        return Outcome("duplicate", ticket)
    try:  # a merged duplicate reopens the incident it is part of (its citizen is told under their ticket)
        reopened = channels.services.workflow.reopen(incident_ticket, citizen_actor(msg.author or msg.channel),
                                                     reason or "dibuka kembali oleh pelapor")
    except DomainError:
        with channels.inbox.sessions.begin() as s:
            _reply(channels, s, s.get(Report, report.id), msg, "reopen_refused", ticket=ticket)
    else:
        if incident_ticket != ticket:
            with channels.inbox.sessions.begin() as s:
                agency = s.get(Agency, reopened.agency_code) if reopened.agency_code else None
                _reply(channels, s, s.get(Report, report.id), msg, "reopened", ticket=ticket,
                       agency_name=agency.name if agency else (reopened.agency_code or "-"))
    return Outcome("command", ticket)


def _rate(channels, msg: InboundMessage, score: int, citizen_id: int) -> Outcome | None:
    now = channels.clock()
    with channels.inbox.sessions.begin() as s:
        report = s.scalar(select(Report).where(
            Report.citizen_id == citizen_id, Report.status == Status.CLOSED.value,
            Report.satisfaction.is_(None), Report.resolved_at.is_not(None), Report.closed_at >= now - SURVEY_WINDOW,
        ).order_by(Report.closed_at.desc()).limit(1).with_for_update())
        if report is None:
            return None
        if not channels.inbox.remember_command(s, report, msg.channel, msg.external_id, msg.author, msg.text, now):
            return Outcome("duplicate", report.ticket)
        ratings.rate(s, report, citizen_actor(msg.author or msg.channel), score, channel=msg.channel, now=now)
        _reply(channels, s, report, msg, "survey_thanks", ticket=report.ticket, score=score)
        return Outcome("command", report.ticket)
