"""Benchmark: validating a grid plan — ours (``layers.plans.validate``, end to end from PostGIS) against the same
checks written as plain PostGIS SQL, on the same plan in the same throwaway database.

Data (seeded, synthetic, :func:`scripts.bench.plan_data.synthetic_plan`): 1,000 grids of 150 m in communities
of 25 grids, 50,000 buildings; a few grids are shifted 8 m east (an overlap on one side, a gap on the other)
and 2 % of the buildings are moved onto a shared grid edge (cut by the boundary). ``--quick``: 100 grids and
5,000 buildings.

Ours: ``layers.plans.validate(session, plan_id)`` — reads the grids, community polygons, buildings and staff
from PostGIS and runs :func:`gis.plan_validation.validate_plan` (every check, one pass). The peer: the checks a
PostGIS user would write — grids and buildings transformed to EPSG:4543 into indexed temporary tables, then a
self-join ``ST_Intersects``/``ST_Intersection`` for overlaps with their area, ``ST_Difference`` of each
community minus ``ST_Union`` of its grids (dumped) for gaps, ``ST_Overlaps`` of buildings and grids for buildings
cut by a boundary, and point-on-surface household sums per grid (the rule of ours: a building counts in every grid
that covers its point, except that one inside an exclusive grid counts only there; two overlapping comprehensive
grids both count what lies in the overlap, which is reported as an overlap). The peer does fewer checks than
ours (no invalid geometries, slivers, staff, exclusive grids, duplicate codes), so the ratio favours it.

Agreement: the same overlapping pairs (area within 1 %), the same gaps per community (count and area within
1 %), the same cut buildings and the same households per grid.

Run ``python -m scripts.bench.validation [--quick] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import io
import json
import time

import numpy as np
import shapely

from scripts.bench.plan_data import PROJ, synthetic_plan

COMMUNITY_TOL_M2 = 1.0  # the same tolerance as ValidationOptions.area_tolerance_m2


def make_plan(n_grids: int, n_buildings: int, *, seed: int = 11):
    """The synthetic plan with 2 % of its buildings moved onto a shared vertical grid edge."""
    plan = synthetic_plan(n_grids, n_buildings, seed=seed, defects=max(4, n_grids // 50))
    rng = np.random.default_rng(seed + 1)
    gm = PROJ.forward(plan.geoms)
    n_cut = max(5, n_buildings // 50)
    picks = rng.choice(n_grids, size=n_cut, replace=True)
    b = shapely.bounds(gm[picks])
    x = b[:, 2]
    y = b[:, 1] + rng.uniform(20, 130, n_cut)
    cut = PROJ.inverse(shapely.box(x - 7, y - 5, x + 7, y + 5))
    # replace buildings spread over the plan so the total stays n_buildings
    idx = rng.choice(len(plan.buildings), size=n_cut, replace=False)
    plan.buildings[idx] = cut
    return plan


def load(engine, plan) -> int:
    """COPY the plan (published), its communities and buildings into the database; return the plan id."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("INSERT INTO grid_plans (name, status, generation, source) VALUES "
                    "('bench', 'published', 1, 'synthetic') RETURNING id")
        plan_id = cur.fetchone()[0]
        buf = io.StringIO()
        for code, comm, w in zip(plan.codes, plan.community_codes, shapely.to_wkb(
                [shapely.MultiPolygon([g]) for g in plan.geoms], hex=True), strict=True):
            buf.write(f"{plan_id}\t{code}\t{code}\tcomprehensive\t{comm}\t2023\t1\tSRID=4326;{w}\tsynthetic\t{{}}\n")
        buf.seek(0)
        cur.copy_expert("COPY grids (plan_id, code, name, kind, community_code, community_edition, version, geom, "
                        "source, properties) FROM STDIN", buf)
        buf = io.StringIO()
        for code, g in plan.communities.items():
            w = shapely.to_wkb(shapely.MultiPolygon([g]), hex=True)
            buf.write(f"{code}\t2023\t社区{code[-3:]}\tcommunity\t{code[:9]}000\tSRID=4326;{w}\tsynthetic\t{{}}\n")
        buf.seek(0)
        cur.copy_expert("COPY admin_areas (code, edition_year, name, level, parent_code, geom, source, properties) "
                        "FROM STDIN", buf)
        buf = io.StringIO()
        wkb = shapely.to_wkb([shapely.MultiPolygon([g]) for g in plan.buildings], hex=True)
        for i, (w, hh, rs) in enumerate(zip(wkb, plan.households, plan.residents, strict=True)):
            buf.write(f"{i + 1}\t{int(hh)}\t{int(rs)}\t0\tSRID=4326;{w}\tsynthetic\t{{}}\n")
        buf.seek(0)
        cur.copy_expert("COPY buildings (id, households, residents, stairwell_count, geom, source, properties) "
                        "FROM STDIN", buf)
        cur.execute("ANALYZE grids; ANALYZE buildings; ANALYZE admin_areas")
        raw.commit()
    finally:
        raw.close()
    return plan_id


