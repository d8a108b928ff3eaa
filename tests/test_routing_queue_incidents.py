"""Incident alerts for the wall: N reports of one category in one kelurahan within an hour raise one
alert (not before), later reports extend it, a quiet pair closes it, a new burst opens a new one."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from domain.clock import UTC
from domain.models import Event, IncidentAlert
from routing.incidents import MIN_REPORTS, QUIET, active_incidents
from tests.helpers import OPERATOR, incoming

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
TEXTS = [  # different wording and people, so most are not merged: the alert counts reports anyway
    "Pohon tumbang menutup jalan di Cikokol", "ada pohon besar roboh di kelurahan Cikokol, jalan tertutup",
    "Cikokol: pohon tumbang menimpa kabel listrik", "pohon tumbang lagi dekat sekolah di Cikokol",
    "Cikokol pohon roboh menimpa motor",
]


def report_at(queue, clock, minutes: int, text: str, **kw):
    clock.now = T0 + timedelta(minutes=minutes)
    return queue.submit(incoming(channel="whatsapp", text=text, category=None, received_at=clock.now,
                                 phone=f"+62812000{minutes:05d}", **kw)).report


def alerts(services) -> list[IncidentAlert]:
    with services.sessions() as s:
        return list(s.scalars(select(IncidentAlert).order_by(IncidentAlert.id)))


def test_alert_after_n_reports_and_not_before(services, queue, clock):
    assert MIN_REPORTS == 3
    first = report_at(queue, clock, 0, TEXTS[0])
    assert first.category_code == "DISASTER" and first.kelurahan_code == "36.71.01.1005"
    report_at(queue, clock, 10, TEXTS[1])
    assert alerts(services) == []
    with services.sessions() as s:
        assert active_incidents(s, clock()) == []
    third = report_at(queue, clock, 25, TEXTS[2])
    [alert] = alerts(services)
    assert (alert.category_code, alert.kelurahan_code, alert.report_count, alert.status) == \
        ("DISASTER", "36.71.01.1005", 3, "open")
    assert alert.first_at == T0 and alert.last_at == T0 + timedelta(minutes=25)
    with services.sessions() as s:
        [shown] = active_incidents(s, clock())
        raised = s.scalar(select(Event).where(Event.type == "incident_alert"))
    assert shown["count"] == 3 and shown["kelurahan"] == "Cikokol" and shown["kecamatan"] == "Tangerang"
    assert shown["place"] == "Cikokol" and shown["last"] == "08:25" and shown["priority"] == alert.priority
    assert raised.report_id == third.id and raised.actor == "system"

    report_at(queue, clock, 50, TEXTS[3])
    [alert] = alerts(services)
    assert alert.report_count == 4 and alert.last_at == T0 + timedelta(minutes=50), "one open alert per pair"


def test_reports_spread_over_more_than_an_hour_raise_nothing(services, queue, clock):
    for minutes, text in zip((0, 40, 110), TEXTS):
        report_at(queue, clock, minutes, text)
    assert alerts(services) == []


def test_other_kelurahan_or_category_does_not_count(services, queue, clock):
    report_at(queue, clock, 0, TEXTS[0])
    report_at(queue, clock, 5, TEXTS[1])
    report_at(queue, clock, 10, "Pohon tumbang menutup jalan di Jatake")  # another kelurahan
    report_at(queue, clock, 15, "Sampah menumpuk di Cikokol, bau sekali")  # another category
    assert alerts(services) == []


def test_rejected_reports_are_no_evidence(services, queue, workflow, clock):
    spam = report_at(queue, clock, 0, TEXTS[0])
    workflow.reject(spam.ticket, OPERATOR, "prank")
    report_at(queue, clock, 5, TEXTS[1])
    report_at(queue, clock, 10, TEXTS[2])
    assert alerts(services) == []


def test_quiet_pair_closes_and_a_new_burst_opens_a_new_alert(services, queue, clock):
    for minutes, text in zip((0, 5, 10), TEXTS):
        report_at(queue, clock, minutes, text)
    later = 10 + int(QUIET.total_seconds() // 60) + 30
    with services.sessions() as s:
        assert active_incidents(s, T0 + timedelta(minutes=later)) == [], "quiet for longer than QUIET"
    for offset, text in enumerate(TEXTS[2:5]):
        report_at(queue, clock, later + offset, text)
    old, new = alerts(services)
    assert old.status == "closed" and old.report_count == 3
    assert new.status == "open" and new.report_count == 3 and new.first_at == T0 + timedelta(minutes=later)


def test_one_decision_for_a_whole_incident_merge_forward_close(services, queue, workflow, clock):
    """The operator's incident panel: `merge` puts every other open report of the alert into the oldest
    open one, `forward` verifies and assigns what is still new, `close` ends the alert; a report that
    cannot change is reported back, not forced; agency officers may not decide."""
    from dashboard import actions, context
    from domain.actors import Actor
    from domain.lifecycle import TransitionError, ValidationError

    context.set_services(services)
    texts = ["Pohon tumbang menutup jalan di Cikokol", "Cikokol: kabel putus tertimpa dahan besar, bahaya",
             "ranting jatuh di halaman sekolah di Cikokol, murid diungsikan", "tolong ke Cikokol ada batang kayu di gang",
             "Cikokol angin kencang papan reklame miring"]  # one storm, different things: not merged by themselves
    tickets = []
    for i, text in enumerate(texts):
        clock.now = T0 + timedelta(minutes=5 * i)
        tickets.append(queue.submit(incoming(channel="whatsapp", text=text, category="DISASTER", received_at=clock.now,
                                             phone=f"+62812111{i:05d}")).report.ticket)
    assert {queue.get(t).status for t in tickets} == {"NEW"}
    [alert] = alerts(services)
    shown = actions.incident(alert.id)
    assert [r["ticket"] for r in shown["reports"]] == tickets
    with pytest.raises(TransitionError):
        actions.handle_incident(Actor("dlh", "agency_officer", "DLH"), alert.id, "merge")
    with pytest.raises(ValidationError):
        actions.handle_incident(OPERATOR, alert.id, "explode")
    spam = next(t for t in tickets[1:] if queue.get(t).status == "NEW")
    workflow.reject(spam, OPERATOR, "spam")  # no longer counted, never merged
    result = actions.handle_incident(OPERATOR, alert.id, "forward")
    statuses = {t: queue.get(t).status for t in tickets}
    assert set(result["done"]) == {t for t in tickets if statuses[t] == "ASSIGNED"}
    assert all(statuses[t] in ("ASSIGNED", "MERGED") for t in tickets if t != spam)
    assert len(result["done"]) == 4 and all(queue.get(t).agency_code for t in result["done"])  # each to its agency
    result = actions.handle_incident(OPERATOR, alert.id, "merge")
    first_open = next(t for t in tickets if statuses[t] == "ASSIGNED")
    assert result["into"] == first_open
    for t in tickets:
        report = queue.get(t)
        if t == first_open:
            assert report.status == "ASSIGNED"
        elif t == spam:
            assert report.status == "REJECTED"
        else:
            assert report.status == "MERGED" and report.merged_into_id == queue.get(first_open).id, t
    actions.handle_incident(OPERATOR, alert.id, "close")
    with services.sessions() as s:
        assert active_incidents(s, clock()) == []
        assert s.scalar(select(Event).where(Event.type == "incident_closed")).after == {"alert_id": alert.id}
    with pytest.raises(ValidationError, match="not open"):
        actions.handle_incident(OPERATOR, alert.id, "close")


BURSTS = (0, 5, 10, 20, 30, 200, 205, 210, 400)  # a burst, its extension, quiet for > QUIET, a new burst


def burst_summary(services, kelurahan_code: str) -> list[tuple]:
    return [(a.status, a.report_count, a.first_at - T0, a.last_at - T0)
            for a in alerts(services) if a.kelurahan_code == kelurahan_code]


@pytest.mark.parametrize("drained_after", [timedelta(minutes=401), timedelta(hours=9)], ids=["live", "backlog"])
def test_one_submit_many_raises_the_same_alerts_as_one_report_at_a_time(services, queue, clock, drained_after):
    """The incidents' look-ups are shared by the reports of one transaction (routing.incidents.prepare);
    alerts open, extend and close as when every report comes alone, also for a backlog older than QUIET
    (its alerts close as quiet while the batch is routed)."""
    clock.now = T0 + drained_after
    places = {"Cikokol": "36.71.01.1005", "Jatake": None}
    one_by_one = [incoming(channel="whatsapp", text=f"Pohon tumbang menutup jalan di Cikokol no {i}",
                           category=None, received_at=T0 + timedelta(minutes=m), phone=f"+6281200001{i:03d}")
                  for i, m in enumerate(BURSTS)]
    together = [incoming(channel="whatsapp", text=f"Pohon tumbang menutup jalan di Jatake no {i}",
                         category=None, received_at=T0 + timedelta(minutes=m), phone=f"+6281200002{i:03d}")
                for i, m in enumerate(BURSTS)]
    for item in one_by_one:
        places["Cikokol"] = queue.submit(item).report.kelurahan_code
    places["Jatake"] = queue.submit_many(together)[0].report.kelurahan_code
    assert places["Jatake"] not in (None, places["Cikokol"])
    alone, batched = burst_summary(services, places["Cikokol"]), burst_summary(services, places["Jatake"])
    assert len(alone) >= 2 and any(status == "closed" for status, *_ in alone), alone
    assert batched == alone
