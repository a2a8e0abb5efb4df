"""Benchmark: incident intake under load with a database restart in the middle, against the same reports
written straight into PostGIS.

What it does, all on loopback and on its own temporary PostgreSQL cluster (:mod:`scripts.bench.clusters`:
``initdb`` + ``pg_ctl``, run as the ``postgres`` user when started as root, in a folder it can reach wherever the
clone is, on a free port — the machine's own cluster is never touched):

1. creates the cluster as a copy of a kept template cluster (``load-cluster-*`` in the clone's cluster folder: a
   migrated database with the Jinchang demo's published grid plan, built on first use and again whenever the
   schema, demo code or data change);
2. draws ``--reports`` points inside the demo's grids (at least ~3 m from any border, outside exclusive grids
   unless drawn for one), so each has one right grid;
3. starts ``uvicorn`` on a free port and posts every report to ``POST /api/v1/incidents`` with an
   ``Idempotency-Key`` from ``--clients`` concurrent ``httpx.AsyncClient`` tasks; errors (503, 5xx, refused or
   dropped connections, timeouts) are retried with the same key after ``Retry-After``;
4. meanwhile restarts the cluster ``--restarts`` times (``pg_ctl stop -m immediate``, a crash, then start),
   recording every 503 and whether it carried ``Retry-After``;
5. checks afterwards: exactly ``--reports`` incidents, every key that got a 201 is stored, each incident's grid is
   the expected one and covers its point in PostGIS;
6. peer: the same reports as direct ``INSERT … SELECT code FROM grids WHERE ST_Covers(…)`` statements from the
   same number of threads (no HTTP, no locate rules, no dispatch): the floor the service adds to. Agreement:
   the peer's grid equals ours for every report.

Run ``python -m scripts.bench.load [--quick] [--json FILE]`` (``--quick``: 150 reports, 16 clients, 1 restart of 1 s).
``--dask`` is accepted for the common contract and ignored (nothing here is a bulk job).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import text

from layers.settings import DataSettings
from scripts.bench.clusters import PG_BIN, TempCluster, cluster_root
from scripts.bench.common import source_key, start_api, wait_http

ROOT = Path(__file__).resolve().parents[2]
JINCHANG_DATA = DataSettings().jinchang
INSIDE_M = 3.0


def _template_key() -> str:
    """What the load cluster's contents are made from: the schema and demo code, the Jinchang data files and
    the PostgreSQL binaries. Any change makes a new template."""
    return source_key((ROOT / "layers").rglob("*.py"), (ROOT / "gis").rglob("*.py"),
                      (f for f in JINCHANG_DATA.rglob("*") if f.is_file()), str(PG_BIN.resolve()))


def template_cluster(log=print) -> Path:
    """The data directory of a stopped cluster holding the migrated database with the Jinchang demo (core: no
    incidents or circles), built once per :func:`_template_key` in :func:`~scripts.bench.clusters.cluster_root`
    and copied for every run — ``initdb``, migrations and the demo load take ~7 s, the copy well under one."""
    root = cluster_root()
    home = root / f"load-cluster-{_template_key()}"
    with (root / "load-cluster.lock").open("w") as lock:  # one builder at a time (a bench and a test run)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / "ready").exists():
            for old in root.glob("load-cluster-*"):  # earlier templates, or a build that was interrupted
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
            _build_template(home, log)
    return home / "data"


def _build_template(home: Path, log) -> None:
    from layers import migrate
    from layers.db import make_engine, make_sessionmaker
    from layers.demo import load_jinchang_demo
    from layers.settings import DatabaseSettings

    t = time.perf_counter()
    cluster = TempCluster(directory=home)
    cluster.init()
    cluster.start()
    try:
        db = DatabaseSettings(url=cluster.url("gridmap_load"), pool_size=2, max_overflow=0)
        migrate.upgrade(db)
        engine = make_engine(db)
        load_jinchang_demo(make_sessionmaker(engine), data_dir=JINCHANG_DATA, extras=False)
        engine.dispose()
    finally:
        cluster.stop()
    (home / "ready").write_text(time.strftime("%Y-%m-%d %H:%M:%S UTC\n", time.gmtime()), encoding="utf-8")
    log(f"load template cluster built in {time.perf_counter() - t:.1f} s: {home}")


def draw_reports(engine, n: int, seed: int) -> list[dict]:
    """``n`` reports at points well inside the published plan's grids, each with its expected grid code."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT g.code, g.kind, ST_AsBinary(g.geom) FROM grids g JOIN grid_plans p ON p.id = g.plan_id "
            "WHERE p.status = 'published' ORDER BY g.code")).all()
    codes = [r[0] for r in rows]
    kinds = [r[1] for r in rows]
    geoms = shapely.from_wkb([bytes(r[2]) for r in rows])
    deg = INSIDE_M / 111_000 * 1.4  # inward margin in degrees (≥ 3 m at this latitude in both directions)
    exclusive = shapely.union_all([g for g, k in zip(geoms, kinds) if k == "exclusive"] or [shapely.Polygon()])
    around_exclusive = shapely.buffer(exclusive, deg)
    regions = []
    for g, k in zip(geoms, kinds):
        r = g if k == "exclusive" else shapely.difference(g, around_exclusive)
        regions.append(shapely.buffer(r, -deg))
    from gis.incidents import CATEGORIES

    cats = sorted(CATEGORIES)
    rng = np.random.default_rng(seed)
    usable = np.asarray([i for i, r in enumerate(regions) if not r.is_empty and r.area > 0])
    picks = usable[rng.integers(len(usable), size=n)]
    lon, lat = np.empty(n), np.empty(n)
    for i in np.unique(picks):  # rejection sampling in each region's bounding box, a batch at a time
        rows = np.flatnonzero(picks == i)
        region = regions[i]
        shapely.prepare(region)
        x0, y0, x1, y1 = region.bounds
        share = max(region.area / ((x1 - x0) * (y1 - y0)), 0.05)
        xs, ys = np.zeros(0), np.zeros(0)
        while xs.size < rows.size:
            m = int((rows.size - xs.size) / share * 1.5) + 8
            x, y = rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)
            inside = shapely.contains_xy(region, x, y)
            xs, ys = np.concatenate([xs, x[inside]]), np.concatenate([ys, y[inside]])
        lon[rows], lat[rows] = xs[:rows.size], ys[:rows.size]
    reports = [{"i": j, "lon": round(float(lon[j]), 7), "lat": round(float(lat[j]), 7), "expected": codes[picks[j]],
                "category": cats[j % len(cats)]} for j in range(n)]
    return reports


