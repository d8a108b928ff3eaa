"""The web tier as it is started: `python app.py init-db` then `serve`, and `gunicorn app:server`.

These tests start their own servers (they are about the servers: the session key they sign with, what
they refuse to start without, what their access logs hold, their headers under https). The servers use
a SQLite file in a temporary folder whatever the backend, because the embedded default keeps its
generated key beside the SQLite database.
"""
from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from hypothesis import given, settings, strategies as st

from domain.config import DATA_DIR, Settings
from domain.session_key import NoSessionKey, ensure_key_file, key_file, load

OLD_BUILT_IN_KEY = "dev-only-secret-change-me"
ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a long admin password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(folder: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SECRET_KEY_FILE", "PUBLIC_BASE_URL",
                                                            "KIOSK_TOKEN", "TRUSTED_PROXIES", "DATABASE_URL")}
    env.update(DATABASE_URL=f"sqlite:///{folder / 'tlr.db'}", ATTACHMENTS_DIR=str(folder / "att"), **extra)
    return env


def _start(cmd: list[str], env: dict, port: int, log: Path) -> subprocess.Popen:
    from tests.browser_support import until

    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        until(lambda: _answers(port) or proc.poll() is not None, "the server to answer", 120)
    except AssertionError:
        proc.kill()
        raise
    if proc.poll() is not None:
        raise RuntimeError(log.read_text())
    return proc


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5)
        return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _forged_session(key: str, user_id: int) -> str:
    """A Flask session cookie for `user_id`, signed with `key`, as an outsider who knows the key makes it."""
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    app = Flask("forger")
    app.secret_key = key
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    return serializer.dumps({"_user_id": str(user_id), "_fresh": True, "sv": 0, "last_active": time.time(),
                             "_permanent": True})


def _login(base: str, username: str, password: str, **headers) -> requests.Session:
    client = requests.Session()
    client.get(f"{base}/login", timeout=10)
    answer = client.post(f"{base}/login", data={"username": username, "password": password,
                                                 "csrf_token": _csrf_from_page(client, base)},
                         headers=headers, allow_redirects=False, timeout=10)
    client.last_status = answer.status_code
    return client


