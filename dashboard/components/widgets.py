"""Shared widgets: tables of reports with clickable rows, the detail card of one report, feedback."""
from __future__ import annotations

from dash import ctx, dcc, html, no_update

from dashboard.components.maps import points_figure
from dashboard import queries
from dashboard.i18n import column, lang, t


NOWRAP = frozenset({"ticket"})  # a ticket number never breaks over two lines


def queue_table(page: str, rows: list[dict], selected: str | None, columns=("ticket", "priority", "status",
                                                                            "agency", "category", "received")):
    head = html.Tr([html.Th("SLA")] + [html.Th(column(c)) for c in columns] + [html.Th("")])
    body = []
    for r in rows:
        left = r.get("minutes_left")
        sla = html.Span("-" if left is None else f"{left}m", className=f"badge sla-{r.get('sla', 'green')}")
        cells = [html.Td(sla, className="nowrap")] + [html.Td(html.Span(r[c], className=f"badge {r[c]}") if c == "priority" else r[c],
                                          className="nowrap" if c in NOWRAP else None) for c in columns]
        cells.append(html.Td(html.Button("›", id={"type": f"{page}-row", "ticket": r["ticket"]},
                                         className="btn secondary", n_clicks=0)))
        body.append(html.Tr(cells, className="selected" if r["ticket"] == selected else ""))
    return html.Table([html.Thead(head), html.Tbody(body)], className="data", id=f"{page}-queue-table")


def _attachment(a: dict):
    if not a["url"]:
        note = {"pending": " (sedang diunduh)", "unavailable": " (tidak tersedia)"}.get(a.get("state"), "")
        return html.Span(a["filename"] + note + " ", className="muted")
    if a["type"] in ("image/jpeg", "image/png", "image/webp", "image/gif") and a["url"].startswith("/media/"):
        return html.A(html.Img(src=a["url"], alt=a["filename"], title=a["filename"], className="thumb"),
                      href=a["url"], target="_blank")
    return html.A(a["filename"], href=a["url"], target="_blank", rel="noopener noreferrer")


def report_card(page: str, d: dict, areas: list[dict]):
    routing = d["routing"]
    location = d["location_text"] or ""
    if d["lat"] is not None:
        location += f" ({d['lat']:.5f}, {d['lon']:.5f})"
    parts = [
        html.H3([d["ticket"], " ", html.Span(d["priority"], className=f"badge {d['priority']}"), " ",
                 html.Span(d["status"], className="badge"), " ", html.Span("DEMO", className="badge") if d["is_demo"]
                 else None]),
        html.P(d["text"], id=f"{page}-detail-text", style={"whiteSpace": "pre-wrap"}),
        html.Div([f"{d['kind']} · {d['category'] or '-'} · {d['agency']} · {d['channel']} · {d['received']} WIB",
                  # what the message itself says (an email's Date:): shown, never used for the SLA clocks
                  html.Span(f" ({t('claimed')}: {d['claimed']} WIB)", id=f"{page}-claimed")
                  if d.get("claimed") else None,
                  f" · {location}"], className="muted"),
    ]
    if d["citizen_name"] or d["identities"]:
        parts.append(html.Div([html.B("Warga: "), d["citizen_name"] or "",
                               " · ".join(f" {k}: {v}" for k, v in d["identities"])], id=f"{page}-citizen"))
    parts.append(html.Div([html.B("SLA: "), " · ".join(
        f"{c['stage']} {'✓ ' + c['met'] if c['met'] else 'due ' + c['due']}{' (paused)' if c['paused'] else ''}"
        for c in d["clocks"])], className="muted"))
    if d["attachments"]:
        parts.append(html.Div([html.B("Media: ")] + [_attachment(a) for a in d["attachments"]],
                              id=f"{page}-media", className="media"))
    if routing:
        conf = routing["confidence"]
        parts.append(html.Div([
            html.B(f"{t('suggestions')} — {t('confidence')}: {'-' if conf is None else f'{conf:.0%}'}"),
            html.Ul([_suggestion(s) for s in routing["suggestions"]]
                    + [html.Li(f"duplikat? {x.get('ticket', x)}") for x in routing["duplicates"]]),
            html.Div(routing["explanation"], className="muted")], className="card", id=f"{page}-routing"))
    if d["thread"]:
        parts.append(html.Div([html.B(t("conversation")), html.Div([_message(m) for m in d["thread"]],
                                                                   className="thread")], id=f"{page}-thread"))
    if d["history"]:
        parts.append(html.Div([html.B(t("history")), html.Table([
            html.Thead(html.Tr([html.Th(column(c)) for c in ("ticket", "channel", "category", "status", "received")]
                               + [html.Th("")])),
            html.Tbody([html.Tr([html.Td(h["ticket"], className="nowrap"), html.Td(h["channel"]),
                                 html.Td(h["category"]), html.Td(h["status"]),
                                 html.Td(h["received"], className="nowrap"), html.Td(h["text"])])
                        for h in d["history"]])], className="data")], id=f"{page}-history"))
    if d["lat"] is not None:
        fig = points_figure(areas, [{"lat": d["lat"], "lon": d["lon"], "priority": d["priority"], "count": 4}],
                            dark=False, height=260)
        parts.append(dcc.Graph(figure=fig, config={"displayModeBar": False}, id=f"{page}-detail-map"))
    return html.Div(parts, className="card")


