"""Sessions, login and request limits over real HTTP against the shared live server (tests/browser_support.py).

The live server trusts one proxy (TRUSTED_PROXIES=1), so a test speaks from another client address with
X-Forwarded-For; each test uses addresses of its own, so their throttles never meet.
"""
from __future__ import annotations

import json
import select
import socket
from urllib.parse import urlparse

import pytest
import requests
from sqlalchemy import func, select as sql_select

from domain.models import Event, LoginThrottle, User
from domain.users import UserService
from tests.browser_support import KIOSK_TOKEN, PASSWORD


def _csrf(client: requests.Session, base: str, path: str = "/login") -> str:
    client.get(base + path, timeout=10)
    return client.cookies["_csrf_token"]


def _login(base: str, username: str, password: str = PASSWORD, address: str = "192.0.2.1"):
    client = requests.Session()
    token = _csrf(client, base)
    answer = client.post(base + "/login", data={"username": username, "password": password, "csrf_token": token},
                         headers={"X-Forwarded-For": address}, allow_redirects=False, timeout=10)
    return client, answer


def _copy(client: requests.Session) -> requests.Session:
    other = requests.Session()
    other.cookies.update(client.cookies)
    return other


def _opens(client, base, path) -> bool:
    answer = client.get(base + path, allow_redirects=False, timeout=10)
    assert answer.status_code in (200, 302), answer.status_code
    return answer.status_code == 200


def _rows(services) -> tuple[int, int, int]:
    with services.sessions() as s:
        return (s.scalar(sql_select(func.count()).select_from(Event)),
                s.scalar(sql_select(func.count()).select_from(User)),
                s.scalar(sql_select(func.count()).select_from(LoginThrottle)))


# ---------------------------------------------------------------- revocable sessions
@pytest.mark.parametrize("change", ["logout", "disable", "password", "role"])
def test_a_cookie_copied_before_the_change_no_longer_opens_a_role_page(live, change):
    base, services = live["base"], live["services"]
    users = UserService(services.sessions)
    name = f"rev-{change}"
    users.add(name, PASSWORD, "supervisor")
    client, answer = _login(base, name)
    assert answer.status_code == 302
    copied = _copy(client)
    assert _opens(copied, base, "/operator") and _opens(copied, base, "/supervisor")
    if change == "logout":
        client.post(base + "/logout", data={"csrf_token": client.cookies["_csrf_token"]}, timeout=10)
    elif change == "disable":
        users.set_active(name, False)
    elif change == "password":
        users.set_password(name, "a brand new password")
    else:
        users.set_role(name, "operator")  # /operator stays allowed to the new role: the session itself ended
    assert not _opens(copied, base, "/operator")
    assert not _opens(client, base, "/operator")
    if change != "disable":  # a new login works at once
        password = "a brand new password" if change == "password" else PASSWORD
        fresh, answer = _login(base, name, password)
        assert answer.status_code == 302 and _opens(fresh, base, "/operator")
    with services.sessions() as s:
        kinds = {e.type for e in s.scalars(sql_select(Event).where(Event.actor == name))}
    assert {"logout": "logout", "disable": "user_disabled", "password": "password_changed",
            "role": "user_role_changed"}[change] in kinds


# ---------------------------------------------------------------- kiosk
def test_the_kiosk_token_is_taken_once_then_the_url_is_clean_and_the_log_never_holds_it(live):
    base = live["base"]
    enrol = requests.get(f"{base}/wall?kiosk={KIOSK_TOKEN}&lang=id", allow_redirects=False, timeout=10)
    assert enrol.status_code == 303 and enrol.headers["Location"] == "/wall?lang=id"
    assert KIOSK_TOKEN not in enrol.headers["Set-Cookie"] and "HttpOnly" in enrol.headers["Set-Cookie"]
    wall = requests.Session()
    wall.cookies.set("tlr_kiosk", enrol.cookies["tlr_kiosk"], domain=urlparse(base).hostname)
    assert _opens(wall, base, "/wall")  # the cookie alone, no session
    assert requests.get(f"{base}/wall", cookies={"tlr_kiosk": "0" * 64}, allow_redirects=False,
                        timeout=10).status_code == 302
    requests.get(f"{base}/api/v1/reports/TLR-2026-000001?api_key=live-secret-api-key", timeout=10)
    log = live["log"].read_text(errors="replace")
    assert "kiosk=[redacted]" in log and KIOSK_TOKEN not in log and "live-secret-api-key" not in log