def _csrf_from_page(client: requests.Session, base: str) -> str:
    html = client.get(f"{base}/login", timeout=10).text
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_web_tier_never_signs_with_a_built_in_key(tmp_path):
    """Without SECRET_KEY: serve and gunicorn refuse to start with one line; init-db creates a random key
    file only the app user can read; a session signed with the old built-in key opens nothing; a server
    restarted with another key and another KIOSK_TOKEN ends the old kiosks; gunicorn's access log holds no
    token; under https the cookies are Secure and HSTS is sent."""
    from app import Services
    from domain.users import UserService

    env = _env(tmp_path, KIOSK_TOKEN="first-kiosk-token-abc")
    # 1. no key anywhere: neither server starts, each says why in one line
    refused = subprocess.run([sys.executable, "app.py", "serve", "--no-demo"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode != 0 and len(lines) == 1, refused.stderr
    assert lines[0].startswith("error: no session key: set SECRET_KEY, or run `python app.py init-db`")
    gunicorn = [sys.executable, "-m", "gunicorn", "-w", "1", "--graceful-timeout", "2"]
    refused = subprocess.run([*gunicorn, "-b", f"127.0.0.1:{_free_port()}", "app:server"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert refused.stderr.count("error: no session key: set SECRET_KEY") == 1, refused.stderr
    assert "Traceback" not in refused.stderr

    # 2. init-db creates the key: random, mode 0600, beside the database, not in the repository
    done = subprocess.run([sys.executable, "app.py", "init-db"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    secret = tmp_path / "secret_key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    key = secret.read_text().strip()
    assert len(key) >= 48 and key != OLD_BUILT_IN_KEY and not secret.resolve().is_relative_to(ROOT)
    services = Services(Settings(database_url=env["DATABASE_URL"], data_dir=DATA_DIR))
    admin = UserService(services.sessions).add("admin", PASSWORD, "admin")
    services.engine.dispose()

    # 3. the embedded default serves with that key: the old built-in key opens nothing
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start([sys.executable, "app.py", "serve", "--no-demo", "--port", str(port)], env, port,
                  tmp_path / "serve.log")
    try:
        forged = requests.get(f"{base}/operator", cookies={"session": _forged_session(OLD_BUILT_IN_KEY, admin.id)},
                              allow_redirects=False, timeout=10)
        assert forged.status_code == 302 and forged.headers["Location"].startswith("/login")
        same_cookie_right_key = requests.get(f"{base}/operator", allow_redirects=False, timeout=10,
                                             cookies={"session": _forged_session(key, admin.id)})
        assert same_cookie_right_key.status_code == 200  # the check above refused the key, not the cookie
        real = _login(base, "admin", PASSWORD, **{"X-Forwarded-For": "198.51.100.9"})
        assert real.last_status == 302 and real.get(f"{base}/operator", timeout=10).status_code == 200
        kiosk = requests.get(f"{base}/wall?kiosk=first-kiosk-token-abc", allow_redirects=False, timeout=10)
        assert kiosk.status_code == 303 and kiosk.headers["Location"] == "/wall"
        kiosk_cookie = kiosk.cookies["tlr_kiosk"]
        assert requests.get(f"{base}/wall", cookies={"tlr_kiosk": kiosk_cookie}, allow_redirects=False,
                            timeout=10).status_code == 200
    finally:
        _stop(proc)
    log = (tmp_path / "serve.log").read_text()
    assert "first-kiosk-token-abc" not in log and "kiosk=[redacted]" in log
    with services.sessions() as s:
        from sqlalchemy import select

        from domain.models import Event
        sources = {e.after["source"] for e in s.scalars(select(Event).where(Event.type == "login"))}
    services.engine.dispose()
    assert sources == {"127.0.0.1"}  # no TRUSTED_PROXIES: a client cannot pick its address

    # 4. gunicorn in production: SECRET_KEY, https, another kiosk token
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(tmp_path, SECRET_KEY="production-key-" + "x" * 40, PUBLIC_BASE_URL="https://tlr.example.go.id",
               KIOSK_TOKEN="second-kiosk-token-xyz")
    proc = _start([*gunicorn, "-b", f"127.0.0.1:{port}", "--access-logfile", "-", "app:server"], env, port,
                  tmp_path / "gunicorn.log")
    try:
        old_kiosk = requests.get(f"{base}/wall", cookies={"tlr_kiosk": kiosk_cookie}, allow_redirects=False, timeout=10)
        assert old_kiosk.status_code == 302 and old_kiosk.headers["Location"].startswith("/login")
        enrol = requests.get(f"{base}/wall?kiosk=second-kiosk-token-xyz", allow_redirects=False, timeout=10)
        assert enrol.status_code == 303 and enrol.headers["Location"] == "/wall"
        cookie = enrol.headers["Set-Cookie"]
        assert "tlr_kiosk=" in cookie and "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        requests.get(f"{base}/api/v1/reports/TLR-2026-000001?api_key=client-key-123456", timeout=10)
        page = requests.get(f"{base}/login", timeout=10)
        assert page.headers["Strict-Transport-Security"].startswith("max-age=")
        cookies = page.headers["Set-Cookie"]
        assert re.search(r"_csrf_token=[^,]*Secure", cookies) and re.search(r"session=[^,]*Secure", cookies)
    finally:
        _stop(proc)
    log = (tmp_path / "gunicorn.log").read_text()
    assert "GET /wall?kiosk=[redacted]" in log and "api_key=[redacted]" in log
    assert "second-kiosk-token-xyz" not in log and "client-key-123456" not in log


def test_the_key_file_must_be_private_and_a_short_key_is_refused(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", data_dir=DATA_DIR)
    with pytest.raises(NoSessionKey, match="no session key"):
        load(settings)
    path = ensure_key_file(settings)
    assert path == key_file(settings) == tmp_path / "secret_key" and ensure_key_file(settings) == path
    first = load(settings)
    assert load(settings) == first  # idempotent: the key survives restarts
    path.chmod(0o644)
    with pytest.raises(NoSessionKey, match="readable by others"):
        load(settings)
    with pytest.raises(NoSessionKey, match="too short"):
        load(Settings(database_url=settings.database_url, secret_key="short"))
    assert load(Settings(database_url=settings.database_url, secret_key="k" * 40)) == "k" * 40
    assert ensure_key_file(Settings(secret_key="k" * 40)) is None  # production: no file at all


def test_access_log_lines_lose_every_secret_parameter():
    import logging

    from dashboard.access_log import RedactSecrets

    atoms = {"r": "GET /wall?kiosk=abc&lang=id HTTP/1.1", "q": "kiosk=abc&lang=id", "U": "/wall",
             "f": "https://x/webhooks/meta?hub.mode=subscribe&hub.verify_token=v3r1fy&hub.challenge=1"}
    record = logging.LogRecord("gunicorn.access", logging.INFO, "", 0, "%(r)s %(q)s %(f)s", (), None)
    record.args = atoms
    RedactSecrets().filter(record)
    line = record.getMessage()
    assert "abc" not in line and "v3r1fy" not in line and "lang=id" in line and "hub.challenge=1" in line
    record = logging.LogRecord("werkzeug", logging.INFO, "", 0, '"%s" %s %s',
                               ("GET /api/v1/reports/T?api_key=k3y&x=1 HTTP/1.1", "200", "-"), None)
    RedactSecrets().filter(record)
    assert "k3y" not in record.getMessage() and "x=1" in record.getMessage()


SECRET_PARAMETERS = ["kiosk", "api_key", "apikey", "kode", "token", "access_token", "password", "hub.verify_token"]


@st.composite
def _encoded_name(draw) -> str:
    """A secret parameter's name in any case, any of its characters percent-encoded once or twice."""
    out = []
    for ch in draw(st.sampled_from(SECRET_PARAMETERS)):
        ch = ch.upper() if draw(st.booleans()) else ch
        how = draw(st.sampled_from(["plain", "plain", "once", "twice"]))
        out.append(ch if how == "plain" else ("%" if how == "once" else "%25") + f"{ord(ch):02X}")
    return "".join(out)


@settings(max_examples=200, deadline=None)
@given(_encoded_name(), st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=12, max_size=30),
       st.sampled_from(["plain", "once", "twice"]), st.sampled_from(["=", "%3D", "%3d"]), st.booleans())
def test_access_log_redacts_secret_parameters_however_they_are_encoded(name, secret, nesting, equals, first):
    """api%5Fkey=, %6Biosk=, KIOSK%3D..., and a secret inside an encoded next= URL (once or twice
    encoded): the value never reaches the log, the harmless parameters do."""
    from dashboard.access_log import redact

    inner = f"{name}{equals}{secret}" if first else f"lang=id&{name}{equals}{secret}"
    if nesting == "plain":
        target = f"/wall?{inner}&page=2"
    else:
        url = quote(f"/wall?{inner}", safe="%" if nesting == "once" else "")
        target = f"/login?next={url if nesting == 'once' else quote(url, safe='')}&page=2"
    line = redact(f'127.0.0.1 - - "GET {target} HTTP/1.1" 200')
    assert secret not in line, line
    assert "page=2" in line and "[redacted]" in line
