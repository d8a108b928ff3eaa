"""Duplicates across channels on the stored queue: one flood on WhatsApp, X and 112 is one incident,
every reporter is answered when it is resolved; far-apart or long-apart floods stay separate."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, text

from domain.clock import UTC
from domain.lifecycle import Status
from domain.models import Event, OutboxMessage, Report
from ingest.base import reply_route
from routing.duplicates import MERGE_AT, reporters_of
from tests.helpers import OPERATOR, incoming, officer

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 08:00 WIB, the frozen clock's "now"

FLOOD_WA = "Banjir setinggi lutut di Jalan Merdeka, Sukarasa, air masuk rumah warga"
FLOOD_X = "banjir lagi di jl merdeka sukarasa, air udah selutut, mobil ga bisa lewat"
FLOOD_112 = "Penelepon melaporkan banjir di Jalan Merdeka kelurahan Sukarasa, air setinggi lutut masuk rumah"
FLOOD_JATAKE = "Banjir di Jatake, Jatiuwung depan pabrik, air sepinggang"


def flood(channel: str, text: str, minutes: int, to: str, **kw):
    route_channel = "whatsapp" if channel == "call112" else channel
    return incoming(channel=channel, text=text, category=None, received_at=T0 + timedelta(minutes=minutes),
                    phone=to if to.startswith("+") else None,
                    raw_payload={"reply": reply_route(route_channel, to)}, **kw)


def outbox(services, template: str | None = None) -> list[OutboxMessage]:
    with services.sessions() as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if template:
            query = query.where(OutboxMessage.template == template)
        return list(s.scalars(query))


def submit_three_channels(queue, clock):
    wa = queue.submit(flood("whatsapp", FLOOD_WA, 0, "+6281200000001", lat=-6.1729, lon=106.6318)).report
    clock.advance(minutes=4)
    x = queue.submit(flood("x", FLOOD_X, 4, "warga_sukarasa")).report
    clock.advance(minutes=5)
    call = queue.submit(flood("call112", FLOOD_112, 9, "+6281200000003")).report
    return wa, x, call


def test_three_channels_one_incident_every_reporter_answered(services, queue, workflow, clock):
    wa, x, call = submit_three_channels(queue, clock)
    assert wa.category_code == x.category_code == call.category_code == "FLOOD"
    wa, x, call = (queue.get(r.ticket) for r in (wa, x, call))
    assert wa.status == Status.NEW.value
    assert x.status == call.status == Status.MERGED.value
    assert x.merged_into_id == call.merged_into_id == wa.id
    assert x.routing["merged_auto"]["ticket"] == wa.ticket and x.routing["merged_auto"]["score"] >= 0.8
    assert all(c.cancelled_at or c.met_at for c in x.clocks), "a merged report's clocks stop"
    with services.sessions() as s:
        merge_events = list(s.scalars(select(Event).where(Event.type == "merge").order_by(Event.id)))
        assert [(e.report_id, e.actor, e.after["merged_into"]) for e in merge_events] == \
            [(x.id, "system", wa.ticket), (call.id, "system", wa.ticket)]
        root = s.get(Report, wa.id)
        assert [r.ticket for r in reporters_of(s, root)] == [wa.ticket, x.ticket, call.ticket]
    open_flood = queue.list_reports(category="FLOOD", open_only=True)
    assert open_flood.total == 1

    # The X citizen hears "received" first, then "merged" (same transaction, in that order).
    x_messages = [m.template for m in outbox(services) if m.report_id == x.id]
    assert x_messages == ["received", "merged"]
    merged_msg = next(m for m in outbox(services, "merged") if m.report_id == x.id)
    assert x.ticket in merged_msg.body and wa.ticket not in merged_msg.body

    for step in ("verify", "assign"):
        getattr(workflow, step)(wa.ticket, OPERATOR)
    bpbd = officer(queue.get(wa.ticket).agency_code)
    workflow.accept(wa.ticket, bpbd)
    workflow.start(wa.ticket, bpbd)
    workflow.resolve(wa.ticket, bpbd, "air sudah surut, saluran dibersihkan")
    resolved = outbox(services, "resolved")
    assert sorted(m.recipient for m in resolved) == sorted(["+6281200000001", "warga_sukarasa", "+6281200000003"])
    assert all("saluran dibersihkan" in m.body for m in resolved)
    assert {m.report_id: m.body.count(wa.ticket) > 0 for m in resolved} == {wa.id: True, x.id: False, call.id: False}
    assert {m.report_id for m in resolved} == {wa.id, x.id, call.id}, "each message sits in its report's thread"


def test_merged_citizens_hear_only_of_their_own_ticket(services, queue, workflow, clock):
    """A merged duplicate's citizen is told of the incident under their own ticket, with the officer's
    note masked: never the other citizen's ticket, tracking link, name or number."""
    wa = queue.submit(flood("whatsapp", FLOOD_WA, 0, "+6281200000001", name="Sari Wulandari",
                            lat=-6.1729, lon=106.6318)).report
    clock.advance(minutes=4)
    x = queue.submit(flood("x", FLOOD_X, 4, "warga_sukarasa")).report
    assert queue.get(x.ticket).merged_into_id == wa.id
    wa = queue.get(wa.ticket)
    merged = next(m for m in outbox(services, "merged") if m.report_id == x.id)
    assert x.ticket in merged.body and wa.ticket not in merged.body and wa.tracking_code not in merged.body
    workflow.verify_and_assign(wa.ticket, OPERATOR)
    bpbd = officer(queue.get(wa.ticket).agency_code)
    workflow.accept(wa.ticket, bpbd)
    workflow.resolve(wa.ticket, bpbd, "Air surut. Sudah dikabari Sari Wulandari di 0812-9999-8888, "
                                      "cek juga sari.w@example.com")
    by_report = {m.report_id: m for m in outbox(services, "resolved")}
    own, other = by_report[wa.id], by_report[x.id]
    assert wa.ticket in own.body and "0812-9999-8888" in own.body  # the incident's own citizen: unmasked
    for leaked in (wa.ticket, wa.tracking_code, "Sari", "8888", "sari.w@example.com"):
        assert leaked not in other.body, leaked
    assert x.ticket in other.body and "Air surut" in other.body and "[telepon]" in other.body
    assert f"BUKA {x.ticket}" in other.body


