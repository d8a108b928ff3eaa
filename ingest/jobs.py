"""Scheduled jobs of the channels (worker.build_scheduler adds them): the staging inbox's drain
(webhooks become reports), outbox delivery, media downloads, and the pollers of the channels that
have no webhooks (email, X)."""
from __future__ import annotations

from ingest.channels import Channels
from ingest.config import ChannelConfig
from ingest.media import fetch_pending_media

DRAIN_SECONDS = 1


def jobs(services, config: ChannelConfig | None = None) -> list[tuple[str, object, int]]:
    channels = Channels(services, config)
    config = channels.config

    drainer = channels.drainer

    def drain_inbox():
        drainer.drain()

    def purge_inbox():
        drainer.purge()

    def deliver_outbox():
        channels.deliverer.deliver_due()

    def fetch_media():
        fetch_pending_media(channels)

    out = [("ingest-drain", drain_inbox, DRAIN_SECONDS), ("ingest-purge", purge_inbox, 3600),
           ("outbox-deliver", deliver_outbox, config.outbox_poll_seconds), ("media-fetch", fetch_media, 30)]
    if config.imap_enabled:
        def poll_email():
            channels.email.poll()
        out.append(("imap-poll", poll_email, 30))
    if config.x_enabled:
        def poll_x():
            channels.x.poll()
        out.append(("x-poll", poll_x, config.x_poll_seconds))
    return out
