"""Kelurahan boundaries out of the box: the shipped default (data/geo) resolves coordinates by point-in-
polygon, points outside the city resolve to none, and boundaries the city imported win (in the app and in
`classify`, which reads them from the database DATABASE_URL names)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from shapely.geometry import Point, box
from shapely.ops import unary_union
from typer.testing import CliRunner

from routing.boundaries import BoundaryIndex, default_boundaries, default_file, merge
from routing.cli import routing_cli
from routing.engine import Router
from routing.geo import import_boundaries, polygons_from_url
from routing.location import Gazetteer
from routing.rules import load_rules

DATA = Path(__file__).resolve().parent.parent / "data"
SUKARASA, SUKA_ASIH = "36.71.01.1001", "36.71.01.1002"
POINT = (-6.1725, 106.6370)  # in Suka Asih by the shipped boundaries


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.load(DATA)


@pytest.fixture(scope="module")
def shipped() -> dict:
    return default_boundaries(DATA)


@pytest.fixture(scope="module")
def city(shipped):
    return unary_union(list(shipped.values()))


def test_the_default_boundaries_ship_with_their_licence(shipped):
    path = default_file(DATA)
    assert path.is_file() and "MIT License" in path.with_suffix(".LICENSE").read_text()
    codes = {a.code for a in load_rules(DATA).areas}
    assert set(shipped) == codes and len(codes) == 104


def test_random_points_in_every_kelurahan_resolve_to_it(router, shipped):
    rng = random.Random(9)
    right = total = 0
    for code, geom in shipped.items():
        x0, y0, x1, y1 = geom.bounds
        found = 0
        while found < 5:
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if geom.contains(Point(x, y)):
                found += 1
                total += 1
                r = router.classify("jalan rusak", lat=y, lon=x)
                right += r.kelurahan_code == code and r.location_source == "polygon"
    assert right / total >= 0.99, f"{right}/{total}"


def test_points_on_the_city_border_resolve_to_the_kelurahan_there(router, shipped, city):
    ring = city.exterior
    right = 0
    for i in range(120):
        p = ring.interpolate(i / 120, normalized=True)
        owner = min(shipped, key=lambda c: shipped[c].boundary.distance(p))
        right += router.gazetteer.locate_point(p.y, p.x).kelurahan_code == owner
    assert right >= 119


@pytest.mark.parametrize("metres", [250, 1500])
def test_points_outside_the_city_resolve_to_none(router, city, metres):
    shell = city.buffer(metres / 111_320).exterior
    for i in range(40):
        p = shell.interpolate(i / 40, normalized=True)
        r = router.classify("jalan rusak parah", lat=p.y, lon=p.x)
        assert (r.kecamatan, r.kelurahan, r.outside_city) == (None, None, True), (p.y, p.x, r.explanation)


def test_a_sliver_between_two_kelurahan_is_the_nearest_one(shipped, city):
    """The source map leaves slivers between neighbours (holes in the city's union): a point there is in the
    city, in the nearest kelurahan; with only some kelurahan bounded, nothing is guessed from them."""
    hole = max(city.interiors, key=lambda ring: ring.length)
    inside = hole.interpolate(0.5, normalized=True)
    sliver = next(Point(inside.x + dx, inside.y + dy) for dx in (-2e-5, 0, 2e-5) for dy in (-2e-5, 0, 2e-5)
                  if not any(g.intersects(Point(inside.x + dx, inside.y + dy)) for g in shipped.values()))
    code, metres = BoundaryIndex(shipped, list(shipped)).locate(sliver.y, sliver.x)
    assert code == min(shipped, key=lambda c: shipped[c].distance(sliver)) and 0 < metres < 50
    partial = {c: shipped[c] for c in list(shipped)[:10]}
    assert BoundaryIndex(partial, list(shipped)).locate(sliver.y, sliver.x) == (None, float("inf"))


def test_imported_boundaries_win_over_the_default(shipped):
    areas = load_rules(DATA).areas
    imported = {SUKARASA: box(106.625, -6.180, 106.6375, -6.165)}  # covers POINT, drawn by the city
    gazetteer = Gazetteer(areas, polygons=merge(imported, shipped))
    assert gazetteer.locate_point(*POINT).kelurahan_code == SUKARASA
    assert gazetteer.locate_point(-6.1903, 106.6105).kelurahan == "Cimone"  # the default elsewhere
    assert Gazetteer(areas, polygons=shipped).locate_point(*POINT).kelurahan_code == SUKA_ASIH


def test_classify_uses_the_boundaries_of_the_database_named(services, tmp_path, monkeypatch):
    rectangle = {"type": "Polygon", "coordinates": [[[106.625, -6.180], [106.6375, -6.180], [106.6375, -6.165],
                                                     [106.625, -6.165], [106.625, -6.180]]]}
    with services.sessions.begin() as s:
        import_boundaries(s, [{"type": "Feature", "properties": {"kode": SUKARASA}, "geometry": rectangle}])
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "text": "lampu jalan mati", "lat": POINT[0], "lon": POINT[1]}) + "\n")

    def kelurahan(database_url: str) -> str:
        monkeypatch.setenv("DATABASE_URL", database_url)
        out = tmp_path / "out.jsonl"
        done = CliRunner().invoke(routing_cli, ["classify", "--in", str(source), "--out", str(out)])
        assert done.exit_code == 0, done.output
        return json.loads(out.read_text())["kelurahan_code"]

    assert kelurahan(services.settings.database_url) == SUKARASA
    missing = tmp_path / "nothing-here.db"
    assert kelurahan(f"sqlite:///{missing}") == SUKA_ASIH and not missing.exists()
    assert polygons_from_url("not a url") == {}
