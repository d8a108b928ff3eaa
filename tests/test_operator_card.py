"""The operator's report card in Chromium: the conversation as a thread (the citizen's messages and ours,
in order, with delivery states) and the citizen's other reports on every channel (linked by the citizen's
identities); tickets in the queue table never wrap."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from dashboard import actions, context
from domain.actors import Actor
from domain.models import OutboxMessage
from ingest.inbox import Inbox
from tests.browser_support import Page, _submit, settled
from tests.helpers import incoming

PHONE, EMAIL = "+6281355501234", "dewi.card@example.org"


def test_the_card_shows_the_thread_in_order_and_the_citizens_reports_on_every_channel(browser, live):
    services = live["services"]
    earlier = datetime.now(timezone.utc) - timedelta(days=3)
    # channels that vouch for the citizen: a mail our server authenticated (naming her phone), a 112 call from it
    # (a phone typed into a web form would not join her: domain/citizens.py)
    by_mail = services.queue.submit(incoming(channel="email", text="lampu jalan mati di Jl. Daan Mogot", name="Dewi",
                                             email=EMAIL, phone=PHONE, received_at=earlier, category="STREETLIGHT",
                                             verified=True)).report
    by_web = _submit(services, "trotoar rusak dekat halte", channel="call112",
                     received_at=(earlier + timedelta(hours=5)).isoformat(), citizen={"phone": PHONE}, category="ROAD")
    report = _submit(services, "air got meluap ke jalan sejak pagi", channel="whatsapp", category="FLOOD",
                     citizen={"name": "Dewi", "phone": PHONE},
                     raw_payload={"reply": {"channel": "whatsapp", "to": f"whatsapp:{PHONE}", "thread": {}}})
    context.set_services(services)
    Inbox(services).add_followup(report.id, "whatsapp", f"wamid-card-{report.id}", PHONE, "sekarang sudah setinggi lutut")
    actions.reply(Actor("op1", "operator"), report.ticket, "Petugas BPBD sedang menuju lokasi {ticket}")
    with services.sessions.begin() as s:  # the provider confirmed the receipt
        s.execute(update(OutboxMessage).where(OutboxMessage.report_id == report.id, OutboxMessage.template == "received")
                  .values(status="sent", delivery_status="delivered"))
    tab = Page(browser, live["base"], "op1", viewport={"width": 1280, "height": 900})
    try:
        page = tab.open("/operator", "#operator-queue-table")
        settled(page)
        page.locator(f"#operator-queue-table tr:has-text('{report.ticket}') button").click()
        page.wait_for_selector("#operator-thread .msg >> nth=3")
        messages = page.locator("#operator-thread .msg")
        kinds = [messages.nth(i).get_attribute("class") for i in range(messages.count())]
        texts = [messages.nth(i).inner_text() for i in range(messages.count())]
        assert kinds == ["msg in", "msg out", "msg in", "msg out"], texts
        assert "air got meluap" in texts[0] and "Terima kasih, laporan Anda sudah kami terima" in texts[1]
        assert "delivered" in texts[1] and "setinggi lutut" in texts[2]
        assert f"Petugas BPBD sedang menuju lokasi {report.ticket}" in texts[3] and "op1" in texts[3]
        history = page.inner_text("#operator-history")
        for other, channel in ((by_mail, "email"), (by_web, "call112")):
            row = page.locator(f"#operator-history tr:has-text('{other.ticket}')").inner_text()
            assert channel in row, row
        assert history.index(by_web.ticket) < history.index(by_mail.ticket)  # newest first
        # every ticket of the queue table is on one line, at this width too
        lines = page.evaluate("""() => Array.from(document.querySelectorAll('#operator-queue-table td.nowrap'))
            .filter(td => /^[A-Z]+-\\d{4}-\\d+$/.test(td.innerText.trim()))
            .map(td => { const r = document.createRange(); r.selectNodeContents(td);
                         return [getComputedStyle(td).whiteSpace, r.getClientRects().length]; })""")
        assert lines and all(style == "nowrap" and rects == 1 for style, rects in lines), lines
        # a wide queue scrolls inside its own column: it never runs under the report card beside it
        edges = page.evaluate("() => { const q = document.querySelector('#operator-queue').getBoundingClientRect();"
                              " const c = document.querySelector('.queue-col').nextElementSibling.getBoundingClientRect();"
                              " return [q.right, c.left]; }")
        assert edges[0] <= edges[1], f"the queue runs under the card: {edges}"
        page.locator("#operator-thread").scroll_into_view_if_needed()
        tab.shot("operator-card")
        assert tab.errors == []
    finally:
        tab.close()
