"""Benchmark: bulk point → grid assignment, ours against ``geopandas.sjoin(predicate="within")`` and a PostGIS
join, on the same synthetic city, in the same run; plus the single-point path against a PostGIS point lookup.

The city (seeded, reproducible): a Voronoi tessellation of a box around Jinchang clipped to it, some cells with
a hole (a lake: in no grid), some grids made of two detached cells (multipolygons). Points: uniform in the box,
plus points exactly on grid vertices and on shared edges.

Timings include every index build (sjoin's STRtree, our raster, PostGIS's GiST) and exclude making the data.
Each peer runs as often as ours, interleaved, the order alternating: the ratios are medians of the rounds'
ratios. Single points: ours (``Locator.locate_one``) against a shapely ``STRtree`` query, both in process,
calls alternating; and ``GET /api/v1/locate`` against the bare FastAPI + PostGIS ``GET /locate``, both over
HTTP from one client (a PostGIS lookup over psycopg2 is reported alongside, not as a ratio: it is a round
trip, ours in process is not).
Agreement: away from borders (> 1 m) our grid equals sjoin's, PostGIS's, shapely's and the bare service's; on
borders (within 0.5 m) ours is the lowest code among the grids within 0.5 m (the documented tie-break),
checked with shapely. The command exits 1 when any of these fails.

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
    lon/lat arrays as they are); each sjoin run gets fresh copies of both frames, made outside the timing, since
    geopandas keeps a frame's spatial index once built (``within`` queries the points' one)."""
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
                # sjoin(within) queries the left frame's spatial index (an STRtree over the points), which geopandas
                # builds on first use and keeps on the frame: a fresh copy each run, so that it is built in every
                # round as ours is (reusing one frame, rounds 2–5 skipped the build)
                left, right = pts.copy(), grids.copy()
            else:
                a = loc = left = right = None  # sjoin's frames and index are freed outside the timing too
            gc.collect()  # as timeit does: no collection of the other side's garbage inside a timed run
            gc.disable()
            try:
                t = time.perf_counter()
                if side == "sjoin":
                    joined = gpd.sjoin(left, right, predicate="within", how="left")
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


def _ours_once(codes, geoms, lon, lat) -> float:
    """One timed run of ours (a fresh locator, build + assign), garbage collected outside the timing."""
    gc.collect()
    gc.disable()
    try:
        t = time.perf_counter()
        Locator(codes, ["comprehensive"] * len(codes), geoms, nearest_m=0).assign(lon, lat)
        return time.perf_counter() - t
    finally:
        gc.enable()


