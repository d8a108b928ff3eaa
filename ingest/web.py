"""Every webhook and API route of the channels, declared in one place (Flask Blueprint "ingest").

    POST /webhooks/twilio/whatsapp                 WhatsApp messages (Twilio)          ingest/whatsapp.py
    POST /webhooks/twilio/status                   delivery status of our messages     ingest/outbox.py
    POST /webhooks/twilio/voice[/dial|/status|/recording|/transcription]   112 calls   ingest/voice112.py
    GET  /webhooks/meta    POST /webhooks/meta     Instagram and Facebook (Meta)       ingest/meta.py
    POST /api/v1/reports   GET /api/v1/reports/<ticket>      city app / web form       ingest/api.py
    GET  /open311/v2/services.json  GET|POST /open311/v2/requests.json
    GET  /open311/v2/requests/<id>.json                      Open311 GeoReport v2      ingest/open311.py

Rules: every body is capped (limit_size below, chunked bodies included: 413); signatures are checked
before anything is read (403 and one log line otherwise); the answer
is sent only after the commit; a database error answers 503 so the provider retries.
The WhatsApp and Meta webhooks only stage the verified request (one insert into inbound_messages,
ingest/staging.py) and answer; the worker turns it into a report within a second or so. The 112
voice webhooks stay synchronous: their TwiML connects the call and the EMERGENCY report exists at once.
The blueprint is exempt from CSRF (providers cannot send a CSRF token); it authenticates by signature
or API key instead.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from domain.lifecycle import ValidationError
from ingest import json_input, twilio_api
from ingest.api import MAX_PHOTOS
from ingest.base import Unusable
from ingest.channels import Channels
from ingest.outbox import record_delivery_status
from ingest.staging import content_key, stage

log = logging.getLogger("ingest.web")

BLUEPRINT_NAME = "ingest"
MAX_WEBHOOK_BYTES = 5_000_000


def create_blueprint(channels: Channels) -> Blueprint:
    bp = Blueprint(BLUEPRINT_NAME, __name__)
    config = channels.config

    def twilio_form() -> dict:
        """The verified form of a Twilio webhook, or 403 (503 when Twilio is not configured)."""
        if not config.twilio_enabled:
            abort(503, "Twilio channel is not configured")
        raw = request.get_data(cache=True)
        form = request.form.to_dict(flat=True)
        if not twilio_api.signature_ok(config, request.path, request.query_string, form,
                                       request.headers.get("X-Twilio-Signature")):
            _refused("twilio")
        request.environ["ingest.raw"] = raw
        return form

    def twiml(body: str) -> Response:
        return Response(body, 200, mimetype="text/xml")

    def raw_body() -> bytes:
        return request.environ.get("ingest.raw") or request.get_data(cache=True)

    # ------------------------------------------------------------ Twilio
    def whatsapp():
        form = twilio_form()
        raw = raw_body()
        try:
            key = channels.whatsapp.message_id(form)
        except Unusable:
            key = content_key(raw)  # staged all the same; the drain dead-letters it with the reason
        stage(channels.services.engine, "whatsapp", key, raw, _headers(), channels.clock())
        return twiml(_empty_twiml())

    def twilio_status():
        form = twilio_form()
        sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
        if sid and status:
            error = form.get("ErrorCode")
            record_delivery_status(channels.services.sessions, sid, status, f"Twilio error {error}" if error else None)
        return Response(status=204)

    def voice(method: str, name: str):
        """A voice webhook: a form the 112 adapter refuses (voice112.checked) is a 400 naming the field."""
        def view():
            form = twilio_form()
            try:
                answer = getattr(channels.voice, method)(form)
            except ValidationError as exc:
                return Response(str(exc)[:200], 400, mimetype="text/plain")
            return twiml(answer) if answer is not None else Response(status=204)
        view.__name__ = name  # the endpoint's name, as before
        return view

    voice_incoming, voice_dial = voice("incoming", "voice_incoming"), voice("dial_finished", "voice_dial")
    voice_status, voice_recording = voice("call_status", "voice_status"), voice("recording", "voice_recording")
    voice_transcription = voice("transcription", "voice_transcription")

    # ------------------------------------------------------------ Meta
    def meta_verify():
        answer = channels.meta.verify_subscription(request.args.to_dict())
        if answer is None:
            abort(403)
        return Response(answer, 200, mimetype="text/plain")

    def meta_event():
        if not config.meta_enabled:
            abort(503, "Meta channel is not configured")
        raw = request.get_data(cache=True)
        if not channels.meta.signature_ok(raw, request.headers.get("X-Hub-Signature-256")):
            _refused("meta")
        # One POST may carry many events; Meta redelivers the same bytes, so the body's hash is the key.
        stage(channels.services.engine, "meta", content_key(raw), raw, _headers(), channels.clock())
        return Response("EVENT_RECEIVED", 200, mimetype="text/plain")

    # ------------------------------------------------------------ city app and Open311
    def api_create():
        status, body = channels.api.create(request)
        return jsonify(body), status

    def api_show(ticket: str):
        status, body = channels.api.show(request, ticket)
        return jsonify(body), status

    def open311_services():
        return _open311(channels.open311.services(request))

    def open311_requests():
        if request.method == "POST":
            return _open311(channels.open311.create(request))
        return _open311(channels.open311.query(request))

    def open311_request(request_id: str):
        return _open311(channels.open311.query(request, request_id))

    rules = [
        ("/webhooks/twilio/whatsapp", ["POST"], whatsapp),
        ("/webhooks/twilio/status", ["POST"], twilio_status),
        ("/webhooks/twilio/voice", ["POST"], voice_incoming),
        ("/webhooks/twilio/voice/dial", ["POST"], voice_dial),
        ("/webhooks/twilio/voice/status", ["POST"], voice_status),
        ("/webhooks/twilio/voice/recording", ["POST"], voice_recording),
        ("/webhooks/twilio/voice/transcription", ["POST"], voice_transcription),
        ("/webhooks/meta", ["GET"], meta_verify),
        ("/webhooks/meta", ["POST"], meta_event),
        ("/api/v1/reports", ["POST"], api_create),
        ("/api/v1/reports/<ticket>", ["GET"], api_show),
        ("/open311/v2/services.json", ["GET"], open311_services),
        ("/open311/v2/requests.json", ["GET", "POST"], open311_requests),
        ("/open311/v2/requests/<request_id>.json", ["GET"], open311_request),
    ]
    for rule, methods, view in rules:
        bp.add_url_rule(rule, endpoint=f"{view.__name__}_{'_'.join(methods).lower()}", view_func=view,
                        methods=methods)

    @bp.before_request
    def limit_size():
        # Providers' webhooks carry media as links, the API and Open311 as uploads. On the app's server
        # a chunked body was already read up to upload_cap (dashboard/limits.py): it has a length here.
        cap = MAX_WEBHOOK_BYTES if request.path.startswith("/webhooks/") else upload_cap(channels)
        request.max_content_length = cap
        if (request.content_length or 0) > cap:
            abort(413)

    @bp.errorhandler(SQLAlchemyError)
    def database_unavailable(exc):
        log.error("database unavailable while handling %s: %s", request.path, type(exc).__name__)
        return Response("database unavailable, retry later", 503, {"Retry-After": "30"}, mimetype="text/plain")

    return bp


def upload_cap(channels: Channels) -> int:
    """The largest body of the API and Open311 routes: MAX_PHOTOS attachments and the report."""
    return max(MAX_WEBHOOK_BYTES, channels.services.settings.max_attachment_bytes * MAX_PHOTOS + 1_000_000)


def _open311(result):
    status, body = result
    return jsonify(body), status


def _empty_twiml() -> str:
    from ingest.whatsapp import EMPTY_TWIML
    return EMPTY_TWIML


def _headers() -> dict:
    keep = ("Content-Type", "User-Agent", "X-Twilio-Signature", "X-Hub-Signature-256", "I-Twilio-Idempotency-Token")
    return {k: request.headers[k] for k in keep if k in request.headers}


def _refused(provider: str):
    log.warning("refused %s webhook with a missing or wrong signature: %s from %s", provider, request.path,
                request.remote_addr)
    abort(403)


def register(server, services, config=None) -> Channels:
    """Add the channel routes to the app's Flask server (app.create_server calls this)."""
    channels = Channels(services, config)
    json_input.install(server)  # deep nesting in any JSON body is a 400, never a RecursionError
    blueprint = create_blueprint(channels)
    server.register_blueprint(blueprint)
    server.config.setdefault("TLR_BLUEPRINT_BODY_CAPS", {})[BLUEPRINT_NAME] = upload_cap(channels)
    csrf = server.extensions.get("csrf")  # Flask-WTF CSRFProtect, when the app uses it
    if csrf is not None:
        csrf.exempt(blueprint)
    server.extensions["ingest.channels"] = channels
    return channels


__all__ = ["register", "create_blueprint", "BLUEPRINT_NAME"]
