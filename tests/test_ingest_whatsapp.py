"""WhatsApp through Twilio, end to end: signed webhooks staged and acknowledged, drained into reports and
conversations in the queue, acknowledgements out through the outbox to a local Twilio fake."""
from __future__ import annotations

import base64
import logging

import pytest
from sqlalchemy import func, select

from domain.actors import Actor
from domain.lifecycle import Role
from domain.models import Attachment, DeadLetter, Event, InboundMessage, Message, OutboxMessage, Report
from ingest.media import fetch_pending_media
from tests.adapters.fake_providers import FakeProvider, Reply
from tests.adapters.helpers import (TWILIO_SID, TWILIO_TOKEN, channel_config, ingest_app, twilio_post,
                                    twilio_post_and_drain, whatsapp_form)

PATH = "/webhooks/twilio/whatsapp"
OPERATOR = Actor("op1", Role.OPERATOR)


@pytest.fixture
def app(services):
    server, channels = ingest_app(services, channel_config())
    return server.test_client(), channels


def post(app, form):
    client, channels = app
    return twilio_post_and_drain(client, channels, PATH, form)


def count(services, model, *where):
    with services.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_signed_message_is_staged_acknowledged_then_becomes_report_with_ticket_acknowledgement(app, services):
    client, channels = app
    response = twilio_post(client, PATH, whatsapp_form("SM001", "banjir selutut di Ciledug", ProfileName="Siti"))
    assert response.status_code == 200
    assert response.mimetype == "text/xml" and b"<Response></Response>" in response.data
    assert count(services, Report) == 0 and count(services, InboundMessage, InboundMessage.state == "pending") == 1
    clock_at_webhook = services.clock()
    services.clock.advance(seconds=2)  # the worker drains a moment later
    stats = channels.drainer.drain()
    assert stats.outcomes == {"created": 1}
    with services.sessions() as s:
        report = s.scalar(select(Report))
        outbox = s.scalars(select(OutboxMessage)).all()
        staged = s.scalar(select(InboundMessage))
        assert report.channel == "whatsapp" and report.external_id == "SM001"
        assert report.text == "banjir selutut di Ciledug"
        assert report.received_at == clock_at_webhook  # the SLA starts when the city received it
        assert report.citizen.name == "Siti"
        assert [(o.channel, o.recipient, o.template) for o in outbox] == [
            ("whatsapp", "whatsapp:+6281234567890", "received")]
        assert report.ticket in outbox[0].body and "STATUS " + report.ticket in outbox[0].body
        assert (staged.state, staged.outcome, staged.ticket) == ("done", "created", report.ticket)


def test_same_webhook_three_times_is_one_report_and_one_acknowledgement(app, services):
    client, channels = app
    for _ in range(3):
        assert twilio_post(client, PATH, whatsapp_form("SM-dup")).status_code == 200
    assert count(services, InboundMessage) == 1
    channels.drainer.drain()
    assert post(app, whatsapp_form("SM-dup")).status_code == 200  # a late retry after the drain
    assert count(services, Report) == 1
    assert count(services, OutboxMessage) == 1
    assert count(services, Message, Message.direction == "in") == 0


@pytest.mark.parametrize("how", ["unsigned", "tampered", "wrong-token", "other-url"])
def test_unsigned_or_tampered_requests_are_refused_without_trace(app, services, how, caplog):
    client, _ = app
    form = whatsapp_form("SM-evil", "fake report")
    caplog.set_level(logging.WARNING, "ingest.web")
    if how == "unsigned":
        response = client.post(PATH, data=form)
    elif how == "tampered":
        response = twilio_post(client, PATH, form, tamper={"Body": "changed after signing"})
    elif how == "wrong-token":
        response = twilio_post(client, PATH, form, token="not-the-token")
    else:
        response = twilio_post(client, PATH, form, signed_path="/webhooks/twilio/voice")  # signed for another URL
    assert response.status_code == 403
    for model in (InboundMessage, Report, DeadLetter, OutboxMessage, Event, Message):
        assert count(services, model) == 0
    assert any("refused twilio webhook" in r.getMessage() for r in caplog.records)


