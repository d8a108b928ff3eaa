"""Open311 GeoReport v2, so existing civic apps can submit and track reports.

    GET  /open311/v2/services.json                      our categories as services (service_code = code)
    POST /open311/v2/requests.json                      create (api_key, service_code, lat/long or
                                                        address_string, description, email, phone,
                                                        first_name, last_name, media_url)
    GET  /open311/v2/requests.json?service_request_id=a,b   query (or start_date/end_date/status)
    GET  /open311/v2/requests/<id>.json                 one request; service_request_id is our ticket

Reading is open to anyone, as a public tracker: anonymous callers get the public projection only
(ingest/open311_public.py: category, status, area, the kelurahan's reference point, dates; never a
sensitive or emergency category, a name, a contact, the text, the address or the resolution note). A
client with a key (`X-API-Key` or `Authorization: Bearer` header) also reads the full request of every
report it created itself; everything else it reads as the public does. A sensitive report's ticket
answers 404 to whoever did not create it, as a missing one.

POST needs an API key from INGEST_API_KEYS: in a header, or as GeoReport v2's `api_key` field of the
form body; never in the URL (400: access logs keep URLs). Identical submissions by one client (same
fields) are one report: the key is a hash of the client and the fields, since GeoReport has no request id.
A `media_url` must be https; the worker fetches it through ingest/fetch.py (public addresses only).
"""
from __future__ import annotations

import hashlib
import json
import re

from sqlalchemy import select

from dashboard.masking import mask_text
from domain.clock import isoformat, parse_timestamp
from domain.intake import IncomingReport
from domain.lifecycle import TICKET_SHAPE, DomainError
from domain.models import Agency, Category, Report
from ingest.api import OPEN311, KeyRefused, client_for, created_by
from ingest.base import reply_route
from ingest.fetch import url_problem
from ingest.open311_public import CLOSED, STATUS_NOTES, public_requests

CODE_SHAPE = re.compile(r"[A-Z0-9_]{1,32}")
FIELDS = ("service_code", "lat", "long", "address_string", "description", "email", "phone", "first_name",
          "last_name", "media_url", "device_id", "account_id")


def _error(status: int, code: int, description: str) -> tuple[int, list]:
    return status, [{"code": code, "description": description}]


