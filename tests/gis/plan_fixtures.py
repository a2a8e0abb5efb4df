"""A hand-made test plan in metric coordinates (EPSG:4543, Jinchang), with switchable defects.

One community 1,500 × 600 m split into 3-by-2 … grids of 300 × 300 m, one 400-household building in each; the
defects are applied one at a time or all together. ``make_plan()`` returns WGS84 shapely geometries.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Polygon, box

from gis.plan_validation import Projector

X0, Y0 = 516_000.0, 4_250_000.0  # ≈ 102.18 E, 38.39 N: south of the demo's urban core
COMMUNITY = "620302004002"
DEFECTS = (
    "invalid_geometry", "outside_community", "overlap", "gap", "sliver", "building_cut",
    "households_out_of_bounds", "residents_over_limit", "no_grid_worker", "exclusive_outside", "duplicate_code",
)
PROJ = Projector("EPSG:4543")


def _m(geom):
    return shapely.affinity.translate(geom, X0, Y0)


def code(i: int) -> str:
    return f"{COMMUNITY}{i:03d}"


def make_plan(defects=DEFECTS) -> dict:
    """The plan as arrays: grids, buildings, the community polygon and the staffed codes (all WGS84)."""
    d = set(defects)
    grids = {
        1: box(0, 300, 300, 600),
        2: box(300, 300, 600, 600),
        3: box(590 if "overlap" in d else 600, 300, 900, 600),
        4: box(900, 300, 1200, 610 if "outside_community" in d else 600),
        5: (Polygon([(0, 0), (300, 0), (300, 300), (150, 300), (150, 310), (150, 300), (0, 300)])
            if "invalid_geometry" in d else box(0, 0, 300, 300)),
        6: box(300, 0, 600, 290 if "gap" in d else 300),
        7: box(600, 0, 900, 300),
        8: box(900, 0, 1200, 300),
        9: box(1200, 300, 1500, 600),
        10: (box(1200, 0, 1500, 300).difference(box(1480, 0, 1500, 20)) if "sliver" in d
             else box(1200, 0, 1500, 300)),
    }
    if "sliver" in d:
        grids[11] = box(1480, 0, 1500, 20)
    codes = [code(i) for i in grids]
    kinds = ["comprehensive"] * len(grids)
    geoms = list(grids.values())
    # exclusive grids: one properly inside grid 1, one straddling grids 7 and 8 when that defect is on.
    codes.append(code(1) if "duplicate_code" in d else code(21))
    kinds.append("exclusive")
    geoms.append(box(20, 520, 60, 560))
    codes.append(code(22))
    kinds.append("exclusive")
    geoms.append(box(880, 100, 920, 140) if "exclusive_outside" in d else box(820, 100, 860, 140))

    buildings, hh, rs = [], [], []
    for i, gm in grids.items():
        if i == 11:
            buildings.append(box(1485, 2, 1498, 18))
            hh.append(400)
            rs.append(1000)
            continue
        x0, y0, x1, y1 = gm.bounds
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        buildings.append(box(cx - 20, cy - 20, cx + 20, cy + 20))
        hh.append(200 if (i == 8 and "households_out_of_bounds" in d) else 400)
        rs.append(2600 if (i == 9 and "residents_over_limit" in d) else 1000)
    if "building_cut" in d:
        buildings.append(box(1300, 285, 1320, 305))
    else:
        buildings.append(box(1300, 265, 1320, 285))
    hh.append(0)
    rs.append(0)

    staffed = set(codes)
    if "no_grid_worker" in d:
        staffed.discard(code(7))
    to84 = lambda gs: list(PROJ.inverse(np.asarray([_m(x) for x in gs], dtype=object)))  # noqa: E731
    return {
        "codes": codes,
        "geoms": to84(geoms),
        "kinds": kinds,
        "community_codes": [COMMUNITY] * len(codes),
        "communities": {COMMUNITY: to84([box(0, 0, 1500, 600)])[0]},
        "building_geoms": to84(buildings),
        "building_households": hh,
        "building_residents": rs,
        "staffed_codes": staffed,
    }
