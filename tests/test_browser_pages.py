"""End to end: the running app (one server per session, in a subprocess on a free port with a temp
database) driven by Debian's Chromium through Playwright (one browser per session).
Screenshots of each page go to test-artifacts/."""
from __future__ import annotations

import io
import json
import re
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

from playwright.sync_api import expect

from tests.browser_support import KIOSK_TOKEN, Page, _submit, new_context, settled, until

PAGES = [("op1", "/operator", "#operator-queue-table", "operator"),
         ("dlh1", "/agency", "#agency-queue-table", "agency"),
         ("sup1", "/supervisor", "#supervisor-breaches-table", "supervisor"),
         ("exec1", "/executive", "#executive-league-table", "executive"),
         ("op1", "/wall", "#agency-queue .queue-row", "wall-operator"),
         ("op1", "/ops", "#ops-worker", "ops"),
         (None, "/public", "#public-by-category", "public")]


@pytest.mark.parametrize("user,path,ready,name", PAGES, ids=[p[3] for p in PAGES])
def test_every_page_renders_for_its_role_without_console_errors(browser, live, user, path, ready, name):
    """Under the app's own Content-Security-Policy (no bypass): a CSP violation is a console error."""
    tab = Page(browser, live["base"], user, csp=True)
    try:
        tab.open(path, ready)
        settled(tab.page)
        tab.shot(name)
        assert tab.errors == []
        assert tab.page.locator(".denied").count() == 0
    finally:
        tab.close()


def test_the_wall_map_scales_with_a_4k_screen(browser, live):
    """The map's names and bubbles are drawn twice as large on a 3840x2160 wall as on a 1920x1080 one."""
    sizes = {}
    for width, height in ((1920, 1080), (3840, 2160)):
        context = new_context(browser, viewport={"width": width, "height": height})
        try:
            page = context.new_page()
            page.goto(f"{live['base']}/wall?kiosk={KIOSK_TOKEN}")
            page.wait_for_selector("#wall-map .textpoint text")
            page.wait_for_function(f"document.querySelector('#wall-map .textpoint text').style.fontSize === "
                                   f"'{11 * width // 1920}px'")
            sizes[width] = page.eval_on_selector("#wall-map .textpoint text", "e => e.style.fontSize")
        finally:
            context.close()
    assert sizes == {1920: "11px", 3840: "22px"}


def test_kiosk_wall_updates_live_and_shows_no_contact_details(browser, live):
    """A new report reaches the kiosk wall without a reload (how fast is bench/bench_dashboard.py's figure)."""
    tab = Page(browser, live["base"])
    try:
        page = tab.open(f"/wall?kiosk={KIOSK_TOKEN}", "#agency-queue .queue-row")
        for test_id in ("kpi-open", "kpi-new-hour", "kpi-breached", "kpi-at-risk", "kpi-resolved-today",
                        "kpi-compliance", "agency-queue", "wall-map", "ticker"):
            assert page.locator(f"#{test_id}").count() == 1, test_id
        page.wait_for_function("document.getElementById('kpi-open').innerText.trim() !== '–'")
        before = int(page.inner_text("#kpi-open").replace(".", ""))
        _submit(live["services"], "Saya Sutrisno, hubungi 0812-3456-7890 atau sutrisno@example.org, banjir setinggi lutut",
                citizen={"name": "Sutrisno Wibowo", "phone": "+6281234567890", "email": "sutrisno@example.org"},
                category="FLOOD", location={"text": "Jl. Melati No. 7", "lat": -6.172884, "lon": 106.631851})
        page.wait_for_function(f"parseInt(document.getElementById('kpi-open').innerText.replace(/\\./g, '')) > {before}")
        # the ticker: category, kelurahan (kecamatan), channel, priority and time; never the citizen's words
        page.wait_for_function("(() => { const i = document.querySelector('#ticker .ticker-item');"
                               " return i && i.innerText.includes('Banjir') && i.innerText.includes('Sukarasa'); })()")
        first = page.inner_text("#ticker .ticker-item")
        assert "web" in first and re.search(r"P[1-4]", first) and "Tangerang" in first and re.search(r"\d\d:\d\d", first)
        text = page.inner_text("body")
        assert "setinggi" not in text and "Melati" not in text and "Saya" not in text
        assert not re.search(r"\d{4}[- ]?\d{4}", text.replace("2026", "")), "a phone number is on the wall"
        assert "@" not in text and "sutrisno" not in text.lower()
        assert page.locator(".navbar").count() == 0 and tab.errors == []
        tab.shot("wall-kiosk")
        # the kiosk is read-only: a state-changing callback is refused
        response = tab.callback(_operator_act_payload("TLR-2026-000001"))
        assert response.status == 403
    finally:
        tab.close()