@dataclass
class Tally:
    """What the clients saw."""

    latencies_ms: list[float] = field(default_factory=list)
    end_to_end_ms: list[float] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    status: dict[int, int] = field(default_factory=dict)
    n_503: int = 0
    n_503_with_retry_after: int = 0
    conn_errors: int = 0
    retries: int = 0
    replayed: int = 0
    failed: list[str] = field(default_factory=list)
    first_201_after_restart_s: list[float] = field(default_factory=list)


async def post_all(base: str, reports: list[dict], run: str, clients: int, tally: Tally, progress,
                   max_attempts: int = 60) -> None:
    """Post every report from ``clients`` concurrent tasks, retrying with the same key until a 201."""
    import httpx

    queue: asyncio.Queue = asyncio.Queue()
    for r in reports:
        queue.put_nowait(r)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30.0, connect=5.0), limits=limits) as client:

        async def worker() -> None:
            while True:
                try:
                    rep = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                key = f"{run}-{rep['i']}"
                body = {"category": rep["category"], "lon": rep["lon"], "lat": rep["lat"],
                        "description": f"负载测试 load test {rep['i']} (synthetic)",
                        "reporter_name": "测试 synthetic", "reporter_phone": "13800000000"}
                started = time.perf_counter()
                for _attempt in range(max_attempts):
                    t0 = time.perf_counter()
                    wait = 0.2
                    try:
                        resp = await client.post("/api/v1/incidents", json=body, headers={"Idempotency-Key": key})
                    except httpx.TransportError:
                        tally.conn_errors += 1
                    else:
                        tally.status[resp.status_code] = tally.status.get(resp.status_code, 0) + 1
                        if resp.status_code == 201:
                            now = time.perf_counter()
                            tally.latencies_ms.append((now - t0) * 1000)
                            tally.end_to_end_ms.append((now - started) * 1000)
                            tally.created[key] = resp.json()["incident"]["id"]
                            if resp.headers.get("Idempotent-Replayed"):
                                tally.replayed += 1
                            progress(now)
                            break
                        if resp.status_code == 503:
                            tally.n_503 += 1
                            if resp.headers.get("Retry-After"):
                                tally.n_503_with_retry_after += 1
                        if resp.status_code in (429, 503) and resp.headers.get("Retry-After"):
                            wait = min(float(resp.headers["Retry-After"]), 5.0)
                        elif resp.status_code < 500:
                            tally.failed.append(f"{key}: {resp.status_code} {resp.text[:200]}")
                            break
                    tally.retries += 1
                    await asyncio.sleep(wait * (0.5 + np.random.random()))
                else:
                    tally.failed.append(f"{key}: gave up after {max_attempts} attempts")

        await asyncio.gather(*(worker() for _ in range(clients)))


