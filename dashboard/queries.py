"""Read-only queries for the wall (SQL aggregates only; no page opens a session itself).

The wall's snapshot is computed once per change token (newest event, newest breach row, 15 s time
bucket) and shared by every wall screen; an unchanged token costs two primary-key lookups.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from dashboard.context import services
from domain import heartbeat
from domain.clock import WIB
from domain.lifecycle import OPEN_STATUSES
from domain.models import Area, Category, Event, Report, SlaBreach, SlaClock

OPEN = [s.value for s in OPEN_STATUSES]
RUNNING = and_(SlaClock.met_at.is_(None), SlaClock.cancelled_at.is_(None), SlaClock.paused_at.is_(None))
TIME_BUCKET_SECONDS = 15
_cache_lock = threading.Lock()
_cache: dict[str, object] = {}


def now() -> datetime:
    return services().queue.clock()


def start_of_day_wib(moment: datetime) -> datetime:
    local = moment.astimezone(WIB)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(moment.tzinfo)


def change_token(moment: datetime | None = None) -> str:
    moment = moment or now()
    with services().reads() as s:
        last_event = s.scalar(select(func.max(Event.id))) or 0
        last_breach = s.scalar(select(func.max(SlaBreach.id))) or 0
    return f"{last_event}:{last_breach}:{int(moment.timestamp()) // TIME_BUCKET_SECONDS}"


def queue_counts() -> dict[str, int]:
    return services().queue.counts()


def wall_snapshot(token: str | None = None, moment: datetime | None = None) -> dict:
    """Everything the wall shows, cached per change token."""
    moment = moment or now()
    token = token or change_token(moment)
    key = (id(services()), token)  # one process may serve several databases (the tests do)
    with _cache_lock:
        if _cache.get("token") == key:
            return _cache["snapshot"]
    snapshot = compute_wall(moment)
    snapshot["token"] = token
    with _cache_lock:
        _cache.update(token=key, snapshot=snapshot)
    return snapshot


def compute_wall(moment: datetime) -> dict:
    """The wall's figures in three groups of queries, each on its own read-only connection and thread: the
    SLA colours of the open reports, the map's points with the ticker and incidents, and the day's counters
    with the open reports per kelurahan. The
    database works on them at once (SQLite's readers run side by side in WAL mode; the driver releases the
    GIL while a statement runs), so the wall waits for the slowest group, not for their sum."""
    areas = reference_areas()  # cached
    colours = _pool.submit(_read, _queue_colours, moment)
    places = _pool.submit(_read, _places, moment, areas)
    counters = _read(_counters, moment)
    by_kelurahan = _read(_open_by_kelurahan)  # the lightest group is this thread's: the map's shading here
    open_by_agency, coloured = colours.result()
    ticker, incidents, points = places.result()
    new_hour, resolved_today, met, missed_open, channels, calls, worker = counters
    agencies = {}
    for code, count in open_by_agency.items():
        agencies[code] = {"open": count, "red": 0, "amber": 0}
    for code, col, count in coloured:
        entry = agencies.setdefault(code, {"open": 0, "red": 0, "amber": 0})
        entry["red" if col == 2 else "amber"] += count
    for entry in agencies.values():
        entry["green"] = max(0, entry["open"] - entry["red"] - entry["amber"])
    decided = (met[0] or 0) + missed_open
    return {
        "at": moment.isoformat(),
        "kpi": {
            "open": sum(open_by_agency.values()),
            "new_hour": new_hour,
            "breached": sum(e["red"] for e in agencies.values()),
            "at_risk": sum(e["amber"] for e in agencies.values()),
            "resolved_today": resolved_today,
            "compliance": None if decided == 0 else round(100.0 * (met[1] or 0) / decided, 1),
        },
        "agencies": agencies,
        "channels": [(c, n) for c, n in channels],
        "ticker": ticker,
        "incidents": incidents,
        "calls": calls,
        "points": points,
        "kelurahan": by_kelurahan,
        "worker_ok": worker["ok"],
    }


_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wall")


def _read(fn, *args):
    with services().reads() as s:
        return fn(s, *args)


def _queue_colours(s, moment: datetime):
    open_by_agency = dict(s.execute(
        select(Report.agency_code, func.count()).where(Report.status.in_(OPEN)).group_by(Report.agency_code)).all())
    return open_by_agency, _colours(s, moment)


def _open_by_kelurahan(s) -> dict[str, dict[str, int]]:
    """kelurahan code -> {"open": n, "P1": n, ..., "P4": n}: open reports per kelurahan and priority, from the open
    reports' map index alone (status, priority, kelurahan_code, ...): what the wall's map shades and shows."""
    out: dict[str, dict[str, int]] = {}
    for code, priority, n in s.execute(select(Report.kelurahan_code, Report.priority, func.count())
                                       .where(Report.status.in_(OPEN), Report.kelurahan_code.is_not(None))
                                       .group_by(Report.kelurahan_code, Report.priority)):
        entry = out.setdefault(code, {"open": 0})
        entry["open"] += n
        entry[priority or "-"] = entry.get(priority or "-", 0) + n
    return out


def kelurahan_load(max_age: float = 30) -> dict[str, dict[str, int]]:
    """kelurahan code -> {"open", "red" (breached), "amber" (at risk)} now: the executive panel's map, computed at
    most once per `max_age` seconds in this process (not on the wall's every-second path)."""
    def compute():
        moment = now()
        with services().reads() as s:
            out = {code: {"open": c["open"], "red": 0, "amber": 0} for code, c in _open_by_kelurahan(s).items()}
            for code, col, n in _colours_by_kelurahan(s, moment):
                if code in out:
                    out[code]["red" if col == 2 else "amber"] += n
        return out
    return kept("kelurahan-load", max_age, compute)


def public_kelurahan_open(max_age: float = 60) -> dict[str, int]:
    """Open reports per kelurahan for /public: counts only (no report, no point, no text), computed at most once
    a minute in this process however many visitors ask."""
    def compute():
        with services().reads() as s:
            return {code: c["open"] for code, c in _open_by_kelurahan(s).items()}
    return kept("public-kelurahan-open", max_age, compute)


def _places(s, moment: datetime, areas: list[dict]):
    return _ticker(s), _incidents(s, moment), _map_points(s, areas)


def _counters(s, moment: datetime):
    day_start = start_of_day_wib(moment)
    new_hour = s.scalar(select(func.count()).select_from(Report)
                        .where(Report.received_at >= moment - timedelta(hours=1))) or 0
    resolved_today = s.scalar(select(func.count()).select_from(Report).where(Report.resolved_at >= day_start)) or 0
    met = s.execute(select(func.count(), func.sum(case((SlaClock.met_at <= SlaClock.due_at, 1), else_=0)))
                    .where(SlaClock.met_at >= day_start)).one()
    missed_open = s.scalar(select(func.count()).select_from(SlaClock).where(
        RUNNING, SlaClock.due_at >= day_start, SlaClock.due_at < moment)) or 0
    channel = func.lower(Report.channel)  # an expression: the planner keeps to the received_at range
    channels = s.execute(select(channel, func.count()).where(Report.received_at >= day_start)
                         .group_by(channel).order_by(func.count().desc())).all()
    return (new_hour, resolved_today, met, missed_open, channels, _calls_in_progress(s, moment),
            heartbeat.status(s, moment))


def _ticker(s, limit: int = 12) -> list[dict]:
    """The newest reports as the wall may show them: category, kelurahan, channel, priority and time. The
    query selects nothing else (no text, no name, no address): what the wall never receives cannot leak."""
    rows = s.execute(
        select(Report.received_at, Report.channel, Report.priority, Report.kecamatan, Area.kelurahan,
               Category.label_id, Category.label_en)
        .outerjoin(Category, Category.code == Report.category_code)
        .outerjoin(Area, Area.kode == Report.kelurahan_code)
        .order_by(Report.received_at.desc(), Report.id.desc()).limit(limit)
    ).all()
    return [{
        "at": r.received_at.astimezone(WIB).strftime("%H:%M"), "channel": r.channel, "priority": r.priority,
        "kelurahan": r.kelurahan or "", "kecamatan": r.kecamatan or "",
        "category": r.label_id or "-", "category_en": r.label_en or "-",
    } for r in rows]


def _incidents(s, moment: datetime) -> list[dict]:
    """The routing engine's open incident alerts (routing/incidents.py), the same the operator handles."""
    from routing.incidents import active_incidents

    return [{"category": a["category"], "place": a["place"], "count": a["count"], "priority": a["priority"],
             "last": a["last"]} for a in active_incidents(s, moment, limit=6)]


def _calls_in_progress(s, moment: datetime) -> int:
    """112 calls a call-taker opened and has not closed (events call_started / call_ended)."""
    since = moment - timedelta(hours=2)
    started = select(Event.report_id).where(Event.type == "call_started", Event.at >= since)
    ended = select(Event.report_id).where(Event.type == "call_ended", Event.at >= since)
    return s.scalar(select(func.count()).select_from(started.except_(ended).subquery())) or 0


def _colours(s, moment: datetime) -> list[tuple[str, int, int]]:
    """(agency, colour, reports) of open reports with a running clock past its warning (1 amber) or due
    time (2 red): from the open reports (index) to their running clocks (partial index), one pass."""
    return _colour_counts(s, moment, Report.agency_code)


def _colours_by_kelurahan(s, moment: datetime) -> list[tuple[str | None, int, int]]:
    """(kelurahan, colour, reports), as `_colours` per agency."""
    return _colour_counts(s, moment, Report.kelurahan_code)


def _colour_counts(s, moment: datetime, column):
    colour = func.max(case((SlaClock.due_at < moment, 2), else_=1)).label("colour")
    per_report = (select(column.label("key"), colour)
                  .join(SlaClock, and_(SlaClock.report_id == Report.id, RUNNING, SlaClock.warn_at <= moment))
                  .where(Report.status.in_(OPEN)).group_by(Report.id, column).subquery())
    return s.execute(select(per_report.c.key, per_report.c.colour, func.count())
                     .group_by(per_report.c.key, per_report.c.colour)).all()


def _cell(value: float) -> float:
    return round(value * 200) / 200


def _map_points(s, reference: list[dict]) -> list[dict]:
    """Open reports per ~500 m cell and priority; reports without coordinates sit on their kelurahan's
    point (from the in-process reference cache: no join). One pass over the open reports' covering index."""
    has_point = and_(Report.lat.is_not(None), Report.lon.is_not(None))
    cell_lat = case((has_point, func.round(Report.lat * 200) / 200))
    cell_lon = case((has_point, func.round(Report.lon * 200) / 200))
    kelurahan = case((has_point, None), else_=Report.kelurahan_code)
    rows = s.execute(select(cell_lat, cell_lon, kelurahan, Report.priority, func.count())
                     .where(Report.status.in_(OPEN)).group_by(cell_lat, cell_lon, kelurahan, Report.priority)).all()
    areas = {a["kode"]: a for a in reference}
    cells: dict[tuple[float, float, str], int] = {}
    for lat, lon, kode, priority, n in rows:
        if lat is None:
            area = areas.get(kode)
            if area is None or area["lat"] is None:
                continue
            lat, lon = _cell(area["lat"]), _cell(area["lon"])
        key = (float(lat), float(lon), priority)
        cells[key] = cells.get(key, 0) + n
    return [{"lat": a, "lon": b, "priority": p, "count": n} for (a, b, p), n in cells.items()]


REFERENCE_SECONDS = 600  # reference data (areas, agencies, categories) is read again after 10 minutes


def kept(name, max_age: float, compute):
    """`compute()` kept in this process for `max_age` seconds, per database; whoever asks while it is being
    computed waits for that result instead of computing it again (a crowd on /public, many wall screens)."""
    key = (id(services()), name)
    with _cache_lock:
        lock = _cache.setdefault(("lock", key), threading.Lock())
    with lock:
        entry = _cache.get(key)
        if entry is None or time.monotonic() - entry[0] > max_age:
            entry = _cache[key] = (time.monotonic(), compute())
        return entry[1]


def _reference(name: str, load):
    """Reference data, read again after REFERENCE_SECONDS (a `geo import` or a seed run by the command
    line shows without restarting the web tier)."""
    def read():
        with services().reads() as s:
            return load(s)
    return kept(name, REFERENCE_SECONDS, read)


def reference_areas() -> list[dict]:
    """The kelurahan with their reference points and outlines for the offline maps: the boundary imported
    with `geo import`, else the one shipped in data/geo, simplified for drawing (maps.outlines)."""
    from dashboard.components.maps import outlines

    def load(s):
        rows = s.execute(select(Area.kode, Area.kecamatan, Area.kelurahan, Area.lat, Area.lon, Area.boundary_geojson)
                         .order_by(Area.kode)).all()
        drawn = outlines({r.kode: r.boundary_geojson for r in rows}, services().settings.data_dir)
        return [{"kode": r.kode, "kecamatan": r.kecamatan, "kelurahan": r.kelurahan, "lat": r.lat, "lon": r.lon,
                 "outline": drawn.get(r.kode, [])} for r in rows]
    return _reference("areas", load)


def agency_names() -> dict[str, str]:
    from domain.models import Agency

    return _reference("agencies", lambda s: dict(s.execute(select(Agency.code, Agency.name).order_by(Agency.code)).all()))


def category_labels() -> dict[str, tuple[str, str]]:
    return _reference("categories", lambda s: {
        c: (i, e) for c, i, e in s.execute(select(Category.code, Category.label_id, Category.label_en))})
