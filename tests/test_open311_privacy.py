"""Open311 and the city app API as an outsider meets them: anonymous reads see only the public projection
(never a sensitive or emergency category, a name, a contact, the text, the exact address or coordinates,
the resolution note); a key reads in full only the reports its client created; keys come from headers only.
The same contract against the real server is in tests/test_browser_privacy.py."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from domain.actors import Actor
from domain.intake import IncomingReport
from domain.models import Agency, Area, Category, Report
from ingest.config import ApiClient
from ingest.open311_public import STATUS_NOTES
from tests.adapters.helpers import channel_config, ingest_app

OPERATOR = Actor("op1", "operator")
OFFICER = Actor("pupr1", "agency_officer", "PUPR")
QLUE, LAKSA = {"X-API-Key": "qlue-key"}, {"Authorization": "Bearer laksa-key"}
PII = ("Sutrisno", "Wibowo", "0812", "3456", "7890", "sutrisno", "example.org", "Melati", "KDRT", "korban",
       "berlubang", "tetangga", "lubang sudah", "-6.2101", "106.6102", "-6.1701", "106.6402")


def app(services):
    server, channels = ingest_app(services, channel_config(api_clients=(ApiClient("qlue", "qlue-key", "open311"),
                                                                        ApiClient("laksa", "laksa-key", "app"))))
    return server.test_client(), channels


def _submit(services, channel, external_id, text, **extra):
    data = {"channel": channel, "external_id": external_id, "text": text,
            "received_at": services.queue.clock().isoformat(), **extra}
    return services.queue.submit(IncomingReport.from_dict(data)).report


@pytest.fixture
def city(services):
    """Reports behind the feed: a public one from Open311 (qlue) and one from the app (laksa), a 112 call,
    a sensitive (social) one, an emergency of a public category, a rejected one; all full of personal data."""
    client, _ = app(services)
    form = {"api_key": "qlue-key", "service_code": "ROAD", "lat": "-6.1701", "long": "106.6402",
            "address_string": "Jl. Melati No. 7", "description": "jalan berlubang, hubungi Sutrisno 0812/3456/7890",
            "email": "sutrisno@example.org", "phone": "081234567890", "first_name": "Sutrisno", "last_name": "Wibowo"}
    road = client.post("/open311/v2/requests.json", data=form).json[0]["service_request_id"]
    services.workflow.verify_and_assign(road, OPERATOR)
    services.workflow.accept(road, OFFICER)
    services.workflow.resolve(road, OFFICER, "lubang sudah ditambal, Pak Sutrisno 0812-3456-7890 puas")
    waste = client.post("/api/v1/reports", headers=LAKSA, json={
        "client_report_id": "w-1", "text": "sampah menumpuk kata tetangga, WA 0812 3456 7890", "category": "WASTE",
        "citizen": {"name": "Sutrisno Wibowo", "phone": "081234567890"},
        "location": {"text": "Jl. Melati No. 7", "lat": -6.2101, "lon": 106.6102}}).json["ticket"]
    pii = dict(citizen={"name": "Sutrisno Wibowo", "phone": "+6281234567890", "email": "sutrisno@example.org"},
               location={"text": "Jl. Melati No. 7", "lat": -6.2101, "lon": 106.6102})
    crime = _submit(services, "call112", "CA-1", "KDRT, korban Ibu Sari, telp tetangga 0812-3456-7890",
                    kind="EMERGENCY", category="CRIME", **pii).ticket
    social = _submit(services, "web", "w-social", "anak terlantar, korban Sutrisno", category="SOCIAL", **pii).ticket
    urgent = _submit(services, "web", "w-urgent", "jembatan mau runtuh, Sutrisno", kind="EMERGENCY", category="ROAD",
                     **pii).ticket
    spam = _submit(services, "web", "w-spam", "promo pinjaman cepat hubungi Sutrisno", category="DRAINAGE",
                   citizen={"email": "sutrisno@example.org"}).ticket
    services.workflow.reject(spam, OPERATOR, "spam")
    return {"client": client, "road": road, "waste": waste, "crime": crime, "social": social, "urgent": urgent,
            "spam": spam}


def _public_values(services) -> set:
    """Every value an anonymous item may carry, besides its ticket and timestamps."""
    with services.sessions() as s:
        values = {None, "open", "closed", *STATUS_NOTES.values()}
        values |= {v for c in s.scalars(select(Category)) for v in (c.code, c.label_id)}
        values |= set(s.scalars(select(Agency.name)))
        for a in s.scalars(select(Area)):
            values |= {a.lat, a.lon, f"Kel. {a.kelurahan}, Kec. {a.kecamatan}", f"Kec. {a.kecamatan}"}
    return values


def test_the_anonymous_feed_is_the_public_projection_only(services, city):
    client = city["client"]
    feed = client.get("/open311/v2/requests.json")
    assert feed.status_code == 200
    assert {r["service_request_id"] for r in feed.json} == {city["road"], city["waste"]}
    text = json.dumps(feed.json)
    for secret in PII:
        assert secret not in text, secret
    allowed = _public_values(services)
    for item in feed.json:
        for key, value in item.items():
            if key not in ("service_request_id", "requested_datetime", "updated_datetime"):
                assert value in allowed, (key, value)
    road = next(r for r in feed.json if r["service_request_id"] == city["road"])
    with services.sessions() as s:
        report = services.queue.get(city["road"])
        area = s.get(Area, report.kelurahan_code)
    assert (road["lat"], road["long"]) == (area.lat, area.lon)  # the kelurahan's point, not the report's
    assert road["status"] == "closed" and road["status_notes"] == STATUS_NOTES["RESOLVED"]
    assert road["address"] == f"Kel. {area.kelurahan}, Kec. {area.kecamatan}"


def test_sensitive_emergency_and_rejected_tickets_answer_as_missing(city):
    client = city["client"]
    for which in ("crime", "social", "urgent", "spam"):
        ticket = city[which]
        assert client.get(f"/open311/v2/requests/{ticket}.json").status_code == 404, which
        assert client.get(f"/open311/v2/requests.json?service_request_id={ticket}").json == [], which
        assert client.get(f"/open311/v2/requests/{ticket}.json", headers=QLUE).status_code == 404, which


def test_a_key_reads_in_full_only_the_reports_its_client_created(services, city):
    client = city["client"]
    own = client.get(f"/open311/v2/requests/{city['road']}.json", headers=QLUE).json[0]
    assert own["description"].startswith("jalan berlubang") and (own["lat"], own["long"]) == (-6.1701, 106.6402)
    assert own["status_notes"].startswith("lubang sudah ditambal")
    feed = client.get("/open311/v2/requests.json", headers=QLUE).json
    others = [r for r in feed if r["service_request_id"] != city["road"]]
    assert [r["service_request_id"] for r in others] == [city["waste"]]
    assert others[0]["description"] is None and "tetangga" not in json.dumps(others)
    # the app client reads its own report through /api/v1, and nobody else's
    assert client.get(f"/api/v1/reports/{city['waste']}", headers=LAKSA).json["text"].startswith("sampah")
    for ticket in (city["road"], city["crime"], city["social"]):
        answer = client.get(f"/api/v1/reports/{ticket}", headers=LAKSA)
        assert answer.status_code == 404 and "Sutrisno" not in answer.text
    assert client.get(f"/api/v1/reports/{city['waste']}", headers={"X-API-Key": "qlue-key"}).status_code == 403


def test_the_open311_client_reads_the_agency_note_with_contacts_and_names_masked(city):
    own = city["client"].get(f"/open311/v2/requests/{city['road']}.json", headers=QLUE).json[0]
    assert own["status_notes"] == "lubang sudah ditambal, Pak [nama] [telepon] puas"


def test_a_key_serves_its_own_route_family_only(services, city):
    """An open311 key creates and reads through /open311 only, an app key through /api/v1 only (F3)."""
    client = city["client"]
    def reports():
        with services.sessions() as s:
            return s.scalar(select(func.count(Report.id)))

    before = reports()
    crossed = client.post("/api/v1/reports", headers=QLUE, json={"client_report_id": "scope-1", "text": "lampu mati"})
    assert crossed.status_code == 403 and "/open311" in crossed.json["message"]
    assert client.get(f"/api/v1/reports/{city['road']}", headers=QLUE).status_code == 403
    form = {"service_code": "ROAD", "address_string": "Jl. Baru", "description": "lubang baru"}
    assert client.post("/open311/v2/requests.json", headers=LAKSA, data=form).status_code == 403
    assert client.post("/open311/v2/requests.json", data={**form, "api_key": "laksa-key"}).status_code == 403
    assert client.get(f"/open311/v2/requests/{city['waste']}.json", headers=LAKSA).status_code == 403
    assert client.get("/open311/v2/requests.json", headers=LAKSA).status_code == 403
    assert reports() == before  # nothing written for a refused key
    # each on its own family still works
    assert client.post("/open311/v2/requests.json", headers=QLUE, data=form).status_code == 201
    assert client.get(f"/api/v1/reports/{city['waste']}", headers=LAKSA).status_code == 200


def test_a_sensitive_report_is_read_back_by_its_own_client_only(city):
    client = city["client"]
    created = client.post("/open311/v2/requests.json", data={
        "api_key": "qlue-key", "service_code": "SOCIAL", "address_string": "Jl. Melati No. 7",
        "description": "lansia terlantar, Sutrisno"})
    ticket = created.json[0]["service_request_id"]
    assert client.get(f"/open311/v2/requests/{ticket}.json").status_code == 404
    assert client.get(f"/open311/v2/requests/{ticket}.json", headers=QLUE).json[0]["description"].startswith("lansia")


def test_keys_come_from_headers_only(services, city):
    client = city["client"]
    for url in (f"/api/v1/reports/{city['waste']}?api_key=laksa-key", "/open311/v2/requests.json?api_key=qlue-key",
                f"/open311/v2/requests/{city['road']}.json?api_key=qlue-key"):
        answer = client.get(url)
        assert answer.status_code == 400 and "header" in answer.text, url
    posted = client.post("/open311/v2/requests.json?api_key=qlue-key",
                         data={"service_code": "ROAD", "address_string": "Jl. Baru", "description": "x"})
    assert posted.status_code == 400
    posted = client.post("/api/v1/reports?api_key=laksa-key", json={"client_report_id": "q-1", "text": "x"})
    assert posted.status_code == 400
    assert client.get("/open311/v2/requests.json", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get(f"/api/v1/reports/{city['waste']}").status_code == 401
    # GeoReport v2's own place for the key: the form body of a POST
    body = client.post("/open311/v2/requests.json", data={"api_key": "qlue-key", "service_code": "ROAD",
                                                          "address_string": "Jl. Baru", "description": "lubang"})
    assert body.status_code == 201
