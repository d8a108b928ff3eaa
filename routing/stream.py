"""JSON-lines in, JSON-lines out: the command-line contract of the routing engine.

Each input line is {"id", "channel", "text", "received_at", optional "lat", "lon", "citizen"}; each
output line carries at least id, actionable, kind, category, agency, priority, kecamatan, kelurahan,
confidence, automation (emergency | auto_forward | triage), suggestions (top three), secondary_categories
(and duplicate_of with dedupe). A bad line yields {"id", "error"}; nothing raises.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from .dedupe import DedupeItem, StreamDeduper
from .engine import Classification, Router, parse_time

OUTPUT_KEYS = ("id", "actionable", "kind", "category", "agency", "priority", "kecamatan", "kelurahan", "confidence")
MAX_TEXT = 20_000


class BadLine(ValueError):
    pass


def _coordinate(item: dict, key: str, lo: float, hi: float) -> float | None:
    value = item.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadLine(f"{key} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise BadLine(f"{key} must be a number") from None
    if not math.isfinite(number) or not lo <= number <= hi:
        raise BadLine(f"{key} out of range")
    return number


def parse_line(line: str) -> dict[str, Any]:
    """Validate one input line; raise BadLine naming the problem (the dict carries the id if any)."""
    try:
        item = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise BadLine(f"invalid JSON: {str(exc)[:80]}") from None
    if not isinstance(item, dict):
        raise BadLine("a line must be a JSON object")
    return item


def _check(item: dict) -> tuple[str, float | None, float | None, Any]:
    text = item.get("text")
    if not isinstance(text, str):
        raise BadLine("missing text" if text is None else "text must be a string")
    if len(text) > MAX_TEXT:
        raise BadLine(f"text longer than {MAX_TEXT} characters")
    lat = _coordinate(item, "lat", -90, 90)
    lon = _coordinate(item, "lon", -180, 180)
    if (lat is None) != (lon is None):
        raise BadLine("lat and lon must be given together")
    received = item.get("received_at")
    if received is not None:
        if not isinstance(received, str):
            raise BadLine("received_at must be an ISO 8601 string")
        try:
            received = parse_time(received)
        except ValueError:
            raise BadLine("received_at is not an ISO 8601 time") from None
    return text, lat, lon, received


def _id(item: Any) -> Any:
    if isinstance(item, dict):
        value = item.get("id")
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return value
    return None


def classify_lines(router: Router, lines: Iterable[str], dedupe: bool = False,
                   deduper: StreamDeduper | None = None) -> Iterator[dict[str, Any]]:
    """`deduper`: another one than thresholds.yaml's (bench/bench_dedupe.py tunes its weights)."""
    if dedupe and deduper is None:
        deduper = StreamDeduper(router.rules.thresholds["dedupe"], router=router)
    for line in lines:
        if not line.strip():
            continue
        item: Any = None
        try:
            item = parse_line(line)
            text, lat, lon, received = _check(item)
            result = router.classify(text, lat=lat, lon=lon, channel=item.get("channel"), received_at=received)
        except BadLine as exc:
            yield {"id": _id(item), "error": str(exc)}
            continue
        except Exception as exc:  # never crash the stream on one report
            yield {"id": _id(item), "error": f"internal error: {type(exc).__name__}: {str(exc)[:120]}"}
            continue
        out = {"id": _id(item), **{k: getattr(result, k) for k in OUTPUT_KEYS[1:]}}
        out.update(kelurahan_code=result.kelurahan_code, outside_city=result.outside_city,
                   support_agencies=list(result.support_agencies), automation=result.automation,
                   suggestions=[[c, s] for c, s in result.suggestions],
                   secondary_categories=list(result.secondary_categories), model_version=result.model_version,
                   explanation=list(result.explanation))
        if deduper is not None:
            out["duplicate_of"] = _dedupe(deduper, router, out["id"], item, result, lat, lon, received)
        yield out


def _dedupe(deduper: StreamDeduper, router: Router, item_id: Any, item: dict, result: Classification,
            lat, lon, received) -> Any:
    found = dedupe_item(router, item_id, item, result, lat, lon, received)
    return None if found is None else deduper.add(found)


def dedupe_item(router: Router, item_id: Any, item: dict, result: Classification, lat, lon,
                received) -> DedupeItem | None:
    """What the deduper sees of one classified input line (None: not actionable or no id)."""
    if not result.actionable or item_id is None:
        return None
    citizen = item.get("citizen")
    cat = router.rules.categories.get(result.category)
    return DedupeItem(
        id=item_id, category=result.category if result.category != router.cls["triage_category"] else None,
        received_at=received, text=result.normalised_text, lat=lat, lon=lon,
        kelurahan_code=result.kelurahan_code, kecamatan=result.kecamatan, street=result.street,
        citizen=str(citizen) if isinstance(citizen, (str, int)) else None, emergency=bool(cat and cat.emergency),
        kind=result.kind)


def classify_stream(infile: IO[str] | str | Path, outfile: IO[str] | str | Path, dedupe: bool = False,
                    router: Router | None = None, data_dir: Path | None = None) -> int:
    """Classify JSON lines from `infile` into `outfile`; returns the number of error lines."""
    if router is None:
        router = Router.load(data_dir or default_data_dir())
    errors = 0
    fin = open(infile, encoding="utf-8", errors="replace") if isinstance(infile, (str, Path)) else infile
    fout = open(outfile, "w", encoding="utf-8") if isinstance(outfile, (str, Path)) else outfile
    try:
        for out in classify_lines(router, fin, dedupe):
            errors += "error" in out
            fout.write(json.dumps(out, ensure_ascii=False) + "\n")
    finally:
        if fin is not infile:
            fin.close()
        if fout is not outfile:
            fout.close()
        else:
            fout.flush()
    return errors


def default_data_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "data"
