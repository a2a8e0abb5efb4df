"""The reads behind the maps (``maps/``): grids with households, buildings, facilities, communities, service
circles, contact boards, "七个一" per village, incidents (never the reporter), and Mapbox vector tiles
(``ST_AsMVT``) for the layers too big to embed in a page.

Everything comes back in WGS84; the maps shift to GCJ-02 themselves when the basemap needs it. Vector tiles
take ``gcj02=True`` and shift geometry inside the tile by the GCJ-02 offset at the tile's centre (the offset
changes by well under a metre across a tile at the zooms they are drawn at).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.coords import wgs84_to_gcj02
from gis.domain import FACILITY_TYPES, SEVEN_ONES, IncidentState, area_prefix
from gis.errors import InvalidInput
from layers.features import PLAN_IN_FORCE_SQL, current_plan_id
from layers.roster import BOARD_ROLES, roster_audit

TYPE_ZH = {code: zh for code, _g, zh, _en in FACILITY_TYPES}
OPEN_STATES = [s.value for s in IncidentState if s is not IncidentState.CLOSED]


def _gdf(rows, columns: list[str]) -> gpd.GeoDataFrame:
    """Rows whose last value is WKB → GeoDataFrame (EPSG:4326)."""
    rows = list(rows)
    geoms = shapely.from_wkb(np.asarray([bytes(r[-1]) for r in rows], dtype=object)) if rows else []
    frame = pd.DataFrame([tuple(r[:-1]) for r in rows], columns=columns)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


def plan_in_force(session: Session) -> int | None:
    """The published plan in force (None before anything is published)."""
    return current_plan_id(session)


def count(session: Session, table: str) -> int:
    """Approximate-free row count of a map table (buildings, incidents, facilities, grids)."""
    if table not in {"buildings", "incidents", "facilities", "grids", "service_circles", "admin_areas"}:
        raise InvalidInput(f"未知图层 {table} (unknown layer)")
    return int(session.scalar(text(f"SELECT count(*) FROM {table}")))


def sources(session: Session, table: str) -> set[str]:
    """The distinct ``source`` values of a table (for the attribution line)."""
    count(session, table)  # validates the name
    return {r[0] for r in session.execute(text(f"SELECT DISTINCT source FROM {table}"))}


def extent(session: Session) -> tuple[float, float, float, float] | None:
    """Bounds of what there is to show: the grids in force, else facilities, else admin areas."""
    for sql in (
        "SELECT ST_Extent(geom) FROM grids WHERE plan_id = (SELECT id FROM grid_plans WHERE status='published' "
        "ORDER BY generation DESC LIMIT 1)",
        "SELECT ST_Extent(geom) FROM facilities",
        "SELECT ST_Extent(geom) FROM admin_areas WHERE level IN ('community','village')",
    ):
        box = session.execute(text(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ({sql}) AS t(e)"))
        row = box.one()
        if row[0] is not None:
            return tuple(float(v) for v in row)
    return None


def grids(session: Session, *, plan_id: int | None = None, tolerance_deg: float = 0.00001) -> gpd.GeoDataFrame:
    """Grids of a plan (default: in force) with households/residents, simplified for display."""
    plan_id = plan_id or plan_in_force(session)
    rows = session.execute(
        text(
            "SELECT id, code, name, kind, community_code, households, residents, source, "
            "ST_AsBinary(ST_SimplifyPreserveTopology(geom, :tol)) FROM grids WHERE plan_id = :p ORDER BY code"
        ),
        {"p": plan_id, "tol": tolerance_deg},
    )
    cols = ["id", "code", "name", "kind", "community_code", "households", "residents", "source"]
    return _gdf(rows, cols)


def communities(session: Session, *, tolerance_deg: float = 0.00002) -> gpd.GeoDataFrame:
    """Community and village boundaries (latest edition of each code)."""
    rows = session.execute(
        text(
            "SELECT DISTINCT ON (code) code, name, level, source, "
            "ST_AsBinary(ST_SimplifyPreserveTopology(geom, :tol)) FROM admin_areas "
            "WHERE level IN ('community','village') AND geom IS NOT NULL ORDER BY code, edition_year DESC"
        ),
        {"tol": tolerance_deg},
    )
    return _gdf(rows, ["code", "name", "level", "source"])


def facilities(session: Session, *, type_code: str | None = None) -> gpd.GeoDataFrame:
    """Facilities (points) with their type's Chinese label."""
    rows = session.execute(
        text(
            "SELECT f.id, f.type_code, t.group_code, f.name, f.address, f.community_code, f.source, "
            "ST_AsBinary(f.geom) FROM facilities f JOIN facility_types t ON t.code = f.type_code "
            "WHERE (CAST(:t AS text) IS NULL OR f.type_code = :t) ORDER BY f.type_code, f.name"
        ),
        {"t": type_code},
    )
    out = _gdf(rows, ["id", "type_code", "group_code", "name", "address", "community_code", "source"])
    out["type_zh"] = out["type_code"].map(TYPE_ZH).fillna(out["type_code"])
    return out


