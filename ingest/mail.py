"""Email: an IMAP poller (imap-tools) on the city's mailbox, and replies by SMTP with threading headers.

The checkpoint (UIDVALIDITY and the last UID done) lives in the `checkpoints` table and moves only
after the message's report (or dead letter) is committed, one message at a time; a worker killed
mid-batch re-reads from the last committed UID and the Message-ID makes the rest idempotent.
Automatic mail (bounces, auto-replies, bulk) never becomes a report, so there are no mail loops;
it is kept as an "ignored" dead letter so operators can still see bounces.
"""
from __future__ import annotations

import json
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from imap_tools import MailBox, MailBoxUnencrypted

from domain.models import Checkpoint, DeadLetter, OutboxMessage
from ingest.base import DeliveryError, Unusable, reply_route
from ingest.conversation import InboundMessage, handle
from ingest.inbox import Outcome
from ingest.mail_parse import ParsedMail, find_thread, parse_mail

log = logging.getLogger("ingest.mail")


class EmailAdapter:
    channel = "email"

    def __init__(self, channels):
        self.channels = channels
        self.config = channels.config

    # ------------------------------------------------------------ inbound
    def to_report(self, parsed: ParsedMail):
        return parsed.to_report(self.channels.clock(), self.channels.services.settings)

    def inbound(self, raw: bytes, headers: dict | None = None) -> Outcome:
        """One message from the mailbox: a report, a follow-up, a command, or a dead letter."""
        inbox = self.channels.inbox
        try:
            if len(raw) > self.config.email_max_message_bytes:
                raise Unusable(f"message of {len(raw)} bytes is over EMAIL_MAX_MESSAGE_BYTES")
            parsed = parse_mail(raw, self.config.email_max_attachment_bytes,
                                self.channels.services.settings.attachments_dir)
            if parsed.automatic:
                return Outcome("dead_letter", dead_letter_id=self._ignore(raw, parsed.automatic, headers))
            seen = inbox.seen(self.channel, parsed.external_id)
            if seen is not None:
                return seen
            msg = InboundMessage(
                channel=self.channel, external_id=parsed.external_id, identity=("email", parsed.sender),
                author=parsed.sender_name or parsed.sender, text=parsed.command_text,
                reply=reply_route("email", parsed.sender, **parsed.thread_for_reply()),
                build_report=lambda: self.to_report(parsed), attachments=parsed.attachments,
                find_report=lambda: find_thread(inbox.sessions, parsed), join_open_report=False,
            )
            return handle(self.channels, msg)
        except Unusable as exc:
            return Outcome("dead_letter", dead_letter_id=inbox.dead_letter(self.channel, raw, str(exc), headers))

    def _ignore(self, raw: bytes, reason: str, headers: dict | None) -> int:
        letter_id = self.channels.inbox.dead_letter(self.channel, raw, f"automatic message: {reason}", headers)
        with self.channels.services.sessions.begin() as s:
            s.get(DeadLetter, letter_id).status = "ignored"
        return letter_id

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
                raw = self._fetch_raw(mailbox, uid)
                if raw is None:
                    continue
                outcomes.append(self.inbound(raw, {"imap_uid": uid, "uidvalidity": uidvalidity}))
                self._save_checkpoint(uidvalidity, uid)
        return outcomes

    @staticmethod
    def _fetch_raw(mailbox, uid: int) -> bytes | None:
        typ, data = mailbox.client.uid("fetch", str(uid), "(BODY.PEEK[])")
        if typ != "OK":
            raise ConnectionError(f"IMAP FETCH {uid} failed: {typ}")
        for item in data or ():
            if isinstance(item, tuple) and len(item) == 2:
                return item[1]
        return None  # expunged meanwhile

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