def time_postgis(codes, geoms, lon, lat, *, n_single: int = 2000, rounds: int = 3,
                 before_timing=lambda: None) -> dict | None:
    """COPY grids and points into a throwaway database, then ``rounds`` rounds of the PostGIS join (subdivided
    pieces, GiST index, ``ST_Covers`` join: index build included) and of ours, the order alternating; the ratio
    is the median of the rounds' ratios. ``before_timing()`` runs once the data is ready to send."""
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
        cur.execute("ANALYZE p")
        raw.commit()
        t_copy = time.perf_counter() - t
        pg_s, ours_s, index_s = [], [], []
        rows = None
        for k in range(rounds):
            for side in (("postgis", "ours") if k % 2 == 0 else ("ours", "postgis")):
                if side == "ours":
                    ours_s.append(_ours_once(codes, geoms, lon, lat))
                    continue
                cur.execute("DROP TABLE IF EXISTS gs")
                raw.commit()
                t = time.perf_counter()
                cur.execute("CREATE TABLE gs AS SELECT id, code, ST_Subdivide(geom, 64) AS geom FROM g")
                cur.execute("CREATE INDEX ON gs USING gist (geom)")
                cur.execute("ANALYZE gs")
                raw.commit()
                index_s.append(time.perf_counter() - t)
                cur.execute("SELECT DISTINCT ON (p.id) p.id, gs.id FROM p JOIN gs ON ST_Covers(gs.geom, p.geom) "
                            "ORDER BY p.id, gs.code")
                rows = cur.fetchall()
                pg_s.append(time.perf_counter() - t)
        out = np.full(len(lon), -1, np.int64)
        if rows:
            arr = np.asarray(rows, dtype=np.int64)
            out[arr[:, 0]] = arr[:, 1]
        # single-point lookups (indexed, one statement each): recorded, not a row (a client-server round trip)
        times = []
        for x, y in zip(lon[:n_single], lat[:n_single]):
            t = time.perf_counter()
            cur.execute("SELECT code FROM gs WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) "
                        "ORDER BY code LIMIT 1", (float(x), float(y)))
            cur.fetchall()
            times.append(time.perf_counter() - t)
        raw.close()
        ratios = [p / o for p, o in zip(pg_s, ours_s)]
        return {"copy_s": t_copy, "index_s": float(np.median(index_s)), "join_s": float(np.median(pg_s)),
                "postgis_runs_s": pg_s, "ours_runs_s": ours_s, "ratio": float(np.median(ratios)),
                "ratios": ratios, "grid": out, "single_median_ms": statistics.median(times) * 1000,
                "single_p99_ms": float(np.percentile(times, 99)) * 1000}
    finally:
        engine.dispose()
        drop_database(settings.sqlalchemy_url)


class ServiceBench:
    """The single call as a service answers it: ``GET /api/v1/locate`` from a uvicorn server against ``GET
    /locate`` of the bare FastAPI + PostGIS service (:mod:`scripts.bench.bare_service`: one ``ST_Covers``
    lookup), both over HTTP from one client, calls alternating, on the same city loaded as a published plan into
    a throwaway migrated database; and ``layers.locate.locate`` in process (with its database round trips).

    Made before the PostGIS peer's untimed set-up: the server imports (~2 s) while that data is loaded, and
    :meth:`wait_ready` (called before anything is timed) waits until both answer."""

    def __init__(self, codes, geoms) -> None:
        from layers.db import make_engine
        from scripts.bench.common import copy_database, migrated_template, start_api

        self.settings = copy_database(migrated_template())
        self.engine = None
        self.peer_proc = None
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
            self.peer_proc, self.peer_base = start_api(
                self.settings.sqlalchemy_url.render_as_string(hide_password=False),
                app="scripts.bench.bare_service:create_app", env={"GRIDMAP_BARE_POOL": "2"})
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
        wait_http(self.peer_base, "/locate", params={"lon": lon, "lat": lat}, ready=lambda status: status == 200)

    def measure(self, lon, lat, away, n: int = 2000) -> dict:
        """Median and p99 of ``n`` calls each way; the grids both services give away from borders."""
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
        ours_t, peer_t = [], []
        same = compared = outside = 0
        with httpx.Client(timeout=30) as client:
            for k, (x, y) in enumerate(sample):
                calls = (("ours", self.base + "/api/v1/locate"), ("peer", self.peer_base + "/locate"))
                got = {}
                for side, url in (calls if k % 2 == 0 else calls[::-1]):
                    t = time.perf_counter()
                    r = client.get(url, params={"lon": x, "lat": y})
                    (ours_t if side == "ours" else peer_t).append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text
                    got[side] = r.json()
                if away[k]:
                    compared += 1
                    if got["peer"]["grid"] is None and got["ours"]["assignment"]["method"] in ("nearest_grid",
                                                                                               "unassigned"):
                        # in no grid: the peer answers none, ours its nearest-grid rule (or none beyond its reach)
                        outside += 1
                        same += 1
                    else:
                        same += (got["ours"]["grid"] or {}).get("code") == got["peer"]["grid"]

        def stats(times):
            return {"median_ms": statistics.median(times) * 1000, "p99_ms": float(np.percentile(times, 99)) * 1000}
        return {"n": len(sample), "in_process": inproc, "http": stats(ours_t), "peer_http": stats(peer_t),
                "same_away": same, "compared": compared, "outside": outside}

    def close(self) -> None:
        """Stop the server, drop the database."""
        from layers.db import drop_database

        for proc in (self.proc, self.peer_proc):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
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


