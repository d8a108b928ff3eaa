"""Credentials and base URLs of every provider, read from the environment once.

Base URLs are variables too, so tests (and staging) point the adapters at local servers.
A channel whose credentials are missing is simply off: its webhook answers 503 and its poller idles.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _int(name: str, default: int) -> int:
    raw = _env(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def _bool(name: str, default: bool) -> bool:
    raw = _env(name).lower()
    return default if not raw else raw in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ApiClient:
    """A city app or civic app allowed to submit reports (INGEST_API_KEYS)."""

    name: str
    key: str = field(repr=False)
    channel: str = "app"


def _content_sids(raw: str) -> dict:
    from ingest.templates import parse_content_sids

    return parse_content_sids(raw)


def parse_api_keys(raw: str) -> tuple[ApiClient, ...]:
    """`name:key[:channel]` entries separated by commas, e.g. `laksa:s3cret:app,qlue:abc:open311`."""
    clients = []
    for entry in filter(None, (e.strip() for e in raw.split(","))):
        parts = entry.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ValueError(f"INGEST_API_KEYS entry {entry.split(':')[0]!r} must be name:key[:channel]")
        clients.append(ApiClient(parts[0], parts[1], parts[2] if len(parts) == 3 else "app"))
    return tuple(clients)


@dataclass(frozen=True)
class ChannelConfig:
    public_base_url: str = "http://127.0.0.1:8050"
    # Twilio (WhatsApp, SMS, 112 voice)
    twilio_account_sid: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    twilio_api_base: str = "https://api.twilio.com"
    twilio_whatsapp_from: str = ""
    twilio_sms_from: str = ""
    twilio_content_sids: dict = field(default_factory=dict)  # template name -> approved ContentSid (HX...)
    call112_forward_to: str = ""  # +62... or sip:calltakers@pbx.example
    call112_ring_seconds: int = 25
    # Email
    imap_host: str = ""
    # the authserv-ids whose Authentication-Results headers are trusted (ingest/mail_auth.py)
    email_authserv_ids: tuple = ()
    imap_port: int = 993
    imap_ssl: bool = True
    imap_user: str = ""
    imap_password: str = field(default="", repr=False)
    imap_folder: str = "INBOX"
    imap_batch: int = 50
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    email_from: str = "Tangerang Live Room <laporan@tangerangkota.go.id>"
    email_max_message_bytes: int = 25_000_000
    email_max_attachment_bytes: int = 10_000_000
    # Meta (Instagram, Facebook)
    meta_app_secret: str = field(default="", repr=False)
    meta_verify_token: str = field(default="", repr=False)
    meta_page_access_token: str = field(default="", repr=False)
    meta_graph_base: str = "https://graph.facebook.com"
    meta_graph_version: str = "v21.0"
    # X
    x_bearer_token: str = field(default="", repr=False)
    x_user_access_token: str = field(default="", repr=False)
    x_user_id: str = ""
    x_api_base: str = "https://api.x.com"
    x_poll_seconds: int = 60
    # City app / Open311
    api_clients: tuple[ApiClient, ...] = ()
    # Outbox
    outbox_max_attempts: int = 8
    outbox_poll_seconds: int = 5
    http_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, **overrides) -> "ChannelConfig":
        values = dict(
            public_base_url=_env("PUBLIC_BASE_URL", "http://127.0.0.1:8050"),
            twilio_account_sid=_env("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=_env("TWILIO_AUTH_TOKEN"),
            twilio_api_base=_env("TWILIO_API_BASE", "https://api.twilio.com"),
            twilio_whatsapp_from=_env("TWILIO_WHATSAPP_FROM"),
            twilio_sms_from=_env("TWILIO_SMS_FROM"),
            twilio_content_sids=_content_sids(_env("TWILIO_CONTENT_SIDS")),
            call112_forward_to=_env("CALL112_FORWARD_TO"),
            call112_ring_seconds=_int("CALL112_RING_SECONDS", 25),
            imap_host=_env("IMAP_HOST"),
            imap_port=_int("IMAP_PORT", 993),
            imap_ssl=_bool("IMAP_SSL", True),
            imap_user=_env("IMAP_USER"),
            imap_password=_env("IMAP_PASSWORD"),
            imap_folder=_env("IMAP_FOLDER", "INBOX"),
            imap_batch=_int("IMAP_BATCH", 50),
            smtp_host=_env("SMTP_HOST"),
            smtp_port=_int("SMTP_PORT", 587),
            smtp_starttls=_bool("SMTP_STARTTLS", True),
            smtp_ssl=_bool("SMTP_SSL", False),
            smtp_user=_env("SMTP_USER"),
            smtp_password=_env("SMTP_PASSWORD"),
            email_from=_env("EMAIL_FROM", "Tangerang Live Room <laporan@tangerangkota.go.id>"),
            email_max_message_bytes=_int("EMAIL_MAX_MESSAGE_BYTES", 25_000_000),
            email_max_attachment_bytes=_int("EMAIL_MAX_ATTACHMENT_BYTES", 10_000_000),
            email_authserv_ids=tuple(a.strip() for a in _env("EMAIL_AUTHSERV_ID").split(",") if a.strip()),
            meta_app_secret=_env("META_APP_SECRET"),
            meta_verify_token=_env("META_VERIFY_TOKEN"),
            meta_page_access_token=_env("META_PAGE_ACCESS_TOKEN"),
            meta_graph_base=_env("META_GRAPH_BASE", "https://graph.facebook.com"),
            meta_graph_version=_env("META_GRAPH_VERSION", "v21.0"),
            x_bearer_token=_env("X_BEARER_TOKEN"),
            x_user_access_token=_env("X_USER_ACCESS_TOKEN"),
            x_user_id=_env("X_USER_ID"),
            x_api_base=_env("X_API_BASE", "https://api.x.com"),
            x_poll_seconds=_int("X_POLL_SECONDS", 60),
            api_clients=parse_api_keys(_env("INGEST_API_KEYS")),
            outbox_max_attempts=_int("OUTBOX_MAX_ATTEMPTS", 8),
            outbox_poll_seconds=_int("OUTBOX_POLL_SECONDS", 5),
        )
        values.update(overrides)
        return cls(**values)

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_auth_token)

    @property
    def imap_enabled(self) -> bool:
        return bool(self.imap_host and self.imap_user)

    @property
    def trusted_authserv_ids(self) -> tuple:
        """Whose Authentication-Results a mail's sender is judged by: EMAIL_AUTHSERV_ID, else IMAP_HOST."""
        return tuple(self.email_authserv_ids) or ((self.imap_host,) if self.imap_host else ())

    @property
    def smtp_enabled(self) -> bool:
        return bool(self.smtp_host)

    @property
    def meta_enabled(self) -> bool:
        return bool(self.meta_app_secret)

    @property
    def x_enabled(self) -> bool:
        return bool(self.x_bearer_token and self.x_user_id)

    def url(self, path: str) -> str:
        return self.public_base_url.rstrip("/") + path
