"""What the console pages do beyond the lifecycle (which is domain.workflow): manual intake, 112 calls,
replies through the outbox, splitting a conversation, evidence, extension requests, delay explanations.
Each is one transaction that also appends to the event log."""
from __future__ import annotations

import re
import secrets
import uuid

from sqlalchemy import select

from dashboard.context import services
from dashboard.queries import OPEN
from domain import scope
from domain.actors import Actor
from domain.events import record
from domain.intake import HANDLE_KINDS, VOUCHING_CHANNELS, CitizenInfo, IncomingReport
from domain.lifecycle import DomainError, NotFound, TransitionError, ValidationError, report_not_found, ticket_of
from domain.models import Attachment, Citizen, CitizenIdentity, ExtensionRequest, Message, Report, SlaBreach
from ingest.base import reply_route_of
from ingest.media import image_type, store_bytes
from ingest.outbox import answer_payload, enqueue

MANUAL_CHANNELS = ("walk_in", "phone", "letter")
REASON_CODES = ("waiting_material", "weather", "third_party", "workload", "wrong_agency", "access_blocked", "other")
TEMPLATES = {
    "thanks": "Terima kasih, laporan {ticket} sudah kami terima dan sedang kami tindak lanjuti.",
    "forwarded": "Laporan {ticket} sudah diteruskan ke perangkat daerah terkait.",
    "need_location": "Mohon kirim lokasi yang lebih jelas (alamat, RT/RW atau titik peta) untuk laporan {ticket}.",
    "done": "Laporan {ticket} sudah selesai ditangani. Terima kasih atas partisipasi Anda.",
}
EVIDENCE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
EVIDENCE_STAGES = ("before", "after")


def _find(s, ticket: str) -> Report:
    report = s.scalar(select(Report).where(Report.ticket == ticket_of(ticket)))
    if report is None:
        raise report_not_found(ticket)
    return report


def _scope(s, report: Report, actor: Actor) -> None:
    """An agency officer acts only on reports forwarded to their agency (domain.scope)."""
    scope.check_officer(s, report, actor)


def submit_manual(actor: Actor, channel: str, text: str, *, name: str | None = None, phone: str | None = None,
                  location: str | None = None, kind: str | None = None) -> Report:
    """A walk-in, phone or letter report typed in by an operator."""
    if channel not in MANUAL_CHANNELS + ("call112",):
        raise ValidationError("channel", f"manual reports come from {', '.join(MANUAL_CHANNELS)}")
    svc = services()
    incoming = IncomingReport.from_dict({
        "channel": channel, "external_id": f"{channel}-{uuid.uuid4()}", "text": text or "",
        "received_at": svc.queue.clock().isoformat(),
        "citizen": {"name": name or None, "phone": phone or None},
        "location": {"text": location} if location else None, "kind": kind or None,
    })
    return svc.queue.submit(incoming, actor).report


def start_call(actor: Actor, phone: str | None, location: str | None, text: str) -> Report:
    """A 112 call the call-taker is on: an emergency report, and `call_started` for the wall."""
    report = submit_manual(actor, "call112", text or "panggilan 112 berlangsung", phone=phone, location=location,
                           kind="EMERGENCY")
    with services().sessions.begin() as s:
        record(s, s.get(Report, report.id), actor, "call_started", at=services().queue.clock())
    return report


def end_call(actor: Actor, ticket: str, summary: str | None) -> None:
    with services().sessions.begin() as s:
        record(s, _find(s, ticket), actor, "call_ended", reason=summary or None, at=services().queue.clock())


