"""/operator: the triage console — the queue by SLA urgency, one report in full, the actions
(verify and forward, reject, merge, ask, reply, split), manual intake and the 112 call-taker form.
Keyboard: V verify & forward, X reject, M merge, A ask, R reply, J/K next/previous report."""
from __future__ import annotations

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update
from flask_login import current_user

from dashboard import actions, auth, console_queries as cq, queries
from dashboard.components.widgets import clicked, clicked_ticket, feedback, options, queue_table, report_card
from dashboard.context import services
from dashboard.i18n import lang, t
from dashboard.layout import denied
from domain.lifecycle import DomainError, RejectReason

dash.register_page(__name__, path="/operator", name="Operator", title="Operator - Tangerang Live Room")


def layout(**_):
    blocked = denied("operator")
    if blocked is not None:
        return blocked
    agencies = list(queries.agency_names().items())
    return html.Div([
        dcc.Store(id="operator-selected"), dcc.Store(id="operator-version", data=0),
        dcc.Interval(id="operator-refresh", interval=3000),
        html.Div([
            html.Div([html.H2(t("queue")), html.Div(id="operator-queue")], className="col card queue-col"),
            html.Div([
                html.Div(html.P(t("select_report"), className="muted"), id="operator-detail"),
                html.Div([
                    html.H3(t("actions")), html.Div(id="operator-feedback"),
                    html.Div([dcc.Dropdown(id="operator-agency", options=options(agencies), placeholder=t("ph_agency"),
                                           style={"minWidth": "260px"}),
                              html.Button([t("verify_forward"), " ", html.Kbd("V")], id="operator-verify",
                                          className="btn ok")], className="form-row"),
                    html.Div([dcc.Dropdown(id="operator-reject-reason", options=options([r.value for r in RejectReason]),
                                           placeholder=t("ph_reject_reason"), style={"minWidth": "200px"}),
                              dcc.Input(id="operator-reject-note", placeholder="catatan"),
                              html.Button([t("reject"), " ", html.Kbd("X")], id="operator-reject",
                                          className="btn danger")], className="form-row"),
                    html.Div([dcc.Input(id="operator-merge-into", placeholder="TLR-2026-000123"),
                              html.Button([t("merge"), " ", html.Kbd("M")], id="operator-merge", className="btn")],
                             className="form-row"),
                    html.Div([dcc.Input(id="operator-question", placeholder="pertanyaan ke warga", style={"flex": 1}),
                              html.Button([t("ask"), " ", html.Kbd("A")], id="operator-ask", className="btn")],
                             className="form-row"),
                    html.Div([dcc.Dropdown(id="operator-template", options=options(list(actions.TEMPLATES)),
                                           placeholder=t("ph_template"), style={"minWidth": "180px"}),
                              dcc.Textarea(id="operator-reply-text", placeholder="balasan"),
                              html.Button([t("reply"), " ", html.Kbd("R")], id="operator-reply", className="btn")],
                             className="form-row"),
                    html.Div([dcc.Input(id="operator-split-message", type="number", placeholder="# pesan"),
                              html.Button(t("split"), id="operator-split", className="btn secondary")],
                             className="form-row"),
                ], className="card"),
            ], className="col-2"),
        ], className="row"),
        html.Div([html.H3(t("incidents")), html.P(t("incident_help"), className="muted"),
                  dcc.Store(id="operator-incident-version", data=0),
                  html.Div(id="operator-incident-feedback"), html.Div(id="operator-incidents")],
                 className="card", id="operator-incident-card"),
        html.Div([_intake_form(), _call_form()], className="row"),
    ])


def _intake_form():
    return html.Div([
        html.H3(t("intake")), html.Div(id="operator-intake-feedback"),
        html.Div([dcc.Dropdown(id="operator-intake-channel", options=options(actions.MANUAL_CHANNELS),
                               value="walk_in", clearable=False, style={"minWidth": "160px"}),
                  dcc.Input(id="operator-intake-name", placeholder="nama"),
                  dcc.Input(id="operator-intake-phone", placeholder="telepon"),
                  dcc.Input(id="operator-intake-location", placeholder="lokasi")], className="form-row"),
        dcc.Textarea(id="operator-intake-text", placeholder="isi laporan"),
        html.Button(t("submit"), id="operator-intake-submit", className="btn"),
    ], className="col card")


