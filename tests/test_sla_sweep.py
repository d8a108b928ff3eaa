"""The SLA sweep on a real database with a frozen clock: warnings, breaches and escalation levels are
recorded once, at their true time, with their events and outbox notifications."""
from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from domain.escalation import Contact
from domain.models import Agency, Event, OutboxMessage, SlaBreach, SlaClock
from domain.sweep import SlaSweep
from routing.timers import sweep_for
from tests.conftest import backend
from tests.helpers import OPERATOR, SUPERVISOR, incoming, officer

@pytest.fixture
def sweep(services) -> SlaSweep:
    return sweep_for(services)


def submit(queue, **kwargs):
    kwargs.setdefault("priority", "P1")  # acknowledge 5m, dispatch 15m, resolve 24h
    return queue.submit(incoming(**kwargs)).report


def breaches(services, ticket_id=None):
    with services.sessions() as s:
        query = select(SlaBreach).order_by(SlaBreach.fell_due_at, SlaBreach.id)
        if ticket_id is not None:
            query = query.where(SlaBreach.report_id == ticket_id)
        return [(b.stage, b.level, b.fell_due_at, b.recorded_at) for b in s.scalars(query)]


def clock_row(services, report_id, stage) -> SlaClock:
    with services.sessions() as s:
        return s.scalar(select(SlaClock).where(SlaClock.report_id == report_id, SlaClock.stage == stage))


def outbox(services, template=None):
    with services.sessions() as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if template:
            query = query.where(OutboxMessage.template == template)
        return list(s.scalars(query))


def sla_events(services, report_id):
    with services.sessions() as s:
        return list(s.execute(select(Event.type, Event.after, Event.at).where(
            Event.report_id == report_id, Event.type.like("sla_%")).order_by(Event.id)))


def test_warning_breach_and_escalations_each_recorded_once(services, sweep, clock):
    t0 = clock()
    report = submit(services.queue, received_at=t0)
    assert sweep.sweep().recorded == 0

    clock.advance(minutes=3, seconds=44)  # 75% of 5 minutes is 3:45
    assert sweep.sweep().recorded == 0
    clock.advance(seconds=1)
    result = sweep.sweep()
    assert (result.warnings, result.breaches, result.notifications) == (1, 0, 0)  # warnings notify nobody by default
    ack = clock_row(services, report.id, "acknowledge")
    assert ack.warned_at == t0 + timedelta(minutes=3, seconds=45) and ack.breached_at is None

    clock.now = t0 + timedelta(minutes=5)
    assert sweep.sweep().breaches == 0  # due, not yet past
    clock.advance(seconds=1)
    result = sweep.sweep()
    assert (result.breaches, result.notifications) == (1, 4)
    ack = clock_row(services, report.id, "acknowledge")
    assert ack.breached_at == t0 + timedelta(minutes=5)
    assert ack.escalation_level == "breach" and ack.next_check_at == t0 + timedelta(minutes=7, seconds=30)
    for _ in range(3):
        assert sweep.sweep().recorded == 0  # nothing twice

    clock.now = t0 + timedelta(minutes=7, seconds=30)
    assert sweep.sweep().escalations == 1
    clock.now = t0 + timedelta(minutes=10)
    assert sweep.sweep().escalations == 1
    ack = clock_row(services, report.id, "acknowledge")
    assert ack.escalation_level == "escalate_200" and ack.next_check_at is None
    assert sweep.sweep().recorded == 0

    rows = breaches(services, report.id)
    assert [(stage, level) for stage, level, _, _ in rows] == [
        ("acknowledge", "warning"), ("acknowledge", "breach"), ("acknowledge", "escalate_150"),
        ("acknowledge", "escalate_200")]
    assert [fell for _, _, fell, _ in rows] == [t0 + timedelta(minutes=m) for m in (3.75, 5, 7.5, 10)]
    types = [t for t, _, _ in sla_events(services, report.id)]
    assert types == ["sla_warning", "sla_breached", "sla_escalated", "sla_escalated"]


