"""Duplicate reports of one incident: a pairwise score with reasons, and a stream deduper.

`duplicate_score` is pure and knows nothing of storage, so a database-backed deduper can reuse it
on candidates it queries (same category, recent, nearby).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from rapidfuzz import fuzz

from .location import haversine_m

DEFAULTS = {
    "threshold": 0.65, "window_hours_emergency": 6, "window_hours_default": 72, "near_m": 150, "far_m": 1000,
    "weights": {"category": 0.20, "place": 0.35, "time": 0.15, "text": 0.30, "citizen": 0.15},
}


@dataclass(frozen=True)
class DedupeItem:
    id: str
    category: str | None
    received_at: datetime | None = None
    text: str = ""
    lat: float | None = None
    lon: float | None = None
    kelurahan_code: str | None = None
    kecamatan: str | None = None
    street: str | None = None
    citizen: str | None = None
    emergency: bool = False


def duplicate_score(a: DedupeItem, b: DedupeItem, params: Mapping[str, Any] | None = None,
                    at_least: float | None = None) -> tuple[float, list[str]]:
    """Score in [0, 1] that `a` and `b` report the same incident, with the reasons.
    Hard gates (score 0): different or missing category, outside the time window, clearly different places.
    With `at_least`, returns early (score 0, reason "below threshold") once that score is out of reach."""
    p = {**DEFAULTS, **(params or {})}
    w = p["weights"]
    if not a.category or a.category != b.category:
        return 0.0, ["different category"]
    score, reasons = w["category"], [f"same category {a.category}"]
    if a.received_at and b.received_at:
        hours = abs((a.received_at - b.received_at).total_seconds()) / 3600
        window = p["window_hours_emergency"] if (a.emergency or b.emergency) else p["window_hours_default"]
        if hours > window:
            return 0.0, reasons + [f"{hours:.1f} h apart (window {window:g} h)"]
        score += w["time"] * (1 - hours / window) if window else 0
        reasons.append(f"{hours * 60:.0f} min apart")
    if None not in (a.lat, a.lon, b.lat, b.lon):
        metres = haversine_m(a.lat, a.lon, b.lat, b.lon)
        if metres > p["far_m"] and not (a.kelurahan_code and a.kelurahan_code == b.kelurahan_code):
            return 0.0, reasons + [f"{metres:.0f} m apart"]
        near = 1.0 if metres <= p["near_m"] else max(0.0, 1 - (metres - p["near_m"]) / (p["far_m"] - p["near_m"]))
        score += w["place"] * near
        reasons.append(f"{metres:.0f} m apart")
    elif a.kelurahan_code and b.kelurahan_code:
        if a.kelurahan_code != b.kelurahan_code:
            return 0.0, reasons + ["different kelurahan"]
        same_street = bool(a.street and a.street == b.street)
        score += w["place"] * (1.0 if same_street else 0.8)
        reasons.append("same kelurahan" + (f" and street {a.street}" if same_street else ""))
    elif a.kecamatan and b.kecamatan:
        if a.kecamatan != b.kecamatan:
            return 0.0, reasons + ["different kecamatan"]
        same_street = bool(a.street and a.street == b.street)
        score += w["place"] * (0.8 if same_street else 0.3)
        reasons.append(f"same kecamatan {a.kecamatan}" + (f" and street {a.street}" if same_street else ""))
    elif a.street and a.street == b.street:
        score += w["place"] * 0.5
        reasons.append(f"same street {a.street}")
    else:
        reasons.append("no common place")
    same_citizen = bool(a.citizen and a.citizen == b.citizen)
    if at_least is not None and score + w["text"] + (w["citizen"] if same_citizen else 0) < at_least:
        return 0.0, reasons + ["below threshold"]
    if a.text and b.text:
        similarity = (fuzz.token_set_ratio(a.text, b.text) + fuzz.token_sort_ratio(a.text, b.text)) / 200
        # Similar words without a shared place are weak evidence ("jalan rusak di ..." is common).
        score += w["text"] * similarity * (0.5 if "no common place" in reasons else 1.0)
        reasons.append(f"text similarity {similarity:.2f}")
    if same_citizen:
        score += w["citizen"]
        reasons.append("same citizen")
    return min(1.0, round(score, 3)), reasons


class StreamDeduper:
    """For each new item, the id of an earlier item judged the same incident (the first report of
    that incident), or None. Memory holds only items inside the longest time window."""

    def __init__(self, params: Mapping[str, Any] | None = None, max_candidates: int = 2000):
        self.max_candidates = max_candidates
        self.params = {**DEFAULTS, **(params or {})}
        self.threshold = self.params["threshold"]
        self._by_category: dict[str, list[tuple[DedupeItem, str]]] = {}
        self._window_s = 3600 * max(self.params["window_hours_emergency"], self.params["window_hours_default"])
        self.last_reasons: list[str] = []

    def add(self, item: DedupeItem) -> str | None:
        self.last_reasons = []
        if not item.category:
            return None
        bucket = self._by_category.setdefault(item.category, [])
        if item.received_at is not None:
            bucket[:] = [(o, r) for o, r in bucket if o.received_at is None
                         or abs((item.received_at - o.received_at).total_seconds()) <= self._window_s]
        best, best_score = None, self.threshold
        del bucket[:-self.max_candidates]
        for other, root in bucket:
            score, reasons = duplicate_score(item, other, self.params, at_least=best_score)
            if score >= best_score:
                best, best_score, self.last_reasons = root, score, reasons
        bucket.append((item, best or item.id))
        return best
