"""The operator console's reading of the routing engine's proposal: ranked [category, score] pairs shown
as category labels with the score relative to the best one."""
from __future__ import annotations

import pytest

from dashboard import context
from dashboard.components.widgets import _suggestion
from dashboard.console_queries import routing_view


def _text(component) -> str:
    children = getattr(component, "children", component)
    if isinstance(children, (list, tuple)):
        return "".join(_text(c) for c in children)
    return "" if children is None else str(children)


def test_suggestion_pairs_become_labels_with_relative_scores(services):
    context.set_services(services)
    view = routing_view({"suggestions": [["STREETLIGHT", 5.0], ["ROAD", 2.5]], "confidence": 0.8,
                         "explanation": ["keywords: lampu, mati", "location: kelurahan"]})
    assert view["suggestions"] == [{"code": "STREETLIGHT", "score": 5.0, "relative": 1.0},
                                   {"code": "ROAD", "score": 2.5, "relative": 0.5}]
    assert view["explanation"] == "keywords: lampu, mati; location: kelurahan"
    first, second = (_text(_suggestion(s)) for s in view["suggestions"])
    assert first.startswith("Penerangan jalan umum (PJU) (STREETLIGHT)") and "100%" in first and "5" in first
    assert second.startswith("Jalan dan jembatan rusak (ROAD)") and "50%" in second
    assert "[" not in first + second


def test_unexpected_routing_shapes_are_shown_without_crashing(services):
    context.set_services(services)
    view = routing_view({"suggestions": [["UNKNOWN_CODE", 0.0], "free text", {"field": "agency", "value": "DLH"}],
                         "confidence": "high"})
    texts = [_text(_suggestion(s)) for s in view["suggestions"]]
    assert texts[0].startswith("UNKNOWN_CODE") and "0%" in texts[0]
    assert "free text" in texts[1] and texts[2] == "agency: DLH"
    assert view["confidence"] is None
    assert routing_view(None) == {} and routing_view({"suggestions": "x"})["suggestions"] == []


def _split_setup(services, clock):
    from domain.intake import IncomingReport
    from ingest.inbox import Inbox

    context.set_services(services)
    first = services.queue.submit(IncomingReport.from_dict({
        "channel": "whatsapp", "external_id": "SM-split-1", "received_at": clock().isoformat(),
        "text": "jalan berlubang besar di jl. perintis kemerdekaan, kelurahan babakan",
        "citizen": {"phone": "+6281234567890", "name": "Siti"}})).report
    inbox = Inbox(services)
    clock.advance(minutes=3)
    inbox.add_followup(first.id, "whatsapp", "SM-split-2", "Siti", "fotonya menyusul ya pak")
    clock.advance(minutes=2)
    inbox.add_followup(first.id, "whatsapp", "SM-split-3", "Siti",
                       "oh iya satu lagi, sampah menumpuk tidak diangkut seminggu di pasar anyar")
    return first


def _messages(services, report_id):
    from sqlalchemy import select

    from domain.models import Message

    with services.sessions() as s:
        return {m.external_id: m.id for m in s.scalars(select(Message).where(Message.report_id == report_id))}


def test_splitting_a_conversation_makes_the_second_problem_its_own_routed_report(services, clock):
    from dashboard import actions
    from domain.actors import Actor
    from domain.lifecycle import TransitionError, ValidationError

    first = _split_setup(services, clock)
    ids = _messages(services, first.id)
    assert set(ids) == {"SM-split-2", "SM-split-3"}
    operator = Actor("op", "operator")
    with pytest.raises(TransitionError):
        actions.split(Actor("dlh", "agency_officer", "DLH"), first.ticket, ids["SM-split-3"])
    with pytest.raises(ValidationError, match="not a message number"):
        actions.split(operator, first.ticket, "tiga")
    new = actions.split(operator, first.ticket, f"#{ids['SM-split-3']}")
    assert new.ticket != first.ticket
    report = services.queue.get(new.ticket)
    old = services.queue.get(first.ticket)
    assert report.citizen_id == old.citizen_id and report.channel == "whatsapp"
    assert report.category_code == "WASTE" and old.category_code == "ROAD"  # routed on the message's own text
    assert _messages(services, first.id) == {"SM-split-2": ids["SM-split-2"]}  # the message moved
    from dashboard.console_queries import timeline

    split_event = next(e for e in timeline(first.ticket) if e["type"] == "split")
    assert new.ticket in split_event["change"]
    assert any(e["type"] == "split_from" and first.ticket in e["change"] for e in timeline(new.ticket))
    with pytest.raises(ValidationError, match="incoming message"):  # already split off: refused, not doubled
        actions.split(operator, first.ticket, ids["SM-split-3"])
    with pytest.raises(ValidationError):
        actions.split(operator, first.ticket, 10**9)
