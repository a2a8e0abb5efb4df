"""Import buildings and facilities (POIs) from an OpenStreetMap PBF into PostGIS.

:func:`load_osm` reads the file with pyrosm and writes, in one transaction:

- **buildings**: footprints (``MULTIPOLYGON``) with ``osm_id``, ``floors``, and households/residents
  estimated by :mod:`gis.osm_buildings` (the rule and its inputs are stored in ``properties.estimate`` with
  ``properties.estimated = true``);
- **facilities**: every POI (``amenity``, ``shop``, ``leisure``, ``healthcare``, ``social_facility``,
  ``office``, bus stops and platforms) and every building that :func:`gis.osm_tags.classify` maps to a
  facility type; polygons become their representative point (``ST_PointOnSurface`` semantics), the OSM id
  is kept as ``node/…``, ``way/…`` or ``relation/…``;
- a **dataset_loads** row ``osm:<name>`` with the file, the counts and the attribution
  "© OpenStreetMap contributors".

Every row has ``source = 'osm'`` and ``properties.dataset = <name>``; re-loading the same name first deletes
that dataset's rows, so a re-import replaces and never duplicates. Community codes are filled from
``admin_areas`` (community/village polygons of the newest edition) where one covers the feature, else left
null: OSM boundaries carry no 12-digit codes, so the names of the file's own administrative boundaries that
cover a feature are only kept as ``properties.osm_admin`` (``{admin_level: name}``).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import insert, text
from sqlalchemy.orm import Session, sessionmaker

from gis.domain import FACILITY_TYPES
from gis.errors import InvalidInput
from gis.osm_buildings import RULE_TEXT, estimate_households, footprint_area_m2
from gis.osm_tags import TYPE_NAMES, classify
from layers import models
from layers.facility_types import seed_facility_types

SOURCE = "osm"
ATTRIBUTION = "© OpenStreetMap contributors, Open Database License (ODbL) 1.0"

POI_FILTER: dict[str, Any] = {
    "amenity": True,
    "shop": True,
    "leisure": True,
    "healthcare": True,
    "social_facility": True,
    "office": True,
    "highway": ["bus_stop"],
    "public_transport": ["platform"],
}
"""What pyrosm is asked for; :func:`gis.osm_tags.classify` then keeps what maps to a facility type."""

_META = {"id", "lon", "lat", "tags", "visible", "version", "timestamp", "changeset", "geometry", "osm_type"}

Progress = Callable[[str], None]


def _noop(_label: str) -> None:
    return None


def dataset_key(name: str) -> str:
    """The ``dataset_loads.name`` of an OSM feature import called ``name``."""
    return f"osm:{name}"


def _tag_dicts(frame: pd.DataFrame) -> list[dict[str, str]]:
    """One complete ``{key: value}`` per row: pyrosm's tag columns plus its JSON ``tags`` column."""
    if frame is None or len(frame) == 0:
        return []
    cols = [c for c in frame.columns if c not in _META]
    records = frame[cols].to_dict("records")
    extra = frame["tags"].tolist() if "tags" in frame else [None] * len(frame)
    out = []
    for rec, more in zip(records, extra, strict=True):
        tags: dict[str, str] = {}
        if isinstance(more, str) and more:
            try:
                tags.update({k: str(v) for k, v in json.loads(more).items() if v is not None})
            except (json.JSONDecodeError, AttributeError):
                pass
        elif isinstance(more, dict):
            tags.update({k: str(v) for k, v in more.items() if v is not None})
        for k, v in rec.items():
            if v is None or (isinstance(v, float) and np.isnan(v)) or isinstance(v, bool):
                continue
            tags[k] = str(v)
        out.append(tags)
    return out


def _read(pbf_path: Path, *, buildings: bool, facilities: bool):
    import pyrosm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        osm = pyrosm.OSM(str(pbf_path))
        b = osm.get_buildings() if buildings or facilities else None
        p = osm.get_pois(custom_filter=POI_FILTER) if facilities else None
        a = osm.get_boundaries(boundary_type="administrative")
    empty = gpd.GeoDataFrame({"id": [], "osm_type": []}, geometry=gpd.GeoSeries([], crs=4326))
    b = empty if b is None or len(b) == 0 else b.reset_index(drop=True)
    p = empty if p is None or len(p) == 0 else p.reset_index(drop=True)
    return b, p, _admin_polygons(a)