def _message(m: dict):
    """One line of the conversation: the citizen's on the left, ours on the right, oldest first."""
    inbound = m["direction"] == "in"
    meta = [("← " if inbound else "→ ") + m["channel"], m["at"] + " WIB"]
    if not inbound:
        meta.append(m["author"] or "system")
        if m.get("delivery"):
            meta.append(m["delivery"])
    if m.get("id"):
        meta.append(f"#{m['id']}")
    return html.Div([html.Span(" · ".join(meta), className="meta"), m["body"]],
                    className=f"msg {'in' if inbound else 'out'}")


def _suggestion(s: dict):
    """A routing suggestion: the category's label, its score and the score relative to the best one."""
    if "code" in s and "score" in s:
        labels = queries.category_labels().get(s["code"])
        label = labels[lang() == "en"] if labels else s["code"]
        return html.Li([f"{label} ({s['code']}) ", html.Span(className="bar", style={"display": "inline-block",
                        "width": "60px", "height": "8px"}, children=html.Span(
                            className="seg-green", style={"width": f"{100 * s['relative']:.0f}%"})),
                        f" {s['relative']:.0%} · {t('score')} {s['score']:g}"],
                       title=t("score_help"), className="suggestion")
    return html.Li(f"{s.get('field', s.get('kind', ''))}: {s.get('value', s.get('code', s))}"
                   + (f" ({s['confidence']:.0%})" if isinstance(s.get("confidence"), (int, float)) else ""))


def data_table(table_id: str, rows: list[dict], columns, cell=None):
    """A table of `rows` with translated column headings (i18n.column); `cell(row, column)` draws a cell
    (default: the value as text, "-" for none). No rows: one row that says so."""
    cell = cell or (lambda row, c: str(row[c] if row[c] is not None else "-"))
    body = [html.Tr([html.Td(cell(r, c)) for c in columns]) for r in rows] or [
        html.Tr(html.Td(t("none"), colSpan=len(columns), className="muted"))]
    return html.Table([html.Thead(html.Tr([html.Th(column(c)) for c in columns])), html.Tbody(body)],
                      className="data", id=table_id)


def clicked() -> dict | None:
    """In a callback on pattern-matching buttons: the clicked button's id (None when the callback fired
    because the buttons were redrawn, not because of a click)."""
    if not ctx.triggered_id or not ctx.triggered or not ctx.triggered[0]["value"]:
        return None
    return ctx.triggered_id


def clicked_ticket():
    """In a callback on a table's row buttons: the clicked row's ticket (no_update without a click)."""
    button = clicked()
    return no_update if button is None else button["ticket"]


def feedback(message: str | None, ok: bool = True):
    if not message:
        return None
    return html.Div(message, className="notice" if ok else "alert")


def options(values) -> list[dict]:
    return [{"label": v if isinstance(v, str) else v[1], "value": v if isinstance(v, str) else v[0]} for v in values]
