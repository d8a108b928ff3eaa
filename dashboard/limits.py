"""Request limits of the web tier: body sizes, rate limits, and which address a client has.

- **Body size.** Every request body is capped at MAX_REQUEST_BYTES (Flask's MAX_CONTENT_LENGTH),
  before anything reads it: a larger Content-Length is refused at once (413), and a chunked body
  without Content-Length is read up to the cap and refused past it (413). Dash callbacks of visitors
  who never upload anything (anonymous, kiosk, executive) are capped at SMALL_CALLBACK_BYTES, the
  login and logout forms at FORM_BYTES; a blueprint may declare its own cap in
  server.config[BLUEPRINT_CAPS] (ingest/web.py does, for uploads through the API).
- **Rate limits.** `rate_limit(server, "10 per minute", ...)` decorates a view with a Flask-Limiter
  limit, keyed by the client address unless told otherwise. Work that is not a view of its own (a
  look-up inside a Dash callback) counts with `hit(scope, rule)` and is refused with 429 past it;
  `exhausted(scope, rule)` tells a page view to answer 429 before it starts. The counters live in memory, one set
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

from flask import abort, current_app, request
from flask_limiter import Limiter
from flask_login import current_user
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests
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


def parse_rule(name: str, rule: str) -> list[RateLimitItem]:
    """The limits of a rule like "30 per minute;300 per hour"; a malformed one names its setting."""
    try:
        items = parse_many(rule)
    except ValueError:
        items = []
    if not items:
        raise ValueError(f"{name} must be limits like '30 per minute;300 per hour', got {rule!r}")
    return items


def _limiter() -> Limiter:
    return current_app.extensions[EXTENSION]


def _retry_after(limiter: Limiter, item: RateLimitItem, scope: str, ident: str) -> int:
    import time

    reset = limiter.limiter.get_window_stats(item, scope, ident).reset_time
    return max(1, int(reset - time.time()) + 1)


def hit(scope: str, rule: str, *, key: str | None = None) -> None:
    """Count one unit of `scope` for the client address (or `key`) against `rule`; past it, refuse the
    request at once: 429 with Retry-After (for work done inside a Dash callback, which no decorator
    reaches)."""
    limiter = _limiter()
    if not limiter.enabled:
        return
    ident = key or client_address()
    for item in parse_rule(scope, rule):
        if not limiter.limiter.hit(item, scope, ident):
            raise TooManyRequests(retry_after=_retry_after(limiter, item, scope, ident))


def exhausted(scope: str, rule: str, *, key: str | None = None) -> int | None:
    """Seconds until the client may try `scope` again when `rule` is used up (None: it may go on)."""
    limiter = _limiter()
    if not limiter.enabled:
        return None
    ident = key or client_address()
    for item in parse_rule(scope, rule):
        if not limiter.limiter.test(item, scope, ident):
            return _retry_after(limiter, item, scope, ident)
    return None
