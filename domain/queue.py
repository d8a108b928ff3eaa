"""The unified queue: submit reports idempotently, claim them for triage, list and find them.

Lifecycle changes live in `domain.workflow`; this module owns intake and reading.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Protocol, Sequence

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from domain import clocks, tracking
from domain.actors import SYSTEM, Actor
from domain.citizens import pairs_in, resolve_citizens
from domain.clock import WIB, Clock, isoformat, utcnow
from domain.events import record
from domain.intake import IncomingReport
from domain.lifecycle import FINAL_STATUSES, OPEN_STATUSES, Kind, Role, Status, ValidationError, report_not_found, ticket_of
from domain.models import Agency, Attachment, Category, Citizen, Event, Report, SlaClock, TicketCounter
from domain.sla import SlaBook

TRIAGE_AGENCY = "UPT_PRK"
DEFAULT_PRIORITY = "P3"
BATCH = 500


@dataclass(frozen=True)
class RoutingDecision:
    """What a classifier proposes for a new report (see routing/)."""

    kind: str | None = None
    category: str | None = None
    priority: str | None = None
    agency: str | None = None
    kelurahan_code: str | None = None
    kecamatan: str | None = None
    confidence: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Classifier(Protocol):
    def route(self, incoming: IncomingReport) -> RoutingDecision | None:
        """Propose kind, category, priority, agency and location for a new report."""


# Called inside the transaction of every recorded change: (session, report, event_type, details).
Listener = Callable[[Session, Report, str, dict], None]


@dataclass(frozen=True)
class Submitted:
    report: Report
    created: bool


@dataclass(frozen=True)
class Page:
    items: list[Report]
    total: int
    page: int
    per_page: int


class QueueService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        sla: SlaBook,
        *,
        clock: Clock = utcnow,
        ticket_prefix: str = "TLR",
        classifier: Classifier | None = None,
        listeners: Sequence[Listener] = (),
    ):
        self.sessions = sessions
        self.sla = sla
        self.clock = clock
        self.ticket_prefix = ticket_prefix
        self.classifier = classifier
        self.listeners: list[Listener] = list(listeners)
        self._categories: dict[str, Category] | None = None
        self._agencies: set[str] | None = None

    # ------------------------------------------------------------ reference data
    def refresh_reference(self) -> None:
        with self.sessions() as s:
            self._categories = {c.code: c for c in s.scalars(select(Category))}
            self._agencies = set(s.scalars(select(Agency.code).where(Agency.active)))

    @property
    def categories(self) -> dict[str, Category]:
        if self._categories is None:
            self.refresh_reference()
        return self._categories

    @property
    def agencies(self) -> set[str]:
        if self._agencies is None:
            self.refresh_reference()
        return self._agencies

    def notify(self, session: Session, report: Report, event_type: str, details: dict) -> None:
        for listener in self.listeners:
            listener(session, report, event_type, details)

    def notify_received(self, session: Session, reports: Sequence[Report]) -> None:
        """The "received" of the reports one transaction created: each listener in turn takes them all, in
        order; one with a `received_many(session, reports)` method takes them in one call (to share its
        look-ups), the others one by one as `notify` calls them."""
        for listener in self.listeners:
            many = getattr(listener, "received_many", None)
            if many is not None:
                many(session, list(reports))
            else:
                for report in reports:
                    listener(session, report, "received", {})

    # ------------------------------------------------------------ intake
    def submit(self, incoming: IncomingReport, actor: Actor = SYSTEM) -> Submitted:
        """Store a report; the same channel message again returns the stored one (created=False)."""
        return self.submit_many([incoming], actor)[0]

    def submit_many(self, items: Sequence[IncomingReport], actor: Actor = SYSTEM, *,
                    before_commit: Callable[[Session, list[Submitted]], None] | None = None) -> list[Submitted]:
        """Store many reports in one transaction per batch of 500; idempotent per (channel, external_id).
        `before_commit(session, submitted)` runs in each batch's transaction after the listeners, with
        that batch's results (the staging inbox marks its rows there, in the reports' transaction)."""
        results: list[Submitted] = []
        for start in range(0, len(items), BATCH):
            chunk = items[start:start + BATCH]
            for attempt in range(3):
                try:
                    results.extend(self._submit_batch(chunk, actor, before_commit))
                    break
                except IntegrityError:
                    # A concurrent writer stored one of these messages or identities first: read again.
                    if attempt == 2:
                        raise
        return results

    def _submit_batch(self, items: Sequence[IncomingReport], actor: Actor,
                      before_commit: Callable[[Session, list[Submitted]], None] | None = None) -> list[Submitted]:
        """One transaction: set-based look-ups and inserts (the ORM only loads the results)."""
        now = self.clock()
        decided = [self._decide(item) for item in items]
        with self.sessions.begin() as s:
            keys = list({(i.channel, i.external_id) for i in items})
            existing = {(ch, ext): rid for rid, ch, ext in s.execute(
                select(Report.id, Report.channel, Report.external_id)
                .where(pairs_in(Report.channel, Report.external_id, keys)))}
            fresh: dict[tuple[str, str], tuple[IncomingReport, dict]] = {}
            for item, decision in zip(items, decided):
                key = (item.channel, item.external_id)
                if key not in existing:
                    fresh.setdefault(key, (item, decision))
            created_ids: dict[tuple[str, str], int] = {}
            if fresh:
                created_ids = self._insert_reports(s, list(fresh.values()), now, actor)
            ids = {**existing, **created_ids}
            reports = {r.id: r for r in s.scalars(
                select(Report).where(Report.id.in_(list(ids.values()))).options(selectinload(Report.clocks)))}
            self.notify_received(s, [reports[rid] for rid in created_ids.values()])
            results, seen = [], set()
            for item in items:
                key = (item.channel, item.external_id)
                # a message repeated inside one batch is created once
                results.append(Submitted(reports[ids[key]], key in created_ids and key not in seen))
                seen.add(key)
            if before_commit is not None:
                before_commit(s, results)
            return results

    def _insert_reports(self, s: Session, fresh: list[tuple[IncomingReport, dict]], now: datetime,
                        actor: Actor) -> dict[tuple[str, str], int]:
        citizen_ids = resolve_citizens(s, [i.citizen for i, _ in fresh], now, actor,
                                       is_demo=all(i.is_demo for i, _ in fresh))
        tickets = self._allocate_tickets(s, now, len(fresh))
        rows = []
        for (item, d), ticket, citizen_id in zip(fresh, tickets, citizen_ids):
            loc = item.location
            rows.append(dict(
                ticket=ticket, channel=item.channel, external_id=item.external_id, kind=d["kind"],
                category_code=d["category"], priority=d["priority"], agency_code=d["agency"],
                status=Status.NEW.value, text=item.text, text_raw=item.text_raw,
                location_text=loc.text if loc else None, lat=loc.lat if loc else None,
                lon=loc.lon if loc else None, kelurahan_code=d["kelurahan_code"], kecamatan=d["kecamatan"],
                raw_payload=item.raw_payload, citizen_id=citizen_id,
                sla_policy_set=self.sla.policy_set_for(item.channel), received_at=item.received_at,
                claimed_at=item.claimed_at, created_at=now, updated_at=now, transfer_count=0, needs_supervisor=False,
                routing=d["routing"], is_demo=item.is_demo, tracking_code=tracking.new_code(),
            ))
        # Plain executemany (RETURNING in parameter order is row by row on SQLite); tickets map ids back.
        s.execute(insert(Report.__table__), rows)
        by_ticket = dict(s.execute(select(Report.ticket, Report.id).where(Report.ticket.in_(tickets))).all())
        report_ids = [by_ticket[row["ticket"]] for row in rows]
        clock_rows, attachment_rows, event_rows = [], [], []
        for (item, d), row, rid in zip(fresh, rows, report_ids):
            for stage in ("acknowledge", "resolve"):
                clock_rows.append(clocks.initial_row(rid, stage, row["sla_policy_set"], row["priority"],
                                                     item.received_at, self.sla))
            attachment_rows += [dict(report_id=rid, filename=a.filename, content_type=a.content_type, size=a.size,
                                     sha256=a.sha256, path=a.path, source_url=a.source_url, created_at=now)
                                for a in item.attachments]
            event_rows.append(dict(
                at=now, report_id=rid, citizen_id=row["citizen_id"], actor=actor.name, actor_role=actor.role.value,
                type="received", before=None, reason=None,
                after={"ticket": row["ticket"], "status": row["status"], "kind": row["kind"],
                       "category": row["category_code"], "priority": row["priority"],
                       "agency": row["agency_code"], "channel": row["channel"]}))
        s.execute(insert(SlaClock.__table__), clock_rows)
        if attachment_rows:
            s.execute(insert(Attachment.__table__), attachment_rows)
        s.execute(insert(Event.__table__), event_rows)
        return {(item.channel, item.external_id): rid for (item, _), rid in zip(fresh, report_ids)}

    def _decide(self, item: IncomingReport) -> dict:
        """Validate reference codes and fill kind, category, priority and agency (router or defaults)."""
        categories, agencies = self.categories, self.agencies
        if item.category and item.category not in categories:
            raise ValidationError("category", f"unknown category code {item.category!r}")
        if item.agency and item.agency not in agencies:
            raise ValidationError("agency", f"unknown agency code {item.agency!r}")
        decision = None
        if self.classifier is not None and not (item.category and item.kind):
            decision = self.classifier.route(item)
        category_code = item.category or (decision.category if decision else None)
        category = categories.get(category_code) if category_code else None
        if category is None:
            category_code = None
        kind = item.kind or (decision.kind if decision and decision.kind else None)
        if kind is None:
            kind = Kind.EMERGENCY if category is not None and category.emergency else Kind.COMPLAINT
        priority = (
            item.priority
            or (decision.priority if decision and decision.priority else None)
            or (category.priority if category else DEFAULT_PRIORITY)
        )
        agency = (
            item.agency
            or (decision.agency if decision and decision.agency in agencies else None)
            or (category.agency_code if category else TRIAGE_AGENCY)
        )
        return {
            "kind": str(kind), "category": category_code, "priority": priority, "agency": agency,
            "kelurahan_code": decision.kelurahan_code if decision else None,
            "kecamatan": decision.kecamatan if decision else None,
            "routing": ({"confidence": decision.confidence, **decision.details} if decision else item.routing),
        }

    def _allocate_tickets(self, s: Session, now: datetime, count: int) -> list[str]:
        """Reserve `count` consecutive numbers of this year's counter in one statement."""
        if count == 0:
            return []
        year = now.astimezone(WIB).year
        dialect = s.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        stmt = upsert(TicketCounter).values(year=year, value=count)
        stmt = stmt.on_conflict_do_update(
            index_elements=[TicketCounter.year], set_={"value": TicketCounter.value + count}
        ).returning(TicketCounter.value)
        last = s.execute(stmt).scalar_one()
        return [f"{self.ticket_prefix}-{year}-{n:06d}" for n in range(last - count + 1, last + 1)]

    # ------------------------------------------------------------ reading
    def get(self, ticket: str) -> Report:
        with self.sessions() as s:
            report = s.scalar(
                select(Report).where(Report.ticket == ticket_of(ticket))
                .options(selectinload(Report.clocks), selectinload(Report.attachments),
                         selectinload(Report.citizen).selectinload(Citizen.identities))
            )
            if report is None:
                raise report_not_found(ticket)
            return report

    def list_reports(
        self,
        *,
        status: Iterable[str] | None = None,
        agency: str | None = None,
        channel: str | None = None,
        category: str | None = None,
        open_only: bool = False,
        actor: Actor | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> Page:
        per_page = max(1, min(per_page, 1000))
        page = max(1, page)
        query = select(Report)
        if actor is not None and actor.role == Role.AGENCY_OFFICER:
            query = query.where(Report.agency_code == actor.agency_code)
        if status:
            query = query.where(Report.status.in_([str(s) for s in status]))
        if open_only:
            query = query.where(Report.status.in_([s.value for s in OPEN_STATUSES]))
        for column, value in ((Report.agency_code, agency), (Report.channel, channel),
                              (Report.category_code, category)):
            if value:
                query = query.where(column == value)
        with self.sessions() as s:
            total = s.scalar(select(func.count()).select_from(query.subquery()))
            items = list(s.scalars(
                query.order_by(Report.received_at.desc(), Report.id.desc())
                .offset((page - 1) * per_page).limit(per_page)
                .options(selectinload(Report.clocks))
            ))
        return Page(items, total or 0, page, per_page)

    def due_before(self, moment: datetime, limit: int = 1000) -> list:
        """Open, unbreached clocks falling due before `moment`, soonest first: rows of (id, report_id,
        stage, due_at) from a range scan of the partial index ix_sla_clocks_open_due."""
        with self.sessions() as s:
            return list(s.execute(
                select(SlaClock.id, SlaClock.report_id, SlaClock.stage, SlaClock.due_at)
                .where(SlaClock.due_at < moment, SlaClock.met_at.is_(None), SlaClock.cancelled_at.is_(None),
                       SlaClock.paused_at.is_(None), SlaClock.breached_at.is_(None))
                .order_by(SlaClock.due_at).limit(limit)
            ))

    def counts(self) -> dict[str, int]:
        """Reports per status, plus open and breached-now totals (for the home page)."""
        with self.sessions() as s:
            by_status = dict(s.execute(select(Report.status, func.count()).group_by(Report.status)).all())
            now = self.clock()
            breached = s.scalar(
                select(func.count(func.distinct(SlaClock.report_id))).where(
                    SlaClock.met_at.is_(None), SlaClock.cancelled_at.is_(None),
                    or_(SlaClock.breached_at.is_not(None), SlaClock.due_at < now),
                )
            )
        counts = {status.value: by_status.get(status.value, 0) for status in Status}
        counts["open"] = sum(by_status.get(s.value, 0) for s in OPEN_STATUSES)
        counts["breached"] = breached or 0
        return counts

    # ------------------------------------------------------------ triage claims
    def claim_next(self, operator: Actor, lease: timedelta = timedelta(minutes=10)) -> Report | None:
        """Hand the most urgent unclaimed NEW report to one operator; never the same one to two at once."""
        now = self.clock()
        candidate = (
            select(Report.id)
            .join(SlaClock, (SlaClock.report_id == Report.id) & (SlaClock.stage == "acknowledge"))
            .where(Report.status == Status.NEW.value,
                   or_(Report.claimed_until.is_(None), Report.claimed_until < now))
            .order_by(Report.priority, SlaClock.due_at, Report.id)
            .limit(1)
            .with_for_update(of=Report, skip_locked=True)
            .scalar_subquery()
        )
        with self.sessions.begin() as s:
            claimed_id = s.scalar(
                update(Report)
                .where(Report.id == candidate)
                .values(claimed_by=operator.name, claimed_until=now + lease)
                .returning(Report.id)
            )
            if claimed_id is None:
                return None
            report = s.get(Report, claimed_id)
            record(s, report, operator, "claimed", after={"claimed_by": operator.name,
                                                          "claimed_until": isoformat(now + lease)}, at=now)
            return report

    def release(self, ticket: str, operator: Actor) -> None:
        with self.sessions.begin() as s:
            report = s.scalar(select(Report).where(Report.ticket == ticket))
            if report is None:
                raise report_not_found(ticket)
            if report.claimed_by == operator.name:
                report.claimed_by = report.claimed_until = None
                record(s, report, operator, "released", at=self.clock())


def is_final(status: str) -> bool:
    return Status(status) in FINAL_STATUSES


__all__ = ["QueueService", "RoutingDecision", "Submitted", "Page", "Classifier", "TRIAGE_AGENCY"]
