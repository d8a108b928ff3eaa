"""End to end, in Chromium: the maps draw the 104 kelurahan outlines; the wall sends them once and then
only colours and points; hover names the kelurahan, its kecamatan and its counts; /public receives counts
per kelurahan and no report's coordinates. Screenshots go to test-artifacts/."""
from __future__ import annotations

from tests.browser_support import KIOSK_TOKEN, Page, _submit

# The figure of a dcc.Graph, and how many SVG paths each of its traces drew.
FIGURE = """sel => {
    const gd = document.querySelector(sel + ' .js-plotly-plot');
    if (!gd || !gd.data) { return null; }
    const groups = Array.from(gd.querySelectorAll('.scatterlayer .trace'));
    return {traces: gd.data.map((t, i) => ({meta: t.meta || null, name: t.name || null, text: t.text,
                                          fill: t.fill || null, x: (t.x || []).length,
                                          gaps: (t.x || []).filter(v => v === null).length,
                                          lines: groups[i] ? groups[i].querySelectorAll('path.js-line').length : 0,
                                          fills: groups[i] ? groups[i].querySelectorAll('path.js-fill').length : 0}))};
}"""


def _figure(page, selector):
    page.wait_for_function(f"(() => {{ const gd = document.querySelector('{selector} .js-plotly-plot'); "
                           "return gd && gd.data && gd.data.some(t => t.meta === 'kelurahan-outlines'); })()",
                           timeout=10_000)
    return page.evaluate(FIGURE, selector)["traces"]


def _outlines_and_fills(traces):
    [outline] = [t for t in traces if t["meta"] == "kelurahan-outlines"]
    fills = [t for t in traces if t["fill"] == "toself"]
    return outline, fills


def test_the_wall_map_draws_the_104_outlines_once_then_patches(browser, live):
    tab = Page(browser, live["base"])
    bodies = []
    tab.page.on("response", lambda r: bodies.append(r) if "_dash-update-component" in r.url else None)
    try:
        page = tab.open(f"/wall?kiosk={KIOSK_TOKEN}", "#agency-queue .queue-row")
        traces = _figure(page, "#wall-map")
        outline, fills = _outlines_and_fills(traces)
        assert len(fills) == 104 and len({f["name"] for f in fills}) == 104
        assert all(f["fills"] >= 1 for f in fills)
        assert outline["lines"] >= 104 and outline["lines"] == outline["gaps"] + 1, outline  # one path a ring
        page.wait_for_timeout(2500)  # the scale settles; the following refreshes send only what changed
        sukasari = next(f for f in fills if f["name"] == "Sukasari")
        before = int(sukasari["text"].split("<br>")[2].split(": ")[1])
        bodies.clear()
        _submit(live["services"], "sampah numpuk di kel. sukasari, belum diangkut", category="WASTE",
                location={"text": "Kel. Sukasari", "lat": -6.1822, "lon": 106.6358})
        page.wait_for_function(
            "(() => { const gd = document.querySelector('#wall-map .js-plotly-plot');"
            " const t = gd.data.find(t => t.name === 'Sukasari');"
            f" return t && t.text.includes('<br>Terbuka: {before + 1}<br>'); }})()", timeout=5000)
        updates = [b.text() for b in bodies if b.status == 200]
        map_updates = [u for u in updates if '"wall-map"' in u]
        assert map_updates and not any("kelurahan-outlines" in u for u in map_updates), "outlines sent again"
        after_outline, after_fills = _outlines_and_fills(page.evaluate(FIGURE, "#wall-map")["traces"])
        assert after_outline["lines"] == outline["lines"] and len(after_fills) == 104
        tab.shot("wall-map")
        assert tab.errors == []
    finally:
        tab.close()


def test_public_map_shades_kelurahan_with_counts_only(browser, live):
    home = (-6.208713, 106.632017)  # a citizen's house in Cikokol
    _submit(live["services"], "jalan berlubang di depan rumah saya", category="ROAD",
            location={"text": "rumah", "lat": home[0], "lon": home[1]})
    tab = Page(browser, live["base"])
    bodies = []
    tab.page.on("response", lambda r: bodies.append(r) if "_dash-update-component" in r.url else None)
    try:
        page = tab.open("/public", "#public-map")
        traces = _figure(page, "#public-map")
        [body] = [b.text() for b in bodies if "public-map" in (b.json().get("response") or {})]
        assert str(home[0]) not in body and str(home[1]) not in body, "a report's coordinates reached /public"
        outline, fills = _outlines_and_fills(traces)
        assert len(fills) == 104 and outline["lines"] >= 104
        points = [t for t in traces if t["name"] in ("P1", "P2", "P3", "P4")]
        assert points and all(t["x"] == 0 for t in points), "a report's point reached /public"
        # hover over the middle of Cikokol: its name, kecamatan and count (the map sits below the fold)
        page.locator("#public-map").scroll_into_view_if_needed()
        box = page.evaluate("""() => {
            const gd = document.querySelector('#public-map .js-plotly-plot');
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
            return {x: r.left + xa._offset + xa.l2p(106.63202), y: r.top + ya._offset + ya.l2p(-6.20872)};
        }""")
        page.mouse.move(box["x"], box["y"])
        page.wait_for_selector("#public-map .hoverlayer .hovertext", timeout=5000)
        hover = page.eval_on_selector("#public-map .hoverlayer", "e => e.textContent")
        assert "Cikokol" in hover and "Kec. Tangerang" in hover and "Laporan terbuka: " in hover, hover
        tab.shot("public-map")
        assert tab.errors == []
    finally:
        tab.close()


def test_executive_map_shades_the_104_kelurahan(browser, live):
    tab = Page(browser, live["base"], "exec1")
    try:
        page = tab.open("/executive", "#executive-league-table")
        outline, fills = _outlines_and_fills(_figure(page, "#executive-kecamatan"))
        assert len(fills) == 104 and outline["lines"] >= 104
        assert any("Lewat SLA: " in f["text"] for f in fills)
        page.locator("#executive-kecamatan").scroll_into_view_if_needed()
        tab.shot("executive-map")
        assert tab.errors == []
    finally:
        tab.close()
