"""Point → grid: an in-memory locator with the assignment rules of an incident, vectorised and compiled.

Rules, in order of precedence (the first that applies decides, and says so in ``method``):

1. ``exclusive_grid`` — an exclusive grid (专属网格) covers the point;
2. ``street_responsibility`` — the point is within the buffer of a street segment under 包街 responsibility
   (the nearest such segment; the grid that covers the point is still reported);
3. ``grid`` — a comprehensive grid covers the point. *Covers*: a point on a border (within the tolerance,
   0.5 m by default) is covered by the grids on both sides; the lowest grid code wins and the tie is reported
   (``on_boundary``, ``n_tied``);
4. ``community`` — no grid covers the point, but a community/village polygon does (属地兜底);
5. ``nearest_grid`` — the nearest grid within ``nearest_m`` (200 m by default), flagged for review;
6. ``unassigned`` — none of these, with the reason.

Point-in-polygon runs in planar lon/lat exactly like PostGIS and shapely (so answers agree with them away from
borders); distances are metres. Holes, multipolygons and points on vertices are handled by the even-odd rule
of the compiled kernel (:mod:`gis._locate_kernels`); an invalid (self-intersecting) polygon is read with the
even-odd rule too, and an empty or missing one never matches.

``Locator.assign`` takes arrays and returns arrays, so a caller may cut millions of points into chunks
(Dask partitions, CLI batches) and get the same answers.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from gis.domain import LabelledEnum

if TYPE_CHECKING:  # pyproj is imported only when a metric distance is needed (nearest grid, candidates)
    from gis.plan_validation import Projector

DEFAULT_TOLERANCE_M = 0.5
DEFAULT_NEAREST_M = 200.0
DEFAULT_STREET_BUFFER_M = 20.0
CELLS_PER_EDGE = 4.0
# a locator kept for many queries (a plan's, see layers.plan_locator) asks for at least this many cells: a plan of
# a few hundred grids has a few thousand edges, and 4 cells per edge would leave ~90 % of points in cells with ~8
# edges each (the Jinchang demo: 1M points 0.17 → 0.11 s); 2^18 cells cost ~10 MB and ~25 ms to build, which a
# one-off locator for 100,000 points does not win back
MIN_CELLS = 1 << 18
MAX_CELLS = 4_000_000
# points are queried in bands of raster rows of about this many cells, so that consecutive points touch cells whose
# edges and reference sets are still in the CPU cache (random points in input order: 3× slower)
BAND_CELLS = 4096

# numba's default thread pool must not be entered by two threads at once (the API serves in a thread pool).
_PARALLEL_LOCK = threading.RLock()


class Kernels:
    """The compiled functions of :mod:`gis._locate_kernels`, from numba (compiled on first use and cached, run on
    every core) or from the module compiled ahead of time (:mod:`gis.locate_aot`: no numba in the process, one
    thread), and the two small helpers built on them."""

    def __init__(self, module, *, ahead_of_time: bool) -> None:
        self.module = module
        self.ahead_of_time = ahead_of_time
        self.MAXSET = int(module.maxset())

    def __getattr__(self, name: str):
        return getattr(self.module, name)

    def bucket_edges(self, x0, y0, x1, y1, owner, padx, pady, ox, oy, cw, ch, nx, ny) -> tuple[np.ndarray, ...]:
        """CSR lists (``start``, ``cell_edges``) of the edges touching each cell, each list in ascending edge
        order, then the listed edges' coordinates and owner in list order."""
        parts = self.threads()
        start = np.zeros(nx * ny + 1, np.int64)
        dummy = np.zeros(1, np.int32)
        with _PARALLEL_LOCK:
            self.module.bucket(x0, y0, x1, y1, padx, pady, ox, oy, cw, ch, nx, ny, parts, start, dummy, False)
            np.cumsum(start, out=start)
            out = np.empty(int(start[-1]), np.int32)
            self.module.bucket(x0, y0, x1, y1, padx, pady, ox, oy, cw, ch, nx, ny, parts, start[:-1].copy(), out,
                               True)
            return (start, out, *self.module.in_cell_order(out, x0, y0, x1, y1, owner))

    def threads(self) -> int:
        """Threads the parallel kernels run on (one in the module compiled ahead of time)."""
        if self.ahead_of_time:
            return 1
        import numba

        return int(numba.get_num_threads())


