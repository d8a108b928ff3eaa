"""The operations page's figures: the worker's heartbeat (and the wall's banner when it stops), the staging
inbox's backlog, undelivered replies and open dead letters."""
from __future__ import annotations

from datetime import timedelta

from dashboard import context, queries
from domain import heartbeat
from domain.intake import IncomingReport
from domain.models import DeadLetter, InboundMessage, OutboxMessage
from ingest import health


def test_the_heartbeat_is_missing_fresh_then_stale(services, clock):
    with services.sessions() as s:
        assert heartbeat.status(s, clock()) == {"ok": False, "age": None, "host": None, "pid": None}
    started = clock()
    heartbeat.beat(services.sessions, clock(), started)
    clock.advance(seconds=heartbeat.STALE_SECONDS)
    with services.sessions() as s:
        assert heartbeat.status(s, clock())["ok"] is True
    heartbeat.beat(services.sessions, clock(), started)  # one row, rewritten
    clock.advance(seconds=heartbeat.STALE_SECONDS + 1)
    with services.sessions() as s:
        state = heartbeat.status(s, clock())
    assert state["ok"] is False and state["age"] == heartbeat.STALE_SECONDS + 1 and state["pid"]


def test_the_wall_says_when_the_worker_stopped(services, clock):
    context.set_services(services)
    assert queries.compute_wall(clock())["worker_ok"] is False  # never ran
    heartbeat.beat(services.sessions, clock(), clock())
    assert queries.compute_wall(clock())["worker_ok"] is True
    clock.advance(minutes=1)
    assert queries.compute_wall(clock())["worker_ok"] is False


def test_the_scheduler_beats_first(services):
    from worker import build_job_scheduler

    scheduler = build_job_scheduler(services)
    assert scheduler.get_job("heartbeat") is not None


def test_snapshot_counts_the_backlog_the_failures_and_the_channels(services, clock):
    now = clock()
    services.queue.submit(IncomingReport.from_dict({"channel": "email", "external_id": "h-1", "text": "jalan rusak",
                                                    "received_at": now.isoformat()}))
    services.queue.submit(IncomingReport.from_dict({"channel": "web", "external_id": "h-2", "text": "sampah",
                                                    "received_at": (now - timedelta(days=2)).isoformat()}))
    with services.sessions.begin() as s:
        for i, state in enumerate(("pending", "pending", "done")):
            s.add(InboundMessage(channel="whatsapp", external_id=f"SM{i}", raw=b"x", received_at=now - timedelta(minutes=i),
                                 state=state, attempts=0))
        for i, status in enumerate(("pending", "failed", "dead", "sent")):
            s.add(OutboxMessage(channel="whatsapp", recipient="whatsapp:+628123", body="b", status=status, attempts=1,
                                next_attempt_at=now, created_at=now, last_error="HTTP 500" if i == 0 else None))
        s.add(DeadLetter(channel="whatsapp", received_at=now, reason="no text", raw=b"{}", status="open", attempts=0))
        s.add(DeadLetter(channel="whatsapp", received_at=now, reason="old", raw=b"{}", status="discarded", attempts=0))
    snap = health.snapshot(services.sessions, now + timedelta(seconds=30))
    assert snap["inbox_pending"] == 2 and snap["inbox_oldest_seconds"] == 90
    assert (snap["outbox_pending"], snap["outbox_retrying"], snap["outbox_failed"]) == (1, 1, 2)
    assert snap["dead_letters"] == 1
    assert [(c["channel"], c["count_24h"]) for c in snap["channels"]] == [("email", 1)]  # web: 2 days ago
