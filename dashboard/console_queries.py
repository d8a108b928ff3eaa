"""Read-only queries of the consoles (operator, agency, supervisor): queues by urgency, one report's
detail, its timeline. Contact details are masked by role here, not in the pages."""
from __future__ import annotations

from sqlalchemy import and_, func, select

from dashboard.context import services
from dashboard.media import url as media_url
from dashboard.masking import contact, mask_text, may_see_contacts
from domain.clock import WIB
from domain.lifecycle import OPEN_STATUSES, NotFound, report_not_found, ticket_of
from domain.models import (Attachment, CitizenIdentity, Event, ExtensionRequest, Message, OutboxMessage, Report,
                           SlaBreach, SlaClock)
from domain.scope import held_by, holds

OPEN = [s.value for s in OPEN_STATUSES]
TRIAGE = ["NEW", "VERIFIED", "WAITING_CITIZEN"]
RUNNING = and_(SlaClock.met_at.is_(None), SlaClock.cancelled_at.is_(None))


def wib(value) -> str:
    return value.astimezone(WIB).strftime("%d/%m %H:%M") if value else ""


def queue(statuses: list[str], *, agency: str | None = None, limit: int = 200) -> list[dict]:
    """Open reports ordered by SLA urgency (the earliest running deadline first)."""
    now = services().queue.clock()
    due = (select(SlaClock.report_id, func.min(SlaClock.due_at).label("due"))
           .where(RUNNING, SlaClock.paused_at.is_(None)).group_by(SlaClock.report_id).subquery())
    query = (select(Report.ticket, Report.status, Report.priority, Report.agency_code, Report.channel,
                    Report.category_code, Report.text, Report.received_at, Report.claimed_by, due.c.due)
             .outerjoin(due, due.c.report_id == Report.id).where(Report.status.in_(statuses)))
    if agency:  # an agency's queue: what was forwarded to it and is still with it
        query = query.where(Report.agency_code == agency, held_by(agency))
    query = query.order_by(due.c.due.is_(None), due.c.due, Report.priority, Report.id).limit(limit)
    with services().reads() as s:
        rows = s.execute(query).all()
    out = []
    for r in rows:
        left = None if r.due is None else int((r.due - now).total_seconds() // 60)
        out.append({"ticket": r.ticket, "status": r.status, "priority": r.priority, "agency": r.agency_code,
                    "channel": r.channel, "category": r.category_code or "-", "text": (r.text or "")[:80],
                    "received": wib(r.received_at), "claimed_by": r.claimed_by, "minutes_left": left,
                    "sla": "-" if left is None else ("red" if left < 0 else "amber" if left < 30 else "green")})
    return out


def detail(ticket: str, role: str | None, *, agency: str | None = None) -> dict:
    """One report for a console; with `agency` (an agency officer's) only a report forwarded to that agency
    and still held by it (NotFound otherwise, as for a missing ticket)."""
    with services().reads() as s:
        report = s.scalar(select(Report).where(Report.ticket == ticket_of(ticket)))
        if report is None or (agency is not None and (report.agency_code != agency or not holds(s, report.id, agency))):
            raise report_not_found(ticket)
        identities = []
        history = []
        if report.citizen_id is not None:
            identities = [(k, contact(k, v, role)) for k, v in s.execute(
                select(CitizenIdentity.kind, CitizenIdentity.value)
                .where(CitizenIdentity.citizen_id == report.citizen_id)).all()]
            if agency is None:
                history = [{"ticket": t, "channel": c, "category": cat or "-", "status": st, "received": wib(at),
                            "text": (tx or "")[:80]}
                           for t, c, cat, st, at, tx in s.execute(
                               select(Report.ticket, Report.channel, Report.category_code, Report.status,
                                      Report.received_at, Report.text)
                               .where(Report.citizen_id == report.citizen_id, Report.id != report.id)
                               .order_by(Report.received_at.desc()).limit(20)).all()]
        thread = conversation(s, report)
        # only our own /media/<id>: a URL a citizen or a client sent is never a link in the console
        attachments = [{"id": a.id, "filename": a.filename, "type": a.content_type,
                        "url": media_url(a.id) if a.path else None,
                        "state": "stored" if a.path else ("pending" if a.path is None else "unavailable")}
                       for a in s.scalars(select(Attachment).where(Attachment.report_id == report.id))]
        clocks = [{"stage": c.stage, "due": wib(c.due_at), "met": wib(c.met_at), "breached": wib(c.breached_at),
                   "paused": c.paused_at is not None, "extended": c.extended_minutes}
                  for c in s.scalars(select(SlaClock).where(SlaClock.report_id == report.id).order_by(SlaClock.id))]
        citizen_name = report.citizen.name if report.citizen is not None else None
        # a role that may not see contacts reads the citizen's words with contacts and names masked
        shown = (lambda value: value) if may_see_contacts(role) else (
            lambda value: mask_text(value, (citizen_name,) if citizen_name else ()) if value else value)
        for m in thread:
            m["body"] = shown(m["body"])
        routing = routing_view(report.routing)
        if routing:  # the engine's explanation quotes the citizen's words ("kelurahan X from 'Kenanga'")
            routing["explanation"] = shown(routing["explanation"])
        return {
            "ticket": report.ticket, "status": report.status, "kind": report.kind, "priority": report.priority,
            "category": report.category_code, "agency": report.agency_code, "channel": report.channel,
            "text": shown(report.text), "received": wib(report.received_at),
            "claimed": report.claimed_at.astimezone(WIB).strftime("%d/%m/%Y %H:%M") if report.claimed_at else "",
            "location_text": shown(report.location_text),
            "lat": report.lat, "lon": report.lon, "kecamatan": report.kecamatan, "kelurahan": report.kelurahan_code,
            "citizen_name": citizen_name if role in ("admin", "operator", "supervisor") else None,
            "identities": identities, "history": history, "thread": thread, "attachments": attachments,
            "clocks": clocks, "routing": routing, "transfer_count": report.transfer_count,
            "resolution_note": shown(report.resolution_note), "is_demo": report.is_demo,
        }


def conversation(s, report: Report) -> list[dict]:
    """The report's conversation in order: the citizen's first message (the report itself), then every
    message in and out (messages), each outbound one with its delivery state from the outbox."""
    delivery = {}
    for at, body, status, delivered in s.execute(
            select(OutboxMessage.created_at, OutboxMessage.body, OutboxMessage.status, OutboxMessage.delivery_status)
            .where(OutboxMessage.report_id == report.id)):
        delivery[(at, body)] = delivered or status
    thread = [{"id": None, "direction": "in", "channel": report.channel, "author": None, "body": report.text or "",
               "at": wib(report.received_at), "delivery": None}]
    for m in s.scalars(select(Message).where(Message.report_id == report.id).order_by(Message.at, Message.id)):
        thread.append({"id": m.id, "direction": m.direction, "channel": m.channel, "author": m.author,
                       "body": m.body, "at": wib(m.at),
                       "delivery": delivery.get((m.at, m.body)) if m.direction == "out" else None})
    return thread


def routing_view(routing) -> dict:
    """The routing engine's proposal, read defensively (it may be absent or shaped differently)."""
    if not isinstance(routing, dict):
        return {}
    suggestions = routing.get("suggestions")
    if isinstance(suggestions, dict):
        suggestions = [{"field": k, "value": v} for k, v in suggestions.items()]
    if not isinstance(suggestions, list):
        suggestions = []
    dups = routing.get("duplicates") or routing.get("duplicate_of") or []
    if not isinstance(dups, list):
        dups = [dups]
    confidence = routing.get("confidence")
    explanation = routing.get("explanation") or ""
    if isinstance(explanation, (list, tuple)):
        explanation = "; ".join(str(e) for e in explanation)
    return {"confidence": confidence if isinstance(confidence, (int, float)) else None,
            "suggestions": category_suggestions(suggestions[:10]),
            "duplicates": [d if isinstance(d, dict) else {"ticket": str(d)} for d in dups][:10],
            "explanation": str(explanation)[:1000],
            "agency": routing.get("agency"), "category": routing.get("category")}


def category_suggestions(suggestions: list) -> list[dict]:
    """The engine's ranked [category, score] pairs as {code, score, relative}: `relative` is the score as a
    share of the best one (scores are keyword weights, not probabilities). Other shapes pass through."""
    out = []
    for item in suggestions:
        if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], (int, float)):
            out.append({"code": str(item[0]), "score": float(item[1])})
        else:
            out.append(item if isinstance(item, dict) else {"value": item})
    top = max((x["score"] for x in out if "score" in x), default=0.0)
    for x in out:
        if "score" in x:
            x["relative"] = x["score"] / top if top > 0 else 0.0
    return out


