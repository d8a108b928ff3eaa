"""Maps without internet tiles: the 104 kelurahan drawn from their boundaries (imported with `geo import`,
else the default shipped in data/geo), shaded by a count per kelurahan (a choropleth with its legend),
kecamatan names, and report points on top, on a plain background. A tile server (MAP_TILE_URL, e.g. a
city-hosted http://tiles.local/{z}/{x}/{y}.png) replaces the drawing with points on tiles.

A figure's traces come in a fixed order: one filled shape per kelurahan, the outline trace (every ring of
every kelurahan in one line trace), the kecamatan names, the legend's classes, the points by priority. A
page that redraws every second sends the figure once and then only what changed since the figure the
screen shows (`map_state`, `map_patch`): a few colours, hover texts, legend names and the points.
"""
from __future__ import annotations

import os
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

PRIORITIES = ("P4", "P3", "P2", "P1")
# Not the SLA colours (green, amber, red mean SLA states only, on every page).
PRIORITY_COLOURS = {"P1": "#f06595", "P2": "#cc5de8", "P3": "#e9ecef", "P4": "#868e96"}
RAMPS = {  # the colour of "0", then of up to five classes of counts (sequential blues)
    True: ("#131d28", "#16324d", "#1b4a72", "#236497", "#2f80bd", "#4a9ee0"),
    False: ("#eef1f4", "#cfe1f6", "#a5c8ef", "#74a7e2", "#4584cf", "#1f5fae"),
}
STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 10**9)
SIMPLIFY_DEGREES = 0.0005  # ~50 m: a drawing, not the boundaries the classifier uses
LEGEND_SLOTS = len(RAMPS[True])


# ---------------------------------------------------------------- outlines
def outlines(imported: Mapping[str, Any], data_dir: Path | str) -> dict[str, list[tuple[list, list]]]:
    """Kelurahan code -> rings [(lons, lats), ...] to draw: the imported boundary (GeoJSON) where there is one,
    else the shipped default (the default ones simplified together, so neighbours keep one shared border)."""
    default = _default_outlines(str(data_dir))
    drawn = {}
    for code, geojson in imported.items():
        rings = _rings_of_geojson(geojson) if geojson else []
        drawn[code] = rings or default.get(code, [])
    return drawn


@lru_cache(maxsize=4)
def _default_outlines(data_dir: str) -> dict[str, list[tuple[list, list]]]:
    import numpy
    import shapely

    from routing.boundaries import default_boundaries

    shipped = default_boundaries(data_dir)
    if not shipped:
        return {}
    codes = list(shipped)
    geoms = numpy.array([shipped[c] for c in codes], dtype=object)
    try:
        simple = shapely.coverage_simplify(geoms, SIMPLIFY_DEGREES)
    except Exception:  # noqa: BLE001 - an older GEOS: each one on its own
        simple = shapely.simplify(geoms, SIMPLIFY_DEGREES, preserve_topology=True)
    return {code: _rings(geom) for code, geom in zip(codes, simple)}


def _rings_of_geojson(geojson) -> list[tuple[list, list]]:
    try:
        from shapely.geometry import shape

        return _rings(shape(geojson).simplify(SIMPLIFY_DEGREES, preserve_topology=True))
    except Exception:  # noqa: BLE001 - a hand-edited boundary must not take the wall down
        return []


def _rings(geometry) -> list[tuple[list, list]]:
    """The exterior rings of a (multi)polygon: [(lons, lats), ...], rounded to ~1 m."""
    rings = []
    for polygon in getattr(geometry, "geoms", [geometry]):
        exterior = getattr(polygon, "exterior", None)
        if exterior is not None and not polygon.is_empty:
            xs, ys = exterior.xy
            rings.append(([round(x, 5) for x in xs], [round(y, 5) for y in ys]))
    return rings


def kecamatan_centres(areas: list[dict]) -> dict[str, tuple[float, float]]:
    acc = defaultdict(list)
    for a in areas:
        acc[a["kecamatan"]].append((a["lat"], a["lon"]))
    return {k: (sum(p[0] for p in v) / len(v), sum(p[1] for p in v) / len(v)) for k, v in acc.items()}


