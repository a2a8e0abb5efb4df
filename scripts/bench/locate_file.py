"""Benchmark: ``gridmap locate FILE --out FILE`` against the same job done with geopandas, as commands, and how fast
light commands start.

Data: the Jinchang demo's published plan (321 grids, 21 of them exclusive, 60 包街 segments, 182 community
polygons) on a copy of the load test's template cluster; 1,000,000 points (``--quick``: 100,000) drawn uniformly
inside its grids (seeded), written as GeoParquet (by geopandas) and as CSV (``id,lon,lat``), untimed.

- **Ours**: ``python -m scripts.cli locate IN --out OUT`` — every rule (exclusive grid, 包街, grid with the
  boundary tie-break, community, nearest grid), the answer columns of ``GET /api/v1/locate`` per point.
- **Peer**: a Python process that imports geopandas, reads the plan's grids with ``geopandas.read_postgis``,
  reads the points (``read_parquet``; for CSV ``pandas.read_csv`` + ``points_from_xy``), runs
  ``geopandas.sjoin(points, grids, predicate="within", how="left")`` and writes the result (``to_parquet``; for
  CSV ``to_csv`` without the geometry column). One rule, no CRS conversion, no tie-break.

Timed on both sides: process start to exit (interpreter, imports, database, read, work, write), as a user runs
them. Each format runs in rounds of one peer and one ours run, the order alternating; the ratio is the median of
the rounds' ratios. The peer's own clock (import / grids / read / sjoin / write) is recorded in the details.

Agreement: both outputs have every input row in order with its ``id``; for points more than 1 m from every grid
boundary (checked with shapely) the grid is the same, taking among several sjoin matches an exclusive grid first,
then the lowest code (our precedence); the methods ours used are counted. Light commands: ``gridmap --help`` and
``gridmap locate --help``, median of 5 starts, against the 0.5 s target.

Run ``python -m scripts.bench.locate_file [--quick] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

PEER = r'''
import sys, time, json
t0 = time.perf_counter()
import geopandas as gpd
import pandas as pd
from sqlalchemy import create_engine
t1 = time.perf_counter()
src, out, url = sys.argv[1:4]
engine = create_engine(url)
grids = gpd.read_postgis("SELECT g.code, g.kind, g.geom FROM grids g JOIN grid_plans p ON p.id = g.plan_id "
                         "WHERE p.status = 'published'", engine, geom_col="geom")
engine.dispose()
t2 = time.perf_counter()
if src.endswith(".parquet"):
    points = gpd.read_parquet(src)
else:
    df = pd.read_csv(src)
    points = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)
t3 = time.perf_counter()
joined = gpd.sjoin(points, grids, predicate="within", how="left")
t4 = time.perf_counter()
if out.endswith(".parquet"):
    joined.to_parquet(out)
else:
    joined.drop(columns="geometry").to_csv(out, index=False)
t5 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "grids": t2 - t1, "read": t3 - t2, "sjoin": t4 - t3, "write": t5 - t4}))
'''


def plan_grids(url: str) -> np.ndarray:
    """The published plan's grid polygons."""
    import geopandas as gpd
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        return gpd.read_postgis("SELECT g.geom FROM grids g JOIN grid_plans p ON p.id = g.plan_id "
                                "WHERE p.status = 'published'", engine, geom_col="geom").geometry.values
    finally:
        engine.dispose()


def near_borders(grids: np.ndarray, lon: np.ndarray, lat: np.ndarray, metres: float = 1.0) -> np.ndarray:
    """Which points lie within ``metres`` of a grid's boundary (where the 0.5 m tie rule and sjoin's strict
    ``within`` may differ)."""
    import shapely

    deg = metres / 111_000 / np.cos(np.radians(38.5))  # the longer of a metre in lon or lat degrees here
    tree = shapely.STRtree(shapely.boundary(np.asarray(grids, dtype=object)))
    hits, _ = tree.query(shapely.points(lon, lat), predicate="dwithin", distance=deg)
    out = np.zeros(lon.size, bool)
    out[hits] = True
    return out


