"""Points in and answers out for batch locating: CSV, GeoJSON and GeoParquet, as bytes or files.

Input: CSV with ``lon,lat`` columns (``x,y``/``lng`` and ``longitude,latitude`` too, and an optional ``crs``
column per row), a GeoJSON FeatureCollection of Points, or GeoParquet of points. Other columns/properties are
carried through to the answer, which is the same table as :func:`layers.locate.locate_many` gives.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gis.errors import InvalidGeometry, InvalidInput, PayloadTooLarge

LON_NAMES = ("lon", "lng", "longitude", "x")
LAT_NAMES = ("lat", "latitude", "y")
FORMATS = ("csv", "geojson", "parquet")


@dataclass
class PointTable:
    """Points read from a batch: coordinates, the per-row CRS (or None) and the columns to carry through."""

    lon: np.ndarray
    lat: np.ndarray
    crs: np.ndarray | None
    extra: pd.DataFrame


def format_of(name: str | None, content_type: str | None = None) -> str:
    """``csv``, ``geojson`` or ``parquet`` from a file name or a content type."""
    low = (name or "").lower()
    ct = (content_type or "").lower()
    if low.endswith((".parquet", ".geoparquet")) or "parquet" in ct:
        return "parquet"
    if low.endswith((".geojson", ".json")) or "json" in ct:
        return "geojson"
    if low.endswith((".csv", ".txt")) or "csv" in ct or "text/plain" in ct:
        return "csv"
    raise InvalidInput(f"无法识别的格式 {name or content_type!r}；可用 CSV、GeoJSON、GeoParquet (unknown format; use "
                       "CSV with lon,lat, a GeoJSON FeatureCollection of points, or GeoParquet)")


def _column(df: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lower = {str(c).strip().lower(): c for c in df.columns}
    for n in names:
        if n in lower:
            return lower[n]
    return None


def _numbers(series: pd.Series, what: str) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(values))
    if bad.size:
        rows = [int(i) + 2 for i in bad[:10]]
        raise InvalidInput(f"{what} 列有 {bad.size} 个非数字的值，例如第 {rows[0]} 行 ({bad.size} values of {what} "
                           f"are not numbers; CSV line {rows[0]} first)", detail={"column": what, "lines": rows})
    return values


def read_csv(data: bytes | str | Path) -> PointTable:
    """A CSV with a header holding lon and lat columns (and optionally crs)."""
    try:
        df = pd.read_csv(io.BytesIO(data) if isinstance(data, bytes) else data, dtype=str, keep_default_na=False,
                         skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"无法读取 CSV (cannot read the CSV): {str(exc).splitlines()[0][:200]}") from exc
    lon_c, lat_c = _column(df, LON_NAMES), _column(df, LAT_NAMES)
    if lon_c is None or lat_c is None:
        raise InvalidInput("CSV 须有 lon 和 lat 两列（表头） (the CSV needs a header with lon and lat columns)",
                           detail={"columns": [str(c) for c in df.columns][:20]})
    crs_c = _column(df, ("crs",))
    crs = df[crs_c].str.strip().replace("", "wgs84").to_numpy(dtype=object) if crs_c is not None else None
    extra = df.drop(columns=[c for c in (lon_c, lat_c, crs_c) if c is not None])
    return PointTable(_numbers(df[lon_c], "lon"), _numbers(df[lat_c], "lat"), crs, extra)


def read_geojson(data: bytes | str | Path | dict) -> PointTable:
    """A FeatureCollection of Point features (properties carried through; a ``crs`` property is per row)."""
    if isinstance(data, dict):
        doc = data
    else:
        raw = Path(data).read_bytes() if isinstance(data, (str, Path)) else data
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"无法解析 JSON (cannot parse the JSON): {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise InvalidInput("须为 GeoJSON FeatureCollection (the body must be a GeoJSON FeatureCollection)")
    feats = doc["features"]
    lon = np.empty(len(feats))
    lat = np.empty(len(feats))
    props: list[dict[str, Any]] = []
    bad: list[int] = []
    for i, f in enumerate(feats):
        g = (f or {}).get("geometry") or {}
        c = g.get("coordinates")
        if g.get("type") != "Point" or not isinstance(c, (list, tuple)) or len(c) < 2:
            bad.append(i)
            lon[i] = lat[i] = np.nan
        else:
            try:
                lon[i], lat[i] = float(c[0]), float(c[1])
            except (TypeError, ValueError):
                bad.append(i)
        props.append(dict((f or {}).get("properties") or {}))
    if bad:
        raise InvalidGeometry(
            f"{len(bad)} 个要素不是点，例如第 {bad[0] + 1} 个 ({len(bad)} features are not points with numeric "
            f"coordinates; feature {bad[0] + 1} first)", detail={"features": [b + 1 for b in bad[:10]]})
    extra = pd.DataFrame(props)
    crs = None
    if "crs" in extra.columns:
        crs = extra.pop("crs").fillna("wgs84").astype(str).to_numpy(dtype=object)
    return PointTable(lon, lat, crs, extra)


def read_parquet(path: str | Path | bytes) -> PointTable:
    """GeoParquet of points (WGS84 unless the file says otherwise; other CRSs are refused)."""
    import geopandas as gpd
    import shapely

    src = io.BytesIO(path) if isinstance(path, bytes) else path
    gdf = gpd.read_parquet(src)
    if gdf.crs is not None and gdf.crs.to_epsg() not in (4326, 4490):
        gdf = gdf.to_crs(4326)
    types = shapely.get_type_id(gdf.geometry.values)
    if np.any(types != 0):
        raise InvalidGeometry("GeoParquet 中有非点要素 (the GeoParquet holds geometries that are not points)")
    xy = shapely.get_coordinates(gdf.geometry.values)
    extra = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    crs = extra.pop("crs").astype(str).to_numpy(dtype=object) if "crs" in extra.columns else None
    return PointTable(xy[:, 0].copy(), xy[:, 1].copy(), crs, extra)


def read_points(data: bytes | str | Path, fmt: str, *, max_points: int | None = None) -> PointTable:
    """Read a batch in ``fmt``; refuse more than ``max_points`` points with :class:`PayloadTooLarge`."""
    if fmt == "csv":
        table = read_csv(data)
    elif fmt == "geojson":
        table = read_geojson(data)
    elif fmt == "parquet":
        table = read_parquet(data)
    else:
        raise InvalidInput(f"未知格式 {fmt!r} (unknown format; use one of {', '.join(FORMATS)})")
    if max_points is not None and table.lon.size > max_points:
        raise PayloadTooLarge(f"一次最多 {max_points} 个点，收到 {table.lon.size} 个 (at most {max_points} points per "
                              "batch; split it or use the gridmap locate command)",
                              detail={"points": int(table.lon.size), "max_points": max_points})
    if table.lon.size == 0:
        raise InvalidInput("没有点 (the batch holds no points)")
    return table


def result_table(table: PointTable, answers: pd.DataFrame) -> pd.DataFrame:
    """The input's own columns followed by the answer columns (an input column of the same name is renamed)."""
    extra = table.extra.reset_index(drop=True)
    extra = extra.rename(columns={c: f"in_{c}" for c in extra.columns if c in answers.columns})
    return pd.concat([extra, answers.reset_index(drop=True)], axis=1)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return df.astype(object).where(df.notna(), None).to_dict("records")


