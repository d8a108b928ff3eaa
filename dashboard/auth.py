"""Who may see what: Flask-Login sessions, roles per page and per callback, CSRF, idle timeout, kiosk.

Sessions are signed cookies, revocable all the same: each carries the account's session version
(users.session_version), checked on every request; logout, disabling, a new password or a new role
bump it. The kiosk is recognised by its own cookie (dashboard/kiosk.py), not by a session.

Every page layout calls `page_denied(page)` and every callback is wrapped in `@guard(page)`: hiding a
link is not security. The role table `PAGE_ROLES` is the one place to read who may use which page.
"""
from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlparse

from flask import Response, abort, g, has_request_context, redirect, render_template_string, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms.validators import ValidationError as CsrfInvalid

from dashboard import context, kiosk, limits
from ingest import json_input
from domain.actors import Actor
from domain.lifecycle import ValidationError
from domain.users import UserService

log = logging.getLogger("dashboard.auth")

PAGE_ROLES: dict[str, frozenset[str]] = {
    "home": frozenset({"admin", "operator", "supervisor", "agency_officer", "executive"}),
    "wall": frozenset({"admin", "operator", "supervisor", "executive", "kiosk"}),
    "operator": frozenset({"admin", "operator", "supervisor"}),
    "agency": frozenset({"admin", "supervisor", "agency_officer"}),
    "supervisor": frozenset({"admin", "supervisor"}),
    "executive": frozenset({"admin", "supervisor", "executive"}),
    "ops": frozenset({"admin", "operator", "supervisor"}),
    "public": None,  # everyone, no login
    "lacak": None,  # the citizen's tracking page: everyone with the link (its code is checked per report)
}
PAGE_PATHS = {"/": "home", "/wall": "wall", "/operator": "operator", "/agency": "agency",
              "/supervisor": "supervisor", "/executive": "executive", "/ops": "ops"}
HOME_OF_ROLE = {"admin": "/operator", "operator": "/operator", "supervisor": "/supervisor",
                "agency_officer": "/agency", "executive": "/executive", "kiosk": "/wall"}
CSRF_COOKIE = "_csrf_token"  # dash-renderer sends this cookie back as the X-CSRFToken header
CSRF_PATHS = ("/_dash-update-component", "/login", "/logout")
SESSION_VERSION = "sv"  # the account's users.session_version when this session logged in


@dataclass
class WebUser(UserMixin):
    id: str
    username: str
    role: str
    agency_code: str | None = None
    display_name: str | None = None

    @property
    def actor(self) -> Actor:
        """The domain actor of this user (executive and kiosk never change anything)."""
        if self.role in ("executive", "kiosk"):
            abort(403)
        return Actor(self.username, self.role, self.agency_code)


KIOSK_USER = WebUser("kiosk", "kiosk", "kiosk")


def users() -> UserService:
    svc = context.services()
    cached = getattr(svc, "_dashboard_users", None)
    if cached is None:
        cached = UserService(svc.sessions, svc.clock)
        svc._dashboard_users = cached
    return cached


def role() -> str | None:
    if not has_request_context():
        return None
    return current_user.role if current_user.is_authenticated else None


def allowed(page: str) -> bool:
    roles = PAGE_ROLES[page]
    return roles is None or role() in roles


def guard(page: str):
    """Refuse (HTTP 403) a callback called by anyone whose role may not use `page`."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not allowed(page):
                abort(403)
            return fn(*args, **kwargs)
        return wrapper
    return decorate


def writer(fn):
    """Refuse read-only roles (kiosk, executive) a state-changing callback, whatever the page allows."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if role() in (None, "kiosk", "executive"):
            abort(403)
        return fn(*args, **kwargs)
    return wrapper


def timeout_seconds() -> float:
    """Idle time after which a person's session ends (SESSION_TIMEOUT_MINUTES, fractions allowed)."""
    raw = os.environ.get("SESSION_TIMEOUT_MINUTES", "30")
    try:
        minutes = float(raw)
    except ValueError:
        raise ValueError(f"SESSION_TIMEOUT_MINUTES must be a number of minutes, got {raw!r}") from None
    if minutes <= 0:
        raise ValueError(f"SESSION_TIMEOUT_MINUTES must be positive, got {raw!r}")
    return minutes * 60


