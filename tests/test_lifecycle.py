"""Every allowed and every forbidden transition, on a real database.

The expected table below is written out independently of domain/lifecycle.py: if either changes,
this test says so.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from domain.lifecycle import DomainError, NotFound, Role, Status, TransitionError, allowed_actions, check_transition
from domain.models import Event, Report
from tests.helpers import CITIZEN, OPERATOR, SUPERVISOR, SYSTEM, bring_to, officer

S = Status
EXPECTED_SOURCES = {
    "verify": {S.NEW},
    "assign": {S.VERIFIED},
    "accept": {S.ASSIGNED},
    "start": {S.ACCEPTED},
    "resolve": {S.ACCEPTED, S.IN_PROGRESS},
    "close": {S.RESOLVED},
    "reject": {S.NEW, S.VERIFIED},
    "merge": {S.NEW, S.VERIFIED, S.ASSIGNED, S.WAITING_CITIZEN},
    "ask_citizen": {S.NEW, S.VERIFIED, S.ACCEPTED, S.IN_PROGRESS},
    "citizen_replied": {S.WAITING_CITIZEN},
    "reopen": {S.RESOLVED, S.CLOSED},
    "transfer": {S.ASSIGNED, S.ACCEPTED, S.IN_PROGRESS},
}
EXPECTED_TARGET = {
    "verify": S.VERIFIED, "assign": S.ASSIGNED, "accept": S.ACCEPTED, "start": S.IN_PROGRESS,
    "resolve": S.RESOLVED, "close": S.CLOSED, "reject": S.REJECTED, "merge": S.MERGED,
    "ask_citizen": S.WAITING_CITIZEN, "reopen": S.ASSIGNED, "transfer": S.ASSIGNED,
}
# The actor allowed to take each action in these tests, and its arguments.
ACTOR_AND_ARGS = {
    "verify": (OPERATOR, {}),
    "assign": (OPERATOR, {"agency": "PUPR"}),
    "accept": (officer("PUPR"), {}),
    "start": (officer("PUPR"), {}),
    "resolve": (officer("PUPR"), {"note": "sudah diperbaiki"}),
    "close": (OPERATOR, {"satisfaction": 4}),
    "reject": (OPERATOR, {"reason": "hoax"}),
    "merge": (OPERATOR, {}),  # into_ticket filled in the test
    "ask_citizen": (OPERATOR, {"question": "di RT berapa, Pak?"}),
    "citizen_replied": (SYSTEM, {}),
    "reopen": (CITIZEN, {"reason": "lubangnya masih ada"}),
    "transfer": (OPERATOR, {"agency": "DLH", "reason": "ini urusan sampah"}),
}
CASES = [(a, s) for a in EXPECTED_SOURCES for s in Status]


def _counts(services, ticket):
    with services.sessions() as s:
        report = s.scalar(select(Report).where(Report.ticket == ticket))
        events = s.scalar(select(func.count()).select_from(Event).where(Event.report_id == report.id))
        return report.status, report.agency_code, events


@pytest.mark.parametrize("action,status", CASES, ids=[f"{a}-from-{s.value}" for a, s in CASES])
def test_transition(services, queue, workflow, action, status):
    report = bring_to(queue, workflow, status)
    actor, kwargs = ACTOR_AND_ARGS[action]
    kwargs = dict(kwargs)
    if action == "merge":
        kwargs["into_ticket"] = queue.submit(_fresh()).report.ticket
    if action == "ask_citizen" and status in (S.ACCEPTED, S.IN_PROGRESS):
        actor = officer("PUPR")
    before = _counts(services, report.ticket)
    if status in EXPECTED_SOURCES[action]:
        after = getattr(workflow, action)(report.ticket, actor, **kwargs)
        expected = EXPECTED_TARGET.get(action)
        if action == "citizen_replied":
            expected = S.IN_PROGRESS  # back to where it was before waiting
        assert after.status == expected.value
        assert _counts(services, report.ticket)[2] == before[2] + 1, "one event per change"
    else:  # an agency officer is told of a report its agency does not hold as of a missing one
        with pytest.raises((TransitionError, NotFound) if actor.role == Role.AGENCY_OFFICER else TransitionError):
            getattr(workflow, action)(report.ticket, actor, **kwargs)
        assert _counts(services, report.ticket) == before, "a refused change writes nothing"


def _fresh():
    from tests.helpers import incoming

    return incoming()


@pytest.mark.parametrize("action,role", [
    ("verify", Role.AGENCY_OFFICER), ("verify", Role.CITIZEN), ("accept", Role.OPERATOR),
    ("resolve", Role.OPERATOR), ("resolve", Role.CITIZEN), ("reject", Role.AGENCY_OFFICER),
    ("reject", Role.SYSTEM), ("expire_wait", Role.OPERATOR), ("assign", Role.AGENCY_OFFICER),
])
def test_roles_that_may_not(action, role):
    source = next(iter(EXPECTED_SOURCES.get(action, {S.WAITING_CITIZEN})))
    with pytest.raises(TransitionError, match="may not"):
        check_transition(action, source, role)


def test_agency_officer_cannot_touch_another_agencys_report(services, queue, workflow):
    report = bring_to(queue, workflow, S.ASSIGNED)  # ROAD -> PUPR
    with pytest.raises(NotFound, match=f"^no report with ticket '{report.ticket}'$"):  # as if it did not exist
        workflow.accept(report.ticket, officer("DLH"))
    assert _counts(services, report.ticket)[0] == "ASSIGNED"


def test_reject_needs_a_known_reason(queue, workflow):
    report = bring_to(queue, workflow, S.NEW)
    with pytest.raises(DomainError, match="unknown reject reason"):
        workflow.reject(report.ticket, OPERATOR, "boring")


def test_transfer_needs_a_reason_and_more_than_two_flag_ping_pong(services, queue, workflow):
    report = bring_to(queue, workflow, S.ASSIGNED)
    with pytest.raises(DomainError, match="reason"):
        workflow.transfer(report.ticket, OPERATOR, "DLH", "  ")
    for agency in ("DLH", "PERKIM"):
        report = workflow.transfer(report.ticket, OPERATOR, agency, "bukan kewenangan kami")
        assert not report.needs_supervisor
    report = workflow.transfer(report.ticket, SUPERVISOR, "PUPR", "kembali ke PUPR")
    assert report.transfer_count == 3 and report.needs_supervisor


def test_waiting_auto_closes_as_incomplete_after_72_hours(queue, workflow, clock):
    report = bring_to(queue, workflow, S.VERIFIED)
    workflow.ask_citizen(report.ticket, OPERATOR, "alamat lengkapnya?")
    clock.advance(hours=71)
    assert workflow.expire_waiting() == []
    clock.advance(hours=2)
    assert workflow.expire_waiting() == [report.ticket]
    closed = queue.get(report.ticket)
    assert (closed.status, closed.close_reason) == ("CLOSED", "incomplete")


def test_reopen_only_within_72_hours_of_resolution(queue, workflow, clock):
    late = bring_to(queue, workflow, S.RESOLVED)
    clock.advance(hours=73)
    with pytest.raises(TransitionError, match="within 72 h"):
        workflow.reopen(late.ticket, CITIZEN, "masih rusak")
    assert workflow.close_resolved() == [late.ticket]


def test_allowed_actions_for_user_interfaces():
    assert set(allowed_actions(S.NEW, Role.OPERATOR)) >= {"verify", "reject", "merge", "ask_citizen"}
    assert allowed_actions(S.NEW, Role.AGENCY_OFFICER) == []
    assert set(allowed_actions(S.ASSIGNED, Role.AGENCY_OFFICER)) == {"accept", "transfer"}


def test_assign_works_before_reference_data_is_cached(queue, workflow):
    """Regression: the agency check once opened a second session inside the write transaction, which on
    SQLite waited for its own lock and failed."""
    report = bring_to(queue, workflow, S.VERIFIED)
    queue._agencies = queue._categories = None
    assert workflow.assign(report.ticket, OPERATOR, "DLH").agency_code == "DLH"
    with pytest.raises(DomainError, match="unknown agency"):
        workflow.transfer(report.ticket, OPERATOR, "NASA", "salah alamat")
