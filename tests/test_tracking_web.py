"""The citizen's tracking page over HTTP and in Chromium, against the shared live server: only the right
code opens it, a wrong or missing one answers exactly like a ticket that does not exist, look-ups are
rate-limited per client address, the photo route serves agency evidence only, and no personal data
reaches the page's HTML or its callback responses."""
from __future__ import annotations

import io
import re
from pathlib import Path

import requests
from PIL import Image
from sqlalchemy import select

from dashboard import actions, context
from domain import tracking
from domain.actors import Actor
from domain.models import Attachment
from tests.browser_support import Page, _submit, settled
from tests.helpers import without_outlines

NAME, PHONE, EMAIL = "Sutrisno Wibowo", "+6281298765432", "sutrisno.track@example.org"
TEXT = "Saya Sutrisno Wibowo (0812-9876-5432, sutrisno.track@example.org): sampah numpuk di TPS Gang Kelinci"
SECRETS = ("Sutrisno", "Wibowo", "0812", "6281298765432", "9876", "sutrisno.track", "example.org", "numpuk",
           "Kelinci")
OPERATOR = Actor("op1", "operator")


def _photo(rgb: tuple[int, int, int], mark: bytes, width: int = 240, height: int = 160) -> bytes:
    """A real PNG of one colour with a lighter band (a stand-in for the agency's photo); `mark` makes it unique."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    light = bytes(min(255, c + 70) for c in rgb)
    rows = b"".join(b"\x00" + (light if height // 3 < y < height // 2 else bytes(rgb)) * width for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"tEXt", b"mark\x00" + mark) + chunk(b"IEND", b""))
DLH = Actor("dlh1", "agency_officer", "DLH")


CATEGORIES = iter(["WASTE", "POLLUTION", "PARK", "DRAINAGE", "ROAD", "STREETLIGHT", "WATER", "OTHER"] * 4)


def _report(services, **extra):
    """A report full of personal data; each of another category, so none is merged as a duplicate."""
    return _submit(services, TEXT, category=next(CATEGORIES), agency="DLH",
                   citizen={"name": NAME, "phone": PHONE, "email": EMAIL}, **extra)


def _resolved_with_photos(services):
    report = _report(services)
    wf = services.workflow
    wf.verify_and_assign(report.ticket, OPERATOR)
    wf.accept(report.ticket, DLH)
    wf.start(report.ticket, DLH)
    context.set_services(services)
    actions.add_evidence(DLH, report.ticket, "sebelum.png", "image/png", _photo((120, 85, 50), report.ticket.encode()),
                         "before")
    actions.add_evidence(DLH, report.ticket, "sesudah.png", "image/png", _photo((60, 140, 80), report.ticket.encode()),
                         "after")
    wf.resolve(report.ticket, DLH, "Sampah sudah diangkut; pelapor Sutrisno (0812-9876-5432) sudah dikabari")
    return services.queue.get(report.ticket)


class Client:
    """A visitor from one client address (the live server trusts one proxy: X-Forwarded-For)."""

    def __init__(self, base: str, address: str):
        self.base, self.http = base, requests.Session()
        self.http.headers["X-Forwarded-For"] = address

    def page(self, ticket: str, search: str):
        return self.http.get(f"{self.base}/lacak/{ticket}{search}", timeout=10)

    def content(self, ticket: str, search: str):
        """What the browser fetches after the page: the pages router's callback for that address."""
        if "_csrf_token" not in self.http.cookies:
            self.page(ticket, search)
        body = {"output": ".._pages_content.children..._pages_store.data..",
                "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
                "inputs": [{"id": "_pages_location", "property": "pathname", "value": f"/lacak/{ticket}"},
                           {"id": "_pages_location", "property": "search", "value": search}],
                "changedPropIds": ["_pages_location.pathname"], "state": []}
        return self.http.post(f"{self.base}/_dash-update-component", json=body, timeout=10,
                              headers={"X-CSRFToken": self.http.cookies["_csrf_token"]})


