"""Learning from the operators: every correction of a routing decision is stored in routing_corrections.

Written in the transaction of the change itself:
- by the queue listener, on the workflow's events: priority_changed, transfer, assign to another agency
  than routing proposed, and a merge by a person (automatic merges are the engine's own decision);
- by `correct(session, report, field, value, actor)` for what the workflow has no action for:
  category, kind and location (kelurahan).

`export_corrections` writes them as a labelled JSON-lines set that `routing evaluate` scores.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import IO, Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.actors import Actor
from domain.clock import isoformat
from domain.events import record
from domain.lifecycle import (
    CONTROL_ROOM,
    FINAL_STATUSES,
    Kind,
    Role,
    Status,
    TransitionError,
    ValidationError,
)
from domain.models import Area, Category, Event, Report, RoutingCorrection

WATCHED_EVENTS = ("priority_changed", "transfer", "assign", "merge")
CORRECTABLE = ("category", "kind", "location")
PROPOSAL_FIELDS = {"category": "category_code", "agency": "agency_code", "priority": "priority", "kind": "kind",
                   "kelurahan_code": "kelurahan_code", "kecamatan": "kecamatan"}


def proposal_of(report: Report) -> dict[str, Any]:
    """What routing decided at intake: recorded in Report.routing["proposed"] by the "received" listener."""
    routing = report.routing if isinstance(report.routing, dict) else {}
    proposed = routing.get("proposed")
    return dict(proposed) if isinstance(proposed, dict) else {}


def snapshot_proposal(report: Report) -> None:
    """Keep the intake decision beside the report, before anyone changes it."""
    routing = dict(report.routing or {}) if isinstance(report.routing, dict) else {}
    routing["proposed"] = {key: getattr(report, column) for key, column in PROPOSAL_FIELDS.items()}
    report.routing = routing


def _last_event(session: Session, report: Report, event_type: str) -> Event | None:
    pending = pending_event(session, report, event_type)
    if pending is not None:
        return pending
    return session.scalar(select(Event).where(Event.report_id == report.id, Event.type == event_type)
                          .order_by(Event.id.desc()).limit(1))


def pending_event(session: Session, report: Report, event_type: str) -> Event | None:
    """The event of this type just recorded for `report` and not flushed yet (domain/events.py: record adds
    it to the session right before the listeners run), or None: found without a query."""
    found = None
    for obj in session.new:
        if isinstance(obj, Event) and obj.report_id == report.id and obj.type == event_type \
                and (found is None or (obj.at or found.at) >= found.at):
            found = obj
    return found


def _store(session: Session, report: Report, field: str, before: Any, after: Any, event: Event,
           proposed: Any = None) -> RoutingCorrection:
    row = RoutingCorrection(report_id=report.id, field=field, before=before, after=after, proposed=proposed,
                            event_type=event.type, actor=event.actor, actor_role=event.actor_role, at=event.at)
    session.add(row)
    return row


def on_event(session: Session, report: Report, event_type: str, details: dict) -> RoutingCorrection | None:
    """The listener's part: store the correction a workflow event carries, if it is one."""
    if event_type not in WATCHED_EVENTS:
        return None
    event = _last_event(session, report, event_type)  # recorded just before the listeners run
    if event is None or event.actor_role == Role.SYSTEM.value:
        return None
    before = event.before or {}
    proposed = proposal_of(report)
    if event_type == "priority_changed":
        old = before.get("priority", proposed.get("priority"))
        if old != report.priority:
            return _store(session, report, "priority", old, report.priority, event, proposed.get("priority"))
    elif event_type == "transfer":
        old = before.get("agency_code")
        if old != report.agency_code:
            return _store(session, report, "agency", old, report.agency_code, event, proposed.get("agency"))
    elif event_type == "assign":
        routed = proposed.get("agency", before.get("agency_code"))
        if routed and routed != report.agency_code:
            return _store(session, report, "agency", routed, report.agency_code, event, routed)
    elif event_type == "merge":
        into = details.get("merged_into") or (event.after or {}).get("merged_into")
        return _store(session, report, "merge", None, into, event)
    return None


