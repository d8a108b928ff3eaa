"""Agency officers see and act on a report only from the moment it is forwarded to their agency, and only
while their agency holds it (after a transfer away it is the new agency's); their evidence upload is
checked (role, agency, report, type, bytes) before anything is written to disk."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dashboard import actions, context, console_queries as cq
from domain.actors import Actor
from domain.intake import IncomingReport
from domain.lifecycle import DomainError, NotFound, TransitionError, ValidationError
from domain.models import Attachment, Event, ExtensionRequest

OPERATOR = Actor("op1", "operator")
DLH = Actor("dlh1", "agency_officer", "DLH")
PUPR = Actor("pupr1", "agency_officer", "PUPR")
AGENCY_QUEUE = ["ASSIGNED", "ACCEPTED", "IN_PROGRESS", "WAITING_CITIZEN"]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def _waste(services, n: int):
    context.set_services(services)
    return services.queue.submit(IncomingReport.from_dict({
        "channel": "web", "external_id": f"scope-{n}", "text": f"sampah menumpuk di pasar {n}, hubungi 0812-3456-7890",
        "received_at": services.queue.clock().isoformat(), "category": "WASTE", "agency": "DLH",
        "citizen": {"name": "Sutrisno", "phone": "081234567890"}})).report


MISSING = "TLR-2026-999999"  # a ticket that names no report


def _refused_everything(services, ticket, officer):
    """Everything the officer tries on `ticket` is refused exactly as on a ticket that does not exist: the
    same error class and the same words (the ticket aside), so nothing tells them it exists."""
    with pytest.raises(NotFound):
        cq.detail(ticket, officer.role.value, agency=officer.agency_code)
    assert ticket not in [r["ticket"] for r in cq.queue(AGENCY_QUEUE, agency=officer.agency_code)]
    before = _counts(services)
    for act in (lambda t: cq.detail(t, officer.role.value, agency=officer.agency_code),
                lambda t: actions.note_progress(officer, t, "sudah dicek"),
                lambda t: actions.request_extension(officer, t, "resolve", 60, "workload", "banyak laporan"),
                lambda t: actions.explain_breach(officer, t, "workload", "banyak"),
                lambda t: actions.add_evidence(officer, t, "bukti.png", "image/png", PNG),
                lambda t: actions.reply(officer, t, "kami cek"),
                lambda t: services.workflow.accept(t, officer),
                lambda t: services.workflow.ask_citizen(t, officer, "di mana?"),
                lambda t: services.workflow.transfer(t, officer, "PUPR", "bukan kami")):
        answers = []
        for t in (ticket, MISSING, ticket.lower()):
            with pytest.raises(DomainError) as refused:
                act(t)
            answers.append((type(refused.value), str(refused.value).replace(ticket, "?").replace(MISSING, "?")))
        assert answers[0] == answers[1] == answers[2] == (NotFound, "no report with ticket '?'"), answers
    assert _counts(services) == before


def _counts(services):
    with services.sessions() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Event, ExtensionRequest, Attachment))


def test_a_report_not_yet_forwarded_is_invisible_to_the_agency_it_is_routed_to(services):
    report = _waste(services, 1)
    assert report.agency_code == "DLH" and report.status == "NEW"
    _refused_everything(services, report.ticket, DLH)
    services.workflow.verify(report.ticket, OPERATOR)
    _refused_everything(services, report.ticket, DLH)
    services.workflow.ask_citizen(report.ticket, OPERATOR, "alamat lengkapnya?")  # waiting, never forwarded
    assert services.queue.get(report.ticket).status == "WAITING_CITIZEN"
    _refused_everything(services, report.ticket, DLH)


def test_forwarded_the_officer_sees_it_masked_and_acts(services):
    report = _waste(services, 2)
    services.workflow.verify_and_assign(report.ticket, OPERATOR)
    detail = cq.detail(report.ticket, "agency_officer", agency="DLH")
    assert "0812" not in detail["text"] and "[telepon]" in detail["text"]  # the officer may not see contacts
    assert report.ticket in [r["ticket"] for r in cq.queue(AGENCY_QUEUE, agency="DLH")]
    actions.note_progress(DLH, report.ticket, "truk dijadwalkan")
    actions.request_extension(DLH, report.ticket, "resolve", 60, "workload", "banyak laporan")
    services.workflow.accept(report.ticket, DLH)
    assert cq.detail(report.ticket, "operator")["text"].endswith("0812-3456-7890")  # the control room sees all


def test_the_routing_explanation_is_masked_for_the_officer_too(services):
    """The engine's explanation quotes the citizen's words; the officer read them in clear (review F1)."""
    from domain.models import Report

    report = _waste(services, 3)
    services.workflow.verify_and_assign(report.ticket, OPERATOR)
    with services.sessions.begin() as s:
        row = s.scalar(select(Report).where(Report.ticket == report.ticket))
        row.routing = {**(row.routing or {}),
                       "explanation": "location: kelurahan Sukasari from 'Sutrisno'; text: 'hubungi 0812-3456-7890'"}
    explanation = cq.detail(report.ticket, "agency_officer", agency="DLH")["routing"]["explanation"]
    assert "Sutrisno" not in explanation and "0812" not in explanation and "[telepon]" in explanation
    assert "Sutrisno" in cq.detail(report.ticket, "operator")["routing"]["explanation"]


def test_after_a_transfer_away_the_former_agency_sees_nothing_and_the_new_one_takes_over(services):
    report = _waste(services, 3)
    services.workflow.verify_and_assign(report.ticket, OPERATOR)
    services.workflow.accept(report.ticket, DLH)
    services.workflow.transfer(report.ticket, DLH, "PUPR", "saluran, bukan sampah")
    _refused_everything(services, report.ticket, DLH)
    assert cq.detail(report.ticket, "agency_officer", agency="PUPR")["ticket"] == report.ticket
    services.workflow.accept(report.ticket, PUPR)
    services.workflow.transfer(report.ticket, OPERATOR, "DLH", "kembali ke DLH")  # forwarded again: DLH's again
    assert cq.detail(report.ticket, "agency_officer", agency="DLH")["ticket"] == report.ticket
    _refused_everything(services, report.ticket, PUPR)


def _files(services) -> list:
    root = services.settings.attachments_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_evidence_is_checked_before_a_byte_is_written(services):
    report = _waste(services, 4)
    for who, data, ctype, error in (
            (DLH, PNG, "image/png", NotFound),  # not forwarded yet: as if it did not exist
            (PUPR, PNG, "image/png", NotFound),  # another agency's: as if it did not exist
            (Actor("op1", "operator"), PNG, "image/png", TransitionError)):
        with pytest.raises(error):
            actions.add_evidence(who, report.ticket, "bukti.png", ctype, data)
    services.workflow.verify_and_assign(report.ticket, OPERATOR)
    for data, ctype in ((b"<script>alert(1)</script>", "image/png"), (PNG, "image/jpeg"), (b"", "image/png"),
                        (PNG, "text/html"), (b"GIF89a" + b"\x00" * 10, "image/gif")):
        with pytest.raises(ValidationError):
            actions.add_evidence(DLH, report.ticket, "bukti.png", ctype, data)
    with pytest.raises(NotFound):
        actions.add_evidence(DLH, "TLR-2026-999999", "bukti.png", "image/png", PNG)
    assert _files(services) == [] and _counts(services)[2] == 0
    actions.add_evidence(DLH, report.ticket, "../../bukti akhir.png", "image/png", PNG)
    [stored] = _files(services)
    with services.sessions() as s:
        row = s.scalar(select(Attachment))
    assert row.path == f"evidence/{stored.name}" and stored.read_bytes() == PNG  # relative to ATTACHMENTS_DIR
    assert row.filename == ".._.._bukti_akhir.png"
