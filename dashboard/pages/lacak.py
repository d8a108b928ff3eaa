"""/lacak/<ticket>?kode=<code>: the citizen's tracking page, open without login.

It draws a `TrackingView` (dashboard/tracking_data.py), the public projection of one report, and nothing
else: ticket, category, agency, status and the resolve deadline, the public timeline in WIB, the
agency's resolution note (contacts masked), the agency's before/after photos, and once the report is
resolved a 1-5 rating with an optional comment (domain/ratings.py, like the survey answer). A wrong or
missing code, a malformed or unknown ticket: the same "not found" card, which names no ticket. Every
look-up counts against the address's TRACKING_RATE_LIMIT (dashboard/tracking_web.py).
"""
from __future__ import annotations

from urllib.parse import parse_qs

import dash
from dash import Input, Output, State, callback, dcc, html, no_update
from flask import has_request_context

from dashboard import auth, tracking_data, tracking_web
from dashboard.context import services
from dashboard.i18n import lang
from domain.clock import to_wib
from domain.lifecycle import DomainError, NotFound
from domain.tracking import CODE_PARAM

dash.register_page(__name__, path_template="/lacak/<ticket>", name="Lacak laporan",
                   title="Lacak laporan - Tangerang Live Room")

TEXT = {
    "title": ("Lacak laporan", "Track your report"),
    "not_found": ("Laporan tidak ditemukan", "Report not found"),
    "not_found_text": ("Periksa kembali tautan dari pesan tanda terima Anda: nomor tiket dan kodenya harus "
                       "lengkap.", "Check the link in your acknowledgement message: the ticket and its code "
                       "must be complete."),
    "category": ("Kategori", "Category"), "agency": ("Ditangani oleh", "Handled by"),
    "received": ("Diterima", "Received"), "due": ("Target selesai", "Due by"),
    "met": ("selesai", "done"), "late": ("melewati target", "past the target"),
    "paused": ("dijeda: menunggu informasi dari Anda", "paused: waiting for your information"),
    "timeline": ("Perkembangan", "Progress"), "note": ("Catatan penyelesaian dari petugas", "The agency's note"),
    "photos": ("Foto penanganan", "Photos of the work"), "before": ("Sebelum", "Before"), "after": ("Sesudah", "After"),
    "rate": ("Beri penilaian", "Rate the service"),
    "rate_help": ("Seberapa puas Anda dengan penanganan laporan ini? (1 = sangat tidak puas, 5 = sangat puas)",
                  "How satisfied are you with how this report was handled? (1 = very unsatisfied, 5 = very satisfied)"),
    "comment": ("Komentar (tidak wajib)", "Comment (optional)"), "send": ("Kirim penilaian", "Send rating"),
    "rated": ("Terima kasih. Penilaian Anda:", "Thank you. Your rating:"),
    "pick_score": ("Pilih nilai 1 sampai 5", "Pick a score from 1 to 5"),
    "reopen": ("Masalah belum selesai? Balas BUKA {ticket} pada pesan kami dalam 72 jam setelah selesai.",
               "Not fixed? Reply BUKA {ticket} to our message within 72 hours of the resolution."),
    "merged": ("Laporan ini digabung dengan laporan lain tentang kejadian yang sama; perkembangannya dikabarkan "
               "lewat pesan.", "This report was merged with another one about the same event; you will hear of "
                              "its progress by message."),
    "rejected": ("Laporan ini tidak dapat diproses.", "This report could not be processed."),
    "waiting": ("Petugas menunggu informasi tambahan dari Anda: balas pesan kami.",
                "The officers are waiting for more information from you: reply to our message."),
}
STEP_TEXT = {"received": ("Diterima", "Received"), "verified": ("Diverifikasi", "Verified"),
             "forwarded": ("Diteruskan ke dinas", "Forwarded to the agency"),
             "accepted": ("Diterima dinas", "Accepted by the agency"), "in_progress": ("Dikerjakan", "In progress"),
             "resolved": ("Selesai", "Resolved")}
STATUS_TEXT = {"NEW": ("Menunggu verifikasi", "Waiting for verification"), "VERIFIED": ("Diverifikasi", "Verified"),
               "ASSIGNED": ("Diteruskan ke dinas", "Forwarded to the agency"),
               "ACCEPTED": ("Diterima dinas", "Accepted by the agency"), "IN_PROGRESS": ("Sedang dikerjakan", "In progress"),
               "WAITING_CITIZEN": ("Menunggu informasi dari Anda", "Waiting for your information"),
               "RESOLVED": ("Selesai ditangani", "Resolved"), "CLOSED": ("Ditutup", "Closed"),
               "REJECTED": ("Tidak dapat diproses", "Could not be processed"),
               "MERGED": ("Digabung dengan laporan lain", "Merged with another report")}


def tr(key: str, table: dict = TEXT) -> str:
    pair = table.get(key, (key, key))
    return pair[1] if lang() == "en" else pair[0]


def wib(value) -> str:
    return to_wib(value).strftime("%d/%m/%Y %H:%M") + " WIB" if value else "-"