def test_wrong_kiosk_token_is_refused(browser, live):
    tab = Page(browser, live["base"])
    try:
        response = tab.page.goto(live["base"] + "/wall?kiosk=wrong")
        assert response.status == 403
    finally:
        tab.close()


def _operator_act_payload(ticket):
    states = {"operator-selected": ("data", ticket), "operator-agency": ("value", "DLH"),
              "operator-reject-reason": ("value", "spam"), "operator-reject-note": ("value", None),
              "operator-merge-into": ("value", None), "operator-question": ("value", None),
              "operator-reply-text": ("value", None), "operator-split-message": ("value", None),
              "operator-version": ("data", 0)}
    buttons = ["operator-verify", "operator-reject", "operator-merge", "operator-ask", "operator-reply",
               "operator-split"]
    return {"output": "..operator-feedback.children...operator-version.data..",
            "outputs": [{"id": "operator-feedback", "property": "children"},
                        {"id": "operator-version", "property": "data"}],
            "inputs": [{"id": b, "property": "n_clicks", "value": 1 if b == "operator-reject" else None}
                       for b in buttons],
            "state": [{"id": k, "property": p, "value": v} for k, (p, v) in states.items()],
            "changedPropIds": ["operator-reject.n_clicks"]}


def test_callback_called_directly_by_the_wrong_role_is_refused(browser, live):
    report = _submit(live["services"], "jalan rusak parah", category="ROAD")
    tab = Page(browser, live["base"], "exec1")
    try:
        tab.open("/executive", "#executive-league-table")
        response = tab.callback(_operator_act_payload(report.ticket))
        assert response.status == 403
        assert live["services"].queue.get(report.ticket).status == "NEW"
        page = tab.open("/operator", "#operator-denied")
        assert page.locator("#operator-queue").count() == 0
    finally:
        tab.close()
    tab = Page(browser, live["base"], "op1")  # the same call as an operator goes through
    try:
        tab.open("/operator", "#operator-queue-table")
        response = tab.callback(_operator_act_payload(report.ticket))
        assert response.status == 200, response.text()
        assert live["services"].queue.get(report.ticket).status == "REJECTED"
    finally:
        tab.close()


def test_agency_officer_cannot_see_or_act_on_another_agencys_report(browser, live):
    from domain.actors import Actor

    services = live["services"]
    operator = Actor("op1", "operator")
    mine = _submit(services, "sampah menumpuk belum diangkut", category="WASTE", agency="DLH")
    theirs = _submit(services, "jalan berlubang besar", category="ROAD", agency="PUPR")
    for r in (mine, theirs):
        services.workflow.verify_and_assign(r.ticket, operator)
    tab = Page(browser, live["base"], "dlh1")
    try:
        page = tab.open("/agency", "#agency-queue-table")
        page.wait_for_selector(f"text={mine.ticket}")
        assert page.locator(f"text={theirs.ticket}").count() == 0
        detail = {"output": "agency-detail.children", "outputs": {"id": "agency-detail", "property": "children"},
                  "inputs": [{"id": "agency-selected", "property": "data", "value": theirs.ticket},
                             {"id": "agency-version", "property": "data", "value": 0}],
                  "state": [{"id": "agency-pick", "property": "value", "value": "PUPR"}],
                  "changedPropIds": ["agency-selected.data"]}
        response = tab.callback(detail)
        assert response.status == 403 and "berlubang" not in response.text()
        accept = _agency_act_payload(theirs.ticket)
        response = tab.callback(accept)
        assert "berlubang" not in response.text()
        assert services.queue.get(theirs.ticket).status == "ASSIGNED"  # refused: nothing changed
        response = tab.callback(_agency_act_payload(mine.ticket))
        assert response.status == 200
        assert services.queue.get(mine.ticket).status == "ACCEPTED"
        tab.shot("agency-officer")
    finally:
        tab.close()


