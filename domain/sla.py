"""SLA policies and clocks: when each stage of a report falls due.

Stages: `acknowledge` runs from receipt (the control room verifies and answers the citizen),
`dispatch` from verification (the agency accepts), `resolve` from receipt minus paused time.
Clocks run 7 x 24 by default; a policy may use working days with Indonesian public holidays.
Pure Python; the targets are data (`data/sla_policies.csv`, `data/sla.yaml`).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import holidays
import yaml

from domain.clock import WIB, as_utc
from domain.lifecycle import ValidationError

STAGES = ("acknowledge", "dispatch", "resolve")
PRIORITIES = ("P1", "P2", "P3", "P4")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440}


def parse_duration(text: str) -> int:
    """'5m', '24h', '3d' -> minutes."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValidationError("duration", f"{text!r} is not a duration like 5m, 24h or 3d")
    return round(float(match.group(1)) * _UNIT_MINUTES[match.group(2)])


# ---------------------------------------------------------------- calendars
class Calendar:
    """Adds clock time to an instant and measures clock time between two instants."""

    name = "24x7"

    def add(self, start: datetime, minutes: float) -> datetime:
        return as_utc(start) + timedelta(minutes=minutes)

    def elapsed_seconds(self, start: datetime, end: datetime) -> float:
        return max(0.0, (as_utc(end) - as_utc(start)).total_seconds())


class WorkdayCalendar(Calendar):
    """Time passes only on working days (whole days in WIB); weekends and public holidays stop it."""

    name = "workdays"

    def __init__(self, workdays=(1, 2, 3, 4, 5), country: str = "ID"):
        self.workdays = frozenset(workdays)
        self.country = country

    @lru_cache(maxsize=4096)
    def is_workday(self, day) -> bool:
        return day.isoweekday() in self.workdays and day not in _holidays(self.country, day.year)

    def _day_start(self, local: datetime) -> datetime:
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    def _next_workday_start(self, local: datetime) -> datetime:
        day = self._day_start(local) + timedelta(days=1)
        for _ in range(400):
            if self.is_workday(day.date()):
                return day
            day += timedelta(days=1)
        raise ValidationError("calendar", "no working day within 400 days")

    def add(self, start: datetime, minutes: float) -> datetime:
        current = as_utc(start).astimezone(WIB)
        if not self.is_workday(current.date()):
            current = self._next_workday_start(current)
        remaining = timedelta(minutes=minutes)
        while True:
            day_end = self._day_start(current) + timedelta(days=1)
            available = day_end - current
            if remaining <= available:
                return as_utc(current + remaining)
            remaining -= available
            current = self._next_workday_start(current)

    def elapsed_seconds(self, start: datetime, end: datetime) -> float:
        current, end = as_utc(start).astimezone(WIB), as_utc(end).astimezone(WIB)
        total = 0.0
        while current < end:
            day_end = min(self._day_start(current) + timedelta(days=1), end)
            if self.is_workday(current.date()):
                total += (day_end - current).total_seconds()
            current = day_end
        return total


@lru_cache(maxsize=64)
def _holidays(country: str, year: int):
    return holidays.country_holidays(country, years=year)


# ---------------------------------------------------------------- policies
@dataclass(frozen=True)
class Targets:
    policy_set: str
    priority: str
    name: str
    minutes: dict[str, int]
    calendar: str = "24x7"


@dataclass
class SlaBook:
    """All SLA policies plus the global settings, loaded from `data/`."""

    targets: dict[tuple[str, str], Targets]
    resolve_ceiling_minutes: int = 168 * 60
    warning_fraction: float = 0.75
    channel_policy_sets: dict[str, str] = field(default_factory=dict)
    calendars: dict[str, Calendar] = field(default_factory=lambda: {"24x7": Calendar()})

    @classmethod
    def load(cls, data_dir: Path) -> "SlaBook":
        settings = yaml.safe_load((data_dir / "sla.yaml").read_text(encoding="utf-8")) or {}
        targets: dict[tuple[str, str], Targets] = {}
        path = data_dir / "sla_policies.csv"
        with path.open(encoding="utf-8", newline="") as fh:
            for line_no, row in enumerate(csv.DictReader(fh), start=2):
                try:
                    minutes = {stage: parse_duration(row[f"{stage}_within"]) for stage in STAGES}
                except (KeyError, ValidationError) as exc:
                    raise ValidationError(f"{path.name}:{line_no}", str(exc)) from exc
                calendar = (row.get("calendar") or "24x7").strip()
                if calendar not in ("24x7", "workdays"):
                    raise ValidationError(f"{path.name}:{line_no}", f"unknown calendar {calendar!r}")
                key = ((row.get("policy_set") or "default").strip(), row["priority"].strip())
                targets[key] = Targets(key[0], key[1], row["name"], minutes, calendar)
        return cls(
            targets=targets,
            resolve_ceiling_minutes=parse_duration(settings.get("resolve_ceiling", "168h")),
            warning_fraction=float(settings.get("warning_fraction", 0.75)),
            channel_policy_sets=dict(settings.get("channel_policy_sets") or {}),
            calendars={
                "24x7": Calendar(),
                "workdays": WorkdayCalendar(settings.get("workdays", (1, 2, 3, 4, 5)),
                                            settings.get("holiday_country", "ID")),
            },
        )

    def policy_set_for(self, channel: str) -> str:
        return self.channel_policy_sets.get(channel, "default")

    def targets_for(self, policy_set: str, priority: str) -> Targets:
        try:
            return self.targets[(policy_set, priority)]
        except KeyError:
            try:
                return self.targets[("default", priority)]
            except KeyError:
                raise ValidationError("priority", f"no SLA policy for priority {priority!r}") from None

    def target_minutes(self, policy_set: str, priority: str, stage: str) -> int:
        minutes = self.targets_for(policy_set, priority).minutes[stage]
        if stage == "resolve":
            minutes = min(minutes, self.resolve_ceiling_minutes)
        return minutes

    def calendar_for(self, policy_set: str, priority: str) -> Calendar:
        return self.calendars[self.targets_for(policy_set, priority).calendar]


@dataclass(frozen=True)
class Deadline:
    due_at: datetime
    warn_at: datetime


def deadline_for(
    calendar: Calendar,
    started_at: datetime,
    target_minutes: int,
    *,
    paused_seconds: float = 0,
    extended_minutes: int = 0,
    warning_fraction: float = 0.75,
) -> Deadline:
    """When a stage falls due: its target (plus extensions) of clock time after it started, plus pauses."""
    total = target_minutes + extended_minutes
    paused = paused_seconds / 60
    return Deadline(
        due_at=calendar.add(started_at, total + paused),
        warn_at=calendar.add(started_at, total * warning_fraction + paused),
    )