def circles_by_type(
    session: Session, *, type_code: str | None = None, tolerance_deg: float = 0.00005
) -> gpd.GeoDataFrame:
    """The union of every facility's service circle per type (the biggest budget of each facility)."""
    rows = session.execute(
        text(
            "WITH c AS (SELECT DISTINCT ON (facility_id) type_code, minutes, source, geom FROM service_circles "
            "WHERE (CAST(:t AS text) IS NULL OR type_code = :t) ORDER BY facility_id, budget_m DESC) "
            "SELECT type_code, max(minutes), min(source), "
            "ST_AsBinary(ST_SimplifyPreserveTopology(ST_Multi(ST_Union(geom)), :tol)) FROM c GROUP BY type_code"
        ),
        {"t": type_code, "tol": tolerance_deg},
    )
    out = _gdf(rows, ["type_code", "minutes", "source"])
    out["type_zh"] = out["type_code"].map(TYPE_ZH).fillna(out["type_code"])
    return out


def circle_types(session: Session) -> gpd.GeoDataFrame:
    """The types that have service circles (with their minutes), without geometry — for pages that fetch the
    circles themselves when a layer is switched on."""
    rows = session.execute(text("SELECT type_code, max(minutes), min(source) FROM service_circles "
                                "GROUP BY type_code ORDER BY type_code")).all()
    out = gpd.GeoDataFrame(pd.DataFrame(rows, columns=["type_code", "minutes", "source"]),
                           geometry=gpd.GeoSeries([None] * len(rows), crs=4326), crs=4326)
    out["type_zh"] = out["type_code"].map(TYPE_ZH).fillna(out["type_code"])
    return out


def boards(
    session: Session, *, plan_id: int | None = None, on: dt.date | None = None, grid_code: str | None = None
) -> dict[str, list]:
    """Every grid's 公示牌 at once: ``{grid_code: [[role_zh, ["name public_phone", …]], …]}``.

    Only names and *published* phones, as on the printed board; private phones are never read.
    """
    plan_id = plan_id or plan_in_force(session)
    day = on or dt.date.today()
    rows = session.execute(
        text(
            "SELECT a.grid_code, a.role, p.name, p.public_phone FROM staff_assignments a "
            "JOIN people p ON p.id = a.person_id JOIN grids g ON g.code = a.grid_code AND g.plan_id = :p "
            "WHERE a.role = ANY(:roles) AND (a.valid_from IS NULL OR a.valid_from <= :d) "
            "AND (a.valid_to IS NULL OR a.valid_to >= :d) AND (CAST(:g AS text) IS NULL OR a.grid_code = :g) "
            "ORDER BY a.grid_code, a.role, p.name"
        ),
        {"p": plan_id, "roles": [r.value for r in BOARD_ROLES], "d": day, "g": grid_code},
    ).all()
    codes = [r[0] for r in session.execute(
        text("SELECT code FROM grids WHERE plan_id = :p AND (CAST(:g AS text) IS NULL OR code = :g)"),
        {"p": plan_id, "g": grid_code},
    )]
    people: dict[tuple[str, str], list[str]] = {}
    for code, role, name, phone in rows:
        people.setdefault((code, role), []).append(f"{name}　{phone or '（电话未公示）'}")
    optional = {"urban_inspector", "market_inspector"}
    return {
        code: [[r.zh, people.get((code, r.value), [])] for r in BOARD_ROLES
               if (code, r.value) in people or r.value not in optional]
        for code in codes
    }


