"""Helpers of the channel tests: a Flask app with only the ingest routes, and signing as Twilio does."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask
from twilio.request_validator import RequestValidator

from ingest.config import ChannelConfig
from ingest.web import register

TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "test-twilio-token-123"
PUBLIC = "https://laksa.example.go.id"


def channel_config(**overrides) -> ChannelConfig:
    values = dict(public_base_url=PUBLIC, twilio_account_sid=TWILIO_SID, twilio_auth_token=TWILIO_TOKEN,
                  twilio_whatsapp_from="whatsapp:+14155238886", twilio_sms_from="+14155550100",
                  call112_forward_to="+62215550112")
    values.update(overrides)
    return ChannelConfig(**values)


def ingest_app(services, config: ChannelConfig):
    server = Flask("test-ingest")
    channels = register(server, services, config)
    return server, channels


def twilio_post(client, path: str, form: dict, *, token: str = TWILIO_TOKEN, tamper: dict | None = None,
                signed_path: str | None = None):
    signature = RequestValidator(token).compute_signature(PUBLIC + (signed_path or path), form)
    body = dict(form, **(tamper or {}))
    return client.post(path, data=urlencode(body), content_type="application/x-www-form-urlencoded",
                       headers={"X-Twilio-Signature": signature})


def twilio_post_and_drain(client, channels, path: str, form: dict, **kwargs):
    """A signed webhook, then the worker's drain of the staging inbox (what happens within a second)."""
    response = twilio_post(client, path, form, **kwargs)
    channels.drainer.drain()
    return response


def whatsapp_form(sid: str, body: str = "banjir di Ciledug", phone: str = "+6281234567890", **extra) -> dict:
    form = {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": TWILIO_SID, "From": f"whatsapp:{phone}",
            "To": "whatsapp:+14155238886", "WaId": phone.lstrip("+"), "ProfileName": "Budi", "Body": body,
            "NumMedia": "0", "NumSegments": "1", "MessageType": "text", "ApiVersion": "2010-04-01"}
    form.update(extra)
    return form
