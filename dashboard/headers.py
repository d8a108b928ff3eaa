"""Security headers of every answer: Content-Security-Policy, HSTS under https, and the small ones.

The policy is as strict as the pages allow (measured in Chromium: no page logs a CSP error):
scripts only from this server plus Dash's own inline scripts by their SHA-256 hashes (the renderer's
start-up line and the clientside callbacks, `Dash.csp_hashes()`), no eval, no inline event
handlers; styles from this server plus the inline ones that dash-renderer and Plotly insert at run
time (their contents vary, so no hash can name them); images, fonts and connections from this
server (images also `data:`/`blob:`, which Plotly's PNG export draws with); no plugins, no framing, forms post only here. With
MAP_TILE_URL the tile server's origin is allowed for images and connections (and `blob:` workers
for the map library).

Every answer to a signed-in visitor (any role, the kiosk included) and every answer of the API and
Open311 routes, or to a request that carries a credential (an API key, an Authorization header), is
`Cache-Control: no-store`: no browser, proxy or shared-computer cache keeps a page or a callback with
citizens' data. Static assets (the same for everyone) stay cacheable.
"""
from __future__ import annotations

import os
from urllib.parse import urlparse

HSTS = "max-age=31536000; includeSubDomains"
STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon.ico")
PRIVATE_PREFIXES = ("/api/", "/open311/")  # answers for a client's key
CREDENTIAL_HEADERS = ("Authorization", "X-API-Key")


def private(path: str, authenticated: bool, headers) -> bool:
    """Whether the answer to this request is private to its asker, so never to be stored."""
    if path.startswith(STATIC_PREFIXES):
        return False
    return authenticated or path.startswith(PRIVATE_PREFIXES) or any(h in headers for h in CREDENTIAL_HEADERS)


def policy(script_hashes: list[str], tile_url: str = "") -> str:
    tiles = ""
    if tile_url:
        parsed = urlparse(tile_url.replace("{", "").replace("}", ""))
        tiles = f" {parsed.scheme}://{parsed.netloc}" if parsed.scheme and parsed.netloc else ""
    directives = {
        "default-src": "'self'",
        "script-src": " ".join(["'self'", *script_hashes]),
        # dash-renderer and Plotly insert <style> elements and style attributes at run time, with
        # contents no hash or nonce can name: inline styles stay allowed (inline scripts do not)
        "style-src": "'self' 'unsafe-inline'",
        "img-src": f"'self' data: blob:{tiles}",
        "font-src": "'self' data:",
        "connect-src": f"'self'{tiles}",
        "worker-src": "'self' blob:" if tiles else "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def install(server, dash_app, *, https: bool) -> None:
    """Add the headers to every answer of the Flask server behind `dash_app`."""
    cache: dict[str, str] = {}

    def csp() -> str:
        # computed at the first answer: every page's clientside callback is registered by then
        if "value" not in cache:
            cache["value"] = policy(list(dash_app.csp_hashes()), os.environ.get("MAP_TILE_URL", "").strip())
        return cache["value"]

    @server.after_request
    def _security_headers(response):
        from flask import request
        from flask_login import current_user

        headers = response.headers
        if private(request.path, bool(current_user and current_user.is_authenticated), request.headers):
            headers["Cache-Control"] = "no-store"
        headers.setdefault("Content-Security-Policy", csp())
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if https:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