def correct(session: Session, report: Report, field: str, value: str, actor: Actor, *, now: datetime,
            reason: str | None = None) -> RoutingCorrection | None:
    """Change a routing field the workflow has no action for, record the event and the correction.
    field: category (a category code), kind (a Kind), location (a kelurahan code). Agency and priority
    go through Workflow.assign/transfer/change_priority (their SLA clocks move); the listener records them.
    Returns None when the value is already the report's. Raises ValidationError/TransitionError."""
    if actor.role not in CONTROL_ROOM:
        raise TransitionError(f"role {actor.role.value} may not correct routing")
    if field not in CORRECTABLE:
        raise ValidationError("field", f"cannot correct {field!r} here (one of: {', '.join(CORRECTABLE)}; "
                                       "agency and priority go through the workflow)")
    if Status(report.status) in FINAL_STATUSES:
        raise TransitionError(f"{report.ticket} is {report.status}; it can no longer be corrected")
    value = (value or "").strip()
    if field == "category":
        value = value.upper()
        if session.get(Category, value) is None:
            raise ValidationError("category", f"unknown category code {value!r}")
        old, new = report.category_code, value
        report.category_code = value
        changes = ({"category_code": old}, {"category_code": value})
    elif field == "kind":
        try:
            value = Kind(value.upper()).value
        except ValueError:
            raise ValidationError("kind", f"unknown kind {value!r} (one of: {', '.join(k.value for k in Kind)})") \
                from None
        old, new = report.kind, value
        report.kind = value
        changes = ({"kind": old}, {"kind": value})
    else:
        area = session.get(Area, value)
        if area is None:
            raise ValidationError("location", f"unknown kelurahan code {value!r}")
        old = {"kelurahan_code": report.kelurahan_code, "kecamatan": report.kecamatan}
        new = {"kelurahan_code": area.kode, "kecamatan": area.kecamatan}
        report.kelurahan_code, report.kecamatan = area.kode, area.kecamatan
        changes = (old, new)
    if old == new:
        return None
    report.updated_at = now
    event = record(session, report, actor, "routing_corrected", before=changes[0], after={**changes[1], "field": field},
                   reason=reason, at=now)
    proposed = proposal_of(report)
    routed = ({"kelurahan_code": proposed.get("kelurahan_code"), "kecamatan": proposed.get("kecamatan")}
              if field == "location" else proposed.get(field))
    return _store(session, report, field, old, new, event, routed)


# ---------------------------------------------------------------- labelled export
def labelled_examples(session: Session, since: datetime | None = None) -> Iterable[dict]:
    """One labelled report per corrected report (the latest correction of each field wins), plus the
    incident report of every merge so `routing evaluate` can score the duplicate pair; oldest first."""
    query = select(RoutingCorrection).order_by(RoutingCorrection.at, RoutingCorrection.id)
    if since is not None:
        query = query.where(RoutingCorrection.at >= since)
    expected: dict[int, dict] = {}
    for c in session.scalars(query):
        exp = expected.setdefault(c.report_id, {})
        if c.field == "location" and isinstance(c.after, dict):
            area = session.get(Area, c.after.get("kelurahan_code"))
            if area is not None:
                exp.update(kecamatan=area.kecamatan, kelurahan=area.kelurahan)
        elif c.field == "merge":
            root = session.scalar(select(Report).where(Report.ticket == c.after)) if c.after else None
            if root is not None:
                exp["duplicate_group"] = root.ticket
                expected.setdefault(root.id, {}).setdefault("duplicate_group", root.ticket)
        elif c.field in ("category", "agency", "priority", "kind"):
            exp[c.field] = c.after
    if not expected:
        return []
    reports = {r.id: r for r in session.scalars(select(Report).where(Report.id.in_(list(expected))))}
    lines = []
    for rid, exp in expected.items():
        r = reports.get(rid)
        if r is None or not exp:
            continue
        if "category" in exp or "agency" in exp:
            exp.setdefault("actionable", True)
        text = " ".join(t for t in (r.text, r.location_text) if t)
        lines.append({"id": r.ticket, "channel": r.channel, "text": text, "received_at": isoformat(r.received_at),
                      "lat": r.lat, "lon": r.lon, "citizen": r.citizen_id, "expected": exp})
    lines.sort(key=lambda line: (line["received_at"], line["id"]))
    return lines


def export_corrections(session: Session, out: IO[str], since: datetime | None = None) -> int:
    """Write the labelled examples as JSON lines; returns how many."""
    count = 0
    for line in labelled_examples(session, since):
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
        count += 1
    return count


__all__ = ["on_event", "correct", "snapshot_proposal", "proposal_of", "labelled_examples", "export_corrections"]