_KERNELS: Kernels | None = None
_AHEAD_OF_TIME = False


def use_ahead_of_time_kernels() -> None:
    """Prefer the kernels compiled ahead of time in this process (a command that locates one batch and exits: no
    numba start-up, one thread); numba is used as before when they have not been built for the current source."""
    global _AHEAD_OF_TIME, _KERNELS
    _AHEAD_OF_TIME = True
    if _KERNELS is not None and not _KERNELS.ahead_of_time:
        _KERNELS = None


def kernels() -> Kernels:
    """The kernels this process uses (see :func:`use_ahead_of_time_kernels`), loaded on first use."""
    global _KERNELS
    if _KERNELS is None:
        module = None
        if _AHEAD_OF_TIME:
            from gis import locate_aot

            module = locate_aot.load()
        if module is not None:
            _KERNELS = Kernels(module, ahead_of_time=True)
        else:
            from gis import _locate_kernels

            _KERNELS = Kernels(_locate_kernels, ahead_of_time=False)
    return _KERNELS


class AssignMethod(LabelledEnum):
    """Which rule decided an assignment (in order of precedence)."""

    UNASSIGNED = ("unassigned", "未分配")
    EXCLUSIVE_GRID = ("exclusive_grid", "专属网格")
    STREET_RESPONSIBILITY = ("street_responsibility", "包街责任路段")
    GRID = ("grid", "综合网格")
    COMMUNITY = ("community", "社区属地兜底")
    NEAREST_GRID = ("nearest_grid", "最近网格（待核）")


METHODS: list[AssignMethod] = list(AssignMethod)
"""``METHODS[code]`` is the method of an integer ``method`` code returned by :meth:`Locator.assign`."""
M_UNASSIGNED, M_EXCLUSIVE, M_STREET, M_GRID, M_COMMUNITY, M_NEAREST = range(6)


def method_reason(method: AssignMethod, *, on_boundary: bool = False, distance_m: float | None = None,
                  buffer_m: float | None = None, nearest_m: float = DEFAULT_NEAREST_M,
                  tolerance_m: float = DEFAULT_TOLERANCE_M) -> str:
    """The reason of an assignment, Chinese first with English."""
    if method is AssignMethod.EXCLUSIVE_GRID:
        return "位于专属网格内，专属网格优先于综合网格 (inside an exclusive grid, which takes precedence)"
    if method is AssignMethod.STREET_RESPONSIBILITY:
        return (f"距包街责任路段 {distance_m:.1f} 米，在其 {buffer_m:g} 米责任范围内 (within the {buffer_m:g} m "
                "buffer of a street segment under 包街 responsibility)")
    if method is AssignMethod.GRID:
        if on_boundary:
            return (f"位于网格共用边界上（容差 {tolerance_m:g} 米），按网格编码取最小者 (on a shared border within "
                    f"{tolerance_m:g} m; the lowest grid code wins)")
        return "位于综合网格内 (inside a comprehensive grid)"
    if method is AssignMethod.COMMUNITY:
        return "不在任何网格内，但在社区/村范围内，由社区属地兜底 (in no grid but inside a community, which takes it)"
    if method is AssignMethod.NEAREST_GRID:
        return (f"不在任何网格或社区内，取 {distance_m:.0f} 米外的最近网格，已标记待核 (in no grid or community; "
                f"the nearest grid is {distance_m:.0f} m away; flagged for review)")
    return (f"不在任何网格或社区内，{nearest_m:g} 米内也没有网格 (outside every grid and community, and no grid "
            f"within {nearest_m:g} m)")


