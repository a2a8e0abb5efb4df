"""Service circles (服务圈) in PostGIS: compute, store, keep fresh, serve; "what can I reach from here".

``compute_circles`` computes the walking service areas (``gis.isochrones``) of the facilities of some types
for some budgets and stores them in ``service_circles`` with their parameters (``minutes``, ``budget_m``,
``speed_kmh``, ``buffer_m``, ``method``, ``network``; more in ``params``). Each row carries an
``inputs_hash`` of everything it depends on — the facility's position and type, the network's version
stamp (``layers.networks.network_version``) and the parameters — so a second run only recomputes the
facilities that moved, are new, or whose network changed (``force=True`` recomputes everything).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import delete, func, select, text, tuple_
from sqlalchemy.orm import Session

from gis import isochrones as iso
from gis import network as gnet
from gis.coords import haversine_m
from gis.domain import FACILITY_TYPES, CircleMethod
from gis.errors import InvalidInput, NotFound
from layers import models
from layers.features import feature_collection_text
from layers.networks import default_network, load_graph, network_version
from layers.walking import walking_distances

ALGO_VERSION = "iso-2"  # iso-2: every budget of a facility traced on one lattice, nested exactly
_TYPE_NAMES = {code: (zh, en) for code, _g, zh, en in FACILITY_TYPES}


def resolve_budgets(minutes: Sequence[float] | None = None, meters: Sequence[float] | None = None,
                    speed_kmh: float = iso.DEFAULT_SPEED_KMH) -> list[tuple[float | None, float]]:
    """``[(minutes or None, metres)]``; minutes win when both are given; default 5/10/15 minutes."""
    if minutes:
        mins = [float(x) for x in minutes]
        if min(mins) <= 0 or max(mins) > 120:
            raise InvalidInput("分钟数须在 0–120 之间 (minutes must be within 0–120)")
        return [(mn, round(float(mt), 3)) for mn, mt in zip(mins, iso.minutes_to_meters(mins, speed_kmh),
                                                             strict=True)]
    if meters:
        mts = [float(x) for x in meters]
        if min(mts) <= 0 or max(mts) > 10_000:
            raise InvalidInput("距离须在 0–10000 米之间 (metres must be within 0–10000)")
        return [(None, round(mt, 3)) for mt in mts]
    return resolve_budgets(iso.DEFAULT_MINUTES, None, speed_kmh)


def _facilities(session: Session, type_codes: Sequence[str] | None):
    q = select(models.Facility.id, models.Facility.type_code, func.ST_X(models.Facility.geom), func.ST_Y(models.Facility.geom))
    if type_codes:
        q = q.where(models.Facility.type_code.in_(list(type_codes)))
    rows = session.execute(q.order_by(models.Facility.id)).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    types = [r[1] for r in rows]
    lon = np.array([r[2] for r in rows], dtype=float)
    lat = np.array([r[3] for r in rows], dtype=float)
    return ids, types, lon, lat


def _hash(*parts) -> str:
    return hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:20]


def _nearest_networks(session: Session, ids: np.ndarray, snap_m: float, only: str | None) -> list[str | None]:
    """For each facility the network of its nearest street within about ``snap_m`` (``only``: that network)."""
    if len(ids) == 0:
        return []
    rows = session.execute(text("""
        SELECT f.id, n.network FROM facilities f LEFT JOIN LATERAL (
            SELECT e.network FROM street_edges e
            WHERE ST_DWithin(e.geom, f.geom, :deg) AND (CAST(:only AS text) IS NULL OR e.network = :only)
            ORDER BY e.geom <-> f.geom LIMIT 1) n ON true
        WHERE f.id = ANY(:ids)"""), {"deg": snap_m / 80_000.0, "only": only, "ids": ids.tolist()}).all()
    by_id = dict(rows)
    return [by_id.get(int(i)) for i in ids]


def compute_circles(session: Session, *, network: str | None = None, type_codes: Sequence[str] | None = None,
                    minutes: Sequence[float] | None = None, meters: Sequence[float] | None = None,
                    speed_kmh: float = iso.DEFAULT_SPEED_KMH, buffer_m: float = iso.DEFAULT_BUFFER_M,
                    snap_m: float = iso.DEFAULT_SNAP_M, force: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> dict:
    """Compute and store the service circles that are missing or stale; returns a report (not committed).

    Each facility walks the network of its nearest street (several networks may be stored, e.g. the demo and
    an OSM import); facilities with no street within ``snap_m`` get straight-line circles. With ``network``
    only the facilities near that network are computed (the others are left as they are)."""
    t0 = time.perf_counter()
    if type_codes:
        unknown = sorted(set(type_codes) - set(_TYPE_NAMES))
        if unknown:
            raise InvalidInput(f"未知设施类型 (unknown facility types): {', '.join(unknown)}")
    budgets = resolve_budgets(minutes, meters, speed_kmh)
    if not 0 < buffer_m <= 500:
        raise InvalidInput("缓冲宽度须在 0–500 米之间 (buffer width must be within 0–500 m)")
    if network is not None and network_version(session, network) is None:
        raise NotFound(f"路网不存在 (network not found): {network}")
    ids, types, lon, lat = _facilities(session, type_codes)
    nets = _nearest_networks(session, ids, snap_m, network)
    report = {"network": network, "networks": {}, "facilities": int(len(ids)), "budgets_m": [b for _, b in budgets],
              "minutes": [mn for mn, _ in budgets], "computed": 0, "unchanged": 0, "euclidean": 0, "skipped": 0}
    groups: dict[str | None, list[int]] = {}
    for k, n in enumerate(nets):
        if network is not None and n is None:
            report["skipped"] += 1
            continue
        groups.setdefault(n, []).append(k)
    done = 0
    total = sum(len(v) for v in groups.values())
    for net, members in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
        sel = np.asarray(members, dtype=np.int64)

        def tick(d, _t, base=done):
            if progress:
                progress(base + d, total)

        sub = _compute_group(session, net, ids[sel], [types[k] for k in members], lon[sel], lat[sel], budgets,
                             speed_kmh, buffer_m, snap_m, force, tick)
        done += len(members)
        for key in ("computed", "unchanged", "euclidean"):
            report[key] += sub[key]
        report["networks"][net or "euclidean"] = len(members)
    if network is None and report["networks"]:
        report["network"] = max((k for k in report["networks"] if k != "euclidean"),
                                key=lambda k: report["networks"][k], default=None)
    report["seconds"] = round(time.perf_counter() - t0, 3)
    return report


def _compute_group(session, network, ids, types, lon, lat, budgets, speed_kmh, buffer_m, snap_m, force,
                   progress) -> dict:
    version = network_version(session, network) if network else None
    graph = load_graph(session, network) if version else None
    report = {"computed": 0, "unchanged": 0, "euclidean": 0}
    hashes = {}
    for i, fid in enumerate(ids.tolist()):
        for _mn, b in budgets:
            hashes[(fid, b)] = _hash(ALGO_VERSION, fid, types[i], f"{lon[i]:.7f}", f"{lat[i]:.7f}", version,
                                     b, speed_kmh, buffer_m, snap_m)
    stored = {}
    if not force:
        rows = session.execute(
            select(models.ServiceCircle.facility_id, models.ServiceCircle.budget_m, models.ServiceCircle.params["inputs_hash"]
                   .astext).where(models.ServiceCircle.facility_id.in_(ids.tolist()))
        ).all()
        stored = {(r[0], round(r[1], 3)): r[2] for r in rows}
    todo = np.array([i for i, fid in enumerate(ids.tolist())
                     if any(stored.get((fid, b)) != hashes[(fid, b)] for _mn, b in budgets)], dtype=np.int64)
    report["unchanged"] = int(len(ids) - len(todo))
    if len(todo) == 0:
        return report
    crs = graph.crs if graph is not None else gnet.metric_crs_for(float(np.mean(lon)), float(np.mean(lat)))
    x, y = gnet.transform_xy(lon[todo], lat[todo], "EPSG:4326", crs)
    snapped = iso.snap_facilities(graph, x, y, snap_m)
    areas = []
    step = 200
    for lo in range(0, len(todo), step):
        areas += iso.service_areas(graph, x, y, [b for _, b in budgets], buffer_m=buffer_m, snap_m=snap_m,
                                   snapped=snapped, indices=range(lo, min(lo + step, len(todo))))
        if progress:
            progress(min(lo + step, len(todo)), len(todo))
    geoms = gnet.transform_geoms(np.array([a.geom for a in areas], dtype=object), crs, "EPSG:4326")
    minutes_of = {b: mn for mn, b in budgets}
    todo_ids = ids[todo]
    session.execute(delete(models.ServiceCircle).where(
        tuple_(models.ServiceCircle.facility_id, models.ServiceCircle.budget_m).in_(
            [(int(todo_ids[a.facility]), a.budget_m) for a in areas])))
    rows = []
    for a, g in zip(areas, geoms, strict=True):
        k = int(todo[a.facility])
        fid = int(ids[k])
        method = a.method
        rows.append({
            "facility_id": fid, "type_code": types[k], "minutes": minutes_of[a.budget_m], "budget_m": a.budget_m,
            "speed_kmh": speed_kmh, "buffer_m": buffer_m if method == CircleMethod.NETWORK.value else None,
            "method": method, "network": network if method == CircleMethod.NETWORK.value else None,
            "params": {"inputs_hash": hashes[(fid, a.budget_m)], "network_version": version,
                       "snap_m": snap_m, "snap_distance_m": None if method != "network" else
                       round(float(snapped.dist[a.facility]), 2), "reached_nodes": a.reached_nodes,
                       "quad_segs": iso.QUAD_SEGS, "algorithm": ALGO_VERSION},
            # full precision: rounding each polygon's coordinates on its own would undo their nesting
            "geom": f"SRID=4326;{shapely.to_wkt(g, rounding_precision=-1)}",
            "source": f"computed:{network}" if method == "network" else "computed:euclidean",
        })
        report["euclidean"] += method == CircleMethod.EUCLIDEAN.value
    session.execute(models.ServiceCircle.__table__.insert(), rows)
    session.flush()
    report["computed"] = int(len(todo))
    return report


def _type_label(code: str) -> tuple[str, str]:
    return _TYPE_NAMES.get(code, (code, code))


def circles_geojson(session: Session, *, type_code: str | None = None, minutes: float | None = None,
                    budget_m: float | None = None, facility_id: int | None = None, bbox=None,
                    limit: int = 5000) -> str:
    """Stored circles as GeoJSON FeatureCollection text (filter by type, budget, facility, WGS84 bbox); each
    geometry goes out as PostGIS writes it (:func:`layers.features.feature_collection_text`)."""
    c, f = models.ServiceCircle, models.Facility
    q = (select(c.id, c.facility_id, f.name, c.type_code, c.minutes, c.budget_m, c.speed_kmh, c.buffer_m,
                c.method, c.network, c.computed_at, c.source, c.params["reached_nodes"].as_integer(),
                func.ST_AsGeoJSON(c.geom, 7))
         .join(f, f.id == c.facility_id))
    if type_code:
        q = q.where(c.type_code == type_code)
    if minutes is not None:
        q = q.where(func.abs(c.minutes - minutes) < 1e-6)
    if budget_m is not None:
        q = q.where(func.abs(c.budget_m - budget_m) < 0.01)
    if facility_id is not None:
        q = q.where(c.facility_id == facility_id)
    if bbox is not None:
        q = q.where(c.geom.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    rows = session.execute(q.order_by(c.facility_id, c.budget_m).limit(limit)).all()
    networks = sorted({r.network for r in rows if r.network})
    attributions = session.scalars(select(models.DatasetLoad.attribution).where(
        models.DatasetLoad.name.in_([f"network:{n}" for n in networks]), models.DatasetLoad.attribution.is_not(None))).all()
    return feature_collection_text(((r[0], r[13], _circle_properties(r)) for r in rows), count=len(rows),
                                   attribution="; ".join(sorted(set(attributions))) or None)


def _circle_properties(r) -> dict:
    zh, en = _type_label(r[3])
    return {"facility_id": r[1], "facility_name": r[2], "type_code": r[3], "type_zh": zh, "type_en": en,
            "minutes": r[4], "budget_m": r[5], "speed_kmh": r[6], "buffer_m": r[7], "method": r[8],
            "method_zh": CircleMethod(r[8]).zh, "network": r[9], "computed_at": r[10].isoformat(),
            "source": r[11], "reached_nodes": r[12]}


@dataclass(frozen=True)
class ReachCandidates:
    """Facilities within a straight-line budget of a point, with their walking distances from it."""

    lon: float
    lat: float
    network: str | None
    ids: np.ndarray
    types: list[str]
    lons: np.ndarray
    lats: np.ndarray
    straight_m: np.ndarray
    walk_m: np.ndarray
    method: np.ndarray
    names: dict[int, str]


def reach_candidates(session: Session, lon: float, lat: float, *, max_budget_m: float,
                     type_codes: Sequence[str] | None = None, network: str | None = None,
                     snap_m: float = iso.DEFAULT_SNAP_M) -> ReachCandidates:
    """The facilities that may be within ``max_budget_m`` on foot of a point (those within it in a straight
    line) and their walking distances — one network walk, from which any budget up to ``max_budget_m`` is
    answered by :func:`reach_answer`."""
    if not 0 < max_budget_m <= 10_000:
        raise InvalidInput("距离须在 0–10000 米之间 (budget must be within 0–10000 m)")
    unknown = sorted(set(type_codes or []) - set(_TYPE_NAMES))
    if unknown:
        raise InvalidInput(f"未知设施类型 (unknown facility types): {', '.join(unknown)}")
    network = network or default_network(session, near=(lon, lat))
    ids, types, flon, flat = _facilities(session, type_codes)
    straight = haversine_m(lon, lat, flon, flat) if len(ids) else np.zeros(0)
    near = straight <= max_budget_m
    ids, flon, flat, straight = ids[near], flon[near], flat[near], straight[near]
    types = [t for t, k in zip(types, near, strict=True) if k]
    dist, method = walking_distances(session, network, lon, lat, flon, flat, snap_m=snap_m)
    within = ids[dist <= max_budget_m].tolist()
    names = dict(session.execute(select(models.Facility.id, models.Facility.name).where(models.Facility.id.in_(within))).all()) \
        if within else {}
    return ReachCandidates(lon, lat, network, ids, types, flon, flat, straight, dist, method, names)


def reach_answer(cand: ReachCandidates, budget_m: float, *,
                 speed_kmh: float = iso.DEFAULT_SPEED_KMH, limit: int = 200) -> dict:
    """"What can I reach from here" within ``budget_m``: the candidates within it in a straight line and on foot,
    nearest first, each with its walking minutes at ``speed_kmh``."""
    ok = (cand.straight_m <= budget_m) & (cand.walk_m <= budget_m)
    order = np.argsort(cand.walk_m[ok], kind="stable")[:limit]
    sel = np.flatnonzero(ok)[order]
    per_minute = speed_kmh * 1000 / 60
    items = []
    for i in sel.tolist():
        zh, en = _type_label(cand.types[i])
        items.append({"facility_id": int(cand.ids[i]), "name": cand.names.get(int(cand.ids[i])),
                      "type_code": cand.types[i], "type_zh": zh, "type_en": en,
                      "distance_m": round(float(cand.walk_m[i]), 1),
                      "minutes": round(float(cand.walk_m[i]) / per_minute, 1), "method": cand.method[i],
                      "lon": float(cand.lons[i]), "lat": float(cand.lats[i])})
    by_type: dict[str, int] = {}
    for it in items:
        by_type[it["type_code"]] = by_type.get(it["type_code"], 0) + 1
    return {"lon": cand.lon, "lat": cand.lat, "budget_m": budget_m, "network": cand.network, "count": len(items),
            "by_type": by_type, "facilities": items}


def reachable_from(session: Session, lon: float, lat: float, *, budget_m: float,
                   type_codes: Sequence[str] | None = None, network: str | None = None,
                   snap_m: float = iso.DEFAULT_SNAP_M, limit: int = 200,
                   speed_kmh: float = iso.DEFAULT_SPEED_KMH) -> dict:
    """Facilities within ``budget_m`` walking metres of a point, nearest first ("what can I reach")."""
    cand = reach_candidates(session, lon, lat, max_budget_m=budget_m, type_codes=type_codes, network=network,
                            snap_m=snap_m)
    return reach_answer(cand, budget_m, speed_kmh=speed_kmh, limit=limit)


def point_service_area(session: Session, lon: float, lat: float, budget_m: float, *,
                       network: str | None = None, buffer_m: float = iso.DEFAULT_BUFFER_M,
                       snap_m: float = iso.DEFAULT_SNAP_M) -> dict:
    """The walking service area of an arbitrary point as a GeoJSON Feature (not stored)."""
    network = network or default_network(session, near=(lon, lat))
    graph = None
    if network:
        try:
            graph = load_graph(session, network)
        except NotFound:
            graph = None
    crs = graph.crs if graph is not None else gnet.metric_crs_for(lon, lat)
    x, y = gnet.transform_xy([lon], [lat], "EPSG:4326", crs)
    (a,) = iso.service_areas(graph, x, y, [budget_m], buffer_m=buffer_m, snap_m=snap_m)
    g = gnet.transform_geoms(np.array([a.geom], dtype=object), crs, "EPSG:4326")[0]
    return {"type": "Feature", "geometry": shapely.geometry.mapping(g),
            "properties": {"budget_m": budget_m, "method": a.method, "method_zh": CircleMethod(a.method).zh,
                           "network": network if a.method == "network" else None,
                           "reached_nodes": a.reached_nodes}}


def circle_stats(session: Session) -> list[dict]:
    """Counts of stored circles per type, budget and method."""
    c = models.ServiceCircle
    rows = session.execute(select(c.type_code, c.minutes, c.budget_m, c.method, func.count())
                           .group_by(c.type_code, c.minutes, c.budget_m, c.method)
                           .order_by(c.type_code, c.budget_m)).all()
    return [{"type_code": r[0], "minutes": r[1], "budget_m": r[2], "method": r[3], "count": r[4]} for r in rows]


__all__ = ["compute_circles", "circles_geojson", "reachable_from", "reach_candidates", "reach_answer", "point_service_area", "circle_stats",
           "resolve_budgets", "default_network"]
