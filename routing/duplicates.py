"""Duplicate reports in the stored queue: the same flood reported on WhatsApp, X and 112 is one incident.

When a report is received, the open reports of its category inside the dedupe time window (an index
range scan of ix_reports_category_received, never a scan of all reports) are scored with
`routing.dedupe.duplicate_score`. At or above `merge_at` the new report is merged into the earlier
incident report by the system; between the dedupe threshold (thresholds.yaml) and `merge_at` the
candidates are stored as proposals in `Report.routing["duplicates"]` for the operator console.

A merged report keeps its citizen: `reporters_of(session, report)` lists the incident report and
every report merged into it (recursively), so the resolution answers each reporter.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Callable

from sqlalchemy import and_, event, or_, select
from sqlalchemy.orm import Session

from domain import clocks
from domain.actors import SYSTEM
from domain.db import transaction_state
from domain.events import record
from domain.lifecycle import OPEN_STATUSES, Action, Role, Status, TransitionError, check_transition
from domain.models import Category, Report

from .dedupe import DEFAULTS, DedupeItem, duplicate_score

log = logging.getLogger(__name__)

MERGE_AT = 0.80  # automatic merge at or above this score (proposals start at thresholds.yaml dedupe.threshold)
MAX_CANDIDATES = 50  # newest reports of the category (and place) inside the window that are scored
MAX_PROPOSALS = 5
CANDIDATE_STATUSES = tuple(s.value for s in OPEN_STATUSES) + (Status.MERGED.value,)
CANDIDATE_COLUMNS = (Report.id, Report.ticket, Report.status, Report.merged_into_id, Report.category_code,
                     Report.received_at, Report.text, Report.location_text, Report.lat, Report.lon,
                     Report.kelurahan_code, Report.kecamatan, Report.citizen_id)


@dataclass(frozen=True)
class Match:
    report_id: int
    ticket: str
    score: float
    reasons: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"ticket": self.ticket, "report_id": self.report_id, "score": self.score,
                "reasons": list(self.reasons)}


@dataclass
class DuplicateOutcome:
    merged_into: Match | None = None
    proposals: list[Match] = field(default_factory=list)
    merge_details: dict = field(default_factory=dict)  # the "merge" event's after (for the other listeners)


class DuplicateFinder:
    """Scores a new report against recent open ones; merges or proposes (inside the caller's transaction)."""

    def __init__(self, router, clock: Callable[[], datetime], *, merge_at: float = MERGE_AT,
                 max_candidates: int = MAX_CANDIDATES):
        self.router = router
        self.clock = clock
        self.params = {**DEFAULTS, **router.rules.thresholds.get("dedupe", {})}
        self.propose_at = float(self.params["threshold"])
        self.merge_at = max(merge_at, self.propose_at)
        self.max_candidates = max_candidates
        self.triage_category = router.cls["triage_category"]
        self._analyse = lru_cache(maxsize=4096)(self._analyse_uncached)

    # ------------------------------------------------------------ scoring
    def _analyse_uncached(self, text: str) -> tuple[str, str | None]:
        """(normalised text, street) as the stream deduper sees them."""
        a = self.router.normaliser.analyse(text)
        return a.text, self.router.gazetteer.locate_text(a.tokens).street

    def item(self, report, emergency: bool) -> DedupeItem:
        """A report (ORM object or a row of CANDIDATE_COLUMNS) as the pure scorer sees it."""
        text = " ".join(t for t in (report.text, report.location_text) if t)
        normalised, street = self._analyse(text[:20_000])
        return DedupeItem(id=str(report.id), category=report.category_code, received_at=report.received_at,
                          text=normalised, lat=report.lat, lon=report.lon, kelurahan_code=report.kelurahan_code,
                          kecamatan=report.kecamatan, street=street,
                          citizen=str(report.citizen_id) if report.citizen_id is not None else None,
                          emergency=emergency)

    def window(self, emergency: bool) -> timedelta:
        return timedelta(hours=float(self.params["window_hours_emergency" if emergency
                                                 else "window_hours_default"]))

    def candidate_query(self, report: Report, window: timedelta):
        """Open (or merged) reports of the same category within the window: an index range scan over the
        window (ix_reports_category_received), newest first, at most `max_candidates`, columns only."""
        t = report.received_at
        query = select(*CANDIDATE_COLUMNS).where(
            Report.category_code == report.category_code,
            Report.received_at >= t - window, Report.received_at <= t + window,
            Report.id != report.id, Report.is_demo == report.is_demo,
            Report.status.in_(CANDIDATE_STATUSES))
        if report.kecamatan:
            # duplicate_score gives 0 across kecamatan unless both coordinates lie within far_m: skip those rows.
            place = [Report.kecamatan.is_(None), Report.kecamatan == report.kecamatan]
            if report.lat is not None and report.lon is not None:
                d = float(self.params["far_m"]) / 100_000  # degrees, generously (1 degree >= 100 km here)
                place.append(and_(Report.lat.between(report.lat - d, report.lat + d),
                                  Report.lon.between(report.lon - d, report.lon + d)))
            query = query.where(or_(*place))
        return (
            query
            .order_by(Report.received_at.desc(), Report.id.desc()).limit(self.max_candidates))

    def score(self, session: Session, report: Report) -> list[Match]:
        """Incident reports (merged candidates count for their root) scoring at least the proposal threshold,
        best first; ties go to the earlier report."""
        if not report.category_code or report.category_code == self.triage_category:
            return []
        emergency = self._emergency(session, report.category_code)
        mine = self.item(report, emergency)
        # No autoflush: what this transaction changes in the candidate columns is flushed by `merge`
        # (the other changes, routing proposals, alerts and messages, wait for one flush together).
        with session.no_autoflush:
            rows = session.execute(self.candidate_query(report, self.window(emergency))).all()
        by_id = {r.id: r for r in rows}
        best: dict[int, tuple[float, tuple[str, ...], object]] = {}
        for other in rows:
            root = self._root(session, other, by_id)
            if root is None or root.id == report.id:
                continue
            value, reasons = duplicate_score(mine, self.item(other, emergency), self.params,
                                             at_least=max(self.propose_at, best.get(root.id, (0.0,))[0]))
            if value >= self.propose_at and value > best.get(root.id, (-1.0,))[0]:
                if other.id != root.id:
                    reasons = [*reasons, f"via {other.ticket} (merged into {root.ticket})"]
                best[root.id] = (value, tuple(reasons), root)
        ranked = sorted(best.values(), key=lambda v: (-v[0], v[2].received_at, v[2].id))
        return [Match(r.id, r.ticket, v, reasons) for v, reasons, r in ranked]

    @staticmethod
    def _emergency(session: Session, category_code: str) -> bool:
        """Whether the category is an emergency (the categories read once per transaction)."""
        emergency = transaction_state(session, "routing_emergency_categories")
        if not emergency:
            emergency.update(session.execute(select(Category.code, Category.emergency)).all())
        return bool(emergency.get(category_code))

    @staticmethod
    def _root(session: Session, row, by_id: dict):
        """The open report an incident's duplicates point to (None: the incident is no longer open)."""
        seen = set()
        while row.status == Status.MERGED.value and row.merged_into_id is not None:
            if row.id in seen:
                return None
            seen.add(row.id)
            parent = by_id.get(row.merged_into_id)
            if parent is None:
                with session.no_autoflush:  # see score
                    parent = session.execute(select(*CANDIDATE_COLUMNS).where(Report.id == row.merged_into_id)).first()
                if parent is None:
                    return None
                by_id[parent.id] = parent
            row = parent
        return row if Status(row.status) in OPEN_STATUSES else None

    # ------------------------------------------------------------ the listener's work
    def on_received(self, session: Session, report: Report) -> DuplicateOutcome:
        outcome = DuplicateOutcome()
        matches = self.score(session, report)
        if not matches:
            return outcome
        top = matches[0]
        if top.score >= self.merge_at and self._mergeable(report):
            outcome.merge_details = self.merge(session, report, top)
            outcome.merged_into = top
            matches = matches[1:]
        outcome.proposals = matches[:MAX_PROPOSALS]
        routing = dict(report.routing or {})
        if outcome.merged_into is not None:
            routing["merged_auto"] = outcome.merged_into.as_dict()
        if outcome.proposals:
            routing["duplicates"] = [m.as_dict() for m in outcome.proposals]
        report.routing = routing
        return outcome

    @staticmethod
    def _mergeable(report: Report) -> bool:
        try:
            check_transition(Action.MERGE, report.status, Role.SYSTEM)
        except TransitionError:
            return False
        return True

    def merge(self, session: Session, report: Report, into: Match) -> dict:
        """Merge `report` into the incident report `into` by direct updates in this transaction (the report
        was inserted in it; Workflow.merge would open its own). Returns the event's `after`; the caller
        tells the other listeners (see routing/listeners.py)."""
        now = self.clock()
        target = session.get(Report, into.report_id)
        before = {"status": report.status, "merged_into_id": report.merged_into_id}
        clocks.meet(report, "acknowledge", now)
        clocks.cancel_open(report, now)
        report.status = Status.MERGED.value
        report.merged_into_id, report.closed_at, report.updated_at = target.id, now, now
        report.claimed_by = report.claimed_until = None
        after = {"status": report.status, "merged_into_id": target.id, "merged_into": target.ticket,
                 "automatic": True, "score": into.score}
        reason = f"same incident as {target.ticket} (score {into.score:.2f}: {'; '.join(into.reasons)})"
        record(session, report, SYSTEM, "merge", before=before, after=after, reason=reason[:1000], at=now)
        record(session, target, SYSTEM, "duplicate_attached",
               after={"ticket": report.ticket, "channel": report.channel, "score": into.score,
                      "automatic": True}, reason=reason[:1000], at=now)
        session.flush()  # the next report's candidates must see this one merged (score reads without autoflush)
        return after


def run_before_commit(session: Session, action: Callable[[], None]) -> None:
    """Run `action` just before this session's outermost transaction commits (after every listener of the
    change); dropped if that transaction rolls back. Savepoints neither run nor drop it."""
    if "routing_before_commit" not in session.info:
        session.info["routing_before_commit"] = []

        def run(sess):
            if sess.in_nested_transaction():
                return  # a savepoint is being released
            actions, sess.info["routing_before_commit"] = sess.info["routing_before_commit"], []
            for act in actions:
                act()

        def drop(sess, previous_transaction):
            if previous_transaction.parent is None:
                sess.info["routing_before_commit"] = []

        event.listen(session, "before_commit", run)
        event.listen(session, "after_soft_rollback", drop)
    session.info["routing_before_commit"].append(action)


def reporters_of(session: Session, report: Report) -> list[Report]:
    """The report and every report merged into it, recursively (oldest first): everyone to answer
    when the incident is resolved. Reads through the partial index ix_reports_merged_into_id."""
    found = {report.id: report}
    frontier = [report.id]
    while frontier:
        children = list(session.scalars(select(Report).where(Report.merged_into_id.in_(frontier))))
        frontier = [c.id for c in children if c.id not in found]
        found.update((c.id, c) for c in children)
    return sorted(found.values(), key=lambda r: (r.received_at, r.id))


__all__ = ["DuplicateFinder", "DuplicateOutcome", "Match", "reporters_of", "MERGE_AT"]
