"""The city app / web form (LAKSA-style): POST /api/v1/reports and GET /api/v1/reports/<ticket>.

Authentication: `Authorization: Bearer <key>` or `X-API-Key: <key>`, one key per client
(INGEST_API_KEYS="laksa:<key>:app,webform:<key>:web"). A key is never taken from the URL (access logs
and proxies keep URLs): a request with `?api_key=` is refused with 400. A client reads only the reports
it created (any other ticket answers 404, as a missing one). Body: JSON, or multipart/form-data with a
`report` field holding the JSON and `photo` file fields. The client's `client_report_id` (or an
`Idempotency-Key` header) is the idempotency key, scoped by client: a retried POST returns the same
ticket with 200 instead of 201.

JSON fields: text*, client_report_id*, received_at, citizen {name, phone, email},
location {text, lat, lon}, category (our code), attachments are the uploaded photos. The client's
`received_at` (when the citizen pressed "send" in the app, by the phone's clock) is kept as the
report's `claimed_at`, for display; SLA clocks start when the platform received the request.
Everything is validated before a photo is written to disk; nothing is stored for a refused request.
"""
from __future__ import annotations

import hmac
import logging

from sqlalchemy import and_

from domain.clock import isoformat, parse_timestamp
from domain.intake import IncomingReport
from domain.lifecycle import DomainError, ValidationError
from domain.models import Report
from domain.views import report_to_dict
from ingest import json_input
from ingest.base import reply_route
from ingest.inbox import Outcome
from ingest.media import image_type, store_bytes, stored_name

log = logging.getLogger("ingest.api")
ALLOWED_PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic")
MAX_PHOTOS = 5
KEY_ERRORS = {401: "unauthorized", 403: "forbidden"}
KEY_IN_URL = "api_key is not accepted in the URL (it would be kept in access logs): send it in the X-API-Key header"