def layout(ticket=None, **query):
    if not has_request_context():  # Dash's validation layout: every id the callbacks use
        return html.Div(_rating_card(_rating_form()), id="lacak-page")
    tracking_web.count_lookup()
    with services().reads() as s:
        view = tracking_data.project(s, ticket, query.get(CODE_PARAM))
    return html.Div(not_found() if view is None else report_view(view), id="lacak-page", className="lacak")


def not_found():
    """The one answer for a wrong or missing code and a ticket that does not exist: it names nothing."""
    return html.Div([html.H2(tr("not_found")), html.P(tr("not_found_text"))], className="card", id="lacak-not-found")


def report_view(v: tracking_data.TrackingView):
    english = lang() == "en"
    category = v.category_label[english] if v.category_label else (v.category or "-")
    due = wib(v.due_at)
    if v.due_met_at is not None:
        due += f" · {tr('met')} {wib(v.due_met_at)}"
    elif v.paused:
        due += f" · {tr('paused')}"
    parts = [html.Div([
        html.H2(tr("title")),
        html.Div([html.Span(v.ticket, id="lacak-ticket", className="lacak-ticket"), " ",
                  html.Span(tr(v.status, STATUS_TEXT), id="lacak-status", className=f"badge lacak-{v.status}")]),
        html.Dl([html.Dt(tr("category")), html.Dd(category, id="lacak-category"),
                 html.Dt(tr("agency")), html.Dd(v.agency_name, id="lacak-agency"),
                 html.Dt(tr("received")), html.Dd(wib(v.received_at)),
                 html.Dt(tr("due")), html.Dd(due, id="lacak-due")], className="lacak-facts"),
        _status_note(v)], className="card")]
    parts.append(html.Div([html.H3(tr("timeline")), html.Ol([
        html.Li([html.Span(tr(step.key, STEP_TEXT), className="step"), " ",
                 html.Span(wib(step.at) if step.at else "", className="muted")],
                className="done" if step.done else "todo") for step in v.steps], className="lacak-steps")],
        className="card", id="lacak-timeline"))
    if v.resolution_note:
        parts.append(html.Div([html.H3(tr("note")), html.P(v.resolution_note, id="lacak-note")], className="card"))
    if v.photos:
        parts.append(html.Div([html.H3(tr("photos")), html.Div([
            html.Figure([html.Img(src=f"/foto/{p.ref}", alt=tr(p.stage), className="lacak-photo"),
                         html.Figcaption(f"{tr(p.stage)} · {wib(p.at)}")]) for p in v.photos],
            className="lacak-gallery")], className="card", id="lacak-photos"))
    if v.rating is not None:
        parts.append(_rating_card(_rated(v.rating)))
    elif v.rateable:
        parts.append(_rating_card(_rating_form()))
    return parts


def _rating_card(content):
    return html.Div([html.Div(content, id="lacak-rating"), html.Div(id="lacak-rating-feedback")], className="card")


def _status_note(v: tracking_data.TrackingView):
    key = {"MERGED": "merged", "REJECTED": "rejected", "WAITING_CITIZEN": "waiting"}.get(v.status)
    if key is None and v.status == "RESOLVED":
        return html.P(tr("reopen").format(ticket=v.ticket), className="muted")
    return html.P(tr(key), className="muted") if key else None


def _rated(score: int):
    return html.P([tr("rated"), " ", html.B(f"{score}/5")], id="lacak-rated")


def _rating_form():
    return html.Div([
        html.H3(tr("rate")), html.P(tr("rate_help"), className="muted"),
        dcc.RadioItems(id="lacak-rate-score", options=[{"label": str(n), "value": n} for n in range(1, 6)],
                       inline=True, className="lacak-score"),
        dcc.Textarea(id="lacak-rate-comment", placeholder=tr("comment"), maxLength=1000),
        html.Button(tr("send"), id="lacak-rate-submit", className="btn ok", n_clicks=0)], id="lacak-rate-form")


@callback(Output("lacak-rating", "children"), Output("lacak-rating-feedback", "children"),
          Input("lacak-rate-submit", "n_clicks"), State("lacak-rate-score", "value"),
          State("lacak-rate-comment", "value"), State("shell-location", "pathname"),
          State("shell-location", "search"), prevent_initial_call=True)
@auth.guard("lacak")
def rate(clicks, score, comment, pathname, search):
    """The ticket and code come from the address the page was opened with, checked again here."""
    if not clicks:
        return no_update, no_update
    if score not in range(1, 6):
        return no_update, html.Div(tr("pick_score"), className="alert")
    tracking_web.count_lookup()
    ticket = (pathname or "").rsplit("/", 1)[-1]
    code = (parse_qs((search or "").lstrip("?")).get(CODE_PARAM) or [None])[0]
    try:
        view = tracking_data.rate(services().sessions, ticket, code, score, comment, services().queue.clock())
    except NotFound:
        return not_found(), None
    except DomainError as exc:
        return no_update, html.Div(str(exc), className="alert")
    return _rated(view.rating), None