def _agency_act_payload(ticket):
    inputs = [("agency-accept", "n_clicks", 1), ("agency-progress", "n_clicks", None),
              ("agency-resolve", "n_clicks", None), ("agency-transfer", "n_clicks", None),
              ("agency-extension", "n_clicks", None), ("agency-explain", "n_clicks", None),
              ("agency-evidence", "contents", None)]
    states = [("agency-selected", "data", ticket), ("agency-progress-note", "value", None),
              ("agency-resolve-note", "value", None), ("agency-transfer-to", "value", None),
              ("agency-transfer-reason", "value", None), ("agency-ext-stage", "value", "resolve"),
              ("agency-ext-minutes", "value", None), ("agency-reason-code", "value", "workload"),
              ("agency-reason-text", "value", None), ("agency-evidence", "filename", None),
              ("agency-version", "data", 0), ("agency-evidence-stage", "value", "before")]
    return {"output": "..agency-feedback.children...agency-version.data..",
            "outputs": [{"id": "agency-feedback", "property": "children"},
                        {"id": "agency-version", "property": "data"}],
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
            "state": [{"id": i, "property": p, "value": v} for i, p, v in states],
            "changedPropIds": ["agency-accept.n_clicks"]}


def test_state_changing_requests_need_the_csrf_token(browser, live):
    tab = Page(browser, live["base"], "op1")
    try:
        tab.open("/operator", "#operator-queue-table")
        response = tab.page.request.post(live["base"] + "/_dash-update-component",
                                         data=json.dumps(_operator_act_payload("TLR-2026-000001")),
                                         headers={"Content-Type": "application/json"})
        assert response.status == 400
    finally:
        tab.close()


def _past(services, text, minutes_ago, **extra):
    """A report received `minutes_ago`: its SLA clocks are already overdue."""
    from domain.intake import IncomingReport

    at = datetime.now(timezone.utc).timestamp() - minutes_ago * 60
    data = {"channel": "web", "external_id": f"e2e-past-{time.time_ns()}", "text": text,
            "received_at": datetime.fromtimestamp(at, timezone.utc).isoformat(), **extra}
    return services.queue.submit(IncomingReport.from_dict(data)).report


def _pick(page, dropdown_id, value):
    """Choose `value` in a Dash dropdown: open it, search, click the option once it is listed, and wait
    until the dropdown shows it. Each step waits for the state it needs (the dropdown's code is loaded
    on first use, which on a busy machine takes a while), never for a fixed time."""
    page.click(f"#{dropdown_id}")
    popup = page.locator(".dash-dropdown-content[data-state=open]")
    popup.locator(".dash-dropdown-search").fill(value)
    popup.get_by_role("option", name=value, exact=True).click()
    expect(page.locator(f"#{dropdown_id}-value")).to_have_text(value)


