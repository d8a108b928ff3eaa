"""City app API, Open311, walk-ins, milestone messages, outbox retries, and malformed payloads."""
from __future__ import annotations

import io
import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import func, select

from domain.actors import Actor
from domain.lifecycle import Role
from domain.models import DeadLetter, OutboxMessage, Report
from ingest.config import ApiClient
from ingest.outbox import OutboxDeliverer, backoff, retry
from ingest.walkin import enter_report
from ingest.base import DeliveryError
from tests.adapters.helpers import channel_config, ingest_app, twilio_post_and_drain, whatsapp_form

OPERATOR = Actor("op1", Role.OPERATOR)
KEY = {"Authorization": "Bearer laksa-key"}


def app(services):
    server, channels = ingest_app(services, channel_config(api_clients=(ApiClient("laksa", "laksa-key", "app"),
                                                                        ApiClient("qlue", "qlue-key", "open311"))))
    return server.test_client(), channels


def test_app_api_json_and_photo_upload_idempotent_per_client(services):
    client, _ = app(services)
    body = {"client_report_id": "r-1", "text": "Jalan berlubang", "citizen": {"phone": "081234000111"},
            "location": {"lat": -6.2, "lon": 106.63, "text": "Jl. Sudirman"}, "category": "ROAD"}
    first = client.post("/api/v1/reports", json=body, headers=KEY)
    again = client.post("/api/v1/reports", json=body, headers=KEY)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json["ticket"] == again.json["ticket"] and first.json["agency"] == "PUPR"
    assert "external_id" not in first.json and "citizen_id" not in first.json
    photo = {"report": json.dumps({"client_report_id": "r-2", "text": "Foto sampah"}),
             "photo": (io.BytesIO(b"\xff\xd8\xff jpeg"), "sampah.jpg", "image/jpeg")}
    r = client.post("/api/v1/reports", data=photo, headers=KEY, content_type="multipart/form-data")
    assert r.status_code == 201
    with services.sessions() as s:
        report = s.scalar(select(Report).where(Report.ticket == r.json["ticket"]))
        assert report.attachments[0].size == len(b"\xff\xd8\xff jpeg")
    assert client.post("/api/v1/reports", json=body).status_code == 401
    assert client.post("/api/v1/reports", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
    bad = client.post("/api/v1/reports", json={"client_report_id": "r-3", "text": "x", "location": {"lat": 99,
                                                                                                  "lon": 1}},
                      headers=KEY)
    assert bad.status_code == 400 and bad.json["field"] == "location.lat"
    assert client.get(f"/api/v1/reports/{first.json['ticket']}", headers=KEY).json["status"] == "NEW"
    assert client.get("/api/v1/reports/TLR-2026-999999", headers=KEY).status_code == 404


def test_open311_services_create_and_query(services, workflow):
    client, _ = app(services)
    services_list = client.get("/open311/v2/services.json").json
    assert {"service_code": "FLOOD", "service_name": "Banjir"}.items() <= services_list[
        [s["service_code"] for s in services_list].index("FLOOD")].items()
    form = {"api_key": "qlue-key", "service_code": "STREETLIGHT", "lat": "-6.17", "long": "106.64",
            "description": "PJU mati", "email": "warga@example.org", "first_name": "Ani"}
    created = client.post("/open311/v2/requests.json", data=form)
    assert created.status_code == 201
    ticket = created.json[0]["service_request_id"]
    assert client.post("/open311/v2/requests.json", data=form).json[0]["service_request_id"] == ticket
    assert client.post("/open311/v2/requests.json", data=dict(form, service_code="NOPE")).status_code == 400
    assert client.post("/open311/v2/requests.json", data=dict(form, api_key="x")).status_code == 401
    one = client.get(f"/open311/v2/requests/{ticket}.json").json[0]  # anyone: the public view
    assert (one["status"], one["service_code"], one["description"]) == ("open", "STREETLIGHT", None)
    assert one["agency_responsible"].startswith("Dinas Perumahan")
    own = client.get(f"/open311/v2/requests.json?service_request_id={ticket}", headers={"X-API-Key": "qlue-key"})
    assert own.json[0]["description"] == "PJU mati" and (own.json[0]["lat"], own.json[0]["long"]) == (-6.17, 106.64)
    assert client.get("/open311/v2/requests/TLR-2000-000001.json").status_code == 404


def test_walk_in_entry_and_the_citizen_milestones_through_the_same_channel(services, workflow, clock):
    _, channels = app(services)
    ticket = enter_report(channels, OPERATOR, channel="letter", text="Surat warga RW 04: saluran tersumbat",
                          citizen_name="Pak RW", citizen_phone="0812-3456-0000", reference="SK/123/2026",
                          category="DRAINAGE")
    assert enter_report(channels, OPERATOR, channel="letter", text="Surat warga RW 04: saluran tersumbat",
                        citizen_phone="0812-3456-0000", reference="SK/123/2026") == ticket
    officer = Actor("pupr1", Role.AGENCY_OFFICER, "PUPR")
    workflow.verify_and_assign(ticket, OPERATOR)
    workflow.accept(ticket, officer)
    workflow.resolve(ticket, officer, "Saluran sudah dibersihkan")
    clock.advance(hours=1)
    workflow.close(ticket, OPERATOR)
    with services.sessions() as s:
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [r.template for r in rows] == ["received", "forwarded", "resolved", "closed_survey"]
    assert {r.recipient for r in rows} == {"whatsapp:+6281234560000"}
    assert "Dinas Pekerjaan Umum" in rows[1].body
    assert "Saluran sudah dibersihkan" in rows[2].body and f"BUKA {ticket}" in rows[2].body
    assert "1 sampai 5" in rows[3].body
    client, channels = app(services)
    twilio_post_and_drain(client, channels, "/webhooks/twilio/whatsapp",
                          whatsapp_form("SM-rate", "4", phone="+6281234560000"))
    assert services.queue.get(ticket).satisfaction == 4
    twilio_post_and_drain(client, channels, "/webhooks/twilio/whatsapp",
                          whatsapp_form("SM-re", f"BUKA {ticket} masih mampet", phone="+6281234560000"))
    assert services.queue.get(ticket).status == "ASSIGNED"


class Flaky:
    def __init__(self, *results):
        self.results = list(results)

    def send(self, message):
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


def test_outbox_retries_with_backoff_then_gives_up_visibly(services, clock):
    _, channels = app(services)
    enter_report(channels, OPERATOR, channel="walk_in", text="lampu mati", citizen_phone="081200000001")
    sender = Flaky(DeliveryError("HTTP 503"), DeliveryError("timeout"), "SMok")
    deliverer = OutboxDeliverer(services.sessions, {"whatsapp": sender}, clock, max_attempts=3)
    assert deliverer.deliver_due().retried == 1
    assert deliverer.deliver_due().sent == 0  # not due yet
    clock.advance(seconds=backoff(1).total_seconds())
    assert deliverer.deliver_due().retried == 1
    clock.advance(seconds=backoff(2).total_seconds())
    assert deliverer.deliver_due().sent == 1
    assert backoff(1) < backoff(2) < backoff(3) and backoff(30) == timedelta(hours=1)
    enter_report(channels, OPERATOR, channel="walk_in", text="pohon tumbang", citizen_phone="081200000002")
    dead = OutboxDeliverer(services.sessions, {"whatsapp": Flaky(*[DeliveryError("down")] * 3)}, clock,
                           max_attempts=2)
    dead.deliver_due()
    clock.advance(hours=1)
    assert dead.deliver_due().dead == 1
    with services.sessions() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.status == "dead"))
        assert row.last_error == "down" and row.attempts == 2
    assert retry(services.sessions, row.id, clock())
    with services.sessions() as s:
        assert s.get(OutboxMessage, row.id).status == "pending"