def _admin_polygons(frame) -> list[tuple[Any, str, str]]:
    """``(polygon, admin_level, name)`` of the file's administrative boundaries (names only: OSM has no
    12-digit codes, so these never set ``community_code``)."""
    if frame is None or len(frame) == 0 or "admin_level" not in frame:
        return []
    out = []
    for geom, level, name in zip(frame.geometry, frame["admin_level"], frame.get("name", [None] * len(frame)),
                                 strict=True):
        if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon") or not name:
            continue
        out.append((shapely.make_valid(geom), str(level), str(name)))
    return out


def osm_admin_names(points: np.ndarray, admin: list[tuple[Any, str, str]]) -> list[dict[str, str]]:
    """For each point, ``{admin_level: name}`` of the file's boundaries that cover it."""
    result: list[dict[str, str]] = [{} for _ in range(len(points))]
    if not admin or len(points) == 0:
        return result
    tree = shapely.STRtree([g for g, _, _ in admin])
    pts = np.array([p if p is not None else shapely.Point() for p in points], dtype=object)
    pi, ai = tree.query(pts, predicate="covered_by")
    for i, j in zip(pi.tolist(), ai.tolist(), strict=True):
        _g, level, name = admin[j]
        result[i][level] = name
    return result


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Valid MultiPolygons (None where nothing polygonal is left)."""
    geoms = shapely.make_valid(geoms)
    out = np.empty(len(geoms), dtype=object)
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            out[i] = None
            continue
        if g.geom_type == "GeometryCollection":
            polys = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
            g = shapely.union_all(polys) if polys else None
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            out[i] = None
        else:
            out[i] = g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
    return out


def _osm_ref(osm_type: Any, osm_id: Any) -> str:
    return f"{osm_type or 'node'}/{int(osm_id)}"


def _name(tags: dict[str, str]) -> str | None:
    for key in ("name", "name:zh", "name:zh-Hans", "official_name", "name:en", "ref"):
        if tags.get(key):
            return tags[key][:200]
    return None


def _address(tags: dict[str, str]) -> str | None:
    if tags.get("addr:full"):
        return tags["addr:full"][:300]
    parts = [tags.get(k) for k in ("addr:city", "addr:district", "addr:street", "addr:housenumber")]
    text_ = " ".join(p for p in parts if p)
    return text_[:300] or None


def building_rows(frame: gpd.GeoDataFrame, name: str, admin: list | None = None) -> list[dict[str, Any]]:
    """Rows for ``buildings`` from pyrosm's buildings frame (estimated households flagged)."""
    if len(frame) == 0:
        return []
    geoms = _polygonal(frame.geometry.to_numpy())
    keep = np.array([g is not None for g in geoms])
    frame = frame.loc[keep].reset_index(drop=True)
    geoms = geoms[keep]
    tags = _tag_dicts(frame)
    tag_frame = pd.DataFrame(tags)
    area = footprint_area_m2(gpd.GeoSeries(geoms, crs=4326))
    est = estimate_households(tag_frame, area)
    admin_names = osm_admin_names(shapely.point_on_surface(geoms), admin or [])
    rows = []
    for i, t in enumerate(tags):
        e = est.iloc[i]
        rows.append({
            "name": _name(t),
            "address": _address(t),
            "community_code": None,
            "floors": int(e["floors"]),
            "stairwell_count": 0,
            "households": int(e["households"]),
            "residents": int(e["residents"]),
            "use": (t.get("building") or "yes")[:50],
            "osm_id": int(frame["id"].iloc[i]),
            "geom": f"SRID=4326;{geoms[i].wkt}",
            "source": SOURCE,
            "properties": {
                "dataset": name,
                "osm_type": str(frame["osm_type"].iloc[i]),
                "estimated": True,
                "estimate": {
                    "footprint_m2": round(float(area[i]), 1),
                    "floors": int(e["floors"]),
                    "floors_from": str(e["levels_source"]),
                    "basis": str(e["basis"]),
                    "rule": RULE_TEXT,
                },
                **({"osm_admin": admin_names[i]} if admin_names[i] else {}),
                "attribution": ATTRIBUTION,
            },
        })
    return rows