def test_supervisor_exports_open_and_hold_the_filtered_rows_only(browser, live):
    from openpyxl import load_workbook

    from dashboard import analytics, context

    columns = ["ticket", "sla", "stage", "due", "late_minutes", "agency", "category", "kecamatan", "status",
               "priority", "transfers"]

    services = live["services"]
    texts = ["pohon tumbang menutup jalan", "rumput taman kota tidak pernah dipangkas, bangku rusak"]
    # four and eight days old: more than the 72 h duplicate window apart from each other and from the demo data
    mine = [_past(services, text, 5760 * (i + 1), category="PARK", agency="DLH", priority="P2").ticket
            for i, text in enumerate(texts)]
    assert [services.queue.get(t).status for t in mine] == ["NEW", "NEW"]
    other = _past(services, "lampu jalan padam sepanjang blok", 600, category="STREETLIGHT", agency="PUPR",
                  priority="P2").ticket
    tab = Page(browser, live["base"], "sup1")
    try:
        page = tab.open("/supervisor", "#supervisor-breaches-table")
        page.wait_for_selector(f"#supervisor-breaches-table >> text={other}")
        _pick(page, "supervisor-agency", "DLH")
        _pick(page, "supervisor-category", "PARK")
        page.wait_for_function(f"!document.getElementById('supervisor-breaches-table').innerText.includes('{other}')"
                               f" && document.getElementById('supervisor-breaches-table').innerText.includes('{mine[0]}')")
        files = {}
        for kind in ("csv", "xlsx"):
            with page.expect_download() as download:
                page.click(f"#supervisor-{kind}")
            files[kind] = Path(download.value.path())
            assert download.value.suggested_filename == f"sla-breaches.{kind}"
        context.set_services(services)
        expected = {r["ticket"] for r in analytics.breaches(agency="DLH", category="PARK",
                                                           start=analytics.period_start("30d", datetime.now(timezone.utc)))}
        import csv

        with files["csv"].open(newline="", encoding="utf-8") as handle:
            csv_rows = list(csv.DictReader(handle))
        sheet = load_workbook(io.BytesIO(files["xlsx"].read_bytes()), read_only=True).active
        values = list(sheet.iter_rows(values_only=True))
        xlsx_rows = [dict(zip(values[0], row)) for row in values[1:]]
        assert list(values[0]) == columns and list(csv_rows[0]) == columns
        for rows in (csv_rows, xlsx_rows):
            assert {r["ticket"] for r in rows} == expected and set(mine) <= expected and other not in expected
            assert {(r["agency"], r["category"]) for r in rows} == {("DLH", "PARK")}
            assert len(rows) == len({r["ticket"] + r["stage"] for r in rows})
        assert tab.errors == []
    finally:
        tab.close()


def test_executive_panel_exports_a_png_and_prints_to_pdf(browser, live):
    tab = Page(browser, live["base"], "exec1")
    try:
        page = tab.open("/executive", "#executive-league-table")
        page.wait_for_selector("#executive-daily .main-svg")
        with page.expect_download() as download:
            page.click("#executive-png")
        assert download.value.suggested_filename == "panel-eksekutif.png"
        png = Path(download.value.path()).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert width == 1000 and height >= 60 + 320 * 6 and len(png) > 30_000
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", landscape=True, print_background=True)
        assert pdf[:5] == b"%PDF-" and b"%%EOF" in pdf[-1024:] and len(pdf) > 20_000
        assert tab.errors == []
    finally:
        tab.close()


def test_operator_verifies_the_selected_report_with_the_v_key(browser, live):
    services = live["services"]
    report = _submit(services, "saluran air tersumbat sampah di depan sekolah", category="DRAINAGE", agency="PUPR")
    tab = Page(browser, live["base"], "op1")
    try:
        page = tab.open("/operator", "#operator-queue-table")
        row = page.locator(f"#operator-queue-table tr:has-text('{report.ticket}') button")
        row.click()
        page.wait_for_selector(f"#operator-detail >> text={report.ticket}")
        page.wait_for_function("document.querySelector('#operator-agency').innerText.includes('Pekerjaan Umum')"
                               " || document.querySelector('#operator-agency').innerText.includes('PUPR')")
        page.locator("body").press("v")
        page.wait_for_selector(f"#operator-feedback >> text={report.ticket}")
        assert services.queue.get(report.ticket).status in ("ASSIGNED", "VERIFIED")
        assert tab.errors == []
    finally:
        tab.close()


