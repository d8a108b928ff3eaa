"""Place: how well coordinates and text resolve to kecamatan and kelurahan. Prints

* coordinates: random points inside every kelurahan of the shipped boundaries, points on the city's
  border and points outside the city, resolved with no `geo import` (target: >= 99% right kelurahan,
  every outside point resolves to none), and the time per point;
* text: on labelled JSON-lines files (tests/data/labelled_reports.jsonl by default), per file the
  kecamatan and kelurahan accuracy and the share of reports whose label has no kecamatan that were
  given one anyway ("claimed but unsupported").

    python bench/bench_place.py [FILE.jsonl ...] [--points-per-kelurahan 50] [--misses]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from routing.boundaries import default_boundaries  # noqa: E402
from routing.engine import Router  # noqa: E402


def sample_points(polygons: dict, per_kelurahan: int, rng: random.Random):
    """(code, lat, lon) for random points inside each polygon, and (code, lat, lon) for points on the
    city's outer border (the kelurahan whose own boundary carries the point)."""
    from shapely.geometry import Point
    from shapely.ops import unary_union

    inside = []
    for code, geom in polygons.items():
        x0, y0, x1, y1 = geom.bounds
        got = 0
        while got < per_kelurahan:
            p = Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
            if geom.contains(p):
                inside.append((code, p.y, p.x))
                got += 1
    city = unary_union(list(polygons.values()))
    ring = city.exterior if city.geom_type == "Polygon" else max(city.geoms, key=lambda g: g.area).exterior
    border, outside = [], []
    for i in range(400):
        p = ring.interpolate(i / 400, normalized=True)
        owner = min(polygons, key=lambda c: polygons[c].boundary.distance(p))
        border.append((owner, p.y, p.x))
    for distance in (0.002, 0.01, 0.05):  # ~220 m, 1.1 km, 5.5 km outside the border
        shell = city.buffer(distance).exterior if city.geom_type == "Polygon" else None
        for i in range(100):
            p = shell.interpolate(i / 100, normalized=True)
            if not city.buffer(distance * 0.9).contains(p):
                outside.append((None, p.y, p.x))
    return inside, border, outside


def coordinates(router: Router, per_kelurahan: int) -> None:
    polygons = default_boundaries(ROOT / "data")
    rng = random.Random(20261201)
    inside, border, outside = sample_points(polygons, per_kelurahan, rng)
    gaz = router.gazetteer
    for name, points in (("inside every kelurahan", inside), ("on the city's border", border)):
        right = sum(gaz.locate_point(lat, lon).kelurahan_code == code for code, lat, lon in points)
        print(f"coordinates {name:<28} {right / len(points):7.2%} right kelurahan ({right}/{len(points)})")
    none = sum(_outside(gaz.locate_point(lat, lon)) for _, lat, lon in outside)
    print(f"coordinates {'outside the city':<28} {none / len(outside):7.2%} resolve to none ({none}/{len(outside)})")
    points = [(lat, lon) for _, lat, lon in inside]
    start = time.perf_counter()
    for lat, lon in points:
        gaz.locate_point(lat, lon)
    per = (time.perf_counter() - start) / len(points) * 1e6
    print(f"coordinates point-in-polygon: {per:.1f} us per point ({len(points)} points)")


def _outside(loc) -> bool:
    return loc.outside_city and loc.kecamatan is None and loc.kelurahan is None


def text(router: Router, files: list[Path], misses: bool) -> None:
    print(f"\n{'file':<24} {'n':>5} {'kecamatan':>10} {'kelurahan':>10} {'outside':>8} {'unsupported kec':>18}")
    for path in files:
        items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        items = [i for i in items if isinstance(i.get("expected"), dict) and "kecamatan" in i["expected"]]
        kec = kel = outside = n_out = unsupported = without = 0
        wrong = []
        for it in items:
            exp = it["expected"]
            r = router.classify(it["text"], lat=it.get("lat"), lon=it.get("lon"), channel=it.get("channel"))
            kec += r.kecamatan == exp.get("kecamatan")
            kel += r.kelurahan == exp.get("kelurahan")
            if "outside_city" in exp:
                n_out += 1
                outside += bool(r.outside_city) == bool(exp["outside_city"])
            if exp.get("kecamatan") is None:
                without += 1
                unsupported += r.kecamatan is not None
            if (r.kecamatan, r.kelurahan, bool(r.outside_city)) != (exp.get("kecamatan"), exp.get("kelurahan"),
                                                                    bool(exp.get("outside_city"))):
                wrong.append((it["id"], (exp.get("kecamatan"), exp.get("kelurahan"), bool(exp.get("outside_city"))),
                              (r.kecamatan, r.kelurahan, r.outside_city),
                              it["text"][:150].replace("\n", " ")))
        n = len(items) or 1
        rate = f"{unsupported / without:.1%} ({unsupported}/{without})" if without else "-"
        print(f"{path.name:<24} {len(items):>5} {kec / n:>10.1%} {kel / n:>10.1%} "
              f"{(outside / n_out if n_out else float('nan')):>8.1%} {rate:>18}")
        if misses:
            for w in wrong:
                print("   ", *w)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*", type=Path, default=[ROOT / "tests" / "data" / "labelled_reports.jsonl"])
    parser.add_argument("--points-per-kelurahan", type=int, default=50)
    parser.add_argument("--misses", action="store_true", help="list every wrong place")
    args = parser.parse_args()
    router = Router.load(ROOT / "data")
    coordinates(router, args.points_per_kelurahan)
    text(router, args.files, args.misses)


if __name__ == "__main__":
    main()