# --------------------------------------------------------------------------------------------- edge rasters
def _polygon_edges(geoms: np.ndarray) -> tuple[np.ndarray, ...]:
    """Edges (x0, y0, x1, y1, owner index) of every ring of every polygon (exteriors and holes alike)."""
    geoms = np.asarray(geoms, dtype=object)
    ok = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms))) if geoms.size else np.zeros(0, int)
    if not ok.size:
        return (np.zeros(0),) * 4 + (np.zeros(0, np.int32),)
    rings = _ring_structure(geoms[ok])
    if rings is not None:  # polygons and multipolygons: the rings' sizes from WKB, no geometry copied
        ring_len, ring_geom = rings
        ring_start = np.zeros(ring_len.size + 1, np.int64)
        np.cumsum(ring_len, out=ring_start[1:])
        xy = shapely.get_coordinates(geoms[ok])  # in WKB's order: parts, then exterior and holes
        if ring_start[-1] == len(xy):
            with _PARALLEL_LOCK:
                return kernels().ring_edges(xy, ring_start, ok[ring_geom])
    parts, owner = shapely.get_parts(geoms[ok], return_index=True)
    polys = shapely.get_type_id(parts) == 3
    parts, owner = parts[polys], ok[owner[polys]]
    rings, ridx = shapely.get_rings(parts, return_index=True)
    return _chain_edges(rings, owner[ridx])


