"""A deterministic, generated urban core for the Jinchang demo: streets, community polygons, buildings, grids.

No real streets, buildings or community polygons of Jinchang are reachable, so the demo draws a plausible city
inside the real 金川区 boundary (about 102.15–102.24 E, 38.49–38.54 N) and names its communities with the real
names and codes of the 26 urban 社区 of 金川区. Everything made here is ``synthetic``; nothing here is a survey.

Layout
------
* 30 north–south main streets (经一路 … 经三十路) and 24 east–west main streets (纬一路 … 纬二十四路): the 54 main
  streets that get 包街 units. Each block between main streets is split by a north–south and an east–west lane
  into four quarters; a few lane segments are left out (walls without a gate).
* The blocks are grouped into a 7 × 4 lattice of community areas, filled street by street (街道) in serpentine
  order so that each 街道 is one connected piece; the last two cells are an industrial area with no community.
* Quarters hold 0–2 residential slabs (5–18 floors, 2–4 stairwells, two households per floor and stairwell) or
  a special use: the community service centre, a park, a school, a farmers' market, a hospital.
* Grids tile each community: its quarters in serpentine order are cut into runs of about 400 households (the
  300–500 band); schools, markets and hospitals are also exclusive grids (专属网格) inside them.

All randomness comes from one ``numpy.random.Generator``: the same seed gives the same city, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from gis.gridcodes import assign_codes, make_code

CORE = (102.150, 38.490, 102.240, 38.540)
N_NS, N_EW = 30, 24
COL_GROUPS = (4, 4, 4, 4, 4, 4, 5)  # block columns per lattice column (29 blocks west → east)
ROW_GROUPS = (6, 6, 6, 5)  # block rows per lattice row (23 blocks north → south)
M_PER_DEG_Y = 110_950.0
M_PER_DEG_X = 111_320.0 * float(np.cos(np.radians(38.515)))
TARGET_HOUSEHOLDS = 400
SOURCE = "synthetic"

_NUM = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 24 → 二十四 (for street names up to 99)."""
    if n < 10:
        return _NUM[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _NUM[tens]) + "十" + ("" if ones == 0 else _NUM[ones])


def metres_to_deg(dx_m: float, dy_m: float) -> tuple[float, float]:
    """A small offset in metres as degrees of longitude and latitude around the core."""
    return dx_m / M_PER_DEG_X, dy_m / M_PER_DEG_Y


def short_name(name: str) -> str:
    """龙集里社区居委会 → 龙集里社区; 中牌村委会 → 中牌村."""
    for suffix, short in (("社区居委会", "社区"), ("居委会", "社区"), ("村委会", "村"), ("村民委员会", "村")):
        if name.endswith(suffix):
            return name[: -len(suffix)] + short
    return name


@dataclass
class UrbanCore:
    """The generated core. Geometries are EPSG:4326 shapely objects; ``key`` columns are 0-based ids."""

    edges: pd.DataFrame  # u, v, name, highway, length_m, geometry
    streets: pd.DataFrame  # name, highway, geometry (MultiLineString): the 54 main streets
    lanes: pd.DataFrame  # name, geometry: named lanes (for the 包街 report: no unit yet)
    communities: pd.DataFrame  # code, name, township_code, geometry
    buildings: pd.DataFrame  # key, name, community_code, floors, stairwells (households each), households, use, geometry
    grids: pd.DataFrame  # code, name, kind, exclusive_type, community_code, geometry
    facilities: pd.DataFrame  # type_code, name, community_code, address, geometry
    industrial: shapely.Polygon = field(default=None)


def _lines(lo: float, hi: float, n: int, rng: np.random.Generator) -> np.ndarray:
    base = np.linspace(lo, hi, n)
    jitter = rng.uniform(-0.12, 0.12, n) * (hi - lo) / (n - 1)
    jitter[[0, -1]] = 0.0
    return base + jitter


def _serpentine_cells() -> list[tuple[int, int]]:
    cells = []
    for c in range(len(COL_GROUPS)):
        rows = range(len(ROW_GROUPS)) if c % 2 == 0 else reversed(range(len(ROW_GROUPS)))
        cells.extend((c, r) for r in rows)
    return cells


def _group_index(groups: tuple[int, ...]) -> np.ndarray:
    return np.repeat(np.arange(len(groups)), groups)


