"""`geo import FILE.geojson`: kelurahan boundaries matched by code or name are stored, bad features are
listed with the reason, and the queue's classifier then locates coordinates by point-in-polygon."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from app import Services
from domain.config import PROJECT_ROOT
from domain.models import Area
from routing.geo import GeoImportError, import_boundaries, load_features, polygons_from_db
from tests.helpers import incoming

SUKARASA, SUKA_ASIH, TANAH_TINGGI = "36.71.01.1001", "36.71.01.1002", "36.71.01.1003"
CIKOKOL = "36.71.01.1005"
# Reference points: Sukarasa (-6.172884, 106.631851), Suka Asih (-6.17223, 106.638493).
# This point is 170 m from Suka Asih's point but inside the (hand-drawn) Sukarasa rectangle.
POINT = (-6.1725, 106.6370)


def rectangle(lon0, lat0, lon1, lat1) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]}


def feature(props: dict, geometry: dict | None) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


FEATURES = [
    feature({"KDEPUM": "36.71.01.1001", "WADMKD": "Sukarasa"}, rectangle(106.625, -6.180, 106.6375, -6.165)),
    feature({"kode": "3671011002"}, rectangle(106.6375, -6.180, 106.645, -6.165)),
    feature({"nama": "Tanahtinggi", "kecamatan": "Tangerang"}, rectangle(106.645, -6.180, 106.660, -6.165)),
    feature({"nama": "Atlantis"}, rectangle(106.60, -6.20, 106.61, -6.19)),
    feature({"kode": "36.71.01.1004"}, rectangle(-6.185, 106.64, -6.175, 106.65)),  # lat/lon swapped
    feature({"kode": "36.71.01.1005"}, {"type": "Point", "coordinates": [106.63, -6.2]}),
    feature({"kode": "36.71.01.1006"}, {"type": "Polygon", "coordinates": [[1, 2]]}),
    "not a feature",
]


@pytest.fixture
def geojson(tmp_path):
    path = tmp_path / "kelurahan.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": FEATURES}))
    return path


def test_import_matches_stores_and_explains(services, geojson):
    with services.sessions.begin() as s:
        result = import_boundaries(s, load_features(geojson))
    assert result.matched == {SUKARASA: 1, SUKA_ASIH: 1, TANAH_TINGGI: 1}
    reasons = dict(result.unmatched)
    assert set(reasons) == {3, 4, 5, 6, 7}
    assert "Atlantis" in reasons[3] and "swapped" in reasons[4] and "Polygon" in reasons[5]
    assert "malformed" in reasons[6] and "properties" in reasons[7]
    with services.sessions() as s:
        stored = dict(s.execute(select(Area.kode, Area.boundary_geojson).where(Area.kode.in_(
            [SUKARASA, SUKA_ASIH, TANAH_TINGGI, "36.71.01.1004"]))).all())
    assert stored["36.71.01.1004"] is None
    assert stored[SUKARASA]["type"] == "Polygon" and len(stored[SUKARASA]["coordinates"][0]) == 5
    assert set(polygons_from_db(services.engine)) == {SUKARASA, SUKA_ASIH, TANAH_TINGGI}


def test_dry_run_stores_nothing(services, geojson):
    with services.sessions.begin() as s:
        assert len(import_boundaries(s, load_features(geojson), dry_run=True).matched) == 3
    assert polygons_from_db(services.engine) == {}


def test_classifier_uses_imported_polygons(settings, clock, geojson):
    before = Services(settings, clock=clock)
    before.init_db()
    report = before.queue.submit(incoming(text="lampu jalan mati", category=None, lat=POINT[0], lon=POINT[1])).report
    assert report.kelurahan_code == SUKA_ASIH and report.routing["location_source"] == "polygon"  # shipped default
    with before.sessions.begin() as s:
        import_boundaries(s, load_features(geojson))
    before.engine.dispose()

    after = Services(settings, clock=clock)  # a restarted app loads the boundaries: the imported ones win
    report = after.queue.submit(incoming(text="lampu jalan mati", category=None, lat=POINT[0], lon=POINT[1])).report
    assert report.kelurahan_code == SUKARASA and report.routing["location_source"] == "polygon"
    after.engine.dispose()


def test_bad_files_are_clear_errors(tmp_path):
    cases = {"missing.geojson": None, "broken.geojson": "{not json", "list.geojson": "[1, 2]",
             "nofeatures.geojson": '{"type": "FeatureCollection"}'}
    for name, body in cases.items():
        path = tmp_path / name
        if body is not None:
            path.write_text(body)
        with pytest.raises(GeoImportError) as err:
            load_features(path)
        assert name in str(err.value)


@pytest.fixture
def run(database_url, tmp_path):
    env = dict(os.environ, DATABASE_URL=database_url, ATTACHMENTS_DIR=str(tmp_path / "att"))

    def _run(*args):
        return subprocess.run([sys.executable, "app.py", *args], capture_output=True, text=True, cwd=PROJECT_ROOT,
                              env=env, timeout=120)
    return _run


def test_geo_import_command(run, geojson, tmp_path, services):
    done = run("geo", "import", str(geojson))
    assert done.returncode == 0, done.stderr
    assert "matched: 3 feature(s) -> 3 kelurahan" in done.stdout and "unmatched: 5" in done.stdout
    assert "feature 3:" in done.stdout
    assert set(polygons_from_db(services.engine)) == {SUKARASA, SUKA_ASIH, TANAH_TINGGI}

    other = tmp_path / "custom.geojson"
    other.write_text(json.dumps({"type": "FeatureCollection", "features": [
        feature({"DESA": "Buaran Indah", "KEC": "Tangerang"}, rectangle(106.645, -6.19, 106.655, -6.18))]}))
    custom = run("geo", "import", str(other), "--kelurahan-prop", "DESA", "--kecamatan-prop", "KEC", "--code-prop", "X")
    assert custom.returncode == 0 and "matched: 1 feature(s)" in custom.stdout, custom.stdout + custom.stderr
    broken = run("geo", "import", str(tmp_path / "nope.geojson"))
    assert broken.returncode == 2 and broken.stderr.startswith("error: cannot read")


def test_the_maps_draw_imported_boundaries(services, geojson):
    """The maps draw the shipped boundaries out of the box, and a kelurahan's imported boundary instead
    once `geo import` stored it (one line trace for all outlines)."""
    from dashboard import context, queries
    from dashboard.components.maps import points_figure

    context.set_services(services)
    queries._cache.clear()
    before = {a["kode"]: a for a in queries.reference_areas()}
    assert len(before) == 104 and all(a["outline"] for a in before.values())

    def drawn_rings(areas):
        [outline] = [t for t in points_figure(areas, [])["data"] if t.get("meta") == "kelurahan-outlines"]
        return outline["x"].count(None) + 1

    rings = drawn_rings(list(before.values()))
    assert rings >= 104
    with services.sessions.begin() as s:
        import_boundaries(s, load_features(geojson))
    queries._cache.clear()
    areas = {a["kode"]: a for a in queries.reference_areas()}
    [(lons, lats)] = areas[SUKARASA]["outline"]
    assert (min(lons), max(lons), min(lats), max(lats)) == (106.625, 106.6375, -6.18, -6.165)
    assert areas[CIKOKOL]["outline"] == before[CIKOKOL]["outline"]  # not imported: still the default
    assert drawn_rings(list(areas.values())) == rings - sum(len(before[c]["outline"]) for c in
                                                            (SUKARASA, SUKA_ASIH, TANAH_TINGGI)) + 3
    queries._cache.clear()
