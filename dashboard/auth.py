"""Who may see what: Flask-Login sessions, roles per page and per callback, CSRF, idle timeout, kiosk.

Every page layout calls `page_denied(page)` and every callback is wrapped in `@guard(page)`: hiding a
link is not security. The role table `PAGE_ROLES` is the one place to read who may use which page.
"""
from __future__ import annotations

import functools
import hmac
import json
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlparse

from flask import Response, has_request_context, abort, redirect, render_template_string, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms.validators import ValidationError as CsrfInvalid

from dashboard import context
from domain.actors import Actor
from domain.users import UserService

PAGE_ROLES: dict[str, frozenset[str]] = {
    "home": frozenset({"admin", "operator", "supervisor", "agency_officer", "executive"}),
    "wall": frozenset({"admin", "operator", "supervisor", "executive", "kiosk"}),
    "operator": frozenset({"admin", "operator", "supervisor"}),
    "agency": frozenset({"admin", "supervisor", "agency_officer"}),
    "supervisor": frozenset({"admin", "supervisor"}),
    "executive": frozenset({"admin", "supervisor", "executive"}),
    "ops": frozenset({"admin", "operator", "supervisor"}),
    "public": None,  # everyone, no login
}
PAGE_PATHS = {"/": "home", "/wall": "wall", "/operator": "operator", "/agency": "agency",
              "/supervisor": "supervisor", "/executive": "executive", "/ops": "ops"}
HOME_OF_ROLE = {"admin": "/operator", "operator": "/operator", "supervisor": "/supervisor",
                "agency_officer": "/agency", "executive": "/executive", "kiosk": "/wall"}
CSRF_COOKIE = "_csrf_token"  # dash-renderer sends this cookie back as the X-CSRFToken header
CSRF_PATHS = ("/_dash-update-component", "/login", "/logout")


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


def timeout_minutes() -> int:
    return int(os.environ.get("SESSION_TIMEOUT_MINUTES", "30"))


LOGIN_PAGE = """<!doctype html><html lang="{{lang}}"><head><meta charset="utf-8"><title>Masuk - Tangerang Live Room</title>
<link rel="stylesheet" href="/assets/app.css"></head><body class="login-body"><form method="post" class="login-card">
<h1>Tangerang Live Room</h1>{% if error %}<p class="alert" id="login-error">{{error}}</p>{% endif %}
<input type="hidden" name="csrf_token" value="{{csrf}}"><input type="hidden" name="next" value="{{next}}">
<label>{{ 'Nama pengguna' if lang=='id' else 'Username' }}<input name="username" id="login-username" autofocus></label>
<label>{{ 'Kata sandi' if lang=='id' else 'Password' }}<input name="password" id="login-password" type="password"></label>
<button type="submit" id="login-submit">{{ 'Masuk' if lang=='id' else 'Sign in' }}</button>
<p><a href="/public">{{ 'Halaman publik' if lang=='id' else 'Public page' }}</a></p></form></body></html>"""


def _safe_next(target: str | None) -> str:
    if not target:
        return ""
    parsed = urlparse(target)
    return target if not parsed.scheme and not parsed.netloc and target.startswith("/") else ""


def install(server) -> None:
    """Attach login, logout, language, CSRF, timeout and kiosk handling to the Flask server."""
    server.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    server.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=timeout_minutes())
    server.config["SESSION_COOKIE_HTTPONLY"] = True
    server.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Behind the city's HTTPS proxy the session cookie never travels in clear text.
    server.config["SESSION_COOKIE_SECURE"] = context.services().settings.public_base_url.startswith("https://")
    manager = LoginManager(server)

    @manager.user_loader
    def load_user(user_id: str):
        if user_id == "kiosk":
            return KIOSK_USER if session.get("kiosk") else None
        try:
            account = users().get(int(user_id))
        except ValueError:
            return None
        if account is None or not account.active:
            return None
        return WebUser(str(account.id), account.username, account.role, account.agency_code, account.display_name)

    @server.before_request
    def _gate():
        path = request.path
        if request.method == "POST" and path in CSRF_PATHS:
            token = request.headers.get("X-CSRFToken") or request.form.get("csrf_token")
            try:
                validate_csrf(token)
            except (CsrfInvalid, CSRFError):
                return Response("CSRF token missing or invalid", status=400)
        if path == "/wall" and request.args.get("kiosk") is not None:
            expected = os.environ.get("KIOSK_TOKEN", "")
            if expected and hmac.compare_digest(request.args["kiosk"].encode(), expected.encode()):
                session.clear()
                session["kiosk"] = True
                login_user(KIOSK_USER)
            else:
                abort(403)
        if current_user.is_authenticated and current_user.role != "kiosk":
            now = time.time()
            last = session.get("last_active", now)
            if now - last > timeout_minutes() * 60:
                users().record_logout(current_user.username, current_user.role, "session timeout")
                logout_user()
                session.clear()
                if path.startswith("/_dash"):
                    abort(401)
                return redirect(f"/login?next={path}")
            if not (path == "/_dash-update-component" and _only_timers()):
                session["last_active"] = now
            session.permanent = True
        page = PAGE_PATHS.get(path)
        if page is not None and not current_user.is_authenticated:
            return redirect(f"/login?next={path}")
        return None

    @server.after_request
    def _csrf_cookie(response):
        if request.path in PAGE_PATHS or request.path in ("/public", "/login"):
            response.set_cookie(CSRF_COOKIE, generate_csrf(), samesite="Strict", httponly=False)
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @server.route("/login", methods=["GET", "POST"])
    def login():
        from dashboard.i18n import lang

        error = None
        target = _safe_next(request.values.get("next"))
        if request.method == "POST":
            account = users().authenticate(request.form.get("username", ""), request.form.get("password", ""),
                                           source=request.remote_addr)
            if account is not None:
                session.clear()
                login_user(WebUser(str(account.id), account.username, account.role, account.agency_code,
                                   account.display_name))
                session["last_active"] = time.time()
                session.permanent = True
                return redirect(target or HOME_OF_ROLE.get(account.role, "/"))
            error = "Nama pengguna atau kata sandi salah" if lang() == "id" else "Wrong username or password"
        html = render_template_string(LOGIN_PAGE, error=error, csrf=generate_csrf(), next=target, lang=lang())
        return Response(html, status=401 if error else 200, mimetype="text/html")

    @server.route("/logout", methods=["POST"])
    def logout():
        if current_user.is_authenticated and current_user.role != "kiosk":
            users().record_logout(current_user.username, current_user.role)
        logout_user()
        session.clear()
        return redirect("/login")

    @server.route("/lang/<code>")
    def set_lang(code: str):
        response = redirect(_safe_next(request.args.get("next")) or "/")
        if code in ("id", "en"):
            response.set_cookie("lang", code, max_age=365 * 86400, samesite="Lax")
        return response


def _only_timers() -> bool:
    """A callback request fired only by timers (dcc.Interval) is not the user being active."""
    try:
        body = json.loads(request.get_data(cache=True) or b"{}")
    except ValueError:
        return False
    changed = body.get("changedPropIds") or []
    return bool(changed) and all(str(p).endswith(".n_intervals") for p in changed)


def csrf_token() -> str:
    return generate_csrf()
