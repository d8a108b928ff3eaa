"""How the doors and the pipes are doing, for the operations page: the staging inbox's backlog, the
outbox's undelivered messages, open dead letters, the last report per channel, the worker's heartbeat.
Counts only, over indexed columns (no table is read whole)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from domain import heartbeat
from domain.models import DeadLetter, InboundMessage, OutboxMessage, Report

CHANNEL_WINDOW = timedelta(hours=24)


def snapshot(sessions, now: datetime) -> dict:
    with sessions() as s:
        inbox_pending, inbox_oldest = s.execute(
            select(func.count(), func.min(InboundMessage.received_at)).where(InboundMessage.state == "pending")).one()
        outbox = dict(s.execute(select(OutboxMessage.status, func.count())
                                .where(OutboxMessage.status.in_(("pending", "failed", "dead")))
                                .group_by(OutboxMessage.status)).all())
        retrying = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == "pending", OutboxMessage.last_error.is_not(None))) or 0
        dead_letters = s.scalar(select(func.count()).select_from(DeadLetter).where(DeadLetter.status == "open")) or 0
        channel = func.lower(Report.channel)  # an expression: the planner keeps to the received_at range
        last = s.execute(select(channel, func.max(Report.received_at), func.count())
                         .where(Report.received_at >= now - CHANNEL_WINDOW).group_by(channel)).all()
        worker = heartbeat.status(s, now)
    return {
        "worker": worker,
        "inbox_pending": inbox_pending or 0,
        "inbox_oldest_seconds": None if inbox_oldest is None else max(0.0, (now - inbox_oldest).total_seconds()),
        "outbox_pending": outbox.get("pending", 0), "outbox_retrying": retrying,
        "outbox_failed": outbox.get("failed", 0) + outbox.get("dead", 0),
        "dead_letters": dead_letters,
        "channels": sorted(({"channel": c, "last": at, "count_24h": n} for c, at, n in last),
                           key=lambda r: r["channel"]),
    }
