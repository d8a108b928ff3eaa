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
    # an e-mail our server vouched for (DKIM/SPF), naming the same phone
    mail = queue.submit(incoming(channel="email", email="Budi@Example.ORG", phone="+6281234567890", verified=True)).report
    assert wa.citizen_id == mail.citizen_id
    with services.sessions() as s:
        kinds = set(s.execute(select(CitizenIdentity.kind, CitizenIdentity.value)).all())
        assert kinds == {("phone", "+6281234567890"), ("email", "Budi@example.org")}
        assert {r.channel for r in history(s, wa.citizen_id)} == {"email", "whatsapp"}


def test_two_people_revealed_as_one_are_merged(services, queue):
    a = queue.submit(incoming(channel="whatsapp", phone="081111111111")).report
    b = queue.submit(incoming(channel="email", email="ani@example.org", verified=True)).report
    assert a.citizen_id != b.citizen_id
    c = queue.submit(incoming(channel="email", phone="081111111111", email="ani@example.org", verified=True)).report
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


def _identities(services):
    with services.sessions() as s:
        return {(k, v): (cid, verified) for k, v, cid, verified in s.execute(select(
            CitizenIdentity.kind, CitizenIdentity.value, CitizenIdentity.citizen_id, CitizenIdentity.verified))}


VICTIM, ATTACKER, ATTACKER_MAIL = "+6281299990011", "+6281299990099", "x@attacker.example"


def test_a_typed_contact_never_joins_or_extends_a_citizen_a_channel_vouched_for(services, queue):
    """The outsider's attack: the victim's phone with the attacker's e-mail in the web form, then the attacker's
    phone with that e-mail: the attacker's number must not end up on the victim."""
    from ingest.inbox import Inbox

    victim = queue.submit(incoming(channel="whatsapp", phone=VICTIM)).report
    one = queue.submit(incoming(channel="app", phone=VICTIM, email=ATTACKER_MAIL)).report
    two = queue.submit(incoming(channel="app", phone=ATTACKER, email=ATTACKER_MAIL)).report
    ids = _identities(services)
    assert ids[("phone", VICTIM)] == (victim.citizen_id, True)
    assert one.citizen_id != victim.citizen_id and two.citizen_id not in (one.citizen_id, victim.citizen_id)
    assert ids[("email", ATTACKER_MAIL)] == (one.citizen_id, False) and ids[("phone", ATTACKER)] == (two.citizen_id, False)
    inbox = Inbox(services)
    assert inbox.citizen_of("phone", ATTACKER) != victim.citizen_id
    assert inbox.citizen_of("phone", VICTIM) == victim.citizen_id
    # the attacker's own WhatsApp makes a citizen of its own: it claims its number, nothing of the victim's
    mine = queue.submit(incoming(channel="whatsapp", phone=ATTACKER)).report
    assert mine.citizen_id not in (victim.citizen_id, one.citizen_id)
    assert _identities(services)[("phone", ATTACKER)] == (mine.citizen_id, True)
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.type == "citizen_merged")) == 0


def test_a_number_typed_before_its_owner_writes_is_claimed_by_the_owner(services, queue):
    """Planted first (the victim's phone with the attacker's e-mail, before the victim ever wrote): when the
    victim's WhatsApp arrives, the number moves to the victim's own citizen, the attacker's e-mail stays behind."""
    planted = queue.submit(incoming(channel="web", phone=VICTIM, email=ATTACKER_MAIL)).report
    victim = queue.submit(incoming(channel="whatsapp", phone=VICTIM)).report
    ids = _identities(services)
    assert victim.citizen_id != planted.citizen_id
    assert ids[("phone", VICTIM)] == (victim.citizen_id, True)
    assert ids[("email", ATTACKER_MAIL)] == (planted.citizen_id, False)
    later = queue.submit(incoming(channel="whatsapp", phone=VICTIM)).report
    assert later.citizen_id == victim.citizen_id


def test_a_form_joins_a_typed_citizen_only_with_exactly_its_contacts(services, queue):
    first = queue.submit(incoming(channel="app", phone="081377778888", email="warga@example.org")).report
    again = queue.submit(incoming(channel="app", phone="081377778888", email="warga@example.org")).report
    assert again.citizen_id == first.citizen_id
    # planted: the victim's e-mail with the attacker's phone, before the victim ever wrote; the victim's own
    # form (the e-mail alone) does not join it, so the attacker's WhatsApp cannot speak for the victim's report
    planted = queue.submit(incoming(channel="web", email="korban@example.org", phone=ATTACKER)).report
    own = queue.submit(incoming(channel="web", email="korban@example.org")).report
    extra = queue.submit(incoming(channel="web", phone="081377778888", email="lain@example.org")).report
    assert own.citizen_id != planted.citizen_id and extra.citizen_id != first.citizen_id
    ids = _identities(services)
    assert ids[("phone", ATTACKER)][0] == planted.citizen_id and ("email", "lain@example.org") in ids
    assert ids[("phone", "+6281377778888")][0] == first.citizen_id


def test_in_one_batch_a_vouched_identity_takes_over_what_a_form_typed(services, queue):
    results = queue.submit_many([incoming(channel="app", phone=VICTIM, email=ATTACKER_MAIL),
                                 incoming(channel="whatsapp", phone=VICTIM)])
    planted, victim = (r.report for r in results)
    assert planted.citizen_id != victim.citizen_id
    ids = _identities(services)
    assert ids[("phone", VICTIM)] == (victim.citizen_id, True) and ids[("email", ATTACKER_MAIL)][0] == planted.citizen_id


def test_a_client_cannot_name_its_own_identity_kind_or_send_an_endless_handle():
    import pytest

    from domain.intake import IncomingReport, ValidationError

    base = {"channel": "app", "external_id": "k-1", "text": "lampu mati", "received_at": "2026-11-23T01:00:00+00:00"}
    for citizen, field in (({"handle": "+6281299990011", "handle_kind": "phone"}, "citizen.handle_kind"),
                           ({"handle": "x", "handle_kind": "k" * 50}, "citizen.handle_kind"),
                           ({"handle": "h" * 1000}, "citizen.handle")):
        with pytest.raises(ValidationError) as refused:
            IncomingReport.from_dict({**base, "citizen": citizen})
        assert refused.value.field == field, refused.value
    assert IncomingReport.from_dict({**base, "citizen": {"handle": "warga_tng", "handle_kind": "instagram"}}).citizen