def build_streets(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Main streets and lanes as a walking network; returns the line positions X, Y (main and lane lines
    interleaved, west→east and south→north), the edges, the 54 main streets and six named lanes."""
    x0, y0, x1, y1 = CORE
    xs, ys = _lines(x0, x1, N_NS, rng), _lines(y0, y1, N_EW, rng)
    X = np.empty(2 * N_NS - 1)
    X[0::2], X[1::2] = xs, (xs[:-1] + xs[1:]) / 2
    Y = np.empty(2 * N_EW - 1)
    Y[0::2], Y[1::2] = ys, (ys[:-1] + ys[1:]) / 2
    ny = len(Y)

    def node(a: int, b: int) -> int:
        return a * ny + b + 1

    rows = []
    for a in range(len(X)):  # north–south lines
        main = a % 2 == 0
        name = f"经{chinese_number(a // 2 + 1)}路" if main else None
        for b in range(ny - 1):
            rows.append((node(a, b), node(a, b + 1), name, main, (X[a], Y[b]), (X[a], Y[b + 1])))
    for b in range(ny):  # east–west lines
        main = b % 2 == 0
        name = f"纬{chinese_number(b // 2 + 1)}路" if main else None
        for a in range(len(X) - 1):
            rows.append((node(a, b), node(a + 1, b), name, main, (X[a], Y[b]), (X[a + 1], Y[b])))
    edges = pd.DataFrame(rows, columns=["u", "v", "name", "main", "p0", "p1"])
    # Some lane segments are walls with no gate: leave 8% of them out.
    drop = (~edges["main"]) & (rng.random(len(edges)) < 0.08)
    edges = edges[~drop].reset_index(drop=True)
    highways = np.where(edges["main"], "secondary", "residential")
    first_last = edges["name"].isin(["经一路", f"经{chinese_number(N_NS)}路", "纬一路", f"纬{chinese_number(N_EW)}路"])
    highways = np.where(first_last, "primary", highways)
    geoms = shapely.linestrings(np.stack([np.stack(edges["p0"].to_list()), np.stack(edges["p1"].to_list())], axis=1))
    d = np.stack(edges["p1"].to_list()) - np.stack(edges["p0"].to_list())
    length = np.hypot(d[:, 0] * M_PER_DEG_X, d[:, 1] * M_PER_DEG_Y)
    out = pd.DataFrame({"u": edges["u"], "v": edges["v"], "name": edges["name"], "highway": highways,
                        "length_m": length.round(2), "geometry": geoms})
    main = out[out["name"].notna()]
    streets = (main.groupby("name", sort=False)
               .agg(geometry=("geometry", lambda g: shapely.multilinestrings(list(g))),
                    highway=("highway", "first"))
               .reset_index())
    # Six named lanes that nobody has taken on yet (they show in the 包街 "without a unit" report).
    lane_rows = []
    for k, b in enumerate((5, 13, 21, 29, 37, 45)):
        a0 = 8 * k + 2
        lane_rows.append({"name": f"纬{chinese_number(b // 2 + 1)}路北巷",
                          "geometry": shapely.multilinestrings([shapely.LineString([(X[a0], Y[b]), (X[a0 + 6], Y[b])])])})
    return X, Y, out, streets, pd.DataFrame(lane_rows)


def _cell_box(X: np.ndarray, Y: np.ndarray, qa: int, qb: int, inset_m: float = 0.0) -> shapely.Polygon:
    dx, dy = metres_to_deg(inset_m, inset_m)
    return shapely.box(X[qa] + dx, Y[qb] + dy, X[qa + 1] - dx, Y[qb + 1] - dy)


def _slab(cx: float, cy: float, length_m: float, depth_m: float) -> shapely.Polygon:
    hx, hy = metres_to_deg(length_m / 2, depth_m / 2)
    return shapely.box(cx - hx, cy - hy, cx + hx, cy + hy)


def _corner_point(X, Y, qa, qb, rng, corner: int) -> shapely.Point:
    """A point 6–9 m inside one corner of a quarter (outside every slab, which keep 15 m from the edges)."""
    dx, dy = metres_to_deg(rng.uniform(6, 9), rng.uniform(6, 9))
    x = X[qa] + dx if corner in (0, 3) else X[qa + 1] - dx
    y = Y[qb] + dy if corner in (0, 1) else Y[qb + 1] - dy
    return shapely.Point(x, y)


SPECIAL_USES = {"centre": "public", "park": None, "school": "school", "market": "market", "hospital": "hospital"}
EXCLUSIVE = {"school": "学校", "market": "农贸市场", "hospital": "医院"}


def _community_of_quarters(X: np.ndarray, Y: np.ndarray, n_communities: int) -> np.ndarray:
    """The community index of each street quarter (-1: the industrial park), laid out in serpentine cells."""
    nqa, nqb = len(X) - 1, len(Y) - 1  # quarters: 58 × 46
    lat_col = _group_index(COL_GROUPS)[np.arange(nqa) // 2]
    lat_row = _group_index(ROW_GROUPS)[(nqb - 1 - np.arange(nqb)) // 2]
    cells = _serpentine_cells()
    if n_communities > len(cells):
        raise ValueError(f"at most {len(cells)} urban communities fit the core")
    cell_of = {cell: i for i, cell in enumerate(cells)}
    comm_index = np.full((nqa, nqb), -1)
    for qa in range(nqa):
        for qb in range(nqb):
            k = cell_of[(int(lat_col[qa]), int(lat_row[qb]))]
            comm_index[qa, qb] = k if k < n_communities else -1
    return comm_index


def _serpentine_order(qas: np.ndarray, qbs: np.ndarray) -> list[tuple[int, int]]:
    """A community's quarters in serpentine order: rows north → south, alternating direction."""
    order = []
    for r, qb in enumerate(sorted(set(qbs), reverse=True)):
        row = sorted(qas[qbs == qb])
        order.extend((a, qb) for a in (row if r % 2 == 0 else row[::-1]))
    return order


def _special_quarters(k: int, order: list, rng: np.random.Generator) -> dict[tuple[int, int], str]:
    """The quarters of community ``k`` given to its centre, park, and (some communities) school, market,
    hospital."""
    picks = rng.choice(len(order), size=5, replace=False)
    special = {order[picks[0]]: "centre", order[picks[1]]: "park"}
    if k % 2 == 0:
        special[order[picks[2]]] = "school"
    if k % 4 == 1:
        special[order[picks[3]]] = "market"
    if k == 7:
        special[order[picks[4]]] = "hospital"
    return special


@dataclass
class _Community:
    """One urban community being generated: its quarters and what has been made in them."""

    k: int
    code: str
    name: str
    order: list
    special: dict
    buildings: list = field(default_factory=list)
    grids: list = field(default_factory=list)
    facilities: list = field(default_factory=list)


def _special_building(c: _Community, use: str, cx: float, cy: float) -> None:
    if not SPECIAL_USES[use]:
        return
    floors = {"public": 3, "school": 4, "market": 1, "hospital": 8}[SPECIAL_USES[use]]
    label = {"centre": "社区服务中心", "school": "学校", "market": "农贸市场", "hospital": "社区医院"}[use]
    c.buildings.append({"name": f"{c.name}{label}（合成）", "community_code": c.code, "floors": floors,
                        "stairwells": [], "use": SPECIAL_USES[use], "geometry": _slab(cx, cy, 60, 30)})


def _residential_building(c: _Community, cx: float, y: float, rng: np.random.Generator) -> int:
    """One block of flats (5–6, 7–11 or 15–18 floors); its households."""
    kind = rng.random()
    floors = int(rng.integers(5, 7)) if kind < 0.7 else (int(rng.integers(7, 12)) if kind < 0.9 else
                                                          int(rng.integers(15, 19)))
    n_sw = int(rng.integers(2, 4)) if floors < 15 else 2
    per_floor = 2 if floors < 15 else 4
    c.buildings.append({"name": f"{c.name}{len(c.buildings) + 1}号楼", "community_code": c.code, "floors": floors,
                        "stairwells": [floors * per_floor] * n_sw, "use": "residential",
                        "geometry": _slab(cx + rng.uniform(-5, 5) / M_PER_DEG_X, y, 18 * n_sw, 12)})
    return floors * per_floor * n_sw


def _quarter_buildings(c: _Community, X, Y, rng: np.random.Generator) -> np.ndarray:
    """The buildings of every quarter (a special building, or none to two blocks of flats); households per
    quarter."""
    households = np.zeros(len(c.order), dtype=int)
    for i, (qa, qb) in enumerate(c.order):
        cx, cy = (X[qa] + X[qa + 1]) / 2, (Y[qb] + Y[qb + 1]) / 2
        use = c.special.get((qa, qb))
        if use is not None:
            _special_building(c, use, cx, cy)
            continue
        u = rng.random()
        count = 0 if u < 0.15 else (1 if u < 0.75 else 2)
        h_m = (Y[qb + 1] - Y[qb]) * M_PER_DEG_Y
        for j in range(count):
            y = cy if count == 1 else cy + (j - 0.5) * (h_m / 3) / M_PER_DEG_Y
            households[i] += _residential_building(c, cx, y, rng)
    return households


def _shops(c: _Community, X, Y, rng: np.random.Generator) -> None:
    """Shops along a main street in three quarters: a low commercial building and a small shop each."""
    for i in rng.choice([i for i in range(len(c.order)) if c.order[i] not in c.special], size=3, replace=False):
        qa, qb = c.order[i]
        p = _corner_point(X, Y, qa, qb, rng, 0)
        c.buildings.append({"name": f"{c.name}商铺{len(c.buildings) + 1}", "community_code": c.code, "floors": 2,
                            "stairwells": [], "use": "commercial",
                            "geometry": shapely.box(p.x, p.y, p.x + metres_to_deg(12, 0)[0],
                                                    p.y + metres_to_deg(0, 8)[1])})
        c.facilities.append({"type_code": "small_shop", "name": f"{c.name}便民小超市{i}", "community_code": c.code,
                             "geometry": _corner_point(X, Y, qa, qb, rng, 1)})


def _community_grids(c: _Community, households: np.ndarray, X, Y) -> None:
    """Comprehensive grids: the serpentine cut into runs of about TARGET_HOUSEHOLDS households; an exclusive
    grid on each school, market and hospital."""
    total = int(households.sum())
    parts = max(1, int(round(total / TARGET_HOUSEHOLDS)))
    cum = np.cumsum(households)
    cuts = [int(np.argmin(np.abs(cum - total * p / parts))) + 1 for p in range(1, parts)]
    bounds = [0, *sorted(set(cuts)), len(c.order)]
    comp_geoms = [shapely.union_all([_cell_box(X, Y, *c.order[i]) for i in range(s, e)])
                  for s, e in zip(bounds, bounds[1:]) if e > s]
    comp_codes = assign_codes(c.code, comp_geoms)
    for code, geom in zip(comp_codes, comp_geoms):
        c.grids.append({"code": code, "name": f"{c.name}第{code[-2:]}网格", "kind": "comprehensive",
                        "exclusive_type": None, "community_code": c.code, "geometry": geom})
    seq = len(comp_codes)
    for cell, use in c.special.items():
        if use in EXCLUSIVE:
            seq += 1
            c.grids.append({"code": make_code(c.code, seq), "name": f"{c.name}{EXCLUSIVE[use]}专属网格",
                            "kind": "exclusive", "exclusive_type": use, "community_code": c.code,
                            "geometry": _cell_box(X, Y, *cell, inset_m=10)})


def _industrial_buildings(X, Y, comm_index: np.ndarray) -> list[dict]:
    out = []
    for qa, qb in list(zip(*np.nonzero(comm_index < 0)))[::7]:
        cx, cy = (X[qa] + X[qa + 1]) / 2, (Y[qb] + Y[qb + 1]) / 2
        out.append({"name": "工业园厂房（合成）", "community_code": None, "floors": 1, "stairwells": [],
                    "use": "industrial", "geometry": _slab(cx, cy, 80, 40)})
    return out


def generate_core(communities: pd.DataFrame, rng: np.random.Generator) -> UrbanCore:
    """Generate the core for the urban communities (columns ``code``, ``name``, ``township_code``; ordered by
    code). There must be at most 28 of them (26 in 金川区)."""
    X, Y, edges, streets, lanes = build_streets(rng)
    comm_index = _community_of_quarters(X, Y, len(communities))
    codes = communities["code"].to_numpy()
    names = communities["name"].map(short_name).to_numpy()
    comm_geoms, b_rows, g_rows, f_rows = [], [], [], []
    industrial = shapely.union_all([_cell_box(X, Y, qa, qb) for qa, qb in zip(*np.nonzero(comm_index < 0))])
    for k, code in enumerate(codes):
        qas, qbs = np.nonzero(comm_index == k)
        comm_geoms.append(shapely.union_all([_cell_box(X, Y, a, b) for a, b in zip(qas, qbs)]))
        order = _serpentine_order(qas, qbs)
        c = _Community(k, code, names[k], order, _special_quarters(k, order, rng))
        households = _quarter_buildings(c, X, Y, rng)
        _shops(c, X, Y, rng)
        _community_grids(c, households, X, Y)
        b_rows += c.buildings
        g_rows += c.grids
        f_rows += c.facilities + _community_facilities(k, code, names[k], order, c.special, X, Y, rng)
    b_rows.extend(_industrial_buildings(X, Y, comm_index))
    f_rows.extend(_bus_stops(X, Y, comm_index, codes, rng))
    return _core(edges, streets, lanes, communities, comm_geoms, b_rows, g_rows, f_rows, industrial)


def _core(edges, streets, lanes, communities, comm_geoms, b_rows, g_rows, f_rows, industrial) -> UrbanCore:
    """The generated rows as the core's tables."""
    buildings = pd.DataFrame(b_rows)
    buildings["stairwell_count"] = buildings["stairwells"].map(len)
    buildings["households"] = buildings["stairwells"].map(sum)
    buildings["key"] = np.arange(len(buildings))
    comms = pd.DataFrame({"code": communities["code"].to_numpy(), "name": communities["name"].to_numpy(),
                          "township_code": communities["township_code"].to_numpy(),
                          "geometry": [shapely.multipolygons(shapely.get_parts(g)) for g in comm_geoms]})
    facilities = pd.DataFrame(f_rows)
    facilities["address"] = None
    grids = pd.DataFrame(g_rows)
    grids["geometry"] = [shapely.multipolygons(shapely.get_parts(g)) for g in grids["geometry"]]
    return UrbanCore(edges=edges, streets=streets, lanes=lanes, communities=comms, buildings=buildings,
                     grids=grids, facilities=facilities, industrial=industrial)


# Which communities deliberately lack an elderly-care station (a gap the coverage analysis must find).
NO_ELDERLY_CARE = (3, 9, 14, 20, 25)


def _community_facilities(k, code, name, order, special, X, Y, rng) -> list[dict]:
    rows = []

    def at(cell, type_code, label, corner=None):
        rows.append({"type_code": type_code, "name": f"{name}{label}", "community_code": code,
                     "geometry": _corner_point(X, Y, *cell, rng, int(rng.integers(0, 4)) if corner is None else corner)})

    inv = {v: c for c, v in special.items()}
    centre = inv["centre"]
    at(centre, "community_centre", "党群服务中心", 0)
    at(centre, "talk_room", "民情恳谈室", 1)
    at(centre, "council_hall", "居民议事厅", 2)
    at(centre, "counselling_room", "心理咨询室", 3)
    at(inv["park"], "park", "小游园", 0)
    at(inv["park"], "fitness", "健身广场", 2)
    if "school" in inv:
        at(inv["school"], "school", "小学", 0)
    if "market" in inv:
        at(inv["market"], "supermarket", "农贸市场", 0)
    if "hospital" in inv:
        at(inv["hospital"], "clinic", "社区医院", 0)
    plain = [c for c in order if c not in special]
    cells = [plain[i] for i in rng.choice(len(plain), size=9, replace=False)]
    at(cells[0], "supermarket", "超市")
    at(cells[1], "clinic", "社区卫生服务站")
    at(cells[2], "pharmacy", "大药房")
    at(cells[3], "kindergarten", "幼儿园")
    at(cells[4], "post_bank", "邮政储蓄网点")
    at(cells[5], "open_toilet", "对外开放厕所")
    at(cells[6], "police_room", "社区警务室")
    if k not in NO_ELDERLY_CARE:
        at(cells[7], "elderly_care", "日间照料中心")
    if k % 3 == 0:
        at(cells[8], "library", "图书分馆")
    return rows


def _bus_stops(X, Y, comm_index, codes, rng) -> list[dict]:
    rows = []
    ny = len(Y)
    for b in range(0, ny, 4):  # every other east–west main street
        for a in range(1, len(X) - 1, 6):
            x = (X[a] + X[a + 1]) / 2
            y = Y[b] + metres_to_deg(0, 8)[1] * (1 if b < ny - 1 else -1)
            qb = min(b, ny - 2)
            k = comm_index[a, qb]
            rows.append({"type_code": "bus_stop", "name": f"公交站{len(rows) + 1}（合成）",
                         "community_code": codes[k] if k >= 0 else None, "geometry": shapely.Point(x, y)})
    return rows
