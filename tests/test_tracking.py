"""The citizen's tracking link: its code (domain/tracking.py), the one public projection of a report
(dashboard/tracking_data.py), ratings through domain/ratings.py, the acknowledgement carrying the link,
the public before/after photos, and migration 0018 backfilling codes and evidence."""
from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select, text

from dashboard import actions, context, tracking_data
from domain import ratings, tracking
from domain.lifecycle import NotFound, TransitionError, ValidationError
from domain.models import Attachment, Event, OutboxMessage, Report
from tests.helpers import OPERATOR, incoming, officer

NAME, PHONE, EMAIL = "Sutrisno Wibowo", "+6281234567890", "sutrisno.w@example.org"
CITIZEN_TEXT = "Saya Sutrisno Wibowo, telp 0812-3456-7890, sutrisno.w@example.org: sampah numpuk di TPS"
PUBLIC_FIELDS = {"ticket", "status", "category", "category_label", "agency", "agency_name", "received_at", "due_at",
                 "due_met_at", "paused", "steps", "resolution_note", "photos", "rateable", "rating"}
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00"
       b"\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def _report(queue, **extra):
    return queue.submit(incoming(text=CITIZEN_TEXT, category="WASTE", phone=PHONE, email=EMAIL, name=NAME,
                                 **extra)).report


def _project(services, ticket, code):
    with services.reads() as s:
        return tracking_data.project(s, ticket, code)


def _resolved(services, note="Sampah sudah diangkut. Hubungi Pak Sutrisno di 0812-3456-7890 / sutrisno.w@example.org"):
    report = _report(services.queue)
    wf, dlh = services.workflow, officer("DLH")
    wf.verify_and_assign(report.ticket, OPERATOR)
    wf.accept(report.ticket, dlh)
    wf.start(report.ticket, dlh)
    wf.resolve(report.ticket, dlh, note)
    return services.queue.get(report.ticket)


def test_codes_are_random_and_compared_whole():
    codes = {tracking.new_code() for _ in range(200)}
    assert len(codes) == 200 and all(len(c) == 22 for c in codes)
    code = next(iter(codes))
    assert tracking.code_matches(code, code)
    for wrong in (None, "", code[:-1], code + "x", code.upper() if code != code.upper() else code.lower(),
                  ["a"], "x" * 10_000):
        assert not tracking.code_matches(code, wrong)
    assert not tracking.code_matches(None, code)
    assert tracking.url("https://tlr.example.go.id/", "TLR-2026-000001", "ab-_9") == \
        "https://tlr.example.go.id/lacak/TLR-2026-000001?kode=ab-_9"
    assert tracking.url("https://x", "TLR-2026-000001", None) is None


def test_every_report_gets_its_own_code_also_from_set_based_inserts(services, queue):
    a, b = _report(queue), _report(queue, external_id="second")
    assert a.tracking_code and b.tracking_code and a.tracking_code != b.tracking_code
    from sqlalchemy import insert

    from domain.clock import utcnow
    now = utcnow()
    with services.sessions.begin() as s:  # a bulk insert that does not name the column (bench, demo history)
        s.execute(insert(Report.__table__), [dict(ticket=f"TLR-2026-9{i:05d}", channel="demo", external_id=f"bulk-{i}",
                                                  kind="COMPLAINT", priority="P3", agency_code="DLH", status="NEW",
                                                  text="", received_at=now, created_at=now, updated_at=now,
                                                  transfer_count=0, needs_supervisor=False, is_demo=True)
                                             for i in range(3)])
        codes = s.scalars(select(Report.tracking_code).where(Report.channel == "demo")).all()
    assert len(set(codes)) == 3 and all(codes)


def test_the_projection_holds_public_fields_only(services, queue):
    report = _report(queue)
    view = _project(services, report.ticket, report.tracking_code)
    assert {f.name for f in dataclasses.fields(view)} == PUBLIC_FIELDS
    assert view.ticket == report.ticket and view.status == "NEW" and view.agency == "DLH"
    assert view.category_label == ("Sampah", "Waste") and view.agency_name == "Dinas Lingkungan Hidup"
    assert view.due_at is not None and not view.rateable and view.photos == ()
    flat = repr(view).lower()
    for secret in ("sutrisno", "0812", "6281234567890", "example.org", "numpuk", report.tracking_code.lower()):
        assert secret not in flat, secret
    assert [s.key for s in view.steps] == list(tracking_data.STEPS)
    assert [s.done for s in view.steps] == [True, False, False, False, False, False]