def test_webhook_answers_503_while_the_database_is_down_and_the_retry_is_stored_once(services, tmp_path):
    from app import Services
    from domain.config import Settings

    down = Services(Settings(database_url="postgresql://postgres@127.0.0.1:1/nowhere",
                             attachments_dir=tmp_path), clock=services.clock)
    server, _ = ingest_app(down, channel_config())
    response = twilio_post(server.test_client(), PATH, whatsapp_form("SM-retry"))
    assert response.status_code == 503 and response.headers["Retry-After"]
    server, channels = ingest_app(services, channel_config())
    for _ in range(2):  # Twilio retries; the second retry crosses the first success
        assert twilio_post(server.test_client(), PATH, whatsapp_form("SM-retry")).status_code == 200
    channels.drainer.drain()
    assert count(services, Report) == 1


def test_follow_up_from_same_number_joins_the_open_report(app, services, workflow):
    post(app, whatsapp_form("SM-a", "jalan berlubang di Karawaci"))
    post(app, whatsapp_form("SM-b", "sudah 3 motor jatuh"))
    post(app, whatsapp_form("SM-b", "sudah 3 motor jatuh"))  # redelivered
    post(app, whatsapp_form("SM-c", "banjir di tempat lain", phone="+6281299990000"))
    assert count(services, Report) == 2
    with services.sessions() as s:
        first = s.scalar(select(Report).where(Report.external_id == "SM-a"))
        bodies = s.scalars(select(Message.body).where(Message.report_id == first.id, Message.direction == "in"))
        assert list(bodies) == ["sudah 3 motor jatuh"]
    workflow.reject(first.ticket, OPERATOR, "incomplete")
    post(app, whatsapp_form("SM-d", "laporan baru: lampu mati"))
    assert count(services, Report) == 3  # the first one is no longer open


def test_reply_while_waiting_for_the_citizen_resumes_the_report(app, services, workflow):
    post(app, whatsapp_form("SM-w1", "sampah menumpuk"))
    ticket = services.queue.list_reports().items[0].ticket
    workflow.ask_citizen(ticket, OPERATOR, "Di RT/RW berapa tepatnya?")
    with services.sessions() as s:
        question = s.scalar(select(OutboxMessage).where(OutboxMessage.template == "ask_citizen"))
        assert "Di RT/RW berapa tepatnya?" in question.body
    post(app, whatsapp_form("SM-w2", "RT 03 RW 05"))
    assert services.queue.get(ticket).status == "NEW"


def test_status_command_answers_the_citizen_about_their_own_report_only(app, services, workflow):
    post(app, whatsapp_form("SM-s1", "pohon tumbang di Cipondoh"))
    ticket = services.queue.list_reports().items[0].ticket
    workflow.verify_and_assign(ticket, OPERATOR, "BPBD")
    for _ in range(2):
        post(app, whatsapp_form("SM-s2", f"status {ticket.lower()}"))
    assert count(services, Report) == 1
    with services.sessions() as s:
        answers = s.scalars(select(OutboxMessage).where(OutboxMessage.template == "status")).all()
        assert len(answers) == 1
        assert answers[0].recipient == "whatsapp:+6281234567890"
        assert "diteruskan ke dinas terkait" in answers[0].body and "Badan Penanggulangan" in answers[0].body