def time_single(loc: Locator, geoms, lon, lat, away, n: int = 10_000) -> dict:
    """Median and p99 of the in-process single-point path, ours (``Locator.locate_one``) and shapely's (an
    ``STRtree`` of the grids, ``query(point, predicate="intersects")``, lowest code first), calls alternating;
    and whether they give the same grid away from borders."""
    tree = shapely.STRtree(geoms)
    ours_t, peer_t = np.empty(n), np.empty(n)
    same = compared = 0
    for i in range(n):
        x, y = float(lon[i]), float(lat[i])
        for side in (("ours", "peer") if i % 2 == 0 else ("peer", "ours")):
            t = time.perf_counter()
            if side == "ours":
                got = loc.locate_one(x, y)["grid"]
                ours_t[i] = time.perf_counter() - t
            else:
                hits = tree.query(shapely.Point(x, y), predicate="intersects")
                peer = int(hits.min()) if hits.size else None
                peer_t[i] = time.perf_counter() - t
        if away[i]:
            compared += 1
            same += got == peer

    def stats(times):
        return {"median_ms": float(np.median(times) * 1000), "p99_ms": float(np.percentile(times, 99) * 1000)}
    return {**stats(ours_t), "peer": stats(peer_t), "same_away": same, "compared": compared}


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
    with contextlib.ExitStack() as stack:
        # the service's server imports while the answers are checked and the PostGIS peer's data is made
        service = None if args.no_postgis else stack.enter_context(ServiceBench(codes, geoms))
        agree = check_agreement(codes, geoms, lon, lat, g_ours, g_sjoin)
        away = agree.pop("_away")
        print("agreement:", agree, flush=True)
        single = time_single(loc, geoms, lon, lat, away)
        print(f"single point in process: ours median {single['median_ms']:.4f} ms (p99 {single['p99_ms']:.4f}), "
              f"shapely STRtree {single['peer']['median_ms']:.4f} ms; same grid {single['same_away']}/"
              f"{single['compared']}", flush=True)
        ties = agree["near_border"] - agree["ambiguous_1cm"]
        rows = [
            {"target": "bulk ≥ 20× sjoin", "ours": len(lon) / t_ours, "peer": len(lon) / t_sjoin,
             "peer_name": "geopandas.sjoin within", "ratio": ratio, "unit": "points/s",
             "agreement": f"{agree['agree_away']}/{agree['away']} away; ties {agree['tie_break_ok']}/{ties}",
             "agrees": agree["agree_away"] == agree["away"] and agree["tie_break_ok"] == ties,
             "notes": f"{len(codes)} grids, {len(lon)} points, index builds included on both sides in every round "
                      f"(sjoin's STRtree over the points on a fresh frame, copied outside the timing; ours on 2 "
                      f"threads, sjoin on 1); median of {bulk['rounds']} interleaved rounds (round ratios "
                      f"{bulk['ratio_min']:.1f}–{bulk['ratio_max']:.1f}×)"},
            {"target": "single point in process < 1 ms", "ours": single["median_ms"],
             "peer": single["peer"]["median_ms"], "peer_name": "shapely STRtree query(intersects), in process",
             "ratio": single["peer"]["median_ms"] / single["median_ms"], "unit": "ms",
             "agreement": f"{single['same_away']}/{single['compared']} same grid away from borders",
             "agrees": single["same_away"] == single["compared"],
             "notes": f"median of 10,000 calls, alternating; p99 ours {single['p99_ms']:.3f} ms, shapely "
                      f"{single['peer']['p99_ms']:.3f} ms; ours applies every rule (tolerance, ties, 包街)"},
        ]
        details = {"sjoin_s": t_sjoin, "ours_s": t_ours, "ours_build_s": t_build, "bulk": bulk, "agreement": agree,
                   "single": single}
        if not args.no_postgis:
            pg = time_postgis(codes, geoms, lon, lat, n_single=500 if args.quick else 2000,
                              before_timing=lambda: service.wait_ready(float(lon[0]), float(lat[0])))
            t_pg, t_ours_pg = float(np.median(pg["postgis_runs_s"])), float(np.median(pg["ours_runs_s"]))
            agree_pg = int(np.sum(pg["grid"][away] == g_ours[away]))
            exact_pg = int(np.sum(pg["grid"] == g_ours))
            print(f"PostGIS: COPY {pg['copy_s']:.2f} s, subdivide+GiST {pg['index_s']:.2f} s, join+index median "
                  f"{t_pg:.2f} s; ours {t_ours_pg:.3f} s; ratio {pg['ratio']:.0f}× (rounds {pg['ratios']}); "
                  f"identical away from borders {agree_pg}/{away.sum()}, all {exact_pg}/{len(lon)}; single lookup "
                  f"median {pg['single_median_ms']:.3f} ms p99 {pg['single_p99_ms']:.3f} ms", flush=True)
            rows.insert(1, {"target": "bulk vs PostGIS join", "ours": len(lon) / t_ours_pg, "peer": len(lon) / t_pg,
                            "peer_name": "PostGIS ST_Covers join (subdivided, GiST)", "ratio": pg["ratio"],
                            "unit": "points/s", "agreement": f"{agree_pg}/{away.sum()} away; all {exact_pg}/{len(lon)}",
                            "agrees": agree_pg == int(away.sum()),
                            "notes": f"index build included on both sides, COPY excluded; median of "
                                     f"{len(pg['ratios'])} alternating rounds"})
            details["postgis"] = {k: v for k, v in pg.items() if k != "grid"}
            svc = service.measure(lon, lat, away, n=200 if args.quick else 2000)
            print(f"service: HTTP GET /api/v1/locate median {svc['http']['median_ms']:.2f} ms (p99 "
                  f"{svc['http']['p99_ms']:.2f}), bare GET /locate {svc['peer_http']['median_ms']:.2f} ms; in process "
                  f"with the database {svc['in_process']['median_ms']:.2f} ms; same grid {svc['same_away']}/"
                  f"{svc['compared']}", flush=True)
            rows.append({"target": "single lookup over HTTP, one client", "ours": svc["http"]["median_ms"],
                         "peer": svc["peer_http"]["median_ms"], "peer_name": "bare FastAPI + PostGIS GET /locate",
                         "ratio": svc["peer_http"]["median_ms"] / svc["http"]["median_ms"], "unit": "ms",
                         "agreement": f"{svc['same_away']}/{svc['compared']} same grid away from borders (of them "
                                      f"{svc['outside']} in no grid: the peer none, ours by its nearest-grid rule)",
                         "agrees": svc["same_away"] == svc["compared"],
                         "notes": f"median of {svc['n']:,} calls each, alternating; ours the full answer (grid, "
                                  f"areas, contacts), the peer one ST_Covers lookup; p99 ours "
                                  f"{svc['http']['p99_ms']:.2f}, peer {svc['peer_http']['p99_ms']:.2f} ms; ours in "
                                  f"process with the database {svc['in_process']['median_ms']:.2f} ms, a PostGIS "
                                  f"lookup over psycopg2 {pg['single_median_ms']:.3f} ms"})
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
                                  "away from borders", "agrees": bool(dk["identical"]),
                     "notes": f"{dk['workers']} workers at {args.dask}; locator broadcast included, cluster start excluded"})
        details["dask"] = dk
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "locate", "rows": rows, "details": details}, f, ensure_ascii=False, indent=2)
    return 0 if all(row.get("agrees", True) for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
