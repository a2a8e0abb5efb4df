"""Import and export grid plans: GeoJSON, GeoPackage, Shapefile (zipped) and CSV of codes.

Input in EPSG:4326, EPSG:4490 (CGCS2000) or any projected CRS the file declares is reprojected to WGS84;
GCJ-02 or BD-09 input is accepted when the caller declares it (``crs="gcj02"``), since no file format can say
so. Shapefile column names are limited to 10 characters, so exports use short names and imports accept both.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis.coords import CRS, parse_crs, to_wgs84
from gis.errors import InvalidInput, PayloadTooLarge
from gis.gridcodes import to_cjt349
from layers import models
from layers.plans import get_plan, plan_summary

FORMATS = {
    "geojson": ("application/geo+json", ".geojson"),
    "gpkg": ("application/geopackage+sqlite3", ".gpkg"),
    "shp": ("application/zip", ".zip"),
    "csv": ("text/csv; charset=utf-8", ".csv"),
}
SHORT_NAMES = {"community_code": "comm_code", "community_edition": "comm_ed", "exclusive_type": "excl_type"}
LONG_NAMES = {v: k for k, v in SHORT_NAMES.items()} | {"community_": "community_code", "exclusive_": "exclusive_type"}
COLUMNS = ("code", "name", "kind", "exclusive_type", "community_code", "community_edition", "households",
           "residents", "version")
MAX_UPLOAD_BYTES = 50_000_000


def format_for(filename: str, fmt: str | None = None) -> str:
    """The format named by ``fmt`` or guessed from a file name (``.geojson``/``.json``, ``.gpkg``, ``.zip``/``.shp``)."""
    if fmt:
        fmt = fmt.lower().lstrip(".")
        fmt = {"json": "geojson", "shapefile": "shp", "zip": "shp", "geopackage": "gpkg"}.get(fmt, fmt)
        if fmt not in FORMATS:
            raise InvalidInput(f"不支持的格式 {fmt!r}；可用 {sorted(FORMATS)} (unsupported format)")
        return fmt
    suffix = Path(filename or "").suffix.lower()
    found = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".zip": "shp", ".shp": "shp"}.get(suffix)
    if found is None:
        raise InvalidInput(f"无法从文件名 {filename!r} 判断格式；请用 .geojson、.gpkg 或 .zip（Shapefile） "
                           "(cannot tell the format from the file name)")
    return found


def _declared_geojson_crs(obj: dict[str, Any]) -> str | None:
    name = ((obj.get("crs") or {}).get("properties") or {}).get("name")
    if not name:
        return None
    if "CRS84" in name:
        return "EPSG:4326"
    return "EPSG:" + name.rsplit(":", 1)[-1] if "EPSG" in name else name


def read_frame(data: bytes, filename: str, *, fmt: str | None = None, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read an uploaded file into a GeoDataFrame in its own CRS (GeoJSON without a crs member is WGS84)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"文件超过 {MAX_UPLOAD_BYTES // 1_000_000} MB (file too large)")
    kind = format_for(filename, fmt)
    try:
        if kind == "geojson":
            obj = json.loads(data)
            if obj.get("type") == "Feature":
                obj = {"type": "FeatureCollection", "features": [obj]}
            gdf = gpd.GeoDataFrame.from_features(obj.get("features") or [], crs=_declared_geojson_crs(obj) or 4326)
            return gdf
        with tempfile.TemporaryDirectory(prefix="gridmap_import_") as tmp:
            path = Path(tmp) / ("upload" + FORMATS[kind][1])
            path.write_bytes(data)
            if kind == "shp":
                if not zipfile.is_zipfile(path):
                    raise InvalidInput("Shapefile 须打包为 .zip（含 .shp/.shx/.dbf/.prj） (zip the shapefile)")
                with zipfile.ZipFile(path) as zf:
                    shp = [n for n in zf.namelist() if n.lower().endswith(".shp")]
                    if not shp:
                        raise InvalidInput("压缩包中没有 .shp 文件 (no .shp in the zip)")
                    zf.extractall(tmp)
                path = Path(tmp) / shp[0]
            return pyogrio.read_dataframe(path, layer=layer)
    except (InvalidInput, PayloadTooLarge):
        raise
    except Exception as exc:  # noqa: BLE001 - the caller's file is unreadable: say so, without internals
        raise InvalidInput(f"无法读取文件 {filename!r}：{type(exc).__name__} (cannot read the file)") from exc


def frame_to_collection(gdf: gpd.GeoDataFrame, *, crs: str | CRS | None = None) -> dict[str, Any]:
    """Reproject a GeoDataFrame to WGS84 (GCJ-02/BD-09 converted when declared) → a FeatureCollection."""
    declared = None
    if crs is not None and str(crs).lower() in {c.value for c in CRS} | {"gcj-02", "bd-09"}:
        declared = parse_crs(crs)
    elif crs is not None:
        gdf = gdf.set_crs(crs, allow_override=True)
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    if declared in (CRS.GCJ02, CRS.BD09):
        geoms = shapely.transform(np.asarray(gdf.geometry.values, dtype=object),
                                  lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], declared)))
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=4326))
    elif gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    gdf = gdf.rename(columns={k: v for k, v in LONG_NAMES.items() if k in gdf.columns})
    features = []
    for row in gdf.itertuples(index=False):
        props = {}
        for col in gdf.columns:
            if col == gdf.geometry.name:
                continue
            v = getattr(row, col)
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            props[col] = v.item() if hasattr(v, "item") else v
        for key in ("code", "community_code"):
            if key in props:
                props[key] = str(props[key]).split(".")[0]
        geom = getattr(row, gdf.geometry.name)
        features.append({"type": "Feature", "properties": props,
                         "geometry": shapely.geometry.mapping(geom) if geom is not None else None})
    return {"type": "FeatureCollection", "features": features}


def read_upload(data: bytes, filename: str, *, fmt: str | None = None, crs: str | None = None,
                layer: str | None = None) -> dict[str, Any]:
    """An uploaded GeoJSON/GeoPackage/zipped Shapefile as a WGS84 FeatureCollection of grids."""
    return frame_to_collection(read_frame(data, filename, fmt=fmt, layer=layer), crs=crs)


def plan_frame(session: Session, plan_id: int) -> gpd.GeoDataFrame:
    """A plan's grids as a GeoDataFrame (EPSG:4326), ordered by code."""
    get_plan(session, plan_id)
    rows = session.execute(
        select(*[getattr(models.Grid, c) for c in COLUMNS], func.ST_AsBinary(models.Grid.geom))
        .where(models.Grid.plan_id == plan_id).order_by(models.Grid.code)
    ).all()
    data = {c: [r[i] for r in rows] for i, c in enumerate(COLUMNS)}
    geoms = shapely.from_wkb(np.asarray([bytes(r[-1]) for r in rows], dtype=object)) if rows else []
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


