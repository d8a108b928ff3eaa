"""The SLA sweep of domain/sweep.py as the running worker applies it, simulated on one played report
(ingest/demo_cases.py): between two steps, every warning, breach and escalation level that falls due is
recorded when the worker would record it (WAKE after it falls due, or at the next one-second run after
the step that made it due), with its sla_breaches row, its event and its notifications.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from domain.clock import isoformat
from domain.escalation import BREACH, Contact, describe_lateness, format_wib
from domain.models import SlaClock
from domain.sla import Calendar
from domain.sweep import EVENT_TYPES, SWEEPER

WAKE = timedelta(milliseconds=2)  # the sweep wakes this long after a level falls due (sweep_through)
TICK = timedelta(seconds=1)  # and sees what an action made due at its next one-second run
_STEP_ORDER = {"warning": 0, "breach": 1, "escalation": 2}
_STAGE_ORDER = {"acknowledge": 0, "dispatch": 1, "resolve": 2}


class SweepPlay:
    """Part of CasePlayer: reads self.report (with its clocks), self.ref, self.last_action_at and self.recorded
    and writes through self._event, self._message_out and self.out.breaches."""

    def _sweep(self, until: datetime) -> None:
        """Record every level that falls due before `until`, in the order the running worker records them."""
        while True:
            found = None
            for c in self.report.clocks:
                if c.met_at is not None or c.cancelled_at is not None or c.paused_at is not None:
                    continue
                for kind, due in (("warning", c.warn_at if c.warned_at is None else None),
                                  ("breach", c.due_at if c.breached_at is None else None),
                                  ("escalation", c.next_check_at)):
                    if due is None:
                        continue
                    fire = max(due + WAKE, self.last_action_at + TICK)
                    rank = (fire, _STEP_ORDER[kind], _STAGE_ORDER[c.stage])
                    if fire < until and (found is None or rank < found[0]):
                        found = (rank, c, kind)
            if found is None:
                return
            (now, _, _), c, kind = found
            getattr(self, f"_{kind}")(c, now)

    def _levels(self, c: SlaClock):
        calendar = self.ref.sla.calendars.get(c.calendar) or Calendar()
        return self.ref.ladder.escalation_times(calendar, c.started_at, c.target_minutes,
                                                extended_minutes=c.extended_minutes or 0,
                                                paused_seconds=c.paused_seconds or 0, due_at=c.due_at)

    def _warning(self, c: SlaClock, now: datetime) -> None:
        c.warned_at = c.warn_at
        self._record(c, self.ref.ladder.warning, c.warn_at, now, send=c.due_at >= now)

    def _breach(self, c: SlaClock, now: datetime) -> None:
        levels = self._levels(c)
        c.breached_at, c.escalation_level = c.due_at, BREACH
        c.next_check_at = levels[0][1] if levels else None
        self._record(c, self.ref.ladder.breach, c.due_at, now)

    def _escalation(self, c: SlaClock, now: datetime) -> None:
        if c.breached_at is None:  # restarted by a transfer or a reopening: the breach step decides
            c.next_check_at = None
            return
        levels = self._levels(c)
        names = [level.name for level, _ in levels]
        done = names.index(c.escalation_level) + 1 if c.escalation_level in names else 0
        pending = levels[done:]
        fired = [(level, at) for level, at in pending if at <= now]
        later = [at for _, at in pending if at > now]
        c.next_check_at = later[0] if later else None
        if fired:
            c.escalation_level = fired[-1][0].name
        for level, at in fired:
            self._record(c, level, at, now)

    def _record(self, c: SlaClock, level, fell_due_at: datetime, now: datetime, *, send: bool = True) -> None:
        report, ladder = self.report, self.ref.ladder
        inserted = (c.stage, level.name) not in self.recorded
        if inserted:
            self.recorded.add((c.stage, level.name))
            self.out.breaches.append(dict(report_key=report.id, stage=c.stage, level=level.name, due_at=c.due_at,
                                          fell_due_at=fell_due_at, recorded_at=now, explanation_code=None,
                                          explanation=None))
        agency_code = ladder.responsible_agency(c.stage, report.agency_code)
        agency_name, stored = self.ref.agencies.get(agency_code, (agency_code, Contact()))
        recipients, unreachable = ladder.recipients(level, ladder.contact_for(agency_code, stored))
        if not send:
            recipients, unreachable = [], []
        if recipients:
            values = {
                "ticket": report.ticket, "stage": ladder.stage_labels.get(c.stage, c.stage), "level": level.name,
                "agency": agency_code, "agency_name": agency_name,
                "category": self.ref.categories.get(report.category_code or "", report.category_code or "tanpa kategori"),
                "priority": report.priority,
                "location": report.location_text or report.kecamatan or "lokasi belum jelas",
                "due": format_wib(c.due_at), "fell_due": format_wib(fell_due_at),
                "late": describe_lateness(now - c.due_at),
            }
            message = ladder.render(level.name, values)
            for r in recipients:
                self._message_out(now, r.channel, r.address, message.body,
                                  message.subject if r.channel == "email" else None, f"sla_{level.name}"[:64],
                                  {"kind": "sla", "ticket": report.ticket, "stage": c.stage, "level": level.name,
                                   "role": r.role, "agency": agency_code, "due_at": isoformat(c.due_at),
                                   "fell_due_at": isoformat(fell_due_at), "values": values}, conversation=False)
        details = {"stage": c.stage, "level": level.name, "due_at": isoformat(c.due_at),
                   "fell_due_at": isoformat(fell_due_at), "agency": agency_code,
                   "notified": [f"{r.role}:{r.channel}" for r in recipients]}
        if unreachable:
            details["unreachable"] = unreachable
        if not inserted:
            details["repeat"] = True
        self._event(now, SWEEPER, EVENT_TYPES.get(level.name, "sla_escalated"), after=details)
