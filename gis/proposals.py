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
    t0 = time.perf_counter()
    opt = options or ProposalOptions()
    lo, hi = opt.min_households, opt.max_households
    projector = Projector.around(np.array([community], dtype=object), metric_crs)
    comm = shapely.make_valid(projector.forward(np.array([community], dtype=object))[0])
    bg = np.asarray(building_geoms, dtype=object)
    bg = projector.forward(bg) if bg.size else bg
    bhh = np.asarray(building_households, dtype=np.int64) if bg.size else np.zeros(0, np.int64)
    st = (
        projector.forward(np.asarray(streets, dtype=object)) if streets is not None and len(streets) else None
    )
    total = int(bhh.sum())
    notes: list[str] = []

    # 1. blocks and the buildings in them
    blocks = street_blocks(comm, st)
    bpts = shapely.point_on_surface(bg) if bg.size else bg
    owner = np.full(bg.size, -1)
    if bg.size:
        pi, bi = shapely.STRtree(blocks).query(bpts, predicate="intersects")
        first = np.r_[True, pi[1:] != pi[:-1]] if pi.size else np.zeros(0, bool)
        owner[pi[first]] = bi[first]
        stray = np.flatnonzero(owner < 0)
        if stray.size:  # outside every block (outside the community): nearest block
            owner[stray] = shapely.STRtree(blocks).nearest(bpts[stray])
    # 2–3. units and regions, trying finer units only when they put more grids within the bounds
    best = None
    for unit_max in (hi, hi - lo, (hi - lo) / 2):
        if unit_max <= 0:
            continue
        attempt = _regionalise(
            blocks,
            owner,
            bg,
            bhh,
            unit_max=unit_max,
            lo=lo,
            hi=hi,
            total=total,
            min_shared=opt.min_shared_boundary_m,
        )
        score = (attempt[3], -len(attempt[0]))
        if best is None or score > best[0]:
            best = (score, attempt)
        if attempt[3] == attempt[4]:  # every grid within the bounds: keep the coarsest units (most streets)
            break
    units, ugeoms, region, _, _ = best[1]
    regions = [list(np.flatnonzero(region == r)) for r in range(int(region.max()) + 1)]

    # 4. grids: union of units, own buildings whole, other grids' buildings out
    live = list(range(len(regions)))
    geoms = np.asarray([shapely.union_all(ugeoms[regions[r]]) for r in live], dtype=object)
    bunit = np.zeros(bg.size, dtype=int)
    for k, (_, idx) in enumerate(units):
        bunit[idx] = k
    bregion = region[bunit]
    remap = {r: k for k, r in enumerate(live)}
    bgrid = np.array([remap[r] for r in bregion], dtype=int)
    if bg.size:
        btree = shapely.STRtree(bg)
        for k in range(geoms.size):
            own = bg[bgrid == k]
            near = btree.query(geoms[k], predicate="intersects")
            others = bg[near[bgrid[near] != k]]
            g = shapely.union_all(np.concatenate([[geoms[k]], own])) if own.size else geoms[k]
            g = shapely.intersection(
                g, shapely.union_all(np.concatenate([[comm], own]))
            )  # clip to the community
            if others.size:
                g = shapely.difference(g, shapely.union_all(others))
            geoms[k] = polygonal(shapely.make_valid(g))
    for k in range(geoms.size):  # drop hair-line artefacts of the overlays (< 1 m²)
        parts = shapely.get_parts(np.array([geoms[k]]))
        geoms[k] = shapely.MultiPolygon(list(parts[shapely.area(parts) >= 1.0]))
    hh_out = np.array([int(bhh[bgrid == k].sum()) for k in range(geoms.size)], dtype=np.int64)
    nb = np.array([int((bgrid == k).sum()) for k in range(geoms.size)], dtype=np.int64)
    pp = polsby_popper(geoms)
    order = reading_order(geoms)
    out_geoms = np.asarray([polygonal(shapely.make_valid(g)) for g in projector.inverse(geoms)], dtype=object)
    grids = []
    for k in order:
        reason = None
        if hh_out[k] > hi:
            own = np.flatnonzero(bgrid == k)
            biggest = int(bhh[own].max()) if own.size else 0
            if biggest > hi:
                reason = (
                    f"单栋楼 {biggest} 户，超过上限 {hi} 户，楼栋不能拆分 "
                    f"(a single building of {biggest} households cannot be split)"
                )
            else:
                reason = f"{hh_out[k]} 户：楼栋之间没有可切分的空隙 (no gap between buildings to split at)"
        elif hh_out[k] < lo:
            if total < lo:
                reason = f"社区共 {total} 户，不足一个网格的下限 {lo} 户 (the whole community is below {lo})"
            else:
                reason = (
                    f"{hh_out[k]} 户：与相邻网格合并会超过 {hi} 户，或被道路/边界隔开 "
                    f"(merging with a neighbour would exceed {hi}, or it is cut off)"
                )
        grids.append(ProposedGrid(out_geoms[k], int(hh_out[k]), int(nb[k]), round(float(pp[k]), 4), reason))
    notes.append(
        f"{blocks.size} 个街区, {ugeoms.size} 个单元 ({blocks.size} street blocks, {ugeoms.size} units)"
    )
    return Proposal(
        grids=grids, total_households=total, seconds=time.perf_counter() - t0, options=opt, notes=notes
    )


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


