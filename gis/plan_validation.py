"""Validate a grid plan in one pass and report every problem (STYLE habit 5).

Input is plain arrays (codes, WGS84 polygons, kinds, community codes, counts) so that the same function serves
the database, an imported file and a benchmark. Areas are computed in a metric CRS (EPSG:4543 around
Jinchang, else the local UTM zone). Each problem carries its kind, the grid (or community), an area in m² or a
count, a location point (WGS84) and, where it helps a map, the problem's own geometry.

Problem kinds (``ProblemKind``): invalid geometry (with the reason and a repaired suggestion), grid outside its
community, overlap between grids, gap inside a community, sliver, building cut by a grid boundary, households
outside the bounds, residents over the limit, grid without a 网格员, exclusive grid not inside a comprehensive
grid, duplicate code. Exclusive grids (专属网格) overlap their comprehensive grid by design; that is not an
overlap.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from gis.domain import GridKind, LabelledEnum


class ProblemKind(LabelledEnum):
    """Kinds of problem a validation report lists."""

    INVALID_GEOMETRY = ("invalid_geometry", "几何无效")
    OUTSIDE_COMMUNITY = ("outside_community", "超出所属社区")
    OVERLAP = ("overlap", "网格重叠")
    GAP = ("gap", "社区内未覆盖区域")
    SLIVER = ("sliver", "碎片网格")
    BUILDING_CUT = ("building_cut", "楼栋被网格边界切分")
    HOUSEHOLDS_OUT_OF_BOUNDS = ("households_out_of_bounds", "户数超出范围")
    RESIDENTS_OVER_LIMIT = ("residents_over_limit", "人数超过上限")
    NO_GRID_WORKER = ("no_grid_worker", "未配备网格员")
    EXCLUSIVE_OUTSIDE = ("exclusive_outside", "专属网格不在综合网格内")
    DUPLICATE_CODE = ("duplicate_code", "网格编码重复")


# Overlays for gaps snap to this precision (m) so that hair-line cracks between neighbours (T-junctions
# after a round trip through WGS84) do not open a hole to the outside.
GRID_SIZE_M = 0.01

# Kinds that make a plan unfit to publish (the others are warnings a planner may accept).
BLOCKING_KINDS = frozenset({ProblemKind.INVALID_GEOMETRY, ProblemKind.OVERLAP, ProblemKind.DUPLICATE_CODE})


@dataclass(frozen=True)
class ValidationOptions:
    """Thresholds of a validation run (the defaults follow the report: 300–500 households, ≤ 2,500 people)."""

    min_households: int = 300
    max_households: int = 500
    max_residents: int = 2500
    sliver_area_m2: float = 500.0
    area_tolerance_m2: float = 1.0
    """Overlaps, gaps and parts outside a community smaller than this are digitising noise, not problems."""
    building_cut_tolerance_m2: float = 0.5
    """A building counts as cut when more than this much of it lies on each side of a boundary."""


@dataclass
class Problem:
    """One problem: what, where, how big."""

    kind: str
    message: str
    grid: str | None = None
    community: str | None = None
    area_m2: float | None = None
    count: int | None = None
    location: tuple[float, float] | None = None
    geometry: dict[str, Any] | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the Chinese label of the kind included)."""
        out = asdict(self)
        out["kind_zh"] = ProblemKind(self.kind).zh
        out["location"] = list(self.location) if self.location else None
        return out


@dataclass
class ValidationReport:
    """Every problem of a plan, counts per kind, and how long the pass took."""

    problems: list[Problem]
    grid_count: int
    building_count: int
    seconds: float
    options: ValidationOptions
    households: dict[str, int] = field(default_factory=dict)
    residents: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Number of problems per kind (kinds without problems are listed with 0)."""
        out = {k.value: 0 for k in ProblemKind}
        for p in self.problems:
            out[p.kind] += 1
        return out

    @property
    def blocking(self) -> list[Problem]:
        """Problems that must be fixed before publishing."""
        return [p for p in self.problems if ProblemKind(p.kind) in BLOCKING_KINDS]

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON: ``{"ok", "counts", "problems", ...}``."""
        return {
            "ok": not self.problems,
            "publishable": not self.blocking,
            "grid_count": self.grid_count,
            "building_count": self.building_count,
            "seconds": round(self.seconds, 4),
            "options": asdict(self.options),
            "counts": self.counts,
            "problems": [p.as_dict() for p in self.problems],
        }

    def as_geojson(self) -> dict[str, Any]:
        """The problems as a FeatureCollection (their own geometry, else their location point) for a map."""
        features = []
        for p in self.problems:
            geom = p.geometry or ({"type": "Point", "coordinates": list(p.location)} if p.location else None)
            props = p.as_dict()
            props.pop("geometry", None)
            features.append({"type": "Feature", "geometry": geom, "properties": props})
        return {"type": "FeatureCollection", "features": features}


