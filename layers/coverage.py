"""Coverage and gaps: which buildings reach which services on foot, "七个一" audit, where to build next.

- ``compute_access``: walking distance from every building (a point on its surface) to the nearest facility
  of each type (``gis.coverage.nearest_distances``, network distance, straight line × 1.3 off the network),
  stored in ``building_access``; a ``coverage_runs`` stamp (network version, facilities, buildings)
  makes ``ensure_access`` recompute only the types whose inputs changed.
- ``coverage_report``: per community or grid (plan in force), households and residents covered per type.
- ``uncovered_buildings``: GeoJSON of the buildings a type does not reach (counts only, no personal data).
- ``seven_ones_audit``: which of the "七个一" each village has (facility of the village, inside its area
  or within ``distance_m``); ``kind='community'`` audits urban communities' function rooms instead.
- ``suggest_sites``: greedy maximal covering of the households a type leaves uncovered, from candidate
  street nodes (or given points); stored in ``site_suggestions``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from gis import coverage as gcov
from gis import network as gnet
from gis.domain import FACILITY_TYPES, FUNCTION_ROOMS, SEVEN_ONES, WALK_SPEED_KMH, AreaLevel, walk_metres
from gis.errors import InvalidInput, NotFound
from gis.network import augmented_csr
from layers import models
from layers.coverage_models import BuildingAccess, CoverageRun, SiteSuggestion
from layers.features import current_plan_id
from layers.networks import data_centre, default_network, load_graph, network_version

DEFAULT_BUDGET_M = walk_metres(15)  # 15 minutes at the default speed; callers pass the configured one
DEFAULT_LIMIT_M = 3000.0
SNAP_M = 250.0
_NAMES = {code: (zh, en) for code, _g, zh, en in FACILITY_TYPES}


def _check_types(type_codes: Sequence[str] | None) -> list[str]:
    codes = list(type_codes) if type_codes else [c for c, *_ in FACILITY_TYPES]
    unknown = sorted(set(codes) - set(_NAMES))
    if unknown:
        raise InvalidInput(f"未知设施类型 (unknown facility types): {', '.join(unknown)}")
    return codes


def _buildings(session: Session):
    rows = session.execute(text(
        "SELECT id, households, residents, community_code, ST_X(p), ST_Y(p) FROM "
        "(SELECT id, households, residents, community_code, ST_PointOnSurface(geom) AS p FROM buildings) b "
        "ORDER BY id")).all()
    return pd.DataFrame(rows, columns=["id", "households", "residents", "community_code", "lon", "lat"])


def _facilities(session: Session, type_code: str):
    rows = session.execute(
        select(models.Facility.id, func.ST_X(models.Facility.geom), func.ST_Y(models.Facility.geom))
        .where(models.Facility.type_code == type_code).order_by(models.Facility.id)).all()
    return (np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=float),
            np.array([r[2] for r in rows], dtype=float))


def _stamp(session: Session, network: str | None, version: str | None, type_code: str, limit_m: float) -> str:
    fac = session.execute(text(
        "SELECT count(*), coalesce(sum(id), 0), coalesce(md5(string_agg(id || ':' || ST_AsText(geom), ',' "
        "ORDER BY id)), '') FROM facilities WHERE type_code = :t"), {"t": type_code}).one()
    bld = session.execute(text(
        "SELECT count(*), coalesce(max(id), 0), coalesce(sum(households), 0), coalesce(sum(residents), 0) "
        "FROM buildings")).one()
    raw = f"{network}|{version}|{type_code}|{limit_m}|{tuple(fac)}|{tuple(bld)}|{SNAP_M}"
    return hashlib.sha1(raw.encode()).hexdigest()


def _building_networks(session: Session, network: str | None) -> dict[int, str | None]:
    """Building id → the network of its nearest street within about ``SNAP_M`` (or ``network`` for all)."""
    if network is not None:
        return {int(i): network for i in session.scalars(select(models.Building.id))}
    rows = session.execute(text("""
        SELECT b.id, n.network FROM buildings b LEFT JOIN LATERAL (
            SELECT e.network FROM street_edges e WHERE ST_DWithin(e.geom, ST_PointOnSurface(b.geom), :deg)
            ORDER BY e.geom <-> ST_PointOnSurface(b.geom) LIMIT 1) n ON true"""), {"deg": SNAP_M / 80_000.0}).all()
    return {int(r[0]): r[1] for r in rows}


def compute_access(session: Session, *, network: str | None = None, type_codes: Sequence[str] | None = None,
                   limit_m: float = DEFAULT_LIMIT_M, force: bool = False) -> dict:
    """Compute (if stale) and store walking distances building → nearest facility per type.

    Each building walks the network of its nearest street (``network``: that one for all); buildings with no
    street near use the straight line × 1.3."""
    codes = _check_types(type_codes)
    if network is not None and network_version(session, network) is None:
        raise NotFound(f"路网不存在 (network not found): {network}")
    bnet = _building_networks(session, network)
    names = sorted({n for n in bnet.values() if n})
    versions = {n: network_version(session, n) for n in names}
    net_key = ",".join(f"{n}@{versions[n]}" for n in names)
    report = {"network": ",".join(names)[:100] or None, "types": {}, "recomputed": []}
    groups = None
    for code in codes:
        stamp = _stamp(session, net_key, None, code, limit_m)
        run = session.get(CoverageRun, code)
        if run is not None and run.inputs_hash == stamp and not force:
            report["types"][code] = run.counts
            continue
        if groups is None:
            bld = _buildings(session)
            groups = []
            labels = np.array([bnet.get(int(i)) or "" for i in bld["id"]], dtype=object)
            for n in sorted(set(labels.tolist())):
                sel = np.flatnonzero(labels == n)
                graph = load_graph(session, n) if n else None
                sub = bld.iloc[sel]
                crs = graph.crs if graph is not None else gnet.metric_crs_for(float(sub.lon.mean()),
                                                                            float(sub.lat.mean()))
                bx, by = gnet.transform_xy(sub.lon.to_numpy(), sub.lat.to_numpy(), "EPSG:4326", crs)
                groups.append((sel, graph, crs, gcov.PointsOnNet.snap(graph, bx, by, SNAP_M)))
        fids, flon, flat = _facilities(session, code)
        dist = np.full(len(bld), np.inf)
        nearest = np.full(len(bld), -1, dtype=np.int64)
        method = np.full(len(bld), "euclidean", dtype=object)
        for sel, graph, crs, dem in groups:
            fx, fy = gnet.transform_xy(flon, flat, "EPSG:4326", crs)
            fac = gcov.PointsOnNet.snap(graph, fx, fy, SNAP_M)
            d, n_, mt = gcov.nearest_distances(graph, fac, dem, limit=limit_m)
            dist[sel], nearest[sel], method[sel] = d, n_, mt
        session.execute(delete(BuildingAccess).where(BuildingAccess.type_code == code))
        rows = [{"building_id": int(b), "type_code": code, "distance_m": None if not np.isfinite(d) else
                 round(float(d), 1), "nearest_facility_id": int(fids[n]) if n >= 0 else None, "method": mt}
                for b, d, n, mt in zip(bld["id"].tolist(), dist.tolist(), nearest.tolist(), method.tolist(),
                                       strict=True)]
        if rows:
            session.execute(BuildingAccess.__table__.insert(), rows)
        counts = {"buildings": int(len(bld)), "facilities": int(len(fids)),
                  "reached": int(np.isfinite(dist).sum()), "euclidean": int((method == "euclidean").sum())}
        if run is None:
            run = CoverageRun(type_code=code)
            session.add(run)
        run.network, run.inputs_hash, run.limit_m, run.counts = report["network"], stamp, limit_m, counts
        run.computed_at = func.now()
        report["types"][code] = counts
        report["recomputed"].append(code)
    session.flush()
    return report


ensure_access = compute_access


NO_UNIT_LABEL = {"community": "未归属社区 (no community)", "grid": "不在现行网格内 (outside the grids in force)"}


def coverage_report(session: Session, *, type_codes: Sequence[str] | None = None,
                    budget_m: float = DEFAULT_BUDGET_M, by: str = "community",
                    network: str | None = None) -> pd.DataFrame:
    """Households and residents covered within ``budget_m`` per unit (``community`` or ``grid``) and type."""
    if by not in ("community", "grid"):
        raise InvalidInput("汇总层级须为 community 或 grid (by must be community or grid)")
    if not 0 < budget_m <= DEFAULT_LIMIT_M:
        raise InvalidInput(f"距离须在 0–{DEFAULT_LIMIT_M:g} 米之间 (budget out of range)")
    codes = _check_types(type_codes)
    ensure_access(session, network=network, type_codes=codes)
    if by == "community":
        unit_sql = "b.community_code"
        join = ""
        name_sql = ("(SELECT a.name FROM admin_areas a WHERE a.code = b.community_code "
                    "ORDER BY a.edition_year DESC LIMIT 1)")
        params: dict = {}
    else:
        plan = current_plan_id(session)
        unit_sql = "g.code"
        join = ("LEFT JOIN LATERAL (SELECT code, name FROM grids WHERE plan_id = :plan AND "
                "geom && b.geom AND ST_Covers(geom, ST_PointOnSurface(b.geom)) LIMIT 1) g ON true")
        name_sql = "min(g.name)"
        params = {"plan": plan}
    sql = f"""
        SELECT {unit_sql} AS unit, {name_sql if by == 'grid' else 'NULL'} AS unit_name, ba.type_code,
               count(*) AS buildings,
               sum(b.households) AS households, sum(b.residents) AS residents,
               count(*) FILTER (WHERE ba.distance_m <= :budget) AS buildings_covered,
               coalesce(sum(b.households) FILTER (WHERE ba.distance_m <= :budget), 0) AS households_covered,
               coalesce(sum(b.residents) FILTER (WHERE ba.distance_m <= :budget), 0) AS residents_covered
        FROM building_access ba JOIN buildings b ON b.id = ba.building_id {join}
        WHERE ba.type_code = ANY(:codes)
        GROUP BY 1, 3 ORDER BY 1, 3"""
    rows = session.execute(text(sql), {"budget": budget_m, "codes": codes, **params}).all()
    df = pd.DataFrame(rows, columns=["unit", "unit_name", "type_code", "buildings", "households", "residents",
                                     "buildings_covered", "households_covered", "residents_covered"])
    if by == "community" and len(df):
        names = dict(session.execute(select(models.AdminArea.code, models.AdminArea.name)
                                     .where(models.AdminArea.code.in_(df["unit"].dropna().unique().tolist()))).all())
        df["unit_name"] = df["unit"].map(names)
    if len(df):  # buildings outside every community (e.g. from an OSM extract) still count, under a label
        df["unit_name"] = df["unit_name"].where(df["unit"].notna(), NO_UNIT_LABEL[by])
    for col in ("households", "residents", "households_covered", "residents_covered"):
        df[col] = df[col].fillna(0).astype(int)
    df["households_share"] = np.where(df.households > 0, df.households_covered / df.households.clip(lower=1),
                                      np.nan).round(4)
    df["residents_share"] = np.where(df.residents > 0, df.residents_covered / df.residents.clip(lower=1),
                                     np.nan).round(4)
    df["type_zh"] = df["type_code"].map(lambda c: _NAMES[c][0])
    df.insert(0, "by", by)
    df["budget_m"] = budget_m
    return df


# A building is uncovered by a type when its walk to the nearest facility of the type is longer than the budget
# (or there is none); the one predicate behind /api/v1/coverage/uncovered, the coverage map and its tiles.
UNCOVERED_FROM = "building_access ba JOIN buildings b ON b.id = ba.building_id"
UNCOVERED_WHERE = ("ba.type_code = :t AND (ba.distance_m IS NULL OR ba.distance_m > :budget) "
                   "AND (CAST(:cc AS text) IS NULL OR b.community_code = :cc)")


def uncovered_totals(session: Session, type_code: str, *, budget_m: float,
                     community_code: str | None = None) -> tuple[int, int]:
    """``(buildings, households)`` uncovered by ``type_code`` (``building_access`` must be fresh)."""
    n, hh = session.execute(text(f"SELECT count(*), coalesce(sum(b.households), 0) FROM {UNCOVERED_FROM} "
                                 f"WHERE {UNCOVERED_WHERE}"),
                            {"t": type_code, "budget": budget_m, "cc": community_code}).one()
    return int(n), int(hh)


def uncovered_buildings(session: Session, type_code: str, *, budget_m: float = DEFAULT_BUDGET_M,
                        community_code: str | None = None, network: str | None = None,
                        limit: int = 5000) -> dict:
    """Buildings not within ``budget_m`` of a facility of ``type_code`` as GeoJSON (aggregate counts only),
    most households first: ``count``/``households`` of the features given, ``total_buildings``/
    ``total_households`` of all (``truncated`` when ``limit`` cut the list)."""
    _check_types([type_code])
    ensure_access(session, network=network, type_codes=[type_code])
    params = {"t": type_code, "budget": budget_m, "cc": community_code}
    rows = session.execute(text(f"""
        SELECT b.id, b.name, b.community_code, b.households, b.residents, ba.distance_m, ba.method, b.source,
               ST_AsGeoJSON(ST_PointOnSurface(b.geom), 7)
        FROM {UNCOVERED_FROM} WHERE {UNCOVERED_WHERE}
        ORDER BY b.households DESC, b.id LIMIT :limit"""), {**params, "limit": limit}).all()
    feats = [{"type": "Feature", "id": r[0], "geometry": json.loads(r[8]), "properties": {
        "building_id": r[0], "name": r[1], "community_code": r[2], "households": r[3], "residents": r[4],
        "distance_m": r[5], "method": r[6], "source": r[7]}} for r in rows]
    total, households = uncovered_totals(session, type_code, budget_m=budget_m, community_code=community_code)
    return {"type": "FeatureCollection", "type_code": type_code, "type_zh": _NAMES[type_code][0],
            "budget_m": budget_m, "count": len(feats), "households": int(sum(r[3] or 0 for r in rows)),
            "total_buildings": total, "total_households": households, "truncated": total > len(feats),
            "features": feats}


def building_services(session: Session, building_id: int, *, budget_m: float = DEFAULT_BUDGET_M,
                      network: str | None = None, speed_kmh: float = WALK_SPEED_KMH) -> dict:
    """Which service types one building reaches within ``budget_m`` on foot, with distances and the nearest
    facility of each type."""
    b = session.get(models.Building, building_id)
    if b is None:
        raise NotFound(f"楼栋不存在 (building not found): {building_id}")
    ensure_access(session, network=network)
    rows = session.execute(text("""
        SELECT ba.type_code, ba.distance_m, ba.method, f.id, f.name
        FROM building_access ba LEFT JOIN facilities f ON f.id = ba.nearest_facility_id
        WHERE ba.building_id = :b ORDER BY ba.distance_m NULLS LAST, ba.type_code"""), {"b": building_id}).all()
    types = [{"type_code": r[0], "type_zh": _NAMES[r[0]][0], "type_en": _NAMES[r[0]][1], "distance_m": r[1],
              "minutes": None if r[1] is None else round(r[1] / walk_metres(1, speed_kmh), 1),
              "covered": r[1] is not None and r[1] <= budget_m, "method": r[2],
              "nearest_facility_id": r[3], "nearest_facility": r[4]} for r in rows]
    return {"building_id": building_id, "name": b.name, "community_code": b.community_code,
            "households": b.households, "residents": b.residents, "budget_m": budget_m,
            "reached": [t["type_code"] for t in types if t["covered"]],
            "missing": [t["type_code"] for t in types if not t["covered"]], "types": types}


def seven_ones_audit(session: Session, *, kind: str = "village", distance_m: float = 500.0,
                     township_code: str | None = None) -> pd.DataFrame:
    """Which of the 七个一 (villages) or function rooms (communities) each unit has, and which are missing.

    A unit has a type when a facility of the type belongs to it (``community_code``), lies inside its area
    or within ``distance_m`` metres of it (units without an area: only ``community_code`` counts)."""
    if kind not in ("village", "community"):
        raise InvalidInput("kind 须为 village 或 community (kind must be village or community)")
    if not 0 <= distance_m <= 5000:
        raise InvalidInput("距离须在 0–5000 米之间 (distance must be within 0–5000 m)")
    codes = SEVEN_ONES if kind == "village" else FUNCTION_ROOMS
    level = AreaLevel.VILLAGE.value if kind == "village" else AreaLevel.COMMUNITY.value
    rows = session.execute(text("""
        WITH units AS (
            SELECT DISTINCT ON (code) code, name, parent_code, geom FROM admin_areas
            WHERE level = :level AND (CAST(:tw AS text) IS NULL OR parent_code = :tw)
            ORDER BY code, edition_year DESC)
        SELECT u.code, u.name, u.parent_code, u.geom IS NOT NULL, f.type_code, min(f.id), count(f.id)
        FROM units u
        LEFT JOIN facilities f ON f.type_code = ANY(:codes) AND (
            f.community_code = u.code OR
            (u.geom IS NOT NULL AND ST_DWithin(u.geom::geography, f.geom::geography, :dist)))
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1"""),
        {"level": level, "tw": township_code, "codes": codes, "dist": distance_m}).all()
    units: dict[str, dict] = {}
    for code, name, parent, has_area, tcode, fid, _n in rows:
        u = units.setdefault(code, {"code": code, "name": name, "township_code": parent, "has_area": has_area,
                                    **{c: None for c in codes}})
        if tcode:
            u[tcode] = fid
    out = []
    for u in units.values():
        missing = [c for c in codes if u[c] is None]
        out.append({**u, "present": len(codes) - len(missing), "missing": missing,
                    "missing_zh": "、".join(_NAMES[c][0] for c in missing)})
    return pd.DataFrame(out, columns=["code", "name", "township_code", "has_area", *codes, "present", "missing",
                                      "missing_zh"])


def suggest_sites(session: Session, type_code: str, *, k: int = 5, budget_m: float = DEFAULT_BUDGET_M,
                  network: str | None = None, candidates: Sequence[tuple[float, float]] | None = None,
                  max_candidates: int = 2000, community_code: str | None = None) -> dict:
    """The ``k`` candidate sites (street nodes, or the given WGS84 points) adding the most uncovered
    households within ``budget_m`` on foot, existing facilities fixed; stored in ``site_suggestions``."""
    _check_types([type_code])
    if not 0 < budget_m <= DEFAULT_LIMIT_M:
        raise InvalidInput(f"距离须在 0–{DEFAULT_LIMIT_M:g} 米之间 (budget out of range)")
    network = network or default_network(session, near=data_centre(session, "buildings"))
    graph = load_graph(session, network) if network and network_version(session, network) else None
    if graph is None:
        raise InvalidInput("选址需要路网 (site suggestion needs a street network)")
    ensure_access(session, network=network, type_codes=[type_code])
    dem_df = _uncovered_demand(session, type_code, budget_m, community_code)
    uncovered_households = int(dem_df.households.sum()) if len(dem_df) else 0
    result = {"type_code": type_code, "type_zh": _NAMES[type_code][0], "budget_m": budget_m, "network": network,
              "uncovered_buildings": int(len(dem_df)), "uncovered_households": uncovered_households,
              "sites": []}
    session.execute(delete(SiteSuggestion).where(SiteSuggestion.type_code == type_code,
                                                 SiteSuggestion.budget_m == budget_m))
    if len(dem_df) == 0:
        return result
    dx, dy = gnet.transform_xy(dem_df.lon.to_numpy(), dem_df.lat.to_numpy(), "EPSG:4326", graph.crs)
    dem = gcov.PointsOnNet.snap(graph, dx, dy, SNAP_M)
    cx, cy, node_ids = _candidate_sites(graph, dem, candidates, budget_m, max_candidates)
    cand = gcov.PointsOnNet.snap(graph, cx, cy, SNAP_M)
    cover = gcov.coverage_matrix(graph, cand, dem, budget_m)
    picks = gcov.greedy_max_cover(cover, dem_df.households.to_numpy(), k, secondary=dem_df.residents.to_numpy())
    lon, lat = gnet.transform_xy(cx, cy, graph.crs, "EPSG:4326")
    params = {"k": k, "candidates": "given" if candidates else "street nodes", "n_candidates": int(len(cx)),
              "algorithm": "greedy maximal covering"}
    cum = 0
    for rank, p in enumerate(picks, start=1):
        cum += int(p.added_weight)
        site = {"rank": rank, "lon": round(float(lon[p.candidate]), 7), "lat": round(float(lat[p.candidate]), 7),
                "node_id": int(node_ids[p.candidate]) if node_ids[p.candidate] >= 0 else None,
                "households_added": int(p.added_weight), "residents_added": int(p.added_secondary),
                "buildings_added": int(len(p.added_points)), "cumulative_households": cum,
                "building_ids": dem_df.id.to_numpy()[p.added_points].tolist()}
        result["sites"].append(site)
        _store_site(session, site, type_code=type_code, budget_m=budget_m, network=network, params=params)
    result["covered_after"] = cum
    result["share_of_uncovered"] = round(cum / uncovered_households, 4) if uncovered_households else None
    session.flush()
    return result


def _uncovered_demand(session: Session, type_code: str, budget_m: float, community_code: str | None) -> pd.DataFrame:
    """Inhabited buildings farther than ``budget_m`` from every facility of the type (or unreachable), with their
    households, residents and inner point (``id, households, residents, lon, lat``)."""
    rows = session.execute(text("""
        SELECT b.id, b.households, b.residents, ST_X(ST_PointOnSurface(b.geom)), ST_Y(ST_PointOnSurface(b.geom))
        FROM building_access ba JOIN buildings b ON b.id = ba.building_id
        WHERE ba.type_code = :t AND (ba.distance_m IS NULL OR ba.distance_m > :budget) AND b.households > 0
          AND (CAST(:cc AS text) IS NULL OR b.community_code = :cc)
        ORDER BY b.id"""), {"t": type_code, "budget": budget_m, "cc": community_code}).all()
    return pd.DataFrame(rows, columns=["id", "households", "residents", "lon", "lat"])


def _candidate_sites(graph, dem: gcov.PointsOnNet, candidates: Sequence[tuple[float, float]] | None,
                     budget_m: float, max_candidates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where a new facility may go, in the graph's metric CRS, with their street node ids (-1: a given point):
    the given WGS84 points, else the street nodes within the budget of some uncovered building (walking
    backwards from the demand; undirected, a filter only: the coverage matrix respects one-way edges),
    evenly thinned to ``max_candidates``."""
    if candidates:
        c = np.asarray(candidates, dtype=float).reshape(-1, 2)
        cx, cy = gnet.transform_xy(c[:, 0], c[:, 1], "EPSG:4326", graph.crs)
        return cx, cy, np.full(len(cx), -1, dtype=np.int64)
    on = dem.edge >= 0
    near = np.zeros(graph.n_nodes, dtype=bool)
    if np.any(on):
        aug = augmented_csr(graph, dem.edge[on], dem.along[on], dem.dist[on])
        d = dijkstra(aug, directed=False, indices=graph.n_nodes + np.arange(int(on.sum())),
                     limit=budget_m, min_only=True)
        near = np.isfinite(d[:graph.n_nodes])
    idx = np.flatnonzero(near)
    if len(idx) > max_candidates:
        idx = idx[np.linspace(0, len(idx) - 1, max_candidates).astype(np.int64)]
    return graph.node_xy[idx, 0], graph.node_xy[idx, 1], graph.node_ids[idx]


def _store_site(session: Session, site: dict, *, type_code: str, budget_m: float, network: str,
                params: dict) -> None:
    """Keep one suggested site in ``site_suggestions``."""
    session.add(SiteSuggestion(
        type_code=type_code, budget_m=budget_m, rank=site["rank"], node_id=site["node_id"],
        households_added=site["households_added"], residents_added=site["residents_added"],
        buildings_added=site["buildings_added"], cumulative_households=site["cumulative_households"],
        network=network, params=params, geom=f"SRID=4326;POINT({site['lon']} {site['lat']})", source="computed"))
