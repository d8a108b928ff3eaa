"""Persistent model of the unified queue (SQLAlchemy 2 typed mappings).

The schema changes only through Alembic migrations in `migrations/versions/`.
Every timestamp is stored as UTC (naive in the database, aware in Python).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from domain.clock import UTC, as_utc
from domain.tracking import new_code as new_tracking_code

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the database (same on SQLite and PostgreSQL)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


# ---------------------------------------------------------------- reference data
class Agency(Base):
    __tablename__ = "agencies"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    handles: Mapped[str] = mapped_column(Text, default="")
    duty_phone: Mapped[Optional[str]] = mapped_column(String(32))
    duty_email: Mapped[Optional[str]] = mapped_column(String(200))
    head_email: Mapped[Optional[str]] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Category(Base):
    __tablename__ = "categories"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label_id: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    agency_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    priority: Mapped[str] = mapped_column(String(2))
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # may a public tracker (anonymous Open311) list this category's reports? data/categories.csv `public`;
    # emergency and sensitive topics (crime, social, health) never are
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Area(Base):
    """A kelurahan (Kemendagri code) with its kecamatan and a reference point inside it."""

    __tablename__ = "areas"
    kode: Mapped[str] = mapped_column(String(16), primary_key=True)
    kecamatan: Mapped[str] = mapped_column(String(64), index=True)
    kelurahan: Mapped[str] = mapped_column(String(64))
    postal_code: Mapped[str] = mapped_column(String(8))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    aliases: Mapped[str] = mapped_column(Text, default="")
    boundary_geojson: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)


class SlaPolicy(Base):
    """Targets of one priority within one policy set (`default` runs 7 x 24)."""

    __tablename__ = "sla_policies"
    policy_set: Mapped[str] = mapped_column(String(32), primary_key=True)
    priority: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    acknowledge_minutes: Mapped[int] = mapped_column(Integer)
    dispatch_minutes: Mapped[int] = mapped_column(Integer)
    resolve_minutes: Mapped[int] = mapped_column(Integer)
    calendar: Mapped[str] = mapped_column(String(16), default="24x7")
    meaning: Mapped[str] = mapped_column(Text, default="")


class TicketCounter(Base):
    __tablename__ = "ticket_counters"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer, default=0)


# ---------------------------------------------------------------- citizens
class Citizen(Base):
    __tablename__ = "citizens"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)  # opaque id for exports and links
    name: Mapped[Optional[str]] = mapped_column(String(200))
    created_at: Mapped[datetime]
    merged_into_id: Mapped[Optional[int]] = mapped_column(ForeignKey("citizens.id"))
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    identities: Mapped[list["CitizenIdentity"]] = relationship(back_populates="citizen")


class CitizenIdentity(Base):
    """One way to reach a citizen: kind is phone (E.164), email, or a social handle kind."""

    __tablename__ = "citizen_identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    # vouched for by the channel (the WhatsApp sender, a social account, the 112 caller, authenticated mail);
    # False: typed into a form by whoever filed the report, a contact hint only (domain/citizens.py)
    verified: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    citizen: Mapped[Citizen] = relationship(back_populates="identities")


# ---------------------------------------------------------------- reports
class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_reports_status_agency", "status", "agency_code"),
        # The panels: resolutions in a period, a period's reports from the index alone, ping-pong.
        Index("ix_reports_resolved_at", "resolved_at"),
        Index("ix_reports_received_cover", "received_at", "agency_code", "channel", "status", "category_code",
              "kecamatan"),
        Index("ix_reports_transfer_count", "transfer_count", sqlite_where=text("transfer_count > 2"),
              postgresql_where=text("transfer_count > 2")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))
    category_code: Mapped[Optional[str]] = mapped_column(ForeignKey("categories.code"))
    priority: Mapped[str] = mapped_column(String(2))
    agency_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    status: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    text_raw: Mapped[Optional[bytes]] = mapped_column(LargeBinary)
    location_text: Mapped[Optional[str]] = mapped_column(Text)
    lat: Mapped[Optional[float]] = mapped_column(Float)
    lon: Mapped[Optional[float]] = mapped_column(Float)
    kelurahan_code: Mapped[Optional[str]] = mapped_column(ForeignKey("areas.kode"))
    kecamatan: Mapped[Optional[str]] = mapped_column(String(64))
    raw_payload: Mapped[Optional[dict[str, Any]]]
    citizen_id: Mapped[Optional[int]] = mapped_column(ForeignKey("citizens.id"), index=True)
    sla_policy_set: Mapped[str] = mapped_column(String(32), default="default")
    received_at: Mapped[datetime] = mapped_column(index=True)  # when the control room received it: SLA clocks
    # The time the channel's payload claims (an email's Date:, a provider's timestamp): display only (0012).
    claimed_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    verified_at: Mapped[Optional[datetime]]
    resolved_at: Mapped[Optional[datetime]]
    closed_at: Mapped[Optional[datetime]]
    status_before_wait: Mapped[Optional[str]] = mapped_column(String(20))
    waiting_since: Mapped[Optional[datetime]]
    merged_into_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reports.id"))
    reject_reason: Mapped[Optional[str]] = mapped_column(String(32))
    close_reason: Mapped[Optional[str]] = mapped_column(String(32))
    resolution_note: Mapped[Optional[str]] = mapped_column(Text)
    satisfaction: Mapped[Optional[int]] = mapped_column(Integer)
    transfer_count: Mapped[int] = mapped_column(Integer, default=0)
    needs_supervisor: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_by: Mapped[Optional[str]] = mapped_column(String(64))
    claimed_until: Mapped[Optional[datetime]]
    routing: Mapped[Optional[dict[str, Any]]]
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # the citizen's tracking link (domain/tracking.py; migration 0018_tracking_codes): set for every new
    # report, also by set-based inserts that do not name it
    tracking_code: Mapped[Optional[str]] = mapped_column(String(32), default=new_tracking_code)

    clocks: Mapped[list["SlaClock"]] = relationship(
        back_populates="report", order_by="SlaClock.id", cascade="all, delete-orphan"
    )
    attachments: Mapped[list["Attachment"]] = relationship(back_populates="report", order_by="Attachment.id")
    citizen: Mapped[Optional[Citizen]] = relationship()


class Attachment(Base):
    """Metadata of a file; the bytes live on disk under the attachments folder. `evidence_stage` marks an
    agency's evidence photo ("before" or "after" the work; NULL: the citizen's own media), which alone has
    a `public_ref`: the unguessable name the public photo route serves it by (migration 0018)."""

    __tablename__ = "attachments"
    __table_args__ = (Index("uq_attachments_public_ref", "public_ref", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[Optional[int]] = mapped_column(Integer)
    sha256: Mapped[Optional[str]] = mapped_column(String(64))
    path: Mapped[Optional[str]] = mapped_column(String(500))
    source_url: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime]
    evidence_stage: Mapped[Optional[str]] = mapped_column(String(8))  # before | after | NULL (citizen's)
    public_ref: Mapped[Optional[str]] = mapped_column(String(32))
    report: Mapped[Report] = relationship(back_populates="attachments")


class Message(Base):
    """The conversation of a report: what the citizen sent after the first message, and our replies."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("channel", "direction", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # "in" or "out"
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[Optional[str]] = mapped_column(String(200))
    author: Mapped[Optional[str]] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class Assignment(Base):
    """Which agency held a report, from when, by whose decision and why (history, never edited)."""

    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    agency_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    kind: Mapped[str] = mapped_column(String(16))  # assign | transfer | reopen
    assigned_at: Mapped[datetime]
    assigned_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    ended_at: Mapped[Optional[datetime]]


