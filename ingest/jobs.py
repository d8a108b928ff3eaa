"""Scheduled jobs of the channels (worker.build_scheduler adds them): the staging inbox's drain
(webhooks become reports), outbox delivery, media downloads, and the pollers of the channels that
have no webhooks (email, X)."""
from __future__ import annotations

import logging
import os
import threading
import time

from ingest.channels import Channels
from ingest.config import ChannelConfig
from ingest.media import fetch_pending_media

log = logging.getLogger("ingest.jobs")

DRAIN_SECONDS = 1
DRAIN_NICENESS = 10


class DrainThread:
    """The staging inbox's drain on its own thread at a lower CPU priority (Linux: a thread's nice value),
    kicked by the scheduler every second: in a burst, the web workers that must answer webhooks within
    150 ms get the CPU first, and the drain catches up right after. The scheduler only kicks while this
    worker holds the worker lock, so there is still one drain for the whole platform."""

    KICKED_WITHIN = 3.0  # seconds: without a kick for this long the worker's jobs stopped (or lost the lock)

    def __init__(self, drainer):
        self.drainer = drainer
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._kicked_at = 0.0

    def kicked_recently(self) -> bool:
        """While the scheduler kicks (every second), a long drain goes on; once it stops kicking (the worker
        stops or lost the worker lock to another one), the drain stops after its current batch: never two
        drains at once, and a stopping worker is not held up by a backlog."""
        return time.monotonic() - self._kicked_at < self.KICKED_WITHIN

    def kick(self) -> None:
        self._kicked_at = time.monotonic()
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ingest-drain", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DRAIN_NICENESS)
        except (AttributeError, OSError):  # not Linux, or not allowed: run at normal priority
            pass
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                self.drainer.drain(keep_going=self.kicked_recently)
            except Exception:  # noqa: BLE001 - the database may be away; the next kick retries
                log.exception("draining the staging inbox failed")


def jobs(services, config: ChannelConfig | None = None) -> list[tuple[str, object, int]]:
    channels = Channels(services, config)
    config = channels.config

    drainer = channels.drainer
    drain_thread = DrainThread(drainer)

    def drain_inbox():
        drain_thread.kick()

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