def test_status_of_someone_elses_ticket_is_answered_like_an_unknown_one(app, services, workflow):
    """A stranger typing a real ticket learns nothing (the same answer as a ticket that does not exist),
    and nothing of theirs is written into that report."""
    post(app, whatsapp_form("SM-o1", "pohon tumbang di Cipondoh"))
    ticket = services.queue.list_reports().items[0].ticket
    workflow.verify_and_assign(ticket, OPERATOR, "BPBD")
    before = count(services, Message)
    post(app, whatsapp_form("SM-o2", f"STATUS {ticket}", phone="+6281300001111"))
    post(app, whatsapp_form("SM-o3", "STATUS TLR-2026-999999", phone="+6281300001111"))
    with services.sessions() as s:
        stranger = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "whatsapp:+6281300001111")
                             .order_by(OutboxMessage.id)).all()
    assert [m.template for m in stranger] == ["status_unknown", "status_unknown"]
    assert stranger[0].report_id is None and stranger[0].body == stranger[1].body.replace(
        "TLR-2026-999999", ticket)
    assert "Badan Penanggulangan" not in stranger[0].body
    assert count(services, Message) == before, "no line in the victim's conversation"
    assert count(services, Report) == 1


def test_buka_and_ratings_of_a_stranger_never_touch_someone_elses_report(app, services, workflow):
    post(app, whatsapp_form("SM-b1", "lampu jalan mati di Karawaci"))
    ticket = services.queue.list_reports().items[0].ticket
    workflow.verify_and_assign(ticket, OPERATOR, "PUPR")
    officer = Actor("pupr1", Role.AGENCY_OFFICER, "PUPR")
    workflow.accept(ticket, officer)
    workflow.resolve(ticket, officer, "lampu sudah diganti")
    post(app, whatsapp_form("SM-b2", f"BUKA {ticket} masih mati", phone="+6281300002222"))
    post(app, whatsapp_form("SM-b3", "5", phone="+6281300002222"))
    stored = services.queue.get(ticket)
    assert stored.status == "RESOLVED" and stored.satisfaction is None
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.report_id == stored.id, Message.direction == "in")) == 0  # nothing of the stranger in it


