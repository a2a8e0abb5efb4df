"""Benchmark: bulk point → grid assignment, ours against ``geopandas.sjoin(predicate="within")`` and a PostGIS
join, on the same synthetic city, in the same run; plus the single-point path against a PostGIS point lookup.

The city (seeded, reproducible): a Voronoi tessellation of a box around Jinchang clipped to it, some cells with
a hole (a lake: in no grid), some grids made of two detached cells (multipolygons). Points: uniform in the box,
plus points exactly on grid vertices and on shared edges.

Timings include every index build (sjoin's STRtree, our raster, PostGIS's GiST) and exclude making the data.
Agreement: away from borders (> 1 m) our grid equals sjoin's and PostGIS's; on borders (within 0.5 m) ours is
the lowest code among the grids within 0.5 m (the documented tie-break), checked with shapely.

Run ``python -m scripts.bench.locate [--quick] [--json FILE] [--no-postgis]``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import statistics
import time

import geopandas as gpd
import numpy as np
import shapely

from gis import _locate_kernels as kern
from gis.locate import Locator

BOX = (102.00, 38.30, 102.60, 38.70)


def make_city(n_grids: int, *, seed: int = 20261125) -> tuple[np.ndarray, np.ndarray]:
    """(codes, geometries) of ``n_grids`` grids tiling :data:`BOX`, with holes and two-part grids."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = BOX
    n_cells = int(n_grids * 1.02)
    seeds = shapely.points(rng.uniform(x0, x1, n_cells), rng.uniform(y0, y1, n_cells))
    frame = shapely.box(*BOX)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame))
    cells = shapely.intersection(cells, frame)
    cells = cells[shapely.get_type_id(cells) == 3]
    cells = shapely.set_precision(cells, 1e-7)  # coordinates as a survey would give them (≈1 cm)
    cells = cells[np.argsort(shapely.bounds(cells)[:, 0], kind="stable")]
    n_pairs = len(cells) - n_grids
    geoms = []
    used = np.zeros(len(cells), bool)
    # two-part grids: a cell joined with a non-adjacent cell a little further east (a village's detached field)
    step = max(1, len(cells) // max(n_pairs, 1))
    for i in range(0, len(cells), step):
        if len(geoms) >= n_pairs:
            break
        j = min(len(cells) - 1, i + 40)
        if used[i] or used[j] or shapely.intersects(cells[i], cells[j]):
            continue
        used[i] = used[j] = True
        geoms.append(shapely.MultiPolygon([cells[i], cells[j]]))
    rest = cells[~used]
    holes = rng.random(len(rest)) < 0.03
    for c, h in zip(rest, holes):
        if h:
            inner = shapely.set_precision(
                shapely.affinity.scale(shapely.convex_hull(c), 0.3, 0.3, origin="centroid"), 1e-7)
            c = shapely.Polygon(c.exterior.coords, [inner.exterior.coords])
        geoms.append(shapely.MultiPolygon([c]))
    geoms = np.asarray(geoms[:n_grids], dtype=object)
    order = rng.permutation(len(geoms))
    geoms = geoms[order]
    codes = np.asarray([f"620302{(i // 1000):03d}{(i // 50 % 20):03d}{i % 1000:03d}" for i in range(len(geoms))],
                       dtype=object)
    codes = np.asarray([f"{620302000000000 + i:015d}" for i in range(len(geoms))], dtype=object)
    return codes, geoms


def make_points(geoms: np.ndarray, n: int, *, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points: 98 % uniform in the box, 1 % exactly on vertices, 1 % on edges (interpolated)."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = BOX
    n_v = n // 100
    n_e = n // 100
    n_u = n - n_v - n_e
    xy = shapely.get_coordinates(geoms)
    vi = rng.integers(0, len(xy), n_v)
    rings = shapely.get_exterior_ring(shapely.get_parts(geoms))
    ri = rng.integers(0, len(rings), n_e)
    ep = shapely.line_interpolate_point(rings[ri], rng.random(n_e), normalized=True)
    exy = shapely.get_coordinates(ep)
    lon = np.concatenate([rng.uniform(x0, x1, n_u), xy[vi, 0], exy[:, 0]])
    lat = np.concatenate([rng.uniform(y0, y1, n_u), xy[vi, 1], exy[:, 1]])
    perm = rng.permutation(n)
    return lon[perm], lat[perm]


def time_bulk(codes, geoms, lon, lat, *, rounds: int = 5) -> dict:
    """Ours (a fresh :class:`Locator`, build + assign) against ``geopandas.sjoin(within)`` (a fresh spatial
    index) in ``rounds`` interleaved rounds, the order alternating: the two runs of a round are moments apart, so
    the drift of a shared machine (±40 % between single runs here) hits both alike. The ratio is the median of
    the rounds' ratios; the times are medians too. Points are made once, outside the timing (ours takes the
    lon/lat arrays as they are)."""
    grids = gpd.GeoDataFrame({"code": codes}, geometry=list(geoms), crs=4326)
    t = time.perf_counter()
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    t_pts = time.perf_counter() - t
    kinds = ["comprehensive"] * len(codes)
    sj, ours, build, ratios = [], [], [], []
    joined = a = loc = None
    for k in range(rounds):
        for side in (("sjoin", "ours") if k % 2 == 0 else ("ours", "sjoin")):
            if side == "sjoin":
                joined = None  # the previous result is garbage before the run, not during it
            else:
                a = loc = None
            gc.collect()  # as timeit does: no collection of the other side's garbage inside a timed run
            gc.disable()
            try:
                t = time.perf_counter()
                if side == "sjoin":
                    joined = gpd.sjoin(pts, grids.copy(), predicate="within", how="left")
                    sj.append(time.perf_counter() - t)
                else:
                    loc = Locator(codes, kinds, geoms, nearest_m=0)  # nearest-grid fallback off, like sjoin
                    build.append(time.perf_counter() - t)
                    a = loc.assign(lon, lat)
                    ours.append(time.perf_counter() - t)
            finally:
                gc.enable()
        ratios.append(sj[-1] / ours[-1])
    joined = joined[~joined.index.duplicated(keep="first")]
    idx = joined["index_right"].to_numpy().astype(float)
    g_sjoin = np.where(np.isnan(idx), -1, np.nan_to_num(idx, nan=-1)).astype(np.int64)
    return {"sjoin_s": float(np.median(sj)), "ours_s": float(np.median(ours)), "build_s": float(np.median(build)),
            "ratio": float(np.median(ratios)), "ratio_min": float(min(ratios)), "ratio_max": float(max(ratios)),
            "rounds": rounds, "points_from_xy_s": t_pts, "sjoin_runs_s": sj, "ours_runs_s": ours,
            "g_sjoin": g_sjoin, "g_ours": a.grid.astype(np.int64), "loc": loc}


def check_agreement(codes, geoms, lon, lat, ours, sjoin, *, tol_m=0.5) -> dict:
    """Compare with sjoin away from borders (> 1 m) and with the tie-break within 0.5 m of them."""
    kx, ky = kern.metres_per_degree(float(np.mean(lat)))
    pts = shapely.points(lon, lat)
    tree = shapely.STRtree(geoms)
    near_deg = 1.0 / min(kx, ky)
    pi, gi = tree.query(pts, predicate="dwithin", distance=near_deg)
    near_border = np.zeros(len(lon), bool)
    if pi.size:
        d = shapely.distance(shapely.boundary(geoms[gi]), pts[pi])
        near_border[pi[d <= near_deg]] = True
    away = ~near_border
    agree_away = int(np.sum(ours[away] == sjoin[away]))
    # on borders: the expected grid is the lowest code among the grids whose distance is within tol (metres)
    idx = np.flatnonzero(near_border)
    pi, gi = tree.query(pts[idx], predicate="dwithin", distance=2 * near_deg)
    dx = shapely.get_coordinates(pts[idx][pi])
    # metric distance via a local scaling of the geometries around each point
    dd = np.empty(pi.size)
    for k_, (_p, g) in enumerate(zip(pi, gi)):
        x, y = dx[k_]
        local = shapely.transform(geoms[g], lambda c, x=x, y=y: np.column_stack(((c[:, 0] - x) * kx,
                                                                                   (c[:, 1] - y) * ky)))
        dd[k_] = shapely.distance(local, shapely.Point(0, 0))
    ok = 0
    ambiguous = 0
    expected = np.full(idx.size, -1)
    for k_ in range(idx.size):
        sel = pi == k_
        ds, gs = dd[sel], gi[sel]
        if np.any(np.abs(ds - tol_m) < 0.01):
            ambiguous += 1
            continue
        cand = gs[ds <= tol_m]
        expected[k_] = cand.min() if cand.size else -1
        ok += int(expected[k_] == ours[idx[k_]])
    return {"points": int(len(lon)), "away": int(away.sum()), "agree_away": agree_away,
            "near_border": int(idx.size), "tie_break_ok": ok, "ambiguous_1cm": ambiguous,
            "sjoin_unmatched_near_border": int(np.sum(sjoin[idx] < 0)), "_away": away}


def time_postgis(codes, geoms, lon, lat, *, n_single: int = 2000, before_timing=lambda: None) -> dict | None:
    """COPY grids and points into a throwaway database; time the GiST build and the join. ``before_timing()``
    runs once the data is ready to send, before the first timed statement."""
    from layers.db import drop_database, make_engine
    from scripts.bench.common import copy_database, postgis_template

    settings = copy_database(postgis_template())
    engine = make_engine(settings, pool_size=1, max_overflow=0)
    try:
        raw = engine.raw_connection()
        cur = raw.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        cur.execute("CREATE TABLE g (id int, code text, geom geometry(MultiPolygon, 4326))")
        cur.execute("CREATE TABLE p (id int, geom geometry(Point, 4326))")
        buf = io.StringIO()
        for i, (c, w) in enumerate(zip(codes, shapely.to_wkb(geoms, hex=True, include_srid=False))):
            buf.write(f"{i}\t{c}\tSRID=4326;{w}\n")
        buf.seek(0)
        cur.copy_expert("COPY g (id, code, geom) FROM STDIN", buf)
        buf = io.StringIO()
        for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist())):
            buf.write(f"{i}\tSRID=4326;POINT({x!r} {y!r})\n")
        buf.seek(0)
        before_timing()
        t = time.perf_counter()
        cur.copy_expert("COPY p (id, geom) FROM STDIN", buf)
        raw.commit()
        t_copy = time.perf_counter() - t
        t = time.perf_counter()
        cur.execute("CREATE TABLE gs AS SELECT id, code, ST_Subdivide(geom, 64) AS geom FROM g")
        cur.execute("CREATE INDEX ON gs USING gist (geom)")
        cur.execute("ANALYZE gs; ANALYZE p")
        raw.commit()
        t_index = time.perf_counter() - t
        t = time.perf_counter()
        cur.execute("SELECT DISTINCT ON (p.id) p.id, gs.id FROM p JOIN gs ON ST_Covers(gs.geom, p.geom) "
                    "ORDER BY p.id, gs.code")
        rows = cur.fetchall()
        t_join = time.perf_counter() - t
        out = np.full(len(lon), -1, np.int64)
        if rows:
            arr = np.asarray(rows, dtype=np.int64)
            out[arr[:, 0]] = arr[:, 1]
        # single-point lookups (indexed, one statement each)
        times = []
        for x, y in zip(lon[:n_single], lat[:n_single]):
            t = time.perf_counter()
            cur.execute("SELECT code FROM gs WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) "
                        "ORDER BY code LIMIT 1", (float(x), float(y)))
            cur.fetchall()
            times.append(time.perf_counter() - t)
        raw.close()
        return {"copy_s": t_copy, "index_s": t_index, "join_s": t_join, "grid": out,
                "single_median_ms": statistics.median(times) * 1000,
                "single_p99_ms": float(np.percentile(times, 99)) * 1000}
    finally:
        engine.dispose()
        drop_database(settings.sqlalchemy_url)


