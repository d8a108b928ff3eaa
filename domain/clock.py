"""Time: everything is stored and computed in UTC; Asia/Jakarta (WIB) is for display only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

UTC = timezone.utc
WIB = ZoneInfo("Asia/Jakarta")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 timestamp ('Z' allowed); naive values are UTC."""
    return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


def to_wib(value: datetime) -> datetime:
    return as_utc(value).astimezone(WIB)


def isoformat(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat().replace("+00:00", "Z")


class FrozenClock:
    """A controllable clock for tests and simulations."""

    def __init__(self, start: datetime):
        self.now = as_utc(start)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> datetime:
        self.now = self.now + timedelta(**kwargs)
        return self.now