def start_server(url: str, workers: int, log_path: Path, *, pool: dict | None = None) -> tuple[subprocess.Popen, str]:
    """The API against ``url`` with ``workers`` processes, and its base URL; the public rate limit is off (all
    clients share the loopback address) and the pool is sized for 64 clients (or as ``pool`` says)."""
    return start_api(url, workers=workers, log_path=log_path,
                     env={"GRIDMAP_PUBLIC_RATE_PER_MIN": "0", "GRIDMAP_DB_POOL_SIZE": "20",
                          "GRIDMAP_DB_MAX_OVERFLOW": "10", "GRIDMAP_DB_POOL_TIMEOUT_S": "10", **(pool or {})})


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM the server (and its workers), SIGKILL if it does not stop within 30 s."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)


def peer_direct(url: str, reports: list[dict], threads: int) -> tuple[float, list[float], dict[int, str | None]]:
    """Insert the same reports straight into PostGIS (one statement each, ``threads`` connections)."""
    import psycopg2

    dsn = url.replace("postgresql+psycopg2://", "postgresql://")
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS peer_reports; CREATE TABLE peer_reports (i int PRIMARY KEY, "
                    "geom geometry(Point, 4326), category text, grid_code text)")
    lat_ms: list[float] = []
    lock = threading.Lock()
    chunks = [reports[k::threads] for k in range(threads)]
    sql = ("INSERT INTO peer_reports (i, geom, category, grid_code) SELECT %s, p, %s, (SELECT g.code FROM grids g "
           "JOIN grid_plans pl ON pl.id = g.plan_id WHERE pl.status = 'published' AND ST_Covers(g.geom, p) "
           "ORDER BY (g.kind = 'exclusive') DESC, g.code LIMIT 1) FROM ST_SetSRID(ST_MakePoint(%s, %s), 4326) p")

    def run(chunk):
        with psycopg2.connect(dsn) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                mine = []
                for r in chunk:
                    t0 = time.perf_counter()
                    cur.execute(sql, (r["i"], r["category"], r["lon"], r["lat"]))
                    mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            lat_ms.extend(mine)

    t0 = time.perf_counter()
    ths = [threading.Thread(target=run, args=(ch,)) for ch in chunks]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    elapsed = time.perf_counter() - t0
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute("SELECT i, grid_code FROM peer_reports")
        grids = dict(cur.fetchall())
    return len(reports) / elapsed, lat_ms, grids


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values``."""
    return float(np.quantile(np.asarray(values), q)) if values else float("nan")


def run_load(*, reports: int = 20_000, clients: int = 64, restarts: int = 1, down_s: float = 3.0,
             workers: int = 2, seed: int = 20261125, peer: bool = True, log=print) -> dict:
    """Run the whole scenario and return the measurements and checks (see the module docstring)."""
    from layers.db import make_engine
    from layers.settings import DatabaseSettings

    cluster = TempCluster()
    server = None
    result: dict = {"reports": reports, "clients": clients, "restarts_planned": restarts, "down_s": down_s,
                    "workers": workers}
    try:
        t = time.perf_counter()
        url = cluster.url("gridmap_load")
        # the server imports while the cluster is copied and started and the reports are drawn (its engine
        # connects on the first request)
        server, base = start_server(url, workers, cluster.dir / "uvicorn.log")
        # areas, grids, buildings and people; the demo's own incidents and circles play no part here
        cluster.copy_from(template_cluster(log))
        cluster.start()
        engine = make_engine(DatabaseSettings(url=url, pool_size=4, max_overflow=4))
        todo = draw_reports(engine, reports, seed)
        result["setup_s"] = round(time.perf_counter() - t, 1)
        log(f"cluster on port {cluster.port}, demo loaded, {len(todo)} reports drawn ({result['setup_s']} s)")

        wait_http(base)

        tally = Tally()
        run = f"load-{uuid.uuid4().hex[:8]}"
        marks = [reports * (k + 1) / (restarts + 1) for k in range(restarts)]
        done = [0]
        restart_log: list[dict] = []
        pending_restart = threading.Event()
        back_at: list[float] = []

        def progress(now: float) -> None:
            done[0] += 1
            if back_at and len(tally.first_201_after_restart_s) < len(back_at):
                tally.first_201_after_restart_s.append(round(now - back_at[-1], 3))
            if marks and done[0] >= marks[0]:
                marks.pop(0)
                pending_restart.set()

        def restarter(stop: threading.Event) -> None:
            while not stop.is_set():
                if pending_restart.wait(0.1):
                    pending_restart.clear()
                    t0 = time.perf_counter()
                    cluster.crash()
                    down_at = time.perf_counter()
                    time.sleep(down_s)
                    cluster.start()
                    back_at.append(time.perf_counter())
                    restart_log.append({"at_report": done[0], "stop_s": round(down_at - t0, 2),
                                        "down_s": round(back_at[-1] - down_at, 2)})
                    log(f"  database restarted at report {done[0]} (down {back_at[-1] - down_at:.1f} s)")

        stop = threading.Event()
        th = threading.Thread(target=restarter, args=(stop,), daemon=True)
        th.start()
        t0 = time.perf_counter()
        asyncio.run(post_all(base, todo, run, clients, tally, progress))
        elapsed = time.perf_counter() - t0
        stop.set()
        th.join()

        # checks, on the cluster itself
        with engine.connect() as conn:
            stored = dict(conn.execute(
                text("SELECT idempotency_key, grid_code FROM incidents WHERE idempotency_key LIKE :r"),
                {"r": run + "-%"}).all())
            # this run's rows, duplicates included (the demo's own incidents are in the same database)
            total = conn.scalar(text("SELECT count(*) FROM incidents WHERE idempotency_key LIKE :r"),
                                {"r": run + "-%"})
            not_covering = conn.scalar(text(
                "SELECT count(*) FROM incidents i JOIN grids g ON g.code = i.grid_code AND g.plan_id = i.plan_id "
                "WHERE i.idempotency_key LIKE :r AND NOT ST_Covers(g.geom, i.geom)"), {"r": run + "-%"})
        engine.dispose()
        expected = {f"{run}-{r['i']}": r["expected"] for r in todo}
        wrong_grid = [k for k, g in stored.items() if expected.get(k) != g]
        lost = [k for k in tally.created if k not in stored]
        result.update({
            "elapsed_s": round(elapsed, 2),
            "throughput_rps": round(reports / elapsed, 1),
            "p50_ms": round(pct(tally.latencies_ms, 0.5), 1),
            "p99_ms": round(pct(tally.latencies_ms, 0.99), 1),
            "end_to_end_p50_ms": round(pct(tally.end_to_end_ms, 0.5), 1),
            "end_to_end_p99_ms": round(pct(tally.end_to_end_ms, 0.99), 1),
            "end_to_end_max_ms": round(max(tally.end_to_end_ms, default=float("nan")), 1),
            "status_counts": {str(k): v for k, v in sorted(tally.status.items())},
            "n_503": tally.n_503, "n_503_with_retry_after": tally.n_503_with_retry_after,
            "connection_errors": tally.conn_errors, "retries": tally.retries, "replayed_201": tally.replayed,
            "restarts": restart_log, "first_201_after_restart_s": tally.first_201_after_restart_s,
            "got_201": len(tally.created), "stored": len(stored), "incidents_in_db": total,
            "lost_after_201": len(lost), "wrong_grid": len(wrong_grid), "grid_not_covering_point": not_covering,
            "failed": tally.failed[:10], "n_failed": len(tally.failed),
        })
        log(f"ours: {result['throughput_rps']} reports/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
            f"{tally.n_503} × 503, {tally.conn_errors} connection errors, {tally.retries} retries; "
            f"stored {len(stored)}/{reports}, lost {len(lost)}, wrong grid {len(wrong_grid)}")

        if peer:
            stop_server(server)
            server = None
            rps, lat, grids = peer_direct(url, todo, clients)
            ours_by_i = {int(k.rsplit("-", 1)[1]): g for k, g in stored.items()}
            agree = sum(1 for r in todo if grids.get(r["i"]) == ours_by_i.get(r["i"]))
            result["peer"] = {"throughput_rps": round(rps, 1), "p50_ms": round(pct(lat, 0.5), 2),
                              "p99_ms": round(pct(lat, 0.99), 2), "agree": agree}
            log(f"peer (direct PostGIS INSERT): {rps:.0f} reports/s, p50 {pct(lat, 0.5):.2f} ms; "
                f"same grid for {agree}/{reports}")
        return result
    finally:
        if server is not None:
            stop_server(server)
        cluster.remove()


def main(argv=None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="150 reports, 16 clients, 1 restart of 1 s (~10 s)")
    ap.add_argument("--reports", type=int, help="reports to post (default 20,000)")
    ap.add_argument("--clients", type=int, help="concurrent clients (default 64)")
    ap.add_argument("--restarts", type=int, help="database restarts during the load (default 2; 1 with --quick)")
    ap.add_argument("--down", type=float, help="seconds the database stays down each time (default 3; 1 with --quick)")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--dask", metavar="ADDRESS", help="accepted for the common contract; not used")
    ap.add_argument("--json", help="write the result rows to this file")
    args = ap.parse_args(argv)
    reports = args.reports or (150 if args.quick else 20_000)
    down_s = args.down or (1.0 if args.quick else 3.0)
    clients = args.clients or (16 if args.quick else 64)
    restarts = args.restarts if args.restarts is not None else (1 if args.quick else 2)
    res = run_load(reports=reports, clients=clients, restarts=restarts, down_s=down_s, workers=args.workers)
    p = res.get("peer", {})
    ok = (res["stored"] == reports and res["lost_after_201"] == 0 and res["wrong_grid"] == 0
          and res["n_failed"] == 0 and res["n_503"] == res["n_503_with_retry_after"])
    agreement = f"{p.get('agree', 0)}/{reports} same grid as PostGIS ST_Covers; " + (
        f"{res['stored']}/{reports} stored, 0 lost after 201" if ok else "CHECKS FAILED")
    notes = (f"{clients} clients, {len(res['restarts'])} DB crash-restarts (~{down_s:g} s down): "
             f"{res['n_503']} × 503 (all with Retry-After: {res['n_503'] == res['n_503_with_retry_after']}), "
             f"{res['connection_errors']} connection errors, {res['retries']} retries")
    peer_name = "PostGIS direct INSERT … ST_Covers (no HTTP, no rules)"
    rows = [
        {"target": f"incident intake throughput ({reports:,} reports)", "ours": res["throughput_rps"],
         "peer": p.get("throughput_rps"), "peer_name": peer_name,
         "ratio": round(res["throughput_rps"] / p["throughput_rps"], 3) if p else None, "unit": "reports/s",
         "agreement": agreement, "notes": notes},
        {"target": "incident intake latency p50", "ours": res["p50_ms"], "peer": p.get("p50_ms"),
         "peer_name": peer_name, "ratio": round(p["p50_ms"] / res["p50_ms"], 4) if p else None, "unit": "ms",
         "agreement": agreement, "notes": "per successful POST; retries excluded (see details for end-to-end); "
                                          "ratio = peer ÷ ours latency (below 1: ours slower)"},
        {"target": "incident intake latency p99", "ours": res["p99_ms"], "peer": p.get("p99_ms"),
         "peer_name": peer_name, "ratio": round(p["p99_ms"] / res["p99_ms"], 4) if p else None, "unit": "ms",
         "agreement": agreement, "notes": f"end-to-end p99 incl. retries {res['end_to_end_p99_ms']} ms; ratio = "
                                          "peer ÷ ours latency"},
    ]
    for row in rows:
        row["agrees"] = ok and (not p or p.get("agree") == reports)
    print(json.dumps(res, ensure_ascii=False, indent=1))
    if p:
        print(f"ratio ours/peer throughput: {rows[0]['ratio']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "load", "rows": rows, "details": res}, f, ensure_ascii=False, indent=2)
    return 0 if all(row["agrees"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
