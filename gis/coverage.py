"""Coverage and gaps on a street network: who is within walking distance of a service, where to build next.

- ``nearest_distances``: walking distance from every demand point (building) to the nearest facility of a
  type, with **one** multi-source Dijkstra (facilities as virtual start nodes on their edges, ``min_only``):
  walk to the street + along the network + walk to the building. Points with no street within ``snap_m``
  (or facilities without one) use the straight line × ``detour`` and are marked ``euclidean``.
- ``coverage_matrix`` / ``greedy_max_cover``: the maximal covering location problem solved greedily
  (each step takes the candidate site adding the most uncovered weight — households — with existing
  facilities fixed: only demand they leave uncovered counts). Greedy is within 1 − 1/e of the optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from gis.errors import InvalidInput
from gis.network import StreetGraph, augmented_csr

DETOUR = 1.3  # a walk off the street network: the straight line × this (also layers.walking's fallback)


@dataclass
class PointsOnNet:
    """Points snapped to a network: metric ``x, y``; ``edge`` (-1 = off the network), ``along``, ``dist``."""

    x: np.ndarray
    y: np.ndarray
    edge: np.ndarray
    along: np.ndarray
    dist: np.ndarray

    @classmethod
    def snap(cls, graph: StreetGraph | None, x, y, snap_m: float) -> PointsOnNet:
        """Snap metric points (``edge = -1`` when ``graph`` is ``None`` or no street is near)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        y = np.atleast_1d(np.asarray(y, dtype=float))
        if graph is None or graph.n_edges == 0:
            n = len(x)
            return cls(x, y, np.full(n, -1, dtype=np.int64), np.zeros(n), np.full(n, np.inf))
        e, a, d = graph.snap(x, y, snap_m)
        return cls(x, y, e, a, d)


def _to_points(graph: StreetGraph, d_nodes: np.ndarray, pts: PointsOnNet) -> np.ndarray:
    """Distances from node distances ``d_nodes`` to snapped points (not counting same-edge shortcuts)."""
    out = np.full(len(pts.x), np.inf)
    ok = pts.edge >= 0
    e = pts.edge[ok]
    a = pts.along[ok]
    via_u = d_nodes[graph.u[e]] + a
    via_v = np.where(graph.oneway[e], np.inf, d_nodes[graph.v[e]] + (graph.length[e] - a))
    out[ok] = np.minimum(via_u, via_v) + pts.dist[ok]
    return out


def _same_edge(graph: StreetGraph, src: PointsOnNet, dst: PointsOnNet, best: np.ndarray,
               src_ids: np.ndarray | None = None, nearest: np.ndarray | None = None) -> None:
    """Improve ``best`` (per ``dst`` point) with walks that stay on an edge shared with a ``src`` point."""
    on = src.edge >= 0
    if not np.any(on):
        return
    by_edge: dict[int, list[int]] = {}
    for i in np.flatnonzero(on).tolist():
        by_edge.setdefault(int(src.edge[i]), []).append(i)
    dst_on = np.flatnonzero(np.isin(dst.edge, list(by_edge)))
    for j in dst_on.tolist():
        e = int(dst.edge[j])
        for i in by_edge[e]:
            delta = dst.along[j] - src.along[i]
            if delta < 0 and graph.oneway[e]:
                continue
            d = abs(delta) + src.dist[i] + dst.dist[j]
            if d < best[j]:
                best[j] = d
                if nearest is not None and src_ids is not None:
                    nearest[j] = src_ids[i]


