"""Submitting reports: idempotency, tickets, validation that names the field and writes nothing."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import func, select

from domain.intake import IncomingReport
from domain.lifecycle import ValidationError
from domain.models import Citizen, Event, Report, SlaClock
from tests.helpers import incoming

VALID = {
    "channel": "whatsapp", "external_id": "SM-1", "text": "lampu jalan mati di Cibodas",
    "received_at": "2026-11-23T08:00:00+07:00",
    "citizen": {"name": "Siti", "phone": "0812-3456-7890"},
    "location": {"text": "Jl. Gatot Subroto", "lat": -6.2, "lon": 106.6},
}


def _count(services, model) -> int:
    with services.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_submit_twice_returns_the_same_report(services, queue):
    first = queue.submit(IncomingReport.from_dict(VALID))
    again = queue.submit(IncomingReport.from_dict(dict(VALID, text="changed on retry")))
    assert first.created and not again.created
    assert again.report.ticket == first.report.ticket
    assert again.report.text == VALID["text"]
    assert _count(services, Report) == 1
    assert _count(services, Event) == 1


def test_same_external_id_on_another_channel_is_another_report(queue):
    a = queue.submit(IncomingReport.from_dict(VALID)).report
    b = queue.submit(IncomingReport.from_dict(dict(VALID, channel="email"))).report
    assert a.ticket != b.ticket


def test_batch_with_repeats_creates_each_message_once(services, queue):
    items = [incoming(external_id=f"b-{i % 7}") for i in range(20)]
    results = queue.submit_many(items)
    assert sum(r.created for r in results) == 7
    assert len({r.report.ticket for r in results}) == 7
    assert _count(services, Report) == 7
    # and again: nothing new
    assert not any(r.created for r in queue.submit_many(items))


def test_tickets_are_sequential_per_year(queue):
    tickets = [queue.submit(incoming()).report.ticket for _ in range(3)]
    assert tickets == ["TLR-2026-000001", "TLR-2026-000002", "TLR-2026-000003"]


def test_stored_report_has_everything(queue):
    report = queue.get(queue.submit(IncomingReport.from_dict(VALID)).report.ticket)
    assert report.channel == "whatsapp" and report.external_id == "SM-1"
    assert report.status == "NEW"
    assert report.raw_payload["citizen"]["phone"] == "0812-3456-7890"
    assert report.citizen.identities[0].value == "+6281234567890"
    assert (report.lat, report.lon, report.location_text) == (-6.2, 106.6, "Jl. Gatot Subroto")
    assert {c.stage for c in report.clocks} == {"acknowledge", "resolve"}


def test_without_category_waits_in_control_room_triage(queue):
    queue.classifier = None
    report = queue.submit(incoming(category=None, text="halo min")).report
    assert (report.agency_code, report.priority, report.category_code) == ("UPT_PRK", "P3", None)


def test_category_gives_default_agency_priority_and_kind(queue):
    report = queue.submit(incoming(category="FIRE", text="kebakaran")).report
    assert (report.agency_code, report.priority, report.kind) == ("DAMKAR", "P1", "EMERGENCY")


def test_invalid_utf8_is_kept_raw_with_a_best_effort_decode(queue):
    raw = json.dumps(dict(VALID, external_id="bytes-1")).encode().replace(b"lampu", b"l\xe4mpu")
    report = queue.submit(IncomingReport.from_json(raw, max_bytes=100_000)).report
    stored = queue.get(report.ticket)
    assert stored.text_raw is not None and b"l\xe4mpu" in stored.text_raw
    assert "mpu jalan mati" in stored.text


def test_any_unicode_text_is_stored_faithfully(queue):
    text = "Banjir 🌧️ di Neglasari — air setinggi 50 cm; 中文; عربى; \u200b"
    report = queue.submit(incoming(text=text)).report
    assert queue.get(report.ticket).text == text


@pytest.mark.parametrize("change,field", [
    ({"text": "", "attachments": []}, "text"),
    ({"channel": "fax"}, "channel"),
    ({"channel": None}, "channel"),
    ({"external_id": ""}, "external_id"),
    ({"received_at": "yesterday"}, "received_at"),
    ({"location": {"lat": 95, "lon": 106.6}}, "location.lat"),
    ({"location": {"lat": -6.2, "lon": 181}}, "location.lon"),
    ({"location": {"lat": "abc", "lon": 1}}, "location.lat"),
    ({"location": {"lat": -6.2}}, "location"),
    ({"citizen": {"phone": "not a phone"}}, "citizen.phone"),
    ({"citizen": {"email": "nobody"}}, "citizen.email"),
    ({"kind": "GOSSIP"}, "kind"),
    ({"priority": "P9"}, "priority"),
    ({"attachments": [{"size": 3}]}, "attachments[0].filename"),
])
def test_bad_input_names_the_field(change, field):
    with pytest.raises(ValidationError) as err:
        IncomingReport.from_dict({**VALID, **change})
    assert err.value.field == field


@pytest.mark.parametrize("change,field", [({"category": "UFO"}, "category"), ({"agency": "NASA"}, "agency")])
def test_unknown_reference_codes_write_nothing(services, queue, change, field):
    with pytest.raises(ValidationError) as err:
        queue.submit(IncomingReport.from_dict({**VALID, **change}))
    assert err.value.field == field
    assert _count(services, Report) == _count(services, Citizen) == _count(services, SlaClock) == 0


def test_payload_over_the_size_limit(services):
    big = json.dumps(dict(VALID, text="x" * 5000))
    with pytest.raises(ValidationError, match="over the limit") as err:
        IncomingReport.from_json(big, max_bytes=1000)
    assert err.value.field == "payload"


def test_attachment_only_report_is_accepted(queue):
    report = queue.submit(IncomingReport.from_dict(dict(
        VALID, text="", external_id="att-1",
        attachments=[{"filename": "foto.jpg", "content_type": "image/jpeg", "size": 2048}]))).report
    stored = queue.get(report.ticket)
    assert [a.filename for a in stored.attachments] == ["foto.jpg"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@hsettings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(VALID) + ["kind", "category", "attachments", "priority"]),
                       json_values, max_size=8))
def test_random_payloads_either_parse_or_raise_a_validation_error(data):
    try:
        report = IncomingReport.from_dict({**VALID, **data})
    except ValidationError as exc:
        assert exc.field and str(exc).startswith(exc.field)
    else:
        assert report.channel and report.external_id and report.received_at.tzinfo is not None


@hsettings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_json_intake(raw):
    try:
        IncomingReport.from_json(raw, max_bytes=10_000)
    except ValidationError as exc:
        assert exc.field
