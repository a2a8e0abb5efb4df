"""Propose grids for a community from its buildings and streets (our own regionalisation).

1. **Blocks**: the streets inside the community, noded together with the community boundary and polygonised,
   give street blocks; so grid boundaries run along streets wherever the households allow.
2. **Units**: a block with more households than the upper bound is bisected recursively across its longer
   axis, at a gap between buildings where one exists (a straight cut that crosses no building), in proportion to
   the number of grids it must hold. A single building above the bound stays whole.
3. **Regions**: units are grown into grids from the north-west, always taking the adjacent unit (shared
   boundary > 1 m) nearest the region's centre whose households still fit; a region stops near the community's
   mean grid size. Regions left under the lower bound merge with a neighbour where the sum fits, else borrow a
   unit from a neighbour that can spare one. Blocks without households join the neighbour they share the
   longest boundary with, so the grids tile the community.
4. **No cut buildings**: each grid finally takes its own buildings whole and gives up other grids' buildings.

Every grid that ends outside the bounds is reported with the reason (a single building of 800 households,
a community smaller than one grid, neighbours too full to merge).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from gis.gridcodes import reading_order
from gis.plan_validation import Projector, polygonal


@dataclass(frozen=True)
class ProposalOptions:
    """Household bounds of a grid and the smallest shared boundary that makes two units neighbours."""

    min_households: int = 300
    max_households: int = 500
    min_shared_boundary_m: float = 1.0


@dataclass
class ProposedGrid:
    """One proposed grid (WGS84 polygon) with its households and, if out of bounds, why."""

    geometry: Any
    households: int
    buildings: int
    polsby_popper: float
    reason: str | None = None


@dataclass
class Proposal:
    """The proposed grids and the measures of the result."""

    grids: list[ProposedGrid]
    total_households: int
    seconds: float
    options: ProposalOptions
    notes: list[str] = field(default_factory=list)

    @property
    def within_bounds_share(self) -> float:
        """Share of grids whose households lie within the bounds."""
        if not self.grids:
            return 0.0
        lo, hi = self.options.min_households, self.options.max_households
        return sum(lo <= g.households <= hi for g in self.grids) / len(self.grids)

    def metrics(self) -> dict[str, Any]:
        """Counts, share within bounds, compactness (Polsby–Popper 4πA/P²) and run time."""
        pp = np.array([g.polsby_popper for g in self.grids]) if self.grids else np.zeros(1)
        hh = np.array([g.households for g in self.grids]) if self.grids else np.zeros(1)
        outside = [
            {"index": i, "households": g.households, "reason": g.reason}
            for i, g in enumerate(self.grids)
            if g.reason
        ]
        return {
            "grids": len(self.grids),
            "total_households": self.total_households,
            "within_bounds": sum(1 for g in self.grids if not g.reason),
            "within_bounds_share": round(self.within_bounds_share, 4),
            "outside_bounds": outside,
            "households_min": int(hh.min()),
            "households_max": int(hh.max()),
            "households_mean": round(float(hh.mean()), 1),
            "polsby_popper_mean": round(float(pp.mean()), 4),
            "polsby_popper_min": round(float(pp.min()), 4),
            "seconds": round(self.seconds, 4),
            "notes": self.notes,
        }


def polsby_popper(geoms: np.ndarray) -> np.ndarray:
    """Compactness 4πA/P² (1 for a circle, about 0.785 for a square)."""
    per = shapely.length(geoms)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(per > 0, 4 * math.pi * shapely.area(geoms) / per**2, 0.0)


def street_blocks(community, streets: np.ndarray) -> np.ndarray:
    """Faces of the street network inside the community (the community itself if there are no streets)."""
    if streets is None or not len(streets):
        return np.asarray(shapely.get_parts(np.array([community])), dtype=object)
    # Whole street lines, not lines clipped to the community: a clipped end lies on the boundary only up to
    # rounding, is then not noded with it, and the street no longer splits its block. Faces outside the
    # community are dropped below.
    lines = np.asarray(streets, dtype=object)
    lines = lines[shapely.intersects(lines, community)]
    noded = shapely.union_all(np.concatenate([lines, [community.boundary]]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(np.array([noded]))))
    faces = faces[shapely.area(faces) > 1.0]
    inside = shapely.covers(community, shapely.point_on_surface(faces))
    faces = faces[inside]
    if not faces.size:
        return np.asarray(shapely.get_parts(np.array([community])), dtype=object)
    return faces


def _bisect(poly, idx: np.ndarray, bgeoms: np.ndarray, bhh: np.ndarray, k: int, out: list) -> None:
    """Split ``poly`` holding buildings ``idx`` into ``k`` units of similar households."""
    if k <= 1 or idx.size <= 1:
        out.append((poly, idx))
        return
    x0, y0, x1, y1 = poly.bounds
    axis = 0 if (x1 - x0) >= (y1 - y0) else 1
    bounds = shapely.bounds(bgeoms[idx])
    lo, hi = bounds[:, axis], bounds[:, axis + 2]
    centre = (lo + hi) / 2
    order = np.argsort(centre, kind="stable")
    idx, lo, hi = idx[order], lo[order], hi[order]
    cum = np.cumsum(bhh[idx])
    k1 = k // 2
    target = cum[-1] * k1 / k
    # candidate cut after position j: clean if no building of the left side reaches past the right's start
    left_hi = np.maximum.accumulate(hi)[:-1]
    right_lo = np.minimum.accumulate(lo[::-1])[::-1][1:]
    clean = left_hi <= right_lo
    err = np.abs(cum[:-1] - target) / max(cum[-1], 1)
    score = err + np.where(clean, 0.0, 0.25)  # a clean cut is worth a 25% imbalance
    j = int(np.argmin(score))
    cut = (left_hi[j] + right_lo[j]) / 2 if clean[j] else (lo[j] + hi[j] + lo[j + 1] + hi[j + 1]) / 4
    big = 1e7
    if axis == 0:
        left_box, right_box = (
            shapely.box(x0 - big, y0 - big, cut, y1 + big),
            shapely.box(cut, y0 - big, x1 + big, y1 + big),
        )
    else:
        left_box, right_box = (
            shapely.box(x0 - big, y0 - big, x1 + big, cut),
            shapely.box(x0 - big, cut, x1 + big, y1 + big),
        )
    _bisect(polygonal(poly.intersection(left_box)), idx[: j + 1], bgeoms, bhh, k1, out)
    _bisect(polygonal(poly.intersection(right_box)), idx[j + 1 :], bgeoms, bhh, k - k1, out)


def _adjacency(units: np.ndarray, min_shared: float) -> list[set[int]]:
    n = units.size
    nbrs: list[set[int]] = [set() for _ in range(n)]
    a, b = shapely.STRtree(units).query(units, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if a.size:
        shared = shapely.length(shapely.intersection(shapely.boundary(units[a]), shapely.boundary(units[b])))
        for i, j in zip(a[shared > min_shared], b[shared > min_shared]):
            nbrs[i].add(int(j))
            nbrs[j].add(int(i))
    return nbrs


def propose_grids(
    community,
    building_geoms: Sequence | np.ndarray,
    building_households: Sequence[int],
    *,
    streets: Sequence | np.ndarray | None = None,
    options: ProposalOptions | None = None,
    metric_crs: str | None = None,
) -> Proposal:
    """Propose grids for one community.

    Parameters
    ----------
    community
        The community's WGS84 polygon.
    building_geoms, building_households
        Building footprints (WGS84) and households.
    streets
        Street lines (WGS84); boundaries follow them where the households allow.
    options
        Household bounds.
    metric_crs
        CRS for lengths and areas (chosen from the data if omitted).

    Returns
    -------
    Proposal
        WGS84 grids in reading order (north-west first) with the measures of the result.
    """
    started = time.perf_counter()
    opt = options or ProposalOptions()
    inputs = _metric_inputs(community, building_geoms, building_households, streets, metric_crs)
    blocks = street_blocks(inputs.community, inputs.streets)
    owner = _block_of_buildings(blocks, inputs.buildings)
    units, ugeoms, region = _best_regions(blocks, owner, inputs, opt)
    regions = [list(np.flatnonzero(region == r)) for r in range(int(region.max()) + 1)]
    bgrid = region[_unit_of_buildings(units, inputs.buildings.size)]
    geoms = _grid_shapes(regions, ugeoms, bgrid, inputs)
    grids = _proposed_grids(geoms, bgrid, inputs, opt)
    notes = [f"{blocks.size} 个街区, {ugeoms.size} 个单元 ({blocks.size} street blocks, {ugeoms.size} units)"]
    return Proposal(grids=grids, total_households=inputs.total, seconds=time.perf_counter() - started, options=opt,
                    notes=notes)


@dataclass
class _MetricInputs:
    """A community's polygon, buildings (footprints, households) and streets in a metric CRS."""

    projector: Projector
    community: Any
    buildings: np.ndarray
    households: np.ndarray
    streets: np.ndarray | None

    @property
    def total(self) -> int:
        """All households of the community."""
        return int(self.households.sum())


