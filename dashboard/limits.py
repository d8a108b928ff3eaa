"""Request limits of the web tier: body sizes, rate limits, and which address a client has.

- **Body size.** Every request body is capped at MAX_REQUEST_BYTES (Flask's MAX_CONTENT_LENGTH).
  Werkzeug enforces the cap on the stream itself, so a chunked body without Content-Length is cut
  at the cap too (413). Dash callbacks of visitors who never upload anything (anonymous, kiosk,
  executive) are capped at SMALL_CALLBACK_BYTES, the login and logout forms at FORM_BYTES; a
  blueprint may set its own cap with `body_limit(n)` in its before_request (ingest/web.py does).
- **Rate limits.** `rate_limit(server, "10 per minute", ...)` decorates a view with a Flask-Limiter
  limit, keyed by the client address unless told otherwise. The counters live in memory, one set
  per process; with several gunicorn workers set RATELIMIT_STORAGE_URI (e.g. redis://host:6379) so
  they share one.
- **Client address.** `request.remote_addr`. Behind reverse proxies set TRUSTED_PROXIES to how many
  there are: the address (and scheme) the outermost of them saw is then taken from
  X-Forwarded-For/-Proto (Werkzeug's ProxyFix). Unset, forwarded headers are ignored, so a client
  cannot pick its own address.
"""
from __future__ import annotations

import os
from typing import Callable

from flask import request
from flask_limiter import Limiter
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

SMALL_CALLBACK_BYTES = 256 * 1024
FORM_BYTES = 16 * 1024
UPLOAD_ROLES = frozenset({"admin", "operator", "supervisor", "agency_officer"})
EXTENSION = "tlr.limiter"


def client_address() -> str:
    """The client's address as this deployment can trust it (see TRUSTED_PROXIES)."""
    return request.remote_addr or "-"


def body_limit(max_bytes: int) -> None:
    """Cap the current request's body at `max_bytes` (call before anything reads the body)."""
    request.max_content_length = max_bytes


def install(server, settings) -> Limiter:
    """Body caps, the rate limiter and the proxy setting of the Flask server."""
    server.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    server.config["MAX_FORM_MEMORY_SIZE"] = min(settings.max_request_bytes, 16 * 1024 * 1024)
    if settings.trusted_proxies > 0:
        hops = settings.trusted_proxies
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)

    @server.before_request
    def _cap_body():
        path = request.path
        if path in ("/login", "/logout"):
            body_limit(FORM_BYTES)
        elif path.startswith("/_dash-") and request.method == "POST":
            role = current_user.role if current_user.is_authenticated else None
            if role not in UPLOAD_ROLES:
                body_limit(min(SMALL_CALLBACK_BYTES, settings.max_request_bytes))

    limiter = Limiter(client_address, app=server, storage_uri=os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
                      headers_enabled=False, strategy="moving-window")
    server.extensions[EXTENSION] = limiter
    return limiter


def rate_limit(server, rule: str, *, key: Callable[[], str] = client_address,
               only_when: Callable | None = None, on_breach: Callable | None = None,
               methods: list[str] | None = None):
    """A decorator limiting a view to `rule` ("10 per minute;50 per hour") per `key` (the client
    address by default). `only_when(response)` counts only the responses it accepts (failed logins,
    say); `on_breach(limit)` may answer instead of Flask-Limiter's plain 429; `methods` limits only
    those HTTP methods (all by default)."""
    limiter: Limiter = server.extensions[EXTENSION]
    return limiter.limit(rule, key_func=key, deduct_when=only_when, on_breach=on_breach, methods=methods)
