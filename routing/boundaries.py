"""Kelurahan boundaries for point-in-polygon location.

Two sources, per kelurahan: the boundaries a city imported (`geo import`, areas.boundary_geojson) win
over the default shipped in data/geo/kelurahan_boundaries.geojson (Kemendagri 2025, MIT-licensed, from
cahyadsn/wilayah_boundaries: see the licence file beside it). `BoundaryIndex` answers "which kelurahan
covers this point" with a bounding-box filter and prepared geometries (tens of microseconds a point).
"""
from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy
import shapely
from shapely import STRtree

from .rules import Area

DEFAULT_FILE = Path("geo") / "kelurahan_boundaries.geojson"
EDGE_DEGREES = 1e-5  # ~1 m: a point this close to a boundary is on it (a coordinate on the city's border)


def default_file(data_dir: Path | str) -> Path:
    return Path(data_dir) / DEFAULT_FILE


def default_boundaries(data_dir: Path | str, areas: Sequence[Area] | None = None) -> dict[str, Any]:
    """Kelurahan code -> shapely geometry from the shipped file ({} when the data dir has none).
    Features are matched to `areas` (by code, else by name; default: the data dir's areas.csv)."""
    path = default_file(data_dir)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    if areas is None:
        from .rules import load_rules

        areas = load_rules(Path(data_dir)).areas
    return dict(_load(str(path), stamp, tuple(areas)))


@lru_cache(maxsize=8)
def _load(path: str, _stamp: int, areas: tuple[Area, ...]) -> tuple[tuple[str, Any], ...]:
    from shapely.geometry import shape
    from shapely.ops import unary_union
    from shapely.validation import make_valid

    features = json.loads(Path(path).read_bytes()).get("features") or []
    matched = match_geojson_features(features, areas)
    parts: dict[str, list] = {}
    for index, code in sorted(matched.matched.items()):
        geom = shape(features[index]["geometry"])
        parts.setdefault(code, []).append(geom if geom.is_valid else make_valid(geom))
    return tuple((code, unary_union(p) if len(p) > 1 else p[0]) for code, p in parts.items())


def merge(imported: Mapping[str, Any] | None, default: Mapping[str, Any] | None) -> dict[str, Any]:
    """Imported boundaries first (they win where they overlap a default one), then the default ones of
    the kelurahan the city did not import."""
    imported = dict(imported or {})
    return {**imported, **{code: g for code, g in (default or {}).items() if code not in imported}}


class BoundaryIndex:
    """Which kelurahan covers a point (its boundary included). Polygons earlier in the mapping win where
    two overlap. `complete` is true when every kelurahan of the city has a boundary: a point outside all
    of them is then outside the city, unless it falls in a sliver between two (the nearest one)."""

    def __init__(self, polygons: Mapping[str, Any], area_codes: Sequence[str]):
        known = set(area_codes)
        self.codes: list[str] = []
        geoms = []
        for code, geom in polygons.items():
            if code in known and geom is not None and not geom.is_empty:
                self.codes.append(code)
                geoms.append(geom)
        self.geoms = numpy.array(geoms, dtype=object)
        shapely.prepare(self.geoms)
        self.tree = STRtree(self.geoms) if geoms else None
        self.bounds = shapely.bounds(self.geoms) if geoms else numpy.empty((0, 4))
        self.complete = bool(geoms) and known <= set(self.codes)
        self._lock = threading.Lock()
        self._shell = None
        # GEOS builds a prepared geometry's point index on first use: build it now, in one thread, so that
        # the web tier's threads only ever read it.
        for geom, (x0, y0, _, _) in zip(self.geoms, self.bounds):
            shapely.intersects_xy(geom, x0, y0)
        if self.tree is not None:
            self.tree.query_nearest(shapely.Point(self.bounds[0, 0], self.bounds[0, 1]))

    def __len__(self) -> int:
        return len(self.codes)

    def locate(self, lat: float, lon: float) -> tuple[str | None, float]:
        """(kelurahan code, distance in metres) of the kelurahan covering the point (distance 0), else, for a
        point in a sliver inside the city, of the nearest one; (None, inf) when there is none."""
        if self.tree is None or not (math.isfinite(lat) and math.isfinite(lon)):
            return None, math.inf
        b = self.bounds
        for i in numpy.flatnonzero((b[:, 0] <= lon) & (lon <= b[:, 2]) & (b[:, 1] <= lat) & (lat <= b[:, 3])):
            if shapely.intersects_xy(self.geoms[i], lon, lat):  # prepared: a few microseconds
                return self.codes[i], 0.0
        point = shapely.Point(lon, lat)
        near, distance = self.tree.query_nearest(point, max_distance=EDGE_DEGREES, return_distance=True)
        if not len(near):
            if not self.complete or not shapely.intersects_xy(self.shell, lon, lat):
                return None, math.inf
            # In the city but in no kelurahan: one of the slivers between neighbouring boundaries of the
            # source map (the shipped file has about 300, metres wide). The nearest kelurahan is meant.
            near, distance = self.tree.query_nearest(point, return_distance=True)
        k = int(numpy.argmin(near))  # of equally near ones, the earliest (imported before default)
        return self.codes[int(near[k])], float(distance[k]) * 111_320  # degrees to metres near the equator

    @property
    def shell(self):
        """The city's outline without the slivers inside it (prepared), computed on first need (~0.1 s)."""
        with self._lock:
            if self._shell is None:
                from shapely.geometry import MultiPolygon, Polygon
                from shapely.ops import unary_union

                union = unary_union(list(self.geoms))
                parts = getattr(union, "geoms", [union])
                shell = MultiPolygon([Polygon(p.exterior) for p in parts if p.geom_type == "Polygon"])
                shapely.prepare(shell)
                x0, y0, _, _ = shell.bounds
                shapely.intersects_xy(shell, x0, y0)
                self._shell = shell
            return self._shell