def timeline(ticket: str) -> list[dict]:
    try:
        ticket = ticket_of(ticket)
    except NotFound:
        return []
    with services().reads() as s:
        report_id = s.scalar(select(Report.id).where(Report.ticket == ticket))
        if report_id is None:
            return []
        rows = s.scalars(select(Event).where(Event.report_id == report_id).order_by(Event.id)).all()
        return [{"at": wib(e.at), "type": e.type, "actor": e.actor, "role": e.actor_role,
                 "change": _change(e.before, e.after), "reason": e.reason or ""} for e in rows]


def _change(before, after) -> str:
    before, after = before or {}, after or {}
    keys = [k for k in after if k in before] or list(after)
    return "; ".join(f"{k}: {before.get(k, '')} → {after.get(k)}" if k in before else f"{k}: {after.get(k)}"
                     for k in keys[:6])


def breaches_of(ticket: str) -> list[dict]:
    try:
        ticket = ticket_of(ticket)
    except NotFound:
        return []
    with services().reads() as s:
        rows = s.execute(select(SlaBreach).join(Report, Report.id == SlaBreach.report_id)
                         .where(Report.ticket == ticket).order_by(SlaBreach.id)).scalars().all()
        return [{"stage": b.stage, "level": b.level, "due": wib(b.due_at), "code": b.explanation_code or "",
                 "explanation": b.explanation or ""} for b in rows]


def pending_extensions(agency: str | None = None) -> list[dict]:
    with services().reads() as s:
        query = (select(ExtensionRequest, Report.ticket).join(Report, Report.id == ExtensionRequest.report_id)
                 .where(ExtensionRequest.status == "pending").order_by(ExtensionRequest.requested_at))
        if agency:
            query = query.where(ExtensionRequest.agency_code == agency)
        return [{"id": r.id, "ticket": ticket, "stage": r.stage, "minutes": r.minutes, "code": r.reason_code,
                 "reason": r.reason, "by": r.requested_by, "agency": r.agency_code, "at": wib(r.requested_at)}
                for r, ticket in s.execute(query).all()]
