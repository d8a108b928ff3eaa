"""Soak: a kiosk wall in Chromium keeps updating past the session lifetime and across a server restart.

The test starts its own server (`python app.py serve`, the embedded default with its scheduler) because it
is about the server: a 6-second session lifetime, a banner after 3 seconds without data, then the server is
stopped and started again with another SECRET_KEY (every session and CSRF token of the first one is void).
The wall must say it is reconnecting while the server is down and come back by itself. Chromium runs under
the app's Content-Security-Policy (no bypass), and the waits poll the page's state from Python.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

from tests.browser_support import new_context, until

TOKEN = "soak-kiosk-token-456"
LIFETIME_S = 6


def _serve(root, env, port, log):
    proc = subprocess.Popen([sys.executable, "app.py", "serve", "--no-demo", "--port", str(port)], cwd=root,
                            env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"))
    until(lambda: _answers(port) or proc.poll() is not None, "the server to start", 120)
    assert proc.poll() is None, log.read_text()
    return proc


def _answers(port) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5)
        return True
    except OSError:
        return False


def _submit(services, n):
    from domain.intake import IncomingReport

    services.queue.submit(IncomingReport.from_dict({
        "channel": "web", "external_id": f"soak-{n}-{time.time_ns()}", "text": f"lampu jalan padam nomor {n}",
        "received_at": datetime.now(timezone.utc).isoformat(), "category": "STREETLIGHT"}))


def _kpi(page):
    text = page.inner_text("#kpi-open").strip().replace(".", "")
    return int(text) if text.isdigit() else None


def _keeps_updating(page, services, seconds, counter):
    """Submit a report now and then for `seconds`; each must reach the wall's open count."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        until(lambda: _kpi(page) is not None, "the open count")
        before = _kpi(page)
        counter[0] += 1
        _submit(services, counter[0])
        until(lambda: (_kpi(page) or 0) > before, f"report {counter[0]} on the wall")


def test_the_kiosk_wall_keeps_updating_past_the_session_lifetime_and_across_a_restart(
        browser, database_url, tmp_path, project_root):
    from app import Services
    from domain.config import DATA_DIR, Settings
    from tests.browser_support import _free_port

    services = Services(Settings(database_url=database_url, data_dir=DATA_DIR, attachments_dir=tmp_path / "att"))
    services.init_db()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("TRUSTED_PROXIES", "PUBLIC_BASE_URL")}
    env.update(DATABASE_URL=services.settings.database_url, ATTACHMENTS_DIR=str(tmp_path / "att"), KIOSK_TOKEN=TOKEN,
               SESSION_TIMEOUT_MINUTES=str(LIFETIME_S / 60), WALL_STALE_SECONDS="3")
    log = tmp_path / "server.log"
    proc = _serve(project_root, {**env, "SECRET_KEY": "first-soak-secret-key-0123456789"}, port, log)
    context = new_context(browser, csp=True, viewport={"width": 1920, "height": 1080})
    errors = []
    counter = [0]
    try:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"http://127.0.0.1:{port}/wall?kiosk={TOKEN}")
        assert "kiosk" not in page.url  # accepted once, then a clean URL
        until(lambda: _kpi(page) is not None, "the wall's first data")
        _keeps_updating(page, services, LIFETIME_S + 2, counter)  # past the session lifetime

        proc.terminate()
        proc.wait(timeout=10)
        until(lambda: "hidden" not in page.get_attribute("#wall-stale", "class"), "the stale banner")
        banner = page.inner_text("#wall-stale")
        assert "menyambung kembali" in banner and "sejak" in banner
        shown = _kpi(page)
        counter[0] += 1
        _submit(services, counter[0])  # while the server is down
        time.sleep(LIFETIME_S - 3)  # down for longer than a session lives (the banner took 3 s)

        proc = _serve(project_root, {**env, "SECRET_KEY": "second-soak-secret-key-9876543210"}, port, log)
        until(lambda: (_kpi(page) or 0) > shown, "the wall to come back with the report sent while it was down")
        until(lambda: "hidden" in page.get_attribute("#wall-stale", "class"), "the banner to go")
        _keeps_updating(page, services, LIFETIME_S + 2, counter)  # past the lifetime again
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()
        proc.terminate()
        proc.wait(timeout=10)
        services.engine.dispose()