def test_only_the_right_code_opens_the_report_and_nothing_personal_is_sent(live):
    services = live["services"]
    report, other = _report(services), _report(services)
    visitor = Client(live["base"], "192.0.2.101")
    page = visitor.page(report.ticket, f"?kode={report.tracking_code}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert report.ticket not in page.text and report.tracking_code not in page.text  # not even in meta tags
    right = visitor.content(report.ticket, f"?kode={report.tracking_code}")
    assert right.status_code == 200
    assert report.ticket in right.text and "Dinas Lingkungan Hidup" in right.text and "Menunggu verifikasi" in right.text
    for secret in SECRETS + (report.tracking_code,):
        assert secret not in right.text, secret
    answers = {how: visitor.content(ticket, search) for how, (ticket, search) in {
        "wrong": (report.ticket, "?kode=" + "A" * 22), "missing": (report.ticket, ""),
        "empty": (report.ticket, "?kode="), "other report's": (report.ticket, f"?kode={other.tracking_code}"),
        "unknown ticket": ("TLR-2026-999999", f"?kode={report.tracking_code}"),
        "malformed": ("%3Cscript%3E", "?kode=x")}.items()}
    bodies = {how: a.text for how, a in answers.items()}
    assert all(a.status_code == 200 for a in answers.values())
    assert len(set(bodies.values())) == 1, "every failure must read the same"
    assert report.ticket not in bodies["wrong"] and "lacak-not-found" in bodies["wrong"]


def test_look_ups_are_rate_limited_per_client_address(live):
    report = _report(live["services"])
    prober, neighbour = Client(live["base"], "192.0.2.102"), Client(live["base"], "192.0.2.103")
    for n in range(30):  # TRACKING_RATE_LIMIT's default: 30 per minute
        assert prober.content(report.ticket, f"?kode=guess{n:017d}").status_code == 200
    refused = prober.content(report.ticket, f"?kode={report.tracking_code}")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert report.ticket not in refused.text
    page = prober.page(report.ticket, f"?kode={report.tracking_code}")
    assert page.status_code == 429 and "Terlalu banyak permintaan" in page.text and page.headers["Retry-After"]
    assert neighbour.content(report.ticket, f"?kode={report.tracking_code}").status_code == 200


def test_the_photo_route_serves_agency_evidence_of_the_page_only(live):
    services = live["services"]
    report, other = _resolved_with_photos(services), _resolved_with_photos(services)
    with services.sessions.begin() as s:
        refs = {rid: [a.public_ref for a in s.scalars(select(Attachment).where(Attachment.report_id == rid)
                                                      .order_by(Attachment.id))] for rid in (report.id, other.id)}
        evidence = s.scalar(select(Attachment).where(Attachment.report_id == report.id))
        # a citizen's photo in the same folder, even given a reference by mistake, is never served
        citizen_photo = Attachment(report_id=report.id, filename="warga.png", content_type="image/png",
                                   path=evidence.path, created_at=evidence.created_at, public_ref="c" * 22)
        s.add(citizen_photo)
        s.flush()
        evidence_id, citizen_id, evidence_path = evidence.id, citizen_photo.id, evidence.path
    visitor = Client(live["base"], "192.0.2.104")
    content = visitor.content(report.ticket, f"?kode={report.tracking_code}").text
    assert all(f"\\u002ffoto\\u002f{ref}" in content for ref in refs[report.id])  # Dash escapes "/" in JSON
    assert not any(ref in content for ref in refs[other.id]), "another report's photo on this page"
    photo = visitor.http.get(f"{live['base']}/foto/{refs[report.id][0]}", timeout=10)
    assert photo.status_code == 200 and photo.headers["Content-Type"] == "image/png"
    stored = Path(services.settings.attachments_dir) / evidence_path  # stored relative to ATTACHMENTS_DIR
    with Image.open(io.BytesIO(photo.content)) as served, Image.open(stored) as original:
        assert served.convert("RGB").tobytes() == original.convert("RGB").tobytes()  # the same pixels
        assert "mark" in original.info and "mark" not in served.info  # without the text chunk
    for wrong in (str(evidence_id), str(citizen_id), "c" * 22, refs[report.id][0][:-1] + "x", "x" * 65):
        assert visitor.http.get(f"{live['base']}/foto/{wrong}", timeout=10).status_code == 404, wrong
    climb = visitor.http.get(f"{live['base']}/foto/..%2F..%2Fsecret_key", timeout=10)  # not the route: the app shell
    assert climb.headers["Content-Type"].startswith("text/html") and b"\x89PNG" not in climb.content
    assert visitor.http.get(f"{live['base']}/media/{evidence_id}", timeout=10).status_code == 401


def _jpeg_with_gps() -> bytes:
    """A real JPEG as a phone writes it: EXIF with the camera, the time, an orientation and a GPS position
    (Jl. Daan Mogot, Tangerang)."""
    img = Image.new("RGB", (320, 200), (150, 110, 60))
    img.paste((230, 230, 230), (0, 0, 160, 40))  # a light corner: shows which way is up
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = "Samsung", "SM-A546E", "2026:11:23 07:41:12"
    exif[0x0112] = 6  # the camera was held upright: turn 90 degrees clockwise to view
    gps = exif.get_ifd(0x8825)
    gps.update({1: "S", 2: (6.0, 10.0, 21.5), 3: "E", 4: (106.0, 37.0, 50.2)})
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes(), quality=92)
    return out.getvalue()


