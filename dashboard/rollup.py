"""The executive panel's per-day rollup (table dashboard_rollup): one row per WIB day, measure and key.

Kept by catch-up, not by listeners: `catch_up()` reads the events recorded since its watermark
(dashboard_rollup_state.event_id), finds the past days those reports touch (the day each was received,
resolved and had a clock met) and recomputes just those days; days that ended since the last run are
added; the current day is never stored (the panel computes it live with `aggregate`). The first run builds
every past day. Times to accept and to resolve are kept as histograms over fixed buckets (BUCKETS), from
which the panel reads approximate medians.
"""
from __future__ import annotations

import logging
import os
import threading
from datetime import date, datetime, timedelta

from typing import NamedTuple

from sqlalchemy import delete, func, select, text

from domain.clock import UTC, WIB
from domain.lifecycle import OPEN_STATUSES
from domain.models import ROLLUP_HISTOGRAM_BUCKETS, DashboardRollup, DashboardRollupState, Event, Report, SlaClock

# Upper bounds (minutes) of the duration buckets; the last bucket is open-ended.
BUCKETS = (5, 10, 15, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1080, 1440, 2160, 2880, 4320, 5760,
           7200, 10080, 14400, 20160, 30240, 43200)
COUNTERS = ("received", "open", "resolved", "satisfaction_sum", "satisfaction_count", "accepted",
            "accepted_on_time", "sla_met", "sla_on_time")
HISTOGRAMS = tuple(f"{kind}_{i}" for kind in ("accept", "resolve") for i in range(len(BUCKETS) + 1))
assert len(BUCKETS) + 1 == ROLLUP_HISTOGRAM_BUCKETS
OPEN = frozenset(s.value for s in OPEN_STATUSES)
STATE_NAME = "executive"
CATCH_UP_SECONDS = 30  # DASHBOARD_ROLLUP_SECONDS overrides; 0 leaves the job out of the worker
log = logging.getLogger(__name__)
CHUNK = 500
_lock = threading.Lock()


def wib_day(moment: datetime) -> str:
    return moment.astimezone(WIB).date().isoformat()


def day_start(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), WIB).astimezone(UTC)


def bucket(minutes: float) -> int:
    for i, bound in enumerate(BUCKETS):
        if minutes < bound:
            return i
    return len(BUCKETS)


def histogram(row: dict, kind: str) -> list[int]:
    return [int(row.get(f"{kind}_{i}") or 0) for i in range(len(BUCKETS) + 1)]


def approximate_median(histogram: list[int] | None) -> float | None:
    """The median of a bucketed distribution, interpolated linearly inside its bucket (minutes)."""
    if not histogram:
        return None
    total = sum(histogram)
    if total == 0:
        return None
    half, seen = total / 2, 0
    for i, n in enumerate(histogram):
        if n and seen + n >= half:
            low = 0 if i == 0 else BUCKETS[i - 1]
            if i >= len(BUCKETS):
                return float(low)
            return low + (BUCKETS[i] - low) * (half - seen) / n
        seen += n
    return None


class Rows:
    """Rollup rows being computed: (measure, day, key) -> counters and histograms."""

    def __init__(self):
        self.rows: dict[tuple[str, str, str], dict] = {}

    def get(self, measure: str, day: str, key: str) -> dict:
        row = self.rows.get((measure, day, key))
        if row is None:
            row = dict.fromkeys(COUNTERS + HISTOGRAMS, 0)
            row.update(measure=measure, day=day, key=key[:120])
            self.rows[(measure, day, key)] = row
        return row

    def add_received(self, r) -> None:
        received = r.received_at.astimezone(WIB)
        day = received.date().isoformat()
        agency = self.get("agency", day, r.agency_code or "-")
        agency["received"] += 1
        if r.status in OPEN:
            agency["open"] += 1
        if r.satisfaction is not None:
            agency["satisfaction_sum"] += r.satisfaction
            agency["satisfaction_count"] += 1
        if r.resolved_at is not None:
            _count(agency, "resolve", (r.resolved_at - r.received_at).total_seconds() / 60)
        if r.met_at is not None:
            agency["accepted"] += 1
            agency["accepted_on_time"] += r.met_at <= r.due_at
            _count(agency, "accept", (r.met_at - r.started_at).total_seconds() / 60)
        for measure, key in (("channel", r.channel), ("category", r.category_code), ("kecamatan", r.kecamatan),
                             ("hour", f"{received.isoweekday()}-{received.hour}")):
            self.get(measure, day, key or "-")["received"] += 1
        place = r.kelurahan_code or r.kecamatan
        if r.category_code and place:
            self.get("place", day, f"{r.category_code}|{place}")["received"] += 1


