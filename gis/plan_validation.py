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


@dataclass
class PlanUnderCheck:
    """A plan prepared once for every check: codes, kinds and communities per grid, the repaired geometries in
    the metric CRS with their areas and a spatial index, and a point inside each grid for locations."""

    codes: list[str]
    kinds: np.ndarray
    communities: np.ndarray
    exclusive: np.ndarray
    valid: np.ndarray
    geoms: np.ndarray
    areas: np.ndarray
    projector: Projector
    options: ValidationOptions
    tree: shapely.STRtree = field(init=False)
    _points: list | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.tree = shapely.STRtree(self.geoms)

    @property
    def n(self) -> int:
        """Number of grids."""
        return len(self.codes)

    def point(self, i: int) -> tuple[float, float] | None:
        """A WGS84 point inside grid ``i`` (None for an empty grid); all computed in one go when first asked."""
        if self._points is None:
            ok = ~shapely.is_empty(self.geoms)
            self._points = [None] * self.n
            for k, p in zip(np.flatnonzero(ok), _pt(self.projector, self.geoms[ok])):
                self._points[k] = p
        return self._points[i] if self.areas[i] > 0 else None

    def problem(self, kind: ProblemKind, i: int, message: str, **fields: Any) -> Problem:
        """A problem of grid ``i`` (its code and community filled in)."""
        return Problem(kind.value, message, grid=self.codes[i], community=self.communities[i], **fields)


@dataclass
class BuildingsUnderCheck:
    """The buildings a plan is checked against: metric footprints, counts, ids and how a problem names them."""

    geoms: np.ndarray
    households: np.ndarray
    residents: np.ndarray
    ids: list
    labels: list

    @classmethod
    def of(cls, plan: PlanUnderCheck, geoms, households, residents, ids, labels=None) -> BuildingsUnderCheck | None:
        """The buildings in the plan's metric CRS (None when there are none, or no grids)."""
        if geoms is None or not len(geoms) or not plan.n:
            return None
        metric = plan.projector.forward(np.asarray(geoms, dtype=object))
        zeros = np.zeros(metric.size)
        ids = list(ids) if ids is not None else list(range(metric.size))
        return cls(metric, np.asarray(households if households is not None else zeros, np.int64),
                   np.asarray(residents if residents is not None else zeros, np.int64), ids,
                   list(labels) if labels is not None else [f"楼栋 {i}" for i in ids])


def _repair(raw) -> tuple[str, Any]:
    """Why a geometry is invalid and its repaired polygonal shape."""
    if raw is None or shapely.is_empty(raw):
        return "Empty geometry", shapely.MultiPolygon()
    return shapely.is_valid_reason(raw), polygonal(shapely.make_valid(raw))


def check_invalid_geometry(codes: list[str], communities: np.ndarray, raw: np.ndarray
                           ) -> tuple[list[Problem], np.ndarray, np.ndarray]:
    """Invalid or empty grids, each with the reason and a repaired suggestion. Returns the problems, the
    geometries with the repaired shapes in place (later checks use those) and which grids were valid."""
    n = len(codes)
    missing = shapely.is_missing(raw) | shapely.is_empty(raw) if n else np.zeros(0, bool)
    valid = np.zeros(n, bool) if not n else (~missing & shapely.is_valid(np.where(missing, None, raw)))
    fixed = raw.copy()
    problems = []
    for i in np.flatnonzero(~valid):
        reason, repaired = _repair(None if missing[i] else raw[i])
        fixed[i] = repaired
        shown = not repaired.is_empty
        problems.append(Problem(
            ProblemKind.INVALID_GEOMETRY.value,
            f"网格 {codes[i]} 几何无效：{reason}；已给出修复建议 (invalid geometry: {reason}; a repair is suggested)",
            grid=codes[i], community=communities[i],
            location=tuple(round(v, 7) for v in shapely.point_on_surface(repaired).coords[0]) if shown else None,
            detail={"reason": reason, "repaired": shapely.geometry.mapping(repaired) if shown else None},
        ))
    return problems, fixed, valid


def prepare_plan(codes: Sequence[str], geoms, *, kinds: Sequence[str] | None, community_codes: Sequence[str],
                 options: ValidationOptions, metric_crs: str | None = None
                 ) -> tuple[PlanUnderCheck, list[Problem]]:
    """The plan ready for the checks, and the invalid-geometry problems found while repairing it."""
    codes = [str(c) for c in codes]
    n = len(codes)
    kind = np.asarray(kinds if kinds is not None else [GridKind.COMPREHENSIVE.value] * n, dtype=object)
    communities = np.asarray(community_codes, dtype=object)
    problems, fixed, valid = check_invalid_geometry(codes, communities, np.asarray(geoms, dtype=object))
    projector = Projector.around(fixed, metric_crs)
    metric = projector.forward(fixed) if n else fixed
    plan = PlanUnderCheck(codes=codes, kinds=kind, communities=communities,
                          exclusive=kind == GridKind.EXCLUSIVE.value, valid=valid, geoms=metric,
                          areas=shapely.area(metric) if n else np.zeros(0), projector=projector, options=options)
    return plan, problems