def make_points(url: str, n: int, folder: Path, *, seed: int = 20261205) -> dict[str, Path]:
    """``n`` points uniform inside the published plan's grids, as GeoParquet and CSV (id, lon, lat), and which
    of them lie within 1 m of a grid boundary."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    grids = plan_grids(url)
    union = shapely.union_all(grids)
    shapely.prepare(union)
    x0, y0, x1, y1 = union.bounds
    rng = np.random.default_rng(seed)
    xs, ys, have = [], [], 0
    while have < n:
        x, y = rng.uniform(x0, x1, 2 * n), rng.uniform(y0, y1, 2 * n)
        inside = shapely.contains_xy(union, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
        have += int(inside.sum())
    lon, lat = np.round(np.concatenate(xs)[:n], 7), np.round(np.concatenate(ys)[:n], 7)
    frame = pd.DataFrame({"id": np.arange(n), "lon": lon, "lat": lat})
    files = {"parquet": folder / "points.parquet", "csv": folder / "points.csv"}
    gpd.GeoDataFrame(frame[["id"]], geometry=gpd.points_from_xy(lon, lat), crs=4326).to_parquet(files["parquet"])
    frame.to_csv(files["csv"], index=False)
    return files, near_borders(grids, lon, lat)


def _timed(cmd: list[str], env: dict) -> tuple[float, str]:
    t = time.perf_counter()
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - t
    if run.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({run.returncode}): {run.stderr[-1500:]}")
    return took, run.stdout


def run_format(fmt: str, src: Path, folder: Path, url: str, *, rounds: int, log=print) -> dict:
    """Alternating rounds of the peer and ours on one input file; the times and both outputs' paths."""
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url}
    ours_out, peer_out = folder / f"ours.{fmt}", folder / f"peer.{fmt}"
    ours_cmd = [sys.executable, "-m", "scripts.cli", "locate", str(src), "--out", str(ours_out)]
    peer_cmd = [sys.executable, "-c", PEER, str(src), str(peer_out), url]
    ours_s, peer_s, peer_parts = [], [], []
    for k in range(rounds):
        for side in (("peer", "ours") if k % 2 == 0 else ("ours", "peer")):
            if side == "ours":
                ours_s.append(_timed(ours_cmd, env)[0])
            else:
                took, out = _timed(peer_cmd, env)
                peer_s.append(took)
                peer_parts.append(json.loads(out.strip().splitlines()[-1]))
        log(f"  {fmt} round {k + 1}: ours {ours_s[-1]:.2f} s, peer {peer_s[-1]:.2f} s "
            f"({peer_s[-1] / ours_s[-1]:.2f}×)")
    ratios = [p / o for p, o in zip(peer_s, ours_s)]
    parts = {key: statistics.median(p[key] for p in peer_parts) for key in peer_parts[0]}
    return {"ours_s": ours_s, "peer_s": peer_s, "ratio": statistics.median(ratios), "ratios": ratios,
            "peer_parts_s": parts, "ours_out": ours_out, "peer_out": peer_out}


def _read_table(path: Path):
    import pandas as pd

    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={"grid_code": str,
                                                                                            "code": str})


def compare(ours_path: Path, peer_path: Path, n: int, near: np.ndarray) -> dict:
    """Row order, ids, and the grids of points more than 1 m from every grid boundary (``near``: the others);
    the methods ours used."""
    ours, peer = _read_table(ours_path), _read_table(peer_path)
    # sjoin repeats a point covered by several grids: exclusive first, then the lowest code, like our precedence
    peer = peer.assign(_excl=peer["kind"] != "exclusive").sort_values(["id", "_excl", "code"], kind="stable")
    peer = peer.drop_duplicates("id").set_index("id").reindex(np.arange(n))
    same_ids = len(ours) == n and bool((ours["id"].to_numpy() == np.arange(n)).all())
    away = ~near
    ours_code = ours["grid_code"].astype(object).where(ours["grid_code"].notna(), None).to_numpy()
    peer_code = peer["code"].astype(object).where(peer["code"].notna(), None).to_numpy()
    same = ours_code == peer_code
    methods = ours["method"].astype(str).value_counts().to_dict()
    return {"rows": len(ours), "same_ids": same_ids, "away": int(away.sum()), "same_away": int(same[away].sum()),
            "near_border": int(near.sum()), "on_boundary": int(ours["on_boundary"].sum()),
            "methods": {k: int(v) for k, v in methods.items()}}


def light_commands(repeats: int = 5) -> dict:
    """Median wall time of ``gridmap --help`` and ``gridmap locate --help`` in fresh processes."""
    out = {}
    for argv in (["--help"], ["locate", "--help"]):
        times = [_timed([sys.executable, "-m", "scripts.cli", *argv], dict(os.environ))[0] for _ in range(repeats)]
        out[" ".join(argv)] = {"median_s": statistics.median(times), "runs_s": times}
    return out