class SlaClock(Base):
    """One SLA stage of one report. Open = not met, not cancelled; paused while waiting for the citizen."""

    __tablename__ = "sla_clocks"
    __table_args__ = (
        UniqueConstraint("report_id", "stage"),
        # The wall: every open, running clock with what colours it.
        Index("ix_sla_clocks_running", "report_id", "due_at", "warn_at",
              sqlite_where=text("met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL"),
              postgresql_where=text("met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL")),
        Index(
            "ix_sla_clocks_open_due",
            "due_at",
            sqlite_where=text("met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND breached_at IS NULL"),
            postgresql_where=text(
                "met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND breached_at IS NULL"
            ),
        ),
        # Partial: "met/breached in a period" queries use them; "what is open" never picks them.
        Index("ix_sla_clocks_met_at", "met_at", sqlite_where=text("met_at IS NOT NULL"),
              postgresql_where=text("met_at IS NOT NULL")),
        Index("ix_sla_clocks_breached_at", "breached_at", sqlite_where=text("breached_at IS NOT NULL"),
              postgresql_where=text("breached_at IS NOT NULL")),
        Index(
            "ix_sla_clocks_open_warn",
            "warn_at",
            sqlite_where=text("met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND warned_at IS NULL"),
            postgresql_where=text(
                "met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND warned_at IS NULL"
            ),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    stage: Mapped[str] = mapped_column(String(16))  # acknowledge | dispatch | resolve
    calendar: Mapped[str] = mapped_column(String(16), default="24x7")
    started_at: Mapped[datetime]
    target_minutes: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime]
    warn_at: Mapped[datetime]
    warned_at: Mapped[Optional[datetime]]
    met_at: Mapped[Optional[datetime]]
    breached_at: Mapped[Optional[datetime]]
    cancelled_at: Mapped[Optional[datetime]]
    paused_at: Mapped[Optional[datetime]]
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    extended_minutes: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[Optional[datetime]]  # next escalation level due (SLA sweep; migration 0004_sla)
    escalation_level: Mapped[Optional[str]] = mapped_column(String(16))  # highest level recorded
    report: Mapped[Report] = relationship(back_populates="clocks")


class SlaBreach(Base):
    """A warning, breach or escalation level recorded once per report, stage and level."""

    __tablename__ = "sla_breaches"
    __table_args__ = (UniqueConstraint("report_id", "stage", "level"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))  # warning | breach | escalate_150 | escalate_200
    due_at: Mapped[datetime]
    fell_due_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(index=True)
    explanation_code: Mapped[Optional[str]] = mapped_column(String(32))
    explanation: Mapped[Optional[str]] = mapped_column(Text)


class Event(Base):
    """Append-only log of every change: who, what, when, before/after (triggers forbid UPDATE/DELETE)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_report_id_id", "report_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    report_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reports.id"))
    citizen_id: Mapped[Optional[int]] = mapped_column(ForeignKey("citizens.id"))
    actor: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(24))
    type: Mapped[str] = mapped_column(String(40), index=True)
    before: Mapped[Optional[dict[str, Any]]]
    after: Mapped[Optional[dict[str, Any]]]
    reason: Mapped[Optional[str]] = mapped_column(Text)


# ---------------------------------------------------------------- channels
class OutboxMessage(Base):
    """A message to a citizen or an officer, written in the transaction that causes it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reports.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    template: Mapped[Optional[str]] = mapped_column(String(64))
    subject: Mapped[Optional[str]] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[Optional[dict[str, Any]]]
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending | sent | failed | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    provider_id: Mapped[Optional[str]] = mapped_column(String(200))
    delivery_status: Mapped[Optional[str]] = mapped_column(String(32))
    created_at: Mapped[datetime]
    sent_at: Mapped[Optional[datetime]]


class DeadLetter(Base):
    """A payload that could not become a report, kept byte for byte with the reason, once per source
    message (`source_key`, the SHA-256 of the bytes: a mailbox read again stores nothing new; 0012)."""

    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("channel", "source_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), index=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[Optional[dict[str, Any]]]
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | ignored | reprocessed | discarded
    report_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reports.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    source_key: Mapped[Optional[str]] = mapped_column(String(80))


class Checkpoint(Base):
    """Where a poller stands (IMAP UIDVALIDITY/UID, X since_id); advanced only after commit."""

    __tablename__ = "checkpoints"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[Optional[str]] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(24))
    agency_code: Mapped[Optional[str]] = mapped_column(ForeignKey("agencies.code"))
    phone: Mapped[Optional[str]] = mapped_column(String(32))
    email: Mapped[Optional[str]] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_login_at: Mapped[Optional[datetime]]
    # bumped by logout, disabling, a password or role change: every session signed with an older
    # version ends at its next request (migration 0010_session_version)
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LoginThrottle(Base):
    """Failed logins of one account from one client address (`source`), and the lock they caused.
    The row with source `*` counts the account's failures from addresses it never logged in from."""

    __tablename__ = "login_throttle"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_failure_at: Mapped[Optional[datetime]]
    locked_until: Mapped[Optional[datetime]]
    last_success_at: Mapped[Optional[datetime]]
    updated_at: Mapped[datetime]


class ExtensionRequest(Base):
    """An agency asks for more time on one SLA stage; a supervisor approves (the deadline moves through
    Workflow.extend_deadline) or refuses it. Decisions are also in the event log."""

    __tablename__ = "extension_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    minutes: Mapped[int] = mapped_column(Integer)
    reason_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    agency_code: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)  # pending|approved|refused
    decided_by: Mapped[Optional[str]] = mapped_column(String(64))
    decided_at: Mapped[Optional[datetime]]
    decision_note: Mapped[Optional[str]] = mapped_column(Text)


