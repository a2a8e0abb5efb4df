"""Seeded synthetic data for the planning benchmarks and tests (every feature is synthetic).

``synthetic_community``: a community with a jittered street grid, rows of residential buildings in each block
(and optionally one tower too big for any grid). ``synthetic_plan``: many communities tiled by grids with
buildings inside, for timing validation at scale. Coordinates are built in EPSG:4543 near Jinchang and
returned in WGS84.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, box

from gis.plan_validation import Projector

ORIGIN = (520_000.0, 4_255_000.0)  # EPSG:4543, ≈ 102.23 E, 38.43 N
PROJ = Projector("EPSG:4543")


def _to84(geoms) -> np.ndarray:
    return PROJ.inverse(np.asarray(geoms, dtype=object))


@dataclass
class SyntheticCommunity:
    """A community polygon, its streets and buildings (WGS84), with households per building."""

    community: object
    streets: np.ndarray
    buildings: np.ndarray
    households: np.ndarray


def synthetic_community(
    households: int = 20_000,
    *,
    seed: int = 7,
    block_m: tuple[float, float] = (220.0, 160.0),
    tower_households: int | None = None,
    origin: tuple[float, float] = ORIGIN,
) -> SyntheticCommunity:
    """A rectangular community of about ``households`` households on a jittered street grid."""
    rng = np.random.default_rng(seed)
    per_block = 6 * 48  # six buildings of ~48 households
    n_blocks = max(1, round(households / per_block))
    nx = max(1, round(np.sqrt(n_blocks * block_m[1] / block_m[0])))
    ny = max(1, int(np.ceil(n_blocks / nx)))
    bw, bh = block_m
    xs = np.r_[0, np.cumsum(bw + rng.uniform(-30, 30, nx))]
    ys = np.r_[0, np.cumsum(bh + rng.uniform(-20, 20, ny))]
    ox, oy = origin
    community = box(ox, oy, ox + xs[-1], oy + ys[-1])
    streets = [LineString([(ox + x, oy - 50), (ox + x, oy + ys[-1] + 50)]) for x in xs[1:-1]]
    streets += [LineString([(ox - 50, oy + y), (ox + xs[-1] + 50, oy + y)]) for y in ys[1:-1]]
    buildings, hh = [], []
    for i in range(nx):
        for j in range(ny):
            x0, x1, y0, y1 = xs[i] + 15, xs[i + 1] - 15, ys[j] + 15, ys[j + 1] - 15
            rows, cols = 3, 2
            w, h = (x1 - x0) / cols, (y1 - y0) / rows
            for c in range(cols):
                for r in range(rows):
                    bx, by = ox + x0 + c * w, oy + y0 + r * h
                    buildings.append(box(bx + 5, by + 8, bx + w - 5, by + h - 8))
                    hh.append(int(rng.integers(24, 73)))
    hh_arr = np.asarray(hh, dtype=np.int64)
    hh_arr = np.maximum(1, np.round(hh_arr * households / hh_arr.sum())).astype(np.int64)
    if tower_households:
        hh_arr[len(hh_arr) // 2] = tower_households
    return SyntheticCommunity(_to84([community])[0], _to84(streets), _to84(buildings), hh_arr)


@dataclass
class SyntheticPlan:
    """A plan of many communities (codes, WGS84 grids) and buildings with households/residents."""

    codes: list[str]
    geoms: np.ndarray
    community_codes: list[str]
    communities: dict[str, object]
    buildings: np.ndarray
    households: np.ndarray
    residents: np.ndarray


def synthetic_plan(
    n_grids: int = 1000,
    n_buildings: int = 50_000,
    *,
    seed: int = 11,
    grids_per_community: int = 25,
    defects: int = 20,
) -> SyntheticPlan:
    """``n_grids`` grids of 150 m (25 per community) with ``n_buildings`` buildings and a few defects."""
    rng = np.random.default_rng(seed)
    side = 150.0
    cols = int(np.ceil(np.sqrt(n_grids)))
    ox, oy = ORIGIN
    geoms, codes, comms = [], [], []
    per_side = int(np.sqrt(grids_per_community))
    communities: dict[str, object] = {}
    for k in range(n_grids):
        i, j = k % cols, k // cols
        g = box(ox + i * side, oy - j * side, ox + (i + 1) * side, oy - (j - 1) * side - side + side)
        ci, cj = i // per_side, j // per_side
        comm = f"620302{(cj % 900) + 100:03d}{ci + 1:03d}"
        geoms.append(g)
        comms.append(comm)
    for comm in sorted(set(comms)):
        members = [g for g, c in zip(geoms, comms) if c == comm]
        communities[comm] = shapely.union_all(members).envelope
    seq: dict[str, int] = {}
    for c in comms:
        seq[c] = seq.get(c, 0) + 1
        codes.append(f"{c}{seq[c]:03d}")
    # defects: move a few grids a little (overlap on one side, gap on the other)
    for k in rng.choice(n_grids, size=min(defects, n_grids), replace=False):
        geoms[k] = shapely.affinity.translate(geoms[k], 8.0, 0.0)
    per = n_buildings // n_grids
    cx = np.repeat([g.bounds[0] for g in geoms], per)
    cy = np.repeat([g.bounds[1] for g in geoms], per)
    px = cx + rng.uniform(8, side - 22, cx.size)
    py = cy + rng.uniform(8, side - 18, cy.size)
    bld = shapely.box(px, py, px + 14, py + 10)
    hh = rng.integers(4, 12, bld.size)
    return SyntheticPlan(
        codes, _to84(geoms), comms, {c: _to84([g])[0] for c, g in communities.items()}, _to84(bld), hh, hh * 3
    )
