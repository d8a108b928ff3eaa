"""Kelurahan boundaries: import a GeoJSON file into areas.boundary_geojson, read them back as polygons.

`import_boundaries` matches each feature to a kelurahan (routing.location.match_geojson_features: by
Kemendagri code, else by name with the kecamatan to break ties), checks that the geometry is a
(multi)polygon lying in the city box (catches swapped lat/lon), and stores the union of a
kelurahan's features. `polygons_from_db` gives the classifier its point-in-polygon boundaries
(app._load_classifier; `polygons_from_url` for the command line); they win over the default shipped in
data/geo (routing/boundaries.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from domain.models import Area as AreaRow

from .boundaries import match_geojson_features
from .rules import Area

MAX_FILE_BYTES = 200 * 1024 * 1024
CITY_BOX = {"min_lat": -6.27, "max_lat": -6.10, "min_lon": 106.55, "max_lon": 106.76, "box_margin": 0.05}


class GeoImportError(ValueError):
    """The file cannot be imported at all (unreadable, not JSON, not GeoJSON features)."""


@dataclass
class GeoImport:
    matched: dict[str, int] = field(default_factory=dict)  # kelurahan code -> number of features
    unmatched: list[tuple[int, str]] = field(default_factory=list)  # (feature index, why)
    features: int = 0

    def summary(self) -> str:
        return (f"{self.features} feature(s): {sum(self.matched.values())} matched to {len(self.matched)} "
                f"kelurahan, {len(self.unmatched)} unmatched")


def load_features(path: Path | str) -> list[dict]:
    """The features of a GeoJSON FeatureCollection (or a single Feature); GeoImportError says what is wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise GeoImportError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MB")
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise GeoImportError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:
        raise GeoImportError(f"{path} is not valid JSON: {str(exc)[:120]}") from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list):
            raise GeoImportError(f"{path}: a FeatureCollection needs a 'features' list")
        return features
    if isinstance(data, dict) and data.get("type") == "Feature":
        return [data]
    raise GeoImportError(f"{path} is not a GeoJSON FeatureCollection or Feature")


def _geometry(feature: Any):
    """A valid shapely (multi)polygon of the feature, or a reason why not."""
    from shapely.geometry import shape
    from shapely.validation import make_valid

    geometry = feature.get("geometry") if isinstance(feature, Mapping) else None
    if not isinstance(geometry, Mapping) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return None, "geometry is not a Polygon or MultiPolygon"
    try:
        geom = shape(geometry)
    except Exception as exc:  # shapely raises several types on malformed coordinates
        return None, f"malformed geometry: {str(exc)[:80]}"
    if geom.is_empty:
        return None, "empty geometry"
    if not geom.is_valid:
        geom = make_valid(geom)
        geom = geom if geom.geom_type in ("Polygon", "MultiPolygon") else \
            _polygons_only(geom)
        if geom is None or geom.is_empty:
            return None, "invalid geometry that cannot be repaired"
    x, y = geom.representative_point().coords[0]
    b, m = CITY_BOX, CITY_BOX["box_margin"]
    if not (b["min_lon"] - m <= x <= b["max_lon"] + m and b["min_lat"] - m <= y <= b["max_lat"] + m):
        hint = " (latitude and longitude swapped?)" if b["min_lat"] - m <= x <= b["max_lat"] + m else ""
        return None, f"lies outside Kota Tangerang at lon {x:.4f}, lat {y:.4f}{hint}"
    return geom, None


def _polygons_only(geom):
    from shapely.geometry import MultiPolygon

    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type == "Polygon"]
    return MultiPolygon(parts) if parts else None


def rule_areas(session: Session) -> list[Area]:
    return [Area(a.kode, a.kecamatan, a.kelurahan, a.postal_code, a.lat, a.lon,
                 tuple(x.strip() for x in (a.aliases or "").split(";") if x.strip()))
            for a in session.scalars(select(AreaRow).order_by(AreaRow.kode))]


def import_boundaries(session: Session, features: Sequence[Any], *, code_props: Sequence[str] = ("kode", "KDEPUM"),
                      kel_props: Sequence[str] = ("kelurahan", "nama", "WADMKD"),
                      kec_props: Sequence[str] = ("kecamatan", "WADMKC"), dry_run: bool = False) -> GeoImport:
    """Match features to kelurahan and store each matched boundary (the union of its features) in
    areas.boundary_geojson, replacing an earlier one. Nothing is written with dry_run."""
    from shapely.geometry import mapping
    from shapely.ops import unary_union

    result = GeoImport(features=len(features))
    match = match_geojson_features(features, rule_areas(session), code_props=tuple(code_props),
                                   kel_props=tuple(kel_props), kec_props=tuple(kec_props))
    result.unmatched.extend(match.unmatched)
    shapes: dict[str, list] = {}
    for index, code in sorted(match.matched.items()):
        geom, why = _geometry(features[index])
        if geom is None:
            result.unmatched.append((index, f"{code}: {why}"))
            continue
        shapes.setdefault(code, []).append(geom)
        result.matched[code] = result.matched.get(code, 0) + 1
    result.unmatched.sort()
    if not dry_run:
        for code, parts in shapes.items():
            area = session.get(AreaRow, code)
            geom = unary_union(parts) if len(parts) > 1 else parts[0]
            area.boundary_geojson = json.loads(json.dumps(mapping(geom)))  # tuples -> lists
    return result


def polygons_from_db(engine_or_session) -> dict[str, Any]:
    """Kelurahan code -> shapely geometry from areas.boundary_geojson ({} when none or no schema yet)."""
    from shapely.geometry import shape

    try:
        if isinstance(engine_or_session, Session):
            rows = engine_or_session.execute(select(AreaRow.kode, AreaRow.boundary_geojson)
                                             .where(AreaRow.boundary_geojson.is_not(None))).all()
        else:
            with engine_or_session.connect() as conn:
                rows = conn.execute(select(AreaRow.kode, AreaRow.boundary_geojson)
                                    .where(AreaRow.boundary_geojson.is_not(None))).all()
    except SQLAlchemyError:
        return {}  # not migrated yet: the classifier falls back to nearest reference points
    polygons = {}
    for code, geojson in rows:
        try:
            geom = shape(geojson)
        except Exception:  # a hand-edited row must not stop the classifier
            continue
        if not geom.is_empty:
            polygons[code] = geom
    return polygons


def polygons_from_url(database_url: str) -> dict[str, Any]:
    """The imported boundaries of the database `database_url` names, for the command line (`classify`):
    {} when it names no existing database (a missing SQLite file is not created), cannot be reached (5 s)
    or holds no boundaries. The classifier then uses the shipped default."""
    from sqlalchemy.engine import make_url

    from domain.db import make_engine

    try:
        url = make_url(database_url)
    except Exception:  # noqa: BLE001 - an unparsable URL is "no database" here; the app itself reports it
        return {}
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:" or not Path(url.database).is_file():
            return {}
        engine = make_engine(database_url)
    else:
        engine = make_engine(database_url, connect_args={"connect_timeout": 5})
    try:
        return polygons_from_db(engine)
    finally:
        engine.dispose()


__all__ = ["load_features", "import_boundaries", "polygons_from_db", "polygons_from_url", "GeoImport",
           "GeoImportError"]