def test_media_and_shared_location_are_kept_and_media_fetched_with_credentials(services, tmp_path):
    with FakeProvider() as fake:
        fake.on("GET", f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/", Reply(200, b"\x89PNG fake image bytes", content_type="image/png"))
        server, channels = ingest_app(services, channel_config(twilio_api_base=fake.url))
        form = whatsapp_form("SM-m", "", NumMedia="1", MediaUrl0=f"{fake.url}/2010-04-01/Accounts/{TWILIO_SID}/Messages/SM-m/Media/ME1",
                             MediaContentType0="image/png", Latitude="-6.1783", Longitude="106.6319",
                             Address="Jl. Daan Mogot", Label="Depan pasar")
        assert twilio_post_and_drain(server.test_client(), channels, PATH, form).status_code == 200
        with services.sessions() as s:
            report = s.scalar(select(Report))
            assert (report.lat, report.lon) == (-6.1783, 106.6319)
            assert report.location_text == "Depan pasar, Jl. Daan Mogot"
            assert report.attachments[0].source_url.endswith("/Media/ME1")
            assert report.attachments[0].path is None
        assert fetch_pending_media(channels) == 1
        sent = fake.matching("GET", f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/SM-m/Media/ME1")[0]
        assert sent.headers["Authorization"] == "Basic " + base64.b64encode(
            f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        with services.sessions() as s:
            att = s.scalar(select(Attachment))
            assert att.size == len(b"\x89PNG fake image bytes") and att.sha256
            assert (services.settings.attachments_dir / att.path).read_bytes() == b"\x89PNG fake image bytes"


def test_acknowledgement_is_delivered_to_twilio_and_delivery_status_recorded(services):
    with FakeProvider() as fake:
        fake.on("POST", f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
                Reply(201, {"sid": "SMout1", "status": "queued"}))
        server, channels = ingest_app(services, channel_config(twilio_api_base=fake.url))
        client = server.test_client()
        twilio_post_and_drain(client, channels, PATH, whatsapp_form("SM-in", "air PDAM mati"))
        stats = channels.deliverer.deliver_due()
        assert stats.sent == 1
        [sent] = fake.requests
        assert sent.form["To"] == "whatsapp:+6281234567890"
        assert sent.form["From"] == "whatsapp:+14155238886"
        assert "Terima kasih, laporan Anda sudah kami terima" in sent.form["Body"]
        assert sent.form["StatusCallback"] == "https://laksa.example.go.id/webhooks/twilio/status"
        assert sent.headers["Authorization"].startswith("Basic ")
        status = {"MessageSid": "SMout1", "MessageStatus": "delivered", "AccountSid": TWILIO_SID}
        assert twilio_post(client, "/webhooks/twilio/status", status).status_code == 204
        with services.sessions() as s:
            row = s.scalar(select(OutboxMessage))
            assert (row.status, row.provider_id, row.delivery_status) == ("sent", "SMout1", "delivered")


def test_answers_outside_the_24_hour_window_go_as_approved_templates(services, workflow, clock):
    """WhatsApp takes free text only within 24 h of the citizen's last message: the resolution two days
    later goes as the approved `resolved` template (ContentSid + ContentVariables); an operator's reply
    after the citizen wrote again goes as text; a message with no approved template fails at once, with
    the reason, instead of being retried for hours."""
    import json

    from dashboard import actions, context

    context.set_services(services)
    sids = {"resolved": "HX" + "1" * 32, "reply": "HX" + "2" * 32}
    with FakeProvider() as fake:
        fake.on("POST", f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
                Reply(201, {"sid": "SMout", "status": "queued"}))
        server, channels = ingest_app(services, channel_config(twilio_api_base=fake.url, twilio_content_sids=sids))
        client = server.test_client()
        twilio_post_and_drain(client, channels, PATH, whatsapp_form("SM-t1", "jalan berlubang besar di jl. gatot subroto"))
        with services.sessions() as s:
            report = s.scalar(select(Report))
        officer = Actor("pupr1", Role.AGENCY_OFFICER, report.agency_code)
        workflow.verify_and_assign(report.ticket, OPERATOR)
        workflow.accept(report.ticket, officer)
        assert channels.deliverer.deliver_due().sent == 2  # acknowledgement and forwarded: inside the window
        assert all("Body" in r.form and "ContentSid" not in r.form for r in fake.requests)
        clock.advance(hours=47)
        actions.reply(OPERATOR, report.ticket, "Mohon maaf, perbaikan dijadwalkan besok pagi.")
        workflow.resolve(report.ticket, officer, "lubang sudah ditambal\n\taspal   baru")
        assert channels.deliverer.deliver_due().sent == 2
        reply, resolved = fake.requests[2:]
        assert reply.form["ContentSid"] == sids["reply"] and "Body" not in reply.form
        assert json.loads(reply.form["ContentVariables"]) == {
            "1": report.ticket, "2": "Mohon maaf, perbaikan dijadwalkan besok pagi."}
        assert reply.form["To"] == "whatsapp:+6281234567890"
        variables = json.loads(resolved.form["ContentVariables"])
        assert resolved.form["ContentSid"] == sids["resolved"]
        assert variables["1"] == report.ticket and variables["3"] == "lubang sudah ditambal aspal baru"
        assert len(variables) == 4 and all(v and "\n" not in v for v in variables.values())
        # the citizen writes again (BUKA reopens it): the window is open, the answer goes as text
        twilio_post_and_drain(client, channels, PATH, whatsapp_form("SM-t2", f"BUKA {report.ticket} masih berlubang"))
        assert channels.deliverer.deliver_due().sent == 1
        assert "Body" in fake.requests[-1].form and "ContentSid" not in fake.requests[-1].form
        # two days later the forwarding has no approved template: failed at once, with the reason
        clock.advance(hours=48)
        workflow.transfer(report.ticket, OPERATOR, "DLH", "salah dinas")
        stats = channels.deliverer.deliver_due()
        assert stats.sent == 0 and len(fake.requests) == 5
        with services.sessions() as s:
            failed = s.scalar(select(OutboxMessage).where(OutboxMessage.template == "forwarded",
                                                          OutboxMessage.status != "sent"))
        assert failed.status == "failed" and failed.attempts == 1
        assert "24-hour window" in failed.last_error and "'forwarded'" in failed.last_error


def test_content_sids_are_read_from_the_environment_and_checked(monkeypatch):
    from ingest.config import ChannelConfig

    monkeypatch.setenv("TWILIO_CONTENT_SIDS", "resolved=HXaaa, sla_breach=HXbbb")
    assert ChannelConfig.from_env().twilio_content_sids == {"resolved": "HXaaa", "sla_breach": "HXbbb"}
    monkeypatch.setenv("TWILIO_CONTENT_SIDS", "resolved:HXaaa")
    with pytest.raises(ValueError, match="TWILIO_CONTENT_SIDS"):
        ChannelConfig.from_env()


def test_a_media_file_that_never_comes_is_given_up_and_does_not_hold_up_the_others(services, clock):
    with FakeProvider() as fake:
        fake.on("GET", "/2010-04-01/media/ME-down", Reply(503, {"message": "unavailable"}))
        fake.on("GET", "/2010-04-01/media/ME-ok", Reply(200, b"\x89PNG bytes", content_type="image/png"))
        server, channels = ingest_app(services, channel_config(twilio_api_base=fake.url))
        client = server.test_client()
        for sid, media, phone in (("SM-down", "ME-down", "+6281234500001"), ("SM-ok", "ME-ok", "+6281234500002")):
            twilio_post_and_drain(client, channels, PATH, whatsapp_form(
                sid, "", phone=phone, NumMedia="1", MediaUrl0=f"{fake.url}/2010-04-01/media/{media}",
                MediaContentType0="image/png"))
        assert fetch_pending_media(channels, limit=1) == 0  # the first one fails: retried later
        clock.advance(hours=25)
        assert fetch_pending_media(channels, limit=1) == 0  # still failing after a day: given up
        assert fetch_pending_media(channels, limit=1) == 1  # the next one is not held up
    with services.sessions() as s:
        paths = dict(s.execute(select(Attachment.source_url, Attachment.path)).all())
    assert paths[f"{fake.url}/2010-04-01/media/ME-down"] == ""
    assert paths[f"{fake.url}/2010-04-01/media/ME-ok"]


def test_status_of_a_merged_duplicate_tells_the_incidents_progress_under_its_own_ticket(app, services, workflow):
    flood = "Banjir setinggi lutut di Jalan Merdeka, Sukarasa, air masuk rumah warga"
    post(app, whatsapp_form("SM-f1", flood, phone="+6281200000001", Latitude="-6.1729", Longitude="106.6318"))
    services.clock.advance(minutes=3)
    post(app, whatsapp_form("SM-f2", flood + " tolong", phone="+6281200000002"))
    first, second = sorted(services.queue.list_reports().items, key=lambda r: r.id)
    assert services.queue.get(second.ticket).status == "MERGED"
    workflow.verify_and_assign(first.ticket, OPERATOR, "BPBD")
    post(app, whatsapp_form("SM-f3", f"STATUS {second.ticket}", phone="+6281200000002"))
    post(app, whatsapp_form("SM-f4", f"STATUS {first.ticket}", phone="+6281200000002"))
    with services.sessions() as s:
        own, other = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "whatsapp:+6281200000002",
                                                           OutboxMessage.template.like("status%"))
                               .order_by(OutboxMessage.id)).all()
    assert own.template == "status" and second.ticket in own.body and first.ticket not in own.body
    assert "diteruskan ke dinas terkait" in own.body and "Badan Penanggulangan" in own.body
    assert other.template == "status_unknown"
