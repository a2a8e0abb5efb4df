"""Walking service areas ("service circles", 服务圈) of many facilities over a street network.

For each facility:

1. Snap it to the **nearest point on an edge** (not only a node) within ``snap_m``; the straight walk to the
   street is paid out of the budget. The walk starts at both ends of that edge with the partial costs.
2. Run Dijkstra with a ``limit`` (a numba kernel on the CSR graph whose work follows the reached part only,
   metric CRS) once with the largest budget; smaller budgets reuse the same distances.
3. Collect the reached street parts: whole edges, and **partial edges cut at the reached distance** from
   either end (one-way edges only from their start), plus the facility's own edge around its snap point.
4. The polygon is the union of buffers (``buffer_m``, default 50 m) of those parts, traced as the ``buffer_m``
   iso-line of their distance field on a grid of ``buffer_m / 4`` (numba kernels in ``gis._iso_kernels``;
   ``mode="vector"`` builds the same union with GEOS instead, about 3× slower). Blocks the streets enclose
   but the buffer does not reach stay **holes**; places the walk cannot reach — across a river without a
   bridge — are not covered.

Where there is no street within ``snap_m`` the area is a straight-line circle of the budget's radius, marked
``method='euclidean'``.

Budgets are metres; minutes convert at ``speed_kmh`` (default 5 km/h: 5/10/15 min → 417/833/1250 m).
No Python loop over edges or nodes: per facility a handful of compiled calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from gis import _iso_kernels as _kern
from gis.domain import WALK_SPEED_KMH
from gis.errors import InvalidInput
from gis.network import StreetGraph

DEFAULT_SPEED_KMH = WALK_SPEED_KMH
DEFAULT_MINUTES = (5.0, 10.0, 15.0)
DEFAULT_METERS = (300.0, 500.0, 1000.0)  # GB 50180-2018 5/10/15-minute life circles
DEFAULT_BUFFER_M = 50.0
DEFAULT_SNAP_M = 250.0
QUAD_SEGS = 3  # 12-gon caps: at most 1.7 m inside a true 50 m round buffer
# grid polygons: cell = buffer / 4 (12.5 m for a 50 m buffer); against an exact buffer union the area is
# within 0.2 % and 99 % of the vertices within 2.5 m
CELL_FRACTION = 4.0


def minutes_to_meters(minutes, speed_kmh: float = DEFAULT_SPEED_KMH) -> np.ndarray:
    """Walking distance in metres of ``minutes`` at ``speed_kmh``."""
    if speed_kmh <= 0 or speed_kmh > 30:
        raise InvalidInput("步行速度须在 0–30 km/h 之间 (walking speed must be within 0–30 km/h)")
    return np.asarray(minutes, dtype=float) * speed_kmh * 1000.0 / 60.0


@dataclass
class Snapped:
    """Facilities snapped to the network (metric coordinates)."""

    x: np.ndarray
    y: np.ndarray
    edge: np.ndarray  # -1: no street within snap_m → euclidean
    along: np.ndarray  # metres from the edge's u end
    dist: np.ndarray  # metres from the facility to its street


def snap_facilities(graph: StreetGraph | None, x, y, snap_m: float = DEFAULT_SNAP_M) -> Snapped:
    """Snap metric points to their nearest street (``edge = -1`` where none within ``snap_m``)."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    if graph is None or graph.n_edges == 0:
        n = len(x)
        return Snapped(x, y, np.full(n, -1, dtype=np.int64), np.zeros(n), np.full(n, np.inf))
    edge, along, dist = graph.snap(x, y, snap_m)
    return Snapped(x, y, edge, along, dist)


def substrings(graph: StreetGraph, edge, start, end) -> np.ndarray:
    """LineStrings of edge parts ``[start, end]`` metres from each edge's ``u`` end (vectorised)."""
    if len(edge) == 0:
        return np.empty(0, dtype=object)
    xy, ids = substring_coords(graph, edge, start, end)
    return shapely.linestrings(xy, indices=ids)


