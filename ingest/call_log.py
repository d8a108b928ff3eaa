"""Import 112 call logs delivered by an external 112 platform: a CSV with a header row (UTF-8, Windows-1252 or
Latin-1; comma, semicolon or tab separated) or an Excel workbook (.xlsx: every sheet with the columns
below, or the one named), read by ingest/tables.py (pandas).

Columns (unknown columns are ignored; * = required):
    call_id*           the platform's unique call id (idempotency key: importing a file twice is harmless)
    started_at*        ISO 8601 with offset, e.g. 2026-11-23T07:15:00+07:00 (no offset = UTC)
    caller_number      the caller's number in any notation (0812..., +62812...)
    duration_seconds   whole seconds the call lasted
    outcome            answered | unanswered | abandoned | busy | prank
    category           one of our category codes (FIRE, MEDICAL, ...), optional
    summary            what the call-taker wrote down
    location_text      the address or landmark given
    lat, lon           decimal degrees, both or neither
    call_taker         who took the call

    python -m ingest.call_log FILE.csv|FILE.xlsx [SHEET]
A row that cannot become a report is dead-lettered (channel call112) with the row and the reason; so is a
file that cannot be read at all or that lacks the required columns.

The file comes from the city's own 112 platform, so `started_at` is trusted as the time the control room
received the call (SLA clocks start there, and the SLA catch-up records what fell due since), except in
the future: such a row is dead-lettered (domain/intake.py: trusted_receipt).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from domain.clock import parse_timestamp
from domain.intake import IncomingReport, trusted_receipt
from domain.lifecycle import Kind, ValidationError
from domain.models import Call, Report
from ingest.base import reply_route
from ingest.tables import read_tables

OUTCOMES = {"answered", "unanswered", "abandoned", "busy", "prank"}
REQUIRED = ("call_id", "started_at")


@dataclass
class ImportResult:
    created: int = 0
    duplicates: int = 0
    dead_letters: int = 0


def import_call_log(channels, data: bytes, sheet: str | None = None) -> ImportResult:
    result = ImportResult()
    try:
        tables = read_tables(data, sheet)
    except ValidationError as exc:
        channels.inbox.dead_letter("call112", data, f"call log: {exc}")
        result.dead_letters += 1
        return result
    usable = [t for t in tables if not [c for c in REQUIRED if c not in {h.lower() for h in t.columns}]]
    if not usable:
        found = ", ".join(tables[0].columns) if len(tables) == 1 else f"{len(tables)} sheets"
        channels.inbox.dead_letter("call112", data, f"call log lacks columns: {', '.join(REQUIRED)} (found {found})")
        result.dead_letters += 1
        return result
    for table in usable:
        for cells in table.too_long:
            channels.inbox.dead_letter("call112", json.dumps(cells, ensure_ascii=False).encode(),
                                       f"call log: a line with {len(cells)} cells under {len(table.columns)} columns")
            result.dead_letters += 1
        where = "line" if table.name == "csv" else f"sheet {table.name!r} row"
        for line, row in table.rows:
            try:
                incoming, call = _row_to_report(row)
                incoming = trusted_receipt(incoming, channels.clock())
            except (ValidationError, ValueError) as exc:
                channels.inbox.dead_letter("call112", json.dumps(row, ensure_ascii=False).encode(),
                                           f"call log {where} {line}: {exc}")
                result.dead_letters += 1
                continue
            outcome = channels.inbox.submit(incoming)
            if outcome.kind == "created":
                result.created += 1
                _store_call(channels, outcome.ticket, call)
            else:
                result.duplicates += 1
    return result


def _row_to_report(row: dict) -> tuple[IncomingReport, dict]:
    row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
    if not row.get("call_id"):
        raise ValueError("call_id is empty")
    started = parse_timestamp(row["started_at"]) if row.get("started_at") else None
    if started is None:
        raise ValueError("started_at is empty")
    outcome = row.get("outcome", "").lower() or None
    if outcome and outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r} (one of {', '.join(sorted(OUTCOMES))})")
    duration = int(float(row["duration_seconds"])) if row.get("duration_seconds") else None  # Excel: "120.0"
    caller = row.get("caller_number") or None
    summary = row.get("summary") or f"Panggilan 112 ({outcome or 'tanpa keterangan'})"
    location = None
    if row.get("location_text") or row.get("lat") or row.get("lon"):
        location = {"text": row.get("location_text") or None, "lat": row.get("lat") or None,
                    "lon": row.get("lon") or None}
    data = {
        "channel": "call112", "external_id": f"log:{row['call_id']}"[:200], "text": summary,
        "received_at": started.isoformat(), "kind": Kind.EMERGENCY.value,
        "category": row.get("category") or None, "location": location,
        "citizen": {"phone": caller} if caller else None,
        "raw_payload": {"provider": row, **({"reply": reply_route("sms", caller)} if caller else {})},
    }
    incoming = IncomingReport.from_dict(data)
    if incoming.citizen and incoming.citizen.phone:
        incoming.raw_payload["reply"] = reply_route("sms", incoming.citizen.phone)
    flag = {"unanswered": "callback", "abandoned": "callback", "busy": "callback", "prank": "likely_prank"}.get(
        outcome or "")
    return incoming, {"call_id": row["call_id"], "from": incoming.citizen.phone if incoming.citizen else None,
                      "started_at": started, "duration": duration, "outcome": outcome, "flag": flag}


def _store_call(channels, ticket: str, call: dict) -> None:
    from sqlalchemy import select

    now = channels.clock()
    try:
        with channels.services.sessions.begin() as s:
            report_id = s.scalar(select(Report.id).where(Report.ticket == ticket))
            s.add(Call(call_sid=f"log:{call['call_id']}"[:64], source="csv", report_id=report_id,
                       from_number=call["from"], state="completed" if call["outcome"] == "answered" else
                       ("unanswered" if call["flag"] == "callback" else "completed"),
                       started_at=call["started_at"], duration_seconds=call["duration"], outcome=call["outcome"],
                       flag=call["flag"], updated_at=now))
    except IntegrityError:
        pass


def main(argv: list[str]) -> int:
    from app import Services
    from domain.config import Settings
    from ingest.channels import Channels

    if len(argv) not in (1, 2):
        print("usage: python -m ingest.call_log FILE.csv|FILE.xlsx [SHEET]", file=sys.stderr)
        return 2
    services = Services(Settings.from_env())
    services.init_db()
    with open(argv[0], "rb") as fh:
        result = import_call_log(Channels(services), fh.read(), argv[1] if len(argv) == 2 else None)
    print(json.dumps(result.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
