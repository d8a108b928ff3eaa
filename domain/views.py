"""Plain-dict views of stored objects: the JSON contract of the command line and the API."""
from __future__ import annotations

from domain import clocks, tracking
from domain.clock import isoformat
from domain.models import Report


def report_to_dict(report: Report, *, include_citizen: bool = True, tracking_base_url: str | None = None) -> dict:
    """`tracking_base_url` (PUBLIC_BASE_URL) adds the citizen's `tracking_url` (domain/tracking.py): for
    the command line, which speaks for the city, never for API clients."""
    data = {
        "ticket": report.ticket,
        "status": report.status,
        "kind": report.kind,
        "category": report.category_code,
        "priority": report.priority,
        "agency": report.agency_code,
        "channel": report.channel,
        "external_id": report.external_id,
        "text": report.text,
        "received_at": isoformat(report.received_at),
        "claimed_at": isoformat(report.claimed_at),  # what the payload said (display only)
        "location": {
            "text": report.location_text, "lat": report.lat, "lon": report.lon,
            "kelurahan_code": report.kelurahan_code, "kecamatan": report.kecamatan,
        },
        "sla": clocks.describe(report),
        "transfer_count": report.transfer_count,
        "needs_supervisor": report.needs_supervisor,
        "is_demo": report.is_demo,
    }
    if include_citizen:
        data["citizen_id"] = report.citizen_id
    if tracking_base_url is not None:
        data["tracking_url"] = tracking.url(tracking_base_url, report.ticket, report.tracking_code)
    return data
