"""Street networks in memory: stable node ids, a compact CSR graph, nearest-point-on-edge snapping.

A network arrives as LineStrings (one per edge). Endpoints are snapped to **stable integer node ids** by
rounding their WGS84 coordinates to 1e-6° (about 0.1 m): ``node_id = (round((lon+180)·1e6) << 28) |
round((lat+90)·1e6)``. The id therefore encodes the node's position (``decode_node_ids``), is the same in
every import of the same data, and two lines whose ends meet within the rounding share a node.

For computation the graph lives in a metric CRS (EPSG:4543 around Jinchang, else the UTM zone of the data) as
a ``scipy.sparse`` CSR matrix of edge lengths in metres (the shortest of parallel edges wins; one-way edges
appear in one direction only), plus flat NumPy arrays of edge endpoints, lengths and geometries. Nothing
here touches a database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import Transformer
from scipy.sparse import csr_matrix

from gis.errors import InvalidInput

_SCALE = 1_000_000
_LAT_BITS = 28
_MIN_LEN = 1e-3  # metres; a zero-length edge would vanish from a sparse matrix


def node_ids_from_lonlat(lon, lat) -> np.ndarray:
    """Stable int64 node ids of WGS84 coordinates rounded to 1e-6°."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if np.any(~np.isfinite(lon)) or np.any(np.abs(lon) > 180) or np.any(np.abs(lat) > 90):
        raise InvalidInput("坐标超出范围 (coordinates out of range)")
    x = np.rint((lon + 180.0) * _SCALE).astype(np.int64)
    y = np.rint((lat + 90.0) * _SCALE).astype(np.int64)
    return (x << _LAT_BITS) | y


def decode_node_ids(ids) -> tuple[np.ndarray, np.ndarray]:
    """``(lon, lat)`` of node ids made by :func:`node_ids_from_lonlat`."""
    ids = np.asarray(ids, dtype=np.int64)
    lon = (ids >> _LAT_BITS).astype(np.float64) / _SCALE - 180.0
    lat = (ids & ((1 << _LAT_BITS) - 1)).astype(np.float64) / _SCALE - 90.0
    return lon, lat


def metric_crs_for(lon: float, lat: float) -> str:
    """A metric CRS for work around ``(lon, lat)``: EPSG:4543 (CGCS2000 GK CM 102°E) for 100.5–103.5°E
    in China, else the WGS84 UTM zone."""
    if 100.5 <= lon <= 103.5 and 20 <= lat <= 54:
        return "EPSG:4543"
    zone = int(np.floor((lon + 180.0) / 6.0)) + 1
    zone = min(max(zone, 1), 60)
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def transform_geoms(geoms, src: str, dst: str):
    """Reproject an array of shapely geometries (vectorised through pyproj)."""
    if src == dst:
        return geoms
    tr = transformer(src, dst)

    def fn(xy):
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


_TRANSFORMERS = threading.local()


def transformer(src: str, dst: str) -> Transformer:
    """A lon/lat-ordered pyproj transformer from ``src`` to ``dst``, made once per thread (making one costs
    tens to hundreds of milliseconds, and pyproj objects must not be shared between threads)."""
    cache = _TRANSFORMERS.__dict__.setdefault("by_pair", {})
    key = (src, dst)
    if key not in cache:
        cache[key] = Transformer.from_crs(src, dst, always_xy=True)
    return cache[key]