PEER_SQL = {
    "prepare": """
        CREATE TEMP TABLE pg ON COMMIT DROP AS
            SELECT id, code, community_code, kind, ST_Transform(geom, 4543) AS geom FROM grids WHERE plan_id = %(p)s;
        CREATE INDEX ON pg USING gist (geom);
        ANALYZE pg;
        CREATE TEMP TABLE pb ON COMMIT DROP AS
            SELECT id, households, ST_Transform(geom, 4543) AS geom FROM buildings
            WHERE geom && (SELECT ST_Expand(ST_Extent(geom), 0.002) FROM grids WHERE plan_id = %(p)s);
        CREATE INDEX ON pb USING gist (geom);
        ANALYZE pb;
    """,
    "overlaps": """
        SELECT a.code, b.code, ST_Area(ST_Intersection(a.geom, b.geom)) AS area
        FROM pg a JOIN pg b ON a.id < b.id AND a.kind = b.kind AND ST_Intersects(a.geom, b.geom)
        WHERE ST_Area(ST_Intersection(a.geom, b.geom)) > %(tol)s
    """,
    "gaps": """
        WITH u AS (SELECT community_code, ST_Union(geom) AS geom FROM pg WHERE kind = 'comprehensive' GROUP BY 1),
             d AS (SELECT u.community_code,
                          (ST_Dump(ST_Difference(ST_Transform(c.geom, 4543), u.geom))).geom AS geom
                   FROM u JOIN admin_areas c ON c.code = u.community_code)
        SELECT community_code, ST_Area(geom) FROM d WHERE ST_Area(geom) > %(tol)s
    """,
    "cut": """
        SELECT DISTINCT b.id FROM pb b JOIN pg g ON ST_Overlaps(b.geom, g.geom)
    """,
    "households": """
        SELECT code, sum(households)::int FROM (
            SELECT g.code, g.kind, b.households,
                   bool_or(g.kind = 'exclusive') OVER (PARTITION BY b.id) AS in_exclusive
            FROM pb b JOIN pg g ON g.geom && b.geom AND ST_Covers(g.geom, ST_PointOnSurface(b.geom))) o
        WHERE kind = 'exclusive' OR NOT in_exclusive
        GROUP BY code
    """,
}


def run_peer(engine, plan_id: int) -> dict:
    """The plain-SQL checks in one transaction; timings per step and the answers."""
    raw = engine.raw_connection()
    out: dict = {"steps_s": {}}
    try:
        cur = raw.cursor()
        t0 = time.perf_counter()
        for step, sql in PEER_SQL.items():
            t = time.perf_counter()
            cur.execute(sql, {"p": plan_id, "tol": COMMUNITY_TOL_M2})
            out[step] = cur.fetchall() if step != "prepare" else None
            out["steps_s"][step] = time.perf_counter() - t
        out["seconds"] = time.perf_counter() - t0
        raw.rollback()
    finally:
        raw.close()
    return out


def run_ours(factory, plan_id: int):
    """``layers.plans.validate`` end to end; (seconds, report)."""
    from layers.plans import validate

    with factory() as s:
        t = time.perf_counter()
        report = validate(s, plan_id)
        return time.perf_counter() - t, report


def compare(report, peer: dict) -> dict:
    """How far ours and the peer agree on overlaps, gaps, cut buildings and households."""
    ours_ov = {frozenset((p.grid, p.detail["other"])): p.area_m2 for p in report.problems if p.kind == "overlap"}
    peer_ov = {frozenset((a, b)): float(area) for a, b, area in peer["overlaps"]}
    ov_same = sum(1 for k, v in ours_ov.items() if k in peer_ov and abs(peer_ov[k] - v) <= 0.01 * v + 0.1)

    def by_comm(items):
        out: dict[str, list[float]] = {}
        for c, a in items:
            out.setdefault(c, []).append(float(a))
        return {c: sorted(v) for c, v in out.items()}

    ours_gap = by_comm((p.community, p.area_m2) for p in report.problems if p.kind == "gap")
    peer_gap = by_comm(peer["gaps"])
    gap_same = sum(
        1 for c, v in ours_gap.items()
        if c in peer_gap and len(peer_gap[c]) == len(v)
        and all(abs(a - b) <= 0.01 * a + 0.5 for a, b in zip(v, peer_gap[c], strict=True))
    )
    ours_cut = {p.detail["building"] for p in report.problems if p.kind == "building_cut"}
    peer_cut = {r[0] for r in peer["cut"]}
    peer_hh = dict(peer["households"])
    hh_same = sum(1 for c, v in report.households.items() if peer_hh.get(c, 0) == v)
    return {
        "overlaps": {"ours": len(ours_ov), "peer": len(peer_ov), "same": ov_same},
        "gaps": {"ours": sum(map(len, ours_gap.values())), "peer": sum(map(len, peer_gap.values())),
                 "communities_same": gap_same, "communities_ours": len(ours_gap), "communities_peer": len(peer_gap),
                 "area_ours_m2": round(sum(map(sum, ours_gap.values())), 1),
                 "area_peer_m2": round(sum(map(sum, peer_gap.values())), 1)},
        "cut": {"ours": len(ours_cut), "peer": len(peer_cut), "same": len(ours_cut & peer_cut),
                "only_ours": sorted(ours_cut - peer_cut)[:10], "only_peer": sorted(peer_cut - ours_cut)[:10]},
        "households": {"grids": len(report.households), "same": hh_same},
    }