def roster_gaps(
    session: Session, grids_gdf: gpd.GeoDataFrame, *, plan_id: int | None = None, on: dt.date | None = None,
    max_points: int | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame | None, int]:
    """The roster audit for the grid map: grids with a vacancy, and buildings missing a 楼栋长 or 楼口长.

    Returns ``(grids, buildings, n_buildings)``. ``grids`` is the subset of ``grids_gdf`` (as from
    :func:`grids`) with a vacancy, with ``vacant_roles`` (the vacant required roles, 、-joined),
    ``buildings_without_head``, ``stairwells_without_head`` and ``vacancies``; ``buildings`` has one point per
    building with a gap and its ``details`` — or is ``None`` when there are more than ``max_points`` of them
    (the page then draws them from the ``roster`` vector tiles). Only roles and counts: no person appears here.
    """
    plan_id = plan_id or plan_in_force(session)
    gaps = roster_audit(session, plan_id=plan_id, on=on)
    # plain dictionaries: pandas' groupby(...).agg(list) runs a Python function per group (3 s for 50,000)
    codes, kinds = gaps["grid_code"].tolist(), gaps["kind"].tolist()
    per, total = Counter(zip(codes, kinds, strict=True)), Counter(codes)
    roles: dict[str, list[str]] = {}
    details: dict[int, list[str]] = {}
    for code, kind, zh, bid, detail in zip(codes, kinds, gaps["role_zh"].tolist(),
                                           gaps["building_id"].astype(object).tolist(), gaps["detail"].tolist(),
                                           strict=True):
        if kind == "role":
            roles.setdefault(code, []).append(zh)
        if bid is not None and bid is not pd.NA:
            details.setdefault(int(bid), []).append(detail)
    out = grids_gdf[grids_gdf["code"].isin(set(codes))].copy()
    out["vacant_roles"] = [("、".join(roles.get(c, []))) for c in out["code"]]
    out["buildings_without_head"] = [per.get((c, "building"), 0) for c in out["code"]]
    out["stairwells_without_head"] = [per.get((c, "stairwell"), 0) for c in out["code"]]
    out["vacancies"] = [total.get(c, 0) for c in out["code"]]

    if not details:
        return out, _gdf([], ["id", "name", "source", "details"]), 0
    if max_points is not None and len(details) > max_points:
        return out, None, len(details)
    rows = session.execute(
        text("SELECT id, name, source, ST_AsBinary(ST_PointOnSurface(geom)) FROM buildings WHERE id = ANY(:ids) "
             "ORDER BY id"),
        {"ids": sorted(details)},
    )
    points = _gdf(rows, ["id", "name", "source"])
    points.insert(3, "details", points["id"].map(lambda i: details.get(i, [])))
    return out, points, len(details)


def seven_ones(session: Session, *, tolerance_deg: float = 0.00002) -> gpd.GeoDataFrame:
    """Villages with which of the "七个一" facilities they have (by community code or inside the boundary)."""
    rows = session.execute(
        text(
            "WITH v AS (SELECT DISTINCT ON (code) code, name, source, geom FROM admin_areas "
            "WHERE level = 'village' AND geom IS NOT NULL ORDER BY code, edition_year DESC) "
            "SELECT v.code, v.name, v.source, "
            "ARRAY(SELECT DISTINCT f.type_code FROM facilities f WHERE f.type_code = ANY(:seven) "
            "      AND (f.community_code = v.code OR ST_Intersects(f.geom, v.geom))), "
            "ST_AsBinary(ST_SimplifyPreserveTopology(v.geom, :tol)) FROM v ORDER BY v.code"
        ),
        {"seven": SEVEN_ONES, "tol": tolerance_deg},
    )
    out = _gdf(rows, ["code", "name", "source", "types"])
    out["have"] = [len(t) for t in out["types"]]
    out["of"] = len(SEVEN_ONES)
    out["items"] = [[[TYPE_ZH[c], c in set(t)] for c in SEVEN_ONES] for t in out["types"]]
    return out.drop(columns=["types"])


def buildings(session: Session, *, limit: int | None = None) -> gpd.GeoDataFrame:
    """Buildings (for pages small enough to embed them; big ones use :func:`tile`)."""
    rows = session.execute(
        text(
            "SELECT id, name, households, floors, source, ST_AsBinary(geom) FROM buildings ORDER BY id "
            + ("LIMIT :n" if limit else "")
        ),
        {"n": limit},
    )
    return _gdf(rows, ["id", "name", "households", "floors", "source"])