def _call_form():
    return html.Div([
        html.H3(t("call112")), html.Div(id="operator-call-feedback"),
        html.Div([dcc.Input(id="operator-call-phone", placeholder="nomor penelepon"),
                  dcc.Input(id="operator-call-location", placeholder="lokasi kejadian")], className="form-row"),
        dcc.Textarea(id="operator-call-text", placeholder="apa yang terjadi"),
        html.Div([html.Button("Mulai panggilan", id="operator-call-start", className="btn danger"),
                  dcc.Input(id="operator-call-ticket", placeholder="tiket panggilan"),
                  dcc.Input(id="operator-call-summary", placeholder="ringkasan"),
                  html.Button("Akhiri panggilan", id="operator-call-end", className="btn secondary")],
                 className="form-row"),
    ], className="col card")


@callback(Output("operator-queue", "children"), Input("operator-refresh", "n_intervals"),
          Input("operator-version", "data"), Input("operator-selected", "data"),
          Input("operator-incident-version", "data"))
@auth.guard("operator")
def refresh_queue(_n, _version, selected, _incident_version):
    return queue_table("operator", cq.queue(cq.TRIAGE + ["ASSIGNED"]), selected,
                       columns=("ticket", "priority", "status", "channel", "category", "received"))


@callback(Output("operator-incidents", "children"), Input("operator-refresh", "n_intervals"),
          Input("operator-incident-version", "data"))
@auth.guard("operator")
def incidents(_n, _version):
    """The active incident alerts (several reports of one category in one kelurahan), each with its reports
    and one button per decision for all of them."""
    from routing.incidents import active_incidents

    with services().reads() as s:  # one read for the alerts and their reports
        alerts = [(a, actions.incident(a["id"], s)["reports"]) for a in active_incidents(s, queries.now(), limit=8)]
    if not alerts:
        return html.P(t("no_incident"), className="muted")
    english = lang() == "en"
    out = []
    for a, reports in alerts:
        buttons = [html.Button(t(f"incident_{name}"), id={"type": "operator-incident", "action": name, "id": a["id"]},
                               n_clicks=0, className=f"btn {style}")
                   for name, style in (("merge", ""), ("forward", "ok"), ("close", "secondary"))]
        out.append(html.Div([
            html.B(f"{a['category_label_en'] if english else a['category_label']} · {a['kelurahan']} ({a['kecamatan']}) · "
                   f"{a['count']} {t('reports').lower()} · {a['priority']} · {a['last']} WIB"),
            html.Ul([html.Li(f"{r['ticket']} · {r['status']} · {r['channel']} — {r['text']}") for r in reports]),
            html.Div(buttons, className="form-row")], className="incident-box", id=f"operator-incident-{a['id']}"))
    return out


@callback(Output("operator-incident-feedback", "children"), Output("operator-incident-version", "data"),
          Input({"type": "operator-incident", "action": ALL, "id": ALL}, "n_clicks"),
          State("operator-incident-version", "data"), prevent_initial_call=True)
@auth.guard("operator")
@auth.writer
def act_on_incident(_clicks, version):
    button = clicked()
    if button is None:
        return no_update, no_update
    action, alert_id = button["action"], button["id"]
    try:
        result = actions.handle_incident(current_user.actor, alert_id, action)
    except DomainError as exc:
        return feedback(str(exc), ok=False), no_update
    message = f"{t('done')}: #{alert_id} {t('incident_' + action)}"
    if result["done"]:
        message += f" — {', '.join(result['done'])}" + (f" → {result['into']}" if result["into"] else "")
    skipped = [html.Li(f"{ticket}: {reason}") for ticket, reason in result["skipped"]]
    return html.Div([feedback(message), html.Ul(skipped) if skipped else None]), (version or 0) + 1


@callback(Output("operator-selected", "data"), Input({"type": "operator-row", "ticket": ALL}, "n_clicks"),
          prevent_initial_call=True)
@auth.guard("operator")
def select(clicks):
    return clicked_ticket()


@callback(Output("operator-detail", "children"), Output("operator-agency", "value"),
          Input("operator-selected", "data"), Input("operator-version", "data"))
