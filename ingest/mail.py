"""Email: an IMAP poller (imap-tools) on the city's mailbox, and replies by SMTP with threading headers.

The checkpoint (UIDVALIDITY and the last UID done) lives in the `checkpoints` table and moves only
after the message's report (or dead letter) is committed, one message at a time; a worker killed
mid-batch re-reads from the last committed UID and the key (Message-ID and sender) makes the rest
idempotent. One message that cannot be handled, whatever the reason (a parser limit, a bug, bad data
the database refuses), becomes a dead letter with the reason and the poller goes on with the mail
behind it; only an unreachable database stops the batch, to be read again on the next poll.

A report's received time is when the city's mail server delivered the message (IMAP INTERNALDATE,
never later than now); the sender's Date: header is kept as `claimed_at`, for display only.
Automatic mail (bounces, auto-replies, lists: ingest/mail_automatic.py) never becomes a report, so
there are no mail loops; it is kept once as an "ignored" dead letter so operators can still see bounces.
A mail that reuses a stored mail's Message-ID with another sender or other content is no duplicate: it is
kept as an open dead letter with the reason, and processing it again makes it a report of its own.
"""
from __future__ import annotations

import dataclasses

import json
import logging
import re
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate

from imap_tools import MailBox, MailBoxUnencrypted
from sqlalchemy import update

from domain.clock import as_utc, isoformat, parse_timestamp
from domain.models import Checkpoint, OutboxMessage
from ingest.base import DeliveryError, Unusable, reply_route, set_aside
from ingest.conversation import InboundMessage, handle
from ingest.inbox import Outcome
from ingest.mail_auth import authenticated
from ingest.mail_parse import ParsedMail, parse_mail
from ingest.mail_threads import EarlierUse, earlier_uses, find_thread

log = logging.getLogger("ingest.mail")


