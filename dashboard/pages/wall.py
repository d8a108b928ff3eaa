"""/wall: the control room's wall display (1920x1080 and 3840x2160), also as a kiosk (?kiosk=TOKEN).

One timer a second asks for the change token; the snapshot is recomputed only when the token moved
(dashboard.queries.wall_snapshot), and unchanged parts are not re-sent, so nothing flickers.
A client-side timer shows the WIB clock and a banner when no refresh has succeeded for
WALL_STALE_SECONDS (30): since when, and that the wall is reconnecting. The wall reconnects by itself:
the refresh timer keeps asking while the server is down, an answer refused for an ended session
brings a fresh CSRF token (dashboard/auth.py), the kiosk is recognised by its cookie rather than a
session (dashboard/kiosk.py), and assets/wall_recover.js reloads a page stuck past the banner once
the server answers again.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from dashboard import auth, queries
from dashboard.components import maps
from dashboard.i18n import TEXT, lang, t
from dashboard.layout import denied

dash.register_page(__name__, path="/wall", name="Wall", title="Wall - Tangerang Live Room")

KPIS = [("kpi-open", "open", ""), ("kpi-new-hour", "new_hour", ""), ("kpi-breached", "breached", "red"),
        ("kpi-at-risk", "at_risk", "amber"), ("kpi-resolved-today", "resolved_today", "green"),
        ("kpi-compliance", "compliance", "")]


def layout(kiosk: str | None = None, **_):
    blocked = denied("wall")
    if blocked is not None:
        return blocked
    tiles = [html.Div([html.Div(t(key), className="label"), html.Div("–", id=tid, className="value")],
                      className=f"tile {colour}") for tid, key, colour in KPIS]
    tiles.append(html.Div([html.Div(t("calls"), className="label"), html.Div("–", id="wall-calls", className="value")],
                          className="tile red"))
    return html.Div([
        dcc.Interval(id="wall-refresh", interval=1000),
        dcc.Interval(id="wall-tick", interval=1000),
        dcc.Store(id="wall-token"), dcc.Store(id="wall-heartbeat"), dcc.Store(id="wall-lang", data=lang()),
        dcc.Store(id="wall-scale", data=1.0), dcc.Store(id="wall-stale-after", data=stale_seconds()),
        html.Div([html.Div("TANGERANG LIVE ROOM", className="wall-title"),
                  html.Div(id="wall-clock", className="wall-clock")], className="wall-head"),
        html.Div(t("stale"), id="wall-stale", className="stale hidden"),
        html.Div(t("worker_down"), id="wall-worker", className="stale hidden"),
        html.Div(tiles, className="kpis"),
        html.Div([html.Div([html.H3(t("agency_queue")), html.Div(id="agency-queue")], className="panel"),
                  html.Div([html.H3(t("channels")), html.Div(id="wall-channels")], className="panel")],
                 className="left"),
        html.Div([html.Div([html.H3(t("map")),
                            dcc.Graph(id="wall-map", config={"displayModeBar": False, "staticPlot": False},
                                      style={"height": "62vh"})], className="panel")], className="middle"),
        html.Div([html.Div([html.H3(t("incidents")), html.Div(id="wall-incidents")], className="panel"),
                  html.Div([html.H3(t("ticker")), html.Div(id="ticker")], className="panel")], className="right"),
    ], className="wall", id="wall-root")


def stale_seconds() -> float:
    """After how long without a successful refresh the wall says its data is stale."""
    try:
        return max(1.0, float(os.environ.get("WALL_STALE_SECONDS", "30")))
    except ValueError:
        return 30.0


OUTPUTS = [Output(tid, "children") for tid, _, _ in KPIS] + [
    Output("wall-calls", "children"), Output("agency-queue", "children"), Output("wall-channels", "children"),
    Output("wall-map", "figure"), Output("wall-incidents", "children"), Output("ticker", "children"),
    Output("wall-worker", "className"), Output("wall-token", "data"), Output("wall-heartbeat", "data"),
]


@callback(*OUTPUTS, Input("wall-refresh", "n_intervals"), State("wall-token", "data"), State("wall-lang", "data"),
          State("wall-scale", "data"))
@auth.guard("wall")
def refresh(_n, shown_token, language, scale=1.0):
    """Send the wall what changed since `shown_token` (nothing but a heartbeat when nothing did)."""
    moment = queries.now()
    scale, language = _scale(scale), language or "id"
    areas = queries.reference_areas()
    # The map is drawn once per screen size, language and set of outlines; after that only its colours,
    # hover texts and points travel (maps.map_patch).
    drawing = f"{scale}@{language}@{_outline_key(areas)}"
    token = f"{queries.change_token(moment)}@{drawing}"
    heartbeat = moment.isoformat()
    if token == shown_token:
        return [no_update] * (len(OUTPUTS) - 1) + [heartbeat]
    patch = maps.patchable() and isinstance(shown_token, str) and shown_token.split("@", 1)[-1] == drawing
    snap = queries.wall_snapshot(token.split("@", 1)[0], moment)
    return render(snap, language, scale, areas, patch=patch, shown=shown_token, token=token) + [token, heartbeat]


def _outline_key(areas: list[dict]) -> int:
    return hash(tuple((a["kode"], sum(len(xs) for xs, _ in a["outline"])) for a in areas))


def _scale(value) -> float:
    """The screen's width / 1920 as the browser measured it, in steps of 0.25 (a 4K wall: 2)."""
    try:
        return min(4.0, max(0.5, round(float(value) * 4) / 4))
    except (TypeError, ValueError):
        return 1.0


