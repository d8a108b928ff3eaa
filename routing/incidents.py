"""Incident alerts for the wall display: several reports of one category in one kelurahan within an hour.

The queue listener calls `on_received` for every new report. With no open alert for the report's
(category, kelurahan), it counts that pair's reports in the hour up to the report (an index range scan
of ix_reports_category_kelurahan_received); at `min_reports` it opens an alert. An open alert takes
every further report of the pair until the pair has been quiet for `quiet`; then it closes, and a new
burst opens a new alert. A partial unique index keeps one open alert per pair, also under concurrency.

The wall calls `active_incidents(session, now)`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.actors import SYSTEM
from domain.citizens import pairs_in
from domain.clock import WIB, isoformat
from domain.db import transaction_state
from domain.events import record
from domain.lifecycle import Status
from domain.models import Area, Category, IncidentAlert, Report

WINDOW = timedelta(hours=1)
MIN_REPORTS = 3
QUIET = timedelta(hours=2)
NOT_COUNTED = (Status.REJECTED.value,)  # spam and pranks are no evidence of an incident


@dataclass(frozen=True)
class IncidentRules:
    window: timedelta = WINDOW
    min_reports: int = MIN_REPORTS
    quiet: timedelta = QUIET
    triage_category: str = "OTHER"


def counted(report: Report, rules: IncidentRules = IncidentRules()) -> bool:
    """Whether a report can belong to an incident: a category other than triage, and a kelurahan."""
    return bool(report.category_code and report.category_code != rules.triage_category and report.kelurahan_code)


def prepare(session: Session, reports: list[Report], now: datetime, rules: IncidentRules = IncidentRules()) -> None:
    """Read at once what `on_received` needs for these new reports (already inserted in this transaction):
    the open alerts of their (category, kelurahan) pairs, locked, and those pairs' reports in the window
    before each. Kept for the rest of the transaction: its own reports change no alert's evidence (a
    merged report still counts) and its alerts change only through `on_received`. The first call of a
    transaction also closes the quiet alerts, once instead of before every report."""
    state = transaction_state(session, "routing_incidents")
    if "held" not in state:
        close_quiet(session, now, rules.quiet)
        state["held"] = {}  # (category, kelurahan) -> the pair's open alert, locked (or opened) here
        state["evidence"] = {}  # pair -> its reports of the window (id, received_at, priority, is_demo)
        state["prepared"] = set()  # ids of the reports whose pairs were read
    mine = [r for r in reports if counted(r, rules) and r.id not in state["prepared"]]
    if not mine:
        return
    pairs = {(r.category_code, r.kelurahan_code) for r in mine}
    for alert in session.scalars(select(IncidentAlert).where(
            IncidentAlert.status == "open", pairs_in(IncidentAlert.category_code, IncidentAlert.kelurahan_code, pairs))
            .order_by(IncidentAlert.id).with_for_update()):
        state["held"][(alert.category_code, alert.kelurahan_code)] = alert
        state.setdefault("fresh", []).append(alert)
    evidence = state["evidence"]
    for pair in pairs:
        evidence[pair] = []
    for row in session.execute(
            select(Report.id, Report.received_at, Report.priority, Report.is_demo, Report.category_code,
                   Report.kelurahan_code)
            .where(pairs_in(Report.category_code, Report.kelurahan_code, pairs),
                   Report.received_at > min(r.received_at for r in mine) - rules.window,
                   Report.received_at <= max(r.received_at for r in mine), Report.status.not_in(NOT_COUNTED))
            .order_by(Report.received_at, Report.id)):
        evidence[(row.category_code, row.kelurahan_code)].append(row)
    state["prepared"].update(r.id for r in mine)


def on_received(session: Session, report: Report, now: datetime, rules: IncidentRules = IncidentRules()) -> \
        IncidentAlert | None:
    """Count `report` towards its (category, kelurahan) incident; returns the open alert it belongs to.
    Quiet alerts close as if `close_quiet` ran before every report: the transaction's first report
    closes them in the database (see `prepare`), the alerts it holds close here."""
    if not counted(report, rules):
        return None
    prepare(session, [report], now, rules)  # nothing to read when the batch was prepared
    state = transaction_state(session, "routing_incidents")
    held: dict[tuple[str, str], IncidentAlert] = state["held"]
    # Alerts only grow later (last_at never moves back), so at the same `now` only the alerts held since the
    # last look can have turned quiet: one pass per clock tick, not one per report.
    fresh = state.setdefault("fresh", [])
    for alert in (fresh if state.get("quiet_at") == now else held.values()):
        if alert.status == "open" and alert.last_at < now - rules.quiet:
            alert.status, alert.closed_at = "closed", now  # what close_quiet would do now
    state["quiet_at"] = now
    fresh.clear()
    for attempt in range(2):
        alert = _open_alert(session, report, held, fresh=attempt > 0)
        if alert is not None and attempt:
            state["fresh"].append(alert)  # read again: held from now on
        if alert is not None:
            if report.received_at < alert.first_at - rules.window:
                return None  # a late copy of something long before this burst
            if report.received_at <= alert.last_at + rules.quiet:
                _extend(alert, report)
                return alert
            alert.status, alert.closed_at = "closed", now  # the pair was quiet: a new burst starts
            session.flush()
        t = report.received_at
        rows = [r for r in state["evidence"][(report.category_code, report.kelurahan_code)]
                if t - rules.window < r.received_at <= t and r.is_demo == report.is_demo]
        if len(rows) < rules.min_reports:
            return None
        try:
            with session.begin_nested():
                alert = _open(session, report, rows, now, rules)
        except IntegrityError:
            if attempt:  # a concurrent transaction opened it: join that one
                raise
            continue
        held[(alert.category_code, alert.kelurahan_code)] = alert
        state.setdefault("fresh", []).append(alert)
        return alert
    return None


def _open_alert(session: Session, report: Report, held: dict, fresh: bool = False) -> IncidentAlert | None:
    """The pair's open alert (locked by `prepare`); `fresh`: read it again, a concurrent one was opened."""
    pair = (report.category_code, report.kelurahan_code)
    if fresh:
        alert = session.scalar(select(IncidentAlert).where(
            IncidentAlert.status == "open", IncidentAlert.category_code == report.category_code,
            IncidentAlert.kelurahan_code == report.kelurahan_code).with_for_update())
        if alert is not None:
            held[pair] = alert
        return alert
    alert = held.get(pair)
    return alert if alert is not None and alert.status == "open" else None


