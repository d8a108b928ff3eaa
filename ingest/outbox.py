"""The outbox: every outbound message is a row written in the transaction that causes it; the worker
delivers due rows with retries and exponential backoff. Operators see failures and can retry them.

Row states: pending (waiting for its next attempt) -> sent, or failed (the provider refused it for
good), or dead (gave up after `max_attempts`). A row being delivered stays pending with its
next_attempt_at pushed one lease ahead, so a worker killed mid-delivery leaves it to be retried.
"""
from __future__ import annotations

import logging
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Mapping

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from domain.clock import isoformat
from domain.models import Message, OutboxMessage, Report
from ingest.base import DeliveryError, Sender

log = logging.getLogger("ingest.outbox")

LEASE = timedelta(minutes=5)
BASE_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 3600


def backoff(attempts: int) -> timedelta:
    """Delay before attempt `attempts + 1`: 30 s, 1 min, 2 min, ... capped at one hour."""
    return timedelta(seconds=min(BASE_DELAY_SECONDS * 2 ** max(attempts - 1, 0), MAX_DELAY_SECONDS))


def new_message_id(domain: str = "tangerangkota.go.id") -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def whatsapp_window_from(session: Session, report: Report) -> str | None:
    """When the citizen of `report` last wrote to us on WhatsApp (ISO UTC): their reports and messages
    there. WhatsApp accepts free text for 24 hours after it (ingest/templates.py: WhatsAppTemplates)."""
    if report.citizen_id is None:
        latest = report.received_at if report.channel == "whatsapp" else None
    else:
        # Only new reports or inbound messages change the answer: without pending ones, no flush first (an
        # intake batch has many pending changes; a flush per answer costs more than the two look-ups).
        pending = any(isinstance(o, Report) or (isinstance(o, Message) and o.direction == "in") for o in session.new)
        with session.no_autoflush if not pending else nullcontext():
            latest = session.scalar(select(func.max(Report.received_at)).where(
                Report.citizen_id == report.citizen_id, Report.channel == "whatsapp"))
            written = session.scalar(select(func.max(Message.at)).join(Report, Report.id == Message.report_id)
                                     .where(Report.citizen_id == report.citizen_id, Message.channel == "whatsapp",
                                            Message.direction == "in"))
        latest = max((t for t in (latest, written) if t is not None), default=None)
    return isoformat(latest) if latest is not None else None


def answer_payload(session: Session, report: Report, route: dict, values: dict, *, just_wrote: bool = False,
                   email_domain: str | None = None) -> dict:
    """The outbox payload of an answer to `report`'s citizen along `route` (ingest/base.py: reply_route):
    the thread, an email's Message-ID, and for WhatsApp the values the text was written with and when the
    citizen last wrote (`just_wrote`: the message being answered just came in), from which the sender
    picks free text or an approved template (ingest/templates.py)."""
    payload = {"thread": route.get("thread", {})}
    if route["channel"] == "email" and email_domain:
        payload["message_id"] = new_message_id(email_domain)
    if route["channel"] == "whatsapp":
        payload["values"] = {k: str(v) for k, v in values.items()}
        payload["window_from"] = isoformat(report.received_at) if just_wrote else whatsapp_window_from(session, report)
    return payload


def enqueue(session: Session, *, channel: str, recipient: str, body: str, now: datetime,
            report: Report | None = None, subject: str | None = None, template: str | None = None,
            payload: dict | None = None, author: str = "system") -> OutboxMessage:
    """Write one outbound message (and its line in the report's conversation) in the caller's transaction."""
    payload = dict(payload or {})
    if channel == "email":
        payload.setdefault("message_id", new_message_id())
    row = OutboxMessage(
        report_id=report.id if report is not None else None, channel=channel, recipient=recipient,
        template=template, subject=subject, body=body, payload=payload, status="pending", attempts=0,
        next_attempt_at=now, created_at=now,
    )
    session.add(row)
    if report is not None:
        session.add(Message(report_id=report.id, direction="out", channel=channel,
                            external_id=payload.get("message_id"), author=author, body=body, at=now))
    return row


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