def _regionalise(blocks, owner, bg, bhh, *, unit_max, lo, hi, total, min_shared):
    """Units (blocks split above ``unit_max`` households) grown into regions; returns
    ``(units, unit geoms, region per unit, regions within bounds, regions)``."""
    units: list[tuple[Any, np.ndarray]] = []
    for b, poly in enumerate(blocks):
        idx = np.flatnonzero(owner == b)
        hh = int(bhh[idx].sum())
        k = max(1, math.ceil(hh / unit_max)) if hh > unit_max else 1
        _bisect(poly, idx, bg, bhh, k, units)
    ugeoms = np.asarray([u[0] for u in units], dtype=object)
    uhh = np.array([int(bhh[u[1]].sum()) for u in units], dtype=np.int64)
    nbrs = _adjacency(ugeoms, min_shared)
    cent = shapely.centroid(ugeoms)
    cx, cy = shapely.get_x(cent), shapely.get_y(cent)

    # 3. grow regions
    k_grids = max(1, round(total / ((lo + hi) / 2))) if total else 1
    target = min(hi, max(lo, total / k_grids))
    region = np.full(ugeoms.size, -1)
    regions: list[list[int]] = []
    rhh: list[int] = []
    for seed in reading_order(ugeoms):
        if region[seed] >= 0 or uhh[seed] == 0:
            continue
        r = len(regions)
        members, hh = [int(seed)], int(uhh[seed])
        region[seed] = r
        while hh < target * 0.97:
            cand = {j for i in members for j in nbrs[i] if region[j] < 0 and uhh[j] > 0 and hh + uhh[j] <= hi}
            if not cand:
                break
            mx = np.average(cx[members], weights=np.maximum(uhh[members], 1))
            my = np.average(cy[members], weights=np.maximum(uhh[members], 1))
            j = min(cand, key=lambda c: (cx[c] - mx) ** 2 + (cy[c] - my) ** 2)
            members.append(j)
            region[j] = r
            hh += int(uhh[j])
        regions.append(members)
        rhh.append(hh)

    # household units also neighbour each other across a patch of empty units (a park, a school): a region
    # cut off by one may merge across it, the patch then joining that region
    empty_comp = _empty_components(uhh, nbrs)
    across: list[set[int]] = [set() for _ in range(ugeoms.size)]
    for members in empty_comp:
        touching = {j for e in members for j in nbrs[e] if uhh[j] > 0}
        for j in touching:
            across[j] |= touching - {j}

    def region_nbrs(r: int, *, bridged: bool = False) -> set[int]:
        out = {int(region[j]) for i in regions[r] for j in nbrs[i] if region[j] >= 0 and region[j] != r}
        if bridged:
            out |= {int(region[j]) for i in regions[r] for j in across[i] if region[j] >= 0 and region[j] != r}
        return out

    # repair: merge small regions into a neighbour, else borrow a unit from one that can spare it
    for r in sorted(range(len(regions)), key=lambda x: rhh[x]):
        if not regions[r] or rhh[r] >= lo:
            continue
        options_ = [q for q in region_nbrs(r) if regions[q] and rhh[q] + rhh[r] <= hi]
        if not options_ and not region_nbrs(r):  # cut off from every other region: merge across empty units
            options_ = [q for q in region_nbrs(r, bridged=True) if regions[q] and rhh[q] + rhh[r] <= hi]
        if options_:
            q = min(options_, key=lambda x: rhh[x])
            for i in regions[r]:
                region[i] = q
            regions[q] += regions[r]
            rhh[q] += rhh[r]
            regions[r], rhh[r] = [], 0
            continue
        for q in sorted(region_nbrs(r), key=lambda x: -rhh[x]):
            movable = [
                j
                for i in regions[r]
                for j in nbrs[i]
                if region[j] == q
                and uhh[j] > 0
                and rhh[q] - uhh[j] >= lo
                and rhh[r] + uhh[j] <= hi
                and len(regions[q]) > 1
            ]
            for j in sorted(set(movable), key=lambda x: uhh[x]):
                if rhh[r] >= lo or rhh[q] - uhh[j] < lo or rhh[r] + uhh[j] > hi:
                    continue
                rest = [u for u in regions[q] if u != j]
                if not _connected(rest, nbrs):
                    continue
                regions[q] = rest
                regions[r].append(j)
                region[j] = r
                rhh[q] -= int(uhh[j])
                rhh[r] += int(uhh[j])
            if rhh[r] >= lo:
                break
    _rebalance(regions, region, rhh, uhh, nbrs, lo=lo, hi=hi, target=target)
    # a region merged across empty units takes the patch that joins its parts
    for members in empty_comp:
        touching = {int(region[j]) for e in members for j in nbrs[e] if uhh[j] > 0 and region[j] >= 0}
        for r in touching:
            if not _connected(regions[r], nbrs) and _connected(regions[r] + list(members), nbrs):
                for e in members:
                    region[e] = r
                regions[r] += list(members)
                break
    # empty units join the neighbouring region they share most boundary with
    if not any(regions):
        region[:] = 0
        return units, ugeoms, region, int(lo <= total <= hi), 1
    pending = list(np.flatnonzero(region < 0))
    for _ in range(ugeoms.size + 1):
        if not pending:
            break
        left = []
        for i in pending:
            qs = [int(region[j]) for j in nbrs[i] if region[j] >= 0]
            if not qs:
                left.append(i)
                continue
            q = max(set(qs), key=lambda x: sum(1 for j in nbrs[i] if region[j] == x))
            region[i] = q
            regions[q].append(int(i))
        if len(left) == len(pending):
            for i in left:  # isolated pieces: nearest region
                live = [q for q in range(len(regions)) if regions[q]]
                q = min(live, key=lambda x: min(shapely.distance(ugeoms[i], ugeoms[u]) for u in regions[x]))
                region[i] = q
                regions[q].append(int(i))
            left = []
        pending = left
    live = [r for r in range(len(regions)) if regions[r]]
    remap = np.full(len(regions), -1)
    remap[live] = np.arange(len(live))
    region = remap[region]
    hh = np.bincount(region, weights=uhh, minlength=len(live))
    return units, ugeoms, region, int(((hh >= lo) & (hh <= hi)).sum()), len(live)
