"""The active worker's heartbeat: one row, rewritten every BEAT_SECONDS while the worker runs the jobs.
Anyone may read how old it is; older than STALE_SECONDS (or missing) means no SLA timer, inbox drain or
outbox delivery is running, and the control room must be told."""
from __future__ import annotations

import os
import socket
from datetime import datetime

from sqlalchemy import select

from domain.models import WorkerHeartbeat

NAME = "active"
BEAT_SECONDS = 5
STALE_SECONDS = 30


def beat(sessions, now: datetime, started_at: datetime) -> None:
    with sessions.begin() as s:
        row = s.get(WorkerHeartbeat, NAME)
        if row is None:
            row = WorkerHeartbeat(name=NAME)
            s.add(row)
        row.host, row.pid, row.started_at, row.beat_at = socket.gethostname()[:255], os.getpid(), started_at, now


def status(session, now: datetime) -> dict:
    """{"ok": bool, "age": seconds since the last beat or None when no worker ever ran, "host", "pid"}."""
    row = session.execute(select(WorkerHeartbeat.beat_at, WorkerHeartbeat.host, WorkerHeartbeat.pid)
                          .where(WorkerHeartbeat.name == NAME)).first()
    if row is None:
        return {"ok": False, "age": None, "host": None, "pid": None}
    age = max(0.0, (now - row.beat_at).total_seconds())
    return {"ok": age <= STALE_SECONDS, "age": age, "host": row.host, "pid": row.pid}
