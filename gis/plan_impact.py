"""Impact of a draft plan against the plan in force: which grids change, and what moves between grids.

Pure functions over arrays: grids matched by code (new, removed, changed with area gained and lost in m²), and
points (buildings' points on surface, incidents) located in each plan's grids, exclusive grids first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from gis.domain import GridKind
from gis.plan_validation import Projector, polygonal


def repaired(geoms: Sequence | np.ndarray) -> np.ndarray:
    """The geometries with invalid ones made valid (polygonal part only), so that overlays never fail."""
    arr = np.asarray(geoms, dtype=object)
    if not arr.size:
        return arr
    bad = np.flatnonzero(~shapely.is_valid(arr))
    arr = arr.copy()
    for i in bad:
        arr[i] = polygonal(shapely.make_valid(arr[i]))
    return arr


def locate_points(
    points: Sequence | np.ndarray, geoms: Sequence | np.ndarray, kinds: Sequence[str] | None = None
) -> np.ndarray:
    """Index of the grid that covers each point (exclusive grids first, then the lowest index), or -1."""
    pts = np.asarray(points, dtype=object)
    out = np.full(pts.size, -1, dtype=np.int64)
    g = repaired(geoms)
    if not pts.size or not g.size:
        return out
    excl = np.asarray(
        [k == GridKind.EXCLUSIVE.value for k in kinds] if kinds is not None else np.zeros(g.size, bool), bool
    )
    pi, gi = shapely.STRtree(g).query(pts, predicate="intersects")
    order = np.lexsort((gi, ~excl[gi], pi))
    pi, gi = pi[order], gi[order]
    first = np.r_[True, pi[1:] != pi[:-1]]
    out[pi[first]] = gi[first]
    return out


def grid_changes(
    base_codes: Sequence[str],
    base_geoms: Sequence | np.ndarray,
    draft_codes: Sequence[str],
    draft_geoms: Sequence | np.ndarray,
    *,
    metric_crs: str | None = None,
    tolerance_m2: float = 1.0,
) -> dict[str, list[dict[str, Any]]]:
    """Grids new in the draft, removed from it, and changed (same code, area gained/lost > ``tolerance_m2``).

    Geometries are WGS84; areas are in m².
    """
    base = dict(zip(base_codes, repaired(base_geoms)))
    draft = dict(zip(draft_codes, repaired(draft_geoms)))
    allg = np.asarray(list(base.values()) + list(draft.values()), dtype=object)
    projector = Projector.around(allg, metric_crs) if allg.size else Projector("EPSG:4543")
    common = sorted(set(base) & set(draft))
    new = sorted(set(draft) - set(base))
    removed = sorted(set(base) - set(draft))
    changed = []
    if common:
        b = projector.forward(np.asarray([base[c] for c in common], dtype=object))
        d = projector.forward(np.asarray([draft[c] for c in common], dtype=object))
        gained = shapely.area(shapely.difference(d, b))
        lost = shapely.area(shapely.difference(b, d))
        for k in np.flatnonzero((gained > tolerance_m2) | (lost > tolerance_m2)):
            changed.append(
                {
                    "code": common[k],
                    "area_gained_m2": round(float(gained[k]), 1),
                    "area_lost_m2": round(float(lost[k]), 1),
                    "area_before_m2": round(float(shapely.area(b[k])), 1),
                    "area_after_m2": round(float(shapely.area(d[k])), 1),
                }
            )

    def areas(codes: list[str], table: dict) -> list[dict[str, Any]]:
        if not codes:
            return []
        a = shapely.area(projector.forward(np.asarray([table[c] for c in codes], dtype=object)))
        return [{"code": c, "area_m2": round(float(x), 1)} for c, x in zip(codes, a)]

    return {
        "new": areas(new, draft),
        "removed": areas(removed, base),
        "changed": changed,
        "unchanged": len(common) - len(changed),
    }
