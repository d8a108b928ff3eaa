"""Figures of the executive, public and supervisor pages as plain Plotly figure dicts (no tiles, no CDN; no
graph_objects validation on every refresh), in one palette.

Colours: `PALETTE` for series and bars, `SEQUENTIAL` for counts (a heatmap's zero is the page's neutral
background, never a warm colour), `SLA` green/amber/red only for SLA states. Labels are never cut:
category and agency names go on horizontal bars with room to the left (Plotly's automargin), wrapped
onto a few lines when long.
"""
from __future__ import annotations

import html
import textwrap
from datetime import date, timedelta
import pandas as pd

WEEKDAYS = {"id": ["Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min"], "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}
PALETTE = ["#2f6db3", "#7b4fa0", "#1f8a8a", "#5a6775", "#a0522d", "#3d8fd1"]  # blue, purple, teal, slate, sienna
SEQUENTIAL = [[0.0, "#f4f6f8"], [1e-9, "#dbe8f6"], [0.35, "#8db4e0"], [0.7, "#3f7cc4"], [1.0, "#0b3d75"]]
SLA = {"green": "#1b7f3b", "amber": "#e8a317", "red": "#b3261e"}  # the same as the badges (assets/app.css)
FONT = {"family": "DejaVu Sans, Liberation Sans, Arial, sans-serif", "size": 12, "color": "#1d2430"}
LABEL_WIDTH = 40  # characters per line of a bar's label (the longest names take two lines)
BAR_PX = 22  # height of a bar with a one-line label
LINE_PX = 14  # and of each line of a wrapped label


def _figure(data: list[dict], title: str, height: int = 300) -> dict:
    return {"data": data, "layout": {"title": {"text": title}, "height": height, "font": FONT, "colorway": PALETTE,
                                     "margin": {"l": 50, "r": 20, "t": 40, "b": 40}, "paper_bgcolor": "#fff",
                                     "plot_bgcolor": "#fff", "legend": {"orientation": "h", "y": -0.2}}}


def wrap(label: str, width: int = LABEL_WIDTH) -> str:
    """A label on lines of at most `width` characters (Plotly's <br>), its own text escaped."""
    lines = textwrap.wrap(str(label), width=width, break_long_words=False) or [str(label)]
    return "<br>".join(html.escape(line, quote=False) for line in lines)


def bars(pairs, title: str, horizontal: bool = False, height: int | None = None, *, name: str | None = None) -> dict:
    """Counts per label. Horizontal: the largest on top, every label whole on the left (wrapped)."""
    labels, values = [p[0] for p in pairs], [p[1] for p in pairs]
    if horizontal:
        wrapped = [wrap(label) for label in labels]
        # Plotly gives every bar the same band: as tall as the longest label needs
        lines = max((w.count("<br>") + 1 for w in wrapped), default=1)
        rows = len(wrapped) * max(BAR_PX, LINE_PX * lines + 8)
        trace = {"type": "bar", "y": wrapped, "x": values, "orientation": "h", "marker": {"color": PALETTE[0]},
                 "customdata": labels, "hovertemplate": "%{customdata}: %{x}<extra></extra>", "name": name or title}
        figure = _figure([trace], title, height or max(220, 90 + rows))
        figure["layout"]["yaxis"] = {"automargin": True, "autorange": "reversed", "ticksuffix": "  "}
        figure["layout"]["xaxis"] = {"automargin": True, "rangemode": "tozero"}
        figure["layout"]["margin"]["l"] = 10
        return figure
    trace = {"type": "bar", "x": labels, "y": values, "marker": {"color": PALETTE[0]}, "name": name or title}
    figure = _figure([trace], title, height or 300)
    figure["layout"]["xaxis"] = {"automargin": True, "type": "category"}
    figure["layout"]["yaxis"] = {"automargin": True, "rangemode": "tozero"}
    return figure


def daily(rows, title: str, names: tuple[str, str] = ("masuk", "selesai")) -> dict:
    x = [r[0] for r in rows]
    figure = _figure([{"type": "scatter", "x": x, "y": [r[1] for r in rows], "name": names[0], "mode": "lines+markers",
                       "line": {"color": PALETTE[0], "width": 2}, "marker": {"size": 4}},
                      {"type": "scatter", "x": x, "y": [r[2] for r in rows], "name": names[1], "mode": "lines+markers",
                       "line": {"color": PALETTE[1], "width": 2}, "marker": {"size": 4}}], title)
    figure["layout"]["xaxis"] = {"type": "date", "tickformat": "%d %b", "automargin": True}
    figure["layout"]["yaxis"] = {"rangemode": "tozero", "automargin": True}
    return figure


def weekly(rows, title: str, names: tuple[str, str] = ("masuk", "selesai")) -> dict:
    """Daily rows summed per week, each week named by its Monday."""
    weeks: dict[str, list[int]] = {}
    for day, received, resolved in rows:
        d = date.fromisoformat(day)
        entry = weeks.setdefault((d - timedelta(days=d.weekday())).isoformat(), [0, 0])
        entry[0] += received
        entry[1] += resolved
    keys = sorted(weeks)
    hover = "%{x|%d %b %Y}: %{y}<extra>%{fullData.name}</extra>"
    figure = _figure([{"type": "bar", "x": keys, "y": [weeks[k][0] for k in keys], "name": names[0],
                       "marker": {"color": PALETTE[0]}, "hovertemplate": hover},
                      {"type": "bar", "x": keys, "y": [weeks[k][1] for k in keys], "name": names[1],
                       "marker": {"color": PALETTE[1]}, "hovertemplate": hover}], title)
    figure["layout"]["xaxis"] = {"type": "date", "tickformat": "%d %b", "automargin": True}
    figure["layout"]["yaxis"] = {"rangemode": "tozero", "automargin": True}
    return figure


def heat_matrix(cells: dict) -> pd.DataFrame:
    """Counts per (ISO weekday, hour) pivoted to 7 x 24, zeros where nothing came in."""
    frame = pd.DataFrame([(d, h, n) for (d, h), n in cells.items()], columns=["weekday", "hour", "count"])
    matrix = frame.pivot(index="weekday", columns="hour", values="count")  # one cell per (weekday, hour)
    return matrix.reindex(index=range(1, 8), columns=range(24)).fillna(0).astype(int)


def heatmap(cells: dict, title: str, language: str = "id") -> dict:
    matrix = heat_matrix(cells)
    trace = {"type": "heatmap", "z": matrix.values.tolist(), "x": [f"{h:02d}" for h in range(24)],
             "y": WEEKDAYS.get(language, WEEKDAYS["id"]), "colorscale": SEQUENTIAL, "zmin": 0,
             "zmax": max(1, int(matrix.values.max())), "xgap": 1, "ygap": 1,
             "hovertemplate": "%{y} %{x}:00 — %{z}<extra></extra>", "colorbar": {"thickness": 12}}
    figure = _figure([trace], title)
    figure["layout"]["yaxis"] = {"autorange": "reversed", "automargin": True}
    figure["layout"]["xaxis"] = {"type": "category", "automargin": True}
    return figure