def nearest_distances(graph: StreetGraph | None, fac: PointsOnNet, dem: PointsOnNet, *,
                      limit: float = 3000.0, detour: float = DETOUR) -> tuple[np.ndarray, np.ndarray,
                                                                               np.ndarray]:
    """``(distance_m, nearest facility position, method)`` for every demand point; ``inf`` / ``-1`` when
    no facility is within ``limit`` metres."""
    n_dem = len(dem.x)
    best = np.full(n_dem, np.inf)
    nearest = np.full(n_dem, -1, dtype=np.int64)
    method = np.full(n_dem, "network", dtype=object)
    if len(fac.x) == 0:
        return best, nearest, method
    on = np.flatnonzero(fac.edge >= 0)
    if graph is not None and len(on):
        aug = augmented_csr(graph, fac.edge[on], fac.along[on], fac.dist[on])
        d, _pred, src = dijkstra(aug, directed=True, indices=graph.n_nodes + np.arange(len(on)), limit=limit,
                                 min_only=True, return_predecessors=True)
        d = d[:graph.n_nodes]
        src = src[:graph.n_nodes]
        ok = dem.edge >= 0
        e = dem.edge[ok]
        a = dem.along[ok]
        via_u = d[graph.u[e]] + a
        via_v = np.where(graph.oneway[e], np.inf, d[graph.v[e]] + (graph.length[e] - a))
        use_v = via_v < via_u
        node = np.where(use_v, graph.v[e], graph.u[e])
        dist = np.minimum(via_u, via_v) + dem.dist[ok]
        best[ok] = dist
        s = src[node]
        nearest[ok] = np.where((s >= graph.n_nodes) & np.isfinite(dist), on[np.clip(s - graph.n_nodes, 0,
                                                                                      len(on) - 1)], -1)
        sub = PointsOnNet(fac.x[on], fac.y[on], fac.edge[on], fac.along[on], fac.dist[on])
        _same_edge(graph, sub, dem, best, on, nearest)
    # straight line × detour: demand points off the network, and facilities off the network
    off_dem = dem.edge < 0 if graph is not None else np.ones(n_dem, dtype=bool)
    if np.any(off_dem):
        tree = cKDTree(np.column_stack([fac.x, fac.y]))
        dd, ii = tree.query(np.column_stack([dem.x[off_dem], dem.y[off_dem]]))
        best[off_dem] = dd * detour
        nearest[off_dem] = ii
        method[off_dem] = "euclidean"
    off_fac = np.flatnonzero(fac.edge < 0) if graph is not None else np.empty(0, dtype=np.int64)
    if len(off_fac):
        tree = cKDTree(np.column_stack([fac.x[off_fac], fac.y[off_fac]]))
        dd, ii = tree.query(np.column_stack([dem.x, dem.y]))
        dd = dd * detour
        better = dd < best
        best[better] = dd[better]
        nearest[better] = off_fac[ii[better]]
        method[better] = "euclidean"
    far = best > limit
    best[far] = np.inf
    nearest[far] = -1
    # nothing within reach: say how the point was measured (on the network unless it lies off it)
    method[far] = np.where(off_dem[far], "euclidean", "network")
    return best, nearest, method


def coverage_matrix(graph: StreetGraph, cand: PointsOnNet, dem: PointsOnNet, budget: float) -> csr_matrix:
    """Boolean ``(candidates × demand)`` matrix: demand point ``j`` within ``budget`` of candidate ``i``."""
    rows, cols = [], []
    on = np.flatnonzero(cand.edge >= 0)
    if len(on) == 0 or len(dem.x) == 0:
        return csr_matrix((len(cand.x), len(dem.x)), dtype=bool)
    from gis import _iso_kernels as kern
    from gis.isochrones import start_costs

    indptr, indices, data = graph.csr.indptr, graph.csr.indices, graph.csr.data
    dist = np.full(graph.n_nodes, np.inf)
    for c in on.tolist():
        starts, costs = start_costs(graph, int(cand.edge[c]), float(cand.along[c]), float(cand.dist[c]))
        touched = kern.dijkstra_limited(indptr, indices, data, starts, costs, float(budget), dist)
        d = _to_points(graph, dist, dem)
        one = PointsOnNet(cand.x[[c]], cand.y[[c]], cand.edge[[c]], cand.along[[c]], cand.dist[[c]])
        _same_edge(graph, one, dem, d)
        dist[touched] = np.inf
        hit = np.flatnonzero(d <= budget)
        rows.append(np.full(len(hit), c))
        cols.append(hit)
    r = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    cc = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
    return csr_matrix((np.ones(len(r), dtype=bool), (r, cc)), shape=(len(cand.x), len(dem.x)))


@dataclass
class Pick:
    """One suggested site: candidate position, the weight (households) and points it adds."""

    candidate: int
    added_weight: float
    added_points: np.ndarray
    added_secondary: float = 0.0


def greedy_max_cover(cover: csr_matrix, weight, k: int, *, secondary=None) -> list[Pick]:
    """Pick up to ``k`` candidates, each adding the most still-uncovered ``weight`` (stops at zero gain)."""
    if k < 1 or k > 100:
        raise InvalidInput("建议数须在 1–100 之间 (k must be within 1–100)")
    weight = np.asarray(weight, dtype=float)
    secondary = np.zeros_like(weight) if secondary is None else np.asarray(secondary, dtype=float)
    cover = csr_matrix(cover, dtype=np.float64)
    remaining = weight.copy()
    picks: list[Pick] = []
    taken = np.zeros(cover.shape[0], dtype=bool)
    for _ in range(k):
        gain = cover @ remaining
        gain[taken] = -1
        best = int(np.argmax(gain)) if len(gain) else -1
        if best < 0 or gain[best] <= 0:
            break
        pts = cover.indices[cover.indptr[best]:cover.indptr[best + 1]]
        pts = pts[remaining[pts] > 0]
        picks.append(Pick(best, float(gain[best]), pts, float(secondary[pts].sum())))
        remaining[pts] = 0
        taken[best] = True
    return picks
