"""/public: the transparency page — aggregate numbers only (never a name, a contact or a report text), and
the agencies' before/after photos of recently resolved reports (dashboard/components/before_after.py). Its
kelurahan map receives open-report counts per kelurahan and nothing else: no report's point, which could
show a citizen's home."""
from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboard import analytics, executive_data, queries
from dashboard.components import before_after, charts
from dashboard.components.maps import map_figure
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
        html.Div(dcc.Graph(id="public-map", config={"displayModeBar": False},
                           style={"maxWidth": "960px", "margin": "0 auto"}), className="card"),
        before_after.gallery(),
    ])


@callback(Output("public-kpis", "children"), Output("public-by-category", "figure"),
          Output("public-by-agency", "figure"), Output("public-by-kecamatan", "figure"),
          Output("public-map", "figure"), Input("public-period", "value"))
def refresh(period):
    """Open to everyone: aggregates only, so no role check. Read from the executive panel's rollup and
    kept for a minute per period: however many visitors, the database sees one read a minute."""
    data = executive_data.shared_figures(analytics.known_period(period), max_age=60)
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
                        horizontal=True),
            public_map())


def public_map() -> dict:
    """Kelurahan shaded by their open reports now: per-kelurahan counts are all this map is given."""
    counts = {code: {"open": n} for code, n in queries.public_kelurahan_open().items()}
    return map_figure(queries.reference_areas(), counts, shade="open", labels={"open": t("open_reports")},
                      dark=False, height=560, title=t("map_kelurahan"), legend_title=t("open_reports"))

