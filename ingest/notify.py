"""Milestone messages to citizens, written to the outbox in the transaction of the change itself.

`listeners(services)` is loaded by app.Services: each listener is called with
(session, report, event_type, details) inside the transaction that records the change, so a message
exists if and only if the change committed. The reply goes back through the channel the citizen used
(the report's raw payload carries the route; see ingest/base.py).
"""
from __future__ import annotations


from sqlalchemy import select

from dashboard.masking import mask_text
from domain import tracking
from domain.clock import to_wib
from domain.db import transaction_state
from domain.lifecycle import REOPEN_WINDOW
from domain.models import Agency, Event, Report
from ingest.base import reply_route_of
from ingest.config import ChannelConfig
from ingest.outbox import answer_payload, enqueue
from ingest.templates import Templates

try:
    from routing.duplicates import reporters_of
except ImportError:  # without the routing engine there are no merged duplicates to answer
    reporters_of = None

# Which template a recorded change sends (None: the change is internal, the citizen is not told).
MILESTONES = {
    "received": "received",
    "assign": "forwarded",
    "transfer": "forwarded",
    "resolve": "resolved",
    "close": "closed_survey",
    "expire_wait": "closed_incomplete",
    "reject": "rejected",
    "merge": "merged",
    "ask_citizen": "ask_citizen",
    "reopen": "reopened",
}
ANSWER_EVERY_REPORTER = {"resolve"}  # merged duplicates' citizens hear of the incident's resolution
SILENT_REJECTIONS = {"spam", "prank"}  # no answer to spam and pranks
NO_RECEIPT_CHANNELS = {"call112"}  # the caller is on the line with a call-taker
JUST_WROTE = {"received", "merge"}  # answers to a message that just came in: inside WhatsApp's window


class CitizenNotifier:
    def __init__(self, templates: Templates, clock, email_domain: str = "tangerangkota.go.id",
                 public_base_url: str = "http://127.0.0.1:8050"):
        self.templates, self.clock, self.email_domain = templates, clock, email_domain
        self.public_base_url = public_base_url

    def __call__(self, session, report: Report, event_type: str, details: dict) -> None:
        template = MILESTONES.get(event_type)
        if template is None or report.is_demo:
            return
        route = reply_route_of(report)
        if route is None:
            return
        if event_type == "received" and report.channel in NO_RECEIPT_CHANNELS:
            return
        if event_type == "reject" and report.reject_reason in SILENT_REJECTIONS:
            return
        if event_type == "close" and (report.close_reason != "resolved" or report.satisfaction is not None):
            return  # closed unresolved, or already rated (on the tracking page): no survey question
        values = self._values(session, report, event_type, details)
        sent = set()
        for target, route in self._recipients(session, report, event_type, route):
            if (route["channel"], route["to"]) in sent:
                continue  # one citizen who reported twice is answered once
            sent.add((route["channel"], route["to"]))
            own = values if target is report else self._values_of_duplicate(session, report, target, values)
            rendered = self.templates.render(template, **own)
            payload = answer_payload(session, target, route, own, email_domain=self.email_domain,
                                     just_wrote=event_type in JUST_WROTE and target is report)
            enqueue(session, channel=route["channel"], recipient=route["to"], body=rendered.body,
                    subject=rendered.subject, template=template, report=target, now=self.clock(), payload=payload)

    @staticmethod
    def _recipients(session, report: Report, event_type: str, route: dict):
        """The report's citizen and, on resolution, every citizen whose report was merged into it."""
        yield report, route
        if event_type in ANSWER_EVERY_REPORTER and reporters_of is not None:
            for other in reporters_of(session, report):
                other_route = reply_route_of(other) if other.id != report.id and not other.is_demo else None
                if other_route is not None:
                    yield other, other_route

    @staticmethod
    def _agency_name(session, code: str | None) -> str | None:
        """The agency's name, read once per transaction (a submit_many answers many reports)."""
        names = transaction_state(session, "notify_agency_names")
        if not names:
            names.update(session.execute(select(Agency.code, Agency.name)).all())
        return names[code] if code in names else code

    def _values(self, session, report: Report, event_type: str, details: dict) -> dict:
        values = {
            "ticket": report.ticket,
            "agency_name": self._agency_name(session, report.agency_code),
            "note": report.resolution_note or "",
            "reason_label": self.templates.reject_label(report.reject_reason),
            "status_label": self.templates.status_label(report.status),
            "tracking_url": tracking.url(self.public_base_url, report.ticket, report.tracking_code) or "",
        }
        if report.resolved_at is not None:
            values["reopen_until"] = to_wib(report.resolved_at + REOPEN_WINDOW).strftime("%d-%m-%Y %H:%M")
        if event_type == "ask_citizen":
            values["question"] = session.scalar(
                select(Event.reason).where(Event.report_id == report.id, Event.type == "ask_citizen")
                .order_by(Event.id.desc()).limit(1)) or ""
        return values

    def _values_of_duplicate(self, session, report: Report, duplicate: Report, values: dict) -> dict:
        """What the citizen of `duplicate` (a report merged into `report`) is told of `report`'s change:
        their own ticket and tracking link, and the officer's note with every contact and name masked
        (the note was written to the incident report's citizen). Nothing of the other report."""
        name = report.citizen.name if report.citizen is not None else None
        return {**values, "ticket": duplicate.ticket,
                "note": mask_text(values.get("note") or "", (name,) if name else ()),
                "tracking_url": tracking.url(self.public_base_url, duplicate.ticket, duplicate.tracking_code) or "",
                "status_label": self.templates.status_label(report.status)}


def _email_domain(config: ChannelConfig) -> str:
    address = config.email_from.rsplit("<", 1)[-1].rstrip(">").strip()
    return address.rpartition("@")[2] or "tangerangkota.go.id"


def listeners(services, config: ChannelConfig | None = None) -> list:
    """The queue listeners of the channels (app.Services loads them). Must not touch services.queue."""
    config = config or ChannelConfig.from_env()
    templates = Templates.load(services.settings.data_dir)
    return [CitizenNotifier(templates, services.clock, _email_domain(config), services.settings.public_base_url)]


__all__ = ["listeners", "CitizenNotifier", "MILESTONES"]