def community_shapes(plan: PlanUnderCheck, communities: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{community code: metric polygon}`` of the communities whose boundary is known."""
    keys = [k for k in (communities or {}) if communities[k] is not None]
    if not keys:
        return {}
    shapes = shapely.make_valid(plan.projector.forward(np.asarray([communities[k] for k in keys], dtype=object)))
    return dict(zip(keys, shapes))


def check_duplicate_codes(plan: PlanUnderCheck) -> list[Problem]:
    """Codes used by more than one grid."""
    uniq, inverse, counts = np.unique(np.asarray(plan.codes, dtype=str), return_inverse=True, return_counts=True)
    problems = []
    for u in np.flatnonzero(counts > 1):
        members = np.flatnonzero(inverse == u)
        first = members[0]
        problems.append(Problem(
            ProblemKind.DUPLICATE_CODE.value,
            f"网格编码 {uniq[u]} 出现 {counts[u]} 次 (code used {counts[u]} times)",
            grid=str(uniq[u]), community=plan.communities[first], count=int(counts[u]),
            location=None if shapely.is_empty(plan.geoms[first]) else _pt(plan.projector, plan.geoms[members[:1]])[0],
            detail={"indices": members.tolist()},
        ))
    return problems


def check_outside_community(plan: PlanUnderCheck, shapes: Mapping[str, Any]) -> list[Problem]:
    """Parts of grids outside the boundary of their community (where the boundary is known)."""
    idx = np.flatnonzero(np.array([c in shapes for c in plan.communities], dtype=bool))
    if not idx.size:
        return []
    outside = shapely.difference(plan.geoms[idx], np.asarray([shapes[c] for c in plan.communities[idx]], dtype=object))
    out_area = shapely.area(outside)
    problems = []
    for k in np.flatnonzero(out_area > plan.options.area_tolerance_m2):
        i = idx[k]
        problems.append(plan.problem(
            ProblemKind.OUTSIDE_COMMUNITY, i,
            f"网格 {plan.codes[i]} 有 {out_area[k]:.0f} m² 超出社区 {plan.communities[i]} 边界 "
            f"({out_area[k]:.0f} m² outside its community)",
            area_m2=round(float(out_area[k]), 1), location=_pt(plan.projector, outside[k : k + 1])[0],
            geometry=_gj(plan.projector, outside[k]),
        ))
    return problems


def check_overlaps(plan: PlanUnderCheck) -> list[Problem]:
    """Grids that overlap (a comprehensive grid and an exclusive one may overlap by design)."""
    if not plan.n:
        return []
    a, b = plan.tree.query(plan.geoms, predicate="intersects")
    keep = (a < b) & (plan.exclusive[a] == plan.exclusive[b])
    a, b = a[keep], b[keep]
    inter = shapely.intersection(plan.geoms[a], plan.geoms[b])
    inter_area = shapely.area(inter)
    problems = []
    for k in np.flatnonzero(inter_area > plan.options.area_tolerance_m2):
        i, j = a[k], b[k]
        problems.append(plan.problem(
            ProblemKind.OVERLAP, i,
            f"网格 {plan.codes[i]} 与 {plan.codes[j]} 重叠 {inter_area[k]:.0f} m² (overlap of {inter_area[k]:.0f} m²)",
            area_m2=round(float(inter_area[k]), 1), location=_pt(plan.projector, inter[k : k + 1])[0],
            geometry=_gj(plan.projector, inter[k]), detail={"other": plan.codes[j]},
        ))
    return problems


def _uncovered(plan: PlanUnderCheck, community: str, shapes: Mapping[str, Any]):
    """The part of a community in none of its comprehensive grids (without its boundary: the holes of their
    union); None when it has no comprehensive grid."""
    members = np.flatnonzero((plan.communities == community) & ~plan.exclusive)
    if not members.size:
        return None
    covered = shapely.union_all(plan.geoms[members], grid_size=GRID_SIZE_M)
    if community in shapes:
        return shapely.difference(shapes[community], covered, grid_size=GRID_SIZE_M)
    polys = shapely.get_parts(np.array([covered]))
    rings = [shapely.Polygon(r) for p in polys if p.geom_type == "Polygon" for r in p.interiors]
    return shapely.union_all(np.array(rings, dtype=object), grid_size=GRID_SIZE_M) if rings else shapely.Polygon()


def check_gaps(plan: PlanUnderCheck, shapes: Mapping[str, Any]) -> list[Problem]:
    """Ground inside each community that no comprehensive grid covers."""
    problems = []
    for community in sorted(set(plan.communities.tolist())):
        hole = _uncovered(plan, community, shapes)
        if hole is None:
            continue
        parts = shapely.get_parts(np.array([hole]))
        parts = parts[shapely.area(parts) > plan.options.area_tolerance_m2] if parts.size else parts
        for k, part in enumerate(parts):
            part_area = float(shapely.area(part))
            problems.append(Problem(
                ProblemKind.GAP.value,
                f"社区 {community} 内有 {part_area:.0f} m² 未被任何网格覆盖 ({part_area:.0f} m² of the community in "
                "no grid)",
                community=community, area_m2=round(part_area, 1),
                location=_pt(plan.projector, parts[k : k + 1])[0], geometry=_gj(plan.projector, part),
            ))
    return problems


def check_slivers(plan: PlanUnderCheck) -> list[Problem]:
    """Valid grids smaller than the sliver threshold."""
    limit = plan.options.sliver_area_m2
    return [plan.problem(
        ProblemKind.SLIVER, i,
        f"网格 {plan.codes[i]} 面积仅 {plan.areas[i]:.0f} m²，小于 {limit:.0f} m² (sliver of {plan.areas[i]:.0f} m²)",
        area_m2=round(float(plan.areas[i]), 1), location=plan.point(i),
    ) for i in np.flatnonzero((plan.areas < limit) & plan.valid)]


def check_cut_buildings(plan: PlanUnderCheck, buildings: BuildingsUnderCheck | None) -> list[Problem]:
    """Buildings split by a grid boundary (more than the tolerance on each side)."""
    if buildings is None:
        return []
    bg, grids = buildings.geoms, plan.geoms
    barea = shapely.area(bg)
    bi, gi = plan.tree.query(bg, predicate="intersects")
    # most buildings lie wholly inside one grid: only the others need an intersection
    shapely.prepare(grids)
    inside_area = barea[bi].copy()
    part = ~shapely.covers(grids[gi], bg[bi])
    inside_area[part] = shapely.area(shapely.intersection(bg[bi[part]], grids[gi[part]]))
    tol = plan.options.building_cut_tolerance_m2
    cut = np.unique(bi[(inside_area > tol) & (inside_area < barea[bi] - tol)])
    points = dict(zip(cut.tolist(), _pt(plan.projector, bg[cut]) if cut.size else []))
    problems = []
    for b in cut:
        sel = (bi == b) & (inside_area > tol)
        grid_codes = [plan.codes[x] for x in gi[sel]]
        problems.append(Problem(
            ProblemKind.BUILDING_CUT.value,
            f"{buildings.labels[b]} 被网格边界切分（涉及 {', '.join(grid_codes)}） (building cut by a grid boundary)",
            grid=grid_codes[0], community=plan.communities[gi[sel][0]],
            area_m2=round(float(barea[b] - inside_area[sel].max()), 1), location=points[int(b)],
            detail={"building": buildings.ids[b], "building_label": buildings.labels[b], "grids": grid_codes,
                    "inside_m2": [round(float(v), 1) for v in inside_area[sel]]},
        ))
    return problems


def grid_counts(plan: PlanUnderCheck, buildings: BuildingsUnderCheck | None, households, residents
                ) -> tuple[np.ndarray, np.ndarray]:
    """Households and residents per grid: summed from the buildings whose point on surface it covers (a
    comprehensive grid leaves out those of an exclusive grid), else the stored counts. Two comprehensive grids that
    overlap both count the buildings in the overlap (the overlap is reported), so a grid drawn over others shows
    what lies inside it, not 0."""
    stored = [np.array([int(v or 0) for v in values], dtype=np.int64) if values is not None else np.zeros(plan.n, int)
              for values in (households, residents)]
    if buildings is None:
        return stored[0], stored[1]
    pi, pg = plan.tree.query(shapely.point_on_surface(buildings.geoms), predicate="intersects")
    in_exclusive = np.zeros(buildings.geoms.size, bool)
    in_exclusive[pi[plan.exclusive[pg]]] = True
    keep = plan.exclusive[pg] | ~in_exclusive[pi]
    owner_b, owner_g = pi[keep], pg[keep]
    has = np.bincount(owner_g, minlength=plan.n) > 0
    summed = [np.bincount(owner_g, weights=w[owner_b], minlength=plan.n).astype(np.int64)
              for w in (buildings.households, buildings.residents)]
    return np.where(has, summed[0], stored[0]), np.where(has, summed[1], stored[1])


def check_counts(plan: PlanUnderCheck, households: np.ndarray, residents: np.ndarray) -> list[Problem]:
    """Comprehensive grids with households outside the band or residents over the limit."""
    opt = plan.options
    band = f"{opt.min_households}–{opt.max_households}"
    problems = []
    for i in np.flatnonzero(~plan.exclusive):
        hh, rs = households[i], residents[i]
        if not opt.min_households <= hh <= opt.max_households:
            side = "少于" if hh < opt.min_households else "多于"
            problems.append(plan.problem(
                ProblemKind.HOUSEHOLDS_OUT_OF_BOUNDS, i,
                f"网格 {plan.codes[i]} 有 {hh} 户，{side} {band} 户 ({hh} households, outside {band})",
                count=int(hh), location=plan.point(i), detail={"min": opt.min_households, "max": opt.max_households},
            ))
        if rs > opt.max_residents:
            problems.append(plan.problem(
                ProblemKind.RESIDENTS_OVER_LIMIT, i,
                f"网格 {plan.codes[i]} 有 {rs} 人，超过 {opt.max_residents} 人 ({rs} residents > {opt.max_residents})",
                count=int(rs), location=plan.point(i), detail={"max": opt.max_residents},
            ))
    return problems


def check_grid_workers(plan: PlanUnderCheck, staffed_codes: set[str] | None) -> list[Problem]:
    """Grids without a 网格员 (skipped when ``staffed_codes`` is None)."""
    if staffed_codes is None:
        return []
    return [plan.problem(ProblemKind.NO_GRID_WORKER, i, f"网格 {plan.codes[i]} 未配备网格员 (no grid worker assigned)",
                         location=plan.point(i))
            for i in range(plan.n) if plan.codes[i] not in staffed_codes]


def check_exclusive_inside(plan: PlanUnderCheck) -> list[Problem]:
    """Exclusive grids (专属网格) not wholly inside a single comprehensive grid."""
    ex, comp = np.flatnonzero(plan.exclusive), np.flatnonzero(~plan.exclusive)
    if not ex.size:
        return []
    best = np.zeros(ex.size)  # the largest share of each exclusive grid inside one comprehensive grid
    if comp.size:
        ei, ci = shapely.STRtree(plan.geoms[comp]).query(plan.geoms[ex], predicate="intersects")
        if ei.size:
            np.maximum.at(best, ei, shapely.area(shapely.intersection(plan.geoms[ex][ei], plan.geoms[comp][ci])))
    outside = plan.areas[ex] - best
    return [plan.problem(
        ProblemKind.EXCLUSIVE_OUTSIDE, ex[k],
        f"专属网格 {plan.codes[ex[k]]} 有 {outside[k]:.0f} m² 不在任何一个综合网格内 "
        f"(exclusive grid: {outside[k]:.0f} m² outside a single comprehensive grid)",
        area_m2=round(float(outside[k]), 1), location=plan.point(ex[k]),
    ) for k in np.flatnonzero(outside > plan.options.area_tolerance_m2)]


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
    building_labels: Sequence[str] | None = None,
    staffed_codes: set[str] | None = None,
    options: ValidationOptions | None = None,
    metric_crs: str | None = None,
) -> ValidationReport:
    """Check a plan and return every problem found: the driver of the checks above, in the report's order.

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
    building_labels
        How a problem names each building (its name or address); ``"楼栋 <id>"`` if omitted.
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
    started = time.perf_counter()
    options = options or ValidationOptions()
    plan, problems = prepare_plan(codes, geoms, kinds=kinds, community_codes=community_codes, options=options,
                                  metric_crs=metric_crs)
    shapes = community_shapes(plan, communities)
    buildings = BuildingsUnderCheck.of(plan, building_geoms, building_households, building_residents, building_ids,
                                       building_labels)
    hh, rs = grid_counts(plan, buildings, households, residents)
    problems += check_duplicate_codes(plan)
    problems += check_outside_community(plan, shapes)
    problems += check_overlaps(plan)
    problems += check_gaps(plan, shapes)
    problems += check_slivers(plan)
    problems += check_cut_buildings(plan, buildings)
    problems += check_counts(plan, hh, rs)
    problems += check_grid_workers(plan, staffed_codes)
    problems += check_exclusive_inside(plan)
    return ValidationReport(
        problems=problems, grid_count=plan.n, building_count=0 if buildings is None else buildings.geoms.size,
        seconds=time.perf_counter() - started, options=options,
        households={code: int(hh[i]) for i, code in enumerate(plan.codes)},
        residents={code: int(rs[i]) for i, code in enumerate(plan.codes)},
    )