# ------------------------------------------------------------------------------------------ incidents
@dataclass(frozen=True)
class IncidentFilter:
    """Dispatch map filters: created in [since, until], grid code (prefix), category, state, caller's scope."""

    since: dt.date | None = None
    until: dt.date | None = None
    grid: str | None = None
    category: str | None = None
    state: str | None = None
    scope: str | None = None

    def sql(self) -> tuple[str, dict[str, Any]]:
        """A WHERE clause on ``incidents i`` and its parameters."""
        where, params = ["TRUE"], {}
        if self.since:
            where.append("i.created_at >= :since")
            params["since"] = dt.datetime.combine(self.since, dt.time.min, tzinfo=dt.UTC)
        if self.until:
            where.append("i.created_at < :until")
            params["until"] = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        if self.grid:
            where.append("i.grid_code LIKE :grid")
            params["grid"] = self.grid + "%"
        if self.category:
            where.append("i.category = :category")
            params["category"] = self.category
        if self.state:
            where.append("i.state = :state")
            params["state"] = self.state
        if self.scope:
            where.append("i.grid_code LIKE :scope")
            params["scope"] = area_prefix(self.scope) + "%"
        return " AND ".join(where), params


_INCIDENT_COLS = (
    "i.id, i.category, i.state, i.grid_code, to_char(i.created_at, 'YYYY-MM-DD HH24:MI') AS created, "
    "to_char(i.due_at, 'YYYY-MM-DD HH24:MI') AS due, "
    "(i.due_at IS NOT NULL AND i.due_at < now() AND i.state <> 'closed') AS overdue, i.source"
)


def incident_count(session: Session, flt: IncidentFilter) -> int:
    """How many incidents pass the filter."""
    where, params = flt.sql()
    return int(session.scalar(text(f"SELECT count(*) FROM incidents i WHERE {where}"), params))


def overdue_count(session: Session, flt: IncidentFilter) -> int:
    """How many incidents passing the filter are open past their deadline."""
    where, params = flt.sql()
    return int(session.scalar(text(
        f"SELECT count(*) FROM incidents i WHERE {where} AND i.due_at < now() AND i.state <> 'closed'"), params))


def incidents(session: Session, flt: IncidentFilter, *, limit: int = 5000) -> gpd.GeoDataFrame:
    """Incidents passing the filter — state, category, grid, dates; never the reporter's name or phone."""
    where, params = flt.sql()
    rows = session.execute(
        text(f"SELECT {_INCIDENT_COLS}, ST_AsBinary(i.geom) FROM incidents i WHERE {where} "
             "ORDER BY i.created_at DESC LIMIT :lim"),
        {**params, "lim": limit},
    )
    out = _gdf(rows, ["id", "category", "state", "grid_code", "created", "due", "overdue", "source"])
    out["state_zh"] = out["state"].map(IncidentState.labels())
    return out


def incident_heat(session: Session, flt: IncidentFilter, *, cell_deg: float = 0.0015) -> list[list[float]]:
    """Incidents binned on a ~150 m lattice: ``[[lat, lon, count], …]`` — a heat map stays small at any size."""
    where, params = flt.sql()
    rows = session.execute(
        text(
            "SELECT ST_Y(c), ST_X(c), n FROM (SELECT ST_Centroid(ST_Collect(i.geom)) AS c, count(*) AS n "
            f"FROM incidents i WHERE {where} GROUP BY ST_SnapToGrid(i.geom, :cell)) t"
        ),
        {**params, "cell": cell_deg},
    ).all()
    return [[round(float(a), 4), round(float(b), 4), int(n)] for a, b, n in rows]


def incident_categories(session: Session) -> list[str]:
    """Categories that occur, most frequent first."""
    return [r[0] for r in session.execute(
        text("SELECT category FROM incidents GROUP BY category ORDER BY count(*) DESC LIMIT 100")
    )]