class ServiceBench:
    """The single call as a service answers it: ``layers.locate.locate`` in process (with its database round
    trips: cache fingerprint, contacts) and ``GET /api/v1/locate`` over HTTP from a uvicorn server, on the same
    city loaded as a published plan into a throwaway migrated database.

    Made before the PostGIS peer's untimed set-up: the server imports (~2 s) while that data is loaded, and
    :meth:`wait_ready` (called before anything is timed) waits until it answers and idles."""

    def __init__(self, codes, geoms) -> None:
        from layers.db import make_engine
        from scripts.bench.common import copy_database, migrated_template, start_api

        self.settings = copy_database(migrated_template())
        self.engine = None
        # its engine connects lazily, on the first request: the grids are in by then
        self.proc, self.base = start_api(self.settings.sqlalchemy_url.render_as_string(hide_password=False))
        try:
            self.engine = make_engine(self.settings, pool_size=2, max_overflow=0)
            raw = self.engine.raw_connection()
            cur = raw.cursor()
            cur.execute("INSERT INTO grid_plans (name, status, generation, source) VALUES "
                        "('bench', 'published', 1, 'synthetic') RETURNING id")
            plan_id = cur.fetchone()[0]
            buf = io.StringIO()
            wkb = shapely.to_wkb(geoms, hex=True, include_srid=False)
            for c, w in zip(codes, wkb, strict=True):
                buf.write(f"{plan_id}\t{c}\t{c}\tcomprehensive\t{c[:12]}\t2023\t1\tSRID=4326;{w}\tsynthetic\t{{}}\n")
            buf.seek(0)
            cur.copy_expert("COPY grids (plan_id, code, name, kind, community_code, community_edition, version, "
                            "geom, source, properties) FROM STDIN", buf)
            raw.commit()
            raw.close()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ServiceBench:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait_ready(self, lon: float, lat: float) -> None:
        """Until the server answers a lookup (and so has built its locator)."""
        from scripts.bench.common import wait_http

        wait_http(self.base, "/api/v1/locate", params={"lon": lon, "lat": lat}, ready=lambda status: status == 200)

    def measure(self, lon, lat, n: int = 2000) -> dict:
        """Median and p99 of ``n`` calls each way."""
        import httpx

        from layers.db import make_sessionmaker
        from layers.locate import locate

        sample = [(float(x), float(y)) for x, y in zip(lon[:n], lat[:n], strict=True)]
        self.wait_ready(*sample[0])
        with make_sessionmaker(self.engine)() as s:
            t = time.perf_counter()
            locate(s, *sample[0])  # first call builds and caches the locator
            build_s = time.perf_counter() - t
            times = []
            for x, y in sample:
                t = time.perf_counter()
                locate(s, x, y)
                times.append(time.perf_counter() - t)
        inproc = {"median_ms": statistics.median(times) * 1000, "p99_ms": float(np.percentile(times, 99)) * 1000,
                  "first_call_build_s": build_s}
        times = []
        with httpx.Client(base_url=self.base, timeout=30) as client:
            for x, y in sample:
                t = time.perf_counter()
                r = client.get("/api/v1/locate", params={"lon": x, "lat": y})
                times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
        http = {"median_ms": statistics.median(times) * 1000, "p99_ms": float(np.percentile(times, 99)) * 1000}
        return {"n": len(sample), "in_process": inproc, "http": http}

    def close(self) -> None:
        """Stop the server, drop the database."""
        from layers.db import drop_database

        self.proc.terminate()
        self.proc.wait(timeout=10)
        if self.engine is not None:
            self.engine.dispose()
        drop_database(self.settings.sqlalchemy_url)