def test_public_photos_are_served_without_exif_or_gps(live):
    services = live["services"]
    original = _jpeg_with_gps()
    with Image.open(io.BytesIO(original)) as img:
        assert img.getexif().get_ifd(0x8825)[2] == (6.0, 10.0, 21.5)  # the file does carry a position
    report = _report(services)
    wf = services.workflow
    wf.verify_and_assign(report.ticket, OPERATOR)
    wf.accept(report.ticket, DLH)
    context.set_services(services)
    actions.add_evidence(DLH, report.ticket, "jalan.jpg", "image/jpeg", original, "before")
    wf.resolve(report.ticket, DLH, "sudah diangkut")
    with services.reads() as s:
        ref = s.scalar(select(Attachment.public_ref).where(Attachment.report_id == report.id))
    photo = Client(live["base"], "192.0.2.105").http.get(f"{live['base']}/foto/{ref}", timeout=10)
    assert photo.status_code == 200 and photo.headers["Content-Type"] == "image/jpeg"
    assert b"Exif" not in photo.content and b"Samsung" not in photo.content and b"2026:11:23" not in photo.content
    with Image.open(io.BytesIO(photo.content)) as served:
        assert served.format == "JPEG" and len(served.getexif()) == 0 and not served.info.get("exif")
        assert served.size == (200, 320), "turned upright before the orientation tag was dropped"
        assert served.getpixel((190, 10))[0] > 200  # the light corner is now top right


def test_a_citizen_follows_and_rates_their_report_in_chromium(browser, live):
    """Under the app's CSP, on a phone-sized screen: status, timeline, note and photos, the English toggle,
    the rating; no personal data in the HTML or any callback response; a wrong code shows nothing."""
    services = live["services"]
    report = _resolved_with_photos(services)
    url = tracking.path(report.ticket, report.tracking_code)
    tab = Page(browser, live["base"], csp=True, viewport={"width": 412, "height": 915})
    bodies: list[str] = []  # every callback response the page received, read as it arrives

    def read(response):
        if "/_dash-update-component" in response.url and response.ok:
            try:
                bodies.append(response.text())
            except Exception:  # noqa: BLE001 - the page navigated on (the /public poll below) before it was read
                pass
    tab.page.on("response", read)
    try:
        page = tab.open(url, "#lacak-status")
        settled(page)
        assert page.inner_text("#lacak-ticket") == report.ticket
        assert page.inner_text("#lacak-status") == "Selesai ditangani"
        assert page.locator("#lacak-timeline li.done").count() == 6
        assert "[telepon]" in page.inner_text("#lacak-note") and "0812" not in page.inner_text("#lacak-note")
        page.wait_for_selector("#lacak-photos img.lacak-photo >> nth=1")
        until_loaded = "Array.from(document.querySelectorAll('#lacak-photos img')).every(i => i.naturalWidth === 240)"
        page.wait_for_load_state("networkidle")
        assert page.evaluate(until_loaded)
        _assert_nothing_personal(page.content(), bodies)
        tab.shot("tracking-resolved", full_page=True)

        page.click("#shell-lang")  # English, and still this report: the code survives the toggle
        page.wait_for_selector("#lacak-status >> text=Resolved")
        assert page.inner_text("#lacak-ticket") == report.ticket
        page.check("#lacak-rate-score input[value='5']")
        page.fill("#lacak-rate-comment", "Cepat, terima kasih")
        page.click("#lacak-rate-submit")
        page.wait_for_selector("#lacak-rated")
        assert "5/5" in page.inner_text("#lacak-rated")
        assert services.queue.get(report.ticket).satisfaction == 5
        _assert_nothing_personal(page.content(), bodies)
        tab.shot("tracking-rated", full_page=True)

        bodies.clear()
        page = tab.open(f"/lacak/{report.ticket}?kode=wrong-code-123", "#lacak-not-found")
        settled(page)
        html = page.content()
        assert report.ticket not in html and "lacak-status" not in html
        assert bodies and not any(report.ticket in b for b in bodies)
        _assert_nothing_personal(html, bodies)
        tab.shot("tracking-wrong-code")

        # /public: the gallery of agency photos, by their public references only (what it lists is
        # tests/test_tracking.py's; it is kept for a minute, so an earlier visit's copy may be shown)
        bodies.clear()
        page = tab.open("/public", "#public-before-after")
        settled(page)
        srcs = page.eval_on_selector_all("#public-before-after img", "els => els.map(e => e.getAttribute('src'))")
        assert all(re.fullmatch(r"/foto/[\w-]{22}", src) for src in srcs), srcs
        assert report.ticket not in page.content() and "diangkut" not in page.content()
        _assert_nothing_personal(page.content(), bodies)
        tab.shot("public-before-after", full_page=True)
        assert tab.errors == []
    finally:
        tab.close()


def _assert_nothing_personal(html: str, responses: list[str]) -> None:
    assert responses, "no callback response was read"
    # an SVG path's numbers are pixels and the outlines' numbers are public geometry: both can spell "0812"
    # Dash's own config script carries a random token whose hex digits can spell "9876": it is no report's data
    html = re.sub(r'<script id="_dash-config"[^>]*>.*?</script>', "", html, flags=re.S)
    texts = [re.sub(r'\sd="[^"]*"', "", html)] + [without_outlines(r) for r in responses]
    for text in texts:
        for secret in SECRETS:
            at = text.lower().find(secret.lower())
            assert at < 0, (secret, text[max(0, at - 300):at + 100])
        found = re.search(r"(?<![\w.=/-])\+?62\d{8,}", text)  # a phone; not digits inside asset URLs or ids
        assert not found, text[max(0, found.start() - 200):found.end() + 50]
