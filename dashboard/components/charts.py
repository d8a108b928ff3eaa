"""Figures of the executive and public pages (plain Plotly, no tiles, no CDN)."""
from __future__ import annotations

import plotly.graph_objects as go

WEEKDAYS = ["Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min"]


def _style(fig: go.Figure, title: str, height: int = 300) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=40, r=10, t=40, b=40), paper_bgcolor="#fff",
                      plot_bgcolor="#fff", legend=dict(orientation="h", y=-0.2))
    return fig


def bars(pairs, title: str, horizontal: bool = False, height: int = 300) -> go.Figure:
    labels, values = [p[0] for p in pairs], [p[1] for p in pairs]
    trace = go.Bar(y=labels, x=values, orientation="h") if horizontal else go.Bar(x=labels, y=values)
    return _style(go.Figure(trace), title, height)


def daily(rows, title: str) -> go.Figure:
    fig = go.Figure([go.Scatter(x=[r[0] for r in rows], y=[r[1] for r in rows], name="masuk", mode="lines+markers"),
                     go.Scatter(x=[r[0] for r in rows], y=[r[2] for r in rows], name="selesai", mode="lines+markers")])
    return _style(fig, title)


def weekly(rows, title: str) -> go.Figure:
    from datetime import date

    weeks: dict[str, list[int]] = {}
    for day, received, resolved in rows:
        y, w, _ = date.fromisoformat(day).isocalendar()
        entry = weeks.setdefault(f"{y}-W{w:02d}", [0, 0])
        entry[0] += received
        entry[1] += resolved
    keys = sorted(weeks)
    fig = go.Figure([go.Bar(x=keys, y=[weeks[k][0] for k in keys], name="masuk"),
                     go.Bar(x=keys, y=[weeks[k][1] for k in keys], name="selesai")])
    return _style(fig, title)


def heatmap(cells: dict, title: str) -> go.Figure:
    z = [[cells.get((d, h), 0) for h in range(24)] for d in range(1, 8)]
    fig = go.Figure(go.Heatmap(z=z, x=list(range(24)), y=WEEKDAYS, colorscale="YlOrRd"))
    return _style(fig, title)
