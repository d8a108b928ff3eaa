"""Request limits of the web tier: body sizes, rate limits, and which address a client has.

- **Body size.** Every request body is capped at MAX_REQUEST_BYTES (Flask's MAX_CONTENT_LENGTH),
  before anything reads it: a larger Content-Length is refused at once (413), and a chunked body
  without Content-Length is read up to the cap and refused past it (413). Dash callbacks of visitors
  who never upload anything (anonymous, kiosk, executive) are capped at SMALL_CALLBACK_BYTES, the
  login and logout forms at FORM_BYTES; a blueprint may declare its own cap in
  server.config[BLUEPRINT_CAPS] (ingest/web.py does, for uploads through the API).
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

import io
import os
from typing import Callable

from flask import abort, request
from flask_limiter import Limiter
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

SMALL_CALLBACK_BYTES = 256 * 1024
FORM_BYTES = 16 * 1024
UPLOAD_ROLES = frozenset({"admin", "operator", "supervisor", "agency_officer"})
EXTENSION = "tlr.limiter"
# server.config key: {blueprint name: its body cap} for blueprints that need another cap than
# MAX_REQUEST_BYTES (ingest/web.py: uploads through the API); the blueprint may lower it per route
BLUEPRINT_CAPS = "TLR_BLUEPRINT_BODY_CAPS"


def client_address() -> str:
    """The client's address as this deployment can trust it (see TRUSTED_PROXIES)."""
    return request.remote_addr or "-"


def body_limit(max_bytes: int) -> None:
    """Cap the current request's body at `max_bytes` (call before anything reads the body): a declared
    Content-Length above it is refused at once (413). A chunked body is read here, at most
    `max_bytes` + 1 bytes of it: past the cap it is refused (413), below it the request goes on as one
    with a Content-Length. (Werkzeug's own cap on a stream truncates a full read at the cap silently.)"""
    environ = request.environ
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and "wsgi.input_terminated" in environ:
        stream, body = environ["wsgi.input"], bytearray()
        while len(body) <= max_bytes:
            piece = stream.read(min(65536, max_bytes + 1 - len(body)))
            if not piece:
                break
            body += piece
        if len(body) > max_bytes:
            abort(413)
        environ.update({"wsgi.input": io.BytesIO(bytes(body)), "CONTENT_LENGTH": str(len(body))})
        del environ["HTTP_TRANSFER_ENCODING"], environ["wsgi.input_terminated"]
        request.__dict__.pop("content_length", None)  # a cached_property of Werkzeug's request
    request.max_content_length = max_bytes
    if (request.content_length or 0) > max_bytes:
        abort(413)


def install(server, settings) -> Limiter:
    """Body caps, the rate limiter and the proxy setting of the Flask server."""
    server.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    if settings.trusted_proxies > 0:
        hops = settings.trusted_proxies
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)

    caps = server.config.setdefault(BLUEPRINT_CAPS, {})

    @server.before_request
    def _cap_body():
        path, cap = request.path, caps.get(request.blueprint, settings.max_request_bytes)
        if path in ("/login", "/logout"):
            cap = FORM_BYTES
        elif path.startswith("/_dash-") and request.method == "POST":
            role = current_user.role if current_user.is_authenticated else None
            if role not in UPLOAD_ROLES:
                cap = min(SMALL_CALLBACK_BYTES, cap)
        body_limit(cap)

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
