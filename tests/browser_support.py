"""Shared end-to-end fixtures: the running app (one server per test session, in a subprocess on a free
port with a temp database, served as `serve` serves it: waitress, dashboard/serving.py) and Debian's
Chromium driven through Playwright (one browser per session).
Loaded by tests/conftest.py (pytest_plugins), so every browser test file shares one server and one browser.
Screenshots go to test-artifacts/."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import backend, require_peer

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"
KIOSK_TOKEN = "kiosk-test-token-123"
META_APP_SECRET = "live-meta-app-secret"
APP_KEY, OPEN311_KEY = "city-app-key-123", "civic-app-key-456"  # the live server's API clients
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ACCOUNTS = [("admin1", "admin", None), ("op1", "operator", None), ("sup1", "supervisor", None),
            ("dlh1", "agency_officer", "DLH"), ("pupr1", "agency_officer", "PUPR"), ("exec1", "executive", None)]
SERVER = """
import sys
sys.path.insert(0, {root!r})
from app import Services, create_server
from dashboard import serving
from domain.config import Settings
services = Services(Settings.from_env(secret_key="browser-test-secret-0123456789"))
serving.configure_logging()
serving.run(create_server(services), "127.0.0.1", {port}, serving.ServerOptions.from_env())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live(tmp_path_factory, _pg_schema, _sqlite_template, project_root):
    """The app serving a seeded database with a few demo reports and one account per role."""
    require_peer(shutil.which(CHROMIUM) is not None, "Debian's chromium is not installed")
    from app import Services
    from domain.config import DATA_DIR, Settings
    from domain.users import UserService
    from ingest.demo import DemoFeed

    tmp = tmp_path_factory.mktemp("live")
    if _pg_schema:
        # a schema of its own: the other tests empty the shared one (database_url) while this server runs
        url = _pg_schema.replace("search_path%3D", "search_path%3Dlive_")
        _create_pg_schema(url)
    else:
        shutil.copy(_sqlite_template, tmp / "live.db")
        url = f"sqlite:///{tmp / 'live.db'}"
    settings = Settings(database_url=url, data_dir=DATA_DIR, attachments_dir=tmp / "att",
                        secret_key="live-fixture-secret-0123456789")
    services = Services(settings)
    services.init_db()
    users = UserService(services.sessions)
    for name, role, agency in ACCOUNTS:
        users.add(name, PASSWORD, role, agency_code=agency)
    DemoFeed(services.queue, services.workflow, seed=3).backfill(60)
    port = _free_port()
    # One reverse proxy is trusted, so tests can speak from other client addresses (X-Forwarded-For);
    # the Meta channel is on, so its webhook reads bodies (the request-size tests); two API clients.
    env = dict(os.environ, DATABASE_URL=url, KIOSK_TOKEN=KIOSK_TOKEN, ATTACHMENTS_DIR=str(tmp / "att"),
               TRUSTED_PROXIES="1", META_APP_SECRET=META_APP_SECRET,
               INGEST_API_KEYS=f"cityapp:{APP_KEY}:app,civic:{OPEN311_KEY}:open311")
    proc = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(project_root), port=port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "server.log", "wb"))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # the server answering is the state waited for; this bounds a hang
    while True:
        try:
            urllib.request.urlopen(base + "/login", timeout=5)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((tmp / "server.log").read_text())
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the live server did not answer: " + (tmp / "server.log").read_text())
            time.sleep(0.1)
    # This server runs no worker (its jobs would share the tests' database and locks); a thread writes the
    # heartbeat the worker would, so the wall shows its normal state. The banner is tested on its own.
    import threading

    from domain import heartbeat

    stop = threading.Event()

    def beat():
        started = datetime.now(timezone.utc)
        while True:
            heartbeat.beat(services.sessions, datetime.now(timezone.utc), started)
            if stop.wait(heartbeat.BEAT_SECONDS):
                return
    threading.Thread(target=beat, daemon=True).start()
    yield {"base": base, "services": services, "log": tmp / "server.log"}
    stop.set()
    proc.terminate()
    proc.wait(timeout=10)
    services.engine.dispose()
    if _pg_schema:
        _drop_pg_schema(url)


def _schema_of(url: str) -> str:
    return url.rsplit("search_path%3D", 1)[1].split("&", 1)[0]


def _create_pg_schema(url: str) -> None:
    from sqlalchemy import text

    from domain.db import make_engine, migrate
    from tests.conftest import TEST_DATABASE_URL

    admin = make_engine(TEST_DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {_schema_of(url)} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {_schema_of(url)}"))
    admin.dispose()
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()


def _drop_pg_schema(url: str) -> None:
    from sqlalchemy import text

    from domain.db import make_engine
    from tests.conftest import TEST_DATABASE_URL

    admin = make_engine(TEST_DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {_schema_of(url)} CASCADE"))
    admin.dispose()


@pytest.fixture(scope="session")
def browser(live):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


# Every wait is on the application's state (a selector, a text, a value); this bounds a wait that never
# ends, it is never a pause. Long, because a busy CI machine may take seconds where a laptop takes none.
STATE_TIMEOUT_MS = 30_000


def new_context(browser, *, csp: bool = False, **options):
    """A browser context with the state-wait bound. Playwright's `wait_for_function` evaluates its
    predicate with eval, which the app's Content-Security-Policy forbids: contexts bypass the CSP unless
    `csp=True` (the tests that check pages for CSP errors, which wait without eval)."""
    context = browser.new_context(bypass_csp=not csp, **options)
    context.set_default_timeout(STATE_TIMEOUT_MS)
    return context


def settled(page) -> None:
    """Wait until Dash has rendered the page (its start-up "Loading..." is gone) and loaded every script."""
    page.wait_for_load_state("load")
    page.wait_for_selector("._dash-loading", state="detached")


def until(check, what: str, timeout_s: float = STATE_TIMEOUT_MS / 1000):
    """Poll `check()` (the database, a file, a process) until it returns something true; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Page:
    """A logged-in browser tab that records console errors."""

    def __init__(self, browser, base, user=None, *, csp: bool = False, viewport: dict | None = None):
        self.context = new_context(browser, csp=csp, viewport=viewport or {"width": 1920, "height": 1080})
        self.page = self.context.new_page()
        self.base, self.errors = base, []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        if user:
            self.page.goto(base + "/login")
            self.page.fill("#login-username", user)
            self.page.fill("#login-password", PASSWORD)
            self.page.click("#login-submit")
            self.page.wait_for_url(lambda url: "/login" not in url)

    def open(self, path, ready):
        self.page.goto(self.base + path)
        self.page.wait_for_selector(ready)
        return self.page

    def shot(self, name, *, full_page: bool = False):
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}-{backend()}.png"), full_page=full_page)

    def callback(self, payload: dict):
        token = next(c["value"] for c in self.context.cookies() if c["name"] == "_csrf_token")
        return self.page.request.post(self.base + "/_dash-update-component", data=json.dumps(payload),
                                      headers={"Content-Type": "application/json", "X-CSRFToken": token})

    def close(self):
        self.context.close()


def _submit(services, text, **extra):
    from domain.intake import IncomingReport

    data = {"channel": "web", "external_id": f"e2e-{time.time_ns()}", "text": text,
            "received_at": datetime.now(timezone.utc).isoformat(), **extra}
    return services.queue.submit(IncomingReport.from_dict(data)).report