def test_breach_notifies_duty_officer_and_supervisor_then_head_then_executive_panel(services, sweep, clock):
    t0 = clock()
    report = submit(services.queue, received_at=t0, category="ROAD")
    services.workflow.verify_and_assign(report.ticket, OPERATOR)  # dispatch clock: 15 minutes, PUPR's
    clock.now = t0 + timedelta(minutes=15, seconds=1)
    sweep.sweep()
    sent = [(m.template, m.channel, m.recipient, m.payload["role"]) for m in outbox(services)]
    assert ("sla_breach", "whatsapp", "+6281100000012", "duty_officer") in sent
    assert ("sla_breach", "email", "piket.pupr@tangerangkota.example", "duty_officer") in sent
    assert ("sla_breach", "whatsapp", "+6281100000001", "control_room_supervisor") in sent
    assert ("sla_breach", "email", "supervisor.ruangkendali@tangerangkota.example", "control_room_supervisor") in sent
    assert not any(t.startswith("sla_escalate") for t, *_ in sent)
    breach_mail = next(m for m in outbox(services, "sla_breach")
                       if m.channel == "email" and m.payload["stage"] == "dispatch")
    assert report.ticket in breach_mail.subject and "Jalan dan jembatan rusak" in breach_mail.body
    assert breach_mail.status == "pending" and breach_mail.next_attempt_at == clock()

    clock.now = t0 + timedelta(minutes=22, seconds=30)  # 150% of the dispatch clock
    sweep.sweep()
    heads = [(m.channel, m.recipient) for m in outbox(services, "sla_escalate_150") if m.payload["stage"] == "dispatch"]
    assert heads == [("email", "kadis.pupr@tangerangkota.example")]
    clock.now = t0 + timedelta(minutes=30)
    sweep.sweep()
    panel = [m.recipient for m in outbox(services, "sla_escalate_200") if m.payload["stage"] == "dispatch"]
    assert panel == ["panel.eksekutif@tangerangkota.example"]


def test_acknowledge_stage_answers_to_the_control_room(services, sweep, clock):
    report = submit(services.queue, category="ROAD")
    clock.advance(minutes=6)
    sweep.sweep()
    duty = {m.recipient for m in outbox(services, "sla_breach") if m.payload["role"] == "duty_officer"}
    assert duty == {"+6281100000010", "piket.ruangkendali@tangerangkota.example"}
    assert all(m.payload["agency"] == "UPT_PRK" for m in outbox(services))
    assert report.agency_code == "PUPR"


def test_agency_contacts_in_the_database_win_and_missing_contacts_are_logged(services, sweep, clock):
    with services.sessions.begin() as s:
        s.execute(update(Agency).where(Agency.code == "UPT_PRK").values(duty_phone="+6281299999999"))
    no_supervisor = dataclasses.replace(sweep.ladder, supervisor=Contact())
    sweep_for_missing = SlaSweep(services.sessions, services.sla, no_supervisor, clock=clock)
    report = submit(services.queue)
    clock.advance(minutes=6)
    sweep_for_missing.sweep()
    recipients = {m.recipient for m in outbox(services)}
    assert "+6281299999999" in recipients and "+6281100000010" not in recipients
    breach = next(after for t, after, _ in sla_events(services, report.id) if t == "sla_breached")
    assert breach["unreachable"] == ["control_room_supervisor"]
    assert breach["notified"] == ["duty_officer:whatsapp", "duty_officer:email"]


def test_met_before_the_deadline_records_nothing_and_met_after_stops_escalation(services, sweep, clock):
    t0 = clock()
    early = submit(services.queue, received_at=t0)
    late = submit(services.queue, received_at=t0)
    clock.advance(minutes=3)
    sweep.sweep()
    services.workflow.verify(early.ticket, OPERATOR)  # met at 3 minutes: before its warning
    clock.advance(minutes=3)
    sweep.sweep()
    services.workflow.verify(late.ticket, OPERATOR)  # met at 6 minutes: after its breach
    clock.advance(minutes=30)
    sweep.sweep()

    def acknowledge(report):
        return [level for stage, level, _, _ in breaches(services, report.id) if stage == "acknowledge"]

    assert acknowledge(early) == []
    assert acknowledge(late) == ["warning", "breach"]  # no 150% / 200% once met
    assert clock_row(services, late.id, "acknowledge").next_check_at is not None  # left, but out of the index