def _metric_inputs(community, building_geoms, building_households, streets, metric_crs) -> _MetricInputs:
    projector = Projector.around(np.array([community], dtype=object), metric_crs)
    bg = np.asarray(building_geoms, dtype=object)
    return _MetricInputs(
        projector=projector,
        community=shapely.make_valid(projector.forward(np.array([community], dtype=object))[0]),
        buildings=projector.forward(bg) if bg.size else bg,
        households=np.asarray(building_households, dtype=np.int64) if bg.size else np.zeros(0, np.int64),
        streets=projector.forward(np.asarray(streets, dtype=object)) if streets is not None and len(streets)
        else None,
    )


def _block_of_buildings(blocks: np.ndarray, buildings: np.ndarray) -> np.ndarray:
    """The block each building's point on surface lies in (outside every block: the nearest block)."""
    owner = np.full(buildings.size, -1)
    if not buildings.size:
        return owner
    points = shapely.point_on_surface(buildings)
    pi, bi = shapely.STRtree(blocks).query(points, predicate="intersects")
    first = np.r_[True, pi[1:] != pi[:-1]] if pi.size else np.zeros(0, bool)
    owner[pi[first]] = bi[first]
    stray = np.flatnonzero(owner < 0)
    if stray.size:  # outside every block (outside the community): nearest block
        owner[stray] = shapely.STRtree(blocks).nearest(points[stray])
    return owner