def test_the_operator_sees_the_senders_claimed_time_beside_the_received_time(browser, live):
    report = _submit(live["services"], "pohon tumbang menutup jalan di depan kantor kelurahan",
                     claimed_at="2005-03-01T09:00:00+07:00")  # an email whose Date: says 2005
    tab = Page(browser, live["base"], "op1")
    try:
        page = tab.open("/operator", "#operator-queue-table")
        page.locator(f"#operator-queue-table tr:has-text('{report.ticket}') button").click()
        page.wait_for_selector(f"#operator-detail >> text={report.ticket}")
        claimed = page.wait_for_selector("#operator-claimed").inner_text()
        assert "01/03/2005 09:00 WIB" in claimed and "menurut pengirim" in claimed
        assert tab.errors == []
    finally:
        tab.close()


def _png() -> bytes:
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    pixels = zlib.compress(b"\x00\xff\x00\x00" * 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def test_a_report_goes_from_the_citizen_to_resolved_through_each_roles_page(browser, live, tmp_path):
    """The whole job in the browser: the operator verifies and forwards (V), the agency officer accepts,
    reports progress, attaches a photo and resolves, and the supervisor reads the timeline; the citizen is
    answered on WhatsApp at each milestone (outbox)."""
    from sqlalchemy import select

    from domain.models import OutboxMessage

    services = live["services"]
    phone = "whatsapp:+6281311112222"
    report = _submit(services, "sampah menumpuk di pinggir jalan sudah seminggu tidak diangkut, bau sekali",
                     channel="whatsapp", citizen={"phone": phone.removeprefix("whatsapp:")}, category="WASTE",
                     agency="DLH", raw_payload={"reply": {"channel": "whatsapp", "to": phone, "thread": {}}})
    ticket = report.ticket
    operator = Page(browser, live["base"], "op1")
    try:
        page = operator.open("/operator", "#operator-queue-table")
        page.locator(f"#operator-queue-table tr:has-text('{ticket}') button").click()
        page.wait_for_selector(f"#operator-detail >> text={ticket}")
        page.wait_for_function("document.querySelector('#operator-agency').innerText.includes('DLH')"
                               " || document.querySelector('#operator-agency').innerText.includes('Lingkungan')")
        page.locator("body").press("v")
        page.wait_for_selector(f"#operator-feedback >> text={ticket}")
        assert services.queue.get(ticket).status == "ASSIGNED"
        assert operator.errors == []
    finally:
        operator.close()
    officer = Page(browser, live["base"], "dlh1")
    try:
        page = officer.open("/agency", "#agency-queue-table")
        page.locator(f"#agency-queue-table tr:has-text('{ticket}') button").click()
        page.wait_for_selector(f"#agency-detail >> text={ticket}")
        steps = [("#agency-accept", "ACCEPTED"), ("#agency-progress", "IN_PROGRESS"),
                 ("evidence", "IN_PROGRESS"), ("#agency-resolve", "RESOLVED")]
        for n, (button, status) in enumerate(steps, start=1):
            if button == "#agency-progress":
                page.fill("#agency-progress-note", "truk sampah dijadwalkan pukul 14.00")
            if button == "#agency-resolve":
                page.fill("#agency-resolve-note", "sampah sudah diangkut, lokasi dibersihkan")
            if button == "evidence":
                photo = tmp_path / "bukti.png"
                photo.write_bytes(_png())
                page.set_input_files("#agency-evidence input[type=file]", str(photo))
            else:
                page.click(button)
            until(lambda: services.queue.get(ticket).status == status, f"{button}: {status}")
            page.wait_for_selector(f"#agency-feedback >> text={ticket}")
        page.wait_for_function("document.querySelector('#agency-media img') &&"
                               " document.querySelector('#agency-media img').naturalWidth === 1")
        photo_url = live["base"] + page.get_attribute("#agency-media a", "href")
        officer.shot("agency-journey")
        assert officer.errors == []
    finally:
        officer.close()
    other = Page(browser, live["base"], "pupr1")  # the photo is DLH's: another agency gets nothing
    try:
        assert other.page.request.get(photo_url).status == 404
        assert other.context.request.get(photo_url.replace("/media/", "/media/999999")).status == 404
    finally:
        other.close()
    anonymous = Page(browser, live["base"])
    try:
        assert anonymous.page.request.get(photo_url).status == 401
    finally:
        anonymous.close()
    supervisor = Page(browser, live["base"], "sup1")
    try:
        page = supervisor.open("/supervisor", "#supervisor-breaches-table")
        page.fill("#supervisor-ticket", ticket)
        page.press("#supervisor-ticket", "Enter")
        page.wait_for_selector("#supervisor-timeline-list li")
        timeline = page.inner_text("#supervisor-timeline-list")
        for event in ("verify", "accept", "progress", "evidence_added", "resolve"):
            assert f" · {event}" in timeline, event
        assert "sampah sudah diangkut" in timeline
        assert supervisor.errors == []
    finally:
        supervisor.close()
    with services.sessions() as s:
        sent = list(s.scalars(select(OutboxMessage.template).where(OutboxMessage.report_id == report.id)))
    assert sent == ["received", "forwarded", "resolved"], sent


def test_ops_page_retries_a_failed_reply_and_discards_a_dead_letter(browser, live):
    """At 3 a.m. the WhatsApp token expired and came back: the operator sends the failed reply again and
    throws away a payload that was never a report; both are in the event log."""
    from sqlalchemy import select

    from domain.models import DeadLetter, Event, OutboxMessage

    services = live["services"]
    now = datetime.now(timezone.utc)
    with services.sessions.begin() as s:
        failed = OutboxMessage(channel="whatsapp", recipient="whatsapp:+6281300001111", body="Laporan diteruskan",
                               status="failed", attempts=8, next_attempt_at=now, created_at=now,
                               last_error="HTTP 401: authenticate")
        letter = DeadLetter(channel="whatsapp", received_at=now, reason="no text and no media", raw=b"{}",
                            status="open", attempts=0)
        s.add_all([failed, letter])
        s.flush()
        failed_id, letter_id = failed.id, letter.id
    tab = Page(browser, live["base"], "op1")
    try:
        page = tab.open("/ops", "#ops-dead-table")
        page.wait_for_selector("#ops-outbox-table >> text=HTTP 401")
        page.fill("#ops-outbox-id", str(failed_id))
        page.click("#ops-outbox-retry")
        page.wait_for_selector(f"#ops-outbox-feedback >> text=#{failed_id}")
        page.fill("#ops-dead-id", str(letter_id))
        page.click("#ops-dead-discard")  # no reason: refused
        page.wait_for_selector("#ops-dead-feedback .alert")
        page.fill("#ops-dead-reason", "pesan kosong dari nomor uji")
        page.click("#ops-dead-discard")
        page.wait_for_selector(f"#ops-dead-feedback >> text=#{letter_id}")
        tab.shot("ops-actions")
        assert tab.errors == []
    finally:
        tab.close()
    with services.sessions() as s:
        assert s.get(OutboxMessage, failed_id).status == "pending"
        assert s.get(DeadLetter, letter_id).status == "discarded"
        logged = {(e.type, e.actor) for e in s.scalars(select(Event).where(Event.type.in_(
            ("outbox_retried", "dead_letter_discarded"))))}
    assert logged >= {("outbox_retried", "op1"), ("dead_letter_discarded", "op1")}


def test_operator_merges_a_whole_incident_with_one_click(browser, live):
    """A flood: three reports from one kelurahan in minutes raise an incident alert; the operator merges
    them into the first with one click, and the wall lists the incident."""
    services = live["services"]
    texts = ["air setinggi lutut masuk rumah di Sudimara Barat", "Sudimara Barat kebanjiran, motor mogok",
             "genangan tinggi di gang masjid Sudimara Barat, anak-anak tidak bisa sekolah"]
    tickets = [_submit(services, text, category="FLOOD", citizen={"phone": f"+62813000{i:05d}"}).ticket
               for i, text in enumerate(texts)]
    tab = Page(browser, live["base"], "op1")
    try:
        page = tab.open("/operator", "#operator-incidents .incident-box")
        box = page.locator(".incident-box", has_text=tickets[0])
        box.get_by_role("button", name="Gabungkan ke laporan pertama").click()
        page.wait_for_selector(f"#operator-incident-feedback >> text={tickets[0]}")
        page.wait_for_function(f"!document.getElementById('operator-queue-table').innerText.includes('{tickets[1]}')")
        tab.shot("operator-incident")
        assert tab.errors == []
    finally:
        tab.close()
    assert services.queue.get(tickets[0]).status == "NEW"
    first_id = services.queue.get(tickets[0]).id
    assert all(services.queue.get(t).status == "MERGED" and services.queue.get(t).merged_into_id == first_id
               for t in tickets[1:])


def _callback_requests(base):
    """Every server-side callback the app declares (GET /_dash-dependencies), as the request a browser
    would send with empty inputs: (page, payload)."""
    deps = json.loads(urllib.request.urlopen(base + "/_dash-dependencies", timeout=10).read())
    pages = {"kpi": "wall", "wall": "wall", "agency": "agency", "operator": "operator", "supervisor": "supervisor",
             "executive": "executive", "ops": "ops", "public": "public", "home": "home", "lacak": "lacak"}

    def spec(entry):
        if entry["id"].startswith("{"):
            return []  # a pattern-matching input with no matching component on the page
        return {"id": entry["id"], "property": entry["property"], "value": None}

    out = []
    for dep in deps:
        if dep.get("clientside_function") or dep["output"].startswith(".._pages_content"):
            continue  # runs in the browser / Dash's own page router
        multi = dep["output"].startswith("..")
        names = dep["output"].strip(".").split("...") if multi else [dep["output"]]
        outputs = [{"id": n.rsplit(".", 1)[0], "property": n.rsplit(".", 1)[1]} for n in names]
        page = pages[outputs[0]["id"].split("-")[0]]
        out.append((page, {"output": dep["output"], "outputs": outputs if multi else outputs[0],
                           "inputs": [spec(i) for i in dep["inputs"]], "state": [spec(s) for s in dep["state"]],
                           "changedPropIds": []}))
    return out


@pytest.mark.parametrize("who", ["anonymous", "kiosk", "exec1", "dlh1", "op1"])
def test_every_callback_checks_the_role_on_the_server(browser, live, who):
    """Not only the pages: each callback, called directly with the role's session, is refused (403) unless
    the role may use its page, and a permitted call with empty inputs answers without an error."""
    from dashboard.auth import PAGE_ROLES

    role = {"anonymous": None, "kiosk": "kiosk", "exec1": "executive", "dlh1": "agency_officer", "op1": "operator"}[who]
    tab = Page(browser, live["base"], None if who in ("anonymous", "kiosk") else who)
    try:
        tab.open(f"/wall?kiosk={KIOSK_TOKEN}" if who == "kiosk" else "/public", "body")
        requests = _callback_requests(live["base"])
        assert len(requests) >= 25 and {p for p, _ in requests} >= {"wall", "operator", "agency", "supervisor",
                                                                    "executive", "ops", "public"}
        for page, payload in requests:
            status = tab.callback(payload).status
            allowed = PAGE_ROLES[page] is None or role in PAGE_ROLES[page]
            if allowed:
                assert status in (200, 204), (who, payload["output"], status)
            else:
                assert status in (401, 403), (who, payload["output"], status)
    finally:
        tab.close()