def agreed(c: dict) -> bool:
    """True when every compared answer is the same."""
    return (c["overlaps"]["ours"] == c["overlaps"]["peer"] == c["overlaps"]["same"]
            and c["gaps"]["communities_ours"] == c["gaps"]["communities_peer"] == c["gaps"]["communities_same"]
            and c["cut"]["ours"] == c["cut"]["peer"] == c["cut"]["same"]
            and c["households"]["grids"] == c["households"]["same"])


def main(argv=None) -> int:
    """Run the benchmark and print (and optionally write) the result."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 grids and 5,000 buildings")
    ap.add_argument("--grids", type=int, help="number of grids (default 1,000; 100 with --quick)")
    ap.add_argument("--buildings", type=int, help="number of buildings (default 50,000; 5,000 with --quick)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each side; the best is reported")
    ap.add_argument("--dask", help="(not used by this benchmark)")
    ap.add_argument("--json", help="write the result to this file")
    args = ap.parse_args(argv)
    n_grids = args.grids or (100 if args.quick else 1_000)
    n_buildings = args.buildings or (5_000 if args.quick else 50_000)

    from layers.db import drop_database, make_engine, make_sessionmaker
    from scripts.bench.common import copy_database, migrated_template

    t = time.perf_counter()
    plan = make_plan(n_grids, n_buildings)
    print(f"data: {len(plan.codes)} grids, {len(plan.communities)} communities, {len(plan.buildings)} buildings "
          f"(synthetic), made in {time.perf_counter() - t:.1f} s", flush=True)
    settings = copy_database(migrated_template())
    engine = make_engine(settings, pool_size=2, max_overflow=0)
    try:
        t = time.perf_counter()
        plan_id = load(engine, plan)
        print(f"loaded into {settings.sqlalchemy_url.database} in {time.perf_counter() - t:.1f} s", flush=True)
        factory = make_sessionmaker(engine)
        ours_runs, peer_runs = [], []
        for _ in range(max(1, args.repeat)):
            ours_runs.append(run_ours(factory, plan_id))
            peer_runs.append(run_peer(engine, plan_id))
        t_ours, report = min(ours_runs, key=lambda r: r[0])
        peer = min(peer_runs, key=lambda r: r["seconds"])
        t_peer = peer["seconds"]
    finally:
        engine.dispose()
        drop_database(settings.sqlalchemy_url)

    agreement = compare(report, peer)
    ok = agreed(agreement)
    ratio = t_peer / t_ours
    counts = {k: v for k, v in report.counts.items() if v}
    print(f"ours  (layers.plans.validate, every check, from PostGIS): {t_ours:.2f} s "
          f"(pure validate_plan {report.seconds:.2f} s); problems {counts}", flush=True)
    print(f"peer  (plain PostGIS SQL, 4 checks): {t_peer:.2f} s "
          f"({', '.join(f'{k} {v:.2f}' for k, v in peer['steps_s'].items())})", flush=True)
    print(f"ratio peer/ours: {ratio:.1f}×; agreement: {json.dumps(agreement, ensure_ascii=False)}", flush=True)
    notes = (f"{n_grids} grids, {n_buildings} buildings (synthetic); ours runs every check (11 kinds) from the "
             f"database, the peer 4; best of {args.repeat}. Cut buildings: ours counts a building cut when > 0.5 m² "
             "lies on each side, the peer uses ST_Overlaps (no tolerance) — identical here. Gaps: ours snaps the "
             "union to 1 cm, so areas agree within 1 %.")
    rows = [{
        "target": "validate 1,000 grids / 50,000 buildings in seconds" if not args.quick
        else "validate 100 grids / 5,000 buildings",
        "ours": round(t_ours, 3), "peer": round(t_peer, 3), "peer_name": "plain PostGIS SQL (ST_Intersection "
        "self-join, ST_Difference/ST_Union, ST_Overlaps, point-on-surface sums)", "ratio": round(ratio, 2), "unit": "s",
        "agreement": ("same " if ok else "DIFFERENT ") + f"overlaps {agreement['overlaps']['same']}/"
        f"{agreement['overlaps']['ours']}, gaps {agreement['gaps']['ours']}/{agreement['gaps']['peer']}, cut "
        f"{agreement['cut']['same']}/{agreement['cut']['ours']}, households {agreement['households']['same']}/"
        f"{agreement['households']['grids']}", "agrees": ok,
        "notes": notes,
    }]
    details = {"grids": n_grids, "buildings": n_buildings, "ours_s": [r[0] for r in ours_runs],
               "ours_pure_s": report.seconds, "peer_s": [r["seconds"] for r in peer_runs],
               "peer_steps_s": peer["steps_s"], "problem_counts": counts, "agreement": agreement}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "validation", "rows": rows, "details": details}, f, ensure_ascii=False, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