def _best_regions(blocks, owner, inputs: _MetricInputs, opt: ProposalOptions):
    """Units and regions, trying finer units only when they put more grids within the bounds; returns
    ``(units, unit geoms, region per unit)``."""
    lo, hi = opt.min_households, opt.max_households
    best = None
    for unit_max in (hi, hi - lo, (hi - lo) / 2):
        if unit_max <= 0:
            continue
        attempt = _regionalise(blocks, owner, inputs.buildings, inputs.households, unit_max=unit_max, lo=lo,
                               hi=hi, total=inputs.total, min_shared=opt.min_shared_boundary_m)
        score = (attempt[3], -len(attempt[0]))
        if best is None or score > best[0]:
            best = (score, attempt)
        if attempt[3] == attempt[4]:  # every grid within the bounds: keep the coarsest units (most streets)
            break
    units, ugeoms, region, _, _ = best[1]
    return units, ugeoms, region


def _unit_of_buildings(units: list[tuple[Any, np.ndarray]], n_buildings: int) -> np.ndarray:
    unit = np.zeros(n_buildings, dtype=int)
    for k, (_, idx) in enumerate(units):
        unit[idx] = k
    return unit


def _grid_shapes(regions: list[list[int]], ugeoms: np.ndarray, bgrid: np.ndarray, inputs: _MetricInputs
                 ) -> np.ndarray:
    """Each grid: the union of its units with its own buildings whole, other grids' buildings taken out, clipped
    to the community, hair-line artefacts of the overlays (< 1 m²) dropped."""
    geoms = np.asarray([shapely.union_all(ugeoms[members]) for members in regions], dtype=object)
    bg = inputs.buildings
    if bg.size:
        btree = shapely.STRtree(bg)
        for k in range(geoms.size):
            own = bg[bgrid == k]
            near = btree.query(geoms[k], predicate="intersects")
            others = bg[near[bgrid[near] != k]]
            shape = shapely.union_all(np.concatenate([[geoms[k]], own])) if own.size else geoms[k]
            shape = shapely.intersection(shape, shapely.union_all(np.concatenate([[inputs.community], own])))
            if others.size:
                shape = shapely.difference(shape, shapely.union_all(others))
            geoms[k] = polygonal(shapely.make_valid(shape))
    for k in range(geoms.size):
        parts = shapely.get_parts(np.array([geoms[k]]))
        geoms[k] = shapely.MultiPolygon(list(parts[shapely.area(parts) >= 1.0]))
    return geoms


