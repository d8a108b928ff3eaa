"""/executive: the executive information panel — KPIs against targets, trends, the agency league
table, hour x weekday heatmap, kelurahan map (open reports now), channel adoption, satisfaction, recurring problems;
period selector; export to PNG (the whole panel, client-side) and PDF (the browser's print)."""
from __future__ import annotations

import os

import dash
from dash import Input, Output, callback, clientside_callback, dcc, html

from dashboard import analytics, auth, executive_data, queries
from dashboard.components import charts
from dashboard.components.maps import map_figure
from dashboard.i18n import column, t
from dashboard.layout import denied

dash.register_page(__name__, path="/executive", name="Executive", title="Executive - Tangerang Live Room")
TARGET_COMPLIANCE = float(os.environ.get("TARGET_SLA_COMPLIANCE", "90"))
TARGET_SATISFACTION = float(os.environ.get("TARGET_SATISFACTION", "80"))
APPROXIMATE = ("Median perkiraan dari histogram durasi (kelas tetap) / approximate median from a duration "
               "histogram (fixed buckets)")
GRAPHS = ["daily", "weekly", "heatmap", "kecamatan", "channels", "categories"]


def layout(**_):
    blocked = denied("executive")
    if blocked is not None:
        return blocked
    return html.Div([
        html.Div([html.H2("Panel Informasi Eksekutif", style={"margin": 0}),
                  dcc.Dropdown(id="executive-period", options=[{"label": k, "value": k} for k in analytics.PERIODS],
                               value="30d", clearable=False, style={"minWidth": "110px"}),
                  html.Button(t("export_png"), id="executive-png", className="btn secondary"),
                  html.Button(t("export_pdf"), id="executive-pdf", className="btn secondary")],
                 className="form-row no-print"),
        html.Div(id="executive-kpis", className="row"),
        html.Div([html.Div(dcc.Graph(id=f"executive-{g}", config={"displaylogo": False}), className="col card")
                  for g in GRAPHS[:2]], className="row"),
        html.Div([html.Div([html.H3(t("league")), html.Div(id="executive-league")], className="col-2 card"),
                  html.Div(dcc.Graph(id="executive-heatmap", config={"displaylogo": False}), className="col card")],
                 className="row"),
        html.Div([html.Div(dcc.Graph(id=f"executive-{g}", config={"displaylogo": False}), className="col card")
                  for g in GRAPHS[3:]], className="row"),
        html.Div([html.H3(t("recurring")), html.Div(id="executive-recurring")], className="card"),
        html.Div(id="executive-export-done", style={"display": "none"}),
    ], id="executive-panel")


def _kpi(kid, label, value, target=None):
    return html.Div([html.Div(label, className="label"), html.Div(value, className="value", id=f"executive-kpi-{kid}"),
                     html.Div(f"target {target}" if target else "", className="target")], className="kpi")


@callback(Output("executive-kpis", "children"), Output("executive-league", "children"),
          Output("executive-daily", "figure"), Output("executive-weekly", "figure"),
          Output("executive-heatmap", "figure"), Output("executive-kecamatan", "figure"),
          Output("executive-channels", "figure"), Output("executive-categories", "figure"),
          Output("executive-recurring", "children"), Input("executive-period", "value"))
@auth.guard("executive")
def refresh(period):
    return panel(period or "30d")


