"""The SLA escalation ladder (`data/escalation.yaml`): which levels follow a breach, when each falls
due, who is told and with what words. Pure Python; the sweep (domain/sweep.py) applies it.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from domain.clock import to_wib
from domain.lifecycle import ValidationError
from domain.sla import STAGES, Calendar, parse_duration

WARNING, BREACH = "warning", "breach"
ROLES = ("duty_officer", "control_room_supervisor", "agency_head", "executive_panel")
FIELDS = ("ticket", "stage", "level", "agency", "agency_name", "category", "priority", "location", "due",
          "fell_due", "late")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_LEVEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


@dataclass(frozen=True)
class Level:
    """One rung: `fraction` of the stage's time (1.0 = the deadline), capped by `ceiling_minutes`."""

    name: str
    fraction: float
    notify: tuple[str, ...]
    ceiling_minutes: int | None = None


@dataclass(frozen=True)
class Contact:
    phone: str | None = None
    email: str | None = None
    head_email: str | None = None
    head_phone: str | None = None


@dataclass(frozen=True)
class Recipient:
    role: str
    channel: str  # whatsapp | email
    address: str


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


@dataclass
class EscalationLadder:
    warning: Level
    breach: Level
    escalations: tuple[Level, ...]
    control_room_agency: str = "UPT_PRK"
    agency_contacts: dict[str, Contact] = field(default_factory=dict)
    supervisor: Contact = field(default_factory=Contact)
    executive_panel: Contact = field(default_factory=Contact)
    stage_labels: dict[str, str] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)

    # ------------------------------------------------------------ loading
    @classmethod
    def load(cls, data_dir: Path, resolve_ceiling_minutes: int = 168 * 60) -> "EscalationLadder":
        path = data_dir / "escalation.yaml"
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValidationError(path.name, f"cannot read the escalation ladder: {exc}") from exc
        return cls.from_dict(raw, resolve_ceiling_minutes=resolve_ceiling_minutes)

    @classmethod
    def from_dict(cls, raw: dict, *, resolve_ceiling_minutes: int = 168 * 60) -> "EscalationLadder":
        if not isinstance(raw, dict):
            raise ValidationError("escalation.yaml", "must be a mapping")
        warning = Level(WARNING, 0.0, _roles(_mapping(raw, "warning"), "warning"))
        breach = Level(BREACH, 1.0, _roles(_mapping(raw, "breach"), "breach"))
        escalations: list[Level] = []
        items = raw.get("escalations") or []
        if not isinstance(items, list):
            raise ValidationError("escalations", "must be a list of levels")
        for index, item in enumerate(items):
            where = f"escalations[{index}]"
            if not isinstance(item, dict):
                raise ValidationError(where, "must be a mapping with level, at and notify")
            name = str(item.get("level", "")).strip()
            if not _LEVEL_NAME.match(name) or name in (WARNING, BREACH):
                raise ValidationError(f"{where}.level", f"{name!r} is not a level name (a-z, 0-9, _, "
                                                        "at most 16 characters, not warning or breach)")
            if any(level.name == name for level in escalations):
                raise ValidationError(f"{where}.level", f"{name!r} appears twice")
            fraction = _fraction(item.get("at"), f"{where}.at")
            previous = escalations[-1].fraction if escalations else 1.0
            if fraction <= previous:
                raise ValidationError(f"{where}.at", f"must be above {previous:.0%} (levels go up)")
            ceiling = item.get("or_after")
            ceiling_minutes = None
            if ceiling not in (None, ""):
                ceiling_minutes = (resolve_ceiling_minutes if str(ceiling).strip() == "resolve_ceiling"
                                   else _duration(ceiling, f"{where}.or_after"))
            escalations.append(Level(name, fraction, _roles(item, where), ceiling_minutes))
        contacts = _mapping(raw, "contacts")
        room = _mapping(contacts, "control_room", "contacts.")
        panel = _mapping(contacts, "executive_panel", "contacts.")
        agencies = {}
        for code, values in _mapping(contacts, "agencies", "contacts.").items():
            if not isinstance(values, dict):
                raise ValidationError(f"contacts.agencies.{code}", "must be a mapping")
            agencies[str(code).strip().upper()] = Contact(
                phone=_text(values.get("duty_phone")), email=_text(values.get("duty_email")),
                head_email=_text(values.get("head_email")), head_phone=_text(values.get("head_phone")))
        ladder = cls(
            warning=warning, breach=breach, escalations=tuple(escalations),
            control_room_agency=str(raw.get("control_room_agency") or "UPT_PRK").strip().upper(),
            agency_contacts=agencies,
            supervisor=Contact(phone=_text(room.get("supervisor_phone")), email=_text(room.get("supervisor_email"))),
            executive_panel=Contact(email=_text(panel.get("email")), phone=_text(panel.get("phone"))),
            stage_labels={stage: str(_mapping(raw, "stage_labels").get(stage) or stage) for stage in STAGES},
            messages=_messages(_mapping(raw, "messages")),
        )
        return ladder

    # ------------------------------------------------------------ timing
    def level(self, name: str) -> Level:
        for level in (self.warning, self.breach, *self.escalations):
            if level.name == name:
                return level
        raise KeyError(name)

    def escalation_times(self, calendar: Calendar, started_at: datetime, target_minutes: int, *,
                         extended_minutes: int = 0, paused_seconds: float = 0,
                         due_at: datetime | None = None) -> list[tuple[Level, datetime]]:
        """When each level after the breach falls due for one clock (never before its deadline, and
        never after a higher level)."""
        total = target_minutes + extended_minutes
        paused = paused_seconds / 60
        times = []
        for level in self.escalations:
            at = calendar.add(started_at, total * level.fraction + paused)
            if level.ceiling_minutes is not None:
                at = min(at, calendar.add(started_at, level.ceiling_minutes + extended_minutes + paused))
            if due_at is not None:
                at = max(at, due_at)
            times.append(at)
        for index in range(len(times) - 2, -1, -1):
            times[index] = min(times[index], times[index + 1])
        return list(zip(self.escalations, times))

    # ------------------------------------------------------------ recipients
    def responsible_agency(self, stage: str, agency_code: str) -> str:
        return self.control_room_agency if stage == "acknowledge" else agency_code

    def contact_for(self, agency_code: str, stored: Contact | None = None) -> Contact:
        """The agency's contacts: the database's values, else this file's."""
        mine = self.agency_contacts.get(agency_code, Contact())
        stored = stored or Contact()
        return Contact(phone=stored.phone or mine.phone, email=stored.email or mine.email,
                       head_email=stored.head_email or mine.head_email,
                       head_phone=stored.head_phone or mine.head_phone)

    def recipients(self, level: Level, agency: Contact) -> tuple[list[Recipient], list[str]]:
        """Whom to tell for a level, deduplicated; plus the roles that have no contact to reach."""
        out: list[Recipient] = []
        missing: list[str] = []
        for role in level.notify:
            if role == "duty_officer":
                pairs = [("whatsapp", agency.phone), ("email", agency.email)]
            elif role == "control_room_supervisor":
                pairs = [("whatsapp", self.supervisor.phone), ("email", self.supervisor.email)]
            elif role == "agency_head":
                pairs = [("email", agency.head_email), ("whatsapp", agency.head_phone)]
            else:  # executive_panel
                pairs = [("email", self.executive_panel.email), ("whatsapp", self.executive_panel.phone)]
            reachable = [(channel, address) for channel, address in pairs if address]
            if not reachable:
                missing.append(role)
            for channel, address in reachable:
                if not any(r.channel == channel and r.address == address for r in out):
                    out.append(Recipient(role, channel, address))
        return out, missing

    def render(self, level: str, values: dict[str, str]) -> Message:
        template = self.messages.get(level) or self.messages["default"]
        return Message(subject=template.subject.format(**values)[:300], body=template.body.format(**values))