# ------------------------------------------------------------------------------------------ coverage
def suggested_sites(uncovered: gpd.GeoDataFrame, *, radius_m: float, n: int = 5) -> gpd.GeoDataFrame:
    """Greedy sites: repeatedly the uncovered building whose ``radius_m`` disc holds the most households.

    A simple, explainable suggestion for the coverage map (the coverage module may offer better ones).
    """
    cols = ["rank", "households", "buildings", "method"]
    if uncovered.empty:
        return gpd.GeoDataFrame(columns=cols, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    lon = uncovered.geometry.x.to_numpy()
    lat = uncovered.geometry.y.to_numpy()
    w = uncovered["households"].fillna(0).to_numpy(float) + 1e-3
    kx = 111_320.0 * math.cos(math.radians(float(np.mean(lat))))
    x, y = lon * kx, lat * 110_540.0
    # bin the buildings on a lattice of a quarter radius first (households summed): same answer to within a
    # few dozen metres, and thousands of buildings become hundreds of cells
    cell = radius_m / 4
    keys, inverse = np.unique(np.column_stack([np.floor(x / cell), np.floor(y / cell)]), axis=0,
                              return_inverse=True)
    inverse = inverse.ravel()
    cw = np.bincount(inverse, weights=w)
    cnt = np.bincount(inverse)
    x = np.bincount(inverse, weights=x * w) / cw
    y = np.bincount(inverse, weights=y * w) / cw
    lon, lat, w = x / kx, y / 110_540.0, cw
    if len(x) > 1000:  # candidates: a spread-out sample keeps this O(k·n)
        cand = np.linspace(0, len(x) - 1, 1000).astype(int)
    else:
        cand = np.arange(len(x))
    left = np.ones(len(x), bool)
    out = []
    for rank in range(1, n + 1):
        best, best_w, best_mask = -1, 0.0, None
        for c in cand:
            mask = left & ((x - x[c]) ** 2 + (y - y[c]) ** 2 <= radius_m**2)
            s = float(w[mask].sum())
            if s > best_w:
                best, best_w, best_mask = c, s, mask
        if best < 0:
            break
        out.append({"rank": rank, "households": int(round(best_w)), "buildings": int(cnt[best_mask].sum()),
                    "method": f"贪心：{int(radius_m)} 米内未覆盖户数最多 (greedy)", "geometry":
                    shapely.Point(lon[best], lat[best])})
        left &= ~best_mask
    return gpd.GeoDataFrame(out, geometry="geometry", crs=4326) if out else suggested_sites(uncovered.iloc[:0],
                                                                                           radius_m=radius_m)


# ------------------------------------------------------------------------------------------ vector tiles
# Each tile layer and its first zoom (an empty tile below it).
FIRST_ZOOM = {"buildings": 14, "incidents": 10, "grids": 10, "uncovered": 10, "roster": 14}
TILE_LAYERS = tuple(FIRST_ZOOM)

# Buildings in a comprehensive grid of the plan in force that lack a 楼栋长, or have stairwells without a 楼口长,
# on :day — the building part of ``layers.roster.roster_audit`` (gis.roster.audit_roster) in SQL, for tiles;
# tests/api/test_maps_api.py checks the two agree. ``{where}`` narrows the buildings (a tile's box).
ROSTER_BUILDINGS_SQL = f"""
    WITH staff AS (SELECT role, building_id, stairwell_id FROM staff_assignments
                   WHERE role IN ('building_head', 'stairwell_head')
                     AND (valid_from IS NULL OR valid_from <= :day) AND (valid_to IS NULL OR valid_to >= :day)),
    b AS (SELECT t.id, t.name, t.source, t.geom,
                 NOT EXISTS (SELECT 1 FROM staff a WHERE a.role = 'building_head' AND a.building_id = t.id)
                     AS no_building_head,
                 (SELECT count(*) FROM stairwells s WHERE s.building_id = t.id AND NOT EXISTS (
                      SELECT 1 FROM staff a WHERE a.role = 'stairwell_head' AND a.stairwell_id = s.id))
                     AS stairwells_without_head
          FROM buildings t
          WHERE {{where}} AND EXISTS (
              SELECT 1 FROM grids g WHERE g.plan_id = {PLAN_IN_FORCE_SQL}
                AND g.kind = 'comprehensive' AND g.geom && t.geom AND ST_Covers(g.geom, ST_PointOnSurface(t.geom))))
    SELECT * FROM b WHERE no_building_head OR stairwells_without_head > 0"""


def _polygons_tile_sql(layer: str, box: str, env: str) -> str:
    """The ``buildings`` layer (every footprint) or the ``grids`` layer (the plan in force), as polygons."""
    geom = f"ST_AsMVTGeom(ST_Transform(ST_Translate(t.geom, :dx, :dy), 3857), {env}, 4096, 64, true)"
    if layer == "buildings":
        return (f"SELECT t.id, t.name, t.households, t.floors, t.source, {geom} AS geom FROM buildings t "
                f"WHERE t.geom && {box}")
    return (f"SELECT t.id, t.code, t.name, t.households, t.source, {geom} AS geom FROM grids t "
            f"WHERE t.plan_id = {PLAN_IN_FORCE_SQL} AND t.geom && {box}")


def _roster_tile_sql(box: str, env: str, params: dict[str, Any]) -> str:
    """The ``roster`` layer: today's roster gaps (:data:`ROSTER_BUILDINGS_SQL`) as points."""
    params["day"] = dt.date.today()
    point = "ST_Transform(ST_Translate(ST_PointOnSurface(t.geom), :dx, :dy), 3857)"
    return (f"SELECT t.id, t.name, t.source, t.no_building_head, t.stairwells_without_head, "
            f"ST_AsMVTGeom({point}, {env}, 4096, 64, true) AS geom "
            f"FROM ({ROSTER_BUILDINGS_SQL.format(where=f't.geom && {box}')}) t")


def _own_cells(point: str, env: str) -> tuple[str, str]:
    """A WHERE condition keeping the points that lie in the tile itself (x in [xmin, xmax), y in (ymin, ymax]:
    the half-open box whose tile coordinates are 0 ≤ x, y < extent, so a point on an edge belongs to one tile)
    and a GROUP BY of the 16 × 16 cells of that box (floored from its corner, so every cell lies inside it).

    Clustering only the tile's own points on cells of the tile itself makes every point count in exactly one
    cluster of one tile at a zoom, drawn inside that tile (a cell's centroid or member lies in the cell).
    Cells snapped to the nearest lattice point straddled the tile edges, and with the query box's margin a
    point near an edge was counted by the clusters of both tiles, or — when the cluster was drawn in the
    neighbour's half — by neither."""
    cell = f"((ST_XMax({env}) - ST_XMin({env})) / 16)"
    inside = (f"ST_X({point}) >= ST_XMin({env}) AND ST_X({point}) < ST_XMax({env}) "
              f"AND ST_Y({point}) > ST_YMin({env}) AND ST_Y({point}) <= ST_YMax({env})")
    cells = f"floor((ST_X({point}) - ST_XMin({env})) / {cell}), floor((ST_YMax({env}) - ST_Y({point})) / {cell})"
    return inside, cells


def _incidents_tile_sql(z: int, box: str, env: str, params: dict[str, Any], flt: IncidentFilter) -> str:
    """The ``incidents`` layer: single points from z15; below, one cluster per cell of a 16 × 16 lattice of the
    tile (:func:`_own_cells`: each incident in one cluster of one tile) with ``count``, ``open``, ``overdue``
    and the state of its open incidents; a cluster's ``id`` is its smallest incident id."""
    where, fparams = flt.sql()
    params.update(fparams)
    if z >= 15:
        return (f"SELECT {_INCIDENT_COLS}, 1 AS count, "
                f"ST_AsMVTGeom(ST_Transform(ST_Translate(i.geom, :dx, :dy), 3857), {env}, 4096, 64, true) "
                f"AS geom FROM incidents i WHERE i.geom && {box} AND {where}")
    inside, cells = _own_cells("i.p", env)
    return (
        "SELECT min(i.id) AS id, count(*) AS count, count(*) FILTER (WHERE i.state <> 'closed') AS open, "
        "bool_or(i.due_at IS NOT NULL AND i.due_at < now() AND i.state <> 'closed') AS overdue, "
        "CASE WHEN bool_and(i.state = 'closed') THEN 'closed' ELSE min(i.state) "
        "FILTER (WHERE i.state <> 'closed') END AS state, min(i.source) AS source, "
        f"ST_AsMVTGeom(ST_Centroid(ST_Collect(i.p)), {env}, 4096, 64, true) AS geom "
        "FROM (SELECT i.id, i.state, i.due_at, i.source, ST_Transform(ST_Translate(i.geom, :dx, :dy), 3857) AS p "
        f"FROM incidents i WHERE i.geom && {box} AND {where}) i WHERE {inside} GROUP BY {cells}"
    )


def _uncovered_tile_sql(z: int, box: str, env: str, params: dict[str, Any], *, type_code: str | None,
                        budget_m: float | None) -> str:
    """The ``uncovered`` layer: the buildings of :data:`layers.coverage.UNCOVERED_WHERE` (exactly those of
    ``/api/v1/coverage/uncovered``) as points; below z14 one point per cell of the tile's 16 × 16 lattice
    (:func:`_own_cells`: each building in one cluster of one tile), drawn at the cell's building with the most
    households (a real uncovered building, never a centroid that may fall inside a circle)."""
    from layers.coverage import DEFAULT_BUDGET_M, UNCOVERED_FROM, UNCOVERED_WHERE

    params.update(t=type_code, budget=budget_m or DEFAULT_BUDGET_M, cc=None)
    point = "ST_Transform(ST_Translate(ST_PointOnSurface(b.geom), :dx, :dy), 3857)"
    base = f"FROM {UNCOVERED_FROM} WHERE b.geom && {box} AND {UNCOVERED_WHERE}"
    if z >= 14:
        return (f"SELECT b.id, b.name, b.households, ba.distance_m AS nearest_m, b.source, 1 AS count, "
                f"ST_AsMVTGeom({point}, {env}, 4096, 64, true) AS geom {base}")
    inside, cells = _own_cells(point, env)
    return (f"SELECT min(b.id) AS id, count(*) AS count, sum(b.households) AS households, min(b.source) AS source, "
            f"ST_AsMVTGeom((array_agg({point} ORDER BY b.households DESC NULLS LAST, b.id))[1], {env}, 4096, 64, "
            f"true) AS geom {base} AND {inside} GROUP BY {cells}")


def _tile_offset(z: int, x: int, y: int) -> tuple[float, float]:
    n = 2.0**z
    lon = (x + 0.5) / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n))))
    glon, glat = wgs84_to_gcj02(lon, lat)
    return float(glon - lon), float(glat - lat)