def test_guessing_the_kiosk_token_is_throttled_per_address(live):
    """Ten wrong tokens a minute from one address (KIOSK_RATE_LIMIT), then 429 even for the right one;
    another address still sets its screen up."""
    base = live["base"]
    guesser = {"X-Forwarded-For": "192.0.2.150"}
    answers = [requests.get(f"{base}/wall?kiosk=guess-{n}", headers=guesser, allow_redirects=False, timeout=10)
               .status_code for n in range(11)]
    assert answers[:10] == [403] * 10 and answers[10] == 429, answers
    right = requests.get(f"{base}/wall?kiosk={KIOSK_TOKEN}", headers=guesser, allow_redirects=False, timeout=10)
    assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1
    screen = requests.get(f"{base}/wall?kiosk={KIOSK_TOKEN}", headers={"X-Forwarded-For": "192.0.2.151"},
                          allow_redirects=False, timeout=10)
    assert screen.status_code == 303


def test_guessing_the_kiosk_cookie_is_throttled_as_well(live):
    """The cookie is an HMAC of the token: computing it for each guess must not bypass the limit."""
    from dashboard.kiosk import fingerprint

    base, guesser = live["base"], {"X-Forwarded-For": "192.0.2.160"}
    for n in range(10):
        wrong = requests.get(f"{base}/wall", cookies={"tlr_kiosk": fingerprint(f"guess-{n}-0123456789abcdef")},
                             headers=guesser, allow_redirects=False, timeout=10)
        assert wrong.status_code == 302  # to the login page
    right = fingerprint(KIOSK_TOKEN)
    refused = requests.get(f"{base}/wall", cookies={"tlr_kiosk": right}, headers=guesser, allow_redirects=False,
                           timeout=10)
    assert refused.status_code == 302, "the right cookie must not open the wall while this address is blocked"
    screen = requests.get(f"{base}/wall", cookies={"tlr_kiosk": right}, headers={"X-Forwarded-For": "192.0.2.161"},
                          allow_redirects=False, timeout=10)
    assert screen.status_code == 200


def test_a_short_kiosk_token_turns_the_kiosk_off(monkeypatch):
    from dashboard import kiosk

    monkeypatch.setenv("KIOSK_TOKEN", "short-token")
    assert kiosk._token() == ""
    monkeypatch.setenv("KIOSK_TOKEN", "a-long-random-kiosk-token")
    assert kiosk._token() == "a-long-random-kiosk-token"


# ---------------------------------------------------------------- headers
def test_pages_carry_a_strict_content_security_policy(live):
    answer = requests.get(live["base"] + "/public", timeout=10)
    policy = dict(part.strip().split(" ", 1) for part in answer.headers["Content-Security-Policy"].split(";"))
    scripts = policy["script-src"].split()
    assert scripts[0] == "'self'" and all(s.startswith("'sha256-") for s in scripts[1:]) and len(scripts) > 1
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'self'" and policy["form-action"] == "'self'"
    assert answer.headers["X-Frame-Options"] == "DENY" and answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in answer.headers  # plain http here; https: tests/test_web_server.py


def test_every_answer_to_a_signed_in_user_or_an_api_client_is_no_store(live):
    """Pages, Dash's layout and callbacks, media, exports and the API: never kept by a cache. The
    public assets (the same for everyone) stay cacheable."""
    from tests.browser_support import APP_KEY, OPEN311_KEY

    base = live["base"]
    client, answer = _login(base, "sup1", address="192.0.2.90")
    assert answer.status_code == 302
    router = {"output": ".._pages_content.children..._pages_store.data..",
              "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
              "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/supervisor"},
                         {"id": "_pages_location", "property": "search", "value": ""}],
              "changedPropIds": ["_pages_location.pathname"], "state": []}
    answers = {
        "page": client.get(base + "/supervisor", timeout=10),
        "layout": client.get(base + "/_dash-layout", timeout=10),
        "dependencies": client.get(base + "/_dash-dependencies", timeout=10),
        "callback": client.post(base + "/_dash-update-component", json=router, timeout=30,
                                headers={"X-CSRFToken": client.cookies["_csrf_token"]}),
        "a missing media file": client.get(base + "/media/999999", timeout=10),
        "api": requests.get(base + "/api/v1/reports/TLR-2026-000001", headers={"X-API-Key": APP_KEY}, timeout=10),
        "open311": requests.get(base + "/open311/v2/requests.json", params={"api_key": OPEN311_KEY}, timeout=10),
        "a refused api key": requests.get(base + "/api/v1/reports/TLR-2026-000001", timeout=10,
                                          headers={"Authorization": "Bearer wrong"}),
    }
    for name, response in answers.items():
        assert response.headers.get("Cache-Control") == "no-store", (name, response.status_code, response.headers)
    assert answers["page"].status_code == answers["callback"].status_code == 200
    asset = client.get(base + "/assets/app.css", timeout=10)
    assert asset.status_code == 200 and asset.headers.get("Cache-Control") != "no-store"


