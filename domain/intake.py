"""The normalised report every channel adapter produces, and its validation.

`IncomingReport.from_dict` is the JSON contract of `python app.py submit` and of the adapters:
    {"channel", "external_id", "text", "received_at", "claimed_at",
     "citizen": {"name", "phone", "email", "handle"},
     "location": {"text", "lat", "lon"}, "kind", "category", "priority", "agency", "attachments": [...]}
Bad input raises ValidationError naming the field; nothing is written.

Two times: `received_at` is when the control room received the report, and every SLA clock starts
there, so channel adapters set it from our own clock (the webhook's arrival, the poll, the mail
server's delivery). `claimed_at` (optional) is the time the payload itself states (an email's Date:,
a provider's or an API client's timestamp): anyone can write anything there, so it is kept for display
only. Trusted internal sources that know the receipt time (the operator's CLI, the 112 call log) pass
`received_at` through `trusted_receipt`, which refuses a time in the future.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import phonenumbers

from domain.clock import isoformat, parse_timestamp
from domain.lifecycle import Kind, ValidationError

CHANNELS = frozenset(
    {
        "whatsapp", "email", "instagram", "facebook", "x", "call112", "app", "web",
        "open311", "walk_in", "phone", "letter", "lapor", "demo",
    }
)
# Which identity kind a channel's handle belongs to.
HANDLE_KINDS = {"instagram": "instagram", "facebook": "facebook", "x": "x"}
HANDLE_KIND_NAMES = frozenset({*HANDLE_KINDS.values(), "handle"})
# channels whose provider authenticates the sender whose identity the report carries (a signed webhook's
# WhatsApp number or social account, the 112 caller); e-mail is vouched for per message (ingest/mail.py)
VOUCHING_CHANNELS = frozenset({"whatsapp", "instagram", "facebook", "x", "call112", "demo"})
PRIORITIES = ("P1", "P2", "P3", "P4")
DEFAULT_REGION = "ID"
CLOCK_SKEW = timedelta(minutes=5)  # how far ahead of our clock a trusted source's receipt time may be
# a UTF-16 surrogate on its own: JSON may write one ("\\ud800"), but it is no character, and UTF-8 (the
# database, every reply) cannot encode it
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class CitizenInfo:
    name: str | None = None
    phone: str | None = None  # E.164 once normalised
    email: str | None = None
    handle: str | None = None
    handle_kind: str | None = None
    # the channel vouches for these identities (its own authenticated sender); False: typed by whoever filed
    # the report (app, web form, Open311, counter), a contact hint that never joins or extends a known citizen
    verified: bool = True

    def __post_init__(self):
        # Identities are compared in one canonical form: E.164 phones, lower-case domains and handles.
        if self.phone:
            object.__setattr__(self, "phone", normalise_phone(self.phone))
        if self.email:
            object.__setattr__(self, "email", normalise_email(self.email))
        if self.handle:
            object.__setattr__(self, "handle", self.handle.strip().lstrip("@").lower())

    def identities(self) -> list[tuple[str, str]]:
        out = []
        if self.phone:
            out.append(("phone", self.phone))
        if self.email:
            out.append(("email", self.email))
        if self.handle and self.handle_kind:
            out.append((self.handle_kind, self.handle))
        return out


@dataclass(frozen=True)
class LocationInfo:
    text: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class AttachmentInfo:
    filename: str
    content_type: str = "application/octet-stream"
    size: int | None = None
    sha256: str | None = None
    path: str | None = None
    source_url: str | None = None


@dataclass(frozen=True)
class IncomingReport:
    channel: str
    external_id: str
    text: str
    received_at: datetime
    citizen: CitizenInfo | None = None
    location: LocationInfo | None = None
    kind: str | None = None
    category: str | None = None
    priority: str | None = None
    agency: str | None = None
    attachments: tuple[AttachmentInfo, ...] = ()
    raw_payload: dict[str, Any] | None = None
    text_raw: bytes | None = None
    is_demo: bool = False
    routing: dict[str, Any] | None = field(default=None, compare=False)
    claimed_at: datetime | None = None  # the payload's own time, display only (see the module's docstring)

    @classmethod
    def from_json(cls, raw: bytes | str, *, max_bytes: int) -> "IncomingReport":
        size = len(raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw)
        if size > max_bytes:
            raise ValidationError("payload", f"{size} bytes is over the limit of {max_bytes} bytes")
        text_raw = None
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                text_raw = raw
                raw = raw.decode("utf-8", errors="replace")
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationError("payload", f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
        except RecursionError:  # the decoder recurses per level: 100,000 nested arrays
            raise ValidationError("payload", "JSON nested too deeply") from None
        report = cls.from_dict(data, max_bytes=max_bytes)
        if text_raw is not None:
            report = _replace(report, text_raw=text_raw)
        return report

    @classmethod
    def from_dict(cls, data: Any, *, max_bytes: int | None = None) -> "IncomingReport":
        if not isinstance(data, dict):
            raise ValidationError("payload", "must be a JSON object")
        refuse_lone_surrogates(data)
        if max_bytes is not None:
            size = len(json.dumps(data, default=str).encode("utf-8", "surrogateescape"))
            if size > max_bytes:
                raise ValidationError("payload", f"{size} bytes is over the limit of {max_bytes} bytes")
        channel = _str(data, "channel", required=True).lower()
        if channel not in CHANNELS:
            raise ValidationError("channel", f"unknown channel {channel!r} (known: {', '.join(sorted(CHANNELS))})")
        external_id = _str(data, "external_id", required=True)
        if len(external_id) > 200:
            raise ValidationError("external_id", "longer than 200 characters")
        text = data.get("text") or ""
        text_raw = None
        if isinstance(text, bytes):
            text_raw, text = text, text.decode("utf-8", errors="replace")
        if not isinstance(text, str):
            raise ValidationError("text", "must be a string")
        text = text.replace("\x00", "")
        attachments = tuple(_attachment(i, a) for i, a in enumerate(_list(data, "attachments")))
        if not text.strip() and not attachments:
            raise ValidationError("text", "a report needs text or at least one attachment")
        received = data.get("received_at")
        if received in (None, ""):
            raise ValidationError("received_at", "is required (ISO 8601, e.g. 2026-11-22T08:15:00+07:00)")
        try:
            received_at = parse_timestamp(str(received))
        except ValueError:
            raise ValidationError("received_at", f"{received!r} is not an ISO 8601 timestamp") from None
        claimed = data.get("claimed_at")
        claimed_at = None
        if claimed not in (None, ""):
            try:
                claimed_at = parse_timestamp(str(claimed))
            except ValueError:
                raise ValidationError("claimed_at", f"{claimed!r} is not an ISO 8601 timestamp") from None
        kind = _str(data, "kind")
        if kind is not None:
            kind = kind.upper()
            if kind not in Kind.__members__:
                raise ValidationError("kind", f"unknown kind {kind!r} (known: {', '.join(Kind)})")
        priority = _str(data, "priority")
        if priority is not None and priority.upper() not in PRIORITIES:
            raise ValidationError("priority", f"unknown priority {priority!r} (P1..P4)")
        category = _str(data, "category")
        agency = _str(data, "agency")
        return cls(
            channel=channel,
            external_id=external_id,
            text=text,
            received_at=received_at,
            citizen=_citizen(data.get("citizen"), channel),
            location=_location(data.get("location")),
            kind=kind,
            category=category.upper() if category else None,
            priority=priority.upper() if priority else None,
            agency=agency.upper() if agency else None,
            attachments=attachments,
            raw_payload=data.get("raw_payload") if isinstance(data.get("raw_payload"), dict) else data,
            text_raw=text_raw,
            is_demo=bool(data.get("is_demo", False)),
            claimed_at=claimed_at,
        )


def _replace(report: IncomingReport, **changes) -> IncomingReport:
    return replace(report, **changes)


def trusted_receipt(report: IncomingReport, now: datetime) -> IncomingReport:
    """A trusted source's `received_at` (the operator's CLI, the 112 call log): the past is kept (the
    control room did receive it then, and the SLA catch-up records what fell due since), a time up to
    CLOCK_SKEW ahead is our clocks disagreeing (taken as now), anything later is refused: a report is
    never received in the future, and its deadlines must not move there."""
    if report.received_at > now + CLOCK_SKEW:
        raise ValidationError("received_at", f"{isoformat(report.received_at)} is in the future "
                                             f"(now {isoformat(now)})")
    return replace(report, received_at=now) if report.received_at > now else report


def lone_surrogate_at(value: Any, path: str = "") -> str | None:
    """Where in a decoded JSON value (key or string, at any depth) a lone surrogate sits, as a field path
    ("citizen.name", "attachments[0].filename"), the shallowest first; None when there is none. Iterative:
    any depth is fine."""
    queue = deque([(path, value)])
    while queue:
        at, item = queue.popleft()
        if isinstance(item, str):
            if LONE_SURROGATE.search(item):
                return at or "payload"
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{at}.{key}" if at else str(key)
                if isinstance(key, str) and LONE_SURROGATE.search(key):
                    return at or "payload"
                queue.append((name, child))
        elif isinstance(item, (list, tuple)):
            queue.extend((f"{at}[{i}]", child) for i, child in enumerate(item))
    return None


def refuse_lone_surrogates(value: Any, path: str = "") -> None:
    """ValidationError naming the field when the value holds a lone surrogate (every channel's intake)."""
    at = lone_surrogate_at(value, path)
    if at is not None:
        raise ValidationError(at[:120], "contains a lone UTF-16 surrogate (a \\ud800-\\udfff escape that is no "
                                     "character): send valid Unicode text")


def _str(data: dict, key: str, *, required: bool = False, prefix: str = "") -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise ValidationError(prefix + key, "is required")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValidationError(prefix + key, "must be a string")
    return value.replace("\x00", "").strip()  # a NUL cannot be stored (PostgreSQL text) and means nothing


def _list(data: dict, key: str) -> list:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise ValidationError(key, "must be a list")
    return value


def normalise_phone(raw: str, field_name: str = "citizen.phone") -> str:
    """Any Indonesian or international notation -> E.164 ('0812...' and 'whatsapp:+62...' accepted)."""
    text = raw.strip()
    for prefix in ("whatsapp:", "tel:", "sms:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(field_name, f"{raw!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_possible_number(number):
        raise ValidationError(field_name, f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


EMAIL_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_email(raw: str, field_name: str = "citizen.email") -> str:
    """An address we can send to (RFC 5321 mailbox: dot-atom local part, host name with a top-level
    domain), domain lower-cased. Control characters (CR/LF: header injection at send time), spaces,
    quoted local parts, IP literals and malformed domains are refused here, at intake, with the field named."""
    if not isinstance(raw, str):
        raise ValidationError(field_name, "must be a string")
    text = raw.strip()

    def refuse(why: str):
        raise ValidationError(field_name, f"{_shown(raw)} is not an email address ({why})")

    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in raw):  # before strip(): CR/LF too
        refuse("control characters")
    if any(c.isspace() for c in text):
        refuse("spaces")
    if len(text) > 254:
        refuse("longer than 254 characters")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        refuse("it needs one @ between a name and a domain")
    if len(local) > 64:
        refuse("the part before @ is longer than 64 characters")
    atoms = local.split(".")
    if any(not a for a in atoms) or any(c not in EMAIL_ATEXT and ord(c) < 128 for a in atoms for c in a):
        refuse("the part before @ has characters a mailbox may not have")
    try:
        ascii_domain = domain.lower().rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        refuse("the domain is not a valid host name")
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(DOMAIN_LABEL.match(label) for label in labels):
        refuse("the domain is not a valid host name")
    if len(labels[-1]) < 2 or not (labels[-1].isalpha() or labels[-1].startswith("xn--")):
        refuse("the domain has no top-level domain")
    return f"{local}@{domain.lower().rstrip('.')}"


def _shown(raw: str) -> str:
    """A refused value as it may appear in an error line: printable, short."""
    return repr(raw[:80] + ("…" if len(raw) > 80 else ""))


def _citizen(value: Any, channel: str) -> CitizenInfo | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("citizen", "must be an object")
    name = _str(value, "name", prefix="citizen.")
    phone = _str(value, "phone", prefix="citizen.")
    email = _str(value, "email", prefix="citizen.")
    if email:  # checked as sent: a CR/LF at either end is refused too, not stripped away
        email = value["email"]
    handle = _str(value, "handle", prefix="citizen.")
    handle_kind = _str(value, "handle_kind", prefix="citizen.") or HANDLE_KINDS.get(channel)
    if handle and not handle_kind:
        handle_kind = "handle"
    if handle_kind and handle_kind not in HANDLE_KIND_NAMES:  # never "phone" or "email": those are checked above
        raise ValidationError("citizen.handle_kind", f"must be one of {', '.join(sorted(HANDLE_KIND_NAMES))}")
    if handle and len(handle) > 100:
        raise ValidationError("citizen.handle", "longer than 100 characters")
    return CitizenInfo(
        name=name.replace("\x00", "")[:200] if name else None,  # PostgreSQL text cannot hold NUL
        phone=phone,
        email=email,
        handle=handle,
        handle_kind=handle_kind,
        verified=channel in VOUCHING_CHANNELS,
    )


def _float(value: Any, field_name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError(field_name, "must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(field_name, f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValidationError(field_name, "must be finite")
    return number


def _location(value: Any) -> LocationInfo | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("location", "must be an object")
    lat = _float(value.get("lat"), "location.lat")
    lon = _float(value.get("lon"), "location.lon")
    if lat is not None and not -90 <= lat <= 90:
        raise ValidationError("location.lat", f"{lat} is out of range (-90..90)")
    if lon is not None and not -180 <= lon <= 180:
        raise ValidationError("location.lon", f"{lon} is out of range (-180..180)")
    if (lat is None) != (lon is None):
        raise ValidationError("location", "lat and lon must be given together")
    return LocationInfo(text=_str(value, "text", prefix="location."), lat=lat, lon=lon)


def _attachment(index: int, value: Any) -> AttachmentInfo:
    if not isinstance(value, dict):
        raise ValidationError(f"attachments[{index}]", "must be an object")
    prefix = f"attachments[{index}]."
    filename = _str(value, "filename", required=True, prefix=prefix)
    size = value.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise ValidationError(prefix + "size", "must be a non-negative integer")
    return AttachmentInfo(
        filename=filename[:255],
        content_type=_str(value, "content_type", prefix=prefix) or "application/octet-stream",
        size=size,
        sha256=_str(value, "sha256", prefix=prefix),
        path=_str(value, "path", prefix=prefix),
        source_url=_str(value, "source_url", prefix=prefix),
    )