def time_dask(address: str, codes, geoms, lon, lat, loc: Locator, g_ours: np.ndarray, away: np.ndarray) -> dict:
    """Ours (:func:`gis.distributed_assign.assign_distributed`) and dask-geopandas' sjoin on one cluster."""
    import dask_geopandas

    from gis.distributed_assign import assign_distributed, connect

    with connect(address) as client:
        workers = len(client.scheduler_info()["workers"])
        assign_distributed(loc, lon[:1000], lat[:1000], client)  # warm the workers (imports, numba cache)
        t = time.perf_counter()
        a = assign_distributed(loc, lon, lat, client)
        ours_s = time.perf_counter() - t
        identical = bool(np.array_equal(a.grid, g_ours))
        grids = gpd.GeoDataFrame({"gi": np.arange(len(codes))}, geometry=list(geoms), crs="EPSG:4326")
        pts = gpd.GeoDataFrame({"pi": np.arange(len(lon))}, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        t = time.perf_counter()
        dpts = dask_geopandas.from_geopandas(pts, npartitions=max(2, 2 * workers))
        joined = dpts.sjoin(grids, predicate="within").compute()
        peer_s = time.perf_counter() - t
    g_peer = np.full(len(lon), -1)
    joined = joined.sort_values("gi").drop_duplicates("pi")
    g_peer[joined["pi"].to_numpy()] = joined["gi"].to_numpy()
    return {"workers": workers, "ours_s": ours_s, "peer_s": peer_s, "identical": identical,
            "peer_agree": int(np.sum(g_peer[away] == g_ours[away]))}


def time_single(loc: Locator, lon, lat, n: int = 10_000) -> dict:
    """Median and p99 of the in-process single-point path (``Locator.locate_one``) over ``n`` calls."""
    times = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        loc.locate_one(lon[i], lat[i])
        times[i] = time.perf_counter() - t
    return {"median_ms": float(np.median(times) * 1000), "p99_ms": float(np.percentile(times, 99) * 1000)}


def main(argv=None) -> int:
    """Run the benchmark and print (and optionally write) the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 grids and 100,000 points (under ~30 s)")
    ap.add_argument("--grids", type=int, help="number of grids (default 10,000; 1,000 with --quick)")
    ap.add_argument("--points", type=int, help="number of points (default 1,000,000; 100,000 with --quick)")
    ap.add_argument("--no-postgis", action="store_true", help="skip the PostGIS peer")
    ap.add_argument("--dask", metavar="ADDRESS",
                    help="also run ours and dask-geopandas' sjoin on a Dask cluster (scheduler address or 'local')")
    ap.add_argument("--json", help="write the result rows to this file")
    args = ap.parse_args(argv)
    n_grids = args.grids or (1_000 if args.quick else 10_000)
    n_points = args.points or (100_000 if args.quick else 1_000_000)

    t = time.perf_counter()
    codes, geoms = make_city(n_grids)
    lon, lat = make_points(geoms, n_points)
    print(f"data: {len(codes)} grids, {len(lon)} points, made in {time.perf_counter() - t:.1f} s", flush=True)

    # warm up the compiled kernels (loaded from numba's on-disk cache after the first run)
    Locator(codes[:10], ["comprehensive"] * 10, geoms[:10]).assign(lon[:100], lat[:100])

    bulk = time_bulk(codes, geoms, lon, lat)
    t_sjoin, t_ours, t_build, ratio = bulk["sjoin_s"], bulk["ours_s"], bulk["build_s"], bulk["ratio"]
    g_sjoin, g_ours, loc = bulk.pop("g_sjoin"), bulk.pop("g_ours"), bulk.pop("loc")
    print(f"geopandas.sjoin(within): median {t_sjoin:.3f} s ({len(lon) / t_sjoin / 1e6:.2f} M points/s); "
          f"points_from_xy {bulk['points_from_xy_s']:.3f} s (not counted)", flush=True)
    print(f"ours (build {t_build:.3f} s + assign): median {t_ours:.3f} s ({len(lon) / t_ours / 1e6:.2f} M points/s); "
          f"raster {loc.grids.raster.nx}×{loc.grids.raster.ny}", flush=True)
    print(f"ratio vs sjoin: {ratio:.1f}× (median of {bulk['rounds']} interleaved rounds; "
          f"{bulk['ratio_min']:.1f}–{bulk['ratio_max']:.1f}×)", flush=True)
    single = time_single(loc, lon, lat)
    print(f"single point in process: median {single['median_ms']:.4f} ms, p99 {single['p99_ms']:.4f} ms", flush=True)
    with contextlib.ExitStack() as stack:
        # the service's server imports while the answers are checked and the PostGIS peer's data is made
        service = None if args.no_postgis else stack.enter_context(ServiceBench(codes, geoms))
        agree = check_agreement(codes, geoms, lon, lat, g_ours, g_sjoin)
        away = agree.pop("_away")
        print("agreement:", agree, flush=True)

        rows = [
            {"target": "bulk ≥ 10× sjoin", "ours": len(lon) / t_ours, "peer": len(lon) / t_sjoin,
             "peer_name": "geopandas.sjoin within", "ratio": ratio, "unit": "points/s",
             "agreement": f"{agree['agree_away']}/{agree['away']} away; ties {agree['tie_break_ok']}/"
                          f"{agree['near_border'] - agree['ambiguous_1cm']}",
             "notes": f"{len(codes)} grids, {len(lon)} points, index builds included; median of {bulk['rounds']} "
                      f"interleaved rounds (round ratios {bulk['ratio_min']:.1f}–{bulk['ratio_max']:.1f}×)"},
            {"target": "single point < 1 ms", "ours": single["median_ms"], "peer": None, "peer_name": "–",
             "ratio": None, "unit": "ms", "agreement": "–", "notes": f"p99 {single['p99_ms']:.3f} ms, in process"},
        ]
        details = {"sjoin_s": t_sjoin, "ours_s": t_ours, "ours_build_s": t_build, "bulk": bulk, "agreement": agree,
                   "single": single}
        if not args.no_postgis:
            pg = time_postgis(codes, geoms, lon, lat, n_single=500 if args.quick else 2000,
                              before_timing=lambda: service.wait_ready(float(lon[0]), float(lat[0])))
            t_pg = pg["index_s"] + pg["join_s"]
            agree_pg = int(np.sum(pg["grid"][away] == g_ours[away]))
            exact_pg = int(np.sum(pg["grid"] == g_ours))
            print(f"PostGIS: COPY {pg['copy_s']:.2f} s, subdivide+GiST {pg['index_s']:.2f} s, join {pg['join_s']:.2f} s "
                  f"({len(lon) / t_pg / 1e6:.3f} M points/s); ratio {t_pg / t_ours:.0f}×; identical away from borders {agree_pg}/{away.sum()}, all {exact_pg}/{len(lon)}; "
                  f"single lookup median {pg['single_median_ms']:.3f} ms p99 {pg['single_p99_ms']:.3f} ms", flush=True)
            rows.insert(1, {"target": "bulk vs PostGIS join", "ours": len(lon) / t_ours, "peer": len(lon) / t_pg,
                            "peer_name": "PostGIS ST_Covers join (subdivided, GiST)", "ratio": t_pg / t_ours,
                            "unit": "points/s", "agreement": f"{agree_pg}/{away.sum()} away; all {exact_pg}/{len(lon)}",
                            "notes": "index build included, COPY excluded"})
            rows.append({"target": "single point vs PostGIS", "ours": single["median_ms"],
                         "peer": pg["single_median_ms"], "peer_name": "PostGIS point lookup (psycopg2, local)",
                         "ratio": pg["single_median_ms"] / single["median_ms"], "unit": "ms", "agreement": "–",
                         "notes": f"median of {500 if args.quick else 2000:,} lookups"})
            details["postgis"] = {k: v for k, v in pg.items() if k != "grid"}
            svc = service.measure(lon, lat, n=200 if args.quick else 2000)
            print(f"service: locate() in process with the database median {svc['in_process']['median_ms']:.2f} ms "
                  f"(p99 {svc['in_process']['p99_ms']:.2f}); HTTP GET /api/v1/locate median {svc['http']['median_ms']:.2f} "
                  f"ms (p99 {svc['http']['p99_ms']:.2f})", flush=True)
            rows.append({"target": "single incident, service", "ours": svc["http"]["median_ms"],
                         "peer": pg["single_median_ms"], "peer_name": "PostGIS point lookup",
                         "ratio": pg["single_median_ms"] / svc["http"]["median_ms"], "unit": "ms", "agreement": "–",
                         "notes": f"median of {svc['n']:,} calls; ours over HTTP with grid, areas, contacts; in "
                                  f"process with DB {svc['in_process']['median_ms']:.2f} ms"})
            details["service"] = svc
    if args.dask:
        dk = time_dask(args.dask, codes, geoms, lon, lat, loc, g_ours, away)
        print(f"Dask ({dk['workers']} workers): ours {dk['ours_s']:.3f} s, identical to one process: {dk['identical']}; "
              f"dask-geopandas sjoin {dk['peer_s']:.3f} s, same grid away from borders {dk['peer_agree']}/{away.sum()}; "
              f"ratio {dk['peer_s'] / dk['ours_s']:.1f}×", flush=True)
        rows.append({"target": "bulk on Dask = single process", "ours": len(lon) / dk["ours_s"],
                     "peer": len(lon) / dk["peer_s"], "peer_name": "dask-geopandas sjoin within (same cluster)",
                     "ratio": dk["peer_s"] / dk["ours_s"], "unit": "points/s",
                     "agreement": f"identical to single process: {dk['identical']}; peer {dk['peer_agree']}/{away.sum()} "
                                  "away from borders",
                     "notes": f"{dk['workers']} workers at {args.dask}; locator broadcast included, cluster start excluded"})
        details["dask"] = dk
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "locate", "rows": rows, "details": details}, f, ensure_ascii=False, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
