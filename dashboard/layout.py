"""The page shell: navigation bar and the page container."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html


def shell():
    return html.Div([
        dbc.NavbarSimple(
            brand="Tangerang Live Room",
            brand_href="/",
            color="dark",
            dark=True,
            children=[dbc.NavItem(dbc.NavLink("Beranda", href="/"))],
        ),
        dbc.Container(dash.page_container, fluid=True, className="pt-3"),
    ])