class KeyRefused(Exception):
    """A request whose key is missing, wrong or sent where keys are not accepted; `status` says which."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def presented_key(request, *, form_allowed: bool = False) -> str:
    """The key the request presents: `Authorization: Bearer`, `X-API-Key`, or (Open311 POST only, as
    GeoReport v2 puts it there) an `api_key` field of a form body. Never the query string."""
    if "api_key" in request.args:
        raise KeyRefused(400, KEY_IN_URL)
    header = request.headers.get("Authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
    if not key and form_allowed and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        key = request.form.get("api_key") or ""
    return key.strip()


OPEN311 = "open311"


def client_for(channels, request, *, family: str = "app", form_allowed: bool = False, required: bool = True):
    """The API client behind the request's key; None for no key when `required` is False. Raises
    KeyRefused for a key in the URL, a wrong key, no key where one is required, or a key of the other
    route family: an `open311` key serves /open311 only, every other key /api/v1 only (an Open311 client
    must not pick its own idempotency key, category or time through the app API, nor an app read in full
    through Open311)."""
    key = presented_key(request, form_allowed=form_allowed)
    if not key:
        if required:
            raise KeyRefused(401, "a valid API key is required")
        return None
    for client in channels.config.api_clients:
        if hmac.compare_digest(client.key.encode(), key.encode()):
            if (client.channel == OPEN311) != (family == OPEN311):
                where = "/open311" if client.channel == OPEN311 else "/api/v1"
                raise KeyRefused(403, f"this API key is for {where} only")
            return client
    log.warning("refused API request with a wrong key from %s", request.remote_addr)  # the key is not logged
    raise KeyRefused(401, "the API key is not valid")


def created_by(client):
    """SQL: the reports this client created (its channel, and external ids it scoped by its name)."""
    return and_(Report.channel == client.channel,
                Report.external_id.startswith(f"{client.name}:", autoescape=True))


def owns(client, report) -> bool:
    return report.channel == client.channel and report.external_id.startswith(f"{client.name}:")


def client_view(report) -> dict:
    """A report as the client that created it reads it back (no internal ids)."""
    data = report_to_dict(report, include_citizen=False)
    data.pop("external_id", None)
    return data


class AppApi:
    def __init__(self, channels):
        self.channels = channels

    def create(self, request) -> tuple[int, dict]:
        try:
            client = client_for(self.channels, request)
        except KeyRefused as exc:
            return exc.status, {"error": KEY_ERRORS.get(exc.status, "invalid"), "message": str(exc)}
        try:
            if request.mimetype == "multipart/form-data":
                data = json_input.loads(request.form.get("report") or "{}")
                photos = request.files.getlist("photo")
            else:
                data = json_input.loads(request.get_data(cache=False) or b"")
                photos = []
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            message = str(exc) if isinstance(exc, json_input.TooDeep) else "body is not valid JSON (UTF-8)"
            return 400, {"error": "invalid", "field": "body", "message": message}
        if not isinstance(data, dict):
            return 400, {"error": "invalid", "field": "body", "message": "must be a JSON object"}
        try:
            incoming, files = self._incoming(client, data, photos, request.headers.get("Idempotency-Key"))
            for content, ctype, filename in files:  # written only once the whole request is valid
                store_bytes(self.channels.services.settings.attachments_dir, content, ctype, filename)
            outcome = self.channels.inbox.submit(incoming)
        except DomainError as exc:
            return 400, {"error": "invalid", "field": getattr(exc, "field", None), "message": str(exc)}
        report = self.channels.services.queue.get(outcome.ticket)
        return (201 if outcome.kind == "created" else 200), client_view(report)

    def _incoming(self, client, data: dict, photos, idempotency_key: str | None
                  ) -> tuple[IncomingReport, list[tuple[bytes, str, str]]]:
        key = data.get("client_report_id") or idempotency_key
        if not key or not isinstance(key, (str, int)) or isinstance(key, bool):
            raise ValidationError("client_report_id", "is required (or send an Idempotency-Key header)")
        if len(photos) > MAX_PHOTOS:
            raise ValidationError("photo", f"at most {MAX_PHOTOS} photos")
        settings = self.channels.services.settings
        attachments, files = [], []
        for photo in photos:
            ctype = (photo.mimetype or "").lower()
            if ctype not in ALLOWED_PHOTO_TYPES:
                raise ValidationError("photo", f"{(photo.filename or '')[:80]!r}: type {ctype[:80]!r} is not a photo")
            content = photo.read(settings.max_attachment_bytes + 1)
            if len(content) > settings.max_attachment_bytes:
                raise ValidationError("photo", f"{(photo.filename or '')[:80]!r} is over "
                                               f"{settings.max_attachment_bytes} bytes")
            if image_type(content) != ctype:
                raise ValidationError("photo", f"{(photo.filename or '')[:80]!r} is not a {ctype} image")
            path, digest = stored_name(content, ctype, photo.filename or "")
            attachments.append({"filename": (photo.filename or "foto")[:255], "content_type": ctype,
                                "size": len(content), "sha256": digest, "path": path})
            files.append((content, ctype, photo.filename or ""))
        citizen = data.get("citizen") if isinstance(data.get("citizen"), dict) else None
        reply = None
        if citizen and citizen.get("phone"):
            reply = "whatsapp"
        elif citizen and citizen.get("email"):
            reply = "email"
        claimed = data.get("received_at")
        if claimed not in (None, ""):
            try:
                claimed = isoformat(parse_timestamp(str(claimed)))
            except ValueError:
                raise ValidationError("received_at", f"{str(claimed)[:40]!r} is not an ISO 8601 timestamp") from None
        report = {
            "channel": client.channel, "external_id": f"{client.name}:{key}"[:200], "text": data.get("text"),
            "received_at": isoformat(self.channels.clock()), "claimed_at": claimed,
            "citizen": citizen, "location": data.get("location"), "category": data.get("category"),
            "attachments": attachments,
            "raw_payload": {"provider": {"client": client.name, **{k: v for k, v in data.items() if k != "citizen"}}},
        }
        incoming = IncomingReport.from_dict(report, max_bytes=settings.max_payload_bytes)
        if incoming.category and incoming.category not in self.channels.services.queue.categories:
            raise ValidationError("category", f"unknown category code {incoming.category[:40]!r}")  # before any write
        if reply and incoming.citizen:
            to = f"whatsapp:{incoming.citizen.phone}" if reply == "whatsapp" else incoming.citizen.email
            incoming.raw_payload["reply"] = reply_route(reply, to)
        return incoming, files

    def show(self, request, ticket: str) -> tuple[int, dict]:
        try:
            client = client_for(self.channels, request)
        except KeyRefused as exc:
            return exc.status, {"error": KEY_ERRORS.get(exc.status, "invalid"), "message": str(exc)}
        try:
            report = self.channels.services.queue.get(ticket)
        except DomainError:
            report = None
        if report is None or not owns(client, report):  # another client's report answers as a missing one
            return 404, {"error": "not_found", "message": f"no report {ticket[:40]!r} of this client"}
        return 200, client_view(report)

    def reprocess(self, raw: bytes, headers: dict) -> Outcome:
        return Outcome("dead_letter")  # API clients get a 400 and resend; nothing is dead-lettered