def login_rate_limit() -> str:
    """Failed logins (and malformed login forms) allowed per client address, across accounts."""
    return os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;30 per hour")


LOGIN_PAGE = """<!doctype html><html lang="{{lang}}"><head><meta charset="utf-8"><title>Masuk - Tangerang Live Room</title>
<link rel="stylesheet" href="/assets/app.css"></head><body class="login-body"><form method="post" class="login-card">
<h1>Tangerang Live Room</h1>{% if error %}<p class="alert" id="login-error">{{error}}</p>{% endif %}
<input type="hidden" name="csrf_token" value="{{csrf}}"><input type="hidden" name="next" value="{{next}}">
<label>{{ 'Nama pengguna' if lang=='id' else 'Username' }}<input name="username" id="login-username" autofocus></label>
<label>{{ 'Kata sandi' if lang=='id' else 'Password' }}<input name="password" id="login-password" type="password"></label>
<button type="submit" id="login-submit">{{ 'Masuk' if lang=='id' else 'Sign in' }}</button>
<p><a href="/public">{{ 'Halaman publik' if lang=='id' else 'Public page' }}</a></p></form></body></html>"""


def _same_site_referrer() -> str:
    """The path and query of the page that linked here, when it is one of ours (the tracking page's
    language toggle comes back to its own address without repeating it)."""
    referrer = urlparse(request.referrer or "")
    if referrer.netloc != request.host or not referrer.path.startswith("/"):
        return ""
    return _safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))


def _safe_next(target: str | None) -> str:
    if not target:
        return ""
    parsed = urlparse(target)
    return target if not parsed.scheme and not parsed.netloc and target.startswith("/") else ""


