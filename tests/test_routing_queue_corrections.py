"""Every operator correction of a routing decision is stored (and exported as a labelled set that
`routing evaluate` scores); the engine's own automatic decisions are not corrections."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from domain.clock import UTC
from domain.config import PROJECT_ROOT
from domain.lifecycle import TransitionError, ValidationError
from domain.models import Event, Report, RoutingCorrection
from routing.corrections import correct, export_corrections
from routing.evaluate import evaluate
from routing.engine import Router
from tests.helpers import OPERATOR, incoming, officer

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
WASTE = "Sampah menumpuk di TPS Pasar Anyar Sukasari, bau sekali"


def submit(queue, text=WASTE, **kw):
    return queue.submit(incoming(text=text, category=None, **kw)).report


def corrections(services) -> list[RoutingCorrection]:
    with services.sessions() as s:
        return list(s.scalars(select(RoutingCorrection).order_by(RoutingCorrection.id)))


def test_proposal_is_kept_at_intake(queue):
    report = queue.get(submit(queue).ticket)
    assert report.routing["proposed"] == {"category": "WASTE", "agency": report.agency_code, "priority": "P3",
                                          "kind": report.kind, "kelurahan_code": report.kelurahan_code,
                                          "kecamatan": report.kecamatan}


def test_assign_to_the_proposed_agency_is_no_correction(services, queue, workflow):
    report = submit(queue)
    workflow.verify_and_assign(report.ticket, OPERATOR)
    assert corrections(services) == []


def test_workflow_corrections_are_recorded(services, queue, workflow):
    report = submit(queue)
    proposed = report.agency_code
    workflow.verify_and_assign(report.ticket, OPERATOR, agency="SATPOLPP", reason="pembuangan liar")
    workflow.change_priority(report.ticket, OPERATOR, "P2", "bau menyebar ke sekolah")
    workflow.transfer(report.ticket, officer("SATPOLPP"), "DLH", "bukan wewenang kami")
    rows = corrections(services)
    assert [(c.field, c.before, c.after, c.event_type, c.actor) for c in rows] == [
        ("agency", proposed, "SATPOLPP", "assign", OPERATOR.name),
        ("priority", "P3", "P2", "priority_changed", OPERATOR.name),
        ("agency", "SATPOLPP", "DLH", "transfer", "officer-satpolpp"),
    ]
    assert rows[0].proposed == proposed and rows[1].proposed == "P3"


def test_operator_merge_is_a_correction_automatic_merge_is_not(services, queue, workflow, clock):
    a = submit(queue, external_id="a")
    b = submit(queue, text="Jalan berlubang di depan pasar Sukasari", external_id="b")
    workflow.merge(b.ticket, OPERATOR, a.ticket, reason="sama-sama di Pasar Anyar")
    clock.advance(minutes=2)
    auto = submit(queue, external_id="c", received_at=T0 + timedelta(minutes=2))
    assert queue.get(auto.ticket).status == "MERGED"
    assert [(c.report_id, c.field, c.after) for c in corrections(services)] == [(b.id, "merge", a.ticket)]


def test_correct_category_kind_and_location(services, queue):
    report = submit(queue)
    with services.sessions.begin() as s:
        stored = s.get(Report, report.id)
        row = correct(s, stored, "category", "pollution", OPERATOR, now=T0, reason="bau dari pabrik")
        assert row.before == "WASTE" and row.after == "POLLUTION" and row.proposed == "WASTE"
        assert correct(s, stored, "category", "POLLUTION", OPERATOR, now=T0) is None, "no change, no row"
        correct(s, stored, "kind", "aspiration", OPERATOR, now=T0)
        correct(s, stored, "location", "36.71.01.1005", OPERATOR, now=T0)
    stored = queue.get(report.ticket)
    assert (stored.category_code, stored.kind, stored.kelurahan_code, stored.kecamatan) == \
        ("POLLUTION", "ASPIRATION", "36.71.01.1005", "Tangerang")
    assert [c.field for c in corrections(services)] == ["category", "kind", "location"]
    with services.sessions() as s:
        events = list(s.scalars(select(Event).where(Event.type == "routing_corrected").order_by(Event.id)))
    assert [e.after["field"] for e in events] == ["category", "kind", "location"]
    assert events[0].before == {"category_code": "WASTE"} and events[0].actor == OPERATOR.name


@pytest.mark.parametrize("field,value,error", [
    ("category", "NOPE", ValidationError), ("kind", "whatever", ValidationError),
    ("location", "99.99", ValidationError), ("agency", "DLH", ValidationError),
])
def test_bad_corrections_are_refused_and_write_nothing(services, queue, field, value, error):
    report = submit(queue)
    with pytest.raises(error):
        with services.sessions.begin() as s:
            correct(s, s.get(Report, report.id), field, value, OPERATOR, now=T0)
    assert corrections(services) == []
    assert queue.get(report.ticket).category_code == "WASTE"


def test_agency_officers_may_not_correct_routing(services, queue):
    report = submit(queue)
    with pytest.raises(TransitionError):
        with services.sessions.begin() as s:
            correct(s, s.get(Report, report.id), "category", "ROAD", officer("DLH"), now=T0)


def test_export_is_a_labelled_set_routing_evaluate_scores(services, queue, workflow):
    report = submit(queue)
    workflow.verify_and_assign(report.ticket, OPERATOR, agency="SATPOLPP")
    with services.sessions.begin() as s:
        correct(s, s.get(Report, report.id), "category", "PUBLIC_ORDER", OPERATOR, now=T0)
    buffer = io.StringIO()
    with services.sessions() as s:
        assert export_corrections(s, buffer) == 1
    [line] = [json.loads(x) for x in buffer.getvalue().splitlines()]
    assert line["id"] == report.ticket and WASTE in line["text"]
    assert line["expected"] == {"agency": "SATPOLPP", "category": "PUBLIC_ORDER", "actionable": True}
    ev = evaluate(Router.load(services.settings.data_dir), [line])
    assert ev.counted["category"] == 1 and ev.correct["category"] == 0, "the engine still says WASTE"
    assert ev.misses and ev.misses[0]["wrong"]["category"] == ("PUBLIC_ORDER", "WASTE")


def test_export_command_line(services, queue, workflow, database_url, tmp_path):
    report = submit(queue)
    workflow.verify_and_assign(report.ticket, OPERATOR, agency="SATPOLPP")
    out = tmp_path / "corrections.jsonl"
    env = dict(os.environ, DATABASE_URL=database_url, ATTACHMENTS_DIR=str(tmp_path / "att"))
    done = subprocess.run([sys.executable, "app.py", "routing", "export-corrections", str(out)], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 labelled report(s) written" in done.stderr
    assert json.loads(out.read_text())["expected"]["agency"] == "SATPOLPP"
    scored = subprocess.run([sys.executable, "app.py", "routing", "evaluate", str(out)], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert scored.returncode == 0 and "1 labelled reports" in scored.stdout, scored.stderr
    bad = subprocess.run([sys.executable, "app.py", "routing", "export-corrections", str(out), "--since", "yesterday"],
                         cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not an ISO 8601" in bad.stderr