@auth.guard("operator")
def show(ticket, _version):
    if not ticket:
        return html.P(t("select_report"), className="muted"), no_update
    try:
        d = cq.detail(ticket, auth.role())
    except DomainError as exc:
        return feedback(str(exc), ok=False), no_update
    suggested = d["routing"].get("agency") or d["agency"]
    return report_card("operator", d, queries.reference_areas()), suggested


@callback(Output("operator-reply-text", "value"), Input("operator-template", "value"), prevent_initial_call=True)
@auth.guard("operator")
def use_template(name):
    return actions.TEMPLATES.get(name, no_update)


@callback(Output("operator-feedback", "children"), Output("operator-version", "data"),
          Input("operator-verify", "n_clicks"), Input("operator-reject", "n_clicks"),
          Input("operator-merge", "n_clicks"), Input("operator-ask", "n_clicks"),
          Input("operator-reply", "n_clicks"), Input("operator-split", "n_clicks"),
          State("operator-selected", "data"), State("operator-agency", "value"),
          State("operator-reject-reason", "value"), State("operator-reject-note", "value"),
          State("operator-merge-into", "value"), State("operator-question", "value"),
          State("operator-reply-text", "value"), State("operator-split-message", "value"),
          State("operator-version", "data"), prevent_initial_call=True)
@auth.guard("operator")
@auth.writer
def act(_v, _x, _m, _a, _r, _s, ticket, agency, reason, note, into, question, reply_text, message_id, version):
    if not ticket:
        return feedback(t("select_report"), ok=False), no_update
    actor, wf = current_user.actor, services().workflow
    try:
        match ctx.triggered_id:
            case "operator-verify":
                wf.verify_and_assign(ticket, actor, agency)
                message = f"{ticket} → {agency or 'agency'}"
            case "operator-reject":
                wf.reject(ticket, actor, reason or "", note)
                message = f"{ticket} ditolak ({reason})"
            case "operator-merge":
                wf.merge(ticket, actor, into or "")
                message = f"{ticket} → {into}"
            case "operator-ask":
                wf.ask_citizen(ticket, actor, question or "")
                actions.reply(actor, ticket, question or "")
                message = f"{ticket}: menunggu warga"
            case "operator-reply":
                actions.reply(actor, ticket, reply_text or "")
                message = f"{ticket}: balasan dikirim ke antrean keluar"
            case "operator-split":
                new = actions.split(actor, ticket, int(message_id or 0))
                message = f"{ticket}: dipisah menjadi {new.ticket}"
            case _:
                return no_update, no_update
    except (DomainError, ValueError) as exc:
        return feedback(str(exc), ok=False), no_update
    return feedback(message), (version or 0) + 1


@callback(Output("operator-intake-feedback", "children"), Input("operator-intake-submit", "n_clicks"),
          State("operator-intake-channel", "value"), State("operator-intake-name", "value"),
          State("operator-intake-phone", "value"), State("operator-intake-location", "value"),
          State("operator-intake-text", "value"), prevent_initial_call=True)
@auth.guard("operator")
@auth.writer
def intake(_n, channel, name, phone, location, text):
    try:
        report = actions.submit_manual(current_user.actor, channel, text or "", name=name, phone=phone,
                                       location=location)
    except DomainError as exc:
        return feedback(str(exc), ok=False)
    return feedback(f"{t('done')}: {report.ticket}")


@callback(Output("operator-call-feedback", "children"), Output("operator-call-ticket", "value"),
          Input("operator-call-start", "n_clicks"), Input("operator-call-end", "n_clicks"),
          State("operator-call-phone", "value"), State("operator-call-location", "value"),
          State("operator-call-text", "value"), State("operator-call-ticket", "value"),
          State("operator-call-summary", "value"), prevent_initial_call=True)
@auth.guard("operator")
@auth.writer
def call(_start, _end, phone, location, text, ticket, summary):
    try:
        if ctx.triggered_id == "operator-call-start":
            report = actions.start_call(current_user.actor, phone, location, text)
            return feedback(f"112: {report.ticket}"), report.ticket
        actions.end_call(current_user.actor, ticket or "", summary)
        return feedback(f"112 {ticket} selesai"), ""
    except DomainError as exc:
        return feedback(str(exc), ok=False), no_update

