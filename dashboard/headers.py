"""Security headers of every answer: Content-Security-Policy, HSTS under https, and the small ones.

The policy is as strict as the pages allow (measured in Chromium: no page logs a CSP error):
scripts only from this server plus Dash's own inline scripts by their SHA-256 hashes (the renderer's
start-up line and the clientside callbacks, `Dash.csp_hashes()`), no eval, no inline event
handlers; styles from this server plus the inline ones that dash-renderer and Plotly insert at run
time (their contents vary, so no hash can name them); images, fonts and connections from this
server (images also `data:`/`blob:`, which Plotly's PNG export draws with); no plugins, no framing, forms post only here. With
MAP_TILE_URL the tile server's origin is allowed for images and connections (and `blob:` workers
for the map library).
"""
from __future__ import annotations

import os
from urllib.parse import urlparse

HSTS = "max-age=31536000; includeSubDomains"


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
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp())
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if https:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
