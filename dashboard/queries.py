"""Read-only queries for the pages (SQL aggregates only; no page opens a session itself)."""
from __future__ import annotations

from dashboard.context import services


def queue_counts() -> dict[str, int]:
    return services().queue.counts()
