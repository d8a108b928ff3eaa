"""/agency: an agency officer's reports only — accept, update progress, evidence photos, resolve with a
note, request a transfer, ask for a deadline extension, explain a breach. Supervisors and admins pick
the agency; an officer is bound to theirs on the server (the callbacks never trust the page)."""
from __future__ import annotations

import base64

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update
from flask import abort
from flask_login import current_user

from dashboard import actions, auth, console_queries as cq, queries
from dashboard.components.widgets import clicked_ticket, feedback, options, queue_table, report_card
from dashboard.context import services
from dashboard.i18n import lang, t
from dashboard.layout import denied
from domain.lifecycle import DomainError

dash.register_page(__name__, path="/agency", name="Agency", title="Agency - Tangerang Live Room")
AGENCY_STATUSES = ["ASSIGNED", "ACCEPTED", "IN_PROGRESS", "WAITING_CITIZEN"]
# evidence photos as the city publishes them: before and after the work (the tracking and public pages)
EVIDENCE_LABELS = {"before": ("Foto sebelum", "Photo before"), "after": ("Foto sesudah", "Photo after")}


def bound_agency(chosen: str | None) -> str | None:
    """The agency whose reports this user may see: an officer's own, whatever the page sent."""
    if auth.role() == "agency_officer":
        return current_user.agency_code
    return chosen


def layout(**_):
    blocked = denied("agency")
    if blocked is not None:
        return blocked
    officer = auth.role() == "agency_officer"
    agencies = list(queries.agency_names().items())
    transfer_targets = list(agencies)
    if officer:  # shown for clarity only: the server binds an officer to their agency
        agencies = [(current_user.agency_code, queries.agency_names().get(current_user.agency_code, ""))]
    picker = html.Div([html.H2(t("agency")),
                       dcc.Dropdown(id="agency-pick", options=options(agencies), disabled=officer,
                                    value=agencies[0][0] if agencies else None, clearable=False,
                                    style={"minWidth": "420px"})], className="form-row")
    return html.Div([
        dcc.Store(id="agency-selected"), dcc.Store(id="agency-version", data=0),
        dcc.Interval(id="agency-refresh", interval=3000),
        picker,
        html.Div([
            html.Div([html.H3(t("queue")), html.Div(id="agency-queue")], className="col card queue-col"),
            html.Div([
                html.Div(html.P(t("select_report"), className="muted"), id="agency-detail"),
                html.Div([
                    html.H3(t("actions")), html.Div(id="agency-feedback"),
                    html.Div([html.Button(t("accept"), id="agency-accept", className="btn ok"),
                              dcc.Input(id="agency-progress-note", placeholder="progres", style={"flex": 1}),
                              html.Button(t("progress"), id="agency-progress", className="btn")], className="form-row"),
                    html.Div([dcc.Textarea(id="agency-resolve-note", placeholder="catatan penyelesaian"),
                              html.Button(t("resolve"), id="agency-resolve", className="btn ok")], className="form-row"),
                    html.Div([dcc.Dropdown(id="agency-transfer-to", options=options(transfer_targets), placeholder="ke",
                                           style={"minWidth": "220px"}),
                              dcc.Input(id="agency-transfer-reason", placeholder="alasan", style={"flex": 1}),
                              html.Button(t("transfer"), id="agency-transfer", className="btn secondary")],
                             className="form-row"),
                    html.Div([dcc.Dropdown(id="agency-ext-stage", options=options(["dispatch", "resolve"]),
                                           value="resolve", clearable=False, style={"minWidth": "120px"}),
                              dcc.Input(id="agency-ext-minutes", type="number", placeholder="menit", min=1),
                              dcc.Dropdown(id="agency-reason-code", options=options(actions.REASON_CODES),
                                           value="workload", clearable=False, style={"minWidth": "180px"}),
                              dcc.Input(id="agency-reason-text", placeholder="alasan / penjelasan", style={"flex": 1}),
                              html.Button(t("extension"), id="agency-extension", className="btn secondary"),
                              html.Button(t("explain"), id="agency-explain", className="btn secondary")],
                             className="form-row"),
                    html.Div([dcc.RadioItems(id="agency-evidence-stage", value="before", inline=True,
                                             options=[{"label": EVIDENCE_LABELS[k][lang() == "en"], "value": k}
                                                      for k in actions.EVIDENCE_STAGES]),
                              dcc.Upload(html.Div(t("evidence") + " (JPEG/PNG)"), id="agency-evidence",
                                         multiple=False, accept="image/jpeg,image/png,image/webp",
                                         style={"border": "1px dashed #99a", "padding": ".6rem",
                                                "borderRadius": "4px", "flex": 1})], className="form-row"),
                ], className="card"),
            ], className="col-2"),
        ], className="row"),
    ])