def test_same_citizen_twice_is_answered_once(services, queue, workflow, clock):
    first = queue.submit(flood("whatsapp", FLOOD_WA, 0, "+6281200000009")).report
    clock.advance(minutes=3)
    again = queue.submit(flood("whatsapp", FLOOD_WA + " tolong", 3, "+6281200000009")).report
    assert queue.get(again.ticket).merged_into_id == first.id
    workflow.verify_and_assign(first.ticket, OPERATOR)
    bpbd = officer(queue.get(first.ticket).agency_code)
    workflow.accept(first.ticket, bpbd)
    workflow.resolve(first.ticket, bpbd, "sudah ditangani")
    assert [m.recipient for m in outbox(services, "resolved")] == ["+6281200000009"]


def test_floods_far_apart_are_not_merged(queue, clock):
    sukarasa = queue.submit(flood("whatsapp", FLOOD_WA, 0, "+6281200000001", lat=-6.1729, lon=106.6318)).report
    clock.advance(minutes=12)
    jatake = queue.submit(flood("whatsapp", FLOOD_JATAKE, 12, "+6281200000002", lat=-6.2012, lon=106.5740)).report
    assert jatake.category_code == "FLOOD"
    stored = queue.get(jatake.ticket)
    assert stored.status == Status.NEW.value and stored.merged_into_id is None
    assert not (stored.routing or {}).get("duplicates")
    assert queue.get(sukarasa.ticket).status == Status.NEW.value


def test_outside_the_time_window_is_a_new_incident(queue, clock):
    first = queue.submit(flood("whatsapp", FLOOD_WA, 0, "+6281200000001")).report
    clock.advance(hours=7)  # floods are emergencies: a 6 h window
    later = queue.submit(flood("whatsapp", FLOOD_WA, 7 * 60, "+6281200000002")).report
    assert queue.get(later.ticket).status == Status.NEW.value
    assert queue.get(first.ticket).status == Status.NEW.value


def test_a_rejected_report_does_not_absorb_new_reports(queue, workflow, clock):
    first = queue.submit(flood("whatsapp", FLOOD_WA, 0, "+6281200000001")).report
    workflow.reject(first.ticket, OPERATOR, "spam")
    clock.advance(minutes=5)
    second = queue.submit(flood("x", FLOOD_X, 5, "warga_sukarasa")).report
    assert queue.get(second.ticket).status == Status.NEW.value


def test_middling_score_is_proposed_not_merged(queue, clock):
    first = queue.submit(incoming(channel="whatsapp", category="ROAD", received_at=T0,
                                  text="Jalan berlubang besar di Jalan Merdeka Sukarasa dekat sekolah")).report
    clock.advance(hours=20)
    second = queue.submit(incoming(channel="web", category="ROAD", received_at=T0 + timedelta(hours=20),
                                   text="aspal rusak parah, banyak lubang di kelurahan Sukarasa")).report
    stored = queue.get(second.ticket)
    assert stored.status == Status.NEW.value
    proposals = stored.routing["duplicates"]
    assert [p["ticket"] for p in proposals] == [first.ticket]
    assert 0.65 <= proposals[0]["score"] < MERGE_AT and proposals[0]["reasons"]