def _ring_structure(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(number of coordinates, geometry) of every ring of non-empty polygons and multipolygons, read from their
    2D WKB (writing it copies no geometry, unlike ``get_parts``/``get_rings``); ``None`` for other types."""
    types = shapely.get_type_id(geoms)
    if not np.all((types == 3) | (types == 6)):
        return None
    wkb = shapely.to_wkb(geoms, output_dimension=2, byte_order=1, include_srid=False)
    geom_start = np.zeros(wkb.size + 1, np.int64)
    np.cumsum(np.fromiter(map(len, wkb), np.int64, wkb.size), out=geom_start[1:])
    buf = np.frombuffer(bytearray(b"".join(wkb)), np.uint8)  # writable, as the kernels compiled ahead of time take it
    compiled = kernels()
    n = compiled.wkb_rings(buf, geom_start, np.zeros(0, np.int64), np.zeros(0, np.int64))
    if n < 0:
        return None
    ring_len = np.empty(n, np.int64)
    ring_geom = np.empty(n, np.int64)
    compiled.wkb_rings(buf, geom_start, ring_len, ring_geom)
    return ring_len, ring_geom


def _chain_edges(chains: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, ...]:
    xy, cidx = shapely.get_coordinates(chains, return_index=True)
    return _edges_of_chains(xy, cidx, owner)


def _edges_of_chains(xy: np.ndarray, cidx: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, ...]:
    """Edges between consecutive coordinates ``xy`` of the same chain (``cidx``: chain of each coordinate; owner of
    each chain), zero-length ones dropped."""
    same = cidx[1:] == cidx[:-1]
    x0, y0 = xy[:-1, 0][same], xy[:-1, 1][same]
    x1, y1 = xy[1:, 0][same], xy[1:, 1][same]
    own = owner[cidx[:-1][same]].astype(np.int32)
    keep = (x0 != x1) | (y0 != y1)
    return (np.ascontiguousarray(x0[keep]), np.ascontiguousarray(y0[keep]), np.ascontiguousarray(x1[keep]),
            np.ascontiguousarray(y1[keep]), np.ascontiguousarray(own[keep]))


def _max_abs_lat(y0: np.ndarray, y1: np.ndarray) -> float:
    return float(min(89.0, max(np.abs(y0).max(), np.abs(y1).max()))) if y0.size else 0.0


@dataclass
class _Raster:
    """Edges bucketed into a uniform raster of cells (see :mod:`gis._locate_kernels`): ``x0`` … ``owner`` are in
    cell order (position ``q`` of ``cell_edges``), so each cell's edges lie together in memory."""

    ox: float
    oy: float
    cw: float
    ch: float
    nx: int
    ny: int
    start: np.ndarray
    cell_edges: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    owner: np.ndarray

    @classmethod
    def build(cls, x0, y0, x1, y1, owner, pad_m: np.ndarray, *, cells_per_edge: float, max_cells: int,
              min_cells: int = 1) -> _Raster:
        lat = _max_abs_lat(y0, y1)
        compiled = kernels()
        kx, ky = compiled.metres_per_degree(lat)
        _, ky0 = compiled.metres_per_degree(0.0)
        padx = np.ascontiguousarray(pad_m / kx * 1.01)
        pady = np.ascontiguousarray(pad_m / min(ky, ky0) * 1.01)
        if x0.size:
            pmx, pmy = float(padx.max()), float(pady.max())
            xmin = float(min(x0.min(), x1.min())) - 2 * pmx - 1e-9
            ymin = float(min(y0.min(), y1.min())) - 2 * pmy - 1e-9
            w = float(max(x0.max(), x1.max())) + 2 * pmx + 1e-9 - xmin
            h = float(max(y0.max(), y1.max())) + 2 * pmy + 1e-9 - ymin
            ncells = float(np.clip(max(cells_per_edge * x0.size, min_cells), 1, max_cells))
            cw = float(np.sqrt(w * h / ncells))
            nx, ny = max(1, int(np.ceil(w / cw))), max(1, int(np.ceil(h / cw)))
        else:
            xmin, ymin, cw, nx, ny = 0.0, 0.0, 1.0, 1, 1
        listed = compiled.bucket_edges(x0, y0, x1, y1, np.ascontiguousarray(owner, dtype=np.int32), padx, pady,
                                       xmin, ymin, cw, cw, nx, ny)
        return cls(xmin, ymin, cw, cw, nx, ny, *listed)

    def in_cell_order(self, per_edge: np.ndarray) -> np.ndarray:
        """A per-edge array (in the order the edges were given) rearranged like the raster's coordinates."""
        return np.ascontiguousarray(per_edge[self.cell_edges])

    def args(self) -> tuple:
        return (self.nx, self.ny, self.ox, self.oy, self.cw, self.ch, self.start, self.cell_edges,
                self.x0, self.y0, self.x1, self.y1, self.owner)


def band_order(r: _Raster, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(``perm``, x, y): the points in bands of about :data:`BAND_CELLS` cells of ``r``'s rows, in which the
    kernels query them (see :func:`gis._locate_kernels.band_order`)."""
    with _PARALLEL_LOCK:
        return kernels().band_order(lon, lat, r.oy, r.ch, r.ny, max(1, BAND_CELLS // r.nx))


def _reference_sets(r: _Raster) -> tuple[np.ndarray, ...]:
    """(``ref_start``, ``ref_ids``, ``refx``, ``refy``): each cell's reference point and the polygons covering it,
    as CSR lists. One sweep of every row finds the points, the set sizes and each set's first polygon; only rows
    with a set of two or more (overlapping polygons) are swept again to list them."""
    ncell = r.nx * r.ny
    ref_start = np.zeros(ncell + 1, np.int64)
    refx = np.zeros(ncell)
    refy = np.zeros(ncell)
    first = np.empty(ncell, np.int32)
    dummy = np.zeros(1, np.int32)
    compiled = kernels()
    with _PARALLEL_LOCK:  # a parallel kernel: one thread at a time in numba's pool, as everywhere else here
        compiled.build_reference_sets(*r.args(), np.arange(r.ny, dtype=np.int64), True, ref_start, dummy, refx, refy,
                                      first)
    sizes = ref_start[1:].copy()
    np.cumsum(ref_start, out=ref_start)
    ref_ids = np.empty(int(ref_start[-1]), np.int32)
    single = sizes == 1
    ref_ids[ref_start[:-1][single]] = first[single]
    multi_rows = np.flatnonzero((sizes > 1).reshape(r.ny, r.nx).any(axis=1)).astype(np.int64)
    if multi_rows.size:
        with _PARALLEL_LOCK:
            compiled.build_reference_sets(*r.args(), multi_rows, False, ref_start, ref_ids, refx, refy, first)
    return ref_start, ref_ids, refx, refy


class PolygonIndex:
    """Polygons (grids or communities) for *covers* queries with a boundary tolerance.

    Parameters
    ----------
    geoms
        WGS84 (Multi)Polygons; missing or empty ones never match.
    rank
        Order of preference on ties (lower wins): exclusive grids first, then by code.
    kind
        A small integer per polygon; ties are counted among polygons of the winner's kind.
    tolerance_m
        A point this close to a polygon's boundary is covered by it.
    """

    def __init__(self, geoms, *, rank=None, kind=None, tolerance_m: float = DEFAULT_TOLERANCE_M,
                 cells_per_edge: float = CELLS_PER_EDGE, max_cells: int = MAX_CELLS,
                 min_cells: int = 1) -> None:
        geoms = np.asarray(geoms, dtype=object)
        n = geoms.size
        self.size = n
        self.tolerance_m = float(tolerance_m)
        self.rank = np.ascontiguousarray(np.arange(n) if rank is None else rank, dtype=np.int64)
        self.kind = np.ascontiguousarray(np.zeros(n) if kind is None else kind, dtype=np.int8)
        x0, y0, x1, y1, owner = _polygon_edges(geoms)
        pad = np.full(x0.size, self.tolerance_m)
        self.raster = r = _Raster.build(x0, y0, x1, y1, owner, pad, cells_per_edge=cells_per_edge,
                                        max_cells=max_cells, min_cells=min_cells)
        self.ref_start, self.ref_ids, self.refx, self.refy = _reference_sets(r)
        compiled = kernels()
        self.cell_best = compiled.cell_best_of(self.ref_start, self.ref_ids, self.rank)
        self.direct = compiled.direct_of(r.start, self.ref_start, self.cell_best)
        self.kxr, self.kyr = compiled.row_scales(float(r.oy), float(r.ch), int(r.ny))

    def query(self, lon, lat, *, order=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(best polygon or -1, polygons of its kind covering the point, best's boundary within tolerance).
        ``order``: the points' :func:`band_order` if the caller has it already; without it, the points in cells
        that need no test are answered first, in input order, and only the others are sorted and tested
        (:func:`gis._locate_kernels.answer_direct`: the same answers)."""
        lon = np.ascontiguousarray(lon, dtype=np.float64)
        lat = np.ascontiguousarray(lat, dtype=np.float64)
        best = np.empty(lon.size, np.int32)
        ntied = np.empty(lon.size, np.int32)
        border = np.empty(lon.size, np.bool_)
        r = self.raster
        with _PARALLEL_LOCK:
            if order is None:
                order = kernels().answer_direct(lon, lat, r.ox, r.oy, r.cw, r.ch, r.nx, r.ny,
                                                max(1, BAND_CELLS // r.nx), self.direct, best, ntied, border)
            perm, xs, ys = order
            kernels().assign_polygons(perm, xs, ys, self.tolerance_m, *r.args(), self.ref_start, self.ref_ids,
                                      self.refx, self.refy, self.kxr, self.kyr, self.cell_best, self.rank, self.kind,
                                      best, ntied, border)
        return best, ntied, border

    def cover(self, lon: float, lat: float) -> tuple[np.ndarray, np.ndarray]:
        """Every polygon covering one point (sorted by rank) and whether its boundary is within tolerance."""
        compiled = kernels()
        buf = np.empty(compiled.MAXSET, np.int32)
        near = np.zeros(compiled.MAXSET, np.int8)
        n, _ = compiled.cover_set(float(lon), float(lat), self.tolerance_m, *self.raster.args(), self.ref_start,
                           self.ref_ids, self.refx, self.refy, self.kxr, self.kyr, buf, near)
        ids, flags = buf[:n].copy(), near[:n].astype(bool)
        order = np.argsort(self.rank[ids], kind="stable")
        return ids[order], flags[order]


class LineIndex:
    """Lines with a buffer each (包街 segments): the nearest line whose buffer holds the point."""

    def __init__(self, geoms, buffers_m, *, cells_per_edge: float = CELLS_PER_EDGE,
                 max_cells: int = MAX_CELLS, min_cells: int = 1) -> None:
        geoms = np.asarray(geoms, dtype=object)
        self.size = geoms.size
        self.buffers_m = np.asarray(buffers_m, dtype=np.float64)
        ok = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms))) if geoms.size else []
        if len(ok):
            parts, owner = shapely.get_parts(geoms[ok], return_index=True)
            x0, y0, x1, y1, own = _chain_edges(parts, np.asarray(ok)[owner])
        else:
            x0 = y0 = x1 = y1 = np.zeros(0)
            own = np.zeros(0, np.int32)
        ebuf = np.ascontiguousarray(self.buffers_m[own] if own.size else np.zeros(0))
        self.raster = _Raster.build(x0, y0, x1, y1, own, ebuf, cells_per_edge=cells_per_edge,
                                    max_cells=max_cells, min_cells=min_cells)
        self.ebuf = self.raster.in_cell_order(ebuf)

    def query(self, lon, lat, *, order=None) -> tuple[np.ndarray, np.ndarray]:
        """(line index or -1, distance in metres or NaN) for every point. ``order``: the points in an order
        that keeps neighbours together (:func:`band_order` of any raster over them), if the caller has one."""
        lon = np.ascontiguousarray(lon, dtype=np.float64)
        lat = np.ascontiguousarray(lat, dtype=np.float64)
        line = np.empty(lon.size, np.int32)
        dist = np.empty(lon.size)
        if self.size:
            with _PARALLEL_LOCK:
                perm, xs, ys = order or band_order(self.raster, lon, lat)
                kernels().nearest_line(perm, xs, ys, *self.raster.args(), self.ebuf, line, dist)
        else:
            line[:] = -1
            dist[:] = np.nan
        return line, dist

    def query_one(self, lon: float, lat: float) -> tuple[int, float]:
        """:meth:`query` for one point, on the calling thread and without the parallel lock: (line or -1,
        distance in metres or NaN)."""
        if not self.size:
            return -1, math.nan
        line, dist = kernels().nearest_line_one(float(lon), float(lat), *self.raster.args(), self.ebuf)
        return int(line), float(dist)


# ------------------------------------------------------------------------------------------------ locator
@dataclass
class Assignment:
    """Answers for an array of points (one row per point; indexes into the locator's arrays, -1 for none)."""

    grid: np.ndarray
    method: np.ndarray
    on_boundary: np.ndarray
    n_tied: np.ndarray
    distance_m: np.ndarray
    street: np.ndarray
    community: np.ndarray

    def methods(self) -> list[str]:
        """Method names of every point."""
        names = np.asarray([m.value for m in METHODS], dtype=object)
        return list(names[self.method])


class Locator:
    """Grids (with kinds and codes), communities and 包街 segments, ready to assign points.

    Parameters
    ----------
    grid_codes, grid_kinds, grid_geoms
        One row per grid; kinds are ``"exclusive"`` or ``"comprehensive"``; WGS84 geometries.
    community_codes, community_geoms
        Communities/villages with a known polygon, for the 属地兜底 rule.
    street_geoms, street_buffers_m
        包街 segments (lines) and their buffers in metres.
    tolerance_m
        Distance within which a point counts as on a border.
    nearest_m
        Largest distance of the nearest-grid fallback.
    metric_crs
        Metric CRS for the nearest-grid and candidate distances (default: EPSG:4543 near Jinchang, else UTM).
    cells_per_edge, min_cells
        Raster size of the grid and street indexes: cells per polygon edge, and at least ``min_cells`` (a locator
        kept for many queries: :data:`MIN_CELLS`).
    """

    def __init__(self, grid_codes, grid_kinds, grid_geoms, *, community_codes=(), community_geoms=(),
                 street_geoms=(), street_buffers_m=(), tolerance_m: float = DEFAULT_TOLERANCE_M,
                 nearest_m: float = DEFAULT_NEAREST_M, metric_crs: str | None = None,
                 cells_per_edge: float = CELLS_PER_EDGE, min_cells: int = 1) -> None:
        self.codes = np.asarray(list(grid_codes), dtype=object)
        kinds = np.asarray(list(grid_kinds), dtype=object)
        self.exclusive = np.ascontiguousarray(kinds == "exclusive", dtype=np.bool_)
        self.geoms = np.asarray(list(grid_geoms), dtype=object)
        self.tolerance_m = float(tolerance_m)
        self.nearest_m = float(nearest_m)
        n = self.codes.size
        order = np.lexsort((self.codes.astype(str), ~self.exclusive)) if n else np.zeros(0, int)
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n)
        self.rank = rank
        self.grids = PolygonIndex(self.geoms, rank=rank, kind=self.exclusive.astype(np.int8),
                                  tolerance_m=tolerance_m, cells_per_edge=cells_per_edge, min_cells=min_cells)
        self.community_codes = np.asarray(list(community_codes), dtype=object)
        cgeoms = np.asarray(list(community_geoms), dtype=object)
        crank = np.argsort(np.argsort(self.community_codes.astype(str))) if cgeoms.size else None
        # asked only about points outside every grid: a raster by edge count, without the minimum
        self.communities = PolygonIndex(cgeoms, rank=crank, tolerance_m=tolerance_m, cells_per_edge=cells_per_edge,
                                        min_cells=1) if cgeoms.size else None
        sgeoms = np.asarray(list(street_geoms), dtype=object)
        self.street_buffers_m = np.asarray(list(street_buffers_m), dtype=float)
        self.streets = LineIndex(sgeoms, self.street_buffers_m, cells_per_edge=cells_per_edge,
                                 min_cells=min_cells) if sgeoms.size else None
        self._metric_crs = metric_crs
        self._metric: tuple[Projector, np.ndarray, shapely.STRtree] | None = None

    # --------------------------------------------------------------------------------- metric helpers
    def _metric_tree(self) -> tuple[Projector, np.ndarray, shapely.STRtree]:
        if self._metric is None:
            from gis.plan_validation import Projector, metric_crs_for

            g = self.geoms
            ok = ~(shapely.is_missing(g) | shapely.is_empty(g)) if g.size else np.zeros(0, bool)
            proj = Projector.around(g, self._metric_crs) if ok.any() else Projector(
                self._metric_crs or metric_crs_for(102.0))
            mg = np.empty(g.size, dtype=object)
            if ok.any():
                mg[ok] = proj.forward(g[ok])
            self._metric = (proj, mg, shapely.STRtree(mg))
        return self._metric

    def _metric_points(self, lon, lat) -> np.ndarray:
        proj = self._metric_tree()[0]
        x, y = proj._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))
        return shapely.points(np.asarray(x, float), np.asarray(y, float))

    def nearest(self, lon, lat, *, max_distance_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Nearest grid (lowest rank on equal distance) within ``max_distance_m`` of each point, and the distance."""
        lon = np.atleast_1d(np.asarray(lon, float))
        lat = np.atleast_1d(np.asarray(lat, float))
        out = np.full(lon.size, -1, np.int32)
        dist = np.full(lon.size, np.nan)
        if not lon.size or not self.codes.size:
            return out, dist
        _, mg, tree = self._metric_tree()
        pts = self._metric_points(lon, lat)
        pts[~(np.isfinite(lon) & np.isfinite(lat))] = None
        (pi, gi), d = tree.query_nearest(pts, max_distance=max_distance_m or self.nearest_m, return_distance=True,
                                         all_matches=True)
        if pi.size:
            order = np.lexsort((self.rank[gi], d, pi))
            pi, gi, d = pi[order], gi[order], d[order]
            first = np.r_[True, pi[1:] != pi[:-1]]
            out[pi[first]] = gi[first]
            dist[pi[first]] = d[first]
        return out, dist

    def candidates(self, lon: float, lat: float, accuracy_m: float) -> list[tuple[int, float]]:
        """Every grid within ``accuracy_m`` of the point: (index, distance in metres), nearest first."""
        if not self.codes.size:
            return []
        _, mg, tree = self._metric_tree()
        pt = self._metric_points([lon], [lat])[0]
        idx = tree.query(pt, predicate="dwithin", distance=float(accuracy_m))
        d = np.round(shapely.distance(mg[idx], pt), 3) if idx.size else np.zeros(0)
        order = np.lexsort((self.rank[idx], d)) if idx.size else []
        return [(int(idx[i]), float(d[i])) for i in order]

    # ------------------------------------------------------------------------------------------ assign
    def assign(self, lon, lat) -> Assignment:
        """Assign every point (WGS84 lon/lat arrays); see the module docstring for the rules."""
        lon = np.ascontiguousarray(np.atleast_1d(lon), dtype=np.float64)
        lat = np.ascontiguousarray(np.atleast_1d(lat), dtype=np.float64)
        n = lon.size
        grid, n_tied, border = self.grids.query(lon, lat)
        method = np.empty(n, np.int8)
        on_boundary = np.empty(n, np.bool_)
        kernels().grid_methods(grid, n_tied, border, self.exclusive, M_UNASSIGNED, M_GRID, M_EXCLUSIVE, method,
                               on_boundary)
        if self.streets is not None:
            excl = method == M_EXCLUSIVE
            # the 包街 segments are asked about every point: in bands of the grids' raster rows
            street, distance = self.streets.query(lon, lat, order=band_order(self.grids.raster, lon, lat))
            hit = street >= 0
            hit &= ~excl  # an exclusive grid takes precedence over the street
            street[~hit] = -1
            distance[~hit] = np.nan
            method[hit] = M_STREET
        else:
            street = np.full(n, -1, np.int32)
            distance = np.full(n, np.nan)
        community = np.full(n, -1, np.int32)
        rest = np.flatnonzero(method == M_UNASSIGNED)
        rest = rest[np.isfinite(lon[rest]) & np.isfinite(lat[rest])]
        if rest.size and self.communities is not None:
            cbest, _, _ = self.communities.query(lon[rest], lat[rest])
            hit = cbest >= 0
            community[rest[hit]] = cbest[hit]
            method[rest[hit]] = M_COMMUNITY
            rest = rest[~hit]
        if rest.size and self.nearest_m > 0:
            near, d = self.nearest(lon[rest], lat[rest])
            hit = near >= 0
            grid[rest[hit]] = near[hit]
            distance[rest[hit]] = d[hit]
            method[rest[hit]] = M_NEAREST
        return Assignment(grid=grid, method=method, on_boundary=on_boundary, n_tied=n_tied, distance_m=distance,
                          street=street, community=community)

    def locate_one(self, lon: float, lat: float, *, accuracy_m: float | None = None,
                   streets: bool = True) -> dict[str, Any]:
        """One point, with the tied grids and (given ``accuracy_m``) every candidate grid; no thread pool.
        ``streets=False`` sets the 包街 segments aside (a report whose category the street's unit does not take
        falls to the grid, the community or the nearest grid as if the street were not there)."""
        lon, lat = float(lon), float(lat)
        ids, near = self.grids.cover(lon, lat)
        res: dict[str, Any] = {"grid": None, "method": AssignMethod.UNASSIGNED, "on_boundary": False,
                               "tied": [], "distance_m": None, "street": None, "community": None}
        if ids.size:
            best = int(ids[0])
            same = ids[self.exclusive[ids] == self.exclusive[best]]
            res["grid"] = best
            res["tied"] = [int(i) for i in same] if same.size > 1 else []
            res["on_boundary"] = bool(near[0]) and same.size > 1
            res["method"] = AssignMethod.EXCLUSIVE_GRID if self.exclusive[best] else AssignMethod.GRID
        if streets and res["method"] is not AssignMethod.EXCLUSIVE_GRID and self.streets is not None:
            line, d = self.streets.query_one(lon, lat)
            if line >= 0:
                res.update(method=AssignMethod.STREET_RESPONSIBILITY, street=line, distance_m=d)
        if res["grid"] is None and res["method"] is AssignMethod.UNASSIGNED:
            if self.communities is not None:
                cids, _ = self.communities.cover(lon, lat)
                if cids.size:
                    res.update(method=AssignMethod.COMMUNITY, community=int(cids[0]))
            if res["method"] is AssignMethod.UNASSIGNED and self.nearest_m > 0:
                g, d = self.nearest([lon], [lat])
                if g[0] >= 0:
                    res.update(method=AssignMethod.NEAREST_GRID, grid=int(g[0]), distance_m=float(d[0]))
        res["candidates"] = self.candidates(lon, lat, accuracy_m) if accuracy_m else None
        res["flagged"] = res["method"] in (AssignMethod.NEAREST_GRID, AssignMethod.UNASSIGNED)
        buffer_m = float(self.street_buffers_m[res["street"]]) if res["street"] is not None else None
        res["reason"] = method_reason(res["method"], on_boundary=res["on_boundary"], distance_m=res["distance_m"],
                                      buffer_m=buffer_m, nearest_m=self.nearest_m, tolerance_m=self.tolerance_m)
        return res
