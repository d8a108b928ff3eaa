"""WhatsApp through Twilio: POST /webhooks/twilio/whatsapp (one inbound message per request).

Fields read (Twilio's documented webhook parameters): MessageSid (the idempotency key), From
(`whatsapp:+62...`), WaId, ProfileName, Body, NumMedia with MediaUrlN/MediaContentTypeN, and shared
locations (Latitude, Longitude, Address, Label). Media files are fetched later by the worker
(ingest/media.py) so the webhook answers fast; the acknowledgement goes out through the outbox.
"""
from __future__ import annotations

import mimetypes
from datetime import datetime
from urllib.parse import parse_qsl

from domain.clock import isoformat
from domain.intake import AttachmentInfo, IncomingReport, normalise_phone
from domain.lifecycle import ValidationError
from ingest.base import Unusable, reply_route
from ingest.conversation import InboundMessage, handle
from ingest.inbox import Outcome
from ingest.templates import WhatsAppTemplates
from ingest.twilio_api import TwilioMessages

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_MEDIA = 10


def _media(form: dict, sid: str) -> tuple[AttachmentInfo, ...]:
    try:
        count = int(form.get("NumMedia") or 0)
    except ValueError:
        raise Unusable(f"NumMedia is not a number: {form.get('NumMedia')!r}") from None
    if not 0 <= count <= MAX_MEDIA:
        raise Unusable(f"NumMedia out of range: {count}")
    items = []
    for i in range(count):
        url = form.get(f"MediaUrl{i}")
        if not url or not url.startswith(("https://", "http://")):
            raise Unusable(f"MediaUrl{i} missing or not a URL")
        ctype = (form.get(f"MediaContentType{i}") or "application/octet-stream")[:100]
        ext = mimetypes.guess_extension(ctype.split(";")[0].strip()) or ""
        items.append(AttachmentInfo(filename=f"{sid}-{i}{ext}", content_type=ctype, source_url=url))
    return tuple(items)


def _location(form: dict) -> dict | None:
    lat, lon = form.get("Latitude"), form.get("Longitude")
    text = ", ".join(p for p in (form.get("Label"), form.get("Address")) if p) or None
    if lat in (None, "") and lon in (None, "") and not text:
        return None
    return {"lat": lat or None, "lon": lon or None, "text": text}


def parse_form(raw: bytes) -> dict:
    """The form of a Twilio webhook from its raw body; the first value of a repeated field wins, as in
    the webhook's `request.form.to_dict()` whose signature was checked."""
    form: dict[str, str] = {}
    for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(key, value)
    return form


class WhatsAppAdapter:
    channel = "whatsapp"

    def __init__(self, channels):
        self.channels = channels
        self.config = channels.config
        templates = WhatsAppTemplates.load(channels.services.settings.data_dir, channels.config.twilio_content_sids)
        self.sender = TwilioMessages(channels.config, channels.config.twilio_whatsapp_from, templates=templates,
                                     clock=channels.clock)

    def to_report(self, form: dict, received_at: datetime | None = None) -> IncomingReport:
        sid, sender = self._identity(form)
        attachments = _media(form, sid)
        location = _location(form)
        text = (form.get("Body") or "").strip()
        if not text and location:
            text = "[lokasi dibagikan] " + (location.get("text") or "")
        data = {
            "channel": self.channel, "external_id": sid, "text": text,
            "received_at": isoformat(received_at or self.channels.clock()),
            "citizen": {"name": (form.get("ProfileName") or "")[:200] or None, "phone": sender},
            "location": location,
            "attachments": [a.__dict__ for a in attachments],
            "raw_payload": {"provider": form, "reply": reply_route("whatsapp", form["From"].strip())},
        }
        try:
            return IncomingReport.from_dict(data, max_bytes=self.channels.services.settings.max_payload_bytes)
        except ValidationError as exc:
            raise Unusable(str(exc)) from None

    def _identity(self, form: dict) -> tuple[str, str]:
        sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
        if not sid or len(sid) > 64:
            raise Unusable("MessageSid missing or too long")
        sender = (form.get("From") or "").strip()
        if not sender:
            raise Unusable("From missing")
        try:
            phone = normalise_phone(sender, "From")
        except ValidationError as exc:
            raise Unusable(str(exc)) from None
        return sid, phone

    def message_id(self, form: dict) -> str:
        """The staging key: MessageSid (raises Unusable when missing)."""
        return self._identity(form)[0]

    def message(self, form: dict, received_at: datetime | None = None) -> InboundMessage:
        """The conversation message of one verified webhook (raises Unusable)."""
        sid, phone = self._identity(form)
        attachments = _media(form, sid)
        return InboundMessage(
            channel=self.channel, external_id=sid, identity=("phone", phone),
            author=(form.get("ProfileName") or phone)[:200], text=(form.get("Body") or "").strip(),
            reply=reply_route("whatsapp", form["From"].strip()),
            build_report=lambda: self.to_report(form, received_at), attachments=attachments,
        )

    def inbound(self, form: dict, raw: bytes, headers: dict | None = None) -> Outcome:
        """One verified webhook handled at once: a command, a follow-up, a new report, or a dead letter.
        (The webhook itself only stages the request; ingest/staging.py drains it through `message`.)"""
        try:
            return handle(self.channels, self.message(form))
        except Unusable as exc:
            return Outcome("dead_letter", dead_letter_id=self.channels.inbox.dead_letter(
                self.channel, raw, str(exc), headers))

    def reprocess(self, raw: bytes, headers: dict) -> Outcome:
        return self.inbound(parse_form(raw), raw, headers)

    def send(self, message) -> str:
        return self.sender.send(message)
