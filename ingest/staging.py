"""The staging inbox of webhooks: acknowledge after one insert, turn into reports right after.

    webhook (ingest/web.py)      verify the signature, `stage(...)` the raw request with ONE
                                 `INSERT .. ON CONFLICT (channel, external_id) DO NOTHING`, commit,
                                 answer 200 (a redelivery hits the conflict and changes nothing)
    worker (ingest/jobs.py)      `Drainer.drain()` every second: pending rows in id order, in batches,
                                 through the same conversation handling as before (ingest/conversation.py)

Each row is marked in the transaction of its effect where the effect is ours to write: a new report
(QueueService.submit_many's `before_commit` marks the batch's rows with one statement inside the reports'
transaction) and a dead letter. Follow-ups and commands commit first and the row is marked right after; a crash between the two
re-processes the row, which the conversation's own idempotency (channel, message id) answers as a
duplicate. So a crash anywhere re-processes only rows whose mark did not commit, and nothing is doubled.

Rows of one citizen keep their order: a message from a citizen whose new report is still waiting in the
batch's submit_many sends that batch first, so a follow-up joins the report instead of opening another.
A row whose processing raises (a bug, bad data the database refuses, a parser limit: anything but an
unreachable database) is retried on the next drains, while the rows behind it go on, and dead-lettered with
the reason after `max_attempts`; an unreachable database (domain/db.py: database_unreachable) stops the
drain until the next tick, leaving the rows pending. A report's received time is the moment its webhook
arrived (the staged row's received_at); a time the payload carries is only its `claimed_at`.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from domain.db import database_unreachable
from domain.intake import IncomingReport
from domain.models import CitizenIdentity, InboundMessage, Message, Report
from ingest.base import Unusable
from ingest.conversation import InboundMessage as ConversationMessage, handle
from ingest.inbox import RATING, REOPEN_COMMAND, STATUS_COMMAND, Outcome
from ingest.whatsapp import parse_form

log = logging.getLogger("ingest.staging")

BATCH_SIZE = 200
# New reports per submit_many transaction: big enough to share its look-ups (the queue listeners read
# what a batch needs at once, ~3-5 ms per report in all), small enough that the transaction does not hold
# SQLite's single writer lock, which every webhook needs, for more than a fraction of a second.
SUBMIT_SIZE = {"postgresql": 100, "sqlite": 50}
MAX_ATTEMPTS = 5
KEEP_DONE = timedelta(days=7)
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}

def content_key(raw: bytes) -> str:
    """The staging key of a payload without a usable provider id: its SHA-256."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def stage(engine, channel: str, external_id: str, raw: bytes, headers: dict | None, received_at: datetime) -> bool:
    """Store one verified request and commit (one statement, no ORM: this is the webhook's whole cost);
    False when this (channel, message id) was staged before."""
    insert = _INSERTS.get(engine.dialect.name)
    if insert is None:  # pragma: no cover - the platform runs on PostgreSQL and SQLite only
        raise RuntimeError(f"staging needs PostgreSQL or SQLite, not {engine.dialect.name}")
    stmt = insert(InboundMessage.__table__).values(
        channel=channel, external_id=external_id[:200], raw=raw, headers=headers or {},
        received_at=received_at, state="pending", attempts=0,
    ).on_conflict_do_nothing(index_elements=["channel", "external_id"])
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount == 1


def mark_created(session, submitted, row_ids: dict[tuple[str, str], int]) -> None:
    """Mark the staged rows of the reports one submit_many created, in the reports' transaction: one
    executemany UPDATE for the batch (`row_ids`: (channel, message id) -> staged row id)."""
    table = InboundMessage.__table__
    marks = [{"row_id": row_ids[key], "ticket": result.report.ticket, "at": result.report.created_at}
             for result in submitted if result.created
             and (key := (result.report.channel, result.report.external_id)) in row_ids]
    if marks:
        session.execute(update(table).where(table.c.id == bindparam("row_id")).values(
            state="done", outcome="created", ticket=bindparam("ticket"), processed_at=bindparam("at"),
            attempts=table.c.attempts + 1), marks)


@dataclass
class DrainStats:
    rows: int = 0
    batches: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    failed: int = 0

    def count(self, kind: str, n: int = 1) -> None:
        self.outcomes[kind] = self.outcomes.get(kind, 0) + n


@dataclass
class _Row:
    id: int
    channel: str
    raw: bytes
    headers: dict
    received_at: datetime
    attempts: int


