"""Reading one email: its shape first (nesting and part count, by a line scan that never recurses),
then text (text/plain preferred, HTML converted), charsets, attachments within size limits,
automatic-mail detection (ingest/mail_automatic.py), its dedupe key, and the thread it belongs to
(ticket in the subject, or our Message-ID in In-Reply-To/References).

The key of a mail is its Message-ID together with its sender: the Message-ID is chosen by the sender's
software, so a Message-ID alone would let anyone's mail be taken for someone else's."""
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
from domain.clock import as_utc, isoformat
from domain.intake import AttachmentInfo, IncomingReport, normalise_email
from domain.lifecycle import ValidationError
from ingest.base import Unusable, reply_route
from ingest.mail_automatic import automatic_reason, bounced
from ingest.media import store_bytes

TICKET = re.compile(r"\b([A-Z]{2,5}-\d{4}-\d{6,9})\b")
QUOTE_START = re.compile(r"^(On .+ wrote:|Pada .+ menulis:|-----Original Message-----|>)", re.M)
# Real mail nests a handful of levels (a forward of a forward with attachments: 6 or 7); Python's mail
# parser recurses once per level, so a message nested a thousand levels deep would raise RecursionError.
MAX_MIME_DEPTH = 30
MAX_MIME_PARTS = 1000


@dataclass
class ParsedMail:
    external_id: str  # the dedupe key: message_key(Message-ID, sender)
    message_id: str | None
    sender: str
    sender_name: str | None
    subject: str
    text: str
    claimed_at: object  # the Date: header (the sender's claim; display only)
    references: list[str]
    attachments: tuple[AttachmentInfo, ...]
    automatic: str | None = None  # why it is automatic mail, if it is
    notes: list[str] = field(default_factory=list)
    content_key: str = ""  # the SHA-256 of the raw bytes
    bounced_ids: tuple[str, ...] = ()  # a delivery report: the Message-IDs it returns
    bounce_reason: str | None = None
    authentication_results: tuple[str, ...] = ()  # the Authentication-Results values, top first

    @property
    def command_text(self) -> str:
        """The citizen's own words (without the quoted earlier messages), for commands and follow-ups."""
        match = QUOTE_START.search(self.text)
        own = self.text[:match.start()] if match else self.text
        return own.strip() or self.text.strip()

    @property
    def report_text(self) -> str:
        """The text of the report this mail becomes: subject, body, and notes about refused attachments."""
        text = "\n\n".join(p for p in (self.subject.strip(), self.text.strip()) if p)
        if self.notes:
            text += "\n\n" + "\n".join(self.notes)
        return text

    def thread_for_reply(self) -> dict:
        refs = [r for r in self.references if r][-10:]
        if self.message_id:
            refs.append(self.message_id)
        return {"in_reply_to": self.message_id, "references": refs or None, "subject": self.subject or None}

    def to_report(self, received_at, settings, external_id: str | None = None) -> IncomingReport:
        """`received_at`: when the city's mailbox received it (never the sender's Date:, which is kept as
        `claimed_at` for display)."""
        data = {
            "channel": "email", "external_id": external_id or self.external_id, "text": self.report_text,
            "received_at": isoformat(received_at), "claimed_at": isoformat(self.claimed_at),
            "citizen": {"name": self.sender_name, "email": self.sender},
            "attachments": [a.__dict__ for a in self.attachments],
            "raw_payload": {"provider": {"message_id": self.message_id, "from": self.sender,
                                         "subject": self.subject, "references": self.references,
                                         "date": isoformat(self.claimed_at)},
                            "reply": reply_route("email", self.sender, **self.thread_for_reply())},
        }
        try:
            return IncomingReport.from_dict(data, max_bytes=settings.max_payload_bytes)
        except ValidationError as exc:
            raise Unusable(str(exc)) from None


def message_key(message_id: str | None, sender: str, raw: bytes) -> str:
    """The dedupe key of a mail: "<message-id> sender" (hashed when longer than the column), or the
    SHA-256 of the bytes for a mail without a Message-ID."""
    if not message_id:
        return content_key(raw)
    key = f"{message_id} {sender}"
    return key if len(key) <= 200 else "sha256:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def content_key(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


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


def _claimed_at(msg: MimeMessage):
    try:
        value = parsedate_to_datetime(msg.get("Date"))
        return as_utc(value) if value else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# ---------------------------------------------------------------- the shape, before Python's parser
_HEADER_LINE = re.compile(rb"^(From |[\x21-\x39\x3b-\x7e]*:|[\t ])")  # as email.feedparser reads headers


def check_shape(raw: bytes) -> None:
    """Refuse (Unusable) a message nested deeper than MAX_MIME_DEPTH or made of more than MAX_MIME_PARTS
    parts, before Python's parser, which recurses once per level, sees it. One pass over the lines, no
    recursion: the boundaries of the open multipart levels on a stack, matched as the parser matches
    them (any enclosing boundary ends a part), message/* parts opening a level of their own."""
    stack: list[tuple[bytes | None, bool]] = []  # per open level: (boundary, is a digest); None: message/*
    header_lines: list[bytes] | None = []  # the current part's header lines while they are read
    default, parts = "text/plain", 1
    for line in raw.splitlines():
        delimiter = _delimiter(stack, line) if stack and line.startswith(b"--") else None
        if delimiter == "open":  # a new part of the innermost level: its headers follow
            header_lines, default = [], ("message/rfc822" if stack[-1][1] else "text/plain")
            parts += 1
            if parts > MAX_MIME_PARTS:
                raise Unusable(f"message of more than {MAX_MIME_PARTS} MIME parts")
            continue
        if delimiter == "close" or header_lines is None:  # an epilogue, a preamble or a body
            if delimiter == "close":
                header_lines = None
            continue
        if line and _HEADER_LINE.match(line):
            header_lines.append(line)
            continue
        ctype, boundary = _content_type(header_lines, default)
        header_lines = None
        if ctype.startswith("multipart/") and boundary:
            stack.append((boundary, ctype == "multipart/digest"))
        elif ctype.startswith("message/") and ctype != "message/delivery-status":
            stack.append((None, False))
            header_lines, default = [], "text/plain"
        if len(stack) > MAX_MIME_DEPTH:
            raise Unusable(f"message nested more than {MAX_MIME_DEPTH} MIME levels deep")


