"""`python app.py serve` (the embedded default, and so `make run`) runs the web app under waitress with the
scheduler in the same process: no development-server warning, an access log without secrets, and a
graceful stop on SIGTERM and on Ctrl-C (SIGINT) that shuts the scheduler down. Its own server on a temp
SQLite database: this test is about the server."""
from __future__ import annotations

import signal
import sys

import pytest
import requests

from tests.test_web_server import ROOT, _env, _free_port, _start


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_serve_is_a_production_server_that_stops_gracefully(tmp_path, stop):
    env = _env(tmp_path, SECRET_KEY="serve-test-key-" + "x" * 40, WEB_THREADS="8")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    proc = _start([sys.executable, "app.py", "serve", "--no-demo", "--port", str(port)], env, port, log_path)
    try:
        assert requests.get(f"{base}/lacak/TLR-2026-000001?kode=the-secret-code-123", timeout=10).status_code == 200
        assert requests.get(f"{base}/public", timeout=10).headers["Server"] == "tlr"
    finally:
        proc.send_signal(stop)
        code = proc.wait(timeout=60)
    log = log_path.read_text()
    assert code == 0, log
    assert "development server" not in log.lower() and "Traceback" not in log, log
    assert "(waitress, 8 threads, up to 500 connections)" in log
    assert '"GET /lacak/TLR-2026-000001?kode=[redacted] HTTP/1.1" 200' in log and "the-secret-code" not in log
    # the web server stops first, then the scheduler: the active worker releases its lock and says so
    assert log.index("web server stopped") < log.index(" stopped", log.index("web server stopped") + 1)
    assert "worker" in log.splitlines()[-1] and log.splitlines()[-1].endswith("stopped"), log


def test_bad_server_settings_are_refused_with_one_line(tmp_path):
    import subprocess

    env = _env(tmp_path, SECRET_KEY="serve-test-key-" + "x" * 40, WEB_THREADS="many")
    out = subprocess.run([sys.executable, "app.py", "serve", "--no-demo", "--port", str(_free_port())], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert out.stderr.strip() == "error: environment variable WEB_THREADS must be an integer, got 'many'"