def reply(actor: Actor, ticket: str, body: str) -> None:
    """A reply to the citizen: the conversation row, and an outbox message the channel worker delivers."""
    body = (body or "").strip()
    if not body:
        raise ValidationError("reply", "the reply is empty")
    now = services().queue.clock()
    with services().sessions.begin() as s:
        report = _find(s, ticket)
        _scope(s, report, actor)
        body = body.replace("{ticket}", report.ticket)
        route = _reply_route(s, report)
        if route is not None:  # the `reply` template outside WhatsApp's 24-hour window
            payload = answer_payload(s, report, route, {"ticket": report.ticket, "body": body})
            enqueue(s, channel=route["channel"], recipient=route["to"], body=body, subject=f"Laporan {report.ticket}",
                    template="reply", report=report, now=now, payload=payload, author=actor.name)
        else:
            s.add(Message(report_id=report.id, direction="out", channel=report.channel, external_id=None,
                          author=actor.name, body=body, at=now))
        record(s, report, actor, "replied", after={"queued": route is not None}, reason=body[:500], at=now)


def _reply_route(s, report: Report) -> dict | None:
    """Where a reply goes: back the way the report came (the adapter's route: WhatsApp's `whatsapp:+62..`,
    the email thread), else the citizen's address for the report's channel or phone (None: nowhere)."""
    route = reply_route_of(report)
    if route is not None or report.citizen_id is None:
        return route
    ids = dict(s.execute(select(CitizenIdentity.kind, CitizenIdentity.value)
                         .where(CitizenIdentity.citizen_id == report.citizen_id)).all())
    recipient = ids.get("email") if report.channel == "email" else ids.get(report.channel) or ids.get("phone")
    return {"channel": report.channel, "to": recipient} if recipient else None


def split(actor: Actor, ticket: str, message_id: int) -> Report:
    """Make one later message of a conversation its own report (a second problem in the same chat): a new
    report from the same citizen and channel, routed on the message's own text; the message moves to it.
    Safe to repeat after a crash (the new report's id is the message's); a message already split off is
    refused with a clear error."""
    if actor.role.value not in ("operator", "supervisor", "admin"):
        raise TransitionError("only the control room splits a conversation")
    svc = services()
    with svc.reads() as s:
        report = _find(s, ticket)
        message = s.get(Message, _message_id(message_id))
        if message is None or message.report_id != report.id or message.direction != "in":
            raise ValidationError("message", f"pick an incoming message of {report.ticket} (#id in the conversation)")
        citizen = s.get(Citizen, report.citizen_id) if report.citizen_id else None
        ids = dict(s.execute(select(CitizenIdentity.kind, CitizenIdentity.value)
                             .where(CitizenIdentity.citizen_id == report.citizen_id)).all()) if citizen else {}
        handle_kind = HANDLE_KINDS.get(report.channel)
        incoming = IncomingReport(
            channel=report.channel, external_id=f"split-{message.id}", text=message.body, received_at=message.at,
            citizen=CitizenInfo(name=citizen.name if citizen else None, phone=ids.get("phone"), email=ids.get("email"),
                                handle=ids.get(handle_kind) if handle_kind else None, handle_kind=handle_kind,
                                verified=report.channel in VOUCHING_CHANNELS))
    new = svc.queue.submit(incoming, actor).report
    now = svc.queue.clock()
    with svc.sessions.begin() as s:
        moved = s.get(Message, message.id)
        if moved.report_id == report.id:
            moved.report_id = new.id
        record(s, _find(s, ticket), actor, "split", after={"new_ticket": new.ticket, "message_id": message.id}, at=now)
        record(s, s.get(Report, new.id), actor, "split_from", after={"ticket": report.ticket, "message_id": message.id},
               at=now)
    return new


def _message_id(value) -> int:
    try:
        return int(str(value).strip().lstrip("#"))
    except (TypeError, ValueError):
        raise ValidationError("message", f"{value!r} is not a message number") from None


# ------------------------------------------------------------ incidents (a flood: many reports, one event)
INCIDENT_ACTIONS = ("merge", "forward", "close")


