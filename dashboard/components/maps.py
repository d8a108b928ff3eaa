"""Maps without internet tiles: kelurahan reference points on a plain background (optionally a tile
server from MAP_TILE_URL, e.g. a city-hosted http://tiles.local/{z}/{x}/{y}.png)."""
from __future__ import annotations

import os
from collections import defaultdict

import plotly.graph_objects as go

PRIORITY_COLOURS = {"P1": "#ff4236", "P2": "#f0b323", "P3": "#4c9bff", "P4": "#9aa7b4"}


def kecamatan_centres(areas: list[dict]) -> dict[str, tuple[float, float]]:
    acc = defaultdict(list)
    for a in areas:
        acc[a["kecamatan"]].append((a["lat"], a["lon"]))
    return {k: (sum(p[0] for p in v) / len(v), sum(p[1] for p in v) / len(v)) for k, v in acc.items()}


def points_figure(areas: list[dict], points: list[dict], *, dark: bool = True, height: int | None = None,
                  title: str | None = None) -> go.Figure:
    """Bubbles of report counts (by priority) over the kelurahan points and kecamatan names."""
    fg, bg = ("#d6e2ee", "#0c131b") if dark else ("#1d2430", "#ffffff")
    tile_url = os.environ.get("MAP_TILE_URL", "").strip()
    traces = []
    centres = kecamatan_centres(areas)
    if tile_url:
        return _tile_figure(tile_url, areas, points, height)
    traces.append(go.Scatter(x=[a["lon"] for a in areas], y=[a["lat"] for a in areas], mode="markers",
                             marker=dict(size=5, color="#3b4b5c" if dark else "#c3ccd6"), hoverinfo="text",
                             text=[a["kelurahan"] for a in areas], showlegend=False))
    traces.append(go.Scatter(x=[c[1] for c in centres.values()], y=[c[0] for c in centres.values()],
                             mode="text", text=list(centres), textfont=dict(color=fg, size=11),
                             hoverinfo="skip", showlegend=False))
    for priority in ("P4", "P3", "P2", "P1"):
        pts = [p for p in points if p["priority"] == priority]
        if not pts:
            continue
        traces.append(go.Scatter(
            x=[p["lon"] for p in pts], y=[p["lat"] for p in pts], mode="markers", name=priority,
            marker=dict(size=[min(40, 8 + 3 * p["count"] ** 0.5 * 2) for p in pts], color=PRIORITY_COLOURS[priority],
                        opacity=.8, line=dict(width=0)),
            text=[f"{priority}: {p['count']}" for p in pts], hoverinfo="text"))
    fig = go.Figure(traces)
    fig.update_layout(
        paper_bgcolor=bg, plot_bgcolor=bg, font=dict(color=fg), margin=dict(l=4, r=4, t=28 if title else 4, b=4),
        height=height, title=title, uirevision="keep", legend=dict(orientation="h", y=0, x=0),
        xaxis=dict(visible=False, range=[106.55, 106.77]),
        yaxis=dict(visible=False, range=[-6.27, -6.10], scaleanchor="x", scaleratio=1.0),
    )
    return fig


def _tile_figure(url: str, areas: list[dict], points: list[dict], height: int | None) -> go.Figure:
    fig = go.Figure(go.Scattermap(
        lat=[p["lat"] for p in points], lon=[p["lon"] for p in points], mode="markers",
        marker=dict(size=[8 + 2 * p["count"] for p in points],
                    color=[PRIORITY_COLOURS.get(p["priority"], "#999") for p in points]),
        text=[f"{p['priority']}: {p['count']}" for p in points]))
    fig.update_layout(map=dict(style="white-bg", center=dict(lat=-6.18, lon=106.64), zoom=11,
                               layers=[dict(sourcetype="raster", source=[url], below="traces")]),
                      margin=dict(l=0, r=0, t=0, b=0), height=height, uirevision="keep")
    return fig