def facility_rows(pois: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, name: str,
                  admin: list | None = None) -> list[dict[str, Any]]:
    """Rows for ``facilities``: classified POIs, then classified buildings that are not POIs already."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for frame in (pois, buildings):
        if len(frame) == 0:
            continue
        tags = _tag_dicts(frame)
        codes = [classify(t) for t in tags]
        idx = [i for i, c in enumerate(codes) if c is not None]
        if not idx:
            continue
        geoms = frame.geometry.to_numpy()[idx]
        valid = shapely.make_valid(geoms)
        points = shapely.point_on_surface(valid)
        admin_names = osm_admin_names(points, admin or [])
        for j, i in enumerate(idx):
            ref = _osm_ref(frame["osm_type"].iloc[i], frame["id"].iloc[i])
            pt = points[j]
            if ref in seen or pt is None or pt.is_empty:
                continue
            seen.add(ref)
            t = tags[i]
            code = codes[i]
            rows.append({
                "type_code": code,
                "name": _name(t) or TYPE_NAMES[code][0],
                "address": _address(t),
                "community_code": None,
                "osm_id": ref,
                "geom": f"SRID=4326;POINT({pt.x:.8f} {pt.y:.8f})",
                "source": SOURCE,
                "properties": {
                    "dataset": name,
                    "osm_geometry": geoms[j].geom_type if geoms[j] is not None else None,
                    "tags": {k: v for k, v in t.items() if k in _KEPT_TAGS},
                    **({"osm_admin": admin_names[j]} if admin_names[j] else {}),
                    "attribution": ATTRIBUTION,
                },
            })
    return rows


_KEPT_TAGS = frozenset({
    "amenity", "shop", "leisure", "healthcare", "social_facility", "social_facility:for", "office", "highway",
    "public_transport", "bus", "access", "building", "opening_hours", "operator", "name:en", "name:zh",
})


def delete_dataset(session: Session, name: str) -> dict[str, int]:
    """Delete the buildings and facilities of OSM dataset ``name`` (their service circles go too)."""
    counts = {}
    for table in ("facilities", "buildings"):
        result = session.execute(
            text(f"DELETE FROM {table} WHERE source = :s AND properties->>'dataset' = :n"),  # noqa: S608
            {"s": SOURCE, "n": name},
        )
        counts[table] = result.rowcount
    session.execute(text("DELETE FROM dataset_loads WHERE name = :n"), {"n": dataset_key(name)})
    return counts


def _assign_communities(session: Session, name: str) -> dict[str, int]:
    """Fill community_code from the newest community/village polygon covering each feature."""
    assigned = {}
    for table, point in (("buildings", "ST_PointOnSurface(t.geom)"), ("facilities", "t.geom")):
        result = session.execute(
            text(f"""
            UPDATE {table} t SET community_code = (
                SELECT a.code FROM admin_areas a
                WHERE a.level IN ('community', 'village') AND a.geom IS NOT NULL
                  AND a.geom && t.geom AND ST_Covers(a.geom, {point})
                ORDER BY a.edition_year DESC, a.code LIMIT 1)
            WHERE t.source = :s AND t.properties->>'dataset' = :n
            """),  # noqa: S608
            {"s": SOURCE, "n": name},
        )
        assigned[table] = result.rowcount
    return {
        table: session.scalar(
            text(f"SELECT count(*) FROM {table} WHERE source = :s AND properties->>'dataset' = :n "  # noqa: S608
                 "AND community_code IS NOT NULL"),
            {"s": SOURCE, "n": name},
        )
        for table in assigned
    }


def _read_pbf(path: Path, *, buildings: bool, facilities: bool):
    """``(buildings, POIs, admin boundaries)`` of a PBF; :class:`InvalidInput` when it cannot be read."""
    try:
        return _read(path, buildings=buildings, facilities=facilities)
    except Exception as exc:  # pyrosm raises bare exceptions on a corrupt file
        raise InvalidInput(
            f"无法读取 OSM PBF 文件 {path.name} (cannot read the OSM PBF file)", detail={"file": path.name}
        ) from exc


def _load_counts(b_rows: list[dict], f_rows: list[dict], *, skipped: int, with_community: int, admin
                 ) -> dict[str, Any]:
    """What a load wrote: buildings (households estimated), facilities by type, boundaries used."""
    by_type: dict[str, int] = {}
    for r in f_rows:
        by_type[r["type_code"]] = by_type.get(r["type_code"], 0) + 1
    return {
        "buildings": len(b_rows),
        "buildings_skipped": skipped,
        "households": int(sum(r["households"] for r in b_rows)),
        "residents": int(sum(r["residents"] for r in b_rows)),
        "households_estimated": True,
        "facilities": len(f_rows),
        "by_type": dict(sorted(by_type.items())),
        "with_community": with_community,
        "osm_admin_boundaries": sorted({f"{level}:{nm}" for _g, level, nm in admin}),
    }


def _record_load(session: Session, name: str, path: Path, counts: dict[str, Any]) -> None:
    """The ``dataset_loads`` row of this load (attribution included)."""
    session.execute(
        text("""
        INSERT INTO dataset_loads (name, source, attribution, synthetic, counts)
        VALUES (:n, :s, :a, false, CAST(:c AS jsonb))
        ON CONFLICT (name) DO UPDATE SET source = EXCLUDED.source, attribution = EXCLUDED.attribution,
            synthetic = false, counts = EXCLUDED.counts, loaded_at = now()
        """),
        {"n": dataset_key(name), "s": f"osm:{path.name}", "a": ATTRIBUTION, "c": json.dumps(counts)},
    )


def load_osm(
    session_factory: sessionmaker[Session],
    pbf_path: str | Path,
    *,
    name: str | None = None,
    buildings: bool = True,
    facilities: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Import the buildings and facilities of an OSM PBF; re-importing ``name`` replaces its rows.

    Parameters
    ----------
    session_factory
        A SQLAlchemy sessionmaker on the gridmap database.
    pbf_path
        An ``.osm.pbf`` file.
    name
        Dataset name (default: the file name without ``.osm.pbf``); stored in ``properties.dataset`` of every
        row and as ``dataset_loads.name = "osm:<name>"``.
    buildings, facilities
        What to import.
    progress
        Called with a short label at each step.

    Returns
    -------
    dict
        ``{"dataset", "file", "buildings", "households", "residents", "facilities", "by_type", "replaced",
        "with_community", "attribution", "seconds"}``.

    Raises
    ------
    InvalidInput
        If the file does not exist or cannot be read as a PBF.
    """
    progress = progress or _noop
    started = time.perf_counter()
    path = Path(pbf_path)
    if not path.is_file():
        raise InvalidInput(f"找不到 OSM 文件 {path.name} (OSM file not found)", detail={"file": path.name})
    # "x.osm.pbf" → "x"; a name given as a file stem ("x.osm") is normalised the same way
    name = (name or path.name.removesuffix(".pbf")).removesuffix(".osm")
    progress(f"读取 (reading) {path.name}")
    b_frame, p_frame, admin = _read_pbf(path, buildings=buildings, facilities=facilities)
    progress("整理楼栋与设施 (preparing buildings and facilities)")
    b_rows = building_rows(b_frame, name, admin) if buildings else []
    known = {code for code, *_ in FACILITY_TYPES}
    f_rows = [r for r in (facility_rows(p_frame, b_frame, name, admin) if facilities else []) if r["type_code"] in known]
    with session_factory() as session, session.begin():
        progress("替换旧数据 (replacing the previous load)")
        seed_facility_types(session)
        replaced = delete_dataset(session, name)
        progress(f"写入 {len(b_rows)} 栋楼、{len(f_rows)} 个设施 (writing)")
        for chunk in _chunks(b_rows, 5000):
            session.execute(insert(models.Building), chunk)
        for chunk in _chunks(f_rows, 5000):
            session.execute(insert(models.Facility), chunk)
        counts = _load_counts(b_rows, f_rows, skipped=(len(b_frame) - len(b_rows)) if buildings else 0,
                              with_community=_assign_communities(session, name), admin=admin)
        _record_load(session, name, path, counts)
    progress("完成 (done)")
    return {
        "dataset": name,
        "file": path.name,
        **counts,
        "replaced": replaced,
        "attribution": ATTRIBUTION,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _chunks(rows: list[dict[str, Any]], size: int):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]
