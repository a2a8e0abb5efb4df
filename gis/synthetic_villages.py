"""Generated settlements for the real villages (村) of 金川区: polygons, 排房 rows, one grid each, "七个一".

The villages' names and codes are real; their places and shapes are not (no public village polygons exist).
Each village is a settlement of about 700 m × 500 m inside the real 金川区 boundary, away from the urban core;
one in four has a detached second part (a MultiPolygon, as real villages with outlying hamlets do). Houses are
rows of one-storey courtyard houses (排房) with 4–8 households each and no stairwells.

"七个一" (活动阵地, 健身广场, 卫生室, 文化活动中心, 图书室, 小超市, 互助老人幸福院) stand around the village square;
a deliberate share of villages lacks one to three of them, so that the audit has something to find.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gis.domain import FACILITY_TYPES, SEVEN_ONES
from gis.synthetic_city import CORE, metres_to_deg, short_name

# Where each township's villages are placed (lon/lat windows inside 金川区, outside the core).
TOWNSHIP_WINDOWS = {
    "620302100000": (102.02, 38.40, 102.13, 38.485),  # 宁远堡镇: south-west of the city
    "620302101000": (102.27, 38.56, 102.45, 38.70),  # 双湾镇: north-east
}
DEFAULT_WINDOW = (102.26, 38.42, 102.40, 38.48)
COMPLETE_SHARE = 0.4
SEVEN_ZH = {code: zh for code, _, zh, _ in FACILITY_TYPES}


def _place_centres(n: int, window, county: shapely.Geometry, taken: list, rng) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = window
    core = shapely.box(*CORE).buffer(0.01)
    out: list[tuple[float, float]] = []
    min_d = 0.014
    for _ in range(20_000):
        if len(out) == n:
            break
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        p = shapely.Point(x, y)
        if not county.contains(p.buffer(0.01)) or core.contains(p):
            continue
        if all((x - a) ** 2 + (y - b) ** 2 > min_d**2 for a, b in taken + out):
            out.append((x, y))
    if len(out) < n:
        raise ValueError("could not place every village inside the county")
    return out


def generate_villages(villages: pd.DataFrame, county: shapely.Geometry, rng: np.random.Generator) -> dict:
    """Villages (columns ``code``, ``name``, ``township_code``) → dict of DataFrames ``villages``, ``buildings``,
    ``grids``, ``facilities`` and the list ``missing_seven_ones`` (village code, missing type codes)."""
    v_rows, b_rows, g_rows, f_rows, missing = [], [], [], [], []
    taken: list[tuple[float, float]] = []
    for township, group in villages.groupby("township_code", sort=True):
        centres = _place_centres(len(group), TOWNSHIP_WINDOWS.get(township, DEFAULT_WINDOW), county, taken, rng)
        taken.extend(centres)
        for (code, name), (cx, cy) in zip(zip(group["code"], group["name"]), centres):
            short = short_name(name)
            hx, hy = metres_to_deg(350, 250)
            main = shapely.box(cx - hx, cy - hy, cx + hx, cy + hy)
            parts = [main]
            if int(code[-2:]) % 4 == 1:  # a detached hamlet 900 m east
                ox, _ = metres_to_deg(900, 0)
                sx, sy = metres_to_deg(120, 100)
                parts.append(shapely.box(cx + ox - sx, cy - sy, cx + ox + sx, cy + sy))
            geom = shapely.multipolygons(parts)
            v_rows.append({"code": code, "geometry": geom})
            # Rows of 排房 on a lattice, leaving the village square (the centre) free.
            target = int(rng.integers(260, 460))
            households = 0
            hid = 0
            for part in parts:
                px0, py0, px1, py1 = part.bounds
                sx, sy = metres_to_deg(55, 28)
                for y in np.arange(py0 + sy, py1 - sy / 2, sy):
                    for x in np.arange(px0 + sx / 1.5, px1 - sx / 2, sx):
                        if abs(x - cx) < metres_to_deg(90, 0)[0] and abs(y - cy) < metres_to_deg(0, 70)[1]:
                            continue
                        if households >= target:
                            break
                        hh = int(rng.integers(4, 9))
                        households += hh
                        hid += 1
                        w, h = metres_to_deg(40, 10)
                        b_rows.append({"name": f"{short}{hid}排", "community_code": code, "floors": 1,
                                       "stairwells": [], "use": "residential", "households_flat": hh,
                                       "geometry": shapely.box(x - w / 2, y - h / 2, x + w / 2, y + h / 2)})
            g_rows.append({"code": code + "001", "name": f"{short}网格", "kind": "comprehensive",
                           "exclusive_type": None, "community_code": code, "geometry": geom})
            have = list(SEVEN_ONES)
            if rng.random() > COMPLETE_SHARE:
                drop = rng.choice(len(SEVEN_ONES), size=int(rng.integers(1, 4)), replace=False)
                lacking = sorted(SEVEN_ONES[i] for i in drop)
                have = [t for t in SEVEN_ONES if t not in lacking]
                missing.append({"village_code": code, "missing": lacking})
            for i, t in enumerate(have):
                ang = 2 * np.pi * i / len(SEVEN_ONES)
                dx, dy = metres_to_deg(50 * np.cos(ang), 40 * np.sin(ang))
                f_rows.append({"type_code": t, "name": f"{short}{SEVEN_ZH[t]}", "community_code": code,
                               "geometry": shapely.Point(cx + dx, cy + dy)})
    return {
        "villages": pd.DataFrame(v_rows),
        "buildings": pd.DataFrame(b_rows),
        "grids": pd.DataFrame(g_rows),
        "facilities": pd.DataFrame(f_rows),
        "missing_seven_ones": missing,
    }