class OutboxDeliverer:
    """Claims due rows, hands each to the sender of its channel, records the outcome."""

    def __init__(self, sessions: sessionmaker[Session], senders: Mapping[str, Sender],
                 clock: Callable[[], datetime], *, max_attempts: int = 8, lease: timedelta = LEASE):
        self.sessions, self.senders, self.clock = sessions, senders, clock
        self.max_attempts, self.lease = max_attempts, lease

    def claim(self, limit: int) -> list[OutboxMessage]:
        now = self.clock()
        with self.sessions.begin() as s:
            rows = list(s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit).with_for_update(skip_locked=True)
            ))
            for row in rows:
                row.attempts += 1
                row.next_attempt_at = now + self.lease
            return rows

    def deliver_due(self, limit: int = 50) -> DeliveryStats:
        stats = DeliveryStats()
        for row in self.claim(limit):
            self._deliver_one(row, stats)
        return stats

    def _deliver_one(self, row: OutboxMessage, stats: DeliveryStats) -> None:
        sender = self.senders.get(row.channel)
        provider_id, error, retryable = None, None, True
        if sender is None:
            error = f"channel {row.channel!r} is not configured for sending"
        else:
            try:
                provider_id = sender.send(row)
            except DeliveryError as exc:
                error, retryable = str(exc), exc.retryable
            except Exception as exc:  # noqa: BLE001 - a sender bug must not stop the other messages
                log.exception("outbox %s: sender crashed", row.id)
                error = f"{type(exc).__name__}: {exc}"
        now = self.clock()
        values: dict = {"last_error": error}
        if error is None:
            values.update(status="sent", provider_id=provider_id, sent_at=now, last_error=None)
            stats.sent += 1
        elif not retryable:
            values.update(status="failed")
            stats.failed += 1
        elif row.attempts >= self.max_attempts:
            values.update(status="dead")
            stats.dead += 1
        else:
            values.update(next_attempt_at=now + backoff(row.attempts))
            stats.retried += 1
        if error:
            stats.errors.append(f"{row.id}: {error}")
            log.warning("outbox %s (%s to %s) attempt %s: %s", row.id, row.channel, _mask(row.recipient),
                        row.attempts, error)
        with self.sessions.begin() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values))


def _mask(recipient: str) -> str:
    return recipient[:6] + "***" if len(recipient) > 6 else "***"


# ---------------------------------------------------------------- operator functions
def problems(sessions: sessionmaker[Session], limit: int = 200) -> list[OutboxMessage]:
    """Messages that did not go out (failed, dead) or are being retried, newest first."""
    with sessions() as s:
        return list(s.scalars(
            select(OutboxMessage)
            .where((OutboxMessage.status.in_(("failed", "dead")))
                   | ((OutboxMessage.status == "pending") & (OutboxMessage.last_error.is_not(None))))
            .order_by(OutboxMessage.id.desc()).limit(limit)))


def retry(sessions: sessionmaker[Session], outbox_id: int, now: datetime) -> bool:
    """Put a failed or dead message back in line (after the operator fixed the cause)."""
    with sessions.begin() as s:
        result = s.execute(update(OutboxMessage)
                           .where(OutboxMessage.id == outbox_id, OutboxMessage.status.in_(("failed", "dead")))
                           .values(status="pending", attempts=0, next_attempt_at=now))
        return result.rowcount == 1


def record_delivery_status(sessions: sessionmaker[Session], provider_id: str, status: str,
                           error: str | None = None) -> bool:
    """A provider's delivery callback (queued, sent, delivered, read, undelivered, failed)."""
    with sessions.begin() as s:
        values = {"delivery_status": status[:32]}
        if error:
            values["last_error"] = error
        result = s.execute(update(OutboxMessage).where(OutboxMessage.provider_id == provider_id).values(**values))
        return result.rowcount > 0
