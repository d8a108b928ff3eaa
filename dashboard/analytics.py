"""Aggregates of the supervisor, executive and public pages (SQL GROUP BY over indexed ranges only)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from dashboard.context import services
from dashboard.queries import OPEN, start_of_day_wib
from domain.clock import WIB
from domain.models import Report, SlaClock

PERIODS = {"today": 0, "7d": 7, "30d": 30, "90d": 90, "365d": 365}
DEFAULT_PERIOD = "30d"


def known_period(value) -> str:
    """A period selector's value as a known period: anything else (None, an unknown name, a crafted
    list or object in a callback request) is the default."""
    return value if isinstance(value, str) and value in PERIODS else DEFAULT_PERIOD


def period_start(period: str, moment: datetime) -> datetime:
    days = PERIODS.get(period, 30)
    return start_of_day_wib(moment) - timedelta(days=days)


def _minutes(later, earlier):
    """Minutes between two timestamps, in SQL, on SQLite and PostgreSQL."""
    if services().engine.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier) / 60.0
    return (func.julianday(later) - func.julianday(earlier)) * 1440.0


def breaches(*, agency=None, category=None, kecamatan=None, stage=None, start=None, end=None,
             limit: int = 500) -> list[dict]:
    """Open reports whose running clock is overdue (red) or in its last quarter (amber)."""
    now = services().queue.clock()
    query = (select(Report.ticket, Report.agency_code, Report.category_code, Report.kecamatan, Report.status,
                    Report.priority, Report.transfer_count, SlaClock.stage, SlaClock.due_at, SlaClock.warn_at)
             .join(SlaClock, SlaClock.report_id == Report.id)
             .where(SlaClock.met_at.is_(None), SlaClock.cancelled_at.is_(None), SlaClock.paused_at.is_(None),
                    SlaClock.warn_at <= now, Report.status.in_(OPEN)))
    for column, value in ((Report.agency_code, agency), (Report.category_code, category),
                          (Report.kecamatan, kecamatan), (SlaClock.stage, stage)):
        if value:
            query = query.where(column == value)
    if start:
        query = query.where(Report.received_at >= start)
    if end:
        query = query.where(Report.received_at < end)
    with services().reads() as s:
        rows = s.execute(query.order_by(SlaClock.due_at).limit(limit)).all()
    return [{"ticket": r.ticket, "agency": r.agency_code, "category": r.category_code or "-",
             "kecamatan": r.kecamatan or "-", "status": r.status, "priority": r.priority, "stage": r.stage,
             "due": r.due_at.astimezone(WIB).strftime("%d/%m %H:%M"),
             "late_minutes": int((now - r.due_at).total_seconds() // 60),
             "sla": "red" if r.due_at < now else "amber", "transfers": r.transfer_count} for r in rows]


def ping_pong(limit: int = 200) -> list[dict]:
    with services().reads() as s:
        rows = s.execute(select(Report.ticket, Report.agency_code, Report.status, Report.transfer_count,
                                Report.category_code).where(Report.transfer_count > 2)
                         .order_by(Report.transfer_count.desc()).limit(limit)).all()
    return [{"ticket": t, "agency": a, "status": st, "transfers": n, "category": c or "-"} for t, a, st, n, c in rows]


def league(start: datetime) -> list[dict]:
    """Per agency over a period: volume, median-ish times (averages in SQL), SLA compliance, satisfaction."""
    agency = func.coalesce(Report.agency_code, "-")  # expressions keep the planner on the period's range
    accept = (select(SlaClock.report_id, SlaClock.met_at, SlaClock.due_at, SlaClock.started_at)
              .where(SlaClock.stage == "dispatch").subquery())
    with services().reads() as s:
        rows = s.execute(
            select(agency, func.count(),
                   func.sum(case((Report.status.in_(OPEN), 1), else_=0)),
                   func.avg(_minutes(accept.c.met_at, accept.c.started_at)),
                   func.avg(case((Report.resolved_at.is_not(None), _minutes(Report.resolved_at, Report.received_at)))),
                   func.sum(case((and_(accept.c.met_at.is_not(None), accept.c.met_at <= accept.c.due_at), 1), else_=0)),
                   func.sum(case((accept.c.met_at.is_not(None), 1), else_=0)),
                   func.avg(Report.satisfaction))
            .outerjoin(accept, accept.c.report_id == Report.id)
            .where(Report.received_at >= start).group_by(agency)
        ).all()
    out = []
    for code, n, open_, accept_min, resolve_min, on_time, decided, sat in rows:
        out.append({"agency": code, "reports": n, "open": open_ or 0,
                    "accept_min": None if accept_min is None else round(float(accept_min)),
                    "resolve_h": None if resolve_min is None else round(float(resolve_min) / 60, 1),
                    "compliance": None if not decided else round(100.0 * on_time / decided, 1),
                    "satisfaction": None if sat is None else round(float(sat), 2)})
    return sorted(out, key=lambda r: (-(r["compliance"] or 0), -r["reports"]))


def counts_by(column_name: str, start: datetime, limit: int = 30) -> list[tuple[str, int]]:
    column = func.coalesce(getattr(Report, column_name), "-")  # an expression: keep to the period's range
    with services().reads() as s:
        return [(k or "-", n) for k, n in s.execute(
            select(column, func.count()).where(Report.received_at >= start).group_by(column)
            .order_by(func.count().desc()).limit(limit)).all()]


def daily(start: datetime) -> list[tuple[str, int, int]]:
    """Reports received and resolved per WIB day."""
    day = _wib_day(Report.received_at)
    with services().reads() as s:
        received = dict(s.execute(select(day, func.count()).where(Report.received_at >= start).group_by(day)).all())
        rday = _wib_day(Report.resolved_at)
        resolved = dict(s.execute(select(rday, func.count()).where(Report.resolved_at >= start).group_by(rday)).all())
    days = sorted(set(received) | set(resolved))
    return [(str(d), received.get(d, 0), resolved.get(d, 0)) for d in days]


def heatmap(start: datetime) -> dict[tuple[int, int], int]:
    """Reports per (ISO weekday 1..7, hour 0..23) in WIB."""
    if services().engine.dialect.name == "postgresql":
        local = func.timezone("Asia/Jakarta", func.timezone("UTC", Report.received_at))
        dow, hour = func.extract("isodow", local), func.extract("hour", local)
    else:
        local = func.datetime(Report.received_at, "+7 hours")
        dow, hour = func.strftime("%w", local), func.strftime("%H", local)
    with services().reads() as s:
        rows = s.execute(select(dow, hour, func.count()).where(Report.received_at >= start).group_by(dow, hour)).all()
    out = {}
    for d, h, n in rows:
        d = int(d) if str(d) not in ("0",) else 7
        out[(d, int(h))] = n
    return out


def _wib_day(column):
    if services().engine.dialect.name == "postgresql":
        return func.date(func.timezone("Asia/Jakarta", func.timezone("UTC", column)))
    return func.date(column, "+7 hours")


def satisfaction(start: datetime) -> dict:
    with services().reads() as s:
        n, avg = s.execute(select(func.count(Report.satisfaction), func.avg(Report.satisfaction))
                           .where(Report.received_at >= start, Report.satisfaction.is_not(None))).one()
    return {"ratings": n or 0, "index": None if avg is None else round(float(avg) / 5 * 100, 1)}


def recurring(start: datetime, limit: int = 10) -> list[dict]:
    place = func.coalesce(Report.kelurahan_code, Report.kecamatan)
    category = func.coalesce(Report.category_code, "-")
    with services().reads() as s:
        rows = s.execute(select(category, place, func.count())
                         .where(Report.received_at >= start, Report.category_code.is_not(None), place.is_not(None))
                         .group_by(category, place).having(func.count() >= 3)
                         .order_by(func.count().desc()).limit(limit)).all()
    return [{"category": c, "place": p, "reports": n} for c, p, n in rows]


def compliance(start: datetime) -> float | None:
    with services().reads() as s:
        total, on_time = s.execute(select(func.count(), func.sum(case((SlaClock.met_at <= SlaClock.due_at, 1), else_=0)))
                                   .where(SlaClock.met_at >= start)).one()
    return None if not total else round(100.0 * (on_time or 0) / total, 1)
