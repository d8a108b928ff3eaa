"""The SLA sweep: records every warning, breach and escalation level exactly once, with its true time.

Each pass reads only what is due, through three partial indexes on sla_clocks (a range scan each):
  warnings     ix_sla_clocks_open_warn        warn_at <= now, open, not yet warned
  breaches     ix_sla_clocks_open_due         due_at < now, open, not yet breached
  escalations  ix_sla_clocks_open_next_check  next_check_at <= now, open (breached clocks only)
For each hit it locks the report (as the workflow does, report first; on PostgreSQL a report that
someone is changing right now is skipped until the next pass), marks the clock with a guarded UPDATE (it only succeeds while the clock is still in the
state that was read), then inserts the SlaBreach row (unique per report, stage and level), the event
and the outbox notifications, all in one transaction. A clock the workflow met meanwhile, or that
another sweeper handled, is left alone, so nothing is recorded twice even if two sweepers overlap.

`fell_due_at` is the true time the level fell due; `recorded_at` the time the sweep saw it (later
only when no worker was running). Pure domain code: the worker (worker.py, via routing/timers.py)
runs `sweep_through` every second, which also wakes exactly when the next level falls due.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from datetime import datetime
from functools import lru_cache
from typing import Callable

from sqlalchemy import bindparam, column, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from domain.actors import Actor
from domain.clock import Clock, isoformat, utcnow
from domain.escalation import BREACH, WARNING, Contact, EscalationLadder, Level, describe_lateness, format_wib
from domain.events import record
from domain.lifecycle import Role
from domain.models import Agency, Category, OutboxMessage, Report, SlaBreach, SlaClock, UTCDateTime
from domain.sla import Calendar, SlaBook

log = logging.getLogger("sla.sweep")
SWEEPER = Actor("sla-sweep", Role.SYSTEM)
EVENT_TYPES = {WARNING: "sla_warning", BREACH: "sla_breached"}  # every other level: sla_escalated
REFERENCE_TTL_SECONDS = 60

_OPEN = (SlaClock.met_at.is_(None), SlaClock.cancelled_at.is_(None), SlaClock.paused_at.is_(None))
# The sweep's three range scans, each matching the WHERE clause of its partial index term for term.
_OPEN_SQL = "met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL"
_DUE_QUERIES = {
    "warnings": ("ix_sla_clocks_open_warn", "warn_at <= :now AND warned_at IS NULL", "warn_at"),
    "breaches": ("ix_sla_clocks_open_due", "due_at < :now AND breached_at IS NULL", "due_at"),
    "escalations": ("ix_sla_clocks_open_next_check", "next_check_at <= :now AND next_check_at IS NOT NULL",
                    "next_check_at"),
}
# What is still to come after :now, on the same indexes (for waking up on the next deadline).
_UPCOMING = {
    "warnings": "warn_at > :now AND warned_at IS NULL",
    "breaches": "due_at >= :now AND breached_at IS NULL",
    "escalations": "next_check_at > :now AND next_check_at IS NOT NULL",
}
_CLOCK_COLUMNS = (SlaClock.id, SlaClock.report_id, SlaClock.stage, SlaClock.calendar, SlaClock.started_at,
                  SlaClock.target_minutes, SlaClock.due_at, SlaClock.warn_at, SlaClock.paused_seconds,
                  SlaClock.extended_minutes, SlaClock.breached_at, SlaClock.escalation_level,
                  SlaClock.next_check_at)


@dataclass
class SweepResult:
    warnings: int = 0
    breaches: int = 0
    escalations: int = 0
    notifications: int = 0
    passes: int = 0

    def __iadd__(self, other: "SweepResult") -> "SweepResult":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    @property
    def recorded(self) -> int:
        return self.warnings + self.breaches + self.escalations


class SlaSweep:
    """Finds what fell due and records it; `sweep()` is safe to call as often as one likes."""

    def __init__(self, sessions: sessionmaker[Session], sla: SlaBook, ladder: EscalationLadder, *,
                 clock: Clock = utcnow, notify: Callable | None = None, batch: int = 500):
        self.sessions = sessions
        self.sla = sla
        self.ladder = ladder
        self.clock = clock
        self.notify = notify  # the queue's listeners: fn(session, report, event_type, details)
        self.batch = batch
        self._reference: tuple[float, dict[str, tuple[str, Contact]], dict[str, str]] | None = None
        self._outbox: list[dict] = []  # rows of the current pass (one pass at a time per SlaSweep)

    # ------------------------------------------------------------ entry points
    def sweep(self) -> SweepResult:
        """Record everything due now; keeps going in batches until nothing due is left."""
        total = SweepResult()
        while True:
            result, more = self._pass(self.clock())
            total += result
            if not more or result.recorded == 0:
                return total

    def sweep_through(self, seconds: float = 0.9, sleep: Callable[[float], None] = time.sleep) -> SweepResult:
        """Sweep now, then wake again exactly when the next level falls due within `seconds`: the
        worker's one-second job, with detection latency set by the deadlines, not by the tick."""
        ends = time.monotonic() + seconds
        total = self.sweep()
        while True:
            now = self.clock()
            upcoming = self.next_due(now)
            if upcoming is None:
                return total
            wait = max(0.0, (upcoming - now).total_seconds()) + 0.002
            if time.monotonic() + wait >= ends:
                return total
            sleep(wait)
            if self.clock() == now:  # a stopped clock (tests, simulations): nothing new can fall due
                return total
            total += self.sweep()

    def next_due(self, now: datetime) -> datetime | None:
        """The earliest warning, breach or escalation still to come after `now` (three index probes)."""
        with self.sessions() as s:
            dialect = s.get_bind().dialect.name
            times = []
            for kind, (index, _, order) in _DUE_QUERIES.items():
                hint = f" INDEXED BY {index}" if dialect == "sqlite" else ""
                after = _UPCOMING[kind]
                statement = text(f"SELECT {order} FROM sla_clocks{hint} WHERE {after} AND {_OPEN_SQL} "
                                 f"ORDER BY {order} LIMIT 1").bindparams(bindparam("now", type_=UTCDateTime()))
                value = s.execute(statement.columns(column(order, UTCDateTime())), {"now": now}).scalar()
                if value is not None:
                    times.append(value)
        return min(times, default=None)

    def catch_up(self) -> SweepResult:
        """Run on becoming the active worker: records what fell due while no worker ran (true times)."""
        started = time.monotonic()
        result = self.sweep()
        if result.recorded:
            log.warning("catch-up recorded %d warnings, %d breaches, %d escalations that fell due while no "
                        "worker was active (%.2f s)", result.warnings, result.breaches, result.escalations,
                        time.monotonic() - started)
        return result

    # ------------------------------------------------------------ one pass
    def _pass(self, now: datetime) -> tuple[SweepResult, bool]:
        """One transaction over at most `batch` clocks per step; True when a step may have more."""
        try:
            with self.sessions.begin() as s:
                return self._steps(s, now, careful=False)
        except Exception:  # noqa: BLE001 - one bad clock must not stop the others
            log.exception("SLA sweep pass failed; retrying clock by clock")
        with self.sessions.begin() as s:
            return self._steps(s, now, careful=True)

    def _steps(self, s: Session, now: datetime, *, careful: bool) -> tuple[SweepResult, bool]:
        result, more = SweepResult(passes=1), False
        # Guarded updates and inserts go through the connection (Core): no autoflush and no ORM
        # bookkeeping per clock; the events and outbox rows added to the session are flushed once.
        conn = s.connection()
        self._outbox = []
        for kind, step in (("warnings", self._warn), ("breaches", self._breach), ("escalations", self._escalate)):
            rows = self._due(s, kind, now)
            more = more or len(rows) >= self.batch
            if not rows:
                continue
            reports = self._reports(s, {row.report_id for row in rows})
            for row in rows:
                report = reports.get(row.report_id)
                if report is None:
                    continue  # a user is changing this report right now: the next pass takes it
                if not careful:
                    done, sent = step(s, conn, row, report, now)
                    if len(self._outbox) >= 1000:
                        self._write_outbox(conn)
                else:
                    try:
                        with s.begin_nested():
                            done, sent = step(s, conn, row, report, now)
                            self._write_outbox(conn)
                            s.flush()
                    except Exception:  # noqa: BLE001
                        self._outbox = []
                        log.exception("SLA sweep skipped clock %s of %s", row.id, report.ticket)
                        continue
                setattr(result, kind, getattr(result, kind) + done)
                result.notifications += sent
            self._write_outbox(conn)
        return result, more

    def _write_outbox(self, conn) -> None:
        """The notifications of this pass in one multi-row INSERT (part of the pass's transaction)."""
        if self._outbox:
            conn.execute(insert(OutboxMessage), self._outbox)
            self._outbox = []

    def _due(self, s: Session, kind: str, now: datetime) -> list:
        index, condition, order = _DUE_QUERIES[kind]
        # Without statistics SQLite's planner prefers ix_sla_clocks_met_at (met_at IS NULL matches every
        # open clock): name the partial index. PostgreSQL's planner picks it from its statistics.
        hint = f" INDEXED BY {index}" if s.get_bind().dialect.name == "sqlite" else ""
        statement = text(
            f"SELECT {', '.join(c.name for c in _CLOCK_COLUMNS)} FROM sla_clocks{hint} "
            f"WHERE {condition} AND {_OPEN_SQL} ORDER BY {order} LIMIT :limit"
        ).bindparams(bindparam("now", type_=UTCDateTime())).columns(*_CLOCK_COLUMNS)
        return list(s.execute(statement, {"now": now, "limit": self.batch}))

    @staticmethod
    def _reports(s: Session, ids: set[int]) -> dict[int, Report]:
        """The reports of the due clocks, locked in id order like the workflow locks them (report first,
        then its clocks). On PostgreSQL a report another transaction holds is skipped, not waited for:
        no deadlock with a user's change or with a second sweeper. SQLite serialises writers anyway."""
        query = select(Report).where(Report.id.in_(ids)).order_by(Report.id)
        return {r.id: r for r in s.scalars(query.with_for_update(skip_locked=True))}

    # ------------------------------------------------------------ the three steps
    def _warn(self, s: Session, conn, row, report: Report, now: datetime) -> tuple[int, int]:
        claimed = conn.execute(update(SlaClock).where(
            SlaClock.id == row.id, SlaClock.warned_at.is_(None), *_OPEN).values(warned_at=row.warn_at))
        if claimed.rowcount != 1:
            return 0, 0
        # A warning found after its deadline (the worker was down) is recorded but not sent: the breach is.
        send = row.due_at >= now
        return 1, self._record(s, conn, report, row, self.ladder.warning, row.warn_at, now, send=send)

    def _breach(self, s: Session, conn, row, report: Report, now: datetime) -> tuple[int, int]:
        levels = self._escalation_times(row)
        next_check = levels[0][1] if levels else None
        claimed = conn.execute(update(SlaClock).where(
            SlaClock.id == row.id, SlaClock.breached_at.is_(None), SlaClock.due_at == row.due_at, *_OPEN,
        ).values(breached_at=row.due_at, escalation_level=BREACH, next_check_at=next_check))
        if claimed.rowcount != 1:
            return 0, 0
        return 1, self._record(s, conn, report, row, self.ladder.breach, row.due_at, now)

    def _escalate(self, s: Session, conn, row, report: Report, now: datetime) -> tuple[int, int]:
        guard = [SlaClock.id == row.id, SlaClock.next_check_at == row.next_check_at, *_OPEN]
        guard.append(SlaClock.escalation_level == row.escalation_level if row.escalation_level is not None
                     else SlaClock.escalation_level.is_(None))
        if row.breached_at is None:  # the stage was restarted (transfer, reopen): the breach step decides
            conn.execute(update(SlaClock).where(*guard).values(next_check_at=None))
            return 0, 0
        levels = self._escalation_times(row)
        names = [level.name for level, _ in levels]
        done = names.index(row.escalation_level) + 1 if row.escalation_level in names else 0
        pending = levels[done:]
        fired = [(level, at) for level, at in pending if at <= now]
        later = [at for _, at in pending if at > now]
        values = {"next_check_at": later[0] if later else None}
        if fired:
            values["escalation_level"] = fired[-1][0].name
        claimed = conn.execute(update(SlaClock).where(*guard).values(**values))
        if claimed.rowcount != 1 or not fired:
            return 0, 0  # moved on (deadline extended, paused time added, or handled elsewhere)
        sent = sum(self._record(s, conn, report, row, level, at, now) for level, at in fired)
        return len(fired), sent

    def _escalation_times(self, row) -> list[tuple[Level, datetime]]:
        calendar = self.sla.calendars.get(row.calendar) or Calendar()
        return self.ladder.escalation_times(calendar, row.started_at, row.target_minutes,
                                            extended_minutes=row.extended_minutes or 0,
                                            paused_seconds=row.paused_seconds or 0, due_at=row.due_at)

    # ------------------------------------------------------------ recording
    def _record(self, s: Session, conn, report: Report, row, level: Level, fell_due_at: datetime, now: datetime,
                *, send: bool = True) -> int:
        """The SlaBreach row, the event and the notifications of one level; returns messages written."""
        # RETURNING, not rowcount: SQLAlchemy reports -1 as the rowcount of an INSERT on PostgreSQL.
        inserted = conn.execute(_insert_breach(conn.dialect.name), {
            "report_id": report.id, "stage": row.stage, "level": level.name, "due_at": row.due_at,
            "fell_due_at": fell_due_at, "recorded_at": now}).first() is not None
        agencies, categories = self._reference_data(s)
        agency_code = self.ladder.responsible_agency(row.stage, report.agency_code)
        agency_name, stored = agencies.get(agency_code, (agency_code, Contact()))
        recipients, unreachable = self.ladder.recipients(level, self.ladder.contact_for(agency_code, stored))
        if not send:
            recipients, unreachable = [], []
        if recipients:
            values = {
                "ticket": report.ticket, "stage": self.ladder.stage_labels.get(row.stage, row.stage),
                "level": level.name, "agency": agency_code, "agency_name": agency_name,
                "category": categories.get(report.category_code or "", report.category_code or "tanpa kategori"),
                "priority": report.priority, "location": report.location_text or report.kecamatan or "lokasi belum jelas",
                "due": format_wib(row.due_at), "fell_due": format_wib(fell_due_at),
                "late": describe_lateness(now - row.due_at),
            }
            message = self.ladder.render(level.name, values)
            for recipient in recipients:
                self._outbox.append(dict(
                    report_id=report.id, channel=recipient.channel, recipient=recipient.address,
                    template=f"sla_{level.name}"[:64], subject=message.subject if recipient.channel == "email" else None,
                    body=message.body, status="pending", attempts=0, next_attempt_at=now, created_at=now,
                    payload={"kind": "sla", "ticket": report.ticket, "stage": row.stage, "level": level.name,
                             "role": recipient.role, "agency": agency_code, "due_at": isoformat(row.due_at),
                             "fell_due_at": isoformat(fell_due_at), "values": values},
                    last_error=None, provider_id=None, delivery_status=None, sent_at=None,
                ))
        if unreachable:
            log.warning("%s %s %s: no contact for %s", report.ticket, row.stage, level.name, ", ".join(unreachable))
        details = {"stage": row.stage, "level": level.name, "due_at": isoformat(row.due_at),
                   "fell_due_at": isoformat(fell_due_at), "agency": agency_code,
                   "notified": [f"{r.role}:{r.channel}" for r in recipients]}
        if unreachable:
            details["unreachable"] = unreachable
        if not inserted:
            details["repeat"] = True  # the stage was restarted and runs late again; the first row stays
        event_type = EVENT_TYPES.get(level.name, "sla_escalated")
        record(s, report, SWEEPER, event_type, after=details, at=now)
        if self.notify is not None:
            self.notify(s, report, event_type, details)
        return len(recipients)

    def _reference_data(self, s: Session) -> tuple[dict[str, tuple[str, Contact]], dict[str, str]]:
        cached = self._reference
        if cached is not None and time.monotonic() - cached[0] < REFERENCE_TTL_SECONDS:
            return cached[1], cached[2]
        agencies = {a.code: (a.name, Contact(phone=a.duty_phone, email=a.duty_email, head_email=a.head_email))
                    for a in s.scalars(select(Agency))}
        categories = dict(s.execute(select(Category.code, Category.label_id)).all())
        self._reference = (time.monotonic(), agencies, categories)
        return agencies, categories


@lru_cache(maxsize=4)
def _insert_breach(dialect: str):
    """INSERT ... ON CONFLICT DO NOTHING on (report, stage, level), built once per dialect (the ON CONFLICT
    clause keeps SQLAlchemy from caching the compiled statement, so we keep it)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return (insert(SlaBreach).on_conflict_do_nothing(index_elements=["report_id", "stage", "level"])
            .returning(SlaBreach.id))


def build_sweep(sessions, sla: SlaBook, data_dir, *, clock: Clock = utcnow, notify=None) -> SlaSweep:
    """The sweep with the ladder from `data_dir/escalation.yaml` (raises ValidationError if it is broken)."""
    ladder = EscalationLadder.load(data_dir, resolve_ceiling_minutes=sla.resolve_ceiling_minutes)
    return SlaSweep(sessions, sla, ladder, clock=clock, notify=notify)