# ---------------------------------------------------------------- login throttling
def test_an_attacker_cannot_lock_a_real_operator_out(live):
    """Five wrong passwords from one address lock the account for that address only. Failures from many
    addresses (a botnet) past the account-wide limit only slow: each failed address gets no second guess,
    but an address that has not failed, familiar or new, still logs in with the right password."""
    from domain.users import ACCOUNT_SLOW_AFTER, LOCK_AFTER

    base, services = live["base"], live["services"]
    UserService(services.sessions).add("thr-target", PASSWORD, "operator")
    home = "198.51.100.20"  # the control room
    assert _login(base, "thr-target", address=home)[1].status_code == 302
    attacker = "203.0.113.66"
    for _ in range(LOCK_AFTER):
        assert _login(base, "thr-target", "guess-guess-guess", attacker)[1].status_code == 401
    assert _login(base, "thr-target", address=attacker)[1].status_code == 401  # locked for the attacker
    assert _login(base, "thr-target", address=home)[1].status_code == 302  # not for the operator
    assert _login(base, "thr-target", "guess-guess-guess", "203.0.114.250")[1].status_code == 401
    assert _login(base, "thr-target", address="203.0.114.250")[1].status_code == 302  # not slowed yet
    for n in range(ACCOUNT_SLOW_AFTER):  # a botnet: one try from each of many addresses
        assert _login(base, "thr-target", "guess-guess-guess", f"203.0.114.{n + 1}")[1].status_code == 401
    assert _login(base, "thr-target", address="203.0.114.1")[1].status_code == 401  # a failed address: slowed
    assert _login(base, "thr-target", address="203.0.115.1")[1].status_code == 302  # a new laptop: logs in
    assert _login(base, "thr-target", address=home)[1].status_code == 302  # the control room goes on
    with services.sessions() as s:
        events = list(s.scalars(sql_select(Event).where(Event.type == "login_failed", Event.actor == "thr-target")))
    assert sum(1 for e in events if e.after.get("locked_until")) == 1
    assert sum(1 for e in events if e.after.get("slowed_until")) == 1
    assert {e.after["source"] for e in events if e.reason == "slowed"} == {"203.0.114.1"}
    assert {e.after["source"] for e in events if e.reason == "locked"} == {attacker}
    assert home not in {e.after["source"] for e in events} and "203.0.115.1" not in {e.after["source"] for e in events}


