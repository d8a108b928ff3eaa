"""Selective automation on the stored queue (issue 9, item 4), on SQLite and PostgreSQL: a confident
non-emergency report is verified and forwarded by the system in the transaction that stores it (with its
events and the citizen's "forwarded" message); below its threshold it waits in triage with the top three
suggestions; an emergency always waits for a person, with the suggestion preselected."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from domain.config import Settings
from domain.models import Event, OutboxMessage
from tests.helpers import incoming
from tests.model_support import small_data, small_model, small_router  # noqa: F401

WASTE = "sampah numpuk di TPS pasar udah seminggu blm diangkut, bau banget"


@pytest.fixture
def make_services(database_url, small_data, small_model, clock, tmp_path, monkeypatch):
    made = []
    # The small corpus has ~7 reports per category: too few held-out predictions for the default min_support
    # (a category needs 2 x min_support of them to auto-forward), so this copy asks for 3.
    import shutil

    data = tmp_path / "data"
    shutil.copytree(small_data, data)
    (data / "routing" / "automation.yaml").write_text("enabled: true\ntarget_precision: 0.97\nmin_support: 3\n",
                                                      encoding="utf-8")

    def build(automation: str = "on", target: str = "0.6"):
        from app import Services

        monkeypatch.setenv("ROUTING_AUTOMATION", automation)
        monkeypatch.setenv("ROUTING_TARGET_PRECISION", target)
        settings = Settings(database_url=database_url, data_dir=data, attachments_dir=tmp_path / "att",
                            secret_key="test")
        services = Services(settings, clock=clock)
        services.init_db()
        made.append(services)
        return services

    yield build
    for services in made:
        services.engine.dispose()


def history(services, report_id):
    with services.sessions() as s:
        events = [(e.type, e.actor) for e in s.scalars(select(Event).where(Event.report_id == report_id)
                                                      .order_by(Event.id))]
        messages = [m.template for m in s.scalars(select(OutboxMessage).where(OutboxMessage.report_id == report_id)
                                                  .order_by(OutboxMessage.id))]
    return events, messages


def test_confident_report_is_verified_and_forwarded_by_the_system(make_services):
    services = make_services()
    reply = {"reply": {"channel": "whatsapp", "to": "whatsapp:+6281211112222"}}
    report = services.queue.submit(incoming(text=WASTE, category=None, phone="+6281211112222",
                                            raw_payload=reply)).report
    report = services.queue.get(report.ticket)
    assert report.routing["automation"] == "auto_forward", report.routing["explanation"]
    assert (report.status, report.agency_code, report.category_code) == ("ASSIGNED", "DLH", "WASTE")
    events, messages = history(services, report.id)
    assert events == [("received", "system"), ("verify", "system"), ("assign", "system")]
    assert messages == ["received", "forwarded"]  # the citizen hears both, in this order
    ack = next(c for c in report.clocks if c.stage == "acknowledge")
    assert ack.met_at is not None and any(c.stage == "dispatch" and c.met_at is None for c in report.clocks)


def test_below_the_threshold_a_report_waits_in_triage_with_three_suggestions(make_services):
    services = make_services(target="0.97")
    vague = "sampah dan got di belakang rumah, tolong dicek"  # waste or drainage: not sure enough
    report = services.queue.get(services.queue.submit(incoming(text=vague, category=None)).report.ticket)
    assert report.status == "NEW" and report.routing["automation"] == "triage"
    assert report.category_code == "WASTE" and report.agency_code == "DLH"  # the best guess, preselected
    assert len(report.routing["suggestions"]) == 3 and report.routing["suggestions"][0][0] == "WASTE"
    assert [e for e, _ in history(services, report.id)[0]] == ["received"]


def test_emergencies_always_wait_for_a_person(make_services):
    services = make_services(target="0.5")
    fire = "tolong kebakaran rumah di perumnas cibodas, apinya udah gede, ada lansia di dalam"
    report = services.queue.get(services.queue.submit(incoming(text=fire, category=None)).report.ticket)
    assert report.routing["automation"] == "emergency"
    assert (report.status, report.kind, report.priority) == ("NEW", "EMERGENCY", "P1")
    assert report.agency_code == "DAMKAR"  # the operator console preselects it


def test_the_switch_turns_automation_off(make_services):
    services = make_services(automation="off")
    report = services.queue.get(services.queue.submit(incoming(text=WASTE, category=None)).report.ticket)
    assert report.status == "NEW" and report.routing["automation"] == "triage"


def test_a_duplicate_merged_at_intake_is_not_forwarded(make_services):
    services = make_services()
    first = services.queue.submit(incoming(text=WASTE, category=None, lat=-6.1825, lon=106.6356)).report
    again = services.queue.submit(incoming(text=WASTE + " tolong", category=None, lat=-6.1825, lon=106.6356)).report
    again = services.queue.get(again.ticket)
    if again.status == "MERGED":
        assert [e for e, _ in history(services, again.id)[0]] == ["received", "merge"]
    assert services.queue.get(first.ticket).status == "ASSIGNED"