def describe_lateness(delta: timedelta) -> str:
    """'2 hari 3 jam', '45 menit' (Bahasa Indonesia, for the messages)."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} hari"] if days else []
    if hours:
        parts.append(f"{hours} jam")
    if minutes and not days:
        parts.append(f"{minutes} menit")
    return " ".join(parts) or "kurang dari 1 menit"


def format_wib(value: datetime) -> str:
    return to_wib(value).strftime("%d-%m-%Y %H:%M")


# ---------------------------------------------------------------- validation helpers
def _mapping(raw: dict, key: str, prefix: str = "") -> dict:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{prefix}{key}", "must be a mapping")
    return value


def _roles(item: dict, where: str) -> tuple[str, ...]:
    if not isinstance(item, dict):
        raise ValidationError(where, "must be a mapping with notify")
    roles = item.get("notify") or []
    if isinstance(roles, str) or not isinstance(roles, list):
        raise ValidationError(f"{where}.notify", "must be a list of roles")
    for role in roles:
        if role not in ROLES:
            raise ValidationError(f"{where}.notify", f"unknown role {role!r} (one of: {', '.join(ROLES)})")
    return tuple(dict.fromkeys(roles))


def _fraction(value, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        fraction = float(value)
    else:
        match = _PERCENT.match(str(value or ""))
        if not match:
            raise ValidationError(where, f"{value!r} is not a share like 150%")
        fraction = float(match.group(1)) / 100
    if not 1.0 < fraction <= 100:
        raise ValidationError(where, f"{value!r} must be above 100%")
    return fraction


def _duration(value, where: str) -> int:
    try:
        minutes = parse_duration(str(value))
    except ValidationError as exc:
        raise ValidationError(where, str(exc)) from None
    if minutes <= 0:
        raise ValidationError(where, "must be a positive duration")
    return minutes


def _text(value) -> str | None:
    value = str(value).strip() if value is not None else ""
    return value or None


def _messages(raw: dict) -> dict[str, Message]:
    if not isinstance(raw, dict):
        raise ValidationError("messages", "must be a mapping of level to subject and body")
    out = {"default": Message("[SLA {level}] {ticket}: {stage}",
                              "Laporan {ticket} tahap {stage}: level {level}, jatuh tempo {due} WIB.")}
    for level, item in raw.items():
        if not isinstance(item, dict) or not item.get("body"):
            raise ValidationError(f"messages.{level}", "needs a body (and a subject for email)")
        message = Message(str(item.get("subject") or "[SLA] {ticket}"), str(item["body"]))
        for part in (message.subject, message.body):
            try:
                names = [name for _, name, _, _ in string.Formatter().parse(part)]
            except ValueError as exc:
                raise ValidationError(f"messages.{level}", f"bad template {part!r}: {exc}") from None
            for name in names:
                if name is not None and name not in FIELDS:
                    raise ValidationError(f"messages.{level}", f"unknown field {{{name}}} "
                                                               f"(fields: {', '.join(FIELDS)})")
        out[str(level)] = message
    return out