def _code20(code: str) -> str:
    try:
        return to_cjt349(code)
    except InvalidInput:
        return ""


def export_plan(session: Session, plan_id: int, fmt: str) -> tuple[bytes, str, str]:
    """Export a plan: ``(content, media type, file name)``. CSV lists codes (15 and 20 digits) and counts."""
    kind = format_for("", fmt)
    gdf = plan_frame(session, plan_id)
    plan = get_plan(session, plan_id)
    stem = f"grid_plan_{plan_id}" + (f"_gen{plan.generation}" if plan.generation else "")
    media, suffix = FORMATS[kind]
    if kind == "geojson":
        fc = json.loads(gdf.to_json(drop_id=True))
        fc["name"] = stem
        fc["plan"] = plan_summary(session, plan)
        return json.dumps(fc, ensure_ascii=False).encode(), media, stem + suffix
    if kind == "csv":
        pts = shapely.point_on_surface(shapely.make_valid(np.asarray(gdf.geometry.values, dtype=object)))
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["code", "code_cjt349", "name", "kind", "community_code", "households", "residents",
                    "lon", "lat"])
        for row, pt in zip(gdf.itertuples(index=False), pts, strict=True):
            w.writerow([row.code, _code20(row.code), row.name, row.kind, row.community_code, row.households,
                        row.residents, round(pt.x, 7), round(pt.y, 7)])
        return ("\ufeff" + buf.getvalue()).encode("utf-8"), media, stem + suffix
    with tempfile.TemporaryDirectory(prefix="gridmap_export_") as tmp:
        out = gdf.copy()
        out["code_cjt349"] = [_code20(c) for c in out["code"]]
        if kind == "gpkg":
            path = Path(tmp) / (stem + ".gpkg")
            pyogrio.write_dataframe(out, path, layer="grids", driver="GPKG")
            return path.read_bytes(), media, stem + suffix
        out = out.rename(columns=SHORT_NAMES | {"code_cjt349": "code20"})
        path = Path(tmp) / (stem + ".shp")
        pyogrio.write_dataframe(out, path, driver="ESRI Shapefile", encoding="UTF-8")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(Path(tmp).iterdir()):
                zf.write(f, f.name)
        return buf.getvalue(), media, stem + suffix
