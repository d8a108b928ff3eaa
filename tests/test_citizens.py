"""One citizen across channels: shared identities link reports; two known people who turn out to be
one are merged, with their history."""
from __future__ import annotations

from sqlalchemy import func, select

from domain.citizens import history
from domain.intake import CitizenInfo, normalise_phone
from domain.models import Citizen, CitizenIdentity, Event
from tests.helpers import incoming


def _citizen_id(queue, ticket):
    return queue.get(ticket).citizen_id


def test_phone_numbers_in_any_notation_are_one_identity():
    for raw in ("0812-3456-7890", "+62 812 3456 7890", "whatsapp:+6281234567890", "62812-3456-7890"):
        assert normalise_phone(raw) == "+6281234567890"


def test_whatsapp_then_email_with_same_phone_is_one_person(services, queue):
    wa = queue.submit(incoming(channel="whatsapp", phone="081234567890", name="Budi")).report
    mail = queue.submit(incoming(channel="email", email="Budi@Example.ORG", phone="+6281234567890")).report
    assert wa.citizen_id == mail.citizen_id
    with services.sessions() as s:
        kinds = set(s.execute(select(CitizenIdentity.kind, CitizenIdentity.value)).all())
        assert kinds == {("phone", "+6281234567890"), ("email", "Budi@example.org")}
        assert {r.channel for r in history(s, wa.citizen_id)} == {"email", "whatsapp"}


def test_two_people_revealed_as_one_are_merged(services, queue):
    a = queue.submit(incoming(channel="whatsapp", phone="081111111111")).report
    b = queue.submit(incoming(channel="email", email="ani@example.org")).report
    assert a.citizen_id != b.citizen_id
    c = queue.submit(incoming(channel="app", phone="081111111111", email="ani@example.org")).report
    assert _citizen_id(queue, a.ticket) == _citizen_id(queue, b.ticket) == _citizen_id(queue, c.ticket)
    with services.sessions() as s:
        survivors = s.scalars(select(Citizen).where(Citizen.merged_into_id.is_(None))).all()
        assert len(survivors) == 1
        assert s.scalar(select(func.count()).select_from(Event).where(Event.type == "citizen_merged")) == 1
        assert len(history(s, survivors[0].id)) == 3


def test_identities_in_one_batch_resolve_to_one_citizen(services, queue):
    items = [incoming(phone="081299998888"), incoming(phone="+6281299998888", email="x@example.org"),
             incoming(email="x@example.org")]
    results = queue.submit_many(items)
    assert len({r.report.citizen_id for r in results}) == 1


def test_anonymous_report_has_no_citizen(queue):
    assert queue.submit(incoming()).report.citizen_id is None


def test_social_handle_identity(queue):
    from domain.intake import IncomingReport

    data = {"channel": "instagram", "external_id": "ig-1", "text": "sampah", "received_at": "2026-11-23T01:00:00Z",
            "citizen": {"handle": "@Warga_Tng"}}
    report = queue.submit(IncomingReport.from_dict(data)).report
    again = queue.submit(IncomingReport.from_dict(dict(data, external_id="ig-2"))).report
    assert report.citizen_id == again.citizen_id
    assert CitizenInfo(handle="warga_tng", handle_kind="instagram").identities() == [("instagram", "warga_tng")]