def substring_coords(graph: StreetGraph, edge, start, end) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of edge parts ``[start, end]`` (metres from ``u``), in order, with their part index."""
    edge = np.asarray(edge, dtype=np.int64)
    coords, offsets, cum = graph.flat
    length = graph.length[edge]
    start = np.clip(np.asarray(start, dtype=float), 0, length)
    end = np.clip(np.asarray(end, dtype=float), 0, length)
    k = len(edge)
    counts = offsets[edge + 1] - offsets[edge]
    pid = np.repeat(np.arange(k), counts)
    first = np.repeat(offsets[edge], counts)
    local = np.arange(len(pid)) - np.repeat(np.cumsum(counts) - counts, counts)
    vidx = first + local
    vcum = cum[vidx]
    inside = (vcum > start[pid]) & (vcum < end[pid])
    geoms = graph.geoms[edge]
    frac0 = np.divide(start, length, out=np.zeros(k), where=length > 0)
    frac1 = np.divide(end, length, out=np.ones(k), where=length > 0)
    p0 = shapely.get_coordinates(shapely.line_interpolate_point(geoms, frac0, normalized=True))
    p1 = shapely.get_coordinates(shapely.line_interpolate_point(geoms, frac1, normalized=True))
    ids = np.concatenate([np.arange(k), pid[inside], np.arange(k)])
    keys = np.concatenate([start - 1.0, vcum[inside], end + 1.0])
    xy = np.concatenate([p0, coords[vidx[inside]], p1])
    order = np.lexsort((keys, ids))
    return xy[order], ids[order]


@dataclass
class ReachedParts:
    """What one facility reaches within one budget."""

    nodes: np.ndarray  # node indices reached
    full_edges: np.ndarray  # edge indices walked entirely
    part_edge: np.ndarray  # partial pieces: edge index, start, end (metres from u)
    part_start: np.ndarray
    part_end: np.ndarray


def reached_parts(graph: StreetGraph, d: np.ndarray, budget: float, edge0: int, along0: float,
                  extra0: float, nodes: np.ndarray | None = None) -> ReachedParts:
    """Whole and partial edges reached within ``budget`` given node distances ``d`` (from the start point;
    ``nodes``: the nodes within ``budget`` if already known)."""
    if nodes is None:
        nodes = np.flatnonzero(d <= budget)
    indptr, inc = graph.incidence
    if len(nodes):
        counts = indptr[nodes + 1] - indptr[nodes]
        starts = np.repeat(indptr[nodes] - (np.cumsum(counts) - counts), counts)
        cand = np.unique(inc[starts + np.arange(int(counts.sum()))])
    else:
        cand = np.empty(0, dtype=np.int64)
    length = graph.length[cand]
    a = budget - d[graph.u[cand]]  # -inf where u was not reached
    a[~(a > 0)] = 0.0
    b = budget - d[graph.v[cand]]
    b[~(b > 0) | graph.oneway[cand]] = 0.0
    full = a + b >= length
    pa = (a > 0) & ~full
    pb = (b > 0) & ~full
    pe = [cand[pa], cand[pb]]
    ps = [np.zeros(int(pa.sum())), (length - b)[pb]]
    pn = [a[pa], length[pb]]
    rem = budget - extra0
    if edge0 >= 0 and rem > 0:
        lo = along0 if graph.oneway[edge0] else along0 - rem
        pe.append(np.array([edge0]))
        ps.append(np.array([max(lo, 0.0)]))
        pn.append(np.array([min(along0 + rem, graph.length[edge0])]))
    return ReachedParts(nodes, cand[full], np.concatenate(pe), np.concatenate(ps), np.concatenate(pn))


def parts_polygon(graph: StreetGraph, parts: ReachedParts, buffer_m: float, *, origin=None,
                  snapped_xy=None, quad_segs: int = QUAD_SEGS, mode: str = "grid"):
    """Union of buffers of the reached street parts (and the walk from the facility to its street).

    The parts are first joined into long trails (``_iso_kernels.trail_cover``); buffering a few trails and
    uniting them gives the same polygon as uniting one buffer per street, several times faster."""
    keep = parts.part_end - parts.part_start > 1e-6
    pe, ps, pn = parts.part_edge[keep], parts.part_start[keep], parts.part_end[keep]
    connect = (origin is not None and snapped_xy is not None
               and np.hypot(origin[0] - snapped_xy[0], origin[1] - snapped_xy[1]) > 0.01)
    if mode == "grid":
        pieces = substring_coords(graph, pe, ps, pn) if len(pe) else None
        segs = _segments(graph, parts.full_edges, pieces)
        if connect:
            segs = np.vstack([segs, [[origin[0], origin[1], snapped_xy[0], snapped_xy[1]]]])
        if len(segs) == 0:
            return shapely.Point(*origin).buffer(buffer_m, quad_segs=quad_segs) if origin is not None else None
        return grid_polygon(segs, buffer_m)
    lines = [graph.geoms[parts.full_edges]]
    n_cut = 0
    lu = [graph.u[parts.full_edges]]
    lv = [graph.v[parts.full_edges]]
    if len(pe):
        lines.append(substrings(graph, pe, ps, pn))
        cut = -1 - np.arange(2 * len(pe))
        lu.append(np.where(ps <= 0, graph.u[pe], cut[: len(pe)]))
        lv.append(np.where(pn >= graph.length[pe], graph.v[pe], cut[len(pe):]))
        n_cut = 2 * len(pe)
    if connect:
        lines.append(np.array([shapely.linestrings([origin, snapped_xy])], dtype=object))
        lu.append(np.array([-1 - n_cut]))
        lv.append(np.array([-2 - n_cut]))
    allv = np.concatenate(lines)
    if len(allv) == 0:
        return shapely.Point(*origin).buffer(buffer_m, quad_segs=quad_segs) if origin is not None else None
    ids, inv = np.unique(np.concatenate(lu + lv), return_inverse=True)
    m = len(allv)
    coords, index = shapely.get_coordinates(allv, return_index=True)
    offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(index, minlength=m), out=offsets[1:])
    cidx, trail = _kern.trail_cover(inv[:m].astype(np.int64), inv[m:].astype(np.int64), len(ids), offsets)
    trails = shapely.linestrings(coords[cidx], indices=trail)
    return shapely.union_all(shapely.buffer(trails, buffer_m, quad_segs=quad_segs))


def _segments(graph: StreetGraph, full_edges: np.ndarray, pieces) -> np.ndarray:
    """``(k, 4)`` segments ``(ax, ay, bx, by)`` of whole edges (from the flat coordinate arrays) and pieces
    (LineStrings, or ``(xy, ids)`` from :func:`substring_coords`)."""
    coords, offsets, _cum = graph.flat
    counts = offsets[full_edges + 1] - offsets[full_edges] - 1
    starts = np.repeat(offsets[full_edges] - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
    segs = [np.hstack([coords[starts], coords[starts + 1]])]
    if isinstance(pieces, tuple):
        pc, pi = pieces
        same = pi[1:] == pi[:-1]
        segs.append(np.hstack([pc[:-1][same], pc[1:][same]]))
    elif pieces is not None and len(pieces):
        pc, pi = shapely.get_coordinates(pieces, return_index=True)
        same = pi[1:] == pi[:-1]
        segs.append(np.hstack([pc[:-1][same], pc[1:][same]]))
    return np.concatenate(segs) if len(segs) > 1 else segs[0]


@dataclass(frozen=True)
class Lattice:
    """Grid nodes ``(x0 + j·h, y0 + i·h)``, ``nx`` × ``ny`` of them, anchored at multiples of ``h``."""

    x0: float
    y0: float
    h: float
    nx: int
    ny: int


def lattice_for(segs: np.ndarray, buffer_m: float, cell_m: float | None = None, *,
                max_cells: int = 4_000_000) -> Lattice:
    """The lattice over ``segs`` and their ``buffer_m`` buffer (cell ``cell_m``, default ``buffer_m /
    CELL_FRACTION``, coarser if it would exceed ``max_cells``)."""
    h = float(cell_m or buffer_m / CELL_FRACTION)
    lo = np.minimum(segs[:, :2].min(axis=0), segs[:, 2:].min(axis=0))
    hi = np.maximum(segs[:, :2].max(axis=0), segs[:, 2:].max(axis=0))
    pad = buffer_m + 3 * h
    while True:
        nx = int(np.ceil((hi[0] - lo[0] + 2 * pad) / h)) + 1
        ny = int(np.ceil((hi[1] - lo[1] + 2 * pad) / h)) + 1
        if nx * ny <= max_cells:
            break
        h *= 1.5
        pad = buffer_m + 3 * h
    # anchored at multiples of h, not at the bbox: a larger budget samples the same points
    return Lattice(float(np.floor((lo[0] - pad) / h) * h), float(np.floor((lo[1] - pad) / h) * h), h, nx + 1, ny + 1)


def _field(segs: np.ndarray, lat: Lattice, buffer_m: float) -> np.ndarray:
    return _kern.distance_field(np.ascontiguousarray(segs, dtype=np.float64), lat.x0, lat.y0, lat.h, lat.nx,
                                lat.ny, float(buffer_m))


def grid_polygon(segs: np.ndarray, buffer_m: float, cell_m: float | None = None, *, max_cells: int = 4_000_000):
    """The union of ``buffer_m`` buffers of segments, traced as the ``buffer_m`` iso-line of their distance
    field on a grid (``cell_m``, default ``buffer_m / CELL_FRACTION``): exact along straight streets, within
    a couple of metres at junctions, holes included. Several times cheaper than a GEOS union of buffers."""
    return nested_grid_polygons([segs], buffer_m, cell_m, max_cells=max_cells)[0]


def nested_grid_polygons(seg_sets: list[np.ndarray], buffer_m: float, cell_m: float | None = None, *,
                         max_cells: int = 4_000_000) -> list:
    """:func:`grid_polygon` of several reaches of one facility (each set of segments within the next: smaller
    budgets first), each polygon covering the ones before it exactly.

    All are traced on the lattice of the largest reach; each distance field is raised to at least the next
    one's (it is, but for rounding) and each line is kept within the next one's crossings of the lattice
    edges (:func:`gis._iso_kernels._crossing`). Each cell's part of a polygon is convex, its vertices on the
    lattice lines and inside the next polygon's part of that cell, so the whole lies within the next polygon.
    The lines are not simplified afterwards: a per-polygon simplification moved smaller circles out of larger
    ones by up to 0.3 m."""
    buffer_m = float(buffer_m)
    present = [k for k, segs in enumerate(seg_sets) if len(segs)]
    out: list = [None] * len(seg_sets)
    if not present:
        return out
    lat = lattice_for(seg_sets[present[-1]], buffer_m, cell_m, max_cells=max_cells)
    outer = None
    for k in reversed(present):
        field = _field(seg_sets[k], lat, buffer_m)
        if outer is not None:
            np.maximum(field, outer, out=field)
        xy, rid = _kern.contour_rings(field, field if outer is None else outer, buffer_m, lat.x0, lat.y0, lat.h)
        out[k] = _rings_polygon(xy, rid)
        outer = field
    return out


def _rings_polygon(xy: np.ndarray, rid: np.ndarray):
    """Shells (CCW) and holes (CW) of traced rings as a (Multi)Polygon, each hole in the shell around it."""
    if len(xy) == 0:
        return None
    rings = shapely.linearrings(xy, indices=rid)
    rings = rings[~shapely.is_empty(rings) & (shapely.get_num_coordinates(rings) >= 4)]
    if len(rings) == 0:
        return None
    ccw = shapely.is_ccw(rings)
    shells = [shapely.Polygon(r) for r in rings[ccw]]
    holes = rings[~ccw]
    if len(shells) == 1:
        return shapely.Polygon(shells[0].exterior, list(holes))
    owner = np.full(len(holes), -1)
    if len(holes):
        hp = shapely.get_coordinates(shapely.get_point(holes, 0))
        for k, sh in enumerate(shells):
            inside = shapely.contains_xy(sh, hp[:, 0], hp[:, 1]) & (owner < 0)
            owner[inside] = k
    polys = [shapely.Polygon(sh.exterior, list(holes[owner == k])) for k, sh in enumerate(shells)]
    return shapely.MultiPolygon(polys)


def _as_multi(geom):
    if geom is None or geom.is_empty:
        return geom
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    if geom.geom_type == "MultiPolygon":
        return geom
    polys = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"]
    return shapely.MultiPolygon(polys)


@dataclass
class ServiceArea:
    """One facility's service area for one budget (geometry in the graph's metric CRS)."""

    facility: int  # position in the input
    budget_m: float
    method: str  # 'network' | 'euclidean'
    geom: object
    reached_nodes: int
    node_set: np.ndarray | None = None


def service_areas(graph: StreetGraph | None, x, y, budgets_m: Sequence[float], *,
                  buffer_m: float = DEFAULT_BUFFER_M, snap_m: float = DEFAULT_SNAP_M,
                  quad_segs: int = QUAD_SEGS, batch: int = 256, keep_nodes: bool = False, mode: str = "grid",
                  snapped: Snapped | None = None, indices: Iterable[int] | None = None) -> list[ServiceArea]:
    """Service areas of facilities at metric ``(x, y)`` for each budget (metres), in the graph's CRS.

    ``indices`` restricts the work to some facilities (used to split work into chunks, e.g. on dask)."""
    budgets = sorted({float(b) for b in budgets_m})
    if not budgets or min(budgets) <= 0:
        raise InvalidInput("预算必须为正数 (budgets must be positive)")
    if buffer_m <= 0 or buffer_m > 1000:
        raise InvalidInput("缓冲宽度须在 0–1000 米之间 (buffer width must be within 0–1000 m)")
    sn = snapped if snapped is not None else snap_facilities(graph, x, y, snap_m)
    todo = np.arange(len(sn.x)) if indices is None else np.asarray(list(indices), dtype=np.int64)
    bmax = budgets[-1]
    out: list[ServiceArea] = []
    if graph is not None:
        indptr, indices, data = graph.csr.indptr, graph.csr.indices, graph.csr.data
        dist = np.full(graph.n_nodes, np.inf)  # this call's own buffers, reset after each facility
        mark = np.zeros(graph.n_edges, dtype=np.bool_)
        inc_ptr, inc = graph.incidence
        coords, offsets, cum = graph.flat
    for f in todo.tolist():
        e0 = int(sn.edge[f])
        if e0 < 0:
            circle = shapely.Point(sn.x[f], sn.y[f])
            for b in budgets:
                out.append(ServiceArea(f, b, "euclidean", _as_multi(circle.buffer(b, quad_segs=16)), 0))
            continue
        a0, x0, length = float(sn.along[f]), float(sn.dist[f]), float(graph.length[e0])
        starts, costs = start_costs(graph, e0, a0, x0)
        touched = _kern.dijkstra_limited(indptr, indices, data, starts, costs, bmax, dist)
        frac = a0 / length if length > 0 else 0.0
        snap_pt = shapely.get_coordinates(shapely.line_interpolate_point(graph.geoms[e0], frac,
                                                                         normalized=True))[0]
        connect = np.hypot(sn.x[f] - snap_pt[0], sn.y[f] - snap_pt[1]) > 0.01
        if mode == "grid":
            seg_sets, counts = [], []
            for b in budgets:
                segs, n_nodes = _kern.reached_segments(dist, touched, b, inc_ptr, inc, graph.u, graph.v,
                                                       graph.length, graph.oneway, coords, offsets, cum, mark,
                                                       e0, a0, x0)
                if connect:
                    segs = np.vstack([segs, [[sn.x[f], sn.y[f], snap_pt[0], snap_pt[1]]]])
                seg_sets.append(segs)
                counts.append(n_nodes)
            polys = nested_grid_polygons(seg_sets, buffer_m)
            for b, poly, n_nodes in zip(budgets, polys, counts, strict=True):
                if poly is None:
                    poly = shapely.Point(sn.x[f], sn.y[f]).buffer(buffer_m, quad_segs=quad_segs)
                nodes = np.sort(touched[dist[touched] <= b]) if keep_nodes else None
                out.append(ServiceArea(f, b, "network", _as_multi(poly), int(n_nodes), nodes))
        else:
            for b in budgets:
                parts = reached_parts(graph, dist, b, e0, a0, x0, nodes=np.sort(touched[dist[touched] <= b]))
                poly = parts_polygon(graph, parts, buffer_m, origin=(sn.x[f], sn.y[f]), snapped_xy=snap_pt,
                                     quad_segs=quad_segs, mode=mode)
                out.append(ServiceArea(f, b, "network", _as_multi(poly), len(parts.nodes),
                                       parts.nodes if keep_nodes else None))
        dist[touched] = np.inf
    return out


def start_costs(graph: StreetGraph, edge: int, along: float, extra: float) -> tuple[np.ndarray, np.ndarray]:
    """Start nodes and their costs for a point ``along`` metres on ``edge``, ``extra`` metres off it."""
    length = float(graph.length[edge])
    if graph.oneway[edge]:
        return (np.array([graph.v[edge]], dtype=np.int64), np.array([max(length - along, 0.0) + extra]))
    return (np.array([graph.v[edge], graph.u[edge]], dtype=np.int64),
            np.array([max(length - along, 0.0) + extra, max(along, 0.0) + extra]))


def reachable_node_sets(graph: StreetGraph, node_idx, budget: float) -> list[np.ndarray]:
    """Reachability only: node indices within ``budget`` of each start node (no polygon)."""
    indptr, indices, data = graph.csr.indptr, graph.csr.indices, graph.csr.data
    dist = np.full(graph.n_nodes, np.inf)
    zero = np.zeros(1)
    out = []
    for s in np.asarray(node_idx, dtype=np.int64):
        touched = _kern.dijkstra_limited(indptr, indices, data, np.array([s]), zero, float(budget), dist)
        out.append(np.sort(touched))
        dist[touched] = np.inf
    return out


def _chunk_areas(graph, x, y, budgets, kw, snapped, idx):
    return service_areas(graph, x, y, budgets, snapped=snapped, indices=idx, **kw)


def service_areas_dask(client, graph: StreetGraph | None, x, y, budgets_m: Sequence[float], *,
                       chunk: int = 100, snap_m: float = DEFAULT_SNAP_M, **kw) -> list[ServiceArea]:
    """:func:`service_areas` on a dask.distributed cluster: the graph is scattered once to every worker, the
    facilities go in chunks of ``chunk``; the result equals the single-process one, in input order."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    snapped = snap_facilities(graph, x, y, snap_m)
    g_fut = client.scatter(graph, broadcast=True, hash=False) if graph is not None else None
    s_fut = client.scatter(snapped, broadcast=True, hash=False)
    futures = [client.submit(_chunk_areas, g_fut, x, y, list(budgets_m), kw, s_fut,
                             np.arange(lo, min(lo + chunk, len(x))), pure=False)
               for lo in range(0, len(x), chunk)]
    out: list[ServiceArea] = []
    for part in client.gather(futures):
        out.extend(part)
    return out