def tile(
    session: Session,
    layer: str,
    z: int,
    x: int,
    y: int,
    *,
    gcj02: bool = False,
    flt: IncidentFilter | None = None,
    type_code: str | None = None,
    budget_m: float | None = None,
) -> bytes:
    """One Mapbox vector tile (``ST_AsMVT``) of ``layer``; empty below the layer's first zoom.

    Buildings from z14; grids from z10; incidents from z10, clustered on a 16×16 lattice per tile below z15
    (``count``, ``open`` and ``overdue`` per cluster), single points from z15; uncovered buildings as points,
    clustered below z14 (``count``, ``households``); roster gaps (buildings without a 楼栋长 or with stairwells
    without a 楼口长: ``no_building_head``, ``stairwells_without_head``) as points from z14. The pages ask for
    512-pixel tiles one zoom lower than they show (one tile where 256-pixel tiles would need four).
    """
    if layer not in TILE_LAYERS:
        raise InvalidInput(f"未知瓦片图层 {layer} (unknown tile layer; one of {', '.join(TILE_LAYERS)})")
    if not (0 <= z <= 22 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise InvalidInput(f"瓦片编号无效 {z}/{x}/{y} (invalid tile)")
    if z < FIRST_ZOOM[layer]:
        return b""
    dx, dy = _tile_offset(z, x, y) if gcj02 else (0.0, 0.0)
    params: dict[str, Any] = {"z": z, "x": x, "y": y, "dx": dx, "dy": dy}
    env = "ST_TileEnvelope(:z, :x, :y)"
    # the query box in WGS84 (tile box moved back by the offset), with a margin for the tile buffer
    box = f"ST_Translate(ST_Transform(ST_Expand({env}, (ST_XMax({env}) - ST_XMin({env})) / 64), 4326), -:dx, -:dy)"
    if layer == "incidents":
        sql = _incidents_tile_sql(z, box, env, params, flt or IncidentFilter())
    elif layer == "uncovered":
        sql = _uncovered_tile_sql(z, box, env, params, type_code=type_code, budget_m=budget_m)
    elif layer == "roster":
        sql = _roster_tile_sql(box, env, params)
    else:
        sql = _polygons_tile_sql(layer, box, env)
    row = session.execute(
        text(f"SELECT ST_AsMVT(q.*, :name, 4096, 'geom') FROM ({sql}) AS q WHERE q.geom IS NOT NULL"),
        {**params, "name": layer},
    ).one()
    return bytes(row[0] or b"")