def render(snap: dict, language: str, scale: float = 1.0, areas: list[dict] | None = None, patch: bool = False,
           shown: str | None = None, token: str | None = None) -> list:
    kpi = snap["kpi"]
    values = [f"{kpi['open']:,}".replace(",", "."), kpi["new_hour"], kpi["breached"], kpi["at_risk"],
              kpi["resolved_today"], "–" if kpi["compliance"] is None else f"{kpi['compliance']:.0f}%"]
    return [*map(str, values), str(snap["calls"]), _queue(snap["agencies"]), _channels(snap["channels"]),
            _map(snap, language, scale, areas or queries.reference_areas(), patch, shown, token),
            _incidents(snap["incidents"], language), _ticker(snap["ticker"], language),
            "stale hidden" if snap["worker_ok"] else "stale"]


def _map(snap: dict, language: str, scale: float, areas: list[dict], patch: bool, shown: str | None = None,
         token: str | None = None):
    """Kelurahan shaded by open reports (hover: open reports by priority), the open reports' points on top.
    A screen that has the drawing gets only what changed since the figure it shows (`_sent`)."""
    def say(key):
        return TEXT[key][language == "en"]
    labels = {"open": say("open"), **{p: p for p in ("P1", "P2", "P3", "P4")}}
    state = maps.map_state(areas, snap["kelurahan"], snap["points"], labels=labels, scale=scale)
    with _sent_lock:
        since = _sent.get(shown) if patch else None
        if token:
            _sent[token] = state
            while len(_sent) > 32:
                _sent.popitem(last=False)
    if patch:
        return maps.map_patch(state, since)
    return maps.map_figure(areas, snap["kelurahan"], snap["points"], labels=labels, scale=scale,
                           legend_title=say("open_reports"))


# What the map of each recent token showed: a screen showing one of them gets only the difference.
_sent: OrderedDict[str, dict] = OrderedDict()
_sent_lock = threading.Lock()


def _queue(agencies: dict) -> list:
    rows = sorted(agencies.items(), key=lambda kv: (-kv[1]["red"], -kv[1]["amber"], -kv[1]["open"]))
    top = max((e["open"] for _, e in rows), default=1) or 1
    out = []
    for code, e in rows[:14]:
        segments = [html.Span(className=f"seg-{c}", style={"width": f"{100 * e[c] / top:.1f}%"}, title=f"{c}: {e[c]}")
                    for c in ("red", "amber", "green") if e[c]]
        out.append(html.Div([html.Span(code), html.Div(segments, className="bar"),
                             html.Span(f"{e['open']}", title=f"merah {e['red']} / kuning {e['amber']} / hijau {e['green']}")],
                            className="queue-row", id={"type": "agency-row", "code": code}))
    return out or [html.Div("–")]


