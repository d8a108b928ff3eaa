"""Reading one email: text (text/plain preferred, HTML converted), charsets, attachments within size
limits, automatic-mail detection, and the thread it belongs to (ticket in the subject, or our
Message-ID in In-Reply-To/References)."""
from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from email.message import Message as MimeMessage
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

from bs4 import BeautifulSoup
from sqlalchemy import select

from domain.clock import as_utc, isoformat
from domain.intake import AttachmentInfo, IncomingReport, normalise_email
from domain.lifecycle import ValidationError
from domain.models import Message, Report
from ingest.base import Unusable, reply_route
from ingest.media import store_bytes

TICKET = re.compile(r"\b([A-Z]{2,5}-\d{4}-\d{6,9})\b")
QUOTE_START = re.compile(r"^(On .+ wrote:|Pada .+ menulis:|-----Original Message-----|>)", re.M)
AUTO_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|bounce[s]?)[@+]", re.I)


@dataclass
class ParsedMail:
    external_id: str
    message_id: str | None
    sender: str
    sender_name: str | None
    subject: str
    text: str
    received_at: object
    references: list[str]
    attachments: tuple[AttachmentInfo, ...]
    automatic: str | None = None  # why it is automatic mail, if it is
    notes: list[str] = field(default_factory=list)

    @property
    def command_text(self) -> str:
        """The citizen's own words (without the quoted earlier messages), for commands and follow-ups."""
        match = QUOTE_START.search(self.text)
        own = self.text[:match.start()] if match else self.text
        return own.strip() or self.text.strip()

    def thread_for_reply(self) -> dict:
        refs = [r for r in self.references if r][-10:]
        if self.message_id:
            refs.append(self.message_id)
        return {"in_reply_to": self.message_id, "references": refs or None, "subject": self.subject or None}

    def to_report(self, now, settings) -> IncomingReport:
        text = "\n\n".join(p for p in (self.subject.strip(), self.text.strip()) if p)
        if self.notes:
            text += "\n\n" + "\n".join(self.notes)
        data = {
            "channel": "email", "external_id": self.external_id, "text": text,
            "received_at": isoformat(self.received_at or now),
            "citizen": {"name": self.sender_name, "email": self.sender},
            "attachments": [a.__dict__ for a in self.attachments],
            "raw_payload": {"provider": {"message_id": self.message_id, "from": self.sender,
                                         "subject": self.subject, "references": self.references},
                            "reply": reply_route("email", self.sender, **self.thread_for_reply())},
        }
        try:
            return IncomingReport.from_dict(data, max_bytes=settings.max_payload_bytes)
        except ValidationError as exc:
            raise Unusable(str(exc)) from None


def _decode(part: MimeMessage) -> str:
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return payload.decode("utf-8", errors="replace")


def html_to_text(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)


def automatic_reason(msg: MimeMessage, sender: str) -> str | None:
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = (msg.get("Precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    return_path = msg.get("Return-Path")
    if return_path is not None and str(return_path).strip() == "<>":
        return "null return path (bounce)"
    if AUTO_SENDERS.match(sender or ""):
        return f"automatic sender {sender}"
    if msg.get_content_type() == "multipart/report":
        return "delivery report"
    for header in ("X-Autoreply", "X-Autorespond"):
        if header in msg:
            return header
    if msg.get("List-Id") or msg.get("List-Unsubscribe"):
        return "mailing list"
    return None


def _received_at(msg: MimeMessage):
    try:
        value = parsedate_to_datetime(msg.get("Date"))
        return as_utc(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None


def parse_mail(raw: bytes, max_attachment_bytes: int, attachments_dir: Path) -> ParsedMail:
    if not raw or not raw.strip():
        raise Unusable("empty message")
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    try:
        addresses = getaddresses([str(msg.get("Reply-To") or msg.get("From") or "")])
    except Exception:  # noqa: BLE001 - a broken header is simply no address
        addresses = []
    name, address = addresses[0] if addresses else ("", "")
    if not address or "@" not in address:
        raise Unusable("no sender address (From)")
    try:
        sender = normalise_email(address)
    except ValidationError as exc:
        raise Unusable(str(exc)) from None
    message_id = (str(msg.get("Message-ID") or "").strip() or None)
    if message_id and len(message_id) > 190:
        message_id = None
    external_id = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    subject = _header_text(msg.get("Subject"))
    plain, html, attachments, notes = [], [], [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        disposition = (part.get("Content-Disposition") or "").lower()
        ctype = part.get_content_type()
        if filename or disposition.startswith("attachment") or not ctype.startswith("text/"):
            data = part.get_payload(decode=True) or b""
            name_ = _header_text(filename) or f"lampiran{len(attachments) + 1}"
            if len(data) > max_attachment_bytes:
                notes.append(f"[lampiran {name_} ({len(data)} byte) terlalu besar, tidak disimpan]")
                continue
            if not data:
                continue
            path, digest = store_bytes(attachments_dir, data, ctype, name_)
            attachments.append(AttachmentInfo(filename=name_[:255], content_type=ctype[:100], size=len(data),
                                              sha256=digest, path=path))
        elif ctype == "text/plain":
            plain.append(_decode(part))
        elif ctype == "text/html":
            html.append(_decode(part))
    text = "\n".join(plain) if any(p.strip() for p in plain) else html_to_text("\n".join(html))
    refs = " ".join(str(msg.get(h) or "") for h in ("References", "In-Reply-To"))
    return ParsedMail(
        external_id=external_id, message_id=message_id, sender=sender, sender_name=(_header_text(name) or None),
        subject=subject, text=text.replace("\x00", ""), received_at=_received_at(msg),
        references=re.findall(r"<[^<>\s]+>", refs), attachments=tuple(attachments),
        automatic=automatic_reason(msg, sender), notes=notes,
    )


def _header_text(value) -> str:
    if not value:
        return ""
    try:
        parts = email.header.decode_header(str(value))
        out = []
        for chunk, charset in parts:
            if isinstance(chunk, bytes):
                try:
                    chunk = chunk.decode(charset or "utf-8", errors="replace")
                except LookupError:
                    chunk = chunk.decode("utf-8", errors="replace")
            out.append(chunk)
        return " ".join("".join(out).split())[:300]
    except Exception:  # noqa: BLE001 - a broken encoded-word: keep the raw text
        return " ".join(str(value).split())[:300]


def find_thread(sessions, parsed: ParsedMail) -> Report | None:
    """The report this mail continues: our Message-ID in its references, or a ticket in the subject
    (only the sender's own report, so nobody can write into another citizen's report)."""
    with sessions() as s:
        if parsed.references:
            report = s.scalar(select(Report).join(Message, Message.report_id == Report.id).where(
                Message.channel == "email", Message.external_id.in_(parsed.references)).limit(1))
            if report is None:
                report = s.scalar(select(Report).where(Report.channel == "email",
                                                       Report.external_id.in_(parsed.references)).limit(1))
            if report is not None:
                return report
        match = TICKET.search(parsed.subject.upper())
        if match:
            report = s.scalar(select(Report).where(Report.ticket == match.group(1)))
            if report is not None and report.citizen is not None and any(
                    i.kind == "email" and i.value == parsed.sender for i in report.citizen.identities):
                return report
    return None
