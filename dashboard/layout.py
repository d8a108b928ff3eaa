"""The page shell: a thin navigation bar (links by role; the pages check roles themselves)."""
from __future__ import annotations

from urllib.parse import quote

import dash
from dash import dcc, html
from flask import has_request_context, request
from flask_login import current_user

from dashboard import auth
from dashboard.i18n import lang, t

NAV = [("wall", "/wall"), ("operator", "/operator"), ("agency", "/agency"), ("supervisor", "/supervisor"),
       ("executive", "/executive"), ("ops", "/ops"), ("public", "/public")]


def shell():
    if not has_request_context():  # Dash validates the layout once at start-up
        return html.Div([dcc.Location(id="shell-location"), html.Main(dash.page_container, className="page")])
    kiosk = auth.role() == "kiosk"
    return html.Div([
        dcc.Location(id="shell-location"),
        None if kiosk else navbar(),
        html.Main(dash.page_container, className="page"),
    ], className="kiosk" if kiosk else "")


def navbar():
    role = auth.role()
    links = [html.A(t(page), href=href, className="nav-link", id=f"shell-nav-{page}")
             for page, href in NAV if auth.allowed(page)]
    other = "en" if lang() == "id" else "id"
    here = _current_path()
    # the tracking page's address holds its ticket and code: the page never repeats it; /lang goes back
    # to the page it was clicked on (its Referer) instead
    toggle = f"/lang/{other}" if here.startswith("/lacak/") else f"/lang/{other}?next=" + quote(here, safe="/")
    right = [html.A(other.upper(), href=toggle, id="shell-lang", className="nav-link")]
    if role:
        right += [html.Span(f"{current_user.username} ({role})", className="nav-user", id="shell-user"),
                  html.Form([dcc.Input(type="hidden", name="csrf_token", value=auth.csrf_token()),
                             html.Button(t("logout"), type="submit", id="shell-logout", className="btn-link")],
                            method="POST", action="/logout", className="inline")]
    else:
        right.append(html.A(t("login"), href="/login", className="nav-link", id="shell-login"))
    return html.Nav([html.A("Tangerang Live Room", href="/", className="brand"), html.Div(links, className="nav"),
                     html.Div(right, className="nav right")], className="navbar")


def denied(page: str):
    """The layout to show instead of a page the visitor may not open (None when allowed)."""
    if not has_request_context() or auth.allowed(page):  # no request: Dash building its validation layout
        return None
    return html.Div([html.H2(t("forbidden")), html.P(t("forbidden_text")),
                     html.A(t("login"), href=f"/login?next=/{page}")], id=f"{page}-denied", className="denied")


def _current_path() -> str:
    """The page the browser shows, with its query (the tracking page's code): the layout is fetched by
    /_dash-layout from that page."""
    from urllib.parse import urlparse

    url = urlparse(request.referrer or "/")
    path = url.path if url.path.startswith("/") else "/"
    return path + (f"?{url.query}" if url.query else "")