def metric_crs_for(lon: float) -> str:
    """A metric CRS for work around ``lon``: EPSG:4543 (CGCS2000 GK, CM 102°E) near Jinchang, else UTM."""
    if 100.5 <= lon <= 103.5:
        return "EPSG:4543"
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{32600 + zone}"


@functools.lru_cache(maxsize=16)
def _transformer(src: str, dst: str) -> Transformer:
    # Building a Transformer costs ~0.1 s; they are immutable, so one per CRS pair is kept.
    return Transformer.from_crs(src, dst, always_xy=True)


class Projector:
    """Vectorised WGS84 ⇄ metric transforms of shapely arrays."""

    def __init__(self, metric_crs: str) -> None:
        self.crs = metric_crs
        self._fwd = _transformer("EPSG:4326", metric_crs)
        self._inv = _transformer(metric_crs, "EPSG:4326")

    def forward(self, geoms: np.ndarray) -> np.ndarray:
        """WGS84 → metric."""
        return shapely.transform(geoms, lambda xy: np.column_stack(self._fwd.transform(xy[:, 0], xy[:, 1])))

    def inverse(self, geoms: np.ndarray) -> np.ndarray:
        """Metric → WGS84."""
        return shapely.transform(geoms, lambda xy: np.column_stack(self._inv.transform(xy[:, 0], xy[:, 1])))

    @classmethod
    def around(cls, geoms: np.ndarray, metric_crs: str | None = None) -> Projector:
        """A projector for the region of ``geoms`` (WGS84)."""
        if metric_crs is None:
            ok = geoms[~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)]
            lon = float(np.mean(shapely.bounds(ok)[:, [0, 2]])) if ok.size else 102.0
            metric_crs = metric_crs_for(lon)
        return cls(metric_crs)


def polygonal(geom):
    """The polygonal part of a geometry (a repaired bow-tie may come back as a collection), as MultiPolygon."""
    if geom is None or geom.is_empty:
        return shapely.MultiPolygon()
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    if geom.geom_type == "MultiPolygon":
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    polys = [p for g in parts for p in (g.geoms if g.geom_type == "MultiPolygon" else [g])]
    return shapely.MultiPolygon(polys)


def _pt(projector: Projector, metric_geoms: np.ndarray) -> list[tuple[float, float]]:
    pts = projector.inverse(shapely.point_on_surface(metric_geoms))
    return [(round(float(x), 7), round(float(y), 7)) for x, y in zip(shapely.get_x(pts), shapely.get_y(pts))]


def _gj(projector: Projector, metric_geom) -> dict[str, Any]:
    return shapely.geometry.mapping(
        shapely.set_precision(projector.inverse(np.array([metric_geom]))[0], 1e-7)
    )