def test_a_wrong_or_missing_code_reads_like_no_report(services, queue):
    report, other = _report(queue), _report(queue, external_id="other")
    for how, (ticket, code) in {
            "wrong": (report.ticket, "x" * 22), "missing": (report.ticket, None),
            "another report's": (report.ticket, other.tracking_code), "list": (report.ticket, [report.tracking_code]),
            "malformed ticket": (report.ticket + "'; --", report.tracking_code),
            "unknown ticket": ("TLR-2026-999999", report.tracking_code)}.items():
        assert _project(services, ticket, code) is None, how
    assert _project(services, report.ticket.lower(), report.tracking_code).ticket == report.ticket


def test_timeline_note_photos_and_rating_of_a_resolved_report(services):
    context.set_services(services)
    report = _resolved(services)
    other = _report(services.queue, external_id="other-report")
    services.workflow.verify_and_assign(other.ticket, OPERATOR)  # an officer adds evidence once it is forwarded
    dlh = officer("DLH")
    for ticket, stage in ((report.ticket, "before"), (report.ticket, "after"), (other.ticket, "after")):
        actions.add_evidence(dlh, ticket, "foto.png", "image/png", PNG + ticket.encode(), stage)
    with services.sessions.begin() as s:  # the citizen's own photo: never on the tracking page
        s.add(Attachment(report_id=report.id, filename="warga.jpg", content_type="image/jpeg", path="/tmp/warga.jpg",
                         created_at=report.received_at))
    view = _project(services, report.ticket, report.tracking_code)
    assert view.status == "RESOLVED" and all(s.done and s.at is not None for s in view.steps)
    assert view.resolution_note.startswith("Sampah sudah diangkut.")
    for secret in ("0812", "sutrisno", "example.org"):
        assert secret not in view.resolution_note.lower(), view.resolution_note
    assert [p.stage for p in view.photos] == ["before", "after"]
    with services.reads() as s:
        mine = set(s.scalars(select(Attachment.public_ref).where(Attachment.report_id == report.id,
                                                                 Attachment.public_ref.is_not(None))))
        theirs = s.scalar(select(Attachment.public_ref).where(Attachment.report_id == other.id))
        assert {p.ref for p in view.photos} == mine and theirs not in mine
        citizen_photo = s.scalar(select(Attachment).where(Attachment.filename == "warga.jpg"))
        assert citizen_photo.public_ref is None and citizen_photo.evidence_stage is None
        assert tracking_data.photo_file(s, theirs) is not None and tracking_data.photo_file(s, str(citizen_photo.id)) is None
    assert view.rateable and view.rating is None

    with pytest.raises(NotFound):
        tracking_data.rate(services.sessions, report.ticket, "wrong-code", 5, None, services.clock())
    with pytest.raises(ValidationError):
        tracking_data.rate(services.sessions, report.ticket, report.tracking_code, 6, None, services.clock())
    with pytest.raises(ValidationError):
        tracking_data.rate(services.sessions, report.ticket, report.tracking_code, 4, "x" * 1001, services.clock())
    rated = tracking_data.rate(services.sessions, report.ticket, report.tracking_code, 4, "cepat\x00, terima kasih",
                               services.clock())
    assert rated.rating == 4 and not rated.rateable
    with pytest.raises(TransitionError, match="already been rated"):  # once: the first rating stands
        tracking_data.rate(services.sessions, report.ticket, report.tracking_code, 1, None, services.clock())
    with services.reads() as s:
        events = s.scalars(select(Event).where(Event.report_id == report.id, Event.type == "satisfaction_rated")).all()
        assert [(e.after, e.reason, e.actor_role) for e in events] == [
            ({"satisfaction": 4, "channel": "tracking"}, "cepat, terima kasih", "citizen")]
    # closing after a rating asks the citizen nothing more (no second survey)
    services.workflow.close(report.ticket, OPERATOR)
    with services.reads() as s:
        assert "closed_survey" not in s.scalars(select(OutboxMessage.template)).all()


