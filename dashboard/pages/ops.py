"""/ops: channels and the system at a glance for the control room (operators, supervisors, admins): is the
worker alive (SLA timers, inbox drain, outbox), what waits in the staging inbox, which replies to citizens
did not go out, which payloads could not become a report (dead letters). Dead letters can be processed
again after a fix or discarded with a reason; failed replies can be sent again. Each action is in the
event log."""
from __future__ import annotations

import dash
from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from flask_login import current_user

from dashboard import auth, queries
from dashboard.components.widgets import data_table, feedback
from dashboard.context import services
from dashboard.i18n import t
from dashboard.layout import denied
from domain.clock import WIB
from domain.events import record

dash.register_page(__name__, path="/ops", name="Ops", title="Kanal & sistem - Tangerang Live Room")


def layout(**_):
    blocked = denied("ops")
    if blocked is not None:
        return blocked
    return html.Div([
        dcc.Interval(id="ops-refresh", interval=5000),
        html.H2(t("ops")),
        html.Div(id="ops-tiles", className="row"),
        html.Div([
            html.Div([html.H3(t("ops_channels")), html.Div(id="ops-channels")], className="col card"),
            html.Div([html.H3(t("ops_outbox")), html.Div(id="ops-outbox-feedback"),
                      html.Div([dcc.Input(id="ops-outbox-id", type="number", placeholder="#", min=1),
                                html.Button(t("ops_retry"), id="ops-outbox-retry", className="btn")],
                               className="form-row"),
                      html.Div(id="ops-outbox")], className="col-2 card"),
        ], className="row"),
        html.Div([html.H3(t("ops_dead_letters")), html.Div(id="ops-dead-feedback"),
                  html.Div([dcc.Input(id="ops-dead-id", type="number", placeholder="#", min=1),
                            html.Button(t("ops_reprocess"), id="ops-dead-reprocess", className="btn ok"),
                            dcc.Input(id="ops-dead-reason", placeholder="alasan membuang", style={"flex": 1}),
                            html.Button(t("ops_discard"), id="ops-dead-discard", className="btn danger")],
                           className="form-row"),
                  html.Div(id="ops-dead")], className="card"),
        html.Div([html.H3(t("ops_models")), html.Div(id="ops-model-feedback"),
                  html.Div([dcc.Input(id="ops-model-version", placeholder=t("ops_model_shipped")),
                            dcc.Input(id="ops-model-reason", placeholder="alasan", style={"flex": 1}),
                            html.Button(t("ops_model_rollback"), id="ops-model-rollback", className="btn danger")],
                           className="form-row"),
                  html.Div(id="ops-models")], className="card"),
    ])


def _wib(moment) -> str:
    return "-" if moment is None else moment.astimezone(WIB).strftime("%d/%m %H:%M:%S")