def rows_of(res: dict) -> list[dict]:
    """The table's rows."""
    rows = []
    n = res["points"]
    for fmt, label in (("parquet", "GeoParquet"), ("csv", "CSV")):
        r, agree = res[fmt], res[f"{fmt}_agreement"]
        ok = agree["same_ids"] and agree["same_away"] == agree["away"] and agree["rows"] == n
        ours_s, peer_s = statistics.median(r["ours_s"]), statistics.median(r["peer_s"])
        parts = ", ".join(f"{k} {v:.2f}" for k, v in r["peer_parts_s"].items())
        rows.append({
            "target": f"locate file → file, {label}, ≥ 3× geopandas", "ours": n / ours_s, "peer": n / peer_s,
            "peer_name": "geopandas read + sjoin(within) + write", "ratio": r["ratio"], "unit": "points/s",
            "agreement": (f"{agree['same_away']}/{agree['away']} same grid > 1 m from borders; ids in order"
                          if ok else f"DISAGREE: {agree}"), "agrees": ok,
            "notes": f"{n:,} points, Jinchang demo plan (321 grids); process start to exit on both sides (ours "
                     f"`gridmap locate`: every rule, methods {agree['methods']}; peer: one rule); ours "
                     f"{ours_s:.2f} s, peer {peer_s:.2f} s (median); ratio = median of {len(r['ratios'])} "
                     f"alternating rounds ({min(r['ratios']):.2f}–{max(r['ratios']):.2f}×); peer's own clock: "
                     f"{parts} s"})
    light = res["light"]
    rows.append({"target": "gridmap --help starts < 0.5 s", "ours": light["--help"]["median_s"], "peer": None,
                 "peer_name": "–", "ratio": None, "unit": "s", "agreement": "–",
                 "agrees": True, "met": light["--help"]["median_s"] < 0.5 and light["locate --help"]["median_s"] < 0.5,
                 "notes": f"median of {len(light['--help']['runs_s'])} fresh processes; `gridmap locate --help` "
                          f"{light['locate --help']['median_s']:.2f} s"})
    return rows


def run(n: int, rounds: int, log=print) -> dict:
    """Cluster, data, both formats, agreement, light commands."""
    from gis import locate_aot
    from scripts.bench.load import TempCluster, template_cluster

    # as the set-up does (python -m gis.jit_warmup): the command's kernels compiled ahead of time for the current
    # source; without them it would time numba's start-up instead (untimed, a no-op when they are built)
    locate_aot.build(log=log)
    cluster = TempCluster()
    try:
        cluster.copy_from(template_cluster(log))
        cluster.start()
        url = cluster.url("gridmap_load")
        with tempfile.TemporaryDirectory(prefix="gridmap-locate-file-") as tmp:
            folder = Path(tmp)
            t = time.perf_counter()
            files, near = make_points(url, n, folder)
            log(f"{n:,} points written as GeoParquet and CSV in {time.perf_counter() - t:.1f} s")
            res: dict = {"points": n, "rounds": rounds}
            for fmt in ("parquet", "csv"):
                r = run_format(fmt, files[fmt], folder, url, rounds=rounds, log=log)
                res[f"{fmt}_agreement"] = compare(r.pop("ours_out"), r.pop("peer_out"), n, near)
                res[fmt] = r
                log(f"{fmt}: ratio {r['ratio']:.2f}×; agreement {res[f'{fmt}_agreement']}")
        res["light"] = light_commands()
        log(f"light commands: {res['light']}")
        return res
    finally:
        cluster.remove()


def main(argv=None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100,000 points, 1 round per format")
    ap.add_argument("--points", type=int, help="number of points (default 1,000,000)")
    ap.add_argument("--rounds", type=int, help="rounds per format (default 3; 1 with --quick)")
    ap.add_argument("--dask", metavar="ADDRESS", help="accepted for the common contract; not used")
    ap.add_argument("--json", help="write the result rows to this file")
    args = ap.parse_args(argv)
    n = args.points or (100_000 if args.quick else 1_000_000)
    res = run(n, args.rounds or (1 if args.quick else 3))
    rows = rows_of(res)
    for row in rows:
        print(f"{row['target']}: ours {row['ours']:,.3g} {row['unit']}, ratio {row['ratio']}, agrees {row['agrees']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "locate_file", "rows": rows, "details": res}, f, ensure_ascii=False, indent=2,
                      default=str)
    return 0 if all(row["agrees"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
