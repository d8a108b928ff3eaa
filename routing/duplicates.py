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
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import and_, event, or_, select
from sqlalchemy.orm import Session

from domain import clocks
from domain.actors import SYSTEM
from domain.citizens import pairs_in
from domain.db import transaction_state
from domain.events import record
from domain.lifecycle import (
    OPEN_STATUSES,
    Action,
    Role,
    Status,
    TransitionError,
    check_transition,
)
from domain.models import Category, Report

from .dedupe import DedupeItem, DuplicateScorer, merged_params, shipped_similarity

log = logging.getLogger(__name__)

MERGE_AT = 0.85  # automatic merge at or above this score (thresholds.yaml dedupe.merge_at overrides it)
MAX_CANDIDATES = 50  # newest reports of the category (and place) inside the window that are scored
MAX_PROPOSALS = 5
MEMO_SIZE = 50_000  # reports whose normalised text and vectors are kept in the process
CANDIDATE_STATUSES = tuple(s.value for s in OPEN_STATUSES) + (Status.MERGED.value,)
CANDIDATE_COLUMNS = (Report.id, Report.ticket, Report.status, Report.merged_into_id, Report.category_code,
                     Report.received_at, Report.text, Report.location_text, Report.lat, Report.lon,
                     Report.kelurahan_code, Report.kecamatan, Report.citizen_id, Report.kind, Report.is_demo)


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
    """Scores new reports against recent open ones; merges or proposes (inside the caller's transaction).
    A batch (one submit_many) is scored at once: one candidate query, one sparse matrix product."""

    def __init__(self, router, clock: Callable[[], datetime], *, merge_at: float | None = None,
                 max_candidates: int = MAX_CANDIDATES):
        self.router = router
        self.clock = clock
        self.params = merged_params(router.rules.thresholds.get("dedupe", {}))
        self.scorer = DuplicateScorer(self.params, shipped_similarity(router, float(self.params["rare_share"])))
        self.propose_at = float(self.params["threshold"])
        configured = self.params.get("merge_at", MERGE_AT) if merge_at is None else merge_at
        self.merge_at = max(float(configured), self.propose_at)
        self.max_candidates = max_candidates
        self.triage_category = router.cls["triage_category"]
        self._memo: OrderedDict[int, tuple] = OrderedDict()  # report id -> (text, street, char, word, rare rows)
        self._lock = threading.Lock()

    # ------------------------------------------------------------ what the scorer sees of a report
    def _analyse(self, text: str) -> tuple[str, str | None]:
        """(normalised text, street) as the stream deduper sees them."""
        a = self.router.normaliser.analyse(text)
        return a.text, self.router.gazetteer.locate_text(a.tokens).street

    def _texts(self, rows) -> dict[int, tuple]:
        """Report id -> (normalised text, street, vector rows), from the memo or analysed now (one
        vectorisation for all that are new)."""
        out, missing = {}, []
        with self._lock:
            for row in rows:
                hit = self._memo.get(row.id)
                if hit is not None:
                    self._memo.move_to_end(row.id)
                    out[row.id] = hit
                elif row.id not in out:
                    out[row.id] = None
                    missing.append(row)
        if missing:
            analysed = [self._analyse(" ".join(t for t in (r.text, r.location_text) if t)[:20_000]) for r in missing]
            char, word, rare = self.scorer.similarity.vectors([a[0] for a in analysed])
            with self._lock:
                for k, (row, (normalised, street)) in enumerate(zip(missing, analysed)):
                    entry = (normalised, street, char[k], word[k], rare[k])
                    out[row.id] = self._memo[row.id] = entry
                while len(self._memo) > MEMO_SIZE:
                    self._memo.popitem(last=False)
        return out

    @staticmethod
    def _item(row, texts: dict, emergency: bool) -> DedupeItem:
        normalised, street = texts[row.id][:2]
        return DedupeItem(id=str(row.id), category=row.category_code, received_at=row.received_at,
                          text=normalised, lat=row.lat, lon=row.lon, kelurahan_code=row.kelurahan_code,
                          kecamatan=row.kecamatan, street=street,
                          citizen=str(row.citizen_id) if row.citizen_id is not None else None,
                          emergency=emergency, kind=row.kind)

    def item(self, report, emergency: bool) -> DedupeItem:
        """A report (ORM object or a row of CANDIDATE_COLUMNS) as the pure scorer sees it."""
        return self._item(report, self._texts([report]), emergency)

    def window(self, emergency: bool) -> timedelta:
        return timedelta(hours=float(self.params["window_hours_emergency" if emergency
                                                 else "window_hours_default"]))

    # ------------------------------------------------------------ candidates
    def candidate_query(self, reports, window: timedelta):
        """Open (or merged) reports of the batch's categories within the window of any of them: an index
        range scan over the window (ix_reports_category_received), newest first, columns only. Place: the
        same kecamatan as a report of the category, no kecamatan, or coordinates near one of them."""
        reports = reports if isinstance(reports, (list, tuple)) else [reports]
        times = [r.received_at for r in reports]
        query = select(*CANDIDATE_COLUMNS).where(
            Report.category_code.in_(sorted({r.category_code for r in reports})),
            Report.received_at >= min(times) - window, Report.received_at <= max(times) + window,
            Report.is_demo.in_(sorted({bool(r.is_demo) for r in reports})),
            Report.status.in_(CANDIDATE_STATUSES))
        if all(r.kecamatan for r in reports):
            # duplicate_score gives 0 across kecamatan unless both coordinates lie within far_m: skip those rows.
            place = [Report.kecamatan.is_(None),
                     pairs_in(Report.category_code, Report.kecamatan, {(r.category_code, r.kecamatan) for r in reports})]
            d = float(self.params["far_m"]) / 100_000  # degrees, generously (1 degree >= 100 km here)
            for r in reports:
                if r.lat is not None and r.lon is not None:
                    place.append(and_(Report.lat.between(r.lat - d, r.lat + d), Report.lon.between(r.lon - d, r.lon + d)))
            query = query.where(or_(*place))
        return query.order_by(Report.received_at.desc(), Report.id.desc())

    def _choose(self, mine: list[Report], rows: list, emergency: dict, later: dict) -> list[list]:
        """Each report's candidates among the batch's rows (newest first): the per-report part of
        candidate_query (the batch's query is their union), at most `max_candidates`."""
        from heapq import merge

        d = float(self.params["far_m"]) / 100_000
        place: dict[tuple, list] = {}  # (category, is_demo, kecamatan or None) -> rows, newest first
        for row in rows:
            place.setdefault((row.category_code, bool(row.is_demo), row.kecamatan), []).append(row)
        newest = lambda row: (row.received_at, row.id)  # noqa: E731
        out = []
        for r in mine:
            rid, t, lat, lon = r.id, r.received_at, r.lat, r.lon
            window, key = self.window(emergency[rid]), (r.category_code, bool(r.is_demo))
            if r.kecamatan:
                lists = [place.get((*key, r.kecamatan), ()), place.get((*key, None), ())]
                if lat is not None and lon is not None:  # other kecamatan, coordinates near
                    lists.append([row for k, group in place.items() if k[:2] == key and k[2] not in (None, r.kecamatan)
                                  for row in group if row.lat is not None and row.lon is not None
                                  and abs(row.lat - lat) <= d and abs(row.lon - lon) <= d])
                pool = merge(*lists, key=newest, reverse=True) if len(lists) > 1 else lists[0]
            else:
                pool = merge(*(g for k, g in place.items() if k[:2] == key), key=newest, reverse=True)
            chosen, after = [], later[rid]
            for row in pool:
                if row.id != rid and row.id not in after and abs(row.received_at - t) <= window:
                    chosen.append(row)
                    if len(chosen) >= self.max_candidates:
                        break
            out.append(chosen)
        return out

    # ------------------------------------------------------------ scoring
    def score(self, session: Session, report: Report) -> list[Match]:
        """Incident reports (merged candidates count for their root) scoring at least the proposal threshold,
        best first; ties go to the earlier report."""
        return self.score_batch(session, [report]).get(report.id, [])

    def score_batch(self, session: Session, reports: list[Report]) -> dict[int, list[Match]]:
        """Report id -> its matches, for the reports of one batch in their order: a report may join an
        incident reported earlier in the batch (the decisions of the reports before it count, as if they
        had been stored one by one)."""
        mine = [r for r in reports if r.category_code and r.category_code != self.triage_category]
        if not mine:
            return {}
        emergency = {r.id: self._emergency(session, r.category_code) for r in mine}
        # No autoflush: what this transaction changes in the candidate columns is flushed by `merge`
        # (the other changes, routing proposals, alerts and messages, wait for one flush together).
        window = max(self.window(e) for e in emergency.values())
        with session.no_autoflush:
            rows = session.execute(self.candidate_query(mine, window)).all()
        by_id = {r.id: r for r in rows}
        position = {r.id: k for k, r in enumerate(mine)}
        later = {r.id: _After(position, k) for k, r in enumerate(mine)}
        per_report = self._choose(mine, rows, emergency, later)
        candidates = list({row.id: row for chosen in per_report for row in chosen}.values())
        texts = self._texts([*mine, *candidates])
        column = {row.id: j for j, row in enumerate(candidates)}
        news = [self._item(r, texts, emergency[r.id]) for r in mine]
        others = [self._item(row, texts, self._emergency(session, row.category_code)) for row in candidates]
        vectors = (self._stack([texts[r.id] for r in mine]), self._stack([texts[row.id] for row in candidates]))
        pairs = [(i, column[row.id]) for i, chosen in enumerate(per_report) for row in chosen]
        scored = self.scorer.score_many(news, others, pairs=pairs, vectors=vectors, at_least=self.propose_at)
        overlay: dict[int, int] = {}  # a report of this batch -> the incident report it joins (decided here)
        out: dict[int, list[Match]] = {}
        for r, found in zip(mine, scored):
            best: dict[int, tuple[float, tuple[str, ...], object]] = {}
            for j, value, reasons in found:
                other = candidates[j]
                root = self._root(session, other, by_id, overlay)
                if root is None or root.id == r.id:
                    continue
                if value > best.get(root.id, (-1.0,))[0]:
                    if other.id != root.id:
                        reasons = [*reasons, f"via {other.ticket} (merged into {root.ticket})"]
                    best[root.id] = (value, tuple(reasons), root)
            ranked = sorted(best.values(), key=lambda v: (-v[0], v[2].received_at, v[2].id))
            out[r.id] = [Match(root.id, root.ticket, v, reasons) for v, reasons, root in ranked]
            if out[r.id] and out[r.id][0].score >= self.merge_at and self._mergeable(r):
                overlay[r.id] = out[r.id][0].report_id
        return out

    @staticmethod
    def _stack(entries: list[tuple]):
        from scipy.sparse import vstack

        if not entries:
            return None
        return tuple(vstack([e[k] for e in entries], format="csr") for k in (2, 3, 4))

    @staticmethod
    def _emergency(session: Session, category_code: str) -> bool:
        """Whether the category is an emergency (the categories read once per transaction)."""
        emergency = transaction_state(session, "routing_emergency_categories")
        if not emergency:
            emergency.update(session.execute(select(Category.code, Category.emergency)).all())
        return bool(emergency.get(category_code))

    @staticmethod
    def _root(session: Session, row, by_id: dict, overlay: dict | None = None):
        """The open report an incident's duplicates point to (None: the incident is no longer open).
        `overlay`: merges decided for this batch and not stored yet."""
        seen = set()
        overlay = overlay or {}
        while True:
            parent_id = overlay.get(row.id)
            if parent_id is None:
                if row.status != Status.MERGED.value or row.merged_into_id is None:
                    break
                parent_id = row.merged_into_id
            if row.id in seen:
                return None
            seen.add(row.id)
            parent = by_id.get(parent_id)
            if parent is None:
                with session.no_autoflush:  # see score
                    parent = session.execute(select(*CANDIDATE_COLUMNS).where(Report.id == parent_id)).first()
                if parent is None:
                    return None
                by_id[parent.id] = parent
            row = parent
        return row if Status(row.status) in OPEN_STATUSES else None

    # ------------------------------------------------------------ a batch
    def prepare(self, session: Session, reports: list[Report]) -> None:
        """Score the reports of one submit_many at once; `on_received` then takes each one's matches."""
        state = transaction_state(session, "routing_duplicates")
        todo = [r for r in reports if r.id not in state]
        if not todo:
            return
        matches = self.score_batch(session, todo)
        for r in todo:
            state[r.id] = matches.get(r.id, [])
        targets = {m[0].report_id for m in matches.values() if m and m[0].score >= self.merge_at}
        targets -= {r.id for r in reports}
        if targets:  # the incident reports to merge into, loaded at once (session.get finds them then; the
            # session's identity map holds objects weakly, so the transaction's state keeps them)
            with session.no_autoflush:
                state.setdefault("targets", []).extend(
                    session.scalars(select(Report).where(Report.id.in_(sorted(targets)))))

    # ------------------------------------------------------------ the listener's work
    def on_received(self, session: Session, report: Report) -> DuplicateOutcome:
        outcome = DuplicateOutcome()
        state = transaction_state(session, "routing_duplicates")
        batched = report.id in state
        matches = state.pop(report.id) if batched else self.score(session, report)
        if not matches:
            return outcome
        top = matches[0]
        if top.score >= self.merge_at and self._mergeable(report):
            outcome.merge_details = self.merge(session, report, top, flush=not batched)
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

    def merge(self, session: Session, report: Report, into: Match, flush: bool = True) -> dict:
        """Merge `report` into the incident report `into` by direct updates in this transaction (the report
        was inserted in it; Workflow.merge would open its own). Returns the event's `after`; the caller
        tells the other listeners (see routing/listeners.py)."""
        now = self.clock()
        with session.no_autoflush:  # prepared batches loaded their targets (see prepare)
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
        if flush:  # the next report's candidates must see this one merged (score reads without autoflush);
            session.flush()  # a prepared batch decided its merges together (score_batch's overlay)
        return after


class _After:
    """`id in later[r]`: whether a report comes after r in the batch (without a set per report)."""

    def __init__(self, position: dict[int, int], k: int):
        self.position, self.k = position, k

    def __contains__(self, report_id: int) -> bool:
        return self.position.get(report_id, -1) > self.k


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