def incident(alert_id: int, session=None) -> dict:
    """An incident alert with its reports, for the console (in `session`, else in a read session of its own)."""
    from routing.incidents import alert_reports

    if session is None:
        with services().reads() as s:
            return incident(alert_id, s)
    alert, reports = alert_reports(session, int(alert_id))
    if alert is None:
        raise NotFound(f"no incident alert #{alert_id}")
    return {"id": alert.id, "category": alert.category_code, "kelurahan": alert.kelurahan_code,
            "status": alert.status, "reports": [
                {"ticket": r.ticket, "status": r.status, "priority": r.priority, "channel": r.channel,
                 "text": (r.text or "")[:80]} for r in reports]}


def handle_incident(actor: Actor, alert_id: int, action: str) -> dict:
    """One decision for a whole incident: `merge` every other open report into the oldest open one (one
    incident, one ticket for the agency, every reporter answered at its resolution), `forward` every report
    still NEW or VERIFIED to its agency, or `close` the alert. Each report changes through the workflow
    (its own event, its own citizen message); a report that cannot change is reported back, not forced.
    Returns {"done": [tickets], "skipped": [(ticket, reason)], "into": ticket or None}."""
    if actor.role.value not in ("operator", "supervisor", "admin"):
        raise TransitionError("only the control room handles an incident")
    if action not in INCIDENT_ACTIONS:
        raise ValidationError("action", f"one of {', '.join(INCIDENT_ACTIONS)}")
    svc = services()
    if action == "close":
        from routing.incidents import close_incident

        with svc.sessions.begin() as s:
            if not close_incident(s, int(alert_id), svc.queue.clock()):
                raise ValidationError("incident", f"incident alert #{alert_id} is not open")
            record(s, None, actor, "incident_closed", after={"alert_id": int(alert_id)}, at=svc.queue.clock())
        return {"done": [], "skipped": [], "into": None}
    reports = incident(alert_id)["reports"]
    open_ones = [r for r in reports if r["status"] in OPEN]
    done, skipped, into = [], [], None
    if action == "merge":
        if not open_ones:
            raise ValidationError("incident", "no open report in this incident")
        into = open_ones[0]["ticket"]
        targets = open_ones[1:]
    else:
        targets = [r for r in reports if r["status"] in ("NEW", "VERIFIED")]
    for r in targets:
        try:
            if action == "merge":
                svc.workflow.merge(r["ticket"], actor, into, reason=f"insiden #{alert_id}")
            elif r["status"] == "NEW":
                svc.workflow.verify_and_assign(r["ticket"], actor, reason=f"insiden #{alert_id}")
            else:
                svc.workflow.assign(r["ticket"], actor, None, f"insiden #{alert_id}")
            done.append(r["ticket"])
        except (DomainError, ValueError) as exc:
            skipped.append((r["ticket"], str(exc)))
    return {"done": done, "skipped": skipped, "into": into}


def add_evidence(actor: Actor, ticket: str, filename: str, content_type: str, data: bytes,
                 stage: str = "after") -> None:
    """An agency's photo of its work, taken `before` or `after` it: the citizen's tracking page and the
    public page show it by its own unguessable reference (attachments.public_ref, /foto/<ref>).
    Everything is checked before a byte is written: the role and the report's agency (domain.scope),
    the stage, the declared type, the size, and that the bytes are that kind of image."""
    settings = services().settings
    if actor.role.value not in ("agency_officer", "supervisor", "admin"):
        raise TransitionError(f"role {actor.role.value} does not add evidence")
    if stage not in EVIDENCE_STAGES:
        raise ValidationError("evidence", "a photo is taken before or after the work")
    if content_type not in EVIDENCE_TYPES:
        raise ValidationError("evidence", "a photo is JPEG, PNG or WebP")
    if len(data) > settings.max_attachment_bytes:
        raise ValidationError("evidence", f"the file is over {settings.max_attachment_bytes} bytes")
    if not data or image_type(data) != content_type:
        raise ValidationError("evidence", f"the file is not a {content_type.split('/')[1].upper()} image")
    now = services().queue.clock()
    with services().sessions.begin() as s:
        report = _find(s, ticket)
        _scope(s, report, actor)
        # only now, inside the transaction that records it: a refused upload never reaches the disk
        path, digest = store_bytes(settings.attachments_dir, data, content_type, f"x{EVIDENCE_TYPES[content_type]}",
                                   folder="evidence")
        safe_name = re.sub(r"[^\w.-]", "_", filename or "bukti")[:200]
        s.add(Attachment(report_id=report.id, filename=safe_name, content_type=content_type, size=len(data),
                         sha256=digest, path=path, created_at=now, evidence_stage=stage,
                         public_ref=secrets.token_urlsafe(16)))
        record(s, report, actor, "evidence_added", after={"filename": safe_name, "sha256": digest, "stage": stage},
               at=now)


