"""SLA clocks start when the control room received a message, on every channel whose payload carries a time
of its own (Meta timestamps, X created_at, an API client's received_at); that time is kept as claimed_at,
for display. Trusted internal sources (the 112 call log, the operator's CLI) keep their receipt time but
never one in the future. (Email: tests/test_ingest_email_hostile.py, on the real Dovecot.)"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from domain.clock import UTC
from domain.intake import IncomingReport, trusted_receipt
from domain.lifecycle import ValidationError
from domain.models import DeadLetter, Report, SlaClock
from domain.views import report_to_dict
from ingest.call_log import import_call_log
from ingest.channels import Channels
from ingest.config import ApiClient
from tests.adapters.fake_providers import FakeProvider, Reply
from tests.adapters.helpers import channel_config, ingest_app
from tests.test_ingest_meta_x import dm, signed

FAR_PAST, FAR_FUTURE = "2005-03-01T09:00:00+07:00", "2099-01-01T09:00:00+07:00"


def only_report(services) -> Report:
    with services.sessions() as s:
        [report] = s.scalars(select(Report)).all()
        return report


def acknowledge_started(services, report) -> datetime:
    with services.sessions() as s:
        return s.scalar(select(SlaClock.started_at).where(SlaClock.report_id == report.id,
                                                          SlaClock.stage == "acknowledge"))


def test_meta_clocks_start_when_the_webhook_arrived_not_at_the_events_timestamp(services, clock):
    server, channels = ingest_app(services, channel_config(meta_app_secret="meta-app-secret"))
    arrived = clock()
    body = dm("m_time")
    body["entry"][0]["messaging"][0]["timestamp"] = 4070908800000  # 2099-01-01, in milliseconds
    assert signed(server.test_client(), body).status_code == 200
    clock.advance(minutes=3)  # the drain runs a little later
    channels.drainer.drain()
    report = only_report(services)
    assert report.received_at == arrived == acknowledge_started(services, report)
    assert report.claimed_at == datetime(2099, 1, 1, tzinfo=UTC)


def test_x_clocks_start_at_the_poll_not_at_the_tweets_created_at(services, clock):
    page = {"data": [{"id": "7001", "text": "@kotatangerang pohon tumbang di Cipete", "author_id": "U1",
                      "created_at": "2005-03-01T02:00:00.000Z"}],
            "includes": {"users": [{"id": "U1", "username": "warga_tng", "name": "Warga"}]},
            "meta": {"newest_id": "7001", "result_count": 1}}
    with FakeProvider() as fake:
        fake.on("GET", "/2/users/42/mentions", Reply(200, page))
        channels = Channels(services, channel_config(x_bearer_token="B", x_user_id="42", x_api_base=fake.url))
        assert [o.kind for o in channels.x.poll()] == ["created"]
    report = only_report(services)
    assert report.received_at == clock() == acknowledge_started(services, report)
    assert report.claimed_at == datetime(2005, 3, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("claimed", [FAR_PAST, FAR_FUTURE])
def test_an_api_clients_received_at_is_only_the_claimed_time(services, clock, claimed):
    server, _ = ingest_app(services, channel_config(api_clients=(ApiClient("laksa", "laksa-key", "app"),)))
    client = server.test_client()
    body = {"client_report_id": "t-1", "text": "Jalan berlubang di Jl. Sudirman", "received_at": claimed}
    answer = client.post("/api/v1/reports", json=body, headers={"Authorization": "Bearer laksa-key"})
    assert answer.status_code == 201
    assert answer.json["received_at"] == "2026-11-23T01:00:00Z" and answer.json["claimed_at"].startswith(claimed[:4])
    report = only_report(services)
    assert report.received_at == clock() == acknowledge_started(services, report)
    bad = client.post("/api/v1/reports", json={**body, "client_report_id": "t-2", "received_at": "kemarin"},
                      headers={"Authorization": "Bearer laksa-key"})
    assert bad.status_code == 400 and bad.json["field"] == "received_at"


def test_the_112_call_log_keeps_its_call_time_but_never_one_in_the_future(services, clock):
    _, channels = ingest_app(services, channel_config())
    csv = ("call_id,started_at,summary\n"
           "F-1,2026-11-23T07:40:00+07:00,Kebakaran rumah di Cibodas\n"  # 20 minutes ago: kept
           "F-2,2026-11-23T08:02:00+07:00,Pohon tumbang di Karawaci\n"  # 2 minutes ahead: clocks disagree
           "F-3,2099-01-01T09:00:00+07:00,Banjir di Periuk\n")  # the future: refused
    result = import_call_log(channels, csv.encode())
    assert (result.created, result.dead_letters) == (2, 1)
    with services.sessions() as s:
        received = dict(s.execute(select(Report.external_id, Report.received_at)).all())
        [letter] = s.scalars(select(DeadLetter)).all()
    assert received == {"log:F-1": clock() - timedelta(minutes=20), "log:F-2": clock()}
    assert "line 4" in letter.reason and "in the future" in letter.reason


def test_a_trusted_receipt_in_the_future_is_refused_with_the_field_named(clock):
    report = IncomingReport.from_dict({"channel": "web", "external_id": "f-1", "text": "x",
                                       "received_at": FAR_FUTURE})
    with pytest.raises(ValidationError, match="received_at: 2099-01-01T02:00:00Z is in the future"):
        trusted_receipt(report, clock())
    past = IncomingReport.from_dict({"channel": "web", "external_id": "f-2", "text": "x", "received_at": FAR_PAST,
                                     "claimed_at": FAR_PAST})
    assert trusted_receipt(past, clock()) == past


def test_show_json_carries_the_claimed_time_beside_the_received_time(services, clock):
    incoming = IncomingReport.from_dict({"channel": "web", "external_id": "s-1", "text": "Sampah di Jl. Merdeka",
                                         "received_at": clock().isoformat(), "claimed_at": FAR_PAST})
    shown = report_to_dict(services.queue.submit(incoming).report)
    assert shown["received_at"] == "2026-11-23T01:00:00Z" and shown["claimed_at"] == "2005-03-01T02:00:00Z"