def transform_xy(x, y, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Reproject coordinate arrays."""
    if src == dst:
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    tr = transformer(src, dst)
    x2, y2 = tr.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(x2, dtype=float), np.asarray(y2, dtype=float)


def endpoint_node_ids(lines_4326) -> tuple[np.ndarray, np.ndarray]:
    """Stable node ids of the first and last point of each WGS84 LineString."""
    first = shapely.get_coordinates(shapely.get_point(lines_4326, 0))
    last = shapely.get_coordinates(shapely.get_point(lines_4326, -1))
    return node_ids_from_lonlat(first[:, 0], first[:, 1]), node_ids_from_lonlat(last[:, 0], last[:, 1])


@dataclass
class StreetGraph:
    """A street network ready for shortest paths, in a metric CRS.

    ``u``/``v`` are node *indices* (0..n-1) into ``node_ids``; edge ``i`` runs from ``u[i]`` to ``v[i]``
    along ``geoms[i]`` (metric CRS) and may be walked backwards unless ``oneway[i]``.
    """

    network: str
    crs: str
    node_ids: np.ndarray
    node_xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    oneway: np.ndarray
    geoms: np.ndarray
    edge_ids: np.ndarray
    csr: csr_matrix = field(repr=False)
    version: str | None = None
    _tree: shapely.STRtree | None = field(default=None, repr=False)
    _incidence: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _flat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __getstate__(self) -> dict:
        # the STRtree does not pickle; it is rebuilt on first use (e.g. on a dask worker)
        state = dict(self.__dict__)
        state["_tree"] = None
        return state

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return len(self.u)

    @property
    def tree(self) -> shapely.STRtree:
        """An STRtree on the edge geometries (built on first use)."""
        if self._tree is None:
            self._tree = shapely.STRtree(self.geoms)
        return self._tree

    @property
    def incidence(self) -> tuple[np.ndarray, np.ndarray]:
        """``(indptr, edges)``: the edges touching node ``i`` are ``edges[indptr[i]:indptr[i+1]]``."""
        if self._incidence is None:
            ends = np.concatenate([self.u, self.v])
            edges = np.concatenate([np.arange(self.n_edges), np.arange(self.n_edges)])
            order = np.argsort(ends, kind="stable")
            counts = np.bincount(ends, minlength=self.n_nodes)
            indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            self._incidence = (indptr, edges[order])
        return self._incidence

    @property
    def flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(coords, offsets, cum)``: every edge's vertices, the start of each edge in ``coords`` and the
        distance of each vertex along its edge, scaled so that the last vertex is at ``length[i]``."""
        if self._flat is None:
            coords, index = shapely.get_coordinates(self.geoms, return_index=True)
            counts = np.bincount(index, minlength=self.n_edges)
            offsets = np.zeros(self.n_edges + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            seg = np.zeros(len(coords))
            seg[1:] = np.hypot(*(coords[1:] - coords[:-1]).T)
            seg[offsets[:-1]] = 0.0
            cum = np.cumsum(seg)
            cum -= np.repeat(cum[offsets[:-1]], counts)
            geo_len = cum[offsets[1:] - 1]
            scale = np.divide(self.length, geo_len, out=np.ones_like(geo_len), where=geo_len > 0)
            cum *= np.repeat(scale, counts)
            self._flat = (coords, offsets, cum)
        return self._flat

    def snap(self, x, y, max_distance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest point on the network for metric points: ``(edge index or -1, distance along the edge in
        metres from its ``u`` end, snapping distance)``; ``-1`` where no edge lies within ``max_distance``."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        y = np.atleast_1d(np.asarray(y, dtype=float))
        pts = shapely.points(x, y)
        edge = np.full(len(pts), -1, dtype=np.int64)
        along = np.zeros(len(pts))
        dist = np.full(len(pts), np.inf)
        if self.n_edges == 0 or len(pts) == 0:
            return edge, along, dist
        (pi, ei), d = self.tree.query_nearest(pts, max_distance=max_distance, return_distance=True,
                                              all_matches=False)
        edge[pi] = ei
        dist[pi] = d
        frac = shapely.line_locate_point(self.geoms[ei], pts[pi], normalized=True)
        along[pi] = frac * self.length[ei]
        return edge, along, dist


def build_graph(network: str, crs: str, geoms_metric, u_ids, v_ids, length=None, oneway=None,
                edge_ids=None, version: str | None = None) -> StreetGraph:
    """A :class:`StreetGraph` from metric LineStrings and their endpoint node ids (any int64 labels)."""
    geoms_metric = np.asarray(geoms_metric, dtype=object)
    m = len(geoms_metric)
    u_ids = np.asarray(u_ids, dtype=np.int64)
    v_ids = np.asarray(v_ids, dtype=np.int64)
    if len(u_ids) != m or len(v_ids) != m:
        raise InvalidInput("边与端点数量不一致 (edges and endpoints differ in number)")
    length = shapely.length(geoms_metric) if length is None else np.asarray(length, dtype=np.float64)
    length = np.maximum(length, _MIN_LEN)
    oneway = np.zeros(m, dtype=bool) if oneway is None else np.asarray(oneway, dtype=bool)
    edge_ids = np.arange(m, dtype=np.int64) if edge_ids is None else np.asarray(edge_ids, dtype=np.int64)
    node_ids, inv = np.unique(np.concatenate([u_ids, v_ids]), return_inverse=True)
    u = inv[:m].astype(np.int64)
    v = inv[m:].astype(np.int64)
    n = len(node_ids)
    # node coordinates from the geometry endpoints (first occurrence)
    node_xy = np.zeros((n, 2))
    if m:
        first = shapely.get_coordinates(shapely.get_point(geoms_metric, 0))
        last = shapely.get_coordinates(shapely.get_point(geoms_metric, -1))
        node_xy[v] = last
        node_xy[u] = first
    csr = _csr(n, u, v, length, oneway)
    return StreetGraph(network, crs, node_ids, node_xy, u, v, length, oneway, geoms_metric, edge_ids, csr,
                       version)


def _csr(n: int, u, v, length, oneway) -> csr_matrix:
    two = ~oneway
    rows = np.concatenate([u, v[two]])
    cols = np.concatenate([v, u[two]])
    w = np.concatenate([length, length[two]])
    keep = rows != cols  # self-loops never shorten a path
    rows, cols, w = rows[keep], cols[keep], w[keep]
    # parallel edges: keep the shortest (a sparse matrix would sum duplicates)
    order = np.lexsort((w, cols, rows))
    rows, cols, w = rows[order], cols[order], w[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return csr_matrix((w[first], (rows[first], cols[first])), shape=(n, n))


def graph_from_lonlat_lines(network: str, lines_4326, length=None, oneway=None, edge_ids=None,
                            u_ids=None, v_ids=None, crs: str | None = None,
                            version: str | None = None) -> StreetGraph:
    """A :class:`StreetGraph` from WGS84 LineStrings; node ids from the rounded endpoints unless given."""
    lines_4326 = np.asarray(lines_4326, dtype=object)
    if u_ids is None or v_ids is None:
        u_ids, v_ids = endpoint_node_ids(lines_4326)
    if crs is None:
        if len(lines_4326):
            b = shapely.total_bounds(lines_4326)
            crs = metric_crs_for((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
        else:
            crs = "EPSG:3857"
    metric = transform_geoms(lines_4326, "EPSG:4326", crs)
    return build_graph(network, crs, metric, u_ids, v_ids, length, oneway, edge_ids, version)


def augmented_csr(graph: StreetGraph, edge, along, extra=None) -> csr_matrix:
    """The graph plus one virtual start node per point (rows ``n .. n+k-1``), placed ``along[i]`` metres
    from ``u`` on ``edge[i]`` and ``extra[i]`` metres away from it (the walk to the street). Virtual nodes
    have no incoming edges, so they never shorten each other's paths."""
    n = graph.n_nodes
    edge = np.asarray(edge, dtype=np.int64)
    k = len(edge)
    along = np.asarray(along, dtype=float)
    extra = np.zeros(k) if extra is None else np.asarray(extra, dtype=float)
    length = graph.length[edge]
    fwd_cost = np.maximum(length - along, 0.0) + extra + _MIN_LEN
    back_cost = np.maximum(along, 0.0) + extra + _MIN_LEN
    back = ~graph.oneway[edge]
    rows_n = 1 + back.astype(np.int64)
    cols = np.empty(int(rows_n.sum()), dtype=np.int64)
    data = np.empty(len(cols))
    pos = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(rows_n, out=pos[1:])
    cols[pos[:-1]] = graph.v[edge]
    data[pos[:-1]] = fwd_cost
    bi = pos[:-1][back] + 1
    cols[bi] = graph.u[edge][back]
    data[bi] = back_cost[back]
    base = graph.csr
    indptr = np.concatenate([base.indptr, base.indptr[-1] + pos[1:]])
    return csr_matrix((np.concatenate([base.data, data]), np.concatenate([base.indices, cols]), indptr),
                      shape=(n + k, n + k))


def point_dijkstra(graph: StreetGraph, edge, along, extra=None, limit: float = np.inf) -> np.ndarray:
    """Network distances (metres) from points on edges to every node, ``(k, n)``; ``inf`` beyond ``limit``."""
    from scipy.sparse.csgraph import dijkstra

    edge = np.asarray(edge, dtype=np.int64)
    if len(edge) == 0:
        return np.zeros((0, graph.n_nodes))
    aug = augmented_csr(graph, edge, along, extra)
    d = dijkstra(aug, directed=True, indices=np.arange(graph.n_nodes, graph.n_nodes + len(edge)),
                 limit=limit)
    return np.atleast_2d(d)[:, :graph.n_nodes]


def distances_to_points(graph: StreetGraph, d_nodes: np.ndarray, origin_edge: int, origin_along: float,
                        origin_extra: float, edge, along, extra) -> np.ndarray:
    """Distances from one snapped origin (its node distances ``d_nodes``) to snapped targets; ``inf`` where
    unreachable or where a target was not snapped (``edge == -1``)."""
    edge = np.asarray(edge, dtype=np.int64)
    along = np.asarray(along, dtype=float)
    extra = np.asarray(extra, dtype=float)
    out = np.full(len(edge), np.inf)
    ok = edge >= 0
    e = edge[ok]
    a = along[ok]
    via_u = d_nodes[graph.u[e]] + a  # arrive at u, walk u -> point (forward direction)
    via_v = np.where(graph.oneway[e], np.inf, d_nodes[graph.v[e]] + (graph.length[e] - a))
    best = np.minimum(via_u, via_v)
    same = e == origin_edge
    if origin_edge >= 0 and np.any(same):
        delta = a[same] - origin_along
        direct = np.where((delta >= 0) | ~graph.oneway[origin_edge], np.abs(delta) + origin_extra, np.inf)
        best[same] = np.minimum(best[same], direct)
    out[ok] = best + extra[ok]
    return out