def _count(row: dict, kind: str, minutes: float) -> None:
    row[f"{kind}_{bucket(max(0.0, minutes))}"] += 1


RECEIVED_SQL = """
SELECT r.received_at, r.agency_code, r.channel, r.category_code, r.kecamatan, r.kelurahan_code, r.status,
       r.satisfaction, r.resolved_at, c.met_at, c.due_at, c.started_at
FROM reports r LEFT JOIN sla_clocks c ON c.report_id = r.id AND c.stage = 'dispatch'
WHERE r.received_at >= :start AND r.received_at < :end"""
# Resolutions and met clocks are counted per WIB day in SQL ({day} is the dialect's WIB date of a column).
RESOLVED_SQL = ("SELECT {day} AS d, agency_code, count(*) FROM reports WHERE resolved_at >= :start AND resolved_at < :end "
                "GROUP BY {day}, agency_code")
MET_SQL = ("SELECT {day} AS d, count(*), sum(CASE WHEN met_at <= due_at THEN 1 ELSE 0 END) FROM sla_clocks "
           "WHERE met_at >= :start AND met_at < :end GROUP BY {day}")
WIB_DAY = {"sqlite": "date({column}, '+7 hours')",
           "postgresql": "CAST(({column} AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Jakarta' AS DATE)"}


class Received(NamedTuple):
    received_at: datetime
    agency_code: str | None
    channel: str
    category_code: str | None
    kecamatan: str | None
    kelurahan_code: str | None
    status: str
    satisfaction: int | None
    resolved_at: datetime | None
    met_at: datetime | None
    due_at: datetime | None
    started_at: datetime | None


