"""The Dash front end: one page module per role under dashboard/pages/.

Pages never import the app: they reach the services through `dashboard.context`.
"""
from __future__ import annotations

from pathlib import Path

from dashboard import context


def create_dash(services):
    import dash
    import dash_bootstrap_components as dbc
    from flask import Flask

    context.set_services(services)
    server = Flask(__name__)
    server.config["SECRET_KEY"] = services.settings.secret_key or "dev-only-secret-change-me"
    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(Path(__file__).parent / "pages"),
        external_stylesheets=[dbc.themes.BOOTSTRAP],
        title="Tangerang Live Room",
        update_title=None,
    )
    from dashboard.layout import shell

    app.layout = shell
    return app