def test_only_a_resolved_report_can_be_rated(services, queue):
    report = _report(queue)
    with pytest.raises(TransitionError, match="once it is resolved"):
        tracking_data.rate(services.sessions, report.ticket, report.tracking_code, 5, None, services.clock())
    with services.reads() as s:
        assert s.get(Report, report.id).satisfaction is None
    with services.sessions.begin() as s:
        row = s.get(Report, report.id)
        for bad in (True, "5", 0, 2.5, None):
            with pytest.raises(ValidationError):
                ratings.rate(s, row, OPERATOR, bad, channel="x", now=services.clock())


def test_the_acknowledgement_carries_the_tracking_link(services, queue):
    report = queue.submit(incoming(text="lampu jalan mati", phone=PHONE, category="STREETLIGHT",
                                   raw_payload={"reply": {"channel": "whatsapp", "to": f"whatsapp:{PHONE}"}})).report
    url = tracking.url(services.settings.public_base_url, report.ticket, report.tracking_code)
    with services.reads() as s:
        receipt = s.scalar(select(OutboxMessage).where(OutboxMessage.report_id == report.id,
                                                       OutboxMessage.template == "received"))
    assert url in receipt.body and receipt.payload["values"]["tracking_url"] == url
    from ingest.templates import WhatsAppTemplates

    templates = WhatsAppTemplates.load(services.settings.data_dir, {"received": "HX123"})
    sid, variables = templates.content("received", dict(receipt.payload, window_from=None), services.clock())
    assert json.loads(variables) == {"1": report.ticket, "2": url}


def test_before_after_lists_recent_evidence_and_nothing_personal(services):
    context.set_services(services)
    report = _resolved(services)
    unresolved = _report(services.queue, external_id="still-open")
    services.workflow.verify_and_assign(unresolved.ticket, OPERATOR)
    dlh = officer("DLH")
    actions.add_evidence(dlh, report.ticket, "sebelum.png", "image/png", PNG + b"1", "before")
    actions.add_evidence(dlh, report.ticket, "sesudah.png", "image/png", PNG + b"2", "after")
    actions.add_evidence(dlh, unresolved.ticket, "x.png", "image/png", PNG + b"3", "before")
    with pytest.raises(ValidationError):
        actions.add_evidence(dlh, report.ticket, "x.png", "image/png", PNG, "sometime")
    with services.reads() as s:
        items = tracking_data.before_after(s, services.clock())
    assert len(items) == 1
    item = items[0]
    assert len(item.before) == 1 and len(item.after) == 1 and item.resolved_at is not None
    flat = repr(items).lower()
    for secret in (report.ticket.lower(), "sutrisno", "0812", "numpuk", "diangkut"):
        assert secret not in flat
    from dashboard.components import before_after as gallery

    card = repr(gallery.gallery())  # what /public draws from them
    assert card.count("/foto/") == 2 and "Sebelum" in card and "Sesudah" in card and "Sampah" in card
    assert report.ticket not in card and "diangkut" not in card


def test_photos_of_private_categories_emergencies_and_112_calls_are_never_public(services):
    """Only reports of a `public` category (data/categories.csv), never an emergency or a 112 call,
    show their photos: not in the /public gallery, not on the tracking page, not at /foto/<ref>."""
    context.set_services(services)
    wf = services.workflow
    shown = {}
    for key, extra in (("public", {"category": "WASTE"}), ("private", {"category": "SOCIAL"}),
                       ("call112", {"category": "WASTE", "channel": "call112"}),
                       ("emergency", {"category": "WASTE", "kind": "EMERGENCY"})):
        report = services.queue.submit(incoming(text="keadaan di rumah warga", external_id=f"pub-{key}",
                                                phone=PHONE, name=NAME, **extra)).report
        wf.verify_and_assign(report.ticket, OPERATOR)
        agency = officer(services.queue.get(report.ticket).agency_code)
        wf.accept(report.ticket, agency)
        actions.add_evidence(agency, report.ticket, "sebelum.png", "image/png", PNG + key.encode(), "before")
        wf.resolve(report.ticket, agency, "sudah ditangani")
        shown[key] = services.queue.get(report.ticket)
    with services.reads() as s:
        gallery = tracking_data.before_after(s, services.clock())
        refs = {key: s.scalar(select(Attachment.public_ref).where(Attachment.report_id == r.id))
                for key, r in shown.items()}
        files = {key: tracking_data.photo_file(s, ref) for key, ref in refs.items()}
        pages = {key: tracking_data.project(s, r.ticket, r.tracking_code) for key, r in shown.items()}
    assert [item.before for item in gallery] == [(refs["public"],)]
    assert {key: f is not None for key, f in files.items()} == {
        "public": True, "private": False, "call112": False, "emergency": False}
    assert {key: len(p.photos) for key, p in pages.items()} == {"public": 1, "private": 0, "call112": 0, "emergency": 0}


