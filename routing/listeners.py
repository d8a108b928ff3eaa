"""The routing engine on the stored queue: one queue listener (app._plugin_listeners loads `listeners`).

Called inside the transaction of every recorded change as fn(session, report, event_type, details):
- "received": keep routing's proposal (Report.routing["proposed"]), count the report towards an
  incident alert (routing/incidents.py), then merge it into an open report of the same incident or
  store duplicate proposals (routing/duplicates.py);
- priority_changed, transfer, assign, merge by a person: store the correction (routing/corrections.py).

Routing must never lose a report: its work runs in a savepoint, and a failure is logged and rolled
back to the savepoint while the report itself is stored. The reports of one submit_many come together
(`received_many`): one savepoint for all, and one per report again only when that one fails.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.lifecycle import Role
from domain.models import Report

from . import automation, corrections, incidents
from .duplicates import DuplicateFinder, run_before_commit

log = logging.getLogger(__name__)


class QueueRouting:
    """The listener. Reads `services.queue` only when called (app builds the queue with this listener)."""

    def __init__(self, services, *, finder: DuplicateFinder | None = None,
                 incident_rules: incidents.IncidentRules | None = None):
        self.services = services
        self.clock: Callable[[], datetime] = services.clock
        self._finder = finder
        self._incident_rules = incident_rules

    # ------------------------------------------------------------ lazily wired parts
    @property
    def router(self):
        classifier = getattr(self.services.queue, "classifier", None)
        router = getattr(classifier, "router", None)
        if router is None:
            router = getattr(self.services, "_routing_router", None)
            if router is None:
                from .engine import Router

                router = Router.load(self.services.settings.data_dir)
                self.services._routing_router = router
        return router

    @property
    def finder(self) -> DuplicateFinder:
        if self._finder is None:
            self._finder = DuplicateFinder(self.router, self.clock)
        return self._finder

    @property
    def incident_rules(self) -> incidents.IncidentRules:
        if self._incident_rules is None:
            self._incident_rules = incidents.IncidentRules(triage_category=self.router.cls["triage_category"])
        return self._incident_rules

    def notify_others(self, session: Session, report: Report, event_type: str, details: dict) -> None:
        """Tell every queue listener (the citizen notifier among them) about a change made here."""
        self.services.queue.notify(session, report, event_type, details)

    # ------------------------------------------------------------ the listener
    def __call__(self, session: Session, report: Report, event_type: str, details: dict) -> None:
        if event_type == "received":
            self._guarded(session, report, self.on_received)
        elif event_type == "merge" and details.get("automatic"):
            return  # the engine's own merge (see on_received), no correction by a person
        elif event_type in corrections.WATCHED_EVENTS:
            pending = corrections.pending_event(session, report, event_type)
            if pending is not None and pending.actor_role == Role.SYSTEM.value:
                return  # the system's own forwarding or merge: no correction by a person (no savepoint)
            self._guarded(session, report, lambda s, r: corrections.on_event(s, r, event_type, details))

    def received_many(self, session: Session, reports: list[Report]) -> None:
        """The "received" work for the reports of one submit_many, in their order, in one savepoint (their
        incidents' look-ups read once for all). If it fails, each report again in its own savepoint: a
        failure then costs only that report's routing, as when the reports come one by one."""
        if not reports:
            return
        before_commit = session.info.get("routing_before_commit")
        registered = len(before_commit) if before_commit else 0
        try:
            with session.begin_nested():
                incidents.prepare(session, reports, self.clock(), self.incident_rules)
                self.finder.prepare(session, reports)
                for report in reports:
                    self.on_received(session, report)
        except IntegrityError:
            raise  # a concurrent writer: let the queue's retry read again
        except Exception:  # noqa: BLE001 - routing must not lose the reports
            log.exception("routing listener failed on a batch of %d reports; routing them one by one", len(reports))
            if session.info.get("routing_before_commit"):
                del session.info["routing_before_commit"][registered:]  # the merges that were rolled back
            for report in reports:
                self._guarded(session, report, self.on_received)

    def _guarded(self, session: Session, report: Report, work) -> None:
        try:
            with session.begin_nested():
                work(session, report)
        except IntegrityError:
            raise  # a concurrent writer: let the queue's retry read again
        except Exception:  # noqa: BLE001 - routing must not lose the report
            log.exception("routing listener failed on report %s; the report is stored without it", report.ticket)

    def on_received(self, session: Session, report: Report) -> None:
        corrections.snapshot_proposal(report)
        incidents.on_received(session, report, self.clock(), self.incident_rules)
        outcome = self.finder.on_received(session, report)
        # Selective automation (issue 9): confident non-emergency reports are forwarded by the system.
        automation.on_received(self.services, session, report, merged=outcome.merged_into is not None)
        if outcome.merged_into is not None:
            # After the other listeners' "received" work (the receipt comes first), before commit.
            details = outcome.merge_details
            run_before_commit(session, lambda: self.notify_others(session, report, "merge", details))


def listeners(services) -> list:
    """The routing engine's queue listeners (loaded by app._plugin_listeners). Must not touch services.queue."""
    return [QueueRouting(services)]


__all__ = ["listeners", "QueueRouting"]