def _delimiter(stack: list, line: bytes) -> str | None:
    """"open" or "close" when `line` is a delimiter of an open level (the levels inside it end; a
    closing delimiter ends its own level too), else None."""
    for level in range(len(stack) - 1, -1, -1):
        boundary = stack[level][0]
        if boundary is None or not line.startswith(b"--" + boundary):
            continue
        rest = line[len(boundary) + 2:]
        if not rest.strip(b" \t"):
            del stack[level + 1:]
            return "open"
        if rest.startswith(b"--") and not rest[2:].strip(b" \t"):
            del stack[level:]
            return "close"
    return None


def _content_type(lines: list[bytes], default: str) -> tuple[str, bytes | None]:
    value = None
    for i, line in enumerate(lines):
        if value is None and line[:13].lower() == b"content-type:":
            value = line[13:]
        elif value is not None and line[:1] in (b" ", b"\t"):
            value += b" " + line.strip()
        elif value is not None:
            break
    part = MimeMessage()
    part.set_default_type(default)
    if value is not None:
        part["Content-Type"] = value.decode("ascii", "surrogateescape").strip()
    boundary = part.get_boundary() if part.get_content_maintype() == "multipart" else None
    return part.get_content_type(), boundary.encode("ascii", "surrogateescape") if boundary else None


def _parts(msg: MimeMessage):
    """Every part, depth first, without recursion (Message.walk recurses once per level)."""
    stack = [msg]
    while stack:
        part = stack.pop()
        yield part
        if part.is_multipart():
            payload = part.get_payload()
            stack.extend(reversed(payload if isinstance(payload, list) else [payload]))


# ---------------------------------------------------------------- one mail
def _addresses(msg: MimeMessage, *headers: str) -> list[tuple[str, str]]:
    try:
        return getaddresses([str(msg.get(h) or "") for h in headers if msg.get(h)])
    except Exception:  # noqa: BLE001 - a broken header is simply no address
        return []


def parse_mail(raw: bytes, max_attachment_bytes: int, attachments_dir: Path) -> ParsedMail:
    if not raw or not raw.strip():
        raise Unusable("empty message")
    check_shape(raw)
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    addresses = _addresses(msg, "Reply-To") or _addresses(msg, "From")
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
    subject = _header_text(msg.get("Subject"))
    plain, html, attachments, notes, types = [], [], [], [], set()
    parts = list(_parts(msg))
    for part in parts:
        ctype = part.get_content_type()
        types.add(ctype)
        if part.is_multipart():
            continue
        filename = part.get_filename()
        disposition = (part.get("Content-Disposition") or "").lower()
        if filename or disposition.startswith("attachment") or not ctype.startswith("text/"):
            data = part.get_payload(decode=True) or b""
            name_ = _header_text(filename) or f"lampiran{len(attachments) + 1}"
            if len(data) > max_attachment_bytes:
                notes.append(f"[lampiran {name_} ({len(data)} byte) terlalu besar, tidak disimpan]")
                continue
            if not data:
                continue
            attachments.append((name_, ctype, data))
        elif ctype == "text/plain":
            plain.append(_decode(part))
        elif ctype == "text/html":
            html.append(_decode(part))
    senders = [a for _, a in _addresses(msg, "From", "Sender", "Reply-To")]
    automatic = automatic_reason(msg, senders, types)
    bounced_ids, bounce_reason = bounced(parts) if automatic else ([], None)
    if automatic is None:  # keep a person's files; automatic mail (a bounce's copy of our reply) is not stored
        attachments = [_store(attachments_dir, *a) for a in attachments]
    else:
        attachments = []
    text = "\n".join(plain) if any(p.strip() for p in plain) else html_to_text("\n".join(html))
    refs = " ".join(str(msg.get(h) or "") for h in ("References", "In-Reply-To"))
    return ParsedMail(
        external_id=message_key(message_id, sender, raw), message_id=message_id, sender=sender,
        sender_name=(_header_text(name) or None), subject=subject, text=text.replace("\x00", ""),
        claimed_at=_claimed_at(msg), references=re.findall(r"<[^<>\s]+>", refs), attachments=tuple(attachments),
        automatic=automatic, notes=notes, content_key=content_key(raw), bounced_ids=tuple(bounced_ids),
        bounce_reason=bounce_reason,
        authentication_results=tuple(str(v) for v in (msg.get_all("Authentication-Results") or [])),
    )


def _store(attachments_dir: Path, name: str, ctype: str, data: bytes) -> AttachmentInfo:
    path, digest = store_bytes(attachments_dir, data, ctype, name)
    return AttachmentInfo(filename=name[:255], content_type=ctype[:100], size=len(data), sha256=digest, path=path)


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
