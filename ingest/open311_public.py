"""What a public tracker may show of the city's reports: the one query behind anonymous Open311 reads.

It selects only public columns (ticket, category, status, agency, kecamatan and kelurahan, the
kelurahan's reference point, dates) and only reports a public tracker may list: a category marked
`public` in data/categories.csv (emergency and sensitive topics such as crime, social welfare and
health never are), not an emergency, not a 112 call, not demo, not rejected or merged. The citizen's
text, name, contacts, the exact address and coordinates, the resolution note and attachments are not
in the query, so they cannot reach an anonymous caller. Coordinates are the kelurahan's reference point
(areas.csv), never the report's own; a report without a kelurahan has no location.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.clock import isoformat
from domain.lifecycle import FINAL_STATUSES, Status
from domain.models import Agency, Area, Category, Report
from domain.publicity import PUBLIC_REPORT

CLOSED = frozenset({s.value for s in FINAL_STATUSES} | {Status.RESOLVED.value})
STATUS_NOTES = {  # a fixed vocabulary: never a note someone wrote
    "NEW": "Laporan diterima", "VERIFIED": "Laporan diverifikasi", "ASSIGNED": "Diteruskan ke perangkat daerah",
    "ACCEPTED": "Diterima perangkat daerah", "IN_PROGRESS": "Sedang ditangani",
    "WAITING_CITIZEN": "Menunggu keterangan pelapor", "RESOLVED": "Selesai ditangani", "CLOSED": "Selesai",
}
LISTED = PUBLIC_REPORT  # domain/publicity.py: the same rule for every public surface


def public_query():
    """SELECT of the public columns of the listed reports (the caller adds filters, order and limit)."""
    return (select(Report.ticket, Report.status, Report.category_code, Category.label_id, Agency.name.label("agency"),
                   Report.kecamatan, Area.kelurahan, Area.lat, Area.lon, Report.received_at, Report.updated_at)
            .join(Category, Category.code == Report.category_code)
            .outerjoin(Agency, Agency.code == Report.agency_code)
            .outerjoin(Area, Area.kode == Report.kelurahan_code)
            .where(LISTED))


def public_requests(session: Session, *, tickets: list[str] | None = None, start: datetime | None = None,
                    end: datetime | None = None, service_codes: list[str] | None = None, status: str | None = None,
                    limit: int = 1000) -> list[dict]:
    query = public_query()
    if tickets is not None:
        query = query.where(Report.ticket.in_(tickets))
    if start is not None:
        query = query.where(Report.received_at >= start)
    if end is not None:
        query = query.where(Report.received_at <= end)
    if service_codes is not None:
        query = query.where(Report.category_code.in_(service_codes))
    if status in ("open", "closed"):
        query = query.where(Report.status.in_(CLOSED) if status == "closed" else Report.status.not_in(CLOSED))
    rows = session.execute(query.order_by(Report.received_at.desc(), Report.id.desc()).limit(limit)).all()
    return [_request(r) for r in rows]


def _request(r) -> dict:
    area = ", ".join(p for p in (f"Kel. {r.kelurahan}" if r.kelurahan else "",
                                 f"Kec. {r.kecamatan}" if r.kecamatan else "") if p) or None
    return {
        "service_request_id": r.ticket, "status": "closed" if r.status in CLOSED else "open",
        "status_notes": STATUS_NOTES.get(r.status, ""), "service_name": r.label_id, "service_code": r.category_code,
        "description": None, "agency_responsible": r.agency, "service_notice": None,
        "requested_datetime": isoformat(r.received_at), "updated_datetime": isoformat(r.updated_at),
        "expected_datetime": None, "address": area, "address_id": None, "zipcode": None,
        "lat": r.lat if r.kelurahan else None, "long": r.lon if r.kelurahan else None, "media_url": None,
    }
