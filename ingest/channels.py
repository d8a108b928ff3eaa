"""The channels wired once: configuration, the inbox, templates, one adapter per channel, the senders
the outbox uses and the re-processors of dead letters. Built by ingest.web.register and ingest.jobs.jobs.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

from ingest.config import ChannelConfig
from ingest.inbox import Inbox
from ingest.templates import Templates


class Channels:
    def __init__(self, services, config: ChannelConfig | None = None):
        self.services = services
        self.config = config or ChannelConfig.from_env(public_base_url=services.settings.public_base_url)

    @property
    def clock(self):
        return self.services.queue.clock

    @cached_property
    def inbox(self) -> Inbox:
        return Inbox(self.services)

    @cached_property
    def templates(self) -> Templates:
        return Templates.load(self.services.settings.data_dir)

    # ------------------------------------------------------------ adapters
    @cached_property
    def whatsapp(self):
        from ingest.whatsapp import WhatsAppAdapter
        return WhatsAppAdapter(self)

    @cached_property
    def sms(self):
        from ingest.twilio_api import TwilioMessages
        return TwilioMessages(self.config, self.config.twilio_sms_from)

    @cached_property
    def email(self):
        from ingest.mail import EmailAdapter
        return EmailAdapter(self)

    @cached_property
    def meta(self):
        from ingest.meta import MetaAdapter
        return MetaAdapter(self)

    @cached_property
    def x(self):
        from ingest.x import XAdapter
        return XAdapter(self)

    @cached_property
    def voice(self):
        from ingest.voice112 import Voice112
        return Voice112(self)

    @cached_property
    def api(self):
        from ingest.api import AppApi
        return AppApi(self)

    @cached_property
    def open311(self):
        from ingest.open311 import Open311
        return Open311(self)

    # ------------------------------------------------------------ outbox and dead letters
    SENDERS = {"whatsapp": "whatsapp", "sms": "sms", "email": "email", "instagram": "meta", "facebook": "meta",
               "x": "x"}
    REPROCESSORS = {"whatsapp": "whatsapp", "email": "email", "instagram": "meta", "facebook": "meta",
                    "meta": "meta", "x": "x", "call112": "voice", "app": "api", "web": "api", "open311": "open311"}

    @cached_property
    def senders(self) -> "_Lazy":
        """Outbox channel -> sender (adapters are built on first use)."""
        return _Lazy(self, self.SENDERS, lambda adapter: adapter)

    @cached_property
    def reprocessors(self) -> "_Lazy":
        """Dead-letter channel -> function(raw, headers) -> Outcome."""
        return _Lazy(self, self.REPROCESSORS, lambda adapter: adapter.reprocess)

    @cached_property
    def drainer(self):
        """The staging inbox's drain: staged webhooks -> reports (ingest/staging.py)."""
        from ingest.staging import Drainer
        return Drainer(self)

    @cached_property
    def deliverer(self):
        from ingest.outbox import OutboxDeliverer
        return OutboxDeliverer(self.services.sessions, self.senders, self.clock,
                               max_attempts=self.config.outbox_max_attempts)


class _Lazy(Mapping):
    def __init__(self, channels: Channels, names: dict[str, str], pick):
        self.channels, self.names, self.pick = channels, names, pick

    def __getitem__(self, key):
        return self.pick(getattr(self.channels, self.names[key]))

    def __iter__(self):
        return iter(self.names)

    def __len__(self):
        return len(self.names)
