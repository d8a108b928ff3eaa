"""Walk-in, phone and letter reports entered by an operator on a citizen's behalf (the form lives in
the operator console; this is the service it calls). The operator is recorded as the actor of the
"received" event; the citizen hears back through WhatsApp (phone given) or email."""
from __future__ import annotations

import uuid
from datetime import datetime

from domain.actors import Actor
from domain.clock import isoformat
from domain.intake import IncomingReport
from domain.lifecycle import Role, TransitionError, ValidationError
from ingest.base import reply_route

OPERATOR_CHANNELS = ("walk_in", "phone", "letter")


def enter_report(channels, actor: Actor, *, channel: str, text: str, citizen_name: str | None = None,
                 citizen_phone: str | None = None, citizen_email: str | None = None,
                 location_text: str | None = None, lat: float | None = None, lon: float | None = None,
                 category: str | None = None, reference: str | None = None,
                 received_at: datetime | None = None, notify_by: str | None = None) -> str:
    """Store a report taken at the counter, by phone or from a letter; returns its ticket.

    `reference` (a letter's agenda number, a phone log id) makes the entry idempotent; without it
    every call creates a new report. `notify_by` is "whatsapp", "sms", "email" or "none"
    (default: WhatsApp when a phone is given, else email)."""
    if actor.role not in (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN):
        raise TransitionError(f"role {actor.role.value} may not enter reports for citizens")
    if channel not in OPERATOR_CHANNELS:
        raise ValidationError("channel", f"must be one of {', '.join(OPERATOR_CHANNELS)}")
    data = {
        "channel": channel, "external_id": f"{channel}:{reference or uuid.uuid4().hex}"[:200], "text": text,
        "received_at": isoformat(received_at or channels.clock()), "category": category,
        "citizen": {"name": citizen_name, "phone": citizen_phone, "email": citizen_email},
        "location": {"text": location_text, "lat": lat, "lon": lon}
        if (location_text or lat is not None or lon is not None) else None,
        "raw_payload": {"provider": {"entered_by": actor.name, "reference": reference}},
    }
    incoming = IncomingReport.from_dict(data, max_bytes=channels.services.settings.max_payload_bytes)
    c = incoming.citizen
    route = None
    notify_by = notify_by or ("whatsapp" if c and c.phone else "email" if c and c.email else "none")
    if notify_by in ("whatsapp", "sms") and c and c.phone:
        route = reply_route(notify_by, f"whatsapp:{c.phone}" if notify_by == "whatsapp" else c.phone)
    elif notify_by == "email" and c and c.email:
        route = reply_route("email", c.email)
    if route:
        incoming.raw_payload["reply"] = route
    return channels.inbox.submit(incoming, actor).ticket