def _timestamp(value) -> datetime | None:
    """A stored naive-UTC timestamp as the driver returns it (SQLite: text; PostgreSQL: datetime)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def aggregate(session, start: datetime, end: datetime, rows: Rows | None = None) -> Rows:
    """Roll up what happened in [start, end): reports received, resolutions, SLA clocks met. Reads through
    the driver (a year of reports is a million rows: no ORM type processing per value)."""
    rows = rows or Rows()
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    bounds = {k: v.astimezone(UTC).replace(tzinfo=None) for k, v in (("start", start), ("end", end))}
    if sqlite:
        bounds = {k: v.strftime("%Y-%m-%d %H:%M:%S") for k, v in bounds.items()}
    ts = _timestamp
    for r in connection.execute(text(RECEIVED_SQL).execution_options(yield_per=20_000), bounds):
        rows.add_received(Received(ts(r[0]), *r[1:8], ts(r[8]), ts(r[9]), ts(r[10]), ts(r[11])))
    day = WIB_DAY["sqlite" if sqlite else "postgresql"]
    for d, agency, n in connection.execute(text(RESOLVED_SQL.format(day=day.format(column="resolved_at"))), bounds):
        rows.get("agency", str(d), agency or "-")["resolved"] += n
    for d, n, on_time in connection.execute(text(MET_SQL.format(day=day.format(column="met_at"))), bounds):
        row = rows.get("sla", str(d), "")
        row["sla_met"] += n
        row["sla_on_time"] += int(on_time or 0)
    return rows


def catch_up(sessions, moment: datetime, batch_days: int = 31) -> int:
    """Bring the stored past days up to date; returns how many days were recomputed. Days not stored yet
    are added `batch_days` per transaction (the first build of years of reports does not hold the write
    lock for minutes)."""
    today = wib_day(moment)
    total = 0
    while True:
        with _lock, sessions.begin() as s:
            state = s.scalar(select(DashboardRollupState).where(DashboardRollupState.name == STATE_NAME)
                             .with_for_update())
            last_event = s.scalar(select(func.max(Event.id))) or 0
            if state is None:  # from the first report on, everything is still to be built
                first = s.scalar(select(func.min(Report.received_at)))
                state = DashboardRollupState(name=STATE_NAME, event_id=last_event, updated_at=moment,
                                             complete_before=min(today, wib_day(first)) if first else today)
                s.add(state)
                continue
            new_days = sorted(_days_between(state.complete_before, today))[:batch_days]
            complete = ((date.fromisoformat(new_days[-1]) + timedelta(days=1)).isoformat() if new_days
                        else state.complete_before)
            days = set(new_days)
            if last_event > state.event_id:  # days already stored that changed since
                days |= _touched_days(s, state.event_id, last_event, complete)
            if days:
                _recompute(s, days)
            state.event_id, state.complete_before, state.updated_at = last_event, complete, moment
        total += len(days)
        if complete >= today:
            return total


def complete_before(sessions) -> str | None:
    """The first day the rollup does not hold (None: never built)."""
    with sessions() as s:
        return s.scalar(select(DashboardRollupState.complete_before).where(DashboardRollupState.name == STATE_NAME))


def jobs(services) -> list[tuple[str, object, int]]:
    """The catch-up as a job of the single active worker (job_id, callable, interval seconds): one process
    keeps the rollup, however many web processes serve the panel."""
    interval = _interval()
    if interval <= 0:
        return []
    return [("dashboard_rollup", lambda: catch_up(services.sessions, services.queue.clock()), interval)]


def _interval() -> int:
    return int(os.environ.get("DASHBOARD_ROLLUP_SECONDS", str(CATCH_UP_SECONDS)))


def _days_between(first: str, before: str) -> set[str]:
    day, end = date.fromisoformat(first), date.fromisoformat(before)
    out = set()
    while day < end:
        out.add(day.isoformat())
        day += timedelta(days=1)
    return out


def _touched_days(s, after_id: int, upto_id: int, today: str) -> set[str]:
    report_ids = list(s.scalars(select(Event.report_id).where(Event.id > after_id, Event.id <= upto_id,
                                                              Event.report_id.is_not(None)).distinct()))
    days = set()
    for i in range(0, len(report_ids), CHUNK):
        chunk = report_ids[i:i + CHUNK]
        for received_at, resolved_at in s.execute(select(Report.received_at, Report.resolved_at)
                                                  .where(Report.id.in_(chunk))):
            days.add(wib_day(received_at))
            if resolved_at is not None:
                days.add(wib_day(resolved_at))
        for (met_at,) in s.execute(select(SlaClock.met_at).where(SlaClock.report_id.in_(chunk),
                                                                 SlaClock.met_at.is_not(None))):
            days.add(wib_day(met_at))
        # Days a change may have undone: a reopening or a transfer restarts clocks met on earlier days, which
        # the report no longer carries; its earlier events (a few per report) still do.
        for (at,) in s.execute(select(Event.at).where(Event.report_id.in_(chunk), Event.id <= after_id).distinct()):
            days.add(wib_day(at))
    return {d for d in days if d < today}


def _recompute(s, days: set[str]) -> None:
    ordered = sorted(days)
    for i in range(0, len(ordered), CHUNK):
        s.execute(delete(DashboardRollup).where(DashboardRollup.day.in_(ordered[i:i + CHUNK])))
    rows = Rows()
    for first, last in _runs(ordered):
        aggregate(s, day_start(first), day_start((date.fromisoformat(last) + timedelta(days=1)).isoformat()), rows)
    values = [r for r in rows.rows.values() if r["day"] in days]
    if not values:
        return
    columns = list(values[0])
    connection = s.connection()  # the driver's executemany: a first build writes up to a million rows
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO dashboard_rollup ({', '.join(f'{c}' if c != 'open' else chr(34) + 'open' + chr(34) for c in columns)})"
           f" VALUES ({', '.join([mark] * len(columns))})")
    for i in range(0, len(values), 5000):
        connection.exec_driver_sql(sql, [tuple(v[c] for c in columns) for v in values[i:i + 5000]])


def _runs(days: list[str]) -> list[tuple[str, str]]:
    """Consecutive days as (first, last) ranges."""
    runs: list[list[str]] = []
    for day in days:
        if runs and date.fromisoformat(day) - date.fromisoformat(runs[-1][1]) == timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]