def test_paused_clock_does_not_breach_and_resumes_with_its_new_deadline(services, sweep, clock):
    t0 = clock()
    report = submit(services.queue, received_at=t0, category="ROAD")
    services.workflow.verify_and_assign(report.ticket, OPERATOR)
    services.workflow.accept(report.ticket, officer("PUPR"))
    services.workflow.start(report.ticket, officer("PUPR"))
    clock.advance(hours=1)
    services.workflow.ask_citizen(report.ticket, officer("PUPR"), "foto lokasinya?")
    clock.advance(hours=30)  # resolve was due at 24 h, but the clock is paused
    sweep.sweep()
    assert not [b for b in breaches(services, report.id) if b[0] == "resolve"]
    services.workflow.citizen_replied(report.ticket)
    resolve = clock_row(services, report.id, "resolve")
    assert resolve.due_at == t0 + timedelta(hours=54)
    clock.now = resolve.due_at + timedelta(seconds=1)
    sweep.sweep()
    assert ("resolve", "breach", resolve.due_at) in [(s, l, f) for s, l, f, _ in breaches(services, report.id)]


def test_extension_after_a_breach_moves_the_next_escalation(services, sweep, clock):
    t0 = clock()
    report = submit(services.queue, received_at=t0)
    clock.advance(minutes=6)
    sweep.sweep()
    services.workflow.extend_deadline(report.ticket, SUPERVISOR, "acknowledge", 10, "banjir, petugas terbatas")
    clock.now = t0 + timedelta(minutes=8)  # 150% of the old 5 minutes has passed, of the new 15 not yet
    assert sweep.sweep().escalations == 0
    assert clock_row(services, report.id, "acknowledge").next_check_at == t0 + timedelta(minutes=22, seconds=30)
    clock.now = t0 + timedelta(minutes=22, seconds=30)
    assert sweep.sweep().escalations == 1


def test_downtime_records_every_level_at_its_true_time_in_one_sweep(services, sweep, clock):
    t0 = clock()
    reports = [submit(services.queue, received_at=t0 + timedelta(minutes=i)) for i in range(3)]
    clock.now = t0 + timedelta(days=3)  # the worker was down for three days
    result = sweep.catch_up()
    assert result.warnings == 6 and result.breaches == 6 and result.escalations == 12
    for i, report in enumerate(reports):
        start = t0 + timedelta(minutes=i)
        rows = {(s, l): (f, r) for s, l, f, r in breaches(services, report.id)}
        assert rows[("acknowledge", "breach")] == (start + timedelta(minutes=5), clock())
        assert rows[("resolve", "escalate_200")] == (start + timedelta(hours=48), clock())
        assert rows[("resolve", "warning")][0] == start + timedelta(hours=18)
    # a warning found after its deadline is recorded, not sent: the breach message says more
    assert not outbox(services, "sla_warning")
    assert sweep.sweep().recorded == 0


def test_ceiling_brings_the_executive_flag_forward(services, sweep, clock):
    t0 = clock()
    report = submit(services.queue, received_at=t0, priority="P3")  # resolve 168 h: the SOP ceiling
    clock.now = t0 + timedelta(hours=168, seconds=1)
    sweep.sweep()
    resolve = [(l, f) for s, l, f, _ in breaches(services, report.id) if s == "resolve"]
    ceiling = t0 + timedelta(hours=168)
    assert resolve == [("warning", t0 + timedelta(hours=126)), ("breach", ceiling), ("escalate_150", ceiling),
                       ("escalate_200", ceiling)]


def test_restarted_stage_breaching_again_is_logged_not_doubled(services, sweep, clock):
    t0 = clock()
    report = submit(services.queue, received_at=t0, category="ROAD")
    services.workflow.verify_and_assign(report.ticket, OPERATOR)
    clock.now = t0 + timedelta(minutes=16)
    sweep.sweep()
    services.workflow.transfer(report.ticket, OPERATOR, "DLH", "sampah, bukan jalan")
    clock.advance(minutes=16)
    sweep.sweep()
    dispatch = [l for s, l, _, _ in breaches(services, report.id) if s == "dispatch"]
    assert dispatch.count("breach") == 1
    events = [after for t, after, _ in sla_events(services, report.id)
              if t == "sla_breached" and after["stage"] == "dispatch"]
    assert len(events) == 2 and events[1]["repeat"] is True and events[1]["agency"] == "DLH"
    assert "repeat" not in events[0], "the first breach is no repeat (also on PostgreSQL)"
    assert clock_row(services, report.id, "dispatch").breached_at == t0 + timedelta(minutes=31)


def test_large_backlog_is_drained_in_batches(services, clock):
    sweep = sweep_for(services)
    sweep.batch = 7
    t0 = clock()
    services.queue.submit_many([incoming(priority="P1", received_at=t0) for _ in range(20)])
    clock.advance(minutes=6)
    result = sweep.sweep()
    assert (result.warnings, result.breaches) == (20, 20) and result.passes >= 3
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(SlaBreach).where(SlaBreach.level == "breach")) == 20


