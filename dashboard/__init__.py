"""The Dash front end: one page module per role under dashboard/pages/.

Pages never import the app: they reach the services through `dashboard.context`. Styles are served
from dashboard/assets (no CDN: the wall must work without internet).
"""
from __future__ import annotations

from pathlib import Path

from dashboard import context

HERE = Path(__file__).parent


def create_dash(services):
    import dash
    from flask import Flask

    from dashboard import access_log, auth, envelope, headers, limits, media, tracking_web
    from domain import session_key
    from ingest import json_input

    key = session_key.load(services.settings)  # NoSessionKey: never a built-in key
    context.set_services(services)
    # Load the queue's reference data now: loaded lazily inside a workflow transaction (Workflow.assign ->
    # queue.agencies) it opens a second session, which on SQLite waits for the first one's write lock.
    services.queue.refresh_reference()
    server = Flask(__name__)
    server.config["SECRET_KEY"] = key
    access_log.install()
    limits.install(server, services.settings)
    json_input.install(server)  # request.get_json(): deep nesting is a 400, never a RecursionError
    envelope.install(server, lambda: app)  # a malformed callback body is a 400 before any hook reads it
    auth.install(server)
    media.install(server)
    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="Tangerang Live Room",
        update_title=None,
        serve_locally=True,
    )
    from dashboard.layout import shell

    app.layout = shell
    tracking_web.install(server, app)
    headers.install(server, app, https=services.settings.public_base_url.startswith("https://"))
    # Build the callback validation layout now, outside any request, so it holds every page's full
    # layout (inside a request the pages would render the visitor's "access denied" instead).
    for hook in server.before_request_funcs.get(None, []):
        if getattr(hook, "__name__", "") in ("router_sync", "router_async"):
            hook()
    app._setup_server()
    return app
