"""What the citizen's tracking page (/lacak/<ticket>?kode=...) and the public before/after photos receive.

`project(session, ticket, code)` is the one projection of a report for the tracking page: it builds a
`TrackingView` of public fields only (ticket, category, agency, status, the resolve deadline, the public
timeline, the agency's resolution note through the contact masker, the agency's evidence photos by
their public reference (only of a report a public surface may show, domain/publicity.py), whether it
may be rated). No Report object, no citizen, no citizen text or
media, no other report leaves this module. A wrong or missing code and an unknown ticket give the same
answer: None.

`before_after(...)` lists recently resolved reports' agency evidence for /public (category, kelurahan,
resolution date, photo references), nothing else, and `photo_file` serves a photo by its reference:
both only of public reports (a public category, never an emergency or a 112 call).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.masking import mask_text
from domain import ratings, tracking
from domain.actors import Actor
from domain.lifecycle import NotFound, Role, Status
from domain.models import Agency, Area, Attachment, Category, Citizen, Event, Report, SlaClock
from domain.publicity import PUBLIC_REPORT, public_report

TICKET = re.compile(r"^[A-Z]{2,5}-\d{4}-\d{1,9}$")
# The six steps a citizen follows, in order, and the recorded changes that reach each.
STEPS = ("received", "verified", "forwarded", "accepted", "in_progress", "resolved")
STEP_OF_EVENT = {"received": "received", "verify": "verified", "assign": "forwarded", "transfer": "forwarded",
                 "reopen": "forwarded", "accept": "accepted", "start": "in_progress", "resolve": "resolved"}
# Which step a status has reached (WAITING_CITIZEN: the one held before waiting).
STEP_OF_STATUS = {"NEW": "received", "VERIFIED": "verified", "ASSIGNED": "forwarded", "ACCEPTED": "accepted",
                  "IN_PROGRESS": "in_progress", "RESOLVED": "resolved", "CLOSED": "resolved"}
TRACKING_ACTOR = Actor("citizen:tracking-page", Role.CITIZEN)
RATING_CHANNEL = "tracking"


@dataclass(frozen=True)
class Step:
    key: str  # one of STEPS
    at: datetime | None  # when it was last reached (None: not yet)
    done: bool


@dataclass(frozen=True)
class Photo:
    stage: str  # before | after
    ref: str  # the public reference: /foto/<ref>
    at: datetime


@dataclass(frozen=True)
class TrackingView:
    ticket: str
    status: str
    category: str | None
    category_label: tuple[str, str] | None  # (Bahasa Indonesia, English)
    agency: str
    agency_name: str
    received_at: datetime
    due_at: datetime | None  # the resolve deadline
    due_met_at: datetime | None
    paused: bool  # waiting for the citizen: the clock stands still
    steps: tuple[Step, ...]
    resolution_note: str | None  # the agency's note, contacts and the citizen's name masked
    photos: tuple[Photo, ...]
    rateable: bool
    rating: int | None


def normalise_ticket(ticket) -> str | None:
    if not isinstance(ticket, str) or len(ticket) > 32:
        return None
    ticket = ticket.strip().upper()
    return ticket if TICKET.match(ticket) else None


def _report(session: Session, ticket, code, *, for_update: bool = False) -> Report | None:
    """The report only when the ticket is well formed, exists and the code is its code (constant time)."""
    ticket = normalise_ticket(ticket)
    if ticket is None:
        return None
    query = select(Report).where(Report.ticket == ticket)
    report = session.scalar(query.with_for_update() if for_update else query)
    if report is None or not tracking.code_matches(report.tracking_code, code):
        return None
    return report


def project(session: Session, ticket, code) -> TrackingView | None:
    report = _report(session, ticket, code)
    return None if report is None else _view(session, report)


def _view(session: Session, report: Report) -> TrackingView:
    category = session.get(Category, report.category_code) if report.category_code else None
    agency = session.get(Agency, report.agency_code)
    resolve = session.scalar(select(SlaClock).where(SlaClock.report_id == report.id, SlaClock.stage == "resolve"))
    note = None
    if report.resolution_note and report.status in (Status.RESOLVED.value, Status.CLOSED.value):
        name = session.scalar(select(Citizen.name).where(Citizen.id == report.citizen_id)) if report.citizen_id else None
        note = mask_text(report.resolution_note, (name,) if name else ())
    photos = tuple(Photo(stage, ref, at) for stage, ref, at in session.execute(
        select(Attachment.evidence_stage, Attachment.public_ref, Attachment.created_at)
        .where(Attachment.report_id == report.id, Attachment.evidence_stage.is_not(None),
               Attachment.public_ref.is_not(None))
        .order_by(Attachment.created_at, Attachment.id))) if public_report(session, report.id) else ()
    return TrackingView(
        ticket=report.ticket, status=report.status, category=report.category_code,
        category_label=(category.label_id, category.label_en) if category else None,
        agency=report.agency_code, agency_name=agency.name if agency else report.agency_code,
        received_at=report.received_at, due_at=resolve.due_at if resolve else None,
        due_met_at=resolve.met_at if resolve else None,
        paused=bool(resolve and resolve.paused_at is not None and resolve.met_at is None),
        steps=_steps(session, report), resolution_note=note, photos=photos,
        rateable=ratings.rateable(report), rating=report.satisfaction)


def _steps(session: Session, report: Report) -> tuple[Step, ...]:
    """Each step with the time it was last reached; a step counts as done up to the status's step (a
    reopened report is forwarded again: its later steps are open again)."""
    reached: dict[str, datetime] = {}
    for kind, at in session.execute(select(Event.type, Event.at).where(
            Event.report_id == report.id, Event.type.in_(list(STEP_OF_EVENT))).order_by(Event.id)):
        reached[STEP_OF_EVENT[kind]] = at
    status = report.status_before_wait if report.status == Status.WAITING_CITIZEN.value else report.status
    current = STEP_OF_STATUS.get(status or "")
    upto = STEPS.index(current) if current else 0
    return tuple(Step(key, reached.get(key) if i <= upto else None, i <= upto) for i, key in enumerate(STEPS))


def rate(sessions, ticket, code, score, comment, now: datetime) -> TrackingView:
    """Record the citizen's rating from the tracking page (domain/ratings.py, as the survey answer is);
    a wrong code is NotFound, exactly like an unknown ticket."""
    with sessions.begin() as s:
        report = _report(s, ticket, code, for_update=True)
        if report is None:
            raise NotFound("no such report")
        ratings.rate(s, report, TRACKING_ACTOR, score, channel=RATING_CHANNEL, now=now, comment=comment)
        return _view(s, report)


# ---------------------------------------------------------------- /public: before and after
@dataclass(frozen=True)
class BeforeAfter:
    category_label: tuple[str, str] | None
    kelurahan: str | None
    kecamatan: str | None
    resolved_at: datetime
    before: tuple[str, ...]  # public photo references
    after: tuple[str, ...]


def before_after(session: Session, now: datetime, *, days: int = 30, limit: int = 6) -> list[BeforeAfter]:
    """The most recently resolved reports (within `days`) that have agency evidence: where and what, when
    it was resolved, and the photos' public references. No ticket, no text, no note, no citizen."""
    recent = (select(Report.id).join(Attachment, Attachment.report_id == Report.id)
              .join(Category, Category.code == Report.category_code)
              .where(PUBLIC_REPORT, Report.resolved_at >= now - timedelta(days=days),
                     Report.status.in_((Status.RESOLVED.value, Status.CLOSED.value)),
                     Attachment.evidence_stage.is_not(None), Attachment.public_ref.is_not(None))
              .group_by(Report.id).order_by(func.max(Report.resolved_at).desc(), Report.id.desc()).limit(limit))
    ids = list(session.scalars(recent))
    if not ids:
        return []
    rows = {r.id: r for r in session.execute(
        select(Report.id, Report.resolved_at, Category.label_id, Category.label_en, Area.kelurahan,
               Report.kecamatan)
        .outerjoin(Category, Category.code == Report.category_code)
        .outerjoin(Area, Area.kode == Report.kelurahan_code).where(Report.id.in_(ids)))}
    photos: dict[int, dict[str, list[str]]] = {i: {"before": [], "after": []} for i in ids}
    for rid, stage, ref in session.execute(
            select(Attachment.report_id, Attachment.evidence_stage, Attachment.public_ref)
            .where(Attachment.report_id.in_(ids), Attachment.evidence_stage.in_(("before", "after")),
                   Attachment.public_ref.is_not(None)).order_by(Attachment.created_at, Attachment.id)):
        photos[rid][stage].append(ref)
    out = []
    for rid in ids:
        r = rows[rid]
        out.append(BeforeAfter((r.label_id, r.label_en) if r.label_id else None, r.kelurahan, r.kecamatan,
                               r.resolved_at, tuple(photos[rid]["before"]), tuple(photos[rid]["after"])))
    return out


def photo_file(session: Session, ref) -> tuple[str, str, str] | None:
    """(path, content type, file name) of the agency evidence photo named `ref`; None for anything else
    (a citizen's media has no reference, and a citizen's file is never looked up by one)."""
    if not isinstance(ref, str) or not 8 <= len(ref) <= 64:
        return None
    row = session.execute(select(Attachment.path, Attachment.content_type, Attachment.filename)
                          .join(Report, Report.id == Attachment.report_id)
                          .join(Category, Category.code == Report.category_code)
                          .where(Attachment.public_ref == ref, Attachment.evidence_stage.in_(("before", "after")),
                                 PUBLIC_REPORT)).first()
    return None if row is None or not row.path else (row.path, row.content_type, row.filename)