@dataclass(frozen=True)
class GeoJsonMatch:
    matched: dict[int, str]  # feature index -> kelurahan code
    unmatched: list[tuple[int, str]]  # (feature index, why)


def match_geojson_features(features: Iterable[Mapping[str, Any]], areas: Sequence[Area],
                           code_props=("kode", "KDEPUM"), kel_props=("kelurahan", "nama", "WADMKD"),
                           kec_props=("kecamatan", "WADMKC")) -> GeoJsonMatch:
    """Map each GeoJSON feature to a kelurahan code, by Kemendagri code first, else by name
    (kelurahan name or alias, with the kecamatan to break ties). Unmatched features say why."""
    from .location import compact

    by_code = {a.code.replace(".", ""): a.code for a in areas}
    by_name: dict[str, list[Area]] = {}
    for a in areas:
        for name in (a.kelurahan, *a.aliases):
            by_name.setdefault(compact(name), []).append(a)
    matched: dict[int, str] = {}
    unmatched: list[tuple[int, str]] = []
    for i, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, Mapping) else None
        if not isinstance(props, Mapping):
            unmatched.append((i, "feature has no properties"))
            continue
        code = next((str(props[p]) for p in code_props if props.get(p) not in (None, "")), None)
        if code is not None:
            key = re.sub(r"[^0-9]", "", code)
            if key in by_code:
                matched[i] = by_code[key]
                continue
        kel = next((str(props[p]) for p in kel_props if props.get(p) not in (None, "")), None)
        kec = next((str(props[p]) for p in kec_props if props.get(p) not in (None, "")), None)
        candidates = {a.code: a for a in by_name.get(compact(kel), [])} if kel else {}
        if kec and len(candidates) > 1:
            candidates = {c: a for c, a in candidates.items() if compact(a.kecamatan) == compact(kec)}
        if kec and len(candidates) == 1:
            only = next(iter(candidates.values()))
            if compact(only.kecamatan) != compact(kec) and compact(kec) not in {compact(a.kecamatan) for a in areas}:
                candidates = {}
        if len(candidates) == 1:
            matched[i] = next(iter(candidates))
        elif not kel and code is None:
            unmatched.append((i, "no code or kelurahan name in properties"))
        elif len(candidates) > 1:
            unmatched.append((i, f"kelurahan name {kel!r} is ambiguous; give the kecamatan"))
        else:
            unmatched.append((i, f"no kelurahan matches code {code!r} / name {kel!r} ({kec or 'no kecamatan'})"))
    return GeoJsonMatch(matched, unmatched)


def polygons_from_geojson(features: Sequence[Mapping[str, Any]], areas: Sequence[Area], **props) -> tuple[dict, GeoJsonMatch]:
    """Shapely geometries keyed by kelurahan code, for `Gazetteer(polygons=...)`."""
    from shapely.geometry import shape

    result = match_geojson_features(features, areas, **props)
    polygons = {}
    for i, code in result.matched.items():
        geom = shape(features[i]["geometry"])
        polygons[code] = polygons[code].union(geom) if code in polygons else geom
    return polygons, result