def test_submit_and_show_print_the_tracking_url(database_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from app import cli

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ATTACHMENTS_DIR", str(tmp_path / "att"))
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://lapor.tangerangkota.go.id")
    payload = {"channel": "web", "external_id": "track-1", "text": CITIZEN_TEXT, "received_at": "2026-11-23T09:15:00+07:00",
               "citizen": {"name": NAME, "phone": PHONE, "email": EMAIL}}
    runner = CliRunner()
    out = runner.invoke(cli, ["submit", "-"], input=json.dumps(payload))
    assert out.exit_code == 0, out.output
    printed = json.loads(out.stdout.strip().splitlines()[-1])
    prefix = f"https://lapor.tangerangkota.go.id/lacak/{printed['ticket']}?kode="
    assert printed["tracking_url"].startswith(prefix) and len(printed["tracking_url"]) == len(prefix) + 22
    shown = runner.invoke(cli, ["show", printed["ticket"]])
    assert json.loads(shown.stdout.strip().splitlines()[-1])["tracking_url"] == printed["tracking_url"]


def test_migration_0018_backfills_codes_and_marks_known_evidence(tmp_path, _pg_schema):
    """Reports stored before the revision get distinct codes; a file named by an `evidence_added` event
    becomes an "after" photo with a public reference; the citizen's file stays private."""
    from alembic import command

    from domain.db import alembic_config, migrate
    from tests.test_migrations import _fresh_engine

    engine = _fresh_engine(tmp_path, _pg_schema)
    migrate(engine)
    command.downgrade(alembic_config(engine), "0018_tracking_codes@-1")
    assert "tracking_code" not in {c["name"] for c in __import__("sqlalchemy").inspect(engine).get_columns("reports")}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO agencies (code, name, kind, handles, active) VALUES ('DLH', 'DLH', 'dinas', '', true)"))
        for i in (1, 2):
            conn.execute(text(
                "INSERT INTO reports (id, ticket, channel, external_id, kind, priority, agency_code, status, text, "
                "received_at, created_at, updated_at, transfer_count, needs_supervisor, sla_policy_set, is_demo) VALUES "
                f"({i}, 'TLR-2026-00000{i}', 'web', 'm{i}', 'COMPLAINT', 'P3', 'DLH', 'RESOLVED', 'x', "
                "'2026-01-01', '2026-01-01', '2026-01-01', 0, false, 'default', false)"))
        for aid, digest in ((1, "aaa"), (2, "bbb")):
            conn.execute(text("INSERT INTO attachments (id, report_id, filename, content_type, sha256, path, created_at) "
                              f"VALUES ({aid}, 1, 'f{aid}.png', 'image/png', '{digest}', '/x/{aid}', '2026-01-01')"))
        conn.execute(text("INSERT INTO events (at, report_id, actor, actor_role, type, after) VALUES "
                          "('2026-01-01', 1, 'dlh', 'agency_officer', 'evidence_added', :after)"),
                     {"after": json.dumps({"filename": "f1.png", "sha256": "aaa"})})
    migrate(engine)
    with engine.connect() as conn:
        codes = conn.execute(text("SELECT tracking_code FROM reports ORDER BY id")).scalars().all()
        marks = conn.execute(text("SELECT id, evidence_stage, public_ref FROM attachments ORDER BY id")).all()
    engine.dispose()
    assert len(set(codes)) == 2 and all(len(c) == 22 for c in codes)
    assert marks[0].evidence_stage == "after" and len(marks[0].public_ref) == 22
    assert marks[1].evidence_stage is None and marks[1].public_ref is None
