"""Open311 GeoReport v2, so existing civic apps can submit and track reports.

    GET  /open311/v2/services.json                      our categories as services (service_code = code)
    POST /open311/v2/requests.json                      create (api_key, service_code, lat/long or
                                                        address_string, description, email, phone,
                                                        first_name, last_name, media_url)
    GET  /open311/v2/requests.json?service_request_id=a,b   query (or start_date/end_date/status)
    GET  /open311/v2/requests/<id>.json                 one request; service_request_id is our ticket

POST needs an API key from INGEST_API_KEYS. Identical submissions by one client (same fields) are
one report: the key is a hash of the client and the fields, since GeoReport has no request id.
"""
from __future__ import annotations

import hashlib
import json

from sqlalchemy import select

from domain.clock import isoformat, parse_timestamp
from domain.intake import IncomingReport
from domain.lifecycle import FINAL_STATUSES, DomainError, Status
from domain.models import Agency, Category, Report
from ingest.api import client_for
from ingest.base import reply_route

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
        client = client_for(self.channels, request)
        if client is None:
            return _error(401, 401, "api_key missing or invalid")
        form = {k: (request.values.get(k) or "").strip() for k in FIELDS}
        if form["service_code"] not in self.channels.services.queue.categories:
            return _error(400, 400, f"unknown service_code {form['service_code']!r}")
        if not (form["lat"] and form["long"]) and not form["address_string"]:
            return _error(400, 400, "lat and long, or address_string, are required")
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
        ids = [request_id] if request_id else [
            i.strip().upper() for i in (request.args.get("service_request_id") or "").split(",") if i.strip()]
        query = select(Report).where(Report.is_demo.is_(False))
        if ids:
            query = query.where(Report.ticket.in_(ids[:200]))
        else:
            try:
                if request.args.get("start_date"):
                    query = query.where(Report.received_at >= parse_timestamp(request.args["start_date"]))
                if request.args.get("end_date"):
                    query = query.where(Report.received_at <= parse_timestamp(request.args["end_date"]))
            except ValueError:
                return _error(400, 400, "start_date/end_date must be ISO 8601")
            if request.args.get("service_code"):
                query = query.where(Report.category_code.in_(request.args["service_code"].split(",")))
            status = request.args.get("status")
            if status in ("open", "closed"):
                final = [s.value for s in FINAL_STATUSES] + [Status.RESOLVED.value]
                query = query.where(Report.status.in_(final) if status == "closed" else Report.status.not_in(final))
            query = query.order_by(Report.received_at.desc()).limit(1000)
        with self.channels.services.sessions() as s:
            reports = s.scalars(query).all()
            agencies = {a.code: a.name for a in s.scalars(select(Agency))}
            out = [self._view(r, agencies) for r in reports]
        if request_id and not out:
            return _error(404, 404, f"no service request {request_id!r}")
        return 200, out

    @staticmethod
    def _view(r: Report, agencies: dict) -> dict:
        closed = r.status in {s.value for s in FINAL_STATUSES} or r.status == Status.RESOLVED.value
        return {
            "service_request_id": r.ticket, "status": "closed" if closed else "open",
            "status_notes": r.resolution_note or r.status, "service_name": r.category_code,
            "service_code": r.category_code, "description": r.text,
            "agency_responsible": agencies.get(r.agency_code, r.agency_code),
            "service_notice": None, "requested_datetime": isoformat(r.received_at),
            "updated_datetime": isoformat(r.updated_at), "expected_datetime": None,
            "address": r.location_text, "address_id": None, "zipcode": None, "lat": r.lat, "long": r.lon,
            "media_url": None,
        }