def _channels(channels: list) -> list:
    total = sum(n for _, n in channels) or 1
    return [html.Div([html.Span(c), html.Div(html.Span(className="seg-green", style={"width": f"{100 * n / total:.0f}%"}),
                                            className="bar"), html.Span(str(n))], className="queue-row")
            for c, n in channels[:8]] or [html.Div("–")]


def _incidents(incidents: list, language: str) -> list:
    labels = queries.category_labels()
    if not incidents:
        return [html.Div(t("no_incident"), className="muted")]
    return [html.Div([html.B(f"{labels.get(i['category'], (i['category'],) * 2)[language == 'en']} · {i['place']}"),
                      html.Div(f"{i['count']} laporan · {i['priority']} · {i['last']} WIB")], className="incident")
            for i in incidents]


def _ticker(items: list, language: str) -> list:
    """Category · kelurahan (kecamatan) · channel, with priority and time: never a citizen's words."""
    out = []
    for i in items:
        place = i["kelurahan"] or i["kecamatan"] or "-"
        if i["kelurahan"] and i["kecamatan"]:
            place = f"{i['kelurahan']} ({i['kecamatan']})"
        out.append(html.Div([html.Span(i["at"], className="tk"),
                             html.Span(i["priority"], className=f"badge {i['priority']}"),
                             html.Span(f" {i['category_en'] if language == 'en' else i['category']}", className="tk-category"),
                             html.Span(f" · {place}", className="tk-place"),
                             html.Span(f" · {i['channel']}", className="tk-channel")], className="ticker-item"))
    return out


clientside_callback(
    "function(n) { return Math.max(window.innerWidth, 640) / 1920; }",
    Output("wall-scale", "data"), Input("wall-tick", "n_intervals"),
)


clientside_callback(
    """
    function(n, heartbeat, language, staleAfter) {
        const now = new Date();
        const en = language === 'en';
        const zone = {timeZone: 'Asia/Jakarta'};
        const fmt = new Intl.DateTimeFormat(en ? 'en-GB' : 'id-ID', Object.assign({weekday: 'long', day: 'numeric',
            month: 'long', hour: '2-digit', minute: '2-digit', second: '2-digit'}, zone));
        const ctx = window.dash_clientside.callback_context;
        // kept in sessionStorage so that a reload during an outage does not hide the banner
        const store = window.sessionStorage;
        if (heartbeat && ctx.triggered.some(t => t.prop_id === 'wall-heartbeat.data')) {
            store.setItem('wallLastOk', String(Date.now()));
        }
        let last = parseInt(store.getItem('wallLastOk') || '0', 10);
        if (!last) { last = Date.now(); store.setItem('wallLastOk', String(last)); }
        const stale = Date.now() - last > (staleAfter || 30) * 1000;
        window.__wallStale = stale;
        const since = new Intl.DateTimeFormat(en ? 'en-GB' : 'id-ID', Object.assign({hour: '2-digit', minute: '2-digit',
            second: '2-digit'}, zone)).format(new Date(last));
        const text = en ? 'DATA NOT UPDATING since ' + since + ' WIB: reconnecting to the server…'
                        : 'DATA TIDAK TERBARUI sejak ' + since + ' WIB: menyambung kembali ke server…';
        return [fmt.format(now) + ' WIB', stale ? 'stale' : 'stale hidden', text];
    }
    """,
    Output("wall-clock", "children"), Output("wall-stale", "className"), Output("wall-stale", "children"),
    Input("wall-tick", "n_intervals"), Input("wall-heartbeat", "data"), State("wall-lang", "data"),
    State("wall-stale-after", "data"),
)