def validate_plan(
    codes: Sequence[str],
    geoms: Sequence | np.ndarray,
    *,
    kinds: Sequence[str] | None = None,
    community_codes: Sequence[str],
    communities: Mapping[str, Any] | None = None,
    households: Sequence[int | None] | None = None,
    residents: Sequence[int | None] | None = None,
    building_geoms: Sequence | np.ndarray | None = None,
    building_households: Sequence[int] | None = None,
    building_residents: Sequence[int] | None = None,
    building_ids: Sequence[Any] | None = None,
    staffed_codes: set[str] | None = None,
    options: ValidationOptions | None = None,
    metric_crs: str | None = None,
) -> ValidationReport:
    """Check a plan and return every problem found.

    Parameters
    ----------
    codes, geoms
        The grids' codes and WGS84 polygons (shapely), in the same order.
    kinds
        ``comprehensive`` or ``exclusive`` per grid (all comprehensive if omitted).
    community_codes
        The 12-digit community of each grid.
    communities
        ``{community code: WGS84 polygon}`` where the community's boundary is known; without it a community's
        gaps are the holes of its grids' union and "outside" cannot be checked.
    households, residents
        Stored counts per grid, used where no building falls in the grid.
    building_geoms, building_households, building_residents, building_ids
        Buildings (WGS84 footprints) with their counts: households and residents of a grid are summed from the
        buildings whose point-on-surface it covers (专属网格 first), and cut buildings are found.
    staffed_codes
        Codes of grids that have a 网格员; ``None`` skips that check.
    options
        Thresholds.
    metric_crs
        The CRS for areas (chosen from the data if omitted).

    Returns
    -------
    ValidationReport
    """
    t0 = time.perf_counter()
    opt = options or ValidationOptions()
    tol = opt.area_tolerance_m2
    codes = [str(c) for c in codes]
    n = len(codes)
    raw = np.asarray(geoms, dtype=object)
    kind = np.asarray(kinds if kinds is not None else [GridKind.COMPREHENSIVE.value] * n, dtype=object)
    comm = np.asarray(community_codes, dtype=object)
    excl = kind == GridKind.EXCLUSIVE.value
    problems: list[Problem] = []

    # 1. invalid geometries: reason and a repaired suggestion; later checks use the repaired shape.
    missing = shapely.is_missing(raw) | shapely.is_empty(raw) if n else np.zeros(0, bool)
    valid = np.zeros(n, bool) if not n else (~missing & shapely.is_valid(np.where(missing, None, raw)))
    fixed = raw.copy()
    for i in np.flatnonzero(~valid):
        if missing[i]:
            reason, repaired = "Empty geometry", shapely.MultiPolygon()
        else:
            reason = shapely.is_valid_reason(raw[i])
            repaired = polygonal(shapely.make_valid(raw[i]))
        fixed[i] = repaired
        loc = repaired if not repaired.is_empty else None
        problems.append(
            Problem(
                ProblemKind.INVALID_GEOMETRY.value,
                f"网格 {codes[i]} 几何无效：{reason}；已给出修复建议 (invalid geometry: {reason}; a repair is suggested)",
                grid=codes[i],
                community=comm[i],
                location=None
                if loc is None
                else tuple(round(v, 7) for v in shapely.point_on_surface(loc).coords[0]),
                detail={
                    "reason": reason,
                    "repaired": shapely.geometry.mapping(repaired) if loc is not None else None,
                },
            )
        )
    projector = Projector.around(fixed, metric_crs)
    g = projector.forward(fixed) if n else fixed
    area = shapely.area(g) if n else np.zeros(0)

    # 2. duplicate codes.
    uniq, inverse, counts = np.unique(np.asarray(codes, dtype=str), return_inverse=True, return_counts=True)
    for u in np.flatnonzero(counts > 1):
        members = np.flatnonzero(inverse == u)
        problems.append(
            Problem(
                ProblemKind.DUPLICATE_CODE.value,
                f"网格编码 {uniq[u]} 出现 {counts[u]} 次 (code used {counts[u]} times)",
                grid=str(uniq[u]),
                community=comm[members[0]],
                count=int(counts[u]),
                location=_pt(projector, g[members[:1]])[0] if not shapely.is_empty(g[members[0]]) else None,
                detail={"indices": members.tolist()},
            )
        )

    # 3. outside the community.
    comm_metric: dict[str, Any] = {}
    if communities:
        keys = [k for k in communities if communities[k] is not None]
        if keys:
            cg = projector.forward(np.asarray([communities[k] for k in keys], dtype=object))
            cg = shapely.make_valid(cg)
            comm_metric = dict(zip(keys, cg))
    has_comm = np.array([c in comm_metric for c in comm], dtype=bool)
    if has_comm.any():
        idx = np.flatnonzero(has_comm)
        outside = shapely.difference(g[idx], np.asarray([comm_metric[c] for c in comm[idx]], dtype=object))
        out_area = shapely.area(outside)
        for k in np.flatnonzero(out_area > tol):
            i = idx[k]
            problems.append(
                Problem(
                    ProblemKind.OUTSIDE_COMMUNITY.value,
                    f"网格 {codes[i]} 有 {out_area[k]:.0f} m² 超出社区 {comm[i]} 边界 "
                    f"({out_area[k]:.0f} m² outside its community)",
                    grid=codes[i],
                    community=comm[i],
                    area_m2=round(float(out_area[k]), 1),
                    location=_pt(projector, outside[k : k + 1])[0],
                    geometry=_gj(projector, outside[k]),
                )
            )

    pts_cache: list = []

    def grid_pt(i: int) -> tuple[float, float]:
        # every grid's location is computed once, in one vectorised call, the first time one is needed
        if not pts_cache:
            ok = ~shapely.is_empty(g)
            pts = [None] * n
            for k, p in zip(np.flatnonzero(ok), _pt(projector, g[ok])):
                pts[k] = p
            pts_cache.append(pts)
        return pts_cache[0][i]

    tree = shapely.STRtree(g)
    # 4. overlaps between grids (a comprehensive grid and an exclusive one may overlap by design).
    if n:
        a, b = tree.query(g, predicate="intersects")
        keep = (a < b) & (excl[a] == excl[b])
        a, b = a[keep], b[keep]
        inter = shapely.intersection(g[a], g[b])
        ia = shapely.area(inter)
        for k in np.flatnonzero(ia > tol):
            i, j = a[k], b[k]
            problems.append(
                Problem(
                    ProblemKind.OVERLAP.value,
                    f"网格 {codes[i]} 与 {codes[j]} 重叠 {ia[k]:.0f} m² (overlap of {ia[k]:.0f} m²)",
                    grid=codes[i],
                    community=comm[i],
                    area_m2=round(float(ia[k]), 1),
                    location=_pt(projector, inter[k : k + 1])[0],
                    geometry=_gj(projector, inter[k]),
                    detail={"other": codes[j]},
                )
            )

    # 5. gaps inside each community not covered by any comprehensive grid.
    for c in sorted(set(comm.tolist())):
        members = np.flatnonzero((comm == c) & ~excl)
        if not members.size:
            continue
        covered = shapely.union_all(g[members], grid_size=GRID_SIZE_M)
        if c in comm_metric:
            hole = shapely.difference(comm_metric[c], covered, grid_size=GRID_SIZE_M)
        else:
            polys = shapely.get_parts(np.array([covered]))
            rings = [shapely.Polygon(r) for p in polys if p.geom_type == "Polygon" for r in p.interiors]
            hole = (
                shapely.union_all(np.array(rings, dtype=object), grid_size=GRID_SIZE_M)
                if rings
                else shapely.Polygon()
            )
        parts = shapely.get_parts(np.array([hole]))
        parts = parts[shapely.area(parts) > tol] if parts.size else parts
        for k, part in enumerate(parts):
            pa = float(shapely.area(part))
            problems.append(
                Problem(
                    ProblemKind.GAP.value,
                    f"社区 {c} 内有 {pa:.0f} m² 未被任何网格覆盖 ({pa:.0f} m² of the community in no grid)",
                    community=c,
                    area_m2=round(pa, 1),
                    location=_pt(projector, parts[k : k + 1])[0],
                    geometry=_gj(projector, part),
                )
            )

    # 6. slivers.
    for i in np.flatnonzero((area < opt.sliver_area_m2) & valid):
        problems.append(
            Problem(
                ProblemKind.SLIVER.value,
                f"网格 {codes[i]} 面积仅 {area[i]:.0f} m²，小于 {opt.sliver_area_m2:.0f} m² "
                f"(sliver of {area[i]:.0f} m²)",
                grid=codes[i],
                community=comm[i],
                area_m2=round(float(area[i]), 1),
                location=grid_pt(i) if area[i] > 0 else None,
            )
        )

    # 7. buildings: cut by a boundary; households and residents per grid.
    hh = (
        np.array([int(v or 0) for v in households], dtype=np.int64)
        if households is not None
        else np.zeros(n, int)
    )
    rs = (
        np.array([int(v or 0) for v in residents], dtype=np.int64)
        if residents is not None
        else np.zeros(n, int)
    )
    n_buildings = 0
    if building_geoms is not None and len(building_geoms) and n:
        bg = projector.forward(np.asarray(building_geoms, dtype=object))
        n_buildings = bg.size
        bhh = np.asarray(
            building_households if building_households is not None else np.zeros(bg.size), np.int64
        )
        brs = np.asarray(
            building_residents if building_residents is not None else np.zeros(bg.size), np.int64
        )
        bids = list(building_ids) if building_ids is not None else list(range(bg.size))
        barea = shapely.area(bg)
        bi, gi = tree.query(bg, predicate="intersects")
        # most buildings lie wholly inside one grid: only the others need an intersection
        shapely.prepare(g)
        whole = shapely.covers(g[gi], bg[bi])
        ia = barea[bi].copy()
        part = ~whole
        ia[part] = shapely.area(shapely.intersection(bg[bi[part]], g[gi[part]]))
        ctol = opt.building_cut_tolerance_m2
        partial = (ia > ctol) & (ia < barea[bi] - ctol)
        cut_ids = np.unique(bi[partial])
        cut_pts = dict(zip(cut_ids.tolist(), _pt(projector, bg[cut_ids]) if cut_ids.size else []))
        for b in cut_ids:
            sel = (bi == b) & (ia > ctol)
            inside = ia[sel]
            grid_codes = [codes[x] for x in gi[sel]]
            problems.append(
                Problem(
                    ProblemKind.BUILDING_CUT.value,
                    f"楼栋 {bids[b]} 被网格边界切分（涉及 {', '.join(grid_codes)}） (building cut by a grid boundary)",
                    grid=grid_codes[0],
                    community=comm[gi[sel][0]],
                    area_m2=round(float(barea[b] - inside.max()), 1),
                    location=cut_pts[int(b)],
                    detail={
                        "building": bids[b],
                        "grids": grid_codes,
                        "inside_m2": [round(float(v), 1) for v in inside],
                    },
                )
            )
        # A building belongs to the grid that covers its point on surface, exclusive grids first.
        pi, pg = tree.query(shapely.point_on_surface(bg), predicate="intersects")
        order = np.lexsort((pg, ~excl[pg], pi))
        pi, pg = pi[order], pg[order]
        first = np.r_[True, pi[1:] != pi[:-1]] if pi.size else np.zeros(0, bool)
        owner_b, owner_g = pi[first], pg[first]
        count = np.bincount(owner_g, minlength=n)
        hh = np.where(count > 0, np.bincount(owner_g, weights=bhh[owner_b], minlength=n).astype(np.int64), hh)
        rs = np.where(count > 0, np.bincount(owner_g, weights=brs[owner_b], minlength=n).astype(np.int64), rs)

    for i in np.flatnonzero(~excl):
        if not opt.min_households <= hh[i] <= opt.max_households:
            side = "少于" if hh[i] < opt.min_households else "多于"
            problems.append(
                Problem(
                    ProblemKind.HOUSEHOLDS_OUT_OF_BOUNDS.value,
                    f"网格 {codes[i]} 有 {hh[i]} 户，{side} {opt.min_households}–{opt.max_households} 户 "
                    f"({hh[i]} households, outside {opt.min_households}–{opt.max_households})",
                    grid=codes[i],
                    community=comm[i],
                    count=int(hh[i]),
                    location=grid_pt(i) if area[i] > 0 else None,
                    detail={"min": opt.min_households, "max": opt.max_households},
                )
            )
        if rs[i] > opt.max_residents:
            problems.append(
                Problem(
                    ProblemKind.RESIDENTS_OVER_LIMIT.value,
                    f"网格 {codes[i]} 有 {rs[i]} 人，超过 {opt.max_residents} 人 ({rs[i]} residents > {opt.max_residents})",
                    grid=codes[i],
                    community=comm[i],
                    count=int(rs[i]),
                    location=grid_pt(i) if area[i] > 0 else None,
                    detail={"max": opt.max_residents},
                )
            )

    # 8. grids without a 网格员.
    if staffed_codes is not None:
        for i in range(n):
            if codes[i] not in staffed_codes:
                problems.append(
                    Problem(
                        ProblemKind.NO_GRID_WORKER.value,
                        f"网格 {codes[i]} 未配备网格员 (no grid worker assigned)",
                        grid=codes[i],
                        community=comm[i],
                        location=grid_pt(i) if area[i] > 0 else None,
                    )
                )

    # 9. exclusive grids must lie inside one comprehensive grid.
    ex = np.flatnonzero(excl)
    if ex.size:
        comp = np.flatnonzero(~excl)
        best = np.zeros(ex.size)
        if comp.size:
            ctree = shapely.STRtree(g[comp])
            ei, ci = ctree.query(g[ex], predicate="intersects")
            if ei.size:
                ia = shapely.area(shapely.intersection(g[ex][ei], g[comp][ci]))
                np.maximum.at(best, ei, ia)
        outside = area[ex] - best
        for k in np.flatnonzero(outside > tol):
            i = ex[k]
            problems.append(
                Problem(
                    ProblemKind.EXCLUSIVE_OUTSIDE.value,
                    f"专属网格 {codes[i]} 有 {outside[k]:.0f} m² 不在任何一个综合网格内 "
                    f"(exclusive grid: {outside[k]:.0f} m² outside a single comprehensive grid)",
                    grid=codes[i],
                    community=comm[i],
                    area_m2=round(float(outside[k]), 1),
                    location=grid_pt(i),
                )
            )

    return ValidationReport(
        problems=problems,
        grid_count=n,
        building_count=n_buildings,
        seconds=time.perf_counter() - t0,
        options=opt,
        households={codes[i]: int(hh[i]) for i in range(n)},
        residents={codes[i]: int(rs[i]) for i in range(n)},
    )
