"""Maps without internet tiles: kelurahan reference points on a plain background (optionally a tile
server from MAP_TILE_URL, e.g. a city-hosted http://tiles.local/{z}/{x}/{y}.png)."""
from __future__ import annotations

import os
from collections import defaultdict


PRIORITY_COLOURS = {"P1": "#ff4236", "P2": "#f0b323", "P3": "#4c9bff", "P4": "#9aa7b4"}


def kecamatan_centres(areas: list[dict]) -> dict[str, tuple[float, float]]:
    acc = defaultdict(list)
    for a in areas:
        acc[a["kecamatan"]].append((a["lat"], a["lon"]))
    return {k: (sum(p[0] for p in v) / len(v), sum(p[1] for p in v) / len(v)) for k, v in acc.items()}


def points_figure(areas: list[dict], points: list[dict], *, dark: bool = True, height: int | None = None,
                  title: str | None = None, scale: float = 1.0) -> dict:
    """Bubbles of report counts (by priority) over the kelurahan points and kecamatan names (a figure dict).
    `scale` multiplies text and marker sizes (the wall passes screen width / 1920: 2 on a 4K screen)."""
    scale = min(4.0, max(0.5, float(scale or 1.0)))
    fg, bg = ("#d6e2ee", "#0c131b") if dark else ("#1d2430", "#ffffff")
    tile_url = os.environ.get("MAP_TILE_URL", "").strip()
    if tile_url:
        return _tile_figure(tile_url, areas, points, height)
    centres = kecamatan_centres(areas)
    outline_x, outline_y = [], []
    for area in areas:  # imported kelurahan boundaries (geo import), one trace for all of them
        for xs, ys in area.get("outline") or ():
            outline_x += [*xs, None]
            outline_y += [*ys, None]
    traces = [{"type": "scatter", "x": outline_x, "y": outline_y, "mode": "lines", "hoverinfo": "skip",
               "line": {"color": "#2a3a4c" if dark else "#c3ccd6", "width": scale}, "showlegend": False}
              ] if outline_x else []
    traces += [
        {"type": "scatter", "x": [a["lon"] for a in areas], "y": [a["lat"] for a in areas], "mode": "markers",
         "marker": {"size": 5 * scale, "color": "#3b4b5c" if dark else "#c3ccd6"}, "hoverinfo": "text",
         "text": [a["kelurahan"] for a in areas], "showlegend": False},
        {"type": "scatter", "x": [c[1] for c in centres.values()], "y": [c[0] for c in centres.values()],
         "mode": "text", "text": list(centres), "textfont": {"color": fg, "size": 11 * scale}, "hoverinfo": "skip",
         "showlegend": False},
    ]
    for priority in ("P4", "P3", "P2", "P1"):
        pts = [p for p in points if p["priority"] == priority]
        if not pts:
            continue
        traces.append({
            "type": "scatter", "x": [p["lon"] for p in pts], "y": [p["lat"] for p in pts], "mode": "markers",
            "name": priority, "hoverinfo": "text", "text": [f"{priority}: {p['count']}" for p in pts],
            "marker": {"size": [scale * min(40, 8 + 3 * p["count"] ** 0.5 * 2) for p in pts],
                       "color": PRIORITY_COLOURS[priority], "opacity": .8, "line": {"width": 0}}})
    layout = {"paper_bgcolor": bg, "plot_bgcolor": bg, "font": {"color": fg, "size": 12 * scale},
              "margin": {"l": 4, "r": 4, "t": 28 if title else 4, "b": 4}, "uirevision": "keep",
              "legend": {"orientation": "h", "y": 0, "x": 0},
              "xaxis": {"visible": False, "range": [106.55, 106.77]},
              "yaxis": {"visible": False, "range": [-6.27, -6.10], "scaleanchor": "x", "scaleratio": 1.0}}
    if height:
        layout["height"] = height
    if title:
        layout["title"] = {"text": title}
    return {"data": traces, "layout": layout}


def _tile_figure(url: str, areas: list[dict], points: list[dict], height: int | None) -> dict:
    layout = {"map": {"style": "white-bg", "center": {"lat": -6.18, "lon": 106.64}, "zoom": 11,
                      "layers": [{"sourcetype": "raster", "source": [url], "below": "traces"}]},
              "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "uirevision": "keep"}
    if height:
        layout["height"] = height
    return {"data": [{"type": "scattermap", "lat": [p["lat"] for p in points], "lon": [p["lon"] for p in points],
                      "mode": "markers", "text": [f"{p['priority']}: {p['count']}" for p in points],
                      "marker": {"size": [8 + 2 * p["count"] for p in points],
                                 "color": [PRIORITY_COLOURS.get(p["priority"], "#999") for p in points]}}],
            "layout": layout}