def to_geojson(df: pd.DataFrame) -> dict[str, Any]:
    """A FeatureCollection of the answers, each a Point at the WGS84 position."""
    feats = []
    for rec in _records(df):
        lon, lat = rec.get("lon"), rec.get("lat")
        geom = {"type": "Point", "coordinates": [lon, lat]} if lon is not None and lat is not None else None
        feats.append({"type": "Feature", "geometry": geom, "properties": rec})
    return {"type": "FeatureCollection", "features": feats}


def write_result(df: pd.DataFrame, fmt: str, out: str | Path | None = None) -> bytes | None:
    """Write the answers as CSV, GeoJSON or GeoParquet to ``out`` (or return the bytes)."""
    if fmt == "csv":
        data = df.to_csv(index=False).encode("utf-8")
    elif fmt == "geojson":
        data = json.dumps(to_geojson(df), ensure_ascii=False).encode("utf-8")
    elif fmt == "parquet":
        import geopandas as gpd

        gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)
        buf = io.BytesIO()
        gdf.to_parquet(buf)
        data = buf.getvalue()
    else:
        raise InvalidInput(f"未知格式 {fmt!r} (unknown format; use one of {', '.join(FORMATS)})")
    if out is None:
        return data
    Path(out).write_bytes(data)
    return None