def test_one_address_is_throttled_across_accounts_and_others_still_log_in(live):
    base = live["base"]
    address = "203.0.113.99"
    statuses = [_login(base, f"nobody{n}", "guess-guess-guess", address)[1].status_code for n in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    client, answer = _login(base, "op1", PASSWORD, address)  # even the right password waits
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
    assert "Terlalu banyak percobaan" in answer.text
    assert _login(base, "op1", PASSWORD, "198.51.100.77")[1].status_code == 302


# ---------------------------------------------------------------- hostile input at the login entry point
HOSTILE = [
    ("no password", {"username": "op1"}, None),
    ("no fields", {}, None),
    ("username too long", {"username": "a" * 65, "password": PASSWORD}, None),
    ("password too long", {"username": "op1", "password": "p" * 1025}, None),
    ("NUL in username", {"username": "op1\x00", "password": PASSWORD}, None),
    ("CR LF in username", {"username": "op1\r\nSet-Cookie: x=1", "password": PASSWORD}, None),
    ("not UTF-8", None, b"username=%FF%FEop1&password=correct+horse+battery"),
    ("raw bytes", None, b"username=\xc3\x28\xa0\xa1&password=\xff\xfe"),
    ("JSON body", None, json.dumps({"username": "op1", "password": PASSWORD}).encode()),
    ("array fields", None, b"username[]=op1&password[]=x"),
]


@pytest.mark.parametrize("case,form,raw", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_login_input_gets_a_clear_error_and_writes_nothing(live, case, form, raw):
    base, services = live["base"], live["services"]
    client = requests.Session()
    token = _csrf(client, base)
    before = _rows(services)
    headers = {"X-Forwarded-For": f"192.0.2.{100 + [h[0] for h in HOSTILE].index(case)}"}
    if raw is not None:
        content_type = "application/json" if case == "JSON body" else "application/x-www-form-urlencoded"
        body = raw if case == "JSON body" else raw + b"&csrf_token=" + token.encode()
        headers.update({"Content-Type": content_type, "X-CSRFToken": token})
        answer = client.post(base + "/login", data=body, headers=headers, allow_redirects=False, timeout=10)
    else:
        answer = client.post(base + "/login", data={**form, "csrf_token": token}, headers=headers,
                             allow_redirects=False, timeout=10)
    assert answer.status_code == 400, (case, answer.status_code)
    assert 'id="login-error"' in answer.text and "Isian tidak valid" in answer.text
    assert _rows(services) == before


def test_login_without_or_with_a_replayed_csrf_token_is_refused_and_writes_nothing(live):
    base, services = live["base"], live["services"]
    stolen = _csrf(requests.Session(), base)  # a token of another visitor's session
    client = requests.Session()
    _csrf(client, base)
    before = _rows(services)
    for data in ({"username": "op1", "password": PASSWORD},
                 {"username": "op1", "password": PASSWORD, "csrf_token": stolen},
                 {"username": "op1", "password": PASSWORD, "csrf_token": "garbage"}):
        answer = client.post(base + "/login", data=data, allow_redirects=False, timeout=10,
                             headers={"X-Forwarded-For": "192.0.2.200"})
        assert answer.status_code == 400 and "Formulir kedaluwarsa" in answer.text
    assert _rows(services) == before


# ---------------------------------------------------------------- request size, chunked bodies included
def _post(base: str, path: str, size: int, *, chunked: bool, headers: dict | None = None) -> int:
    """POST `size` bytes over a raw socket, chunked or with Content-Length, reading the answer as soon as
    the server gives one (a server that cuts the body answers before it was all sent)."""
    parsed = urlparse(base)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=30)
    lines = [f"POST {path} HTTP/1.1", f"Host: {parsed.netloc}", "Content-Type: application/json",
             *(f"{k}: {v}" for k, v in (headers or {}).items()),
             "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"]
    piece = b"x" * 65536
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sent = 0
        while sent < size and not select.select([sock], [], [], 0)[0]:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        if sent >= size and chunked:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            more = sock.recv(4096)
            if not more:
                break
            data += more
    finally:
        sock.close()
    status = int(data.split(b" ", 2)[1])
    _post.last = data
    return status


def _cookie_header(client: requests.Session) -> dict:
    token = client.cookies["_csrf_token"]
    return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in client.cookies), "X-CSRFToken": token}


def test_request_bodies_are_capped_on_every_route_chunked_or_not(live):
    from dashboard.limits import SMALL_CALLBACK_BYTES

    base = live["base"]
    visitor = requests.Session()
    _csrf(visitor, base, "/public")
    anonymous = _cookie_header(visitor)
    callback = "/_dash-update-component"
    assert _post(base, callback, 30_000_000, chunked=False, headers=anonymous) == 413  # the reviewer's 30 MB
    assert _post(base, callback, 4 * SMALL_CALLBACK_BYTES, chunked=True, headers=anonymous) == 413, _post.last
    operator, answer = _login(base, "op1")
    assert answer.status_code == 302
    _csrf(operator, base, "/operator")
    assert _post(base, callback, 20_000_000, chunked=True, headers=_cookie_header(operator)) == 413
    assert _post(base, "/webhooks/meta", 6_000_000, chunked=True, headers={"X-Hub-Signature-256": "sha256=0"}) == 413
    assert _post(base, "/login", 100_000, chunked=True) == 413
    # below the caps the same routes answer as usual
    assert _post(base, "/webhooks/meta", 1000, chunked=True, headers={"X-Hub-Signature-256": "sha256=0"}) == 403
