"""Figures of the executive and public pages as plain Plotly figure dicts (no tiles, no CDN; no
graph_objects validation on every refresh)."""
from __future__ import annotations

from datetime import date

WEEKDAYS = ["Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min"]


def _figure(data: list[dict], title: str, height: int = 300) -> dict:
    return {"data": data, "layout": {"title": {"text": title}, "height": height,
                                     "margin": {"l": 40, "r": 10, "t": 40, "b": 40}, "paper_bgcolor": "#fff",
                                     "plot_bgcolor": "#fff", "legend": {"orientation": "h", "y": -0.2}}}


def bars(pairs, title: str, horizontal: bool = False, height: int = 300) -> dict:
    labels, values = [p[0] for p in pairs], [p[1] for p in pairs]
    trace = ({"type": "bar", "y": labels, "x": values, "orientation": "h"} if horizontal
             else {"type": "bar", "x": labels, "y": values})
    return _figure([trace], title, height)


def daily(rows, title: str) -> dict:
    x = [r[0] for r in rows]
    figure = _figure([{"type": "scatter", "x": x, "y": [r[1] for r in rows], "name": "masuk", "mode": "lines+markers"},
                      {"type": "scatter", "x": x, "y": [r[2] for r in rows], "name": "selesai",
                       "mode": "lines+markers"}], title)
    figure["layout"]["xaxis"] = {"type": "date", "tickformat": "%d %b", "dtick": 86400000.0 * max(1, len(x) // 10)}
    return figure


def weekly(rows, title: str) -> dict:
    weeks: dict[str, list[int]] = {}
    for day, received, resolved in rows:
        y, w, _ = date.fromisoformat(day).isocalendar()
        entry = weeks.setdefault(f"{y}-W{w:02d}", [0, 0])
        entry[0] += received
        entry[1] += resolved
    keys = sorted(weeks)
    return _figure([{"type": "bar", "x": keys, "y": [weeks[k][0] for k in keys], "name": "masuk"},
                    {"type": "bar", "x": keys, "y": [weeks[k][1] for k in keys], "name": "selesai"}], title)


def heatmap(cells: dict, title: str) -> dict:
    z = [[cells.get((d, h), 0) for h in range(24)] for d in range(1, 8)]
    return _figure([{"type": "heatmap", "z": z, "x": list(range(24)), "y": WEEKDAYS, "colorscale": "YlOrRd"}], title)
