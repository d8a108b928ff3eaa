"""Citizen message templates (Bahasa Indonesia) from data/templates/citizen.id.yaml, and which WhatsApp
messages must go as approved templates (data/templates/whatsapp.yaml)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import yaml

from domain.clock import parse_timestamp


class _Keep(dict):
    def __missing__(self, key):
        return "{" + key + "}"


@dataclass(frozen=True)
class Rendered:
    template: str
    subject: str
    body: str


class Templates:
    def __init__(self, data: dict):
        self.data = data

    @classmethod
    @lru_cache(maxsize=4)
    def load(cls, data_dir: Path, language: str = "id") -> "Templates":
        path = Path(data_dir) / "templates" / f"citizen.{language}.yaml"
        with path.open(encoding="utf-8") as fh:
            return cls(yaml.safe_load(fh))

    def render(self, name: str, **values) -> Rendered:
        entry = self.data[name]
        context = _Keep({k: ("" if v is None else v) for k, v in values.items()})
        return Rendered(name, entry["subject"].format_map(context), entry["body"].format_map(context))

    def status_label(self, status: str) -> str:
        return self.data.get("status_labels", {}).get(status, status)

    def reject_label(self, reason: str | None) -> str:
        return self.data.get("reject_labels", {}).get(reason or "", reason or "")


# ---------------------------------------------------------------- WhatsApp template messages
SESSION_WINDOW = timedelta(hours=24)  # WhatsApp: free text only this long after the citizen's last message
WINDOW_MARGIN = timedelta(minutes=15)  # an outbox retry must not land just outside it


@dataclass(frozen=True)
class WhatsAppTemplates:
    """Which messages go as approved templates (data/templates/whatsapp.yaml + TWILIO_CONTENT_SIDS)."""

    variables: dict[str, tuple[str, ...]]
    content_sids: dict[str, str]

    @classmethod
    def load(cls, data_dir: Path, content_sids: dict[str, str]) -> "WhatsAppTemplates":
        with (Path(data_dir) / "templates" / "whatsapp.yaml").open(encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) or {}
        return cls({name: tuple(str(v) for v in names) for name, names in raw.items()}, dict(content_sids))

    def content(self, template: str | None, payload: dict | None, now: datetime) -> tuple[str, str] | None:
        """(ContentSid, ContentVariables JSON) when the message must go as a template; None for free text.
        Raises TemplateNeeded when it must be a template and none is approved (sending text would fail)."""
        payload = payload or {}
        opened = _parse_time(payload.get("window_from"))
        if opened is not None and now - opened < SESSION_WINDOW - WINDOW_MARGIN:
            return None
        sid = self.content_sids.get(template or "")
        if sid is None:
            if opened is None:
                return None  # the window is unknown and there is no template: the text may still go
            raise TemplateNeeded(f"outside WhatsApp's 24-hour window (the citizen last wrote "
                                 f"{opened:%Y-%m-%d %H:%M} UTC) and no approved template for {template!r} "
                                 f"in TWILIO_CONTENT_SIDS")
        values = payload.get("values") or {}
        names = self.variables.get(template, ())
        missing = [n for n in names if n not in values]
        if missing:
            raise TemplateNeeded(f"template {template!r} needs {', '.join(missing)}, which the message lacks")
        return sid, json.dumps({str(i): _parameter(values[n]) for i, n in enumerate(names, start=1)},
                               ensure_ascii=False)


class TemplateNeeded(Exception):
    pass


def _parameter(value) -> str:
    """A template variable as WhatsApp takes it: no newline or tab, no run of spaces, not empty."""
    text = " ".join(str(value if value is not None else "").split())
    return (text or "-")[:1000]


def _parse_time(value) -> datetime | None:
    try:
        return parse_timestamp(str(value)) if value else None
    except ValueError:
        return None


def parse_content_sids(raw: str) -> dict[str, str]:
    """`name=HX...` entries separated by commas (TWILIO_CONTENT_SIDS)."""
    out = {}
    for entry in filter(None, (e.strip() for e in (raw or "").split(","))):
        name, sep, sid = entry.partition("=")
        if not sep or not name.strip() or not sid.strip().startswith("HX"):
            raise ValueError(f"TWILIO_CONTENT_SIDS entry {entry!r} must be template=HX...")
        out[name.strip()] = sid.strip()
    return out
