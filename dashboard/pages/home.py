"""Home: the queue's live counts."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html

from dashboard import queries

dash.register_page(__name__, path="/", name="Beranda", title="Tangerang Live Room")

TILES = [
    ("open", "Terbuka"), ("NEW", "Baru"), ("ASSIGNED", "Diteruskan"), ("IN_PROGRESS", "Dikerjakan"),
    ("breached", "Lewat SLA"), ("RESOLVED", "Selesai"), ("CLOSED", "Ditutup"), ("REJECTED", "Ditolak"),
]


def layout(**_):
    return html.Div([
        html.H2("Antrean laporan"),
        dcc.Interval(id="home-refresh", interval=2000),
        dbc.Row(id="home-counts", children=_tiles(queries.queue_counts())),
    ])


def _tiles(counts):
    return [
        dbc.Col(dbc.Card(dbc.CardBody([
            html.Div(label, className="text-muted small"),
            html.Div(str(counts.get(key, 0)), id=f"home-count-{key.lower()}", className="fs-2 fw-bold"),
        ])), xs=6, md=3, className="mb-3")
        for key, label in TILES
    ]


@callback(Output("home-counts", "children"), Input("home-refresh", "n_intervals"))
def refresh(_n):
    return _tiles(queries.queue_counts())
