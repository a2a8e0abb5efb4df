"""Benchmark: walking service areas of many facilities on the real Wuhan street network, ours against
pgRouting (``pgr_drivingDistance`` + ``ST_Union(ST_Buffer(reached edges))``) and networkx reachability.

Data: ``data/osm/wuhan_fua8989_streets.parquet`` (© OpenStreetMap contributors; 92,667 edges,
≈82,900 nodes, EPSG:32650). Facilities: seeded random street nodes (pgRouting starts at a node, so both
sides walk from the same place); ``details.off_node`` also times ours from random points off the network.

- **ours**: ``gis.isochrones.service_areas`` (scipy Dijkstra with a limit from a virtual start node, reached
  and partial edges, trails buffered and united) — polygons included, graph built beforehand.
- **pgRouting**: one query per facility in a database kept between runs (``gridmap_bench_iso_<key>``, rebuilt
  when the data file or the loading code changes, or with ``--fresh``):
  ``pgr_drivingDistance`` on the edges in the budget's bounding box, then ``ST_Union(ST_Buffer(geom, 50))`` of
  the edges with both ends reached; default ``ST_Buffer`` (8 segments per quarter circle) as specified. Against
  ours as shipped (the grid-traced outline, partly walked streets included): not the same polygon, and the row
  says by how much (area overlap, each side's area outside the other).
- **Like for like** (first 200 facilities; ``--quick`` all): both build the same polygon the same way — whole
  streets and the walked parts of partly reached ones (``ST_LineSubstring`` in SQL, ``reached_parts`` in ours),
  each buffered 50 m with 3 segments per quarter circle and united (PostGIS ``ST_Union(ST_Buffer)``; ours
  ``mode="vector"``, shapely/GEOS); polygons compared by area overlap as well as reached nodes.
- **networkx**: ``single_source_dijkstra_path_length(cutoff=budget)``, reachability only, against ours
  reachability only (scipy Dijkstra with a limit).

The runs are interleaved in chunks (ours, then pgRouting, on the same facilities) so that the load of a
shared machine hits both alike. Agreement: reached node sets, summed |ours ∩ peer| / |ours ∪ peer|, and the
polygons' summed intersection over union; the command exits 1 when the nodes differ or, like for like, the
polygons overlap less than 99.9 %.
``--dask ADDR|local`` also computes ours on a dask.distributed cluster and checks the polygons are identical.

Run ``python -m scripts.bench.isochrones [--quick] [--json FILE] [--dask local] [--budget 1000]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time

import numpy as np
import shapely

from gis import isochrones as iso
from gis import network as gnet
from layers.settings import DataSettings

PARQUET = DataSettings().osm / "wuhan_fua8989_streets.parquet"
CRS = "EPSG:32650"

PGR_SQL = """
WITH dd AS (
  SELECT node, agg_cost FROM pgr_drivingDistance(
    format('SELECT id, source, target, cost, reverse_cost FROM edges
            WHERE geom && ST_Expand(ST_SetSRID(ST_Point(%%s, %%s), 32650), %%s)', %(x)s, %(y)s, %(r)s),
    %(node)s::bigint, %(budget)s::float8, directed := false))
SELECT (SELECT array_agg(node) FROM dd),
       (SELECT ST_AsBinary(ST_Union(ST_Buffer(e.geom, %(buf)s{qs})))
          FROM edges e
         WHERE e.geom && ST_Expand(ST_SetSRID(ST_Point(%(x)s, %(y)s), 32650), %(r)s)
           AND e.source IN (SELECT node FROM dd) AND e.target IN (SELECT node FROM dd))
"""


# The same pieces ours buffers (gis.isochrones.reached_parts): whole edges whose two reaches meet, else the part
# walked in from each reached end (a one-way edge only from its start), each buffered with the same quad_segs,
# then united — ours' vector mode in SQL.
PGR_LIKE_OURS_SQL = """
WITH dd AS (
  SELECT node, agg_cost FROM pgr_drivingDistance(
    format('SELECT id, source, target, cost, reverse_cost FROM edges
            WHERE geom && ST_Expand(ST_SetSRID(ST_Point(%%s, %%s), 32650), %%s)', %(x)s, %(y)s, %(r)s),
    %(node)s::bigint, %(budget)s::float8, directed := false)),
reach AS (
  SELECT e.geom, e.cost AS len, greatest(%(budget)s - ds.agg_cost, 0) AS a,
         CASE WHEN e.reverse_cost < 0 THEN 0 ELSE greatest(%(budget)s - dt.agg_cost, 0) END AS b
    FROM edges e LEFT JOIN dd ds ON ds.node = e.source LEFT JOIN dd dt ON dt.node = e.target
   WHERE e.geom && ST_Expand(ST_SetSRID(ST_Point(%(x)s, %(y)s), 32650), %(r)s)
     AND (ds.node IS NOT NULL OR dt.node IS NOT NULL)),
pieces AS (
  SELECT geom FROM reach WHERE a + b >= len
  UNION ALL SELECT ST_LineSubstring(geom, 0, a / len) FROM reach WHERE a + b < len AND a > 0
  UNION ALL SELECT ST_LineSubstring(geom, 1 - b / len, 1) FROM reach WHERE a + b < len AND b > 0)
SELECT (SELECT array_agg(node) FROM dd),
       (SELECT ST_AsBinary(ST_Union(ST_Buffer(geom, %(buf)s, 'quad_segs=%(qs)s'))) FROM pieces)
"""


def load_graph() -> gnet.StreetGraph:
    """The Wuhan network as a StreetGraph (node ids from rounded WGS84 endpoints, as the importer does)."""
    import geopandas as gpd

    gdf = gpd.read_parquet(PARQUET)
    u, v = gnet.endpoint_node_ids(gdf.to_crs("EPSG:4326").geometry.values)
    g = gnet.build_graph("wuhan", CRS, gdf.geometry.values, u, v)
    _ = g.flat, g.incidence, g.tree  # build lazily-made structures before timing
    return g


class PgRouting:
    """A database with the same edges for pgRouting, kept between runs (it depends only on the data file and
    the loading code below; ``fresh`` rebuilds it)."""

    def __init__(self, graph: gnet.StreetGraph, *, fresh: bool = False) -> None:
        import inspect

        from layers.db import make_engine
        from scripts.bench.common import kept_database, source_key

        key = source_key(PARQUET, inspect.getsource(PgRouting._fill))
        self.settings = kept_database("gridmap_bench_iso", key, lambda s: self._fill(s, graph), fresh=fresh)
        self.engine = make_engine(self.settings, pool_size=1, max_overflow=0)
        self.raw = self.engine.raw_connection()
        self.cur = self.raw.cursor()
        self.version = self._one("SELECT pgr_version()")

    @staticmethod
    def _fill(settings, graph: gnet.StreetGraph) -> None:
        """Load the edges into the (empty, PostGIS) database of ``settings``."""
        from layers.db import make_engine

        engine = make_engine(settings, pool_size=1, max_overflow=0)
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
            cur.execute("CREATE TABLE edges (id bigint PRIMARY KEY, source bigint, target bigint, cost float8, "
                        "reverse_cost float8, geom geometry(LineString, 32650))")
            buf = io.StringIO()
            wkb = shapely.to_wkb(graph.geoms, hex=True, include_srid=False)
            rev = np.where(graph.oneway, -1.0, graph.length).tolist()
            cols = (graph.u.tolist(), graph.v.tolist(), graph.length.tolist(), rev, wkb.tolist())
            for i, (a, b, c, r, w) in enumerate(zip(*cols, strict=True), start=1):
                buf.write(f"{i}\t{a}\t{b}\t{c!r}\t{r!r}\t{w}\n")
            buf.seek(0)
            cur.execute("CREATE TEMP TABLE e_in (id bigint, source bigint, target bigint, cost float8, "
                        "reverse_cost float8, wkb text)")
            cur.copy_expert("COPY e_in FROM STDIN", buf)
            cur.execute("INSERT INTO edges SELECT id, source, target, cost, reverse_cost, "
                        "ST_SetSRID(ST_GeomFromWKB(decode(wkb, 'hex')), 32650) FROM e_in")
            cur.execute("CREATE INDEX ON edges USING gist (geom)")
            cur.execute("ANALYZE edges")
            raw.commit()
        finally:
            raw.close()
            engine.dispose()

    def _one(self, sql):
        self.cur.execute(sql)
        return self.cur.fetchone()[0]

    def area(self, graph, node: int, budget: float, buffer_m: float, quad_segs: int | None = None):
        """Reached node indices and the polygon (WKB) for a facility at ``node``."""
        x, y = (float(c) for c in graph.node_xy[node])
        qs = "" if quad_segs is None else f", 'quad_segs={int(quad_segs)}'"
        self.cur.execute(PGR_SQL.format(qs=qs), {"x": x, "y": y, "r": budget + 1.0, "node": int(node),
                                                 "budget": budget, "buf": buffer_m})
        nodes, wkb = self.cur.fetchone()
        return np.asarray(nodes or [], dtype=np.int64), (bytes(wkb) if wkb is not None else None)

    def area_like_ours(self, graph, node: int, budget: float, buffer_m: float, quad_segs: int):
        """Reached nodes and the polygon (WKB) built from the same pieces as ours (see ``PGR_LIKE_OURS_SQL``)."""
        x, y = (float(c) for c in graph.node_xy[node])
        self.cur.execute(PGR_LIKE_OURS_SQL, {"x": x, "y": y, "r": budget + 1.0, "node": int(node), "budget": budget,
                                             "buf": buffer_m, "qs": int(quad_segs)})
        nodes, wkb = self.cur.fetchone()
        return np.asarray(nodes or [], dtype=np.int64), (bytes(wkb) if wkb is not None else None)

    def close(self) -> None:
        """Close the connection (the database is kept for the next run)."""
        self.raw.close()
        self.engine.dispose()


def agreement(ours: list[np.ndarray], peer: list[np.ndarray]) -> tuple[float, int, int]:
    """Summed |A ∩ B| / |A ∪ B| of reached node sets, with the two sums."""
    inter = union = 0
    for a, b in zip(ours, peer, strict=True):
        i = len(np.intersect1d(a, b))
        inter += i
        union += len(a) + len(b) - i
    return (inter / union if union else 1.0), inter, union


def polygon_overlap(ours: list, peer_wkb: list) -> dict:
    """Summed areas of two lists of polygons, facility by facility: intersection over union, each side's area
    outside the other, and the area ratio."""
    has = np.array([w is not None for w in peer_wkb])
    a = np.asarray(ours, dtype=object)[has]
    b = shapely.from_wkb([w for w in peer_wkb if w is not None])
    inter = float(shapely.area(shapely.intersection(a, b)).sum())
    area_a, area_b = float(shapely.area(a).sum()), float(shapely.area(b).sum())
    union = area_a + area_b - inter
    return {"iou": inter / union if union else 1.0, "ours_outside_peer": (area_a - inter) / area_a,
            "peer_outside_ours": (area_b - inter) / area_b, "area_ratio": area_a / area_b}


def like_for_like(pg: PgRouting, graph, nodes, x, y, budget: float, buffer_m: float, m: int, chunk: int) -> dict:
    """Ours in vector mode (GEOS union of the buffered pieces) against the same pieces buffered and united in
    PostGIS, on the first ``m`` facilities, in interleaved chunks."""
    t_ours = t_peer = 0.0
    ours, peer_nodes, peer_polys = [], [], []
    for lo in range(0, m, chunk):
        sl = slice(lo, min(lo + chunk, m))
        t0 = time.perf_counter()
        got = iso.service_areas(graph, x[sl], y[sl], [budget], buffer_m=buffer_m, keep_nodes=True, mode="vector")
        t_ours += time.perf_counter() - t0
        t0 = time.perf_counter()
        res = [pg.area_like_ours(graph, int(nd), budget, buffer_m, iso.QUAD_SEGS) for nd in nodes[sl]]
        t_peer += time.perf_counter() - t0
        ours += got
        peer_nodes += [r[0] for r in res]
        peer_polys += [r[1] for r in res]
    agree, inter, union = agreement([a.node_set for a in ours], peer_nodes)
    return {"m": m, "ours_s": t_ours, "peer_s": t_peer, "nodes_agree": agree, "nodes_inter": inter,
            "nodes_union": union, **polygon_overlap([a.geom for a in ours], peer_polys)}


def run_dask(addr: str, graph, x, y, budget, buffer_m, reference) -> dict:
    """Ours on a dask cluster; checks the polygons equal the single-process ones."""
    from dask.distributed import Client, LocalCluster

    cluster = None
    if addr == "local":
        # threads in this process: the numba kernels and shapely release the GIL, nothing is pickled
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(addr)
    try:
        iso.service_areas_dask(client, graph, x[:20], y[:20], [budget], buffer_m=buffer_m, chunk=2)  # warm-up
        t = time.perf_counter()
        res = iso.service_areas_dask(client, graph, x, y, [budget], buffer_m=buffer_m, chunk=max(10, len(x) // 16))
        dt = time.perf_counter() - t
        same = sum(bool(shapely.equals_exact(a.geom, b.geom, 1e-6)) for a, b in zip(res, reference, strict=True))
        workers = len(client.scheduler_info()["workers"])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return {"seconds": dt, "per_s": len(x) / dt, "identical": same, "n": len(x), "workers": workers}


def main(argv=None) -> int:
    """Run the benchmark and print (and optionally write) the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50 facilities (about 10 s)")
    ap.add_argument("--facilities", type=int, help="number of facilities (default 2,000; 50 with --quick)")
    ap.add_argument("--budget", type=float, default=1000.0, help="walking metres (default 1000)")
    ap.add_argument("--buffer", type=float, default=50.0, help="street buffer metres (default 50)")
    ap.add_argument("--no-pgrouting", action="store_true", help="skip the pgRouting peer")
    ap.add_argument("--dask", help="also run ours on a dask cluster: scheduler address or 'local'")
    ap.add_argument("--json", help="write the result rows to this file")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--repeat", type=int, help="median of N runs per chunk for both sides (default 1; 3 with --quick)")
    ap.add_argument("--fresh", action="store_true", help="rebuild the kept pgRouting database")
    args = ap.parse_args(argv)
    n = args.facilities or (50 if args.quick else 2000)
    budget, buffer_m = args.budget, args.buffer
    repeat = args.repeat or (3 if args.quick else 1)

    t = time.perf_counter()
    graph = load_graph()
    rng = np.random.default_rng(args.seed)
    nodes = rng.choice(graph.n_nodes, n, replace=False)
    x, y = graph.node_xy[nodes, 0].copy(), graph.node_xy[nodes, 1].copy()
    print(f"data: Wuhan {graph.n_edges} edges, {graph.n_nodes} nodes; {n} facilities; budget {budget:g} m, "
          f"buffer {buffer_m:g} m; loaded in {time.perf_counter() - t:.1f} s", flush=True)
    iso.service_areas(graph, x[:3], y[:3], [budget], buffer_m=buffer_m)  # compile / warm up

    pg, pg_missing = None, None
    if not args.no_pgrouting:
        try:
            pg = PgRouting(graph, fresh=args.fresh)
        except Exception as exc:  # noqa: BLE001 - only a missing extension is forgiven
            if "pgrouting" not in str(exc).lower():
                raise
            pg_missing = str(exc).strip().splitlines()[0]
            print(f"pgRouting 不可用，跳过这一对比 (not available, its comparison is skipped): {pg_missing}",
                  flush=True)
    try:
        if pg is not None:
            for k in range(3):  # warm up the database's caches
                pg.area(graph, int(nodes[k]), budget, buffer_m)
        chunk = 25
        t_ours = t_pg = 0.0
        ours, peer, pg_polys = [], [], []
        for lo in range(0, n, chunk):
            sl = slice(lo, min(lo + chunk, n))
            t_o, t_p = [], []
            for _rep in range(repeat):  # median of ``repeat`` for both sides, alternating
                t0 = time.perf_counter()
                got = iso.service_areas(graph, x[sl], y[sl], [budget], buffer_m=buffer_m, keep_nodes=True)
                t_o.append(time.perf_counter() - t0)
                if pg is not None:
                    t0 = time.perf_counter()
                    res = [pg.area(graph, int(nd), budget, buffer_m) for nd in nodes[sl]]
                    t_p.append(time.perf_counter() - t0)
            best_o = float(np.median(t_o))
            best_p = float(np.median(t_p)) if t_p else 0.0
            ours += got
            t_ours += best_o
            if pg is not None:
                peer += [r[0] for r in res]
                pg_polys += [r[1] for r in res]
                t_pg += best_p
        print(f"ours: {t_ours:.2f} s ({n / t_ours:.0f} facilities/s, {1000 * t_ours / n:.2f} ms each); "
              f"mean {np.mean([a.reached_nodes for a in ours]):.0f} nodes reached", flush=True)
        rows, details = [], {"repeat": repeat, "n": n, "budget_m": budget, "buffer_m": buffer_m, "ours_s": t_ours,
                             "nodes": graph.n_nodes, "edges": graph.n_edges, "quad_segs": iso.QUAD_SEGS}
        if pg is not None:
            agree, inter, union = agreement([a.node_set for a in ours], peer)
            shipped = polygon_overlap([a.geom for a in ours], pg_polys)
            ratio = t_pg / t_ours
            print(f"pgRouting {pg.version}: {t_pg:.2f} s ({n / t_pg:.0f} facilities/s, {1000 * t_pg / n:.2f} ms "
                  f"each); ratio {ratio:.1f}×; reached nodes agree {agree:.4%} ({inter}/{union}); polygons {shipped}",
                  flush=True)
            rows.append({"target": "service areas ≥ 10× pgRouting (ours as shipped)", "ours": n / t_ours,
                         "peer": n / t_pg,
                         "peer_name": f"pgRouting {pg.version} pgr_drivingDistance + ST_Union(ST_Buffer)",
                         "ratio": ratio, "unit": "facilities/s", "agrees": inter == union,
                         "agreement": f"{agree:.4%} of reached nodes; polygons {shipped['iou']:.2%} area overlap",
                         "notes": f"Wuhan {graph.n_nodes} nodes, {n} facilities, {budget:g} m, polygons included. "
                                  f"Not the same polygon: ours traces the {buffer_m:g} m iso-line of the reached "
                                  f"streets' distance field on a {buffer_m / iso.CELL_FRACTION:g} m lattice and adds "
                                  f"the partly walked streets; the peer unites ST_Buffer (8 segments per quarter "
                                  f"circle) of the streets with both ends reached: ours' area "
                                  f"{shipped['area_ratio']:.3f}× the peer's, {shipped['peer_outside_ours']:.3%} of "
                                  f"the peer's area outside ours"})
            details.update(pgrouting_s=t_pg, pgrouting_version=pg.version, agreement=agree, shipped_polygons=shipped)
            m = min(n, 200)
            like = like_for_like(pg, graph, nodes, x, y, budget, buffer_m, m, chunk)
            print(f"like for like on {m}: ours (vector) {1000 * like['ours_s'] / m:.2f} ms, pgRouting same pieces "
                  f"{1000 * like['peer_s'] / m:.2f} ms; ratio {like['peer_s'] / like['ours_s']:.1f}×; {like}",
                  flush=True)
            same_polys = like["iou"] >= 0.999
            rows.append({"target": "service areas like for like (same pieces, same buffers)", "ours": m / like["ours_s"],
                         "peer": m / like["peer_s"], "peer_name": f"pgRouting {pg.version} + ST_LineSubstring + "
                         f"ST_Union(ST_Buffer quad_segs={iso.QUAD_SEGS})", "ratio": like["peer_s"] / like["ours_s"],
                         "unit": "facilities/s", "agrees": like["nodes_inter"] == like["nodes_union"] and same_polys,
                         "agreement": f"{like['nodes_agree']:.4%} of reached nodes; polygons {like['iou']:.4%} area "
                                      "overlap",
                         "notes": f"first {m} facilities, interleaved; both: whole streets and the walked parts of "
                                  f"partly reached ones, buffered {buffer_m:g} m with {iso.QUAD_SEGS} segments per "
                                  f"quarter circle and united (ours: shapely/GEOS, mode='vector'; peer: PostGIS)"})
            details["like_for_like"] = like
        elif pg_missing:
            rows.append({"target": "service areas ≥ 10× pgRouting", "ours": n / t_ours, "peer": None,
                         "peer_name": "pgRouting (not installed)", "ratio": None, "unit": "facilities/s",
                         "agreement": "not compared",
                         "notes": "pgRouting is not installed in this PostgreSQL (postgresql-15-pgrouting): "
                                  "not measured"})
            details["pgrouting_missing"] = pg_missing
    finally:
        if pg is not None:
            pg.close()

    # reachability only: ours (scipy, limit) vs networkx
    import networkx as nx

    gx = nx.Graph()
    gx.add_weighted_edges_from(zip(graph.u.tolist(), graph.v.tolist(), graph.length.tolist(), strict=True))
    t0 = time.perf_counter()
    nx_sets = [np.fromiter(nx.single_source_dijkstra_path_length(gx, int(s), cutoff=budget), dtype=np.int64)
               for s in nodes]
    t_nx = time.perf_counter() - t0
    t0 = time.perf_counter()
    our_sets = iso.reachable_node_sets(graph, nodes, budget)
    t_r = time.perf_counter() - t0
    agree_nx, _, _ = agreement(our_sets, nx_sets)
    print(f"reachability: ours {1000 * t_r / n:.3f} ms, networkx {1000 * t_nx / n:.3f} ms per facility; ratio "
          f"{t_nx / t_r:.1f}×; agreement {agree_nx:.4%}", flush=True)
    rows.append({"target": "reachability vs networkx", "ours": n / t_r, "peer": n / t_nx,
                 "peer_name": "networkx single_source_dijkstra_path_length(cutoff)", "ratio": t_nx / t_r,
                 "unit": "facilities/s", "agreement": f"{agree_nx:.4%} of reached nodes", "agrees": agree_nx == 1.0,
                 "notes": "reachability only, no polygon"})
    details.update(networkx_s=t_nx, ours_reach_s=t_r, networkx_agreement=agree_nx)

    # ours from points off the network (snapped onto an edge, partial edges on both sides)
    m = min(n, 200)
    ox = x[:m] + rng.uniform(-60, 60, m)
    oy = y[:m] + rng.uniform(-60, 60, m)
    t0 = time.perf_counter()
    off = iso.service_areas(graph, ox, oy, [budget], buffer_m=buffer_m)
    details["off_node"] = {"n": m, "ms_each": 1000 * (time.perf_counter() - t0) / m,
                           "euclidean": sum(a.method == "euclidean" for a in off)}
    print(f"ours from random points off the network: {details['off_node']['ms_each']:.2f} ms each", flush=True)

    if args.dask:
        ref = iso.service_areas(graph, x, y, [budget], buffer_m=buffer_m)
        dk = run_dask(args.dask, graph, x, y, budget, buffer_m, ref)
        print(f"dask ({dk['workers']} workers): {dk['seconds']:.2f} s ({dk['per_s']:.0f} facilities/s); identical "
              f"{dk['identical']}/{dk['n']}", flush=True)
        rows.append({"target": "dask cluster, same result", "ours": dk["per_s"], "peer": n / t_ours,
                     "peer_name": "ours, one process", "ratio": dk["per_s"] / (n / t_ours),
                     "unit": "facilities/s", "agreement": f"{dk['identical']}/{dk['n']} identical polygons",
                     "agrees": dk["identical"] == dk["n"],
                     "notes": f"{args.dask}, {dk['workers']} workers"})
        details["dask"] = dk
    details["loadavg_end"] = os.getloadavg()
    print(f"load average at the end: {details['loadavg_end'][0]:.1f} (2 cores shared)", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "isochrones", "rows": rows, "details": details}, f, ensure_ascii=False,
                      indent=2)
    return 0 if all(row.get("agrees", True) for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