def panel(period: str) -> tuple:
    """Every figure of the panel for one period (also what bench/bench_dashboard.py times)."""
    moment = queries.now()
    data = executive_data.figures(analytics.period_start(period, moment), moment)
    league, compliance, sat, days = data["league"], data["compliance"], data["satisfaction"], data["daily"]
    total = sum(r["reports"] for r in league)
    kpis = [_kpi("reports", t("reports"), f"{total:,}".replace(",", ".")),
            _kpi("open", t("open"), str(sum(r["open"] for r in league))),
            _kpi("compliance", "SLA", "-" if compliance is None else f"{compliance}%", f"{TARGET_COMPLIANCE:.0f}%"),
            _kpi("satisfaction", t("satisfaction"), "-" if sat["index"] is None else f"{sat['index']}",
                 f"{TARGET_SATISFACTION:.0f}"),
            _kpi("ratings", t("ratings"), str(sat["ratings"]))]
    names = queries.agency_names()
    league_table = html.Table(
        [html.Thead(html.Tr([html.Th(h, title=APPROXIMATE if h.startswith("≈") else None)
                                     for h in ["#"] + [column(c) for c in ("agency", "reports", "open", "accept_min",
                                                                           "resolve_h", "compliance", "satisfaction")]]))]
        + [html.Tbody([html.Tr([html.Td(i + 1), html.Td(names.get(r["agency"], r["agency"])), html.Td(r["reports"]),
                                html.Td(r["open"]), html.Td(r["accept_min"] if r["accept_min"] is not None else "-"),
                                html.Td(r["resolve_h"] if r["resolve_h"] is not None else "-"),
                                html.Td(r["compliance"] if r["compliance"] is not None else "-"),
                                html.Td(r["satisfaction"] if r["satisfaction"] is not None else "-")])
                       for i, r in enumerate(league)])], className="data", id="executive-league-table")
    kec_fig = map_figure(queries.reference_areas(), queries.kelurahan_load(), shade="open", dark=False, height=360,
                         labels={"open": t("open"), "red": t("breached"), "amber": t("at_risk")},
                         title=t("map_kelurahan"), legend_title=t("open_reports"))
    labels = queries.category_labels()
    recurring = data["recurring"]
    area_names = {a["kode"]: a["kelurahan"] for a in queries.reference_areas()}
    return (kpis, league_table, charts.daily(days, t("trend_daily")), charts.weekly(days, t("trend_weekly")),
            charts.heatmap(data["heatmap"], t("heatmap")), kec_fig,
            charts.bars(data["channel"], t("adoption")),
            charts.bars([(labels.get(c, (c,))[0], n) for c, n in data["category_code"]],
                        t("by_category"), horizontal=True),
            html.Ul([html.Li(f"{labels.get(r['category'], (r['category'],))[0]} · "
                             f"{area_names.get(r['place'], r['place'])}: {r['reports']}") for r in recurring]
                    or [html.Li(t("none"))]))


# PNG: every chart drawn by Plotly.toImage onto one canvas under the KPI line; PDF: the browser's print.
clientside_callback(
    """
    async function(png, pdf) {
        const ctx = window.dash_clientside.callback_context;
        const which = ctx.triggered.length ? ctx.triggered[0].prop_id : '';
        if (which.startsWith('executive-pdf')) { window.print(); return 'pdf'; }
        if (!which.startsWith('executive-png')) { return window.dash_clientside.no_update; }
        const graphs = Array.from(document.querySelectorAll('#executive-panel .js-plotly-plot'));
        const width = 1000, each = 320, head = 60;
        const canvas = document.createElement('canvas');
        canvas.width = width; canvas.height = head + each * graphs.length;
        const c = canvas.getContext('2d');
        c.fillStyle = '#fff'; c.fillRect(0, 0, canvas.width, canvas.height);
        c.fillStyle = '#111'; c.font = '16px sans-serif';
        const kpis = Array.from(document.querySelectorAll('#executive-kpis .kpi')).map(k => k.innerText.replace(/\\n/g, ' ')).join('   |   ');
        c.fillText('Panel Informasi Eksekutif - ' + new Date().toISOString().slice(0, 10), 10, 22);
        c.fillText(kpis, 10, 48);
        for (let i = 0; i < graphs.length; i++) {
            const url = await Plotly.toImage(graphs[i], {format: 'png', width: width, height: each});
            const img = new Image();
            await new Promise(r => { img.onload = r; img.src = url; });
            c.drawImage(img, 0, head + i * each);
        }
        const a = document.createElement('a');
        a.href = canvas.toDataURL('image/png'); a.download = 'panel-eksekutif.png'; a.click();
        return 'png';
    }
    """,
    Output("executive-export-done", "children"), Input("executive-png", "n_clicks"), Input("executive-pdf", "n_clicks"),
    prevent_initial_call=True,
)
