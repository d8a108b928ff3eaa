"""/supervisor: breached and at-risk reports (filters), each with its timeline and the agency's
explanation; deadline-extension decisions; the ping-pong list; agency performance; CSV/XLSX export."""
from __future__ import annotations

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update
from flask_login import current_user

from dashboard import actions, analytics, auth, console_queries as cq, executive_data, exports, queries
from dashboard.components.widgets import clicked_ticket, data_table, feedback, options
from dashboard.i18n import t
from dashboard.layout import denied
from domain.lifecycle import DomainError

dash.register_page(__name__, path="/supervisor", name="Supervisor", title="Supervisor - Tangerang Live Room")
COLUMNS = ["ticket", "sla", "stage", "due", "late_minutes", "agency", "category", "kecamatan", "status", "priority",
           "transfers"]


def layout(**_):
    blocked = denied("supervisor")
    if blocked is not None:
        return blocked
    kecamatan = sorted({a["kecamatan"] for a in queries.reference_areas()})
    return html.Div([
        dcc.Interval(id="supervisor-refresh", interval=10_000), dcc.Download(id="supervisor-download"),
        html.H2(t("breaches")),
        html.Div([
            dcc.Dropdown(id="supervisor-agency", options=options(list(queries.agency_names())), placeholder=t("ph_agency"),
                         style={"minWidth": "160px"}),
            dcc.Dropdown(id="supervisor-category", options=options(list(queries.category_labels())),
                         placeholder=t("ph_category"), style={"minWidth": "160px"}),
            dcc.Dropdown(id="supervisor-kecamatan", options=options(kecamatan), placeholder="kecamatan",
                         style={"minWidth": "160px"}),
            dcc.Dropdown(id="supervisor-stage", options=options(["acknowledge", "dispatch", "resolve"]),
                         placeholder=t("ph_stage"), style={"minWidth": "140px"}),
            dcc.Dropdown(id="supervisor-period", options=options(list(analytics.PERIODS)), value="30d",
                         clearable=False, style={"minWidth": "100px"}),
            html.Button(t("export_csv"), id="supervisor-csv", className="btn secondary"),
            html.Button(t("export_xlsx"), id="supervisor-xlsx", className="btn secondary"),
        ], className="form-row no-print"),
        html.Div([
            html.Div(html.Div(id="supervisor-breaches"), className="col-2 card"),
            html.Div([dcc.Input(id="supervisor-ticket", placeholder="tiket", debounce=True),
                      html.Div(id="supervisor-timeline")], className="col card"),
        ], className="row"),
        html.Div([
            html.Div([html.H3(t("pending_ext")), html.Div(id="supervisor-ext-feedback"),
                      html.Div([dcc.Input(id="supervisor-ext-id", type="number", placeholder="#"),
                                dcc.Input(id="supervisor-ext-note", placeholder="catatan"),
                                html.Button(t("approve"), id="supervisor-approve", className="btn ok"),
                                html.Button(t("refuse"), id="supervisor-refuse", className="btn danger")],
                               className="form-row"),
                      html.Div(id="supervisor-extensions")], className="col card"),
            html.Div([html.H3(t("pingpong")), html.Div(id="supervisor-pingpong")], className="col card"),
        ], className="row"),
        html.Div([html.H3(t("performance")), html.Div(id="supervisor-performance")], className="card"),
    ])


def _filters(agency, category, kecamatan, stage, period):
    start = analytics.period_start(period or "30d", queries.now())
    return analytics.breaches(agency=agency, category=category, kecamatan=kecamatan, stage=stage, start=start)


def _cell(row: dict, column: str):
    value = row[column]
    if column == "sla":
        return html.Span(value, className=f"badge sla-{value}")
    if column == "ticket":  # a click shows the report's timeline
        return html.Button(value, id={"type": "supervisor-ticket-link", "ticket": value}, n_clicks=0,
                           className="btn link")
    return str(value if value is not None else "-")


def _table(table_id, rows, columns):
    return data_table(table_id, rows, columns, _cell)