def _out_of_bounds_reason(households: int, own: np.ndarray, inputs: _MetricInputs, opt: ProposalOptions
                          ) -> str | None:
    """Why a grid's households are outside the bounds (None when they are within)."""
    lo, hi = opt.min_households, opt.max_households
    if households > hi:
        biggest = int(inputs.households[own].max()) if own.size else 0
        if biggest > hi:
            return (f"单栋楼 {biggest} 户，超过上限 {hi} 户，楼栋不能拆分 "
                    f"(a single building of {biggest} households cannot be split)")
        return f"{households} 户：楼栋之间没有可切分的空隙 (no gap between buildings to split at)"
    if households < lo:
        if inputs.total < lo:
            return f"社区共 {inputs.total} 户，不足一个网格的下限 {lo} 户 (the whole community is below {lo})"
        return (f"{households} 户：与相邻网格合并会超过 {hi} 户，或被道路/边界隔开 "
                f"(merging with a neighbour would exceed {hi}, or it is cut off)")
    return None


def _proposed_grids(geoms: np.ndarray, bgrid: np.ndarray, inputs: _MetricInputs, opt: ProposalOptions
                    ) -> list[ProposedGrid]:
    """The grids in reading order, in WGS84, with households, buildings, compactness and any reason."""
    households = np.array([int(inputs.households[bgrid == k].sum()) for k in range(geoms.size)], dtype=np.int64)
    counts = np.array([int((bgrid == k).sum()) for k in range(geoms.size)], dtype=np.int64)
    compactness = polsby_popper(geoms)
    wgs84 = np.asarray([polygonal(shapely.make_valid(g)) for g in inputs.projector.inverse(geoms)], dtype=object)
    return [ProposedGrid(wgs84[k], int(households[k]), int(counts[k]), round(float(compactness[k]), 4),
                         _out_of_bounds_reason(int(households[k]), np.flatnonzero(bgrid == k), inputs, opt))
            for k in reading_order(geoms)]


def _connected(members: list[int], nbrs: list[set[int]]) -> bool:
    if not members:
        return False
    ms = set(members)
    seen, stack = {members[0]}, [members[0]]
    while stack:
        i = stack.pop()
        for j in nbrs[i] & ms:
            if j not in seen:
                seen.add(j)
                stack.append(j)
    return len(seen) == len(ms)


def _empty_components(uhh: np.ndarray, nbrs: list[set[int]]) -> list[list[int]]:
    """Connected groups of units without households."""
    seen: set[int] = set()
    out = []
    for start in np.flatnonzero(uhh == 0):
        start = int(start)
        if start in seen:
            continue
        comp, stack = [], [start]
        seen.add(start)
        while stack:
            i = stack.pop()
            comp.append(i)
            for j in nbrs[i]:
                if uhh[j] == 0 and j not in seen:
                    seen.add(j)
                    stack.append(j)
        out.append(comp)
    return out


def _rebalance(regions, region, rhh, uhh, nbrs, *, lo: int, hi: int, target: float, max_moves: int = 2000) -> None:
    """Local search while some region is outside the bounds: move one unit at a time across a region boundary
    when that lowers (households outside the bounds, then the spread around the target) and the giving region
    stays contiguous. Spare households thus flow, region by region, to a region that lacks them — where the
    one-step repair found no neighbour able to give. Stops as soon as every region is within the bounds (the
    regions that already were keep their street-aligned shape as far as possible)."""

    def out(h: float) -> float:
        return max(0.0, lo - h) + max(0.0, h - hi)

    def candidates():
        for r in range(len(regions)):
            for i in regions[r]:
                for j in nbrs[i]:
                    q = int(region[j])
                    if q < 0 or q == r or uhh[j] == 0 or len(regions[q]) < 2:
                        continue
                    a, b, u = rhh[r], rhh[q], int(uhh[j])
                    d_out = out(a + u) + out(b - u) - out(a) - out(b)
                    d_sq = (a + u - target) ** 2 + (b - u - target) ** 2 - (a - target) ** 2 - (b - target) ** 2
                    if d_out < 0 or (d_out == 0 and d_sq < 0):
                        yield (d_out, d_sq), int(j), q, r

    for _ in range(max_moves):
        if sum(out(rhh[r]) for r in range(len(regions)) if regions[r]) == 0:
            return
        for _key, j, q, r in sorted(set(candidates())):
            rest = [x for x in regions[q] if x != j]
            if _connected(rest, nbrs):  # the giving region stays in one piece
                regions[q] = rest
                regions[r].append(j)
                region[j] = r
                rhh[q] -= int(uhh[j])
                rhh[r] += int(uhh[j])
                break
        else:
            return