# ---------------------------------------------------------------- 112 voice (ingest)
class Call(Base):
    """One call to the 112 line (Twilio CallSid, or an external 112 platform's call id) and its outcome.

    The report stays in the normal lifecycle; the call's own state lives here: `state` is
    in_progress | answered | completed | unanswered | failed; `flag` is callback (ended unanswered)
    or likely_prank (very short and silent) until an operator resolves it.
    """

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_from_started", "from_number", "started_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # twilio | csv
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    from_number: Mapped[Optional[str]] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    answered_at: Mapped[Optional[datetime]]
    ended_at: Mapped[Optional[datetime]]
    duration_seconds: Mapped[Optional[int]] = mapped_column(Integer)
    dial_status: Mapped[Optional[str]] = mapped_column(String(16))
    outcome: Mapped[Optional[str]] = mapped_column(String(32))
    recording_url: Mapped[Optional[str]] = mapped_column(Text)
    recording_seconds: Mapped[Optional[int]] = mapped_column(Integer)
    transcription: Mapped[Optional[str]] = mapped_column(Text)
    flag: Mapped[Optional[str]] = mapped_column(String(16), index=True)
    flag_resolved_by: Mapped[Optional[str]] = mapped_column(String(64))
    updated_at: Mapped[datetime]


# ---------------------------------------------------------------- SLA sweep (migration 0004_sla)
# Breached, still-open clocks whose next escalation level falls due: a range scan for the sweep.
Index(
    "ix_sla_clocks_open_next_check",
    SlaClock.next_check_at,
    sqlite_where=text("met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND next_check_at IS NOT NULL"),
    postgresql_where=text(
        "met_at IS NULL AND cancelled_at IS NULL AND paused_at IS NULL AND next_check_at IS NOT NULL"
    ),
)


