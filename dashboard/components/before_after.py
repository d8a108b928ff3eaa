"""The public page's "before / after" photos of recently resolved reports: agency evidence only, with the
category, the kelurahan and the resolution date (dashboard/tracking_data.before_after). Read at most
once a minute per process, however many visitors."""
from __future__ import annotations

from dash import html

from dashboard import queries, tracking_data
from dashboard.context import services
from dashboard.i18n import lang
from domain.clock import to_wib

TITLE = ("Sebelum dan sesudah: laporan yang baru diselesaikan", "Before and after: recently resolved reports")
LABELS = {"before": ("Sebelum", "Before"), "after": ("Sesudah", "After"), "resolved": ("Selesai", "Resolved"),
          "none": ("Belum ada foto penanganan dalam 30 hari terakhir", "No photos of resolved work in the last 30 days")}


def _items():
    def compute():
        with services().reads() as s:
            return tracking_data.before_after(s, queries.now())
    return queries.kept(("before_after",), 60, compute)


def gallery(page: str = "public"):
    english = lang() == "en"
    items = _items()
    cards = []
    for item in items:
        place = ", ".join(p for p in (item.kelurahan, item.kecamatan) if p) or "-"
        figures = [html.Figure([html.Img(src=f"/foto/{ref}", alt=LABELS[stage][english]),
                                html.Figcaption(LABELS[stage][english])])
                   for stage in ("before", "after") for ref in getattr(item, stage)]
        cards.append(html.Div([
            html.B(item.category_label[english] if item.category_label else "-"),
            html.Div(f"{place} · {LABELS['resolved'][english]} {to_wib(item.resolved_at):%d/%m/%Y}", className="muted"),
            html.Div(figures, className="before-after")], className="before-after-item"))
    body = html.Div(cards, className="before-after") if cards else html.P(LABELS["none"][english], className="muted")
    return html.Div([html.H3(TITLE[english]), body], className="card", id=f"{page}-before-after")
