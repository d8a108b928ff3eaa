"""/public: the transparency page — aggregate numbers only (never a name, a contact or a report text)."""
from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboard import analytics, executive_data, queries
from dashboard.components import charts
from dashboard.i18n import lang, t

dash.register_page(__name__, path="/public", name="Publik", title="Transparansi - Tangerang Live Room")


def layout(**_):
    return html.Div([
        html.H2(t("public_title")),
        dcc.Dropdown(id="public-period", options=[{"label": k, "value": k} for k in ("7d", "30d", "90d", "365d")],
                     value="30d", clearable=False, style={"maxWidth": "160px"}),
        html.Div(id="public-kpis", className="row"),
        html.Div([html.Div(dcc.Graph(id="public-by-category"), className="col card"),
                  html.Div(dcc.Graph(id="public-by-agency"), className="col card"),
                  html.Div(dcc.Graph(id="public-by-kecamatan"), className="col card")], className="row"),
    ])


@callback(Output("public-kpis", "children"), Output("public-by-category", "figure"),
          Output("public-by-agency", "figure"), Output("public-by-kecamatan", "figure"),
          Input("public-period", "value"))
def refresh(period):
    """Open to everyone: aggregates only, so no role check. Read from the executive panel's rollup and
    kept for a minute per period: however many visitors, the database sees one read a minute."""
    data = executive_data.shared_figures(period if period in analytics.PERIODS else "30d", max_age=60)
    labels, names = queries.category_labels(), queries.agency_names()
    english = lang() == "en"
    by_agency = [(names.get(r["agency"], r["agency"]), r["reports"])
                 for r in sorted(data["league"], key=lambda r: -r["reports"])]
    compliance = data["compliance"]
    kpis = [html.Div([html.Div(t("reports"), className="label"),
                      html.Div(str(sum(n for _, n in by_agency)), className="value", id="public-total")], className="kpi"),
            html.Div([html.Div("SLA", className="label"),
                      html.Div("-" if compliance is None else f"{compliance}%", className="value",
                               id="public-compliance")], className="kpi")]
    return (kpis,
            charts.bars([(labels.get(c, (t("uncategorised"),) * 2 if c == "-" else (c, c))[english], n)
                         for c, n in data["category_code"]],
                        t("by_category"), horizontal=True),
            charts.bars(by_agency, t("by_agency"), horizontal=True),
            charts.bars([(t("unknown_place") if k == "-" else k, n) for k, n in data["kecamatan"]], t("by_kecamatan"),
                        horizontal=True))