# ---------------------------------------------------------------- shading
def classes(top: int) -> list[tuple[int, int]]:
    """The shaded classes (low, high), inclusive, for counts up to `top`: at most five, on steps 1-2-5."""
    if top <= 0:
        return []
    uppers = [s for s in STEPS if s < top] + [next(s for s in STEPS if s >= top)]
    ranges, low = [], 1
    for high in uppers[-(LEGEND_SLOTS - 1):]:
        ranges.append((low, high))
        low = high + 1
    return ranges


def _class_colours(ranges: list[tuple[int, int]], ramp) -> list[str]:
    """The colours of "0" and of each class: the highest class always gets the strongest colour."""
    return [ramp[0]] + list(ramp[len(ramp) - len(ranges):])


def _colour(value: int, ranges: list[tuple[int, int]], colours: list[str]) -> str:
    if value <= 0:
        return colours[0]
    return colours[next((i for i, (_, high) in enumerate(ranges) if value <= high), len(ranges) - 1) + 1]


def _class_name(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}–{high}"


# ---------------------------------------------------------------- figures
def map_figure(areas: list[dict], counts: Mapping[str, Mapping[str, int]] | None = None,
               points: list[dict] | None = None, *, shade: str = "open", labels: Mapping[str, str] | None = None,
               legend_title: str = "", dark: bool = True, height: int | None = None, title: str | None = None,
               scale: float = 1.0) -> dict:
    """The kelurahan map as a figure dict. `counts`: kelurahan code -> {name: number}; `shade` names the one
    that colours the kelurahan, `labels` the ones the hover shows (in order, with their display names).
    `scale` multiplies text and marker sizes (the wall passes screen width / 1920: 2 on a 4K screen)."""
    scale = _clamp(scale)
    points = points or []
    tile_url = os.environ.get("MAP_TILE_URL", "").strip()
    if tile_url:
        return _tile_figure(tile_url, points, height)
    fg, bg, edge = ("#d6e2ee", "#0c131b", "#4a5d72") if dark else ("#1d2430", "#ffffff", "#7d8a99")
    drawn = [a for a in areas if a.get("outline")]
    traces: list[dict] = []
    for area in drawn:
        xs, ys = _joined(area["outline"])
        traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "none", "fill": "toself", "hoveron": "fills",
                       "hoverinfo": "text", "name": area["kelurahan"], "showlegend": False})
    outline_x, outline_y = _joined([ring for area in drawn for ring in area["outline"]])
    traces.append({"type": "scatter", "x": outline_x, "y": outline_y, "mode": "lines", "hoverinfo": "skip",
                   "line": {"color": edge, "width": max(0.5, 0.8 * scale)}, "showlegend": False,
                   "meta": "kelurahan-outlines"})
    centres = kecamatan_centres(areas)
    traces.append({"type": "scatter", "x": [c[1] for c in centres.values()], "y": [c[0] for c in centres.values()],
                   "mode": "text", "text": list(centres), "textfont": {"color": fg, "size": 11 * scale},
                   "hoverinfo": "skip", "showlegend": False})
    for i in range(LEGEND_SLOTS):
        traces.append({"type": "scatter", "x": [None], "y": [None], "mode": "markers", "hoverinfo": "skip",
                       "legendgroup": "shade", "marker": {"symbol": "square", "size": 12 * scale,
                                                          "color": RAMPS[dark][i], "line": {"color": edge, "width": 1}},
                       **({"legendgrouptitle": {"text": legend_title}} if i == 0 and legend_title else {})})
    for priority in PRIORITIES:
        traces.append({"type": "scatter", "x": [], "y": [], "mode": "markers", "name": priority, "hoverinfo": "text",
                       "legendgroup": "priority",
                       "marker": {"size": [], "color": PRIORITY_COLOURS[priority], "opacity": .85,
                                  "line": {"width": 0}}})
    for index, values in _dynamic(drawn, counts, points, shade, labels or {shade: shade}, dark, scale):
        _deep_update(traces[index], values)
    layout = {"paper_bgcolor": bg, "plot_bgcolor": bg, "font": {"color": fg, "size": 12 * scale},
              "margin": {"l": 4, "r": 4, "t": 28 * scale if title else 4, "b": 4}, "uirevision": "keep",
              "hovermode": "closest", "hoverlabel": {"font": {"size": 13 * scale}},
              "legend": {"orientation": "h", "y": 0, "x": 0, "yanchor": "bottom", "bgcolor": "rgba(0,0,0,0)",
                         "font": {"size": 11 * scale}},
              "xaxis": {"visible": False, "range": [106.55, 106.77], "fixedrange": False},
              "yaxis": {"visible": False, "range": [-6.27, -6.10], "scaleanchor": "x", "scaleratio": 1.0}}
    if height:
        layout["height"] = height
    if title:
        layout["title"] = {"text": title, "font": {"size": 14 * scale}}
    return {"data": traces, "layout": layout}