def _units(blocks, owner, bg, bhh, unit_max) -> list[tuple[Any, np.ndarray]]:
    """Blocks split into units of at most ``unit_max`` households where the buildings allow:
    ``[(polygon, building indices)]``."""
    units: list[tuple[Any, np.ndarray]] = []
    for b, poly in enumerate(blocks):
        idx = np.flatnonzero(owner == b)
        hh = int(bhh[idx].sum())
        _bisect(poly, idx, bg, bhh, max(1, math.ceil(hh / unit_max)) if hh > unit_max else 1, units)
    return units


class _Regions:
    """Units grown into regions: the region of each unit (-1: none yet), the units and households of each
    region, and the neighbours of each unit (across a patch of empty units too, for regions cut off by one)."""

    def __init__(self, ugeoms: np.ndarray, uhh: np.ndarray, nbrs: list[set[int]], *, lo: int, hi: int,
                 target: float) -> None:
        self.ugeoms, self.uhh, self.nbrs = ugeoms, uhh, nbrs
        self.lo, self.hi, self.target = lo, hi, target
        self.region = np.full(ugeoms.size, -1)
        self.members: list[list[int]] = []
        self.households: list[int] = []
        self.empty_patches = _empty_components(uhh, nbrs)
        # household units also neighbour each other across a patch of empty units (a park, a school)
        self.across: list[set[int]] = [set() for _ in range(ugeoms.size)]
        for patch in self.empty_patches:
            touching = {j for e in patch for j in nbrs[e] if uhh[j] > 0}
            for j in touching:
                self.across[j] |= touching - {j}

    def grow(self) -> None:
        """From the north-west, grow each region by the adjacent unit nearest its centre whose households still
        fit, until it is near the target size."""
        centres = shapely.centroid(self.ugeoms)
        cx, cy = shapely.get_x(centres), shapely.get_y(centres)
        for seed in reading_order(self.ugeoms):
            if self.region[seed] >= 0 or self.uhh[seed] == 0:
                continue
            r = len(self.members)
            members, hh = [int(seed)], int(self.uhh[seed])
            self.region[seed] = r
            while hh < self.target * 0.97:
                cand = {j for i in members for j in self.nbrs[i]
                        if self.region[j] < 0 and self.uhh[j] > 0 and hh + self.uhh[j] <= self.hi}
                if not cand:
                    break
                weights = np.maximum(self.uhh[members], 1)
                mx, my = np.average(cx[members], weights=weights), np.average(cy[members], weights=weights)
                j = min(cand, key=lambda c: (cx[c] - mx) ** 2 + (cy[c] - my) ** 2)
                members.append(j)
                self.region[j] = r
                hh += int(self.uhh[j])
            self.members.append(members)
            self.households.append(hh)

    def neighbours(self, r: int, *, bridged: bool = False) -> set[int]:
        """Regions next to region ``r`` (with ``bridged``: also across a patch of empty units)."""
        found = {int(self.region[j]) for i in self.members[r] for j in self.nbrs[i]
                 if self.region[j] >= 0 and self.region[j] != r}
        if bridged:
            found |= {int(self.region[j]) for i in self.members[r] for j in self.across[i]
                      if self.region[j] >= 0 and self.region[j] != r}
        return found

    def _merge(self, r: int) -> bool:
        """Merge small region ``r`` into its smallest neighbour that can take it; False if none can."""
        fits = [q for q in self.neighbours(r) if self.members[q] and self.households[q] + self.households[r] <= self.hi]
        if not fits and not self.neighbours(r):  # cut off from every other region: merge across empty units
            fits = [q for q in self.neighbours(r, bridged=True)
                    if self.members[q] and self.households[q] + self.households[r] <= self.hi]
        if not fits:
            return False
        q = min(fits, key=lambda x: self.households[x])
        for i in self.members[r]:
            self.region[i] = q
        self.members[q] += self.members[r]
        self.households[q] += self.households[r]
        self.members[r], self.households[r] = [], 0
        return True

    def _move(self, j: int, q: int, r: int) -> None:
        self.members[q] = [u for u in self.members[q] if u != j]
        self.members[r].append(j)
        self.region[j] = r
        self.households[q] -= int(self.uhh[j])
        self.households[r] += int(self.uhh[j])

    def _borrow(self, r: int) -> None:
        """Take units into small region ``r`` from neighbours that can spare them (and stay in one piece)."""
        lo, hi, hh = self.lo, self.hi, self.households
        for q in sorted(self.neighbours(r), key=lambda x: -hh[x]):
            movable = {j for i in self.members[r] for j in self.nbrs[i]
                       if self.region[j] == q and self.uhh[j] > 0 and hh[q] - self.uhh[j] >= lo
                       and hh[r] + self.uhh[j] <= hi and len(self.members[q]) > 1}
            for j in sorted(movable, key=lambda x: self.uhh[x]):
                if hh[r] >= lo or hh[q] - self.uhh[j] < lo or hh[r] + self.uhh[j] > hi:
                    continue
                if _connected([u for u in self.members[q] if u != j], self.nbrs):
                    self._move(j, q, r)
            if hh[r] >= lo:
                break

    def repair(self) -> None:
        """Regions under the lower bound, smallest first: merge into a neighbour, else borrow units; then the
        local search of :func:`_rebalance`."""
        for r in sorted(range(len(self.members)), key=lambda x: self.households[x]):
            if self.members[r] and self.households[r] < self.lo and not self._merge(r):
                self._borrow(r)
        _rebalance(self.members, self.region, self.households, self.uhh, self.nbrs, lo=self.lo, hi=self.hi,
                   target=self.target)

    def join_patches(self) -> None:
        """A region merged across empty units takes the patch that joins its parts."""
        for patch in self.empty_patches:
            touching = {int(self.region[j]) for e in patch for j in self.nbrs[e]
                        if self.uhh[j] > 0 and self.region[j] >= 0}
            for r in touching:
                if not _connected(self.members[r], self.nbrs) and _connected(self.members[r] + list(patch), self.nbrs):
                    for e in patch:
                        self.region[e] = r
                    self.members[r] += list(patch)
                    break

    def _nearest_region(self, i: int) -> int:
        live = [q for q in range(len(self.members)) if self.members[q]]
        return min(live, key=lambda x: min(shapely.distance(self.ugeoms[i], self.ugeoms[u]) for u in self.members[x]))

    def absorb_empty_units(self) -> None:
        """Units still without a region join the neighbouring region they share most boundary with (isolated
        ones: the nearest region)."""
        pending = list(np.flatnonzero(self.region < 0))
        for _ in range(self.ugeoms.size + 1):
            if not pending:
                break
            left = []
            for i in pending:
                qs = [int(self.region[j]) for j in self.nbrs[i] if self.region[j] >= 0]
                if not qs:
                    left.append(i)
                    continue
                q = max(set(qs), key=lambda x: sum(1 for j in self.nbrs[i] if self.region[j] == x))
                self.region[i] = q
                self.members[q].append(int(i))
            if len(left) == len(pending):
                for i in left:
                    q = self._nearest_region(i)
                    self.region[i] = q
                    self.members[q].append(int(i))
                left = []
            pending = left

    def numbered(self) -> tuple[np.ndarray, int, int]:
        """``(region per unit numbered 0…, regions within the bounds, regions)``."""
        live = [r for r in range(len(self.members)) if self.members[r]]
        remap = np.full(len(self.members), -1)
        remap[live] = np.arange(len(live))
        region = remap[self.region]
        hh = np.bincount(region, weights=self.uhh, minlength=len(live))
        return region, int(((hh >= self.lo) & (hh <= self.hi)).sum()), len(live)


def _regionalise(blocks, owner, bg, bhh, *, unit_max, lo, hi, total, min_shared):
    """Units (blocks split above ``unit_max`` households) grown into regions; returns
    ``(units, unit geoms, region per unit, regions within bounds, regions)``."""
    units = _units(blocks, owner, bg, bhh, unit_max)
    ugeoms = np.asarray([u[0] for u in units], dtype=object)
    uhh = np.array([int(bhh[u[1]].sum()) for u in units], dtype=np.int64)
    k_grids = max(1, round(total / ((lo + hi) / 2))) if total else 1
    regions = _Regions(ugeoms, uhh, _adjacency(ugeoms, min_shared), lo=lo, hi=hi,
                       target=min(hi, max(lo, total / k_grids)))
    regions.grow()
    regions.repair()
    regions.join_patches()
    if not any(regions.members):
        regions.region[:] = 0
        return units, ugeoms, regions.region, int(lo <= total <= hi), 1
    regions.absorb_empty_units()
    return (units, ugeoms, *regions.numbered())
