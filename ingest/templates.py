"""Citizen message templates (Bahasa Indonesia) from data/templates/citizen.id.yaml."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml


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
