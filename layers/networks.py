"""Walking networks in PostGIS (``street_edges``): import from line files and OSM PBF, load back as a graph.

- ``import_line_file``: GeoJSON, GeoPackage, Shapefile, GeoParquet (any CRS; reprojected to WGS84). Lengths
  are kept in metres: measured in the file's own CRS when it is projected, else in a metric CRS of the data.
- ``import_osm_pbf``: pyrosm's walking network (``network_type="walking"``), split at intersections.
- Endpoints are snapped to stable node ids (``gis.network.node_ids_from_lonlat``: coordinates rounded to
  1e-6°), so edges whose ends meet share a node.
- ``load_graph``: the network as a ``gis.network.StreetGraph`` (CSR matrix), kept per process until the street
  edges change (``layers.data_versions``); ``network_version`` is the content stamp stored with results.

Importing a network again under the same name replaces it. Every import writes a ``dataset_loads`` row
``network:<name>`` with counts and attribution ("© OpenStreetMap contributors" for OSM data).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from gis import network as gnet
from gis.errors import InvalidInput, NotFound
from layers import models
from layers.data_versions import VersionedCache

OSM_ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0"
LINE_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".parquet", ".geoparquet", ".fgb"}

Progress = Callable[[str], None]


def _noop(_msg: str) -> None:
    pass


def read_lines(path: Path, *, bbox: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
    """Read a line file as single LineStrings; ``bbox`` (WGS84 lon/lat) keeps the edges that intersect it."""
    path = Path(path)
    if not path.exists():
        raise NotFound(f"文件不存在 (file not found): {path}")
    suffix = path.suffix.lower()
    if suffix not in LINE_SUFFIXES:
        raise InvalidInput(f"不支持的线文件格式 (unsupported line file format): {suffix}")
    gdf = gpd.read_parquet(path) if suffix in {".parquet", ".geoparquet"} else gpd.read_file(path)
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    gdf = gdf.explode(index_parts=False, ignore_index=True)
    gdf = gdf[gdf.geom_type == "LineString"].reset_index(drop=True)
    if gdf.crs.is_projected:
        gdf["length_m"] = gdf.geometry.length.to_numpy()
    gdf = gdf.to_crs("EPSG:4326")
    if bbox is not None:
        gdf = gdf[gdf.intersects(shapely.box(*bbox))].reset_index(drop=True)
    if "length_m" not in gdf.columns:
        if len(gdf):
            b = gdf.total_bounds
            crs = gnet.metric_crs_for((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
            gdf["length_m"] = gdf.geometry.to_crs(crs).length.to_numpy()
        else:
            gdf["length_m"] = []
    return gdf


def _text_col(gdf: pd.DataFrame, name: str, limit: int) -> list[str | None]:
    if name not in gdf.columns:
        return [None] * len(gdf)
    out = []
    for val in gdf[name].tolist():
        if val is None or (isinstance(val, float) and np.isnan(val)):
            out.append(None)
        elif isinstance(val, (list, tuple, np.ndarray)):
            out.append(str(val[0])[:limit] if len(val) else None)
        else:
            out.append(str(val)[:limit])
    return out


def _oneway_col(gdf: pd.DataFrame) -> np.ndarray:
    if "oneway" not in gdf.columns:
        return np.zeros(len(gdf), dtype=bool)
    vals = gdf["oneway"].astype(str).str.lower()
    return vals.isin(["true", "yes", "1", "t"]).to_numpy()


def store_edges(session: Session, name: str, lines: gpd.GeoDataFrame, *, source: str,
                attribution: str | None, synthetic: bool = False, oneway: np.ndarray | None = None,
                progress: Progress = _noop) -> dict:
    """Replace network ``name`` by the WGS84 LineStrings of ``lines`` (with ``length_m``); returns counts."""
    if not name or len(name) > 100:
        raise InvalidInput("路网名称必须为 1–100 个字符 (network name must be 1–100 characters)")
    geoms = np.asarray(lines.geometry.values, dtype=object)
    if len(geoms) == 0:
        raise InvalidInput("没有可导入的线要素 (no line features to import)")
    u, v = gnet.endpoint_node_ids(geoms)
    length = np.maximum(lines["length_m"].to_numpy(dtype=float), 0.0)
    oneway = _oneway_col(lines) if oneway is None else np.asarray(oneway, dtype=bool)
    names = _text_col(lines, "name", 200)
    highway = _text_col(lines, "highway", 50)
    wkb = shapely.to_wkb(geoms, hex=True, include_srid=False)
    progress(f"写入 {len(geoms)} 条路段 (writing edges)")
    session.execute(delete(models.StreetEdge).where(models.StreetEdge.network == name))
    buf = io.StringIO()
    w = csv.writer(buf)
    cols = (u.tolist(), v.tolist(), names, highway, oneway.tolist(), length.tolist(), wkb)
    for row in zip(*cols, strict=True):
        w.writerow([name, row[0], row[1], row[2] if row[2] is not None else r"\N",
                    row[3] if row[3] is not None else r"\N", "t" if row[4] else "f", row[5], row[6], source])
    buf.seek(0)
    raw = session.connection().connection.dbapi_connection
    with raw.cursor() as cur:
        cur.execute("CREATE TEMP TABLE _edges_in (network text, u bigint, v bigint, name text, highway text, "
                    "oneway boolean, length_m double precision, wkb text, source text) ON COMMIT DROP")
        cur.copy_expert("COPY _edges_in FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)
        cur.execute("INSERT INTO street_edges (network, u, v, name, highway, oneway, length_m, geom, source) "
                    "SELECT network, u, v, name, highway, oneway, length_m, "
                    "ST_SetSRID(ST_GeomFromWKB(decode(wkb, 'hex')), 4326), source FROM _edges_in")
        cur.execute("DROP TABLE _edges_in")
    nodes = int(len(np.unique(np.concatenate([u, v]))))
    counts = {"edges": int(len(geoms)), "nodes": nodes, "length_km": round(float(length.sum()) / 1000, 3),
              "oneway_edges": int(oneway.sum())}
    load_name = f"network:{name}"[:100]
    session.execute(delete(models.DatasetLoad).where(models.DatasetLoad.name == load_name))
    session.add(models.DatasetLoad(name=load_name, source=source[:300], attribution=attribution,
                              synthetic=synthetic, counts=counts))
    session.flush()
    return counts


def import_line_file(session: Session, path: Path, name: str, *, bbox=None, attribution: str | None = None,
                     progress: Progress = _noop) -> dict:
    """Import a line file as walking network ``name`` (replacing it); returns counts."""
    path = Path(path)
    progress(f"读取 {path.name} (reading)")
    gdf = read_lines(path, bbox=bbox)
    if attribution is None and "osm" in path.name.lower():
        attribution = OSM_ATTRIBUTION
    return store_edges(session, name, gdf, source=f"import:{path.name}"[:200], attribution=attribution,
                       progress=progress)


def import_osm_pbf(session: Session, path: Path, name: str, *, bbox=None, progress: Progress = _noop) -> dict:
    """Import the walking network of an OSM PBF (pyrosm, split at intersections) as network ``name``."""
    from pyrosm import OSM

    path = Path(path)
    if not path.exists():
        raise NotFound(f"文件不存在 (file not found): {path}")
    progress(f"解析 {path.name} (parsing PBF)")
    osm = OSM(str(path), bounding_box=list(bbox) if bbox else None)
    _nodes, edges = osm.get_network(network_type="walking", nodes=True)
    if edges is None or len(edges) == 0:
        raise InvalidInput("PBF 中没有步行路网 (no walking network in the PBF)")
    if edges.crs is None:
        edges = edges.set_crs("EPSG:4326")
    edges = edges.to_crs("EPSG:4326")
    edges = edges.explode(index_parts=False, ignore_index=True)
    edges = edges[edges.geom_type == "LineString"].reset_index(drop=True)
    b = edges.total_bounds
    crs = gnet.metric_crs_for((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    gdf = gpd.GeoDataFrame({"name": _text_col(edges, "name", 200), "highway": _text_col(edges, "highway", 50),
                            "length_m": edges.geometry.to_crs(crs).length.to_numpy()},
                           geometry=edges.geometry.values, crs="EPSG:4326")
    # pedestrians may walk both ways along one-way roads
    return store_edges(session, name, gdf, source="osm", attribution=OSM_ATTRIBUTION,
                       oneway=np.zeros(len(gdf), dtype=bool), progress=progress)


def import_network(session: Session, path: Path, name: str, *, bbox=None, progress: Progress = _noop) -> dict:
    """Import a PBF or a line file, by suffix."""
    path = Path(path)
    if path.name.lower().endswith(".osm.pbf") or path.suffix.lower() == ".pbf":
        return import_osm_pbf(session, path, name, bbox=bbox, progress=progress)
    return import_line_file(session, path, name, bbox=bbox, progress=progress)


# --------------------------------------------------------------------------------------------- loading

def data_centre(session: Session, table: str = "facilities") -> tuple[float, float] | None:
    """The median position of the rows of ``facilities`` or ``buildings`` (to pick the network there)."""
    if table not in ("facilities", "buildings"):
        raise InvalidInput("table must be facilities or buildings")
    row = session.execute(text(
        f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_X(ST_PointOnSurface(geom))), "
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_Y(ST_PointOnSurface(geom))) FROM {table}")).one()
    return (float(row[0]), float(row[1])) if row[0] is not None else None


def default_network(session: Session, near: tuple[float, float] | None = None) -> str | None:
    """The network with an edge nearest to ``near`` (WGS84, within about 1 km), else the one with the most
    edges; ``None`` if there is none."""
    if near is not None:
        name = session.scalar(text(
            "SELECT network FROM street_edges WHERE ST_DWithin(geom, ST_SetSRID(ST_Point(:x, :y), 4326), 0.01) "
            "ORDER BY geom <-> ST_SetSRID(ST_Point(:x, :y), 4326) LIMIT 1"), {"x": near[0], "y": near[1]})
        if name:
            return name
    row = session.execute(
        select(models.StreetEdge.network, func.count()).group_by(models.StreetEdge.network)
        .order_by(func.count().desc(), models.StreetEdge.network).limit(1)
    ).first()
    return row[0] if row else None



_GRAPHS: VersionedCache[gnet.StreetGraph] = VersionedCache("street graphs", ["street_edges"])


def network_version(session: Session, name: str) -> str | None:
    """A stamp that changes whenever the edges of network ``name`` change; ``None`` if it has no edges."""
    row = session.execute(
        select(func.count(models.StreetEdge.id), func.max(models.StreetEdge.id), func.sum(models.StreetEdge.length_m))
        .where(models.StreetEdge.network == name)
    ).one()
    if not row[0]:
        return None
    return hashlib.sha1(f"{name}|{row[0]}|{row[1]}|{row[2]:.3f}".encode()).hexdigest()[:16]


def list_networks(session: Session) -> list[dict]:
    """Networks in the database with edge counts and total length."""
    rows = session.execute(
        select(models.StreetEdge.network, func.count(), func.sum(models.StreetEdge.length_m),
               func.min(models.StreetEdge.source))
        .group_by(models.StreetEdge.network).order_by(models.StreetEdge.network)
    ).all()
    return [{"network": r[0], "edges": int(r[1]), "length_km": round(float(r[2]) / 1000, 3), "source": r[3]}
            for r in rows]


def load_graph(session: Session, name: str, *, use_cache: bool = True) -> gnet.StreetGraph:
    """Network ``name`` as a :class:`gis.network.StreetGraph` (metric CRS); ``NotFound`` without edges. Kept per
    process until the street edges change (in any process or tool)."""
    if not use_cache:
        return _read_graph(session, name)
    return _GRAPHS.get(session, name, lambda: _read_graph(session, name))


def _read_graph(session: Session, name: str) -> gnet.StreetGraph:
    version = network_version(session, name)
    if version is None:
        raise NotFound(f"路网不存在 (network not found): {name}")
    rows = session.execute(
        text("SELECT id, u, v, oneway, length_m, ST_AsBinary(geom) FROM street_edges WHERE network = :n "
             "ORDER BY id"), {"n": name}
    ).all()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    u = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    v = np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows))
    oneway = np.fromiter((r[3] for r in rows), dtype=bool, count=len(rows))
    length = np.fromiter((r[4] for r in rows), dtype=np.float64, count=len(rows))
    geoms = shapely.from_wkb([bytes(r[5]) for r in rows])
    return gnet.graph_from_lonlat_lines(name, geoms, length=length, oneway=oneway, edge_ids=ids,
                                        u_ids=u, v_ids=v, version=version)