# ---------------------------------------------------------------- routing on the queue (migration 0005_routing)
class IncidentAlert(Base):
    """Several reports of one category in one kelurahan within an hour: one alert for the wall display.
    At most one open alert per (category, kelurahan); it closes after a quiet period (routing/incidents.py)."""

    __tablename__ = "incident_alerts"
    __table_args__ = (
        Index("uq_incident_alerts_open", "category_code", "kelurahan_code", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        Index("ix_incident_alerts_status_last_at", "status", "last_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"))
    kelurahan_code: Mapped[str] = mapped_column(ForeignKey("areas.kode"))
    kecamatan: Mapped[Optional[str]] = mapped_column(String(64))
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    report_count: Mapped[int] = mapped_column(Integer)
    priority: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | closed
    first_report_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reports.id"))
    created_at: Mapped[datetime]
    closed_at: Mapped[Optional[datetime]]


class RoutingCorrection(Base):
    """An operator's correction of a routing decision (category, agency, priority, location, kind, merge):
    the labelled examples `routing export-corrections` writes for `routing evaluate`."""

    __tablename__ = "routing_corrections"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    field: Mapped[str] = mapped_column(String(16))
    before: Mapped[Optional[Any]] = mapped_column(JSON)  # the value before the change
    after: Mapped[Optional[Any]] = mapped_column(JSON)
    proposed: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)  # what routing proposed at intake
    event_type: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(index=True)


# Duplicate candidates and incident counts: index range scans over a time window (migration 0005_routing).
Index("ix_reports_category_received", Report.category_code, Report.received_at)
Index("ix_reports_category_kelurahan_received", Report.category_code, Report.kelurahan_code, Report.received_at)
Index("ix_reports_merged_into_id", Report.merged_into_id, sqlite_where=text("merged_into_id IS NOT NULL"),
      postgresql_where=text("merged_into_id IS NOT NULL"))


# ---------------------------------------------------------------- executive panel rollup (migration 0006_dashboard)
ROLLUP_HISTOGRAM_BUCKETS = 26