class Open311:
    def __init__(self, channels):
        self.channels = channels

    def services(self, request) -> tuple[int, list]:
        with self.channels.services.sessions() as s:
            categories = s.scalars(select(Category).where(Category.active).order_by(Category.code)).all()
        return 200, [{"service_code": c.code, "service_name": c.label_id, "description": c.label_en,
                      "metadata": False, "type": "realtime", "keywords": "", "group": c.agency_code}
                     for c in categories]

    def create(self, request) -> tuple[int, list]:
        try:
            client = client_for(self.channels, request, family=OPEN311, form_allowed=True)
        except KeyRefused as exc:
            return _error(exc.status, exc.status, str(exc))
        form = {k: (request.form.get(k) or "").strip() for k in FIELDS}
        if form["service_code"] not in self.channels.services.queue.categories:
            return _error(400, 400, f"unknown service_code {form['service_code'][:40]!r}")
        if not (form["lat"] and form["long"]) and not form["address_string"]:
            return _error(400, 400, "lat and long, or address_string, are required")
        if form["media_url"]:
            problem = url_problem(form["media_url"])
            if problem:
                return _error(400, 400, f"media_url: {problem}")
        key = hashlib.sha256(json.dumps([client.name, form], sort_keys=True).encode()).hexdigest()[:40]
        name = " ".join(p for p in (form["first_name"], form["last_name"]) if p) or None
        citizen = {"name": name, "email": form["email"] or None, "phone": form["phone"] or None}
        data = {
            "channel": "open311", "external_id": f"{client.name}:{key}",
            "text": form["description"] or f"Laporan {form['service_code']} melalui Open311",
            "received_at": isoformat(self.channels.clock()), "category": form["service_code"],
            "citizen": citizen if any(citizen.values()) else None,
            "location": {"text": form["address_string"] or None, "lat": form["lat"] or None,
                         "lon": form["long"] or None},
            "attachments": [{"filename": "media", "source_url": form["media_url"]}] if form["media_url"] else [],
            "raw_payload": {"provider": {"client": client.name, **form}},
        }
        try:
            incoming = IncomingReport.from_dict(data, max_bytes=self.channels.services.settings.max_payload_bytes)
        except DomainError as exc:
            return _error(400, 400, str(exc))
        if incoming.citizen and incoming.citizen.email:
            incoming.raw_payload["reply"] = reply_route("email", incoming.citizen.email)
        outcome = self.channels.inbox.submit(incoming)
        return 201, [{"service_request_id": outcome.ticket,
                      "service_notice": "Laporan diterima Tangerang Live Room", "account_id": None}]

    def query(self, request, request_id: str | None = None) -> tuple[int, list]:
        try:
            client = client_for(self.channels, request, family=OPEN311, required=False)
        except KeyRefused as exc:
            return _error(exc.status, exc.status, str(exc))
        ids = [request_id] if request_id else [
            i for i in (request.args.get("service_request_id") or "").split(",") if i.strip()]
        asked = bool(ids)
        # only ticket-shaped ids reach SQL (a NUL would be a database error on PostgreSQL)
        ids = [i.strip().upper() for i in ids[:200] if TICKET_SHAPE.fullmatch(i.strip().upper())]
        filters: dict = {"tickets": ids if asked else None}
        if not asked:
            try:
                for name, key in (("start_date", "start"), ("end_date", "end")):
                    if request.args.get(name):
                        filters[key] = parse_timestamp(request.args[name])
            except ValueError:
                return _error(400, 400, "start_date/end_date must be ISO 8601")
            codes = None
            if request.args.get("service_code"):  # asked for: only well-formed codes (none: nothing matches)
                codes = [c.strip().upper() for c in request.args["service_code"].split(",")
                         if CODE_SHAPE.fullmatch(c.strip().upper())]
            filters.update(service_codes=codes, status=request.args.get("status"))
        with self.channels.services.sessions() as s:
            out = public_requests(s, **filters)
            if client is not None:  # the client's own reports in full, in place of their public view
                own = self._own(s, client, filters)
                out = [r for r in out if r["service_request_id"] not in own] + list(own.values())
                out.sort(key=lambda r: r["requested_datetime"] or "", reverse=True)
                out = out[:1000]
        if request_id and not out:
            return _error(404, 404, f"no service request {request_id[:40]!r}")
        return 200, out

    def _own(self, s, client, filters: dict) -> dict[str, dict]:
        query = select(Report).where(created_by(client), Report.is_demo.is_(False))
        if filters.get("tickets") is not None:
            query = query.where(Report.ticket.in_(filters["tickets"]))
        if filters.get("start"):
            query = query.where(Report.received_at >= filters["start"])
        if filters.get("end"):
            query = query.where(Report.received_at <= filters["end"])
        if filters.get("service_codes") is not None:
            query = query.where(Report.category_code.in_(filters["service_codes"]))
        if filters.get("status") in ("open", "closed"):
            query = query.where(Report.status.in_(CLOSED) if filters["status"] == "closed"
                                else Report.status.not_in(CLOSED))
        agencies = {a.code: a.name for a in s.scalars(select(Agency))}
        reports = s.scalars(query.order_by(Report.received_at.desc()).limit(1000)).all()
        return {r.ticket: self._view(r, agencies) for r in reports}

    @staticmethod
    def _view(r: Report, agencies: dict) -> dict:
        """The full request, for the client that created the report only. The agency's note is written by
        officers and may name or give the number of anyone: contacts and names are masked, as on the
        citizen's tracking page (the civic app republishes statuses)."""
        name = r.citizen.name if r.citizen is not None else None
        note = mask_text(r.resolution_note, (name,) if name else ()) if r.resolution_note else None
        return {
            "service_request_id": r.ticket, "status": "closed" if r.status in CLOSED else "open",
            "status_notes": note or STATUS_NOTES.get(r.status, r.status), "service_name": r.category_code,
            "service_code": r.category_code, "description": r.text,
            "agency_responsible": agencies.get(r.agency_code, r.agency_code),
            "service_notice": None, "requested_datetime": isoformat(r.received_at),
            "updated_datetime": isoformat(r.updated_at), "expected_datetime": None,
            "address": r.location_text, "address_id": None, "zipcode": None, "lat": r.lat, "long": r.lon,
            "media_url": None,
        }