def test_resubmitting_the_same_message_changes_nothing(services, queue, clock):
    wa, x, call = submit_three_channels(queue, clock)
    again = queue.submit(flood("x", FLOOD_X, 4, "warga_sukarasa", external_id=x.external_id))
    assert again.created is False and again.report.id == x.id
    with services.sessions() as s:
        assert len(list(s.scalars(select(Event.id).where(Event.type == "merge")))) == 2


def test_a_failing_routing_listener_never_loses_the_report(services, queue, clock, monkeypatch):
    from routing.listeners import QueueRouting

    def broken(self, session, report):
        raise RuntimeError("boom")

    monkeypatch.setattr(QueueRouting, "on_received", broken)
    report = queue.submit(flood("whatsapp", FLOOD_WA, 0, "+6281200000001")).report
    assert queue.get(report.ticket).status == Status.NEW.value
    assert [m.template for m in outbox(services)] == ["received"]


def test_candidates_are_an_index_range_scan_of_the_window(services, queue, clock):
    from tests.conftest import backend
    from routing.listeners import QueueRouting

    report = queue.submit(flood("whatsapp", FLOOD_WA, 0, "+6281200000001")).report
    finder = next(l for l in queue.listeners if isinstance(l, QueueRouting)).finder
    with services.sessions() as s:
        stored = s.get(Report, report.id)
        query = finder.candidate_query(stored, finder.window(True))
        compiled = query.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
        if backend() == "sqlite":
            plan = " ".join(str(r[-1]) for r in s.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "SEARCH reports USING INDEX ix_reports_category_received" in plan and "received_at>" in plan, plan
        else:
            s.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(r[0] for r in s.execute(text(f"EXPLAIN {compiled}")))
            # An index range on the time window (the planner picks one of the received_at indexes).
            assert "Seq Scan" not in plan and "Index Cond" in plan and "received_at >=" in plan, plan


def test_a_routing_failure_in_a_batch_costs_only_that_reports_routing(services, queue, clock, monkeypatch):
    """submit_many routes its reports in one savepoint (QueueRouting.received_many); when one fails,
    the others are routed again one by one and keep their routing."""
    from routing.listeners import QueueRouting

    original = QueueRouting.on_received

    def broken_for_one(self, session, report):
        if "nomor 2" in report.text:
            raise RuntimeError("boom")
        original(self, session, report)

    monkeypatch.setattr(QueueRouting, "on_received", broken_for_one)
    items = [flood("whatsapp", f"{FLOOD_WA} nomor {i}", i, f"+628120000010{i}") for i in range(4)]
    stored = [queue.get(r.report.ticket) for r in queue.submit_many(items)]
    assert [("proposed" in (r.routing or {})) for r in stored] == [True, True, False, True]
    assert len(outbox(services)) >= 4


def test_one_batch_of_three_channels_is_one_incident_and_a_nearby_flood_stays_apart(queue, clock):
    """The drain stores a flood of messages with one submit_many: the batch is scored at once, and a
    report joins an incident reported earlier in the same batch (through its merged duplicate too)."""
    items = [flood("whatsapp", FLOOD_WA, 0, "+6281200000001"),
             flood("x", FLOOD_X, 4, "warga_sukarasa"),
             flood("whatsapp", FLOOD_JATAKE, 6, "+6281200000004"),
             flood("call112", FLOOD_112, 9, "+6281200000003")]
    wa, x, jatake, call = (queue.get(r.report.ticket) for r in queue.submit_many(items))
    assert wa.status == Status.NEW.value and jatake.status == Status.NEW.value
    assert x.merged_into_id == wa.id and call.merged_into_id == wa.id
    assert not (jatake.routing or {}).get("duplicates")


def test_two_potholes_on_different_streets_of_one_kelurahan_are_two_reports(queue, clock):
    first = queue.submit(incoming(channel="whatsapp", category="ROAD", received_at=T0,
                                  text="Jalan berlubang besar di Jalan Merdeka Sukarasa depan sekolah")).report
    clock.advance(hours=2)
    second = queue.submit(incoming(channel="web", category="ROAD", received_at=T0 + timedelta(hours=2),
                                   text="Ada lubang dalam di Jalan Kisamaun Sukarasa dekat pasar, motor jatuh")).report
    assert queue.get(second.ticket).status == Status.NEW.value
    assert queue.get(first.ticket).status == Status.NEW.value