def install(server) -> None:
    """Attach login, logout, language, CSRF, timeout, session revocation and kiosk handling."""
    https = context.services().settings.public_base_url.startswith("https://")
    server.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    server.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=timeout_seconds())
    server.config["SESSION_COOKIE_HTTPONLY"] = True
    server.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Behind the city's HTTPS proxy no cookie travels in clear text.
    server.config["SESSION_COOKIE_SECURE"] = https
    manager = LoginManager(server)

    @manager.user_loader
    def load_user(user_id: str):
        try:
            account = users().get(int(user_id))
        except ValueError:
            return None
        # Disabled, logged out (on any screen), a new password or a new role: the account's
        # session_version moved on and every session signed with the old one has ended.
        if account is None or not account.active or session.get(SESSION_VERSION) != account.session_version:
            return None
        return WebUser(str(account.id), account.username, account.role, account.agency_code, account.display_name)

    @manager.request_loader
    def load_kiosk(_request):
        return KIOSK_USER if kiosk.recognised() else None

    @server.before_request
    def _gate():
        path = request.path
        if request.method == "POST" and path in CSRF_PATHS:
            token = request.headers.get("X-CSRFToken") or request.form.get("csrf_token")
            try:
                validate_csrf(token)
            except (CsrfInvalid, CSRFError):
                # The answer carries a fresh token (after_request): a wall whose session ended, or a
                # page open across a restart with a new key, recovers at its next request.
                g.csrf_refresh = True
                if path == "/login":
                    return _login_page(_text("expired"), 400)
                return Response("CSRF token missing or invalid", status=400)
        if path == "/wall" and "kiosk" in request.args:
            return kiosk.enrol(https)
        if "_user_id" in session and (not current_user.is_authenticated or current_user.role == "kiosk"):
            session.clear()  # a session that was ended (logout elsewhere, disabled, new password or role)
        if current_user.is_authenticated and current_user.role != "kiosk":
            now = time.time()
            last = session.get("last_active", now)
            if now - last > timeout_seconds():
                users().record_logout(current_user.username, current_user.role, "session timeout")
                logout_user()
                session.clear()
                if path.startswith("/_dash"):
                    abort(401)
                return redirect(f"/login?next={path}")
            if not (path == "/_dash-update-component" and _only_timers()):
                session["last_active"] = now
            session.permanent = True
        elif current_user.is_authenticated:
            session.permanent = True  # the kiosk's session (its CSRF token) is renewed by every refresh
        page = PAGE_PATHS.get(path)
        if page is not None and not current_user.is_authenticated:
            return redirect(f"/login?next={path}")
        return None

    @server.after_request
    def _csrf_cookie(response):
        if (request.path in PAGE_PATHS or request.path in ("/public", "/login") or request.path.startswith("/lacak/")
                or g.get("csrf_refresh")):
            response.set_cookie(CSRF_COOKIE, generate_csrf(), samesite="Strict", httponly=False, secure=https)
        return response

    def login():
        error, status = None, 200
        target = _safe_next(request.values.get("next"))
        if request.method == "POST":
            try:
                account = users().authenticate(request.form.get("username"), request.form.get("password"),
                                               source=limits.client_address())
            except ValidationError:
                account, error, status = None, _text("invalid"), 400
            else:
                if account is not None:
                    session.clear()
                    login_user(WebUser(str(account.id), account.username, account.role, account.agency_code,
                                       account.display_name))
                    session[SESSION_VERSION] = account.session_version
                    session["last_active"] = time.time()
                    session.permanent = True
                    return redirect(target or HOME_OF_ROLE.get(account.role, "/"))
                error, status = _text("wrong"), 401
        return _login_page(error, status, target)

    def too_many(limit):
        log.warning("login attempts from %s throttled (%s)", limits.client_address(), limit.limit)
        wait = max(1, int(limit.reset_at - time.time()))
        response = _login_page(_text("throttled").format(minutes=max(1, round(wait / 60))), 429)
        response.headers["Retry-After"] = str(wait)
        return response

    # Failed and malformed attempts count per client address, across accounts (domain/users.py
    # counts them per account and address as well); a success costs nothing.
    login = limits.rate_limit(server, login_rate_limit(), only_when=lambda r: r.status_code in (400, 401),
                              on_breach=too_many, methods=["POST"])(login)
    server.add_url_rule("/login", "login", login, methods=["GET", "POST"])

    @server.route("/logout", methods=["POST"])
    def logout():
        if current_user.is_authenticated and current_user.role != "kiosk":
            users().end_sessions(current_user.username)  # every screen of this account, not only this one
        logout_user()
        session.clear()
        return kiosk.forget(redirect("/login"), https)

    @server.route("/lang/<code>")
    def set_lang(code: str):
        response = redirect(_safe_next(request.args.get("next")) or _same_site_referrer() or "/")
        if code in ("id", "en"):
            response.set_cookie("lang", code, max_age=365 * 86400, samesite="Lax", secure=https)
        return response


LOGIN_TEXTS = {
    "wrong": ("Nama pengguna atau kata sandi salah", "Wrong username or password"),
    "invalid": ("Isian tidak valid: nama pengguna dan kata sandi wajib diisi, tanpa karakter kendali",
                "Invalid form: username and password are required, without control characters"),
    "expired": ("Formulir kedaluwarsa, silakan coba lagi", "The form expired, please try again"),
    "throttled": ("Terlalu banyak percobaan masuk dari alamat ini; coba lagi dalam {minutes} menit",
                  "Too many sign-in attempts from this address; try again in {minutes} minutes"),
}


def _text(key: str) -> str:
    from dashboard.i18n import lang

    return LOGIN_TEXTS[key][lang() != "id"]


def _login_page(error: str | None, status: int, target: str = "") -> Response:
    from dashboard.i18n import lang

    html = render_template_string(LOGIN_PAGE, error=error, csrf=generate_csrf(), next=target, lang=lang())
    return Response(html, status=status, mimetype="text/html")


def _only_timers() -> bool:
    """A callback request fired only by timers (dcc.Interval) is not the user being active."""
    try:
        body = json_input.loads(request.get_data(cache=True) or b"{}")
    except ValueError:
        return False
    changed = body.get("changedPropIds") if isinstance(body, dict) else None
    return isinstance(changed, list) and bool(changed) and all(str(p).endswith(".n_intervals") for p in changed)


def csrf_token() -> str:
    return generate_csrf()