class EmailAdapter:
    channel = "email"

    def __init__(self, channels):
        self.channels = channels
        self.config = channels.config

    # ------------------------------------------------------------ inbound
    def to_report(self, parsed: ParsedMail, received_at=None):
        return parsed.to_report(received_at or self.channels.clock(), self.channels.services.settings)

    def inbound(self, raw: bytes, headers: dict | None = None) -> Outcome:
        """One message from the mailbox: a report, a follow-up, a command, or a dead letter (also when
        handling it raises: see ingest/base.py set_aside)."""
        headers = dict(headers or {})
        try:
            return self._inbound(raw, headers)
        except Exception as exc:  # noqa: BLE001 - one message must never stop the mailbox
            return Outcome("dead_letter", dead_letter_id=set_aside(
                self.channels.inbox, self.channel, raw, exc, headers, log=log))

    def _inbound(self, raw: bytes, headers: dict) -> Outcome:
        inbox = self.channels.inbox
        if len(raw) > self.config.email_max_message_bytes:
            raise Unusable(f"message of {len(raw)} bytes is over EMAIL_MAX_MESSAGE_BYTES")
        parsed = parse_mail(raw, self.config.email_max_attachment_bytes,
                            self.channels.services.settings.attachments_dir)
        if parsed.automatic:
            if parsed.bounced_ids:
                self._bounced(parsed, self._received_at(headers))
            return Outcome("dead_letter", dead_letter_id=inbox.dead_letter(
                self.channel, raw, f"automatic message: {parsed.automatic}", headers, status="ignored"))
        uses = earlier_uses(inbox.sessions, parsed)
        again = next((u for u in uses if u.same_message(parsed)), None)
        if again is not None:
            return Outcome("duplicate", again.ticket)
        external_id = parsed.external_id
        if uses and not headers.get("collision"):
            return self._collision(raw, parsed, uses, headers)
        if any(u.key == external_id for u in uses):  # an operator made it a report of its own
            external_id = parsed.content_key
        received_at = self._received_at(headers)
        vouched = authenticated(parsed.authentication_results, parsed.sender, self.config.trusted_authserv_ids)
        msg = InboundMessage(
            channel=self.channel, external_id=external_id, identity=("email", parsed.sender),
            author=parsed.sender_name or parsed.sender, text=parsed.command_text,
            reply=reply_route("email", parsed.sender, **parsed.thread_for_reply()),
            build_report=lambda: _vouched(parsed.to_report(received_at, self.channels.services.settings, external_id),
                                          vouched),
            attachments=parsed.attachments, find_report=lambda: find_thread(inbox.sessions, parsed, vouched),
            join_open_report=False, authenticated=vouched,
        )
        return handle(self.channels, msg)

    def _bounced(self, parsed: ParsedMail, arrived: datetime) -> None:
        """A delivery report on one of our replies: the citizen did not get it, say so on /ops (only for a
        sending before the report arrived: an old bounce read again says nothing about a later retry)."""
        with self.channels.services.sessions.begin() as s:
            rows = s.execute(update(OutboxMessage).where(
                OutboxMessage.channel == "email", OutboxMessage.status == "sent", OutboxMessage.sent_at <= arrived,
                OutboxMessage.provider_id.in_(parsed.bounced_ids)).values(
                status="failed", delivery_status="bounced", last_error=f"bounced: {parsed.bounce_reason}"[:2000]))
        if rows.rowcount:
            log.warning("%s email repl%s bounced: %s", rows.rowcount, "y" if rows.rowcount == 1 else "ies",
                        (parsed.bounce_reason or "")[:200])

    def _collision(self, raw: bytes, parsed: ParsedMail, uses: list[EarlierUse], headers: dict) -> Outcome:
        """The Message-ID of a stored mail on another mail: never taken for a duplicate (that would drop
        it without a trace, and let anyone suppress someone else's report by reusing a Message-ID)."""
        first = uses[0]
        where = first.ticket or "a stored mail"
        if any(u.sender not in (parsed.sender, None) for u in uses):
            headers["collision"] = "sender"
            reason = f"Message-ID {parsed.message_id} is already used by a mail from another sender ({where})"
        else:
            headers["collision"] = "content"
            reason = (f"Message-ID {parsed.message_id} from {parsed.sender} was already used for a different "
                      f"message ({where})")
        reason += "; process it again to make it a report of its own"
        return Outcome("dead_letter", dead_letter_id=self.channels.inbox.dead_letter(
            self.channel, raw, reason, headers))

    def _received_at(self, headers: dict) -> datetime:
        """When the city's mail server received the message (its INTERNALDATE), never later than now."""
        now = self.channels.clock()
        try:
            delivered = parse_timestamp(headers["internaldate"]) if headers.get("internaldate") else None
        except (TypeError, ValueError):
            delivered = None
        return min(delivered, now) if delivered else now

    def reprocess(self, raw: bytes, headers: dict) -> Outcome:
        return self.inbound(raw, headers)

    # ------------------------------------------------------------ the poller
    @property
    def checkpoint_name(self) -> str:
        c = self.config
        return f"imap:{c.imap_user}@{c.imap_host}:{c.imap_port}/{c.imap_folder}"[:100]

    def _load_checkpoint(self) -> dict:
        with self.channels.services.sessions() as s:
            row = s.get(Checkpoint, self.checkpoint_name)
            return json.loads(row.value) if row else {}

    def _save_checkpoint(self, uidvalidity: int, last_uid: int) -> None:
        value = json.dumps({"uidvalidity": uidvalidity, "last_uid": last_uid})
        with self.channels.services.sessions.begin() as s:
            row = s.get(Checkpoint, self.checkpoint_name, with_for_update=True)
            if row is None:
                s.add(Checkpoint(name=self.checkpoint_name, value=value, updated_at=self.channels.clock()))
            else:
                row.value, row.updated_at = value, self.channels.clock()

    def _mailbox(self):
        c = self.config
        cls = MailBox if c.imap_ssl else MailBoxUnencrypted
        return cls(c.imap_host, c.imap_port, timeout=30).login(c.imap_user, c.imap_password,
                                                              initial_folder=c.imap_folder)

    def poll(self, limit: int | None = None) -> list[Outcome]:
        """Ingest new messages (at most one batch), advancing the checkpoint after each commit."""
        limit = limit or self.config.imap_batch
        outcomes = []
        with self._mailbox() as mailbox:
            status = mailbox.folder.status(self.config.imap_folder, ["UIDVALIDITY"])
            uidvalidity = int(status["UIDVALIDITY"])
            checkpoint = self._load_checkpoint()
            last = int(checkpoint.get("last_uid", 0)) if checkpoint.get("uidvalidity") == uidvalidity else 0
            if checkpoint and checkpoint.get("uidvalidity") != uidvalidity:
                log.warning("UIDVALIDITY of %s changed (%s -> %s): re-reading the folder; Message-IDs keep "
                            "reports unique", self.checkpoint_name, checkpoint.get("uidvalidity"), uidvalidity)
            uids = sorted(u for u in map(int, mailbox.uids(f"UID {last + 1}:*")) if u > last)[:limit]
            for uid in uids:
                fetched = self._fetch(mailbox, uid)
                if fetched is None:
                    continue
                raw, delivered = fetched
                headers = {"imap_uid": uid, "uidvalidity": uidvalidity}
                if delivered is not None:
                    headers["internaldate"] = isoformat(delivered)
                outcomes.append(self.inbound(raw, headers))  # raises only when the database is away
                self._save_checkpoint(uidvalidity, uid)
        return outcomes

    @staticmethod
    def _fetch(mailbox, uid: int) -> tuple[bytes, datetime | None] | None:
        """The message's bytes and when the server received it (None when it was expunged meanwhile)."""
        typ, data = mailbox.client.uid("fetch", str(uid), "(INTERNALDATE BODY.PEEK[])")
        if typ != "OK":
            raise ConnectionError(f"IMAP FETCH {uid} failed: {typ}")
        raw, delivered = None, None
        for item in data or ():  # [(b'1 (UID 1 INTERNALDATE "..." BODY[] {n}', bytes), b')'], in any order
            if isinstance(item, tuple) and len(item) == 2:
                raw, item = item[1], item[0]
            if isinstance(item, bytes) and delivered is None:
                delivered = _internaldate(item)
        return (raw, delivered) if raw is not None else None

    # ------------------------------------------------------------ outbound
    def send(self, message: OutboxMessage) -> str:
        c = self.config
        if not c.smtp_host:
            raise DeliveryError("SMTP is not configured (SMTP_HOST)")
        payload = message.payload or {}
        thread = payload.get("thread") or {}
        mail = EmailMessage()
        mail["From"] = c.email_from
        mail["To"] = message.recipient
        mail["Subject"] = _reply_subject(message.subject or "Tangerang Live Room", thread.get("subject"))
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = payload.get("message_id")
        if thread.get("in_reply_to"):
            mail["In-Reply-To"] = thread["in_reply_to"]
        if thread.get("references"):
            mail["References"] = " ".join(thread["references"])
        mail["Auto-Submitted"] = "auto-replied"  # RFC 3834: auto-responders must not answer us
        mail.set_content(message.body)
        try:
            with _smtp(c) as smtp:
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {exc.recipients}", retryable=False) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP unreachable: {type(exc).__name__}: {exc}") from exc
        return payload.get("message_id") or ""


INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')


def _internaldate(response: bytes) -> datetime | None:
    match = INTERNALDATE.search(response)
    if not match:
        return None
    try:
        return as_utc(datetime.strptime(match.group(1).decode().strip(), "%d-%b-%Y %H:%M:%S %z"))
    except ValueError:
        return None


def _reply_subject(subject: str, original: str | None) -> str:
    """Answer in the citizen's thread: "Re: <their subject> [TLR-...]" (mail clients thread by subject too)."""
    if not original or not original.strip():
        return subject
    base = " ".join(original.split())[:200]
    if not base.lower().startswith("re:"):
        base = f"Re: {base}"
    start = subject.rfind("[")
    ticket = subject[start:] if start >= 0 else ""
    return f"{base} {ticket}" if ticket and ticket.strip("[]") not in base else base


def _smtp(c):
    if c.smtp_ssl:
        smtp = smtplib.SMTP_SSL(c.smtp_host, c.smtp_port, timeout=c.http_timeout_seconds,
                                context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.http_timeout_seconds)
        smtp.ehlo()
        if c.smtp_starttls and smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
    if c.smtp_user:
        smtp.login(c.smtp_user, c.smtp_password)
    return smtp


__all__ = ["EmailAdapter"]


def _vouched(report, vouched: bool):
    """The mail's sender is the citizen's identity only when our receiving server vouched for it."""
    if report.citizen is None:
        return report
    return dataclasses.replace(report, citizen=dataclasses.replace(report.citizen, verified=vouched))