def map_state(areas: list[dict], counts: Mapping[str, Mapping[str, int]], points: list[dict], *,
              shade: str = "open", labels: Mapping[str, str] | None = None, dark: bool = True,
              scale: float = 1.0) -> dict[tuple, Any]:
    """Everything of a `map_figure` that follows the data, flat: {(trace index, property[, sub]): value}."""
    drawn = [a for a in areas if a.get("outline")]
    state: dict[tuple, Any] = {}
    for index, values in _dynamic(drawn, counts, points, shade, labels or {shade: shade}, dark, _clamp(scale)):
        for key, value in values.items():
            if isinstance(value, dict):
                state.update({(index, key, sub): inner for sub, inner in value.items()})
            else:
                state[(index, key)] = value
    return state


def map_patch(state: dict[tuple, Any], since: dict[tuple, Any] | None = None):
    """A dash Patch that turns a figure showing `since` (everything when unknown) into one showing `state`:
    usually a handful of colours, one hover text and the points."""
    from dash import Patch

    patch = Patch()
    for path, value in state.items():
        if since is None or since.get(path, _MISSING) != value:
            target = patch["data"]
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
    return patch


_MISSING = object()


def patchable() -> bool:
    """Whether `map_patch` applies (not with a tile server, whose figure is points only)."""
    return not os.environ.get("MAP_TILE_URL", "").strip()


def points_figure(areas: list[dict], points: list[dict], *, dark: bool = True, height: int | None = None,
                  title: str | None = None, scale: float = 1.0) -> dict:
    """Report points over the kelurahan outlines (unshaded): the report card's map."""
    return map_figure(areas, None, points, dark=dark, height=height, title=title, scale=scale)


def _dynamic(drawn, counts, points, shade, labels, dark, scale):
    """(trace index, changed properties) of everything that follows the data: fill colours and hover texts,
    the legend's classes, the points."""
    shaded, counts = counts is not None, counts or {}
    ranges = classes(max((int(c.get(shade, 0) or 0) for c in counts.values()), default=0))
    colours = _class_colours(ranges, RAMPS[dark])
    for i, area in enumerate(drawn):
        c = counts.get(area["kode"], {})
        lines = "".join(f"<br>{name}: {int(c.get(key, 0) or 0)}" for key, name in labels.items()) if shaded else ""
        yield i, {"fillcolor": _colour(int(c.get(shade, 0) or 0), ranges, colours),
                  "text": f"<b>{area['kelurahan']}</b><br>Kec. {area['kecamatan']}{lines}"}
    base = len(drawn) + 2
    names = ["0"] + [_class_name(low, high) for low, high in ranges]
    for j in range(LEGEND_SLOTS):
        if j < len(names) and shaded:
            yield base + j, {"name": names[j], "visible": True, "showlegend": True, "marker": {"color": colours[j]}}
        else:
            yield base + j, {"name": "", "visible": False, "showlegend": False}
    base += LEGEND_SLOTS
    for k, priority in enumerate(PRIORITIES):
        pts = [p for p in points if p["priority"] == priority]
        yield base + k, {"x": [p["lon"] for p in pts], "y": [p["lat"] for p in pts], "visible": bool(pts),
                         "text": [f"{priority}: {p['count']}" for p in pts],
                         "marker": {"size": [scale * min(40, 8 + 6 * p["count"] ** 0.5) for p in pts]}}


def _joined(rings) -> tuple[list, list]:
    xs, ys = [], []
    for rx, ry in rings:
        if xs:
            xs.append(None)
            ys.append(None)
        xs += rx
        ys += ry
    return xs, ys


def _deep_update(target: dict, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            target[key].update(value)
        else:
            target[key] = value


def _clamp(scale) -> float:
    return min(4.0, max(0.5, float(scale or 1.0)))


def _tile_figure(url: str, points: list[dict], height: int | None) -> dict:
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