def note_progress(actor: Actor, ticket: str, note: str) -> None:
    note = (note or "").strip()
    if not note:
        raise ValidationError("note", "write what was done")
    with services().sessions.begin() as s:
        report = _find(s, ticket)
        _scope(s, report, actor)
        record(s, report, actor, "progress", reason=note[:2000], at=services().queue.clock())


def request_extension(actor: Actor, ticket: str, stage: str, minutes: int, reason_code: str, reason: str) -> None:
    if stage not in ("dispatch", "resolve"):
        raise ValidationError("stage", "dispatch or resolve")
    if reason_code not in REASON_CODES:
        raise ValidationError("reason_code", f"one of {', '.join(REASON_CODES)}")
    if not isinstance(minutes, int) or not 0 < minutes <= 60 * 24 * 14:
        raise ValidationError("minutes", "between 1 minute and 14 days")
    if not (reason or "").strip():
        raise ValidationError("reason", "a reason is required")
    now = services().queue.clock()
    with services().sessions.begin() as s:
        report = _find(s, ticket)
        _scope(s, report, actor)
        s.add(ExtensionRequest(report_id=report.id, stage=stage, minutes=minutes, reason_code=reason_code,
                               reason=reason.strip(), requested_by=actor.name, agency_code=report.agency_code,
                               requested_at=now, status="pending"))
        record(s, report, actor, "extension_requested", after={"stage": stage, "minutes": minutes,
                                                              "reason_code": reason_code}, reason=reason, at=now)


def decide_extension(actor: Actor, request_id: int, approve: bool, note: str | None) -> None:
    """A supervisor's decision; approval moves the deadline through Workflow.extend_deadline."""
    if actor.role.value not in ("supervisor", "admin"):
        raise TransitionError("only a supervisor decides on extensions")
    svc = services()
    with svc.sessions() as s:
        req = s.get(ExtensionRequest, int(request_id))
        if req is None or req.status != "pending":
            raise ValidationError("request", "no pending extension request with that id")
        ticket = s.get(Report, req.report_id).ticket
        stage, minutes, reason = req.stage, req.minutes, req.reason
    if approve:
        svc.workflow.extend_deadline(ticket, actor, stage, minutes, note or f"disetujui: {reason}")
    with svc.sessions.begin() as s:
        req = s.get(ExtensionRequest, int(request_id))
        if req.status != "pending":
            raise ValidationError("request", "already decided")
        req.status, req.decided_by, req.decided_at = ("approved" if approve else "refused"), actor.name, svc.queue.clock()
        req.decision_note = note
        if not approve:
            record(s, s.get(Report, req.report_id), actor, "extension_refused", reason=note or "-",
                   at=svc.queue.clock())


def explain_breach(actor: Actor, ticket: str, code: str, text: str) -> int:
    """The agency's explanation of its breaches of one report (reason code + free text)."""
    if code not in REASON_CODES:
        raise ValidationError("reason_code", f"one of {', '.join(REASON_CODES)}")
    with services().sessions.begin() as s:
        report = _find(s, ticket)
        _scope(s, report, actor)
        rows = list(s.scalars(select(SlaBreach).where(SlaBreach.report_id == report.id)))
        for row in rows:
            row.explanation_code, row.explanation = code, (text or "").strip() or None
        record(s, report, actor, "breach_explained", after={"code": code}, reason=text, at=services().queue.clock())
        return len(rows)
