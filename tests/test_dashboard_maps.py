"""The offline kelurahan map: outlines for all 104 kelurahan out of the box, shading classes and colours,
the trace order the wall's patches rely on, and patches that carry no outline."""
from __future__ import annotations

import json

import pytest
from plotly.utils import PlotlyJSONEncoder

from dashboard.components import maps
from domain.config import DATA_DIR
from routing.rules import load_rules


@pytest.fixture(scope="module")
def areas():
    drawn = maps.outlines({a.code: None for a in load_rules(DATA_DIR).areas}, DATA_DIR)
    return [{"kode": a.code, "kecamatan": a.kecamatan, "kelurahan": a.kelurahan, "lat": a.lat, "lon": a.lon,
             "outline": drawn[a.code]} for a in load_rules(DATA_DIR).areas]


def test_every_kelurahan_has_an_outline_from_the_shipped_boundaries(areas):
    assert len(areas) == 104 and all(a["outline"] for a in areas)
    for a in areas:  # the reference point lies inside what is drawn (simplified to ~50 m)
        from shapely.geometry import Point, Polygon

        shapes = [Polygon(list(zip(xs, ys))) for xs, ys in a["outline"]]
        assert min(s.distance(Point(a["lon"], a["lat"])) for s in shapes) < 0.001, a["kelurahan"]


@pytest.mark.parametrize("top, expected", [
    (0, []), (1, [(1, 1)]), (3, [(1, 1), (2, 2), (3, 5)]),
    (37, [(1, 2), (3, 5), (6, 10), (11, 20), (21, 50)]), (1000, [(1, 50), (51, 100), (101, 200), (201, 500), (501, 1000)]),
])
def test_classes_cover_every_count_on_nice_steps(top, expected):
    assert maps.classes(top) == expected


def test_shading_legend_and_hover(areas):
    counts = {areas[0]["kode"]: {"open": 30, "red": 4, "amber": 1}, areas[1]["kode"]: {"open": 1}}
    labels = {"open": "Terbuka", "red": "Lewat SLA"}
    figure = maps.map_figure(areas, counts, [], labels=labels, legend_title="Laporan terbuka")
    fills = figure["data"][:104]
    assert all(t["fill"] == "toself" and t["hoveron"] == "fills" for t in fills)
    ramp = maps.RAMPS[True]
    assert fills[0]["fillcolor"] == ramp[-1] and fills[2]["fillcolor"] == ramp[0] != fills[1]["fillcolor"]
    assert fills[0]["text"] == f"<b>{areas[0]['kelurahan']}</b><br>Kec. {areas[0]['kecamatan']}<br>Terbuka: 30<br>Lewat SLA: 4"
    assert figure["data"][104]["meta"] == "kelurahan-outlines"
    legend = [t["name"] for t in figure["data"][106:106 + maps.LEGEND_SLOTS] if t["visible"]]
    assert legend == ["0", "1–2", "3–5", "6–10", "11–20", "21–50"]
    # shading is a count, not an SLA state: only the sequential ramp, never the SLA green/amber/red
    assert {t["fillcolor"] for t in fills} <= set(ramp)


def test_a_patch_carries_what_changed_not_outlines(areas):
    counts = {areas[5]["kode"]: {"open": 2}}
    points = [{"lat": -6.2, "lon": 106.63, "priority": "P1", "count": 3}]
    full = maps.map_figure(areas, counts, points, scale=2.0)
    state = maps.map_state(areas, counts, points, scale=2.0)
    patch = maps.map_patch(state)  # a screen whose figure is unknown: every colour, text and point
    body = json.dumps(patch, cls=PlotlyJSONEncoder)
    assert len(body) < len(json.dumps(full, cls=PlotlyJSONEncoder)) / 4
    xs = areas[5]["outline"][0][0]
    assert str(xs[1]) not in body and "kelurahan-outlines" not in body
    # the patch's values are those of the full figure: the page would look the same either way
    ops = {tuple(op["location"]): op["params"]["value"] for op in patch.to_plotly_json()["operations"]}
    assert ops[("data", 5, "fillcolor")] == full["data"][5]["fillcolor"]
    p1 = 104 + 2 + maps.LEGEND_SLOTS + maps.PRIORITIES.index("P1")
    assert ops[("data", p1, "x")] == [106.63] and full["data"][p1]["x"] == [106.63]
    assert ops[("data", p1, "marker", "size")] == full["data"][p1]["marker"]["size"]
    # one more report in kelurahan 6: only its colour and text (the legend's classes stay) travel
    later = maps.map_state(areas, {**counts, areas[6]["kode"]: {"open": 1}}, points, scale=2.0)
    ops = {tuple(op["location"]) for op in maps.map_patch(later, state).to_plotly_json()["operations"]}
    assert ops == {("data", 6, "fillcolor"), ("data", 6, "text")}
