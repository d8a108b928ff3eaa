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


SLOW_SERVER = """
import sys
sys.path.insert(0, {root!r})
from dashboard import serving

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

serving.configure_logging()
serving.run(app, "127.0.0.1", {port}, serving.ServerOptions.from_env())
"""


def _closed_by_server(sock, deadline: float) -> bool:
    """Whether the server closes `sock` before `deadline` (monotonic), while we keep dribbling bytes."""
    import time

    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            sock.sendall(b"a")
            if sock.recv(1024) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset or broken pipe: closed
            return True
    return False


def test_slow_and_idle_clients_are_cut_off_and_never_stop_the_others(tmp_path):
    """Ten clients dribble request headers a byte at a time (more than WEB_THREADS) and one says nothing:
    others are served at once all along; the dribblers are closed WEB_HEADER_TIMEOUT after their first
    byte, the silent one after WEB_CHANNEL_TIMEOUT."""
    import socket
    import subprocess
    import time

    port = _free_port()
    env = _env(tmp_path, WEB_THREADS="2", WEB_HEADER_TIMEOUT="3", WEB_CHANNEL_TIMEOUT="4", WEB_CLEANUP_INTERVAL="1")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SERVER.format(root=str(ROOT), port=port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "slow.log", "wb"))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "slow.log").read_text()
                time.sleep(0.1)
        started = time.monotonic()
        dribblers = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
        silent = socket.create_connection(("127.0.0.1", port))
        for sock in dribblers:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        served = []
        while time.monotonic() - started < 2.5:  # while they dribble, everybody else is served
            for sock in dribblers:
                sock.sendall(b"a")
            t0 = time.monotonic()
            assert requests.get(f"http://127.0.0.1:{port}/", timeout=2).text == "ok"
            served.append(time.monotonic() - t0)
            time.sleep(0.2)
        assert len(served) >= 5 and max(served) < 1.0, served
        assert all(_closed_by_server(sock, started + 3 + 3) for sock in dribblers)
        assert time.monotonic() - started >= 3  # not before their deadline
        silent.settimeout(10)
        assert silent.recv(1024) == b"" and time.monotonic() - started < 4 + 1 + 3
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=2).text == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "request headers still incomplete after 3s" in (tmp_path / "slow.log").read_text()