@callback(Output("supervisor-ticket", "value"), Input({"type": "supervisor-ticket-link", "ticket": ALL}, "n_clicks"),
          prevent_initial_call=True)
@auth.guard("supervisor")
def pick_ticket(clicks):
    return clicked_ticket()


@callback(Output("supervisor-breaches", "children"), Output("supervisor-pingpong", "children"),
          Output("supervisor-performance", "children"), Output("supervisor-extensions", "children"),
          Input("supervisor-refresh", "n_intervals"), Input("supervisor-agency", "value"),
          Input("supervisor-category", "value"), Input("supervisor-kecamatan", "value"),
          Input("supervisor-stage", "value"), Input("supervisor-period", "value"),
          Input("supervisor-ext-feedback", "children"))
@auth.guard("supervisor")
def refresh(_n, agency, category, kecamatan, stage, period, _fb):
    rows = _filters(agency, category, kecamatan, stage, period)
    moment = queries.now()
    start = analytics.period_start(period or "30d", moment)
    return (_table("supervisor-breaches-table", rows, COLUMNS),
            _table("supervisor-pingpong-table", analytics.ping_pong(), ["ticket", "agency", "status", "transfers",
                                                                         "category"]),
            _table("supervisor-performance-table", executive_data.figures(start, moment)["league"],
                   ["agency", "reports", "open", "accept_min", "resolve_h", "compliance", "satisfaction"]),
            _table("supervisor-extensions-table", cq.pending_extensions(),
                   ["id", "ticket", "agency", "stage", "minutes", "code", "reason", "by", "at"]))


@callback(Output("supervisor-timeline", "children"), Input("supervisor-ticket", "value"))
@auth.guard("supervisor")
def show_timeline(ticket):
    if not ticket:
        return html.P(t("timeline") + ": " + t("select_report"), className="muted")
    ticket = ticket.strip().upper()
    events = cq.timeline(ticket)
    explanations = cq.breaches_of(ticket)
    return html.Div([
        html.H3(f"{t('timeline')} {ticket}"),
        html.Ul([html.Li(f"{e['at']} · {e['type']} · {e['actor']} ({e['role']}) {e['change']} {e['reason']}")
                 for e in events], id="supervisor-timeline-list"),
        html.H4(t("explain")),
        html.Ul([html.Li(f"{b['stage']}/{b['level']} due {b['due']}: {b['code'] or '-'} {b['explanation']}")
                 for b in explanations]) if explanations else html.P("-", className="muted"),
    ])


@callback(Output("supervisor-ext-feedback", "children"), Input("supervisor-approve", "n_clicks"),
          Input("supervisor-refuse", "n_clicks"), State("supervisor-ext-id", "value"),
          State("supervisor-ext-note", "value"), prevent_initial_call=True)
@auth.guard("supervisor")
@auth.writer
def decide(_a, _r, request_id, note):
    try:
        actions.decide_extension(current_user.actor, int(request_id or 0), ctx.triggered_id == "supervisor-approve",
                                 note)
    except (DomainError, ValueError) as exc:
        return feedback(str(exc), ok=False)
    return feedback(f"{t('done')}: #{request_id}")


@callback(Output("supervisor-download", "data"), Input("supervisor-csv", "n_clicks"),
          Input("supervisor-xlsx", "n_clicks"), State("supervisor-agency", "value"),
          State("supervisor-category", "value"), State("supervisor-kecamatan", "value"),
          State("supervisor-stage", "value"), State("supervisor-period", "value"), prevent_initial_call=True)
@auth.guard("supervisor")
def export(_csv, _xlsx, agency, category, kecamatan, stage, period):
    rows = _filters(agency, category, kecamatan, stage, period)
    if ctx.triggered_id == "supervisor-csv":
        return dict(content=exports.to_csv(rows, COLUMNS), filename="sla-breaches.csv", type="text/csv")
    if ctx.triggered_id == "supervisor-xlsx":
        return dcc.send_bytes(exports.to_xlsx(rows, COLUMNS), "sla-breaches.xlsx")
    return no_update
