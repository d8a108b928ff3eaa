"""The city app / web form (LAKSA-style): POST /api/v1/reports and GET /api/v1/reports/<ticket>.

Authentication: `Authorization: Bearer <key>` or `X-API-Key: <key>`, one key per client
(INGEST_API_KEYS="laksa:<key>:app,webform:<key>:web"). Body: JSON, or multipart/form-data with a
`report` field holding the JSON and `photo` file fields. The client's `client_report_id` (or an
`Idempotency-Key` header) is the idempotency key, scoped by client: a retried POST returns the
same ticket with 200 instead of 201.

JSON fields: text*, client_report_id*, received_at, citizen {name, phone, email},
location {text, lat, lon}, category (our code), attachments are the uploaded photos. The client's
`received_at` (when the citizen pressed "send" in the app, by the phone's clock) is kept as the
report's `claimed_at`, for display; SLA clocks start when the platform received the request.
"""
from __future__ import annotations

import hmac
import json
import logging

from domain.clock import isoformat, parse_timestamp
from domain.intake import IncomingReport
from domain.lifecycle import DomainError, ValidationError
from domain.views import report_to_dict
from ingest.base import reply_route
from ingest.inbox import Outcome
from ingest.media import store_bytes

log = logging.getLogger("ingest.api")
ALLOWED_PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic")
MAX_PHOTOS = 5


def client_for(channels, request):
    """The API client behind the request's key, or None."""
    header = request.headers.get("Authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
    key = key or (request.values.get("api_key") or "")
    if not key:
        return None
    for client in channels.config.api_clients:
        if hmac.compare_digest(client.key.encode(), key.encode()):
            return client
    return None


def public_view(report) -> dict:
    data = report_to_dict(report, include_citizen=False)
    data.pop("external_id", None)
    return data


class AppApi:
    def __init__(self, channels):
        self.channels = channels

    def create(self, request) -> tuple[int, dict]:
        client = client_for(self.channels, request)
        if client is None:
            log.warning("refused API request without a valid key from %s", request.remote_addr)
            return 401, {"error": "unauthorized", "message": "a valid API key is required"}
        try:
            if request.mimetype == "multipart/form-data":
                data = json.loads(request.form.get("report") or "{}")
                photos = request.files.getlist("photo")
            else:
                data = request.get_json(force=True, silent=False)
                photos = []
        except (ValueError, TypeError):
            return 400, {"error": "invalid", "field": "body", "message": "body is not valid JSON"}
        if not isinstance(data, dict):
            return 400, {"error": "invalid", "field": "body", "message": "must be a JSON object"}
        try:
            incoming = self._incoming(client, data, photos, request.headers.get("Idempotency-Key"))
            outcome = self.channels.inbox.submit(incoming)
        except DomainError as exc:
            return 400, {"error": "invalid", "field": getattr(exc, "field", None), "message": str(exc)}
        report = self.channels.services.queue.get(outcome.ticket)
        return (201 if outcome.kind == "created" else 200), public_view(report)

    def _incoming(self, client, data: dict, photos, idempotency_key: str | None) -> IncomingReport:
        key = data.get("client_report_id") or idempotency_key
        if not key or not isinstance(key, (str, int)):
            raise ValidationError("client_report_id", "is required (or send an Idempotency-Key header)")
        if len(photos) > MAX_PHOTOS:
            raise ValidationError("photo", f"at most {MAX_PHOTOS} photos")
        settings = self.channels.services.settings
        attachments = []
        for photo in photos:
            ctype = (photo.mimetype or "").lower()
            if ctype not in ALLOWED_PHOTO_TYPES:
                raise ValidationError("photo", f"{photo.filename!r}: type {ctype!r} is not a photo")
            content = photo.read(settings.max_attachment_bytes + 1)
            if len(content) > settings.max_attachment_bytes:
                raise ValidationError("photo", f"{photo.filename!r} is over {settings.max_attachment_bytes} bytes")
            path, digest = store_bytes(settings.attachments_dir, content, ctype, photo.filename or "")
            attachments.append({"filename": (photo.filename or "foto")[:255], "content_type": ctype,
                                "size": len(content), "sha256": digest, "path": path})
        citizen = data.get("citizen") if isinstance(data.get("citizen"), dict) else None
        reply = None
        if citizen and citizen.get("phone"):
            reply = ("whatsapp", f"whatsapp:{citizen['phone']}")
        elif citizen and citizen.get("email"):
            reply = ("email", citizen["email"])
        claimed = data.get("received_at")
        if claimed not in (None, ""):
            try:
                claimed = isoformat(parse_timestamp(str(claimed)))
            except ValueError:
                raise ValidationError("received_at", f"{claimed!r} is not an ISO 8601 timestamp") from None
        report = {
            "channel": client.channel, "external_id": f"{client.name}:{key}"[:200], "text": data.get("text"),
            "received_at": isoformat(self.channels.clock()), "claimed_at": claimed,
            "citizen": citizen, "location": data.get("location"), "category": data.get("category"),
            "attachments": attachments,
            "raw_payload": {"provider": {"client": client.name, **{k: v for k, v in data.items() if k != "citizen"}}},
        }
        incoming = IncomingReport.from_dict(report, max_bytes=settings.max_payload_bytes)
        if reply and incoming.citizen:
            to = f"whatsapp:{incoming.citizen.phone}" if reply[0] == "whatsapp" else incoming.citizen.email
            incoming.raw_payload["reply"] = reply_route(reply[0], to)
        return incoming

    def show(self, request, ticket: str) -> tuple[int, dict]:
        if client_for(self.channels, request) is None:
            return 401, {"error": "unauthorized", "message": "a valid API key is required"}
        try:
            return 200, public_view(self.channels.services.queue.get(ticket))
        except DomainError:
            return 404, {"error": "not_found", "message": f"no report {ticket!r}"}

    def reprocess(self, raw: bytes, headers: dict) -> Outcome:
        return Outcome("dead_letter")  # API clients get a 400 and resend; nothing is dead-lettered