@callback(Output("agency-queue", "children"), Input("agency-refresh", "n_intervals"),
          Input("agency-version", "data"), Input("agency-selected", "data"), Input("agency-pick", "value"))
@auth.guard("agency")
def refresh_queue(_n, _version, selected, chosen):
    agency = bound_agency(chosen)
    if not agency:
        return html.P("-")
    return queue_table("agency", cq.queue(AGENCY_STATUSES, agency=agency), selected,
                       columns=("ticket", "priority", "status", "category", "received"))


@callback(Output("agency-selected", "data"), Input({"type": "agency-row", "ticket": ALL}, "n_clicks"),
          prevent_initial_call=True)
@auth.guard("agency")
def select(clicks):
    return clicked_ticket()


@callback(Output("agency-detail", "children"), Input("agency-selected", "data"), Input("agency-version", "data"),
          State("agency-pick", "value"))
@auth.guard("agency")
def show(ticket, _version, chosen):
    if not ticket:
        return html.P(t("select_report"), className="muted")
    agency = bound_agency(chosen)
    try:
        d = cq.detail(ticket, auth.role(), agency=agency if auth.role() == "agency_officer" else None)
    except DomainError:
        abort(403) if auth.role() == "agency_officer" else None
        return feedback(f"{ticket}?", ok=False)
    breaches = cq.breaches_of(ticket)
    extra = html.Div([html.B("Pelanggaran SLA: "), "; ".join(f"{b['stage']}/{b['level']} {b['code']}" for b in breaches)],
                     className="muted") if breaches else None
    return html.Div([report_card("agency", d, queries.reference_areas()), extra])


@callback(Output("agency-feedback", "children"), Output("agency-version", "data"),
          Input("agency-accept", "n_clicks"), Input("agency-progress", "n_clicks"),
          Input("agency-resolve", "n_clicks"), Input("agency-transfer", "n_clicks"),
          Input("agency-extension", "n_clicks"), Input("agency-explain", "n_clicks"),
          Input("agency-evidence", "contents"),
          State("agency-selected", "data"), State("agency-progress-note", "value"),
          State("agency-resolve-note", "value"), State("agency-transfer-to", "value"),
          State("agency-transfer-reason", "value"), State("agency-ext-stage", "value"),
          State("agency-ext-minutes", "value"), State("agency-reason-code", "value"),
          State("agency-reason-text", "value"), State("agency-evidence", "filename"),
          State("agency-version", "data"), State("agency-evidence-stage", "value"), prevent_initial_call=True)
@auth.guard("agency")
@auth.writer
def act(_a, _p, _r, _t, _e, _x, upload, ticket, progress, resolution, transfer_to, transfer_reason, stage,
        minutes, code, reason_text, filename, version, evidence_stage):
    if not ticket:
        return feedback(t("select_report"), ok=False), no_update
    actor, wf = current_user.actor, services().workflow
    try:
        match ctx.triggered_id:
            case "agency-accept":
                wf.accept(ticket, actor)
            case "agency-progress":
                report = services().queue.get(ticket)
                actions.note_progress(actor, ticket, progress or "")
                if report.status == "ACCEPTED":
                    wf.start(ticket, actor, progress)
            case "agency-resolve":
                wf.resolve(ticket, actor, resolution or "")
            case "agency-transfer":
                wf.transfer(ticket, actor, transfer_to or "", transfer_reason or "")
            case "agency-extension":
                actions.request_extension(actor, ticket, stage, int(minutes or 0), code, reason_text or "")
            case "agency-explain":
                actions.explain_breach(actor, ticket, code, reason_text or "")
            case "agency-evidence":
                header, _, data = (upload or ",").partition(",")
                content_type = header.removeprefix("data:").split(";")[0]
                actions.add_evidence(actor, ticket, filename or "bukti", content_type, base64.b64decode(data),
                                     evidence_stage or "")
            case _:
                return no_update, no_update
    except (DomainError, ValueError) as exc:
        return feedback(str(exc), ok=False), no_update
    return feedback(f"{t('done')}: {ticket}"), (version or 0) + 1
