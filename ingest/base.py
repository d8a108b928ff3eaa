"""The adapter contract every channel implements (one module per channel under ingest/).

An adapter does two things:
    to_report(payload) -> IncomingReport    turn the channel's payload into the normalised report,
                                            or raise Unusable(reason) (the caller dead-letters it);
    send(message) -> provider id            deliver one outbox message through the channel, or raise
                                            DeliveryError (retryable or not).

Where a reply goes is decided when the report arrives: adapters put `reply_route(...)` into the
report's raw payload under "reply", and the outbox reads it back (ingest/notify.py).

Every poller and drain isolates a poison message the same way (`set_aside`): whatever handling one
message raises, it becomes a dead letter with the reason and the next message is handled; only an
unreachable database stops the batch (nothing could be stored; the same message is tried again later).
"""
from __future__ import annotations

import logging
from typing import Any, Protocol

from domain.db import database_unreachable
from domain.intake import IncomingReport
from domain.models import OutboxMessage, Report

_log = logging.getLogger("ingest")


class Unusable(Exception):
    """A payload that cannot become a report; the message is the dead letter's reason."""


class DeliveryError(Exception):
    """A message the channel did not take. `retryable` is False for answers that will never change
    (unknown recipient, refused content); the outbox then stops trying and shows the failure."""

    def __init__(self, reason: str, *, retryable: bool = True):
        super().__init__(reason)
        self.retryable = retryable


class ChannelAdapter(Protocol):
    channel: str

    def to_report(self, payload: Any) -> IncomingReport:
        """Normalise one channel payload (raise Unusable when it cannot become a report)."""

    def send(self, message: OutboxMessage) -> str:
        """Deliver one outbox message; return the provider's message id."""


class Sender(Protocol):
    def send(self, message: OutboxMessage) -> str:
        """Deliver one outbox message; return the provider's message id."""


def set_aside(inbox, channel: str, raw: bytes, error: Exception, headers: dict | None = None, *,
              log: logging.Logger | None = None) -> int:
    """Keep a message whose handling raised `error` as a dead letter with the reason; returns its id.
    Unusable is the adapter's own refusal (its text is the reason); any other error is a message the
    code cannot handle, logged with its traceback. Raises `error` again when the database is
    unreachable: then nothing can be stored, and the caller must stop and retry the message later."""
    if isinstance(error, Unusable):
        return inbox.dead_letter(channel, raw, str(error), headers)
    if database_unreachable(error):
        raise error
    (log or _log).error("%s message set aside as a dead letter: %s: %s", channel, type(error).__name__,
                        str(error)[:200], exc_info=error)
    return inbox.dead_letter(channel, raw, f"could not be processed: {type(error).__name__}: {error}", headers)


def reply_route(channel: str, to: str, **thread: Any) -> dict[str, Any]:
    """How to answer the citizen: which channel, which address, and threading details."""
    return {"channel": channel, "to": to, "thread": {k: v for k, v in thread.items() if v is not None}}


def reply_route_of(report: Report) -> dict[str, Any] | None:
    payload = report.raw_payload or {}
    route = payload.get("reply") if isinstance(payload, dict) else None
    if isinstance(route, dict) and route.get("channel") and route.get("to"):
        return route
    return None


def http_error(status: int, body: str) -> DeliveryError:
    """Providers' HTTP answers: 429 and 5xx are worth retrying; other 4xx will never succeed."""
    retryable = status == 429 or status >= 500 or status in (408, 409)
    return DeliveryError(f"HTTP {status}: {body[:300]}", retryable=retryable)