class Drainer:
    def __init__(self, channels, batch_size: int = BATCH_SIZE, max_attempts: int = MAX_ATTEMPTS):
        self.channels = channels
        self.sessions = channels.services.sessions
        self.queue = channels.services.queue
        self.batch_size, self.max_attempts = batch_size, max_attempts
        self.submit_size = SUBMIT_SIZE.get(channels.services.engine.dialect.name, 50)
        self._lock = threading.Lock()  # one drain per process; the worker lock makes it one per platform

    def pending(self) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.count()).select_from(InboundMessage).where(InboundMessage.state == "pending"))

    def drain(self, max_batches: int | None = None, keep_going: Callable[[], bool] | None = None) -> DrainStats:
        """Process pending rows until none is left (or `max_batches`, or `keep_going()` turns false between
        batches); rows that fail wait for the next call."""
        stats = DrainStats()
        if not self._lock.acquire(blocking=False):
            return stats
        try:
            after = 0
            while max_batches is None or stats.batches < max_batches:
                if keep_going is not None and stats.batches and not keep_going():
                    break
                rows = self._next(after)
                if not rows:
                    break
                self._batch(rows, stats)
                after = rows[-1].id
                stats.batches += 1
                stats.rows += len(rows)
        finally:
            self._lock.release()
        return stats

    def purge(self, now: datetime | None = None) -> int:
        """Forget processed rows after a week (the reports and dead letters keep what matters)."""
        cutoff = (now or self.channels.clock()) - KEEP_DONE
        with self.sessions.begin() as s:
            return s.execute(delete(InboundMessage).where(
                InboundMessage.state != "pending", InboundMessage.processed_at < cutoff)).rowcount

    # ------------------------------------------------------------ one batch
    def _next(self, after: int) -> list[_Row]:
        with self.sessions() as s:
            return [_Row(*r) for r in s.execute(
                select(InboundMessage.id, InboundMessage.channel, InboundMessage.raw, InboundMessage.headers,
                       InboundMessage.received_at, InboundMessage.attempts)
                .where(InboundMessage.state == "pending", InboundMessage.id > after)
                .order_by(InboundMessage.id).limit(self.batch_size))]

    def _batch(self, rows: list[_Row], stats: DrainStats) -> None:
        waiting: list[tuple[_Row, IncomingReport]] = []  # new reports for one submit_many
        waiting_identities: set = set()
        plainly_new = self._plainly_new([r for r in rows if r.channel == "whatsapp"])
        self._batch_identities: set = set()  # senders with a new report in this batch
        for row in rows:
            try:
                if row.channel == "whatsapp":
                    self._whatsapp(row, waiting, waiting_identities, stats, plainly_new.get(row.id))
                elif row.channel == "meta":
                    outcomes = self.channels.meta.inbound(row.raw, row.headers, received_at=row.received_at)
                    self._done(row, _summary(outcomes), stats)
                else:
                    self._dead(row, f"no drain for channel {row.channel!r}", stats)
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop the city's inbox
                if database_unreachable(exc):
                    raise  # the database is away: everything not committed stays pending
                self._failed(row, exc, stats)
        self._submit(waiting, waiting_identities, stats)

    def _plainly_new(self, rows: list[_Row]) -> dict[int, ConversationMessage]:
        """Row id -> message, for the rows that can only be a new report: a message id never handled, from
        a sender the city does not know yet, that is no command. Three look-ups for the whole batch
        instead of three per row; every other row takes the full conversation path (ingest/conversation.py)."""
        adapter, parsed = self.channels.whatsapp, {}
        for row in rows:
            try:
                msg = adapter.message(parse_form(row.raw), row.received_at)
            except Exception:  # noqa: BLE001 - the full path dead-letters it, row by row, with its reason
                continue
            if not any(rx.match(msg.text or "") for rx in (STATUS_COMMAND, REOPEN_COMMAND, RATING)):
                parsed[row.id] = msg
        if not parsed:
            return {}
        ids = {m.external_id for m in parsed.values()}
        phones = {m.identity[1] for m in parsed.values()}
        with self.sessions() as s:
            seen = set(s.scalars(select(Report.external_id).where(
                Report.channel == "whatsapp", Report.external_id.in_(ids))))
            seen |= set(s.scalars(select(Message.external_id).where(
                Message.channel == "whatsapp", Message.direction == "in", Message.external_id.in_(ids))))
            known = set(s.scalars(select(CitizenIdentity.value).where(
                CitizenIdentity.kind == "phone", CitizenIdentity.value.in_(phones))))
        return {rid: m for rid, m in parsed.items() if m.external_id not in seen and m.identity[1] not in known}

    def _whatsapp(self, row: _Row, waiting, waiting_identities: set, stats: DrainStats,
                  plainly_new: ConversationMessage | None = None) -> None:
        adapter = self.channels.whatsapp
        try:
            msg = plainly_new or adapter.message(parse_form(row.raw), row.received_at)
            if msg.identity in waiting_identities:
                self._submit(waiting, waiting_identities, stats)  # keep this citizen's messages in order
            if msg.identity in self._batch_identities:
                plainly_new = None  # the citizen has a report from this batch now: the full path decides
            collected: list[IncomingReport] = []

            def collect(incoming: IncomingReport) -> Outcome:
                collected.append(incoming)
                return Outcome("waiting")

            outcome = collect(msg.build_report()) if plainly_new else handle(self.channels, msg, submit=collect)
        except Unusable as exc:
            self._dead(row, str(exc), stats)
            return
        if collected:
            waiting.append((row, collected[0]))
            waiting_identities.add(msg.identity)
            self._batch_identities.add(msg.identity)
            if len(waiting) >= self.submit_size:
                self._submit(waiting, waiting_identities, stats)
        else:
            self._done(row, outcome, stats)

    def _submit(self, waiting: list, waiting_identities: set, stats: DrainStats) -> None:
        """Store the batch's new reports with one submit_many (one by one if the batch is refused)."""
        if not waiting:
            return
        items = list(waiting)
        waiting.clear()
        waiting_identities.clear()
        row_ids = {(inc.channel, inc.external_id): row.id for row, inc in items}

        def mark(session, submitted):
            mark_created(session, submitted, row_ids)

        try:
            results = self.queue.submit_many([inc for _, inc in items], before_commit=mark)
            pairs = list(zip(items, results))
        except Exception as exc:  # noqa: BLE001 - find the item that is refused, keep the others
            if database_unreachable(exc):
                raise
            pairs = []
            for row, incoming in items:
                try:
                    pairs.append(((row, incoming), self.queue.submit_many([incoming], before_commit=mark)[0]))
                except Exception as exc:  # noqa: BLE001
                    if database_unreachable(exc):
                        raise
                    self._failed(row, exc, stats)
        for (row, _), result in pairs:
            if result.created:
                stats.count("created")
            else:  # stored before (a crash after the report's commit): nothing to do but the mark
                self._done(row, Outcome("duplicate", result.report.ticket), stats)

    # ------------------------------------------------------------ marks
    def _done(self, row: _Row, outcome: Outcome, stats: DrainStats) -> None:
        with self.sessions.begin() as s:
            s.execute(update(InboundMessage).where(InboundMessage.id == row.id).values(
                state="done", outcome=outcome.kind[:16], ticket=outcome.ticket,
                dead_letter_id=outcome.dead_letter_id, processed_at=self.channels.clock(),
                attempts=InboundMessage.attempts + 1))
        stats.count(outcome.kind)

    def _dead(self, row: _Row, reason: str, stats: DrainStats) -> None:
        channel = row.channel
        with self.sessions.begin() as s:
            letter = self.channels.inbox.dead_letter(channel, row.raw, reason, row.headers, session=s,
                                                     received_at=row.received_at)
            s.execute(update(InboundMessage).where(InboundMessage.id == row.id).values(
                state="dead_letter", outcome="dead_letter", dead_letter_id=letter,
                processed_at=self.channels.clock(), attempts=InboundMessage.attempts + 1,
                last_error=reason[:2000]))
        stats.count("dead_letter")

    def _failed(self, row: _Row, exc: Exception, stats: DrainStats) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        log.exception("staged message %s (%s) failed: %s", row.id, row.channel, reason[:200])
        stats.failed += 1
        if row.attempts + 1 >= self.max_attempts:
            self._dead(row, f"processing failed {row.attempts + 1} times; last: {reason}", stats)
            return
        with self.sessions.begin() as s:
            s.execute(update(InboundMessage).where(InboundMessage.id == row.id).values(
                attempts=InboundMessage.attempts + 1, last_error=reason[:2000]))


def _summary(outcomes: list[Outcome]) -> Outcome:
    """One Meta webhook may carry several events: the row keeps the first meaningful outcome."""
    for outcome in outcomes:
        if outcome.kind != "duplicate":
            return outcome
    return outcomes[0] if outcomes else Outcome("ignored")