def _extend(alert: IncidentAlert, report: Report) -> None:
    alert.report_count += 1
    alert.first_at = min(alert.first_at, report.received_at)
    alert.last_at = max(alert.last_at, report.received_at)
    alert.priority = min(alert.priority, report.priority)


def _open(session: Session, report: Report, rows: list, now: datetime, rules: IncidentRules) -> IncidentAlert:
    """Open the pair's alert on `rows`, its reports in the window up to `report` (oldest first)."""
    alert = IncidentAlert(category_code=report.category_code, kelurahan_code=report.kelurahan_code,
                          kecamatan=report.kecamatan, first_at=rows[0].received_at,
                          last_at=max(r.received_at for r in rows), report_count=len(rows),
                          priority=min(r.priority for r in rows), status="open", first_report_id=rows[0].id,
                          created_at=now)
    session.add(alert)
    session.flush()
    record(session, report, SYSTEM, "incident_alert",
           after={"alert_id": alert.id, "category": alert.category_code, "kelurahan_code": alert.kelurahan_code,
                  "report_count": alert.report_count, "first_at": isoformat(alert.first_at)},
           reason=f"{alert.report_count} reports of {alert.category_code} in {alert.kelurahan_code} "
                  f"within {int(rules.window.total_seconds() // 60)} min", at=now)
    return alert


def close_quiet(session: Session, now: datetime, quiet: timedelta = QUIET) -> int:
    """Close open alerts without a report for `quiet` (a range scan of ix_incident_alerts_status_last_at)."""
    result = session.execute(update(IncidentAlert)
                             .where(IncidentAlert.status == "open", IncidentAlert.last_at < now - quiet)
                             .values(status="closed", closed_at=now)
                             .execution_options(synchronize_session=False))
    return result.rowcount or 0


def close_incident(session: Session, alert_id: int, now: datetime) -> bool:
    """An operator ends an alert from the console (False: it was not open)."""
    alert = session.get(IncidentAlert, alert_id)
    if alert is None or alert.status != "open":
        return False
    alert.status, alert.closed_at = "closed", now
    return True


def active_incidents(session: Session, now: datetime, *, quiet: timedelta = QUIET, limit: int = 20) -> list[dict]:
    """Open alerts with a report within `quiet` of `now`, most urgent first, as plain dicts:
    id, category, category_label, category_label_en, kelurahan_code, kelurahan, kecamatan, first_at,
    last_at (aware UTC), count, priority, status, and for the wall's present panel also place (the
    kelurahan's name) and last (HH:MM WIB)."""
    rows = session.execute(
        select(IncidentAlert, Category.label_id, Category.label_en, Area.kelurahan)
        .outerjoin(Category, Category.code == IncidentAlert.category_code)
        .outerjoin(Area, Area.kode == IncidentAlert.kelurahan_code)
        .where(IncidentAlert.status == "open", IncidentAlert.last_at >= now - quiet)
        .order_by(IncidentAlert.priority, IncidentAlert.report_count.desc(), IncidentAlert.last_at.desc())
        .limit(limit)).all()
    return [{
        "id": a.id, "category": a.category_code, "category_label": label_id or a.category_code,
        "category_label_en": label_en or a.category_code, "kelurahan_code": a.kelurahan_code,
        "kelurahan": kelurahan or a.kelurahan_code, "kecamatan": a.kecamatan, "first_at": a.first_at,
        "last_at": a.last_at, "count": a.report_count, "priority": a.priority, "status": a.status,
        "place": kelurahan or a.kelurahan_code, "last": a.last_at.astimezone(WIB).strftime("%H:%M"),
    } for a, label_id, label_en, kelurahan in rows]


def alert_reports(session: Session, alert_id: int) -> tuple[IncidentAlert | None, list[Report]]:
    """The alert and the reports it counts (its category and kelurahan, from its first to its last report;
    rejected ones are no evidence), oldest first: an index range scan of ix_reports_category_kelurahan_received."""
    alert = session.get(IncidentAlert, alert_id)
    if alert is None:
        return None, []
    return alert, list(session.scalars(select(Report).where(
        Report.category_code == alert.category_code, Report.kelurahan_code == alert.kelurahan_code,
        Report.received_at >= alert.first_at, Report.received_at <= alert.last_at,
        Report.status.not_in(NOT_COUNTED)).order_by(Report.received_at, Report.id)))


def open_alert_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(IncidentAlert).where(IncidentAlert.status == "open")) or 0


__all__ = ["prepare", "on_received", "counted", "active_incidents", "alert_reports", "close_quiet",
           "close_incident", "IncidentRules"]
