"""Small builders shared by the tests."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from domain.actors import Actor
from domain.clock import UTC
from domain.intake import VOUCHING_CHANNELS, CitizenInfo, IncomingReport, LocationInfo
from domain.lifecycle import Role, Status

OPERATOR = Actor("ops-1", Role.OPERATOR)
SUPERVISOR = Actor("spv-1", Role.SUPERVISOR)
CITIZEN = Actor("citizen", Role.CITIZEN)
SYSTEM = Actor("system", Role.SYSTEM)
_ids = itertools.count(1)


def officer(agency: str = "PUPR") -> Actor:
    return Actor(f"officer-{agency.lower()}", Role.AGENCY_OFFICER, agency)


def incoming(
    *,
    channel: str = "whatsapp",
    external_id: str | None = None,
    text: str = "jalan berlubang di depan pasar",
    received_at: datetime | None = None,
    category: str | None = "ROAD",
    priority: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    name: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    **extra,
) -> IncomingReport:
    # as the intake does: the channel vouches for the sender (WhatsApp, social, 112), a form's contacts are typed
    verified = extra.pop("verified", channel in VOUCHING_CHANNELS)
    citizen = CitizenInfo(name=name, phone=phone, email=email, verified=verified) if (phone or email or name) else None
    return IncomingReport(
        channel=channel,
        external_id=external_id or f"msg-{next(_ids)}",
        text=text,
        received_at=received_at or datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
        citizen=citizen,
        location=LocationInfo(lat=lat, lon=lon) if lat is not None else None,
        category=category,
        priority=priority,
        **extra,
    )


# The shortest path of (action, actor) steps that brings a fresh report to each status.
def path_to(status: Status, agency: str = "PUPR") -> list[tuple[str, Actor, dict]]:
    off = officer(agency)
    to_assigned = [("verify", OPERATOR, {}), ("assign", OPERATOR, {})]
    to_in_progress = to_assigned + [("accept", off, {}), ("start", off, {})]
    to_resolved = to_in_progress + [("resolve", off, {"note": "lubang sudah ditambal"})]
    return {
        Status.NEW: [],
        Status.VERIFIED: [("verify", OPERATOR, {})],
        Status.ASSIGNED: to_assigned,
        Status.ACCEPTED: to_assigned + [("accept", off, {})],
        Status.IN_PROGRESS: to_in_progress,
        Status.WAITING_CITIZEN: to_in_progress + [("ask_citizen", off, {"question": "foto lokasinya?"})],
        Status.RESOLVED: to_resolved,
        Status.CLOSED: to_resolved + [("close", OPERATOR, {})],
        Status.REJECTED: [("reject", OPERATOR, {"reason": "spam"})],
        Status.MERGED: [],  # needs a second report: see bring_to
    }[status]


def bring_to(queue, workflow, status: Status, **incoming_kwargs):
    """Submit a report and walk it to `status`; returns the stored report."""
    report = queue.submit(incoming(**incoming_kwargs)).report
    if status == Status.MERGED:
        other = queue.submit(incoming()).report
        return workflow.merge(report.ticket, OPERATOR, other.ticket)
    for action, actor, kwargs in path_to(status):
        report = getattr(workflow, action)(report.ticket, actor, **kwargs)
    assert report.status == status.value
    return report


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def without_outlines(body: str) -> str:
    """A callback answer without the kelurahan outlines' coordinates: public geometry from data/geo whose digits
    can spell a phone fragment ("-6.20812") or a report's rounded coordinate. Everything else (hover texts,
    report points, other figures) stays, so the privacy tests still read it."""
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return body

    def walk(node):
        if isinstance(node, dict):
            if node.get("fill") == "toself" or node.get("meta") == "kelurahan-outlines":
                node = {k: v for k, v in node.items() if k not in ("x", "y")}
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node
    return json.dumps(walk(data), ensure_ascii=False)