form_values = st.one_of(st.text(max_size=50), st.sampled_from(["", "0", "-1", "99", "abc", "whatsapp:+62",
                                                               "whatsapp:+6281234567890", "https://x/y"]))


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.dictionaries(st.sampled_from(["MessageSid", "From", "Body", "NumMedia", "MediaUrl0",
                                             "MediaContentType0", "Latitude", "Longitude", "ProfileName",
                                             "Address"]), form_values, max_size=10))
def test_malformed_whatsapp_payloads_are_ingested_or_dead_lettered(services, form):
    client, channels = app(services)
    before = _totals(services)
    response = twilio_post_and_drain(client, channels, "/webhooks/twilio/whatsapp",
                                     {k: v.replace("\x00", "") for k, v in form.items()})
    assert response.status_code == 200
    assert channels.drainer.pending() == 0  # every staged payload became something
    after = _totals(services)
    assert after != before or _seen_before(services, form)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(
    st.binary(max_size=400),
    st.builds(lambda h, b: h + b"\r\n\r\n" + b, st.sampled_from([
        b"From: a@example.org\r\nContent-Type: text/plain; charset=x-unknown",
        b"From: <>\r\nSubject: =?utf-8?b?!!!?=", b"From: b@example.org\r\nContent-Type: multipart/mixed; boundary=",
        b"From: c@example.org\r\nContent-Transfer-Encoding: base64", b"Subject: no sender"]),
        st.binary(max_size=300))))
def test_malformed_mail_is_ingested_or_dead_lettered(services, raw):
    _, channels = app(services)
    before = _totals(services)
    outcome = channels.email.inbound(raw)
    assert outcome.kind in ("created", "duplicate", "followup", "command", "dead_letter")
    if outcome.kind == "dead_letter":
        with services.sessions() as s:
            letter = s.get(DeadLetter, outcome.dead_letter_id)
            assert letter.reason and letter.raw == raw
    elif outcome.kind == "created":
        assert _totals(services)[0] == before[0] + 1


def _totals(services):
    with services.sessions() as s:
        return (s.scalar(select(func.count()).select_from(Report)),
                s.scalar(select(func.count()).select_from(DeadLetter)),
                s.scalar(select(func.count()).select_from(OutboxMessage)))


def _seen_before(services, form) -> bool:
    """The same payload twice (hypothesis repeats examples): nothing new is right."""
    with services.sessions() as s:
        sid = (form.get("MessageSid") or "").strip()
        return bool(s.scalar(select(func.count()).select_from(DeadLetter))) or bool(
            sid and s.scalar(select(Report.id).where(Report.external_id == sid)))