def _age(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min" if seconds < 7200 else f"{seconds // 3600} jam"


def _tile(tile_id: str, label: str, value, bad: bool, note: str = ""):
    return html.Div([html.Div(label, className="label"), html.Div(str(value), className="value", id=tile_id),
                     html.Div(note, className="muted")], className=f"kpi {'bad' if bad else 'good'}")


@callback(Output("ops-tiles", "children"), Output("ops-channels", "children"), Output("ops-outbox", "children"),
          Output("ops-dead", "children"), Input("ops-refresh", "n_intervals"),
          Input("ops-outbox-feedback", "children"), Input("ops-dead-feedback", "children"))
@auth.guard("ops")
def refresh(_n, _a, _b):
    from ingest import deadletters, health, outbox

    svc = services()
    now = queries.now()
    h = health.snapshot(svc.reads, now)
    worker = h["worker"]
    tiles = [
        _tile("ops-worker", t("ops_worker"), t("ops_ok") if worker["ok"] else t("ops_down"), not worker["ok"],
              f"{t('ops_last_beat')}: {_age(worker['age'])}"),
        _tile("ops-inbox", t("ops_inbox"), h["inbox_pending"], (h["inbox_oldest_seconds"] or 0) > 60,
              f"{t('ops_oldest')}: {_age(h['inbox_oldest_seconds'])}"),
        _tile("ops-outbox-pending", t("ops_outbox_pending"), h["outbox_pending"], h["outbox_retrying"] > 0,
              f"{t('ops_retrying')}: {h['outbox_retrying']}"),
        _tile("ops-outbox-failed", t("ops_outbox_failed"), h["outbox_failed"], h["outbox_failed"] > 0),
        _tile("ops-dead-count", t("ops_dead_letters"), h["dead_letters"], h["dead_letters"] > 0),
    ]
    channels = [{"channel": c["channel"], "last": _wib(c["last"]), "count_24h": c["count_24h"]} for c in h["channels"]]
    problems = [{"id": m.id, "channel": m.channel, "recipient": m.recipient, "template": m.template or "-",
                 "status": m.status, "attempts": m.attempts, "error": (m.last_error or "")[:160]}
                for m in outbox.problems(svc.reads, limit=100)]
    letters = [{"id": d.id, "channel": d.channel, "received": _wib(d.received_at), "attempts": d.attempts,
                "reason": (d.reason or "")[:240]} for d in deadletters.open_letters(svc.reads, limit=100)]
    return (tiles, data_table("ops-channels-table", channels, ["channel", "last", "count_24h"]),
            data_table("ops-outbox-table", problems, ["id", "channel", "recipient", "template", "status", "attempts", "error"]),
            data_table("ops-dead-table", letters, ["id", "channel", "received", "attempts", "reason"]))


def _id(value) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(t("ops_pick_id")) from None
    if number < 1:
        raise ValueError(t("ops_pick_id"))
    return number


def _log(event_type: str, after: dict, reason: str | None = None) -> None:
    svc = services()
    with svc.sessions.begin() as s:
        record(s, None, current_user.actor, event_type, after=after, reason=reason, at=svc.queue.clock())


@callback(Output("ops-outbox-feedback", "children"), Input("ops-outbox-retry", "n_clicks"),
          State("ops-outbox-id", "value"), prevent_initial_call=True)
@auth.guard("ops")
@auth.writer
def retry(_n, outbox_id):
    from ingest import outbox

    try:
        number = _id(outbox_id)
    except ValueError as exc:
        return feedback(str(exc), ok=False)
    if not outbox.retry(services().sessions, number, queries.now()):
        return feedback(f"#{number}: {t('ops_not_failed')}", ok=False)
    _log("outbox_retried", {"outbox_id": number})
    return feedback(f"{t('done')}: #{number}")


@callback(Output("ops-dead-feedback", "children"), Input("ops-dead-reprocess", "n_clicks"),
          Input("ops-dead-discard", "n_clicks"), State("ops-dead-id", "value"), State("ops-dead-reason", "value"),
          prevent_initial_call=True)
@auth.guard("ops")
@auth.writer
def dead_letter(_a, _b, letter_id, reason):
    from ingest import deadletters
    from ingest.channels import Channels

    try:
        number = _id(letter_id)
        if ctx.triggered_id == "ops-dead-discard":
            if not (reason or "").strip():
                return feedback(t("ops_reason_needed"), ok=False)
            deadletters.discard(services().sessions, number, current_user.username, reason.strip())
            _log("dead_letter_discarded", {"dead_letter_id": number}, reason.strip())
            return feedback(f"{t('done')}: #{number}")
        if ctx.triggered_id != "ops-dead-reprocess":
            return no_update
        state = deadletters.reprocess(Channels(services()), number)
    except (LookupError, ValueError) as exc:
        return feedback(str(exc), ok=False)
    _log("dead_letter_reprocessed", {"dead_letter_id": number, "state": state})
    return feedback(f"#{number}: {state}", ok=state == "reprocessed")


# ---------------------------------------------------------------- routing model versions (routing/registry.py)
@callback(Output("ops-models", "children"), Input("ops-refresh", "n_intervals"), Input("ops-model-feedback", "children"))
@auth.guard("ops")
def models(_n, _f):
    from routing.registry import versions_overview

    rows = [{**r, "created_at": _wib(r["created_at"]),
             "accuracy": "-" if r["accuracy"] is None else f"{r['accuracy']:.1%}",
             "macro_f1": "-" if r["macro_f1"] is None else f"{r['macro_f1']:.3f}",
             "ece": "-" if r["ece"] is None else f"{r['ece']:.3f}"} for r in versions_overview(services().reads)]
    if not rows:
        return html.P(t("ops_model_none"), className="muted")
    return data_table("ops-models-table", rows, ["version", "status", "source", "trained_by", "created_at", "rows",
                                                 "accuracy", "macro_f1", "ece"])


@callback(Output("ops-model-feedback", "children"), Input("ops-model-rollback", "n_clicks"),
          State("ops-model-version", "value"), State("ops-model-reason", "value"), prevent_initial_call=True)
@auth.guard("ops")
@auth.writer
def model_rollback(_n, version, reason):
    from domain.lifecycle import DomainError
    from routing.registry import rollback_to

    if current_user.actor.role.value != "admin":
        return feedback(t("ops_model_admin_only"), ok=False)
    try:
        active = rollback_to(services().sessions, version, current_user.actor, (reason or "").strip() or None,
                             queries.now())
    except DomainError as exc:
        return feedback(str(exc), ok=False)
    return feedback(f"{t('done')}: {active}")