class DashboardRollup(Base):
    """Per WIB day and measure (agency, channel, category, kecamatan, hour, place, sla): counts and sums the
    executive panel adds up instead of scanning a period of reports (dashboard/rollup.py keeps it)."""

    __tablename__ = "dashboard_rollup"
    __table_args__ = (UniqueConstraint("measure", "day", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[str] = mapped_column(String(10), index=True)  # YYYY-MM-DD in WIB
    measure: Mapped[str] = mapped_column(String(12))
    key: Mapped[str] = mapped_column(String(120))
    received: Mapped[int] = mapped_column(Integer)
    open: Mapped[int] = mapped_column(Integer)
    resolved: Mapped[int] = mapped_column(Integer)  # resolved on this day (by resolved_at)
    satisfaction_sum: Mapped[int] = mapped_column(Integer)
    satisfaction_count: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    accepted_on_time: Mapped[int] = mapped_column(Integer)
    sla_met: Mapped[int] = mapped_column(Integer)  # clocks met on this day (by met_at)
    sla_on_time: Mapped[int] = mapped_column(Integer)
    # Histograms of minutes to accept / to resolve: columns accept_0..accept_25, resolve_0..resolve_25
    # (the bucket bounds are dashboard.rollup.BUCKETS), so a period's histogram is a SQL SUM.
    for _kind in ("accept", "resolve"):
        for _i in range(ROLLUP_HISTOGRAM_BUCKETS):
            vars()[f"{_kind}_{_i}"] = mapped_column(Integer, nullable=False, server_default="0")
    del _kind, _i


class DashboardRollupState(Base):
    """Watermark of the rollup: events up to event_id are rolled up; days before complete_before are stored."""

    __tablename__ = "dashboard_rollup_state"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer)
    complete_before: Mapped[Optional[str]] = mapped_column(String(10))
    updated_at: Mapped[datetime]


# ---------------------------------------------------------------- staging inbox of webhooks (migration 0007_ingest_inbox)
class InboundMessage(Base):
    """A verified webhook kept byte for byte the moment it arrived (one row per provider message id), so
    the webhook answers after one insert; ingest/staging.py turns pending rows into reports in id order."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("channel", "external_id"),
                      Index("ix_inbound_messages_state_id", "state", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[Optional[dict[str, Any]]]
    received_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | dead_letter
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[Optional[datetime]]
    outcome: Mapped[Optional[str]] = mapped_column(String(16))  # created | duplicate | followup | command | ...
    ticket: Mapped[Optional[str]] = mapped_column(String(32))
    dead_letter_id: Mapped[Optional[int]] = mapped_column(ForeignKey("dead_letters.id"))
    last_error: Mapped[Optional[str]] = mapped_column(Text)


# The wall's map and "met today" read these covering indexes (migration 0006_dashboard).
Index("ix_reports_open_map", Report.status, Report.priority, Report.kelurahan_code, Report.lat, Report.lon)
Index("ix_sla_clocks_met_due", SlaClock.met_at, SlaClock.due_at, sqlite_where=text("met_at IS NOT NULL"),
      postgresql_where=text("met_at IS NOT NULL"))


# ---------------------------------------------------------------- the active worker's heartbeat (migration 0008)
class WorkerHeartbeat(Base):
    """Written every few seconds by the active worker while it runs the jobs (SLA timers, inbox drain,
    outbox): the wall and the operations page say so when it stops."""

    __tablename__ = "worker_heartbeats"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    beat_at: Mapped[datetime]


# ---------------------------------------------------------------- routing model versions (migration 0014_routing_models)
class RoutingModelVersion(Base):
    """One trained routing model (routing/registry.py): the model itself, what it was trained on, its
    scores, who trained it and its automation thresholds. At most one is active (partial unique index)."""

    __tablename__ = "routing_model_versions"
    id: Mapped[int] = mapped_column(primary_key=True)  # the version number
    created_at: Mapped[datetime]
    trained_by: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(24))  # train (a city's file) | corrections (the worker)
    status: Mapped[str] = mapped_column(String(16))  # active | retired | rejected
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    activated_at: Mapped[Optional[datetime]]
    summary: Mapped[Optional[dict[str, Any]]]  # training data: rows per category and per source
    scores: Mapped[Optional[dict[str, Any]]]   # held-out and frozen-holdout figures
    thresholds: Mapped[Optional[dict[str, Any]]]
    corrections_upto: Mapped[Optional[int]] = mapped_column(Integer)  # highest routing_corrections.id learned
    blob: Mapped[bytes] = mapped_column(LargeBinary)


Index("ix_routing_model_versions_active", RoutingModelVersion.is_active, unique=True,
      sqlite_where=text("is_active"), postgresql_where=text("is_active"))
