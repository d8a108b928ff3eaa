"""The citizen-facing routes beside the Dash pages: the tracking page's entry and its rate limit, and the
public photo route.

- `GET /lacak/<ticket>?kode=<code>` serves the Dash page (dashboard/pages/lacak.py), or a plain 429 page
  when this client address has used up TRACKING_RATE_LIMIT (default 30 per minute, 300 per hour). Every
  look-up of a report (the page's content, a rating) counts against it (`count_lookup`), right or wrong:
  a client cannot enumerate tickets or codes. Answers are never cached (the URL holds the code).
- `GET /foto/<ref>` serves one agency evidence photo by its unguessable public reference
  (attachments.public_ref): only evidence ("before"/"after") has one, never a citizen's media, and the
  media id is never the name. It is a copy without metadata (dashboard/photos.py: no EXIF GPS position,
  no text chunks), encoded again from the pixels. The tracking page shows the references of its own
  report only (after the code matched), /public those of recently resolved reports.
"""
from __future__ import annotations

import io
import os

from flask import Response, abort, current_app, request, send_file

from dashboard import limits
from dashboard.context import services
from dashboard.photos import NotAPhoto, public_copy
from ingest.media import stored_file

SCOPE = "tracking"
RULE_SETTING = "TRACKING_RATE_LIMIT"
DEFAULT_RULE = "30 per minute;300 per hour"
CONFIG_KEY = "TLR_TRACKING_RATE_LIMIT"
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})

TOO_MANY = """<!doctype html><html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Terlalu banyak permintaan</title>
<link rel="stylesheet" href="/assets/app.css"></head><body class="page"><div class="card" id="lacak-too-many">
<h2>Terlalu banyak permintaan</h2><p>Alamat Anda membuka terlalu banyak halaman pelacakan. Coba lagi dalam
{seconds} detik.</p><p lang="en" class="muted">Too many tracking requests from your address. Try again in {seconds}
seconds.</p></div></body></html>"""


def rule() -> str:
    return current_app.config.get(CONFIG_KEY, DEFAULT_RULE)


def count_lookup() -> None:
    """One look-up of a report by ticket and code: counted, and refused with 429 past the limit."""
    limits.hit(SCOPE, rule())


def _without_own_url(page: str) -> str:
    """Dash's page meta tags repeat the request's URL (twitter:url): not this one, which holds the ticket
    and its code. The page names the tracking service only."""
    from html import escape

    neutral = request.host_url.rstrip("/") + "/lacak"
    for form in {request.url, escape(request.url), escape(request.url, quote=False)}:
        page = page.replace(f'content="{form}"', f'content="{neutral}"')
    return page


def install(server, dash_app) -> None:
    raw = os.environ.get(RULE_SETTING, "").strip() or DEFAULT_RULE
    limits.parse_rule(RULE_SETTING, raw)  # a malformed setting stops the start, naming it
    server.config[CONFIG_KEY] = raw

    @server.route("/lacak/<path:ticket>")
    def tracking_page(ticket: str):
        wait = limits.exhausted(SCOPE, rule())
        if wait is not None:
            return Response(TOO_MANY.format(seconds=wait), status=429, mimetype="text/html",
                            headers={"Retry-After": str(wait)})
        return _without_own_url(dash_app.index())

    @server.after_request
    def _no_store(response):
        if request.path.startswith("/lacak/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @server.route("/foto/<ref>")
    def evidence_photo(ref: str):
        from dashboard.tracking_data import photo_file

        with services().reads() as s:
            found = photo_file(s, ref)
        if found is None:
            abort(404)
        path_text, content_type, filename = found
        # stored relative to ATTACHMENTS_DIR, resolved inside it (the same rule as /media)
        path = stored_file(services().settings.attachments_dir, path_text)
        if path is None or content_type not in INLINE_TYPES:
            abort(404)
        try:  # the pixels only: no EXIF (GPS), no text chunks (dashboard/photos.py)
            body = public_copy(path, content_type)
        except NotAPhoto:
            abort(404)
        response = send_file(io.BytesIO(body), mimetype=content_type, download_name=filename, max_age=3600,
                             etag=False)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
