"""SLA deadlines with a frozen clock: 7 x 24 and working-day calendars, pause and resume, priority
change, the 168 h ceiling and a supervisor's extension."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain import clocks
from domain.clock import UTC, WIB
from domain.config import DATA_DIR
from domain.lifecycle import DomainError, TransitionError
from domain.sla import SlaBook, WorkdayCalendar, deadline_for, parse_duration
from tests.helpers import OPERATOR, SUPERVISOR, bring_to, incoming, officer
from domain.lifecycle import Status

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 08:00 WIB


def due(report, stage):
    return clocks.clock(report, stage).due_at


@pytest.mark.parametrize("priority,ack,resolve", [
    ("P1", timedelta(minutes=5), timedelta(hours=24)),
    ("P2", timedelta(hours=1), timedelta(hours=72)),
    ("P3", timedelta(hours=6), timedelta(hours=168)),
    ("P4", timedelta(hours=24), timedelta(hours=168)),
])
def test_24x7_targets_from_receipt(queue, priority, ack, resolve):
    report = queue.submit(incoming(priority=priority, received_at=T0)).report
    assert due(report, "acknowledge") == T0 + ack
    assert due(report, "resolve") == T0 + resolve
    assert clocks.clock(report, "acknowledge").warn_at == T0 + ack * 0.75


def test_nights_and_weekends_count_on_24x7(queue):
    friday_night = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # Friday 23:00 WIB
    report = queue.submit(incoming(priority="P2", received_at=friday_night)).report
    assert due(report, "resolve") == friday_night + timedelta(hours=72)


def test_dispatch_runs_from_verification_and_is_met_on_acceptance(queue, workflow, clock):
    report = queue.submit(incoming(priority="P2", received_at=T0)).report
    assert clocks.clock(report, "dispatch") is None
    clock.advance(minutes=20)
    report = workflow.verify(report.ticket, OPERATOR)
    assert clocks.clock(report, "acknowledge").met_at == clock.now
    assert due(report, "dispatch") == clock.now + timedelta(hours=3)
    workflow.assign(report.ticket, OPERATOR)
    clock.advance(minutes=30)
    report = workflow.accept(report.ticket, officer("PUPR"))
    assert clocks.clock(report, "dispatch").met_at == clock.now


def test_waiting_for_the_citizen_pauses_and_shifts_the_resolve_deadline(queue, workflow, clock):
    report = bring_to(queue, workflow, Status.IN_PROGRESS, priority="P2", received_at=T0)
    original = due(report, "resolve")
    clock.advance(hours=5)
    report = workflow.ask_citizen(report.ticket, officer("PUPR"), "kirim foto lokasinya")
    assert clocks.clock(report, "resolve").paused_at == clock.now
    # a paused clock never falls due
    assert (report.id, "resolve") not in {(c.report_id, c.stage)
                                          for c in queue.due_before(original + timedelta(days=30))}
    clock.advance(hours=10)
    report = workflow.citizen_replied(report.ticket)
    assert report.status == "IN_PROGRESS"
    resolve = clocks.clock(report, "resolve")
    assert resolve.paused_at is None and resolve.paused_seconds == 10 * 3600
    assert resolve.due_at == original + timedelta(hours=10)


def test_priority_change_recomputes_open_deadlines_and_records_why(services, queue, workflow, clock):
    report = queue.submit(incoming(priority="P3", received_at=T0)).report
    clock.advance(minutes=2)
    report = workflow.change_priority(report.ticket, OPERATOR, "P1", "warga terjebak banjir")
    assert due(report, "acknowledge") == T0 + timedelta(minutes=5)
    assert due(report, "resolve") == T0 + timedelta(hours=24)
    from sqlalchemy import select
    from domain.models import Event

    with services.sessions() as s:
        event = s.scalars(select(Event).where(Event.type == "priority_changed")).one()
    assert event.reason == "warga terjebak banjir"
    assert event.before == {"priority": "P3"} and event.after["priority"] == "P1"
    assert event.after["due_after"]["resolve"].startswith("2026-11-24T01:00")
    with pytest.raises(DomainError, match="reason"):
        workflow.change_priority(report.ticket, OPERATOR, "P2", "")


def test_met_stages_keep_their_deadline_on_priority_change(queue, workflow, clock):
    report = queue.submit(incoming(priority="P3", received_at=T0)).report
    workflow.verify(report.ticket, OPERATOR)
    report = workflow.change_priority(report.ticket, OPERATOR, "P1", "eskalasi")
    assert due(report, "acknowledge") == T0 + timedelta(hours=6)  # already met: history stays


def test_the_168h_ceiling_caps_resolve_targets(tmp_path):
    data = tmp_path
    for name in ("sla.yaml",):
        (data / name).write_text((DATA_DIR / name).read_text())
    (data / "sla_policies.csv").write_text(
        "policy_set,priority,name,acknowledge_within,dispatch_within,resolve_within,calendar,meaning\n"
        "default,P3,Biasa,6h,24h,400h,24x7,too long\n")
    book = SlaBook.load(data)
    assert book.target_minutes("default", "P3", "resolve") == 168 * 60


def test_only_a_supervisor_extends_past_the_ceiling(queue, workflow, clock):
    report = queue.submit(incoming(priority="P3", received_at=T0)).report
    assert due(report, "resolve") == T0 + timedelta(hours=168)
    with pytest.raises(TransitionError, match="supervisor"):
        workflow.extend_deadline(report.ticket, OPERATOR, "resolve", 48 * 60, "butuh alat berat")
    with pytest.raises(DomainError, match="reason"):
        workflow.extend_deadline(report.ticket, SUPERVISOR, "resolve", 48 * 60, " ")
    report = workflow.extend_deadline(report.ticket, SUPERVISOR, "resolve", 48 * 60, "butuh alat berat")
    assert due(report, "resolve") == T0 + timedelta(hours=216)
    # a later priority change keeps the supervisor's extension
    report = workflow.change_priority(report.ticket, OPERATOR, "P2", "dampak meluas")
    assert due(report, "resolve") == T0 + timedelta(hours=72 + 48)


def test_working_day_calendar_skips_weekends_and_public_holidays():
    cal = WorkdayCalendar()
    wib = lambda *a: datetime(*a, tzinfo=WIB).astimezone(UTC)  # noqa: E731
    # Friday 10:00 WIB + 1 working day -> Monday 10:00 WIB
    assert cal.add(wib(2026, 11, 27, 10, 0), 1440) == wib(2026, 11, 30, 10, 0)
    # Thursday 24 Dec 10:00 + 1 day: 25 Dec is Christmas, 26-27 the weekend -> Monday 28 Dec 10:00
    assert cal.add(wib(2026, 12, 24, 10, 0), 1440) == wib(2026, 12, 28, 10, 0)
    # received on Saturday: the clock starts on Monday 00:00 WIB
    assert cal.add(wib(2026, 11, 28, 15, 0), 60) == wib(2026, 11, 30, 1, 0)
    assert cal.elapsed_seconds(wib(2026, 11, 27, 12, 0), wib(2026, 11, 30, 12, 0)) == 24 * 3600


def test_lapor_channel_uses_working_days(queue):
    friday = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # Friday 10:00 WIB
    report = queue.submit(incoming(channel="lapor", priority="P3", received_at=friday)).report
    assert report.sla_policy_set == "lapor"
    # 5 working days: Mon..Fri of the next week, same time
    assert due(report, "resolve") == datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


def test_due_before_is_a_range_over_open_clocks(queue, workflow, clock):
    a = queue.submit(incoming(priority="P1", received_at=T0)).report
    b = queue.submit(incoming(priority="P3", received_at=T0)).report
    workflow.verify(a.ticket, OPERATOR)  # meets a's acknowledge
    found = {(c.report_id, c.stage) for c in queue.due_before(T0 + timedelta(hours=7))}
    assert found == {(b.id, "acknowledge"), (a.id, "dispatch")}  # a's dispatch: 15 min from verification
    found = {(c.report_id, c.stage) for c in queue.due_before(T0 + timedelta(hours=25))}
    assert found == {(b.id, "acknowledge"), (a.id, "resolve"), (a.id, "dispatch")}


def test_parse_duration():
    assert [parse_duration(x) for x in ("5m", "1h", "3d", "1.5h")] == [5, 60, 4320, 90]
    with pytest.raises(DomainError):
        parse_duration("soon")


def test_deadline_for_adds_pause_and_extension():
    cal = SlaBook.load(DATA_DIR).calendars["24x7"]
    d = deadline_for(cal, T0, 60, paused_seconds=1800, extended_minutes=30)
    assert d.due_at == T0 + timedelta(minutes=120)
    assert d.warn_at == T0 + timedelta(minutes=90 * 0.75 + 30)
