"""Home: the queue's live counts and the pages this role may open."""
from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboard import auth, queries
from dashboard.i18n import t
from dashboard.layout import NAV, denied

dash.register_page(__name__, path="/", name="Beranda", title="Tangerang Live Room")

TILES = [("open", "open"), ("NEW", "NEW"), ("ASSIGNED", "ASSIGNED"), ("IN_PROGRESS", "IN_PROGRESS"),
         ("breached", "breached"), ("RESOLVED", "RESOLVED"), ("CLOSED", "CLOSED"), ("REJECTED", "REJECTED")]


def layout(**_):
    blocked = denied("home")
    if blocked is not None:
        return blocked
    return html.Div([
        html.H2("Tangerang Live Room"),
        html.Div([html.A(t(page), href=href, className="btn") for page, href in NAV if auth.allowed(page)]),
        dcc.Interval(id="home-refresh", interval=5000),
        html.Div(id="home-counts", className="row", children=[]),
    ])


def _tiles(counts):
    return [html.Div([html.Div(t(label) if label in ("open", "breached") else label, className="label"),
                      html.Div(str(counts.get(key, 0)), id=f"home-count-{key.lower()}", className="value")],
                     className="kpi") for key, label in TILES]


@callback(Output("home-counts", "children"), Input("home-refresh", "n_intervals"))
@auth.guard("home")
def refresh(_n):
    return _tiles(queries.queue_counts())