def test_two_sweepers_at_once_record_each_level_once(services, clock):
    t0 = clock()
    services.queue.submit_many([incoming(priority="P1", received_at=t0) for _ in range(60)])
    clock.now = t0 + timedelta(days=2)
    sweepers = [SlaSweep(services.sessions, services.sla, sweep_for(services).ladder, clock=clock, batch=25)
                for _ in range(3)]
    errors = []

    def run(sw):
        try:
            sw.sweep()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(sw,)) for sw in sweepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with services.sessions() as s:
        per_level = dict(s.execute(select(SlaBreach.level, func.count()).group_by(SlaBreach.level)).all())
        events = s.scalar(select(func.count()).select_from(Event).where(Event.type.like("sla_%")))
        messages = s.scalar(select(func.count()).select_from(OutboxMessage))
    assert per_level == {"warning": 120, "breach": 120, "escalate_150": 120, "escalate_200": 120}
    assert events == 480
    assert messages == 120 * 4 + 120 + 120  # breach: 4 each, head: 1, panel: 1


@pytest.mark.parametrize("index", ["ix_sla_clocks_open_due", "ix_sla_clocks_open_warn",
                                   "ix_sla_clocks_open_next_check"])
def test_sweep_queries_are_index_range_scans(services, sweep, clock, index):
    """The plan of each of the sweep's own statements uses its partial index."""
    compiled = []
    kind = {"ix_sla_clocks_open_due": "breaches", "ix_sla_clocks_open_warn": "warnings"}.get(index, "escalations")
    with services.sessions() as s:
        from sqlalchemy import event

        def capture(conn, cursor, statement, parameters, context, executemany):
            compiled.append((statement, parameters))

        event.listen(services.engine, "before_cursor_execute", capture)
        try:
            sweep._due(s, kind, clock())
        finally:
            event.remove(services.engine, "before_cursor_execute", capture)
        statement, parameters = compiled[-1]
        raw = s.connection().connection.driver_connection
        if backend() == "sqlite":
            plan = " ".join(str(r) for r in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall())
            assert f"USING INDEX {index}" in plan, plan
        else:
            s.execute(text("SET LOCAL enable_seqscan = off"))
            cur = raw.cursor()
            cur.execute(f"EXPLAIN {statement}", parameters)
            plan = " ".join(r[0] for r in cur.fetchall())
            assert index in plan, plan


def test_the_sweep_wakes_on_the_next_deadline_within_its_second(services, sweep, clock):
    t0 = clock()
    report = submit(services.queue, received_at=t0)
    due = t0 + timedelta(minutes=5)
    clock.now = due - timedelta(seconds=0.4)
    slept = []

    def sleep(seconds):  # a fake sleep that moves the frozen clock
        slept.append(seconds)
        clock.advance(seconds=seconds)

    assert sweep.next_due(clock()) == due
    result = sweep.sweep_through(0.9, sleep=sleep)
    assert result.breaches == 1 and len(slept) == 1
    rows = {level: rec for stage, level, _, rec in breaches(services, report.id) if stage == "acknowledge"}
    assert timedelta(0) < rows["breach"] - due < timedelta(milliseconds=10)
    # the next level (150%, 2.5 minutes later) is beyond this second: no more sleeping
    assert sweep.next_due(clock()) == t0 + timedelta(minutes=7, seconds=30)
    assert sweep.sweep_through(0.9, sleep=sleep).recorded == 0 and len(slept) == 1


@pytest.mark.skipif(backend() != "postgresql", reason="row locks: SQLite serialises writers instead")
def test_a_report_being_changed_is_skipped_not_waited_for(services, sweep, clock):
    from domain.models import Report

    t0 = clock()
    busy, free = submit(services.queue, received_at=t0), submit(services.queue, received_at=t0)
    clock.advance(minutes=6)
    with services.sessions.begin() as user:  # a user's change holds the report, as Workflow._load does
        user.scalar(select(Report).where(Report.id == busy.id).with_for_update())
        result = sweep.sweep()
        assert result.breaches == 1
        assert {stage for stage, *_ in breaches(services, free.id)} == {"acknowledge"}
        assert breaches(services, busy.id) == []
    assert sweep.sweep().breaches == 1
    assert [(s, l) for s, l, _, _ in breaches(services, busy.id)] == [("acknowledge", "warning"),
                                                                      ("acknowledge", "breach")]
