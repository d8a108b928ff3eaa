"""Which stored mail a new mail relates to: the report it continues (its thread), and the earlier mails
that carried the same Message-ID (a redelivery, or a collision).

Keys (ingest/mail_parse.py: message_key) are "<message-id> sender"; rows stored before the sender was
part of the key hold the bare Message-ID, and are still found (their sender is read from the report).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from domain.models import Message, Report
from ingest.mail_parse import TICKET, ParsedMail, message_key


@dataclass(frozen=True)
class EarlierUse:
    """A stored report or follow-up that carries the new mail's Message-ID."""
    ticket: str | None
    key: str
    sender: str | None  # None: a follow-up stored before senders were part of the key
    same_content: bool

    def same_message(self, parsed: ParsedMail) -> bool:
        """The same mail again (a redelivery, a mailbox read twice): same sender, same content."""
        return self.same_content and self.sender in (parsed.sender, None)


def earlier_uses(sessions, parsed: ParsedMail) -> list[EarlierUse]:
    """Every stored email report and follow-up with this mail's Message-ID (or, without one, its bytes)."""
    keys = {parsed.external_id, parsed.content_key}
    with sessions() as s:
        if parsed.message_id:
            prefix = parsed.message_id + " "
            report_match = or_(Report.external_id.in_(keys | {parsed.message_id}),
                               Report.external_id.startswith(prefix, autoescape=True))
            message_match = or_(Message.external_id.in_(keys | {parsed.message_id}),
                                Message.external_id.startswith(prefix, autoescape=True))
        else:
            report_match, message_match = Report.external_id.in_(keys), Message.external_id.in_(keys)
        reports = s.execute(select(Report.ticket, Report.external_id, Report.text, Report.raw_payload)
                            .where(Report.channel == "email", report_match)).all()
        messages = s.execute(select(Report.ticket, Message.external_id, Message.body)
                             .join(Report, Report.id == Message.report_id)
                             .where(Message.channel == "email", Message.direction == "in", message_match)).all()
    exact = keys | ({parsed.message_id} if parsed.message_id else set())
    reports = [r for r in reports if r[1] in exact or _sender_of(r[1], parsed)]  # SQLite's LIKE ignores case
    messages = [m for m in messages if m[1] in exact or _sender_of(m[1], parsed)]
    uses = []
    for ticket, key, text, payload in reports:
        provider = (payload or {}).get("provider") if isinstance(payload, dict) else None
        sender = _sender_of(key, parsed) or (provider.get("from") if isinstance(provider, dict) else None)
        uses.append(EarlierUse(ticket, key, sender or "", (text or "") == parsed.report_text))
    for ticket, key, body in messages:
        uses.append(EarlierUse(ticket, key, _sender_of(key, parsed), (body or "") == parsed.command_text))
    return uses


def _sender_of(key: str, parsed: ParsedMail) -> str | None:
    if key in (parsed.external_id, parsed.content_key):
        return parsed.sender
    if parsed.message_id and key.startswith(parsed.message_id + " "):
        return key[len(parsed.message_id) + 1:]
    return None


def find_thread(sessions, parsed: ParsedMail, authenticated: bool = True) -> Report | None:
    """The report this mail continues: one of our Message-IDs in its references, or the sender's own
    earlier mail there, or a ticket in the subject (only the sender's own report, so nobody can write
    into another citizen's report). The sender's own earlier mail and the subject's ticket count only
    for an `authenticated` sender (ingest/mail_auth.py): a forged From never joins anyone's report."""
    with sessions() as s:
        if parsed.references:
            own = [message_key(ref, parsed.sender, b"") for ref in parsed.references]
            replied = (Message.direction == "out") & Message.external_id.in_(parsed.references)
            ours = select(Report).join(Message, Message.report_id == Report.id).where(
                Message.channel == "email",
                or_(replied, (Message.direction == "in") & Message.external_id.in_(own)) if authenticated else replied)
            report = s.scalar(ours.limit(1))
            if report is None and not authenticated:
                return None
            if report is None:
                report = s.scalar(select(Report).where(Report.channel == "email",
                                                       Report.external_id.in_(own)).limit(1))
            if report is None:  # stored under the bare Message-ID (before senders were in the key)
                report = next((r for r in s.scalars(select(Report).where(
                    Report.channel == "email", Report.external_id.in_(parsed.references)).limit(10))
                    if ((r.raw_payload or {}).get("provider") or {}).get("from") == parsed.sender), None)
            if report is not None:
                return report
        match = TICKET.search(parsed.subject.upper()) if authenticated else None
        if match:
            report = s.scalar(select(Report).where(Report.ticket == match.group(1)))
            if report is not None and report.citizen is not None and any(
                    i.kind == "email" and i.value == parsed.sender for i in report.citizen.identities):
                return report
    return None
