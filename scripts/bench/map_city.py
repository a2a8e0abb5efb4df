"""A deterministic synthetic city for the map tests and the map benchmark (Jinchang-demo-like, any size).

``make_city(factory, grids=200, buildings_per_grid=25, incidents=10_000)`` fills an empty migrated database:
communities/villages (admin_areas), one published grid plan, buildings, facilities of every type with 15-minute
circles (Euclidean, 1 km), grid staff with published phones, incidents. Everything is ``source='synthetic'``.
The ×10 benchmark uses 2,000 grids, 50,000 buildings and 100,000 incidents.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from psycopg2.extras import execute_values
from sqlalchemy import text

from gis.domain import FACILITY_TYPES, SEVEN_ONES, IncidentState

ORIGIN = (102.10, 38.45)  # south-west corner, Jinchuan district
GRID_M = 260.0  # grid cell size
GRIDS_PER_COMMUNITY = 10  # 2 × 5 cells
SRC = "synthetic"
CATEGORIES = ["环境卫生", "市政设施", "治安隐患", "矛盾纠纷", "违章建筑", "噪音扰民", "消防隐患", "其他"]


@dataclass
class City:
    """What was made."""

    grids: int
    buildings: int
    facilities: int
    incidents: int
    communities: int
    bounds: tuple[float, float, float, float]


def _deg(lat: float) -> tuple[float, float]:
    return 1.0 / (111_320.0 * math.cos(math.radians(lat))), 1.0 / 110_540.0


def _box(x0, y0, x1, y1) -> str:
    return f"MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


def make_city(factory, *, grids: int = 200, buildings_per_grid: int = 25, incidents: int = 10_000,
              seed: int = 7) -> City:
    """Fill the database behind ``factory`` with a synthetic city; returns the counts."""
    rng = np.random.default_rng(seed)
    kx, ky = _deg(ORIGIN[1])
    gx, gy = GRID_M * kx, GRID_M * ky
    n_comm = math.ceil(grids / GRIDS_PER_COMMUNITY)
    comm_cols = max(1, int(math.ceil(math.sqrt(n_comm * 5 / 2))))  # roughly square city
    with factory() as s:
        raw = s.connection().connection
        cur = raw.cursor()
        # communities (2 × 5 grid cells each); every fifth one a village
        comm_rows, grid_rows = [], []
        for c in range(n_comm):
            cx, cy = c % comm_cols, c // comm_cols
            x0, y0 = ORIGIN[0] + cx * 2 * gx, ORIGIN[1] + cy * 5 * gy
            code = f"620302{1 + c // 99:03d}{1 + c % 99:03d}"
            level = "village" if c % 5 == 4 else "community"
            name = f"金川{'村' if level == 'village' else '社区'}{c + 1:03d}"
            comm_rows.append((code, 2023, name, level, "620302" + f"{1 + c // 99:03d}000", _box(x0, y0, x0 + 2 * gx,
                              y0 + 5 * gy), SRC, SRC))
            for k in range(GRIDS_PER_COMMUNITY):
                if len(grid_rows) >= grids:
                    break
                ix, iy = k % 2, k // 2
                gx0, gy0 = x0 + ix * gx, y0 + iy * gy
                grid_rows.append((f"{code}{k + 1:03d}", f"{name}第{k + 1}网格", code, gx0, gy0))
        execute_values(cur, "INSERT INTO admin_areas (code, edition_year, name, level, parent_code, geom, geom_source,"
                       " source, properties) VALUES %s",
                       [r + ("{}",) for r in comm_rows],
                       template="(%s,%s,%s,%s,%s,ST_GeomFromText(%s,4326),%s,%s,%s)")
        cur.execute("INSERT INTO grid_plans (name, status, generation, source) VALUES "
                    "('合成方案 synthetic plan', 'published', 1, 'synthetic') RETURNING id")
        plan_id = cur.fetchone()[0]
        # buildings: a jittered lattice inside each grid
        b_rows, hh_by_grid = [], {}
        per_side = max(1, int(math.ceil(math.sqrt(buildings_per_grid))))
        bw, bh = gx / per_side * 0.6, gy / per_side * 0.45
        for code, _name, comm, gx0, gy0 in grid_rows:
            hh = rng.integers(10, 21, size=buildings_per_grid)
            hh_by_grid[code] = int(hh.sum())
            for j in range(buildings_per_grid):
                bx = gx0 + (j % per_side + 0.2) * gx / per_side
                by = gy0 + (j // per_side + 0.25) * gy / per_side
                b_rows.append((f"{comm[-3:]}号院{j + 1}号楼", comm, int(rng.integers(3, 19)), int(hh[j]),
                               int(hh[j]) * 3, _box(round(bx, 7), round(by, 7), round(bx + bw, 7), round(by + bh, 7))))
        execute_values(cur, "INSERT INTO buildings (name, community_code, floors, households, residents, geom, "
                       "source, properties, stairwell_count) VALUES %s", b_rows,
                       template="(%s,%s,%s,%s,%s,ST_GeomFromText(%s,4326),'synthetic','{}',0)", page_size=5000)
        execute_values(cur, "INSERT INTO grids (plan_id, code, name, kind, community_code, community_edition, "
                       "households, residents, version, geom, source, properties) VALUES %s",
                       [(plan_id, code, name, "comprehensive", comm, 2023, hh_by_grid[code], hh_by_grid[code] * 3,
                         1, _box(gx0, gy0, gx0 + gx, gy0 + gy)) for code, name, comm, gx0, gy0 in grid_rows],
                       template="(%s,%s,%s,%s,%s,%s,%s,%s,%s,ST_GeomFromText(%s,4326),'synthetic','{}')")
        # facilities: villages get some of the 七个一; each community 3–6 service types
        f_rows = []
        types = [c for c, *_ in FACILITY_TYPES]
        others = [t for t in types if t not in SEVEN_ONES]
        for c, (code, _e, name, level, _p, _g, _s, _s2) in enumerate(comm_rows):
            cx, cy = c % comm_cols, c // comm_cols
            x0, y0 = ORIGIN[0] + cx * 2 * gx, ORIGIN[1] + cy * 5 * gy
            chosen = list(rng.choice(SEVEN_ONES, size=int(rng.integers(3, 8)), replace=False)) if level == \
                "village" else []
            chosen += list(rng.choice(others, size=int(rng.integers(3, 7)), replace=False))
            for t in chosen:
                fx, fy = x0 + rng.uniform(0.1, 1.9) * gx, y0 + rng.uniform(0.2, 4.8) * gy
                label = dict((c2, zh) for c2, _g2, zh, _en in FACILITY_TYPES)[t]
                f_rows.append((t, f"{name}{label}", f"金川区{name}{int(rng.integers(1, 200))}号", code,
                               f"POINT({fx:.7f} {fy:.7f})"))
        execute_values(cur, "INSERT INTO facilities (type_code, name, address, community_code, geom, source, "
                       "properties) VALUES %s", f_rows,
                       template="(%s,%s,%s,%s,ST_GeomFromText(%s,4326),'synthetic','{}')")
        cur.execute(
            "INSERT INTO service_circles (facility_id, type_code, minutes, budget_m, speed_kmh, buffer_m, method, "
            "params, geom, source) SELECT id, type_code, 15, 1000, 4, 0, 'euclidean', '{}', "
            "ST_Multi(ST_Buffer(geom::geography, 1000, 8)::geometry), 'synthetic' FROM facilities"
        )
        # grid staff with published phones (the 公示牌)
        people = []
        for code, *_ in grid_rows:
            for role in ("grid_head", "grid_worker"):
                people.append((f"{'张王李赵刘陈杨黄'[int(rng.integers(0, 8))]}{'伟芳娜敏静丽强磊'[int(rng.integers(0, 8))]}",
                               f"0935-{int(rng.integers(1000000, 9999999))}", code, role))
        execute_values(cur, "WITH p AS (INSERT INTO people (name, public_phone, phone, is_party_member, source) "
                       "SELECT v.name, v.phone, '13900000000', false, 'synthetic' FROM (VALUES %s) AS v(name, phone, "
                       "code, role) RETURNING id) SELECT 1", [(n, ph, c, r) for n, ph, c, r in people])
        cur.execute("SELECT id FROM people ORDER BY id")
        pids = [r[0] for r in cur.fetchall()][-len(people):]
        execute_values(cur, "INSERT INTO staff_assignments (person_id, role, grid_code) VALUES %s",
                       [(pid, r, c) for pid, (_n, _p, c, r) in zip(pids, people, strict=True)])
        # incidents spread over the city, a month of history, some overdue
        n_g = len(grid_rows)
        gi = rng.integers(0, n_g, size=incidents)
        lon = np.array([grid_rows[i][3] for i in gi]) + rng.uniform(0, gx, size=incidents)
        lat = np.array([grid_rows[i][4] for i in gi]) + rng.uniform(0, gy, size=incidents)
        states = np.array(IncidentState.values())
        st = states[rng.choice(len(states), size=incidents, p=_state_p(len(states)))]
        now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
        created = [now - dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 60, size=incidents)]
        rows = [
            (CATEGORIES[int(c)], s_, f"POINT({x:.6f} {y:.6f})", float(x), float(y), grid_rows[g][0], cr,
             cr + dt.timedelta(days=3), cr + dt.timedelta(days=2) if s_ == "closed" else None)
            for c, s_, x, y, g, cr in zip(rng.integers(0, len(CATEGORIES), size=incidents), st, lon, lat, gi,
                                          created, strict=True)
        ]
        execute_values(cur, "INSERT INTO incidents (category, state, level, geom, original_lon, original_lat, "
                       "original_crs, grid_code, created_at, updated_at, due_at, closed_at, source, assignment, "
                       "plan_id) VALUES %s", rows,
                       template=f"(%s,%s,'grid',ST_GeomFromText(%s,4326),%s,%s,'wgs84',%s,%s,now(),%s,%s,"
                                f"'synthetic','{{}}',{plan_id})", page_size=5000)
        s.commit()
        s.execute(text("ANALYZE"))
        box = s.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                             "(SELECT ST_Extent(geom) e FROM grids) t")).one()
    return City(grids=len(grid_rows), buildings=len(b_rows), facilities=len(f_rows), incidents=incidents,
                communities=n_comm, bounds=tuple(float(v) for v in box))


def _state_p(n: int) -> list[float]:
    # mostly closed history, some open work
    p = np.full(n, 0.25 / (n - 1))
    p[list(IncidentState.values()).index("closed")] = 0.75
    return list(p / p.sum())
