"""End to end on demo history, in Chromium: the executive panel shows months of days and a full week of
hours, with the comparison to the period before; chart labels that used to be cut ("...arkir") are whole.

The server of this module holds a demo history of its own (three months, fewer reports a day than the
real demo, built in about a second), in its own database, so the shared `live` server keeps its data."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from sqlalchemy import text

from tests.browser_support import ACCOUNTS, CHROMIUM, PASSWORD, SERVER, Page, _free_port
from tests.conftest import TEST_DATABASE_URL, require_peer

HISTORY = dict(days=92, per_day=14, seed=3)


@pytest.fixture(scope="module")
def history_server(tmp_path_factory, _pg_schema, _sqlite_template, project_root):
    require_peer(shutil.which(CHROMIUM) is not None, "Debian's chromium is not installed")
    from app import Services
    from dashboard import rollup
    from domain.config import DATA_DIR, Settings
    from domain.db import make_engine
    from domain.users import UserService
    from ingest.demo_history import build_history

    tmp = tmp_path_factory.mktemp("history")
    schema = None
    if _pg_schema:
        schema = f"tlr_history_{uuid.uuid4().hex[:8]}"
        admin = make_engine(TEST_DATABASE_URL)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        sep = "&" if "?" in TEST_DATABASE_URL else "?"
        url = f"{TEST_DATABASE_URL}{sep}options=-csearch_path%3D{schema}"
    else:
        shutil.copy(_sqlite_template, tmp / "history.db")
        url = f"sqlite:///{tmp / 'history.db'}"
    services = Services(Settings(database_url=url, data_dir=DATA_DIR, attachments_dir=tmp / "att", secret_key="x"))
    services.init_db()
    users = UserService(services.sessions)
    for name, role, agency in ACCOUNTS:
        users.add(name, PASSWORD, role, agency_code=agency)
    result = build_history(services, **HISTORY)
    rollup.catch_up(services.sessions, services.queue.clock())
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=url, ATTACHMENTS_DIR=str(tmp / "att"))
    proc = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(project_root), port=port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "server.log", "wb"))
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(base + "/login", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((tmp / "server.log").read_text())
            time.sleep(0.1)
    yield {"base": base, "services": services, "history": result}
    proc.terminate()
    proc.wait(timeout=10)
    services.engine.dispose()
    if schema:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _figure(page, graph_id: str) -> dict:
    return page.evaluate(f"""() => {{
        const g = document.querySelector('#{graph_id} .js-plotly-plot');
        return {{data: g.data.map(t => ({{x: t.x, y: t.y, z: t.z, colorscale: t.colorscale, zmin: t.zmin}}))}};
    }}""")


def _pick_period(page, value: str) -> None:
    page.click("#executive-period")
    page.get_by_role("option", name=value, exact=True).click()
    page.wait_for_function("""(n) => {
        const g = document.querySelector('#executive-daily .js-plotly-plot');
        return g && g.data && g.data[0].x.length >= n; }""", arg=85, timeout=15_000)


def test_executive_panel_on_demo_history(browser, history_server):
    tab = Page(browser, history_server["base"], "exec1")
    try:
        page = tab.open("/executive", "#executive-daily .js-plotly-plot")
        page.wait_for_selector("#executive-kpi-reports-delta:has-text('vs. 30 hari sebelumnya')", timeout=10_000)
        delta = page.inner_text("#executive-kpi-reports-delta")
        assert "%" in delta and ("▲" in delta or "▼" in delta or "=" in delta), delta
        assert "poin" in page.inner_text("#executive-kpi-compliance-delta")
        _pick_period(page, "90d")
        daily = _figure(page, "executive-daily")["data"]
        assert len(daily[0]["x"]) >= 90 and sum(daily[0]["y"]) > 900
        heat = _figure(page, "executive-heatmap")["data"][0]
        assert sum(1 for row in heat["z"] if any(v > 0 for v in row)) >= 7
        assert heat["zmin"] == 0 and heat["colorscale"][0][1] == "#f4f6f8", "zero is the neutral background"
        league = page.inner_text("#executive-league-table")
        assert "Dinas Pekerjaan Umum dan Penataan Ruang" in league
        medians = [row.split("\t")[4] for row in league.splitlines()[1:] if row.count("\t") >= 7]
        assert len(set(medians)) > 5, f"agencies differ in their time to accept: {medians}"
        page.wait_for_timeout(500)
        tab.shot("executive-history")
        assert not [e for e in tab.errors if "favicon" not in e], tab.errors
    finally:
        tab.close()


LABELS_JS = """(graphId) => {
    const svg = document.querySelector('#' + graphId + ' .main-svg');
    const box = svg.getBoundingClientRect();
    return Array.from(document.querySelectorAll('#' + graphId + ' .ytick text')).map(t => {
        const r = t.getBoundingClientRect();
        const lines = t.querySelectorAll('tspan.line');
        const words = lines.length ? Array.from(lines).map(l => l.textContent) : [t.textContent];
        return {text: words.join(' '), left: r.left - box.left, right: box.right - r.right};
    });
}"""


def _whole_labels(page, graph_id: str) -> list[str]:
    labels = page.evaluate(LABELS_JS, graph_id)
    assert labels
    for label in labels:
        assert label["left"] >= 0 and label["right"] >= 0, f"{label['text']!r} is cut ({label})"
    return [" ".join(label["text"].split()) for label in labels]


def test_long_labels_are_whole(browser, history_server):
    from domain.models import Agency, Category
    from sqlalchemy import select

    with history_server["services"].sessions() as s:
        categories = set(s.scalars(select(Category.label_id))) | {"Tanpa kategori"}  # spam has no category
        agencies = set(s.scalars(select(Agency.name)))
    tab = Page(browser, history_server["base"])
    try:
        page = tab.open("/public", "#public-by-category .js-plotly-plot .ytick text")
        page.wait_for_timeout(300)
        shown = _whole_labels(page, "public-by-category")
        assert "Lalu lintas dan parkir" in shown, shown
        assert set(shown) <= categories, set(shown) - categories
        long_ones = [label for label in shown if len(label) > 30]
        assert long_ones, "a long category label is among the ones drawn"
        by_agency = _whole_labels(page, "public-by-agency")
        assert set(by_agency) <= agencies and any(len(a) > 35 for a in by_agency), by_agency
        tab.shot("public-history")
    finally:
        tab.close()
    tab = Page(browser, history_server["base"], "exec1")
    try:
        page = tab.open("/executive", "#executive-categories .js-plotly-plot .ytick text")
        shown = _whole_labels(page, "executive-categories")
        assert "Lalu lintas dan parkir" in shown and set(shown) <= categories
    finally:
        tab.close()
