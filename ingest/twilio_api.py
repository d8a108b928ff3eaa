"""Twilio plumbing shared by WhatsApp, SMS and the 112 voice line: webhook signatures (the twilio SDK's
RequestValidator over the public URL) and the Messages REST API (form-encoded, basic auth)."""
from __future__ import annotations

import logging

import requests
from twilio.request_validator import RequestValidator

from domain.clock import utcnow
from domain.models import OutboxMessage
from ingest.base import DeliveryError, http_error
from ingest.config import ChannelConfig
from ingest.templates import TemplateNeeded, WhatsAppTemplates

log = logging.getLogger("ingest.twilio")


def signed_url(config: ChannelConfig, path: str, query_string: bytes | str = b"") -> str:
    """The URL Twilio signed: the public base URL (the app sits behind a proxy) plus path and query."""
    qs = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    return config.url(path) + (f"?{qs}" if qs else "")


def signature_ok(config: ChannelConfig, path: str, query_string, form: dict, signature: str | None) -> bool:
    if not config.twilio_auth_token or not signature:
        return False
    validator = RequestValidator(config.twilio_auth_token)
    try:
        return bool(validator.validate(signed_url(config, path, query_string), form, signature))
    except Exception:  # noqa: BLE001 - a malformed header is simply not a valid signature
        return False


class TwilioMessages:
    """Outbound WhatsApp or SMS through POST /2010-04-01/Accounts/{sid}/Messages.json."""

    def __init__(self, config: ChannelConfig, sender: str, session: requests.Session | None = None, *,
                 templates: WhatsAppTemplates | None = None, clock=utcnow):
        self.config, self.sender = config, sender
        self.http = session or requests.Session()
        self.templates, self.clock = templates, clock  # WhatsApp only: approved templates outside 24 h

    def send(self, message: OutboxMessage) -> str:
        c = self.config
        if not (c.twilio_account_sid and c.twilio_auth_token and self.sender):
            raise DeliveryError("Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, sender number)")
        url = f"{c.twilio_api_base.rstrip('/')}/2010-04-01/Accounts/{c.twilio_account_sid}/Messages.json"
        data = {"To": message.recipient, "From": self.sender, "StatusCallback": c.url("/webhooks/twilio/status")}
        try:
            content = self.templates.content(message.template, message.payload, self.clock()) if self.templates else None
        except TemplateNeeded as exc:
            raise DeliveryError(str(exc), retryable=False) from exc  # the operator sees why on /ops
        if content is None:
            data["Body"] = message.body[:1600]
        else:
            data["ContentSid"], data["ContentVariables"] = content
        try:
            response = self.http.post(url, data=data, auth=(c.twilio_account_sid, c.twilio_auth_token),
                                      timeout=c.http_timeout_seconds)
        except requests.RequestException as exc:
            raise DeliveryError(f"Twilio unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise http_error(response.status_code, response.text)
        try:
            return str(response.json()["sid"])
        except (ValueError, KeyError) as exc:
            raise DeliveryError("Twilio answered without a message sid") from exc
