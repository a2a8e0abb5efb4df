"""Benchmark: the service with 1 and 2 worker processes, with and without a read replica, next to the bare
FastAPI + PostGIS service — ``GET /api/v1/locate`` and ``POST /api/v1/incidents`` under the same ``wrk`` client
and connections.

Set-up (untimed): two throwaway clusters on this machine (:mod:`scripts.bench.clusters`) — a primary copied from
the load test's template cluster (the Jinchang demo's published plan) and a hot standby of it made with
``pg_basebackup -R -X stream``, streaming. Six servers start together: the bare service
(:mod:`scripts.bench.bare_service`) and ours on the primary alone, each with 1 and 2 uvicorn workers, and ours with
1 and 2 workers and ``GRIDMAP_DATABASE_READ_URL`` on the standby (locate reads from the standby; intake writes to
the primary and hands back its WAL position, one more statement per write). The public rate limit is off.

Timed: after an untimed 3 s of GETs on every server (each worker builds its point locator), for each endpoint and
each server two warm-up seconds, then ``--duration`` seconds of ``wrk`` (``--connections``, 2 threads; each
request takes the next point of a list drawn ≥ 3 m inside the grids, never twice in a run — 60,000 points, under
wrk's Lua limit of 65,536 constants; POSTs carry a fresh ``Idempotency-Key``), ``--rounds`` times: the servers
in order, then in reverse. A row is a server's requests over its runs' time, with the mean p50/p99 of its runs.

Checks (the command exits 1 if one fails): no response other than 200/201 and no socket error; every server
answers the expected grid for 50 points over HTTP (ours from the standby as from the primary); the standby's
transactions grew by at least the number of GETs the replica servers answered (the reads really came from it),
and by less than a tenth of them for the other servers; every acknowledged report is stored with the expected
grid.

On one 2-core machine the standby shares the cores with the primary and the API: these rows show what routing
reads to a replica costs or saves per process, not what a second machine adds.

Run ``python -m scripts.bench.scale_out [--duration S] [--rounds N] [--connections N] [--json FILE]``
(defaults 10 s, 2 rounds, 32 connections: about 8 minutes with the set-up).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from scripts.bench.clusters import TempCluster
from scripts.bench.common import start_api, wait_http
from scripts.bench.http_load import _lua_points, run_wrk
from scripts.bench.load import draw_reports, stop_server, template_cluster

DB = "gridmap_load"
MANY_CLIENTS = ("-c max_connections=600",)  # six servers: the bare one keeps 40 connections open per worker
OURS_ENV = {"GRIDMAP_PUBLIC_RATE_PER_MIN": "0", "GRIDMAP_DB_POOL_SIZE": "20", "GRIDMAP_DB_MAX_OVERFLOW": "10",
            "GRIDMAP_DB_POOL_TIMEOUT_S": "10"}


@dataclass
class Server:
    """One configuration under test."""

    name: str
    side: str  # "bare" | "ours"
    workers: int
    replica: bool
    base: str = ""
    proc: object = None

    @property
    def get_path(self) -> str:
        """The locate endpoint of this server."""
        return "/locate" if self.side == "bare" else "/api/v1/locate"

    @property
    def post_path(self) -> str:
        """The intake endpoint of this server."""
        return "/incidents" if self.side == "bare" else "/api/v1/incidents"


CONFIGS = [Server("bare FastAPI + PostGIS, 1 worker", "bare", 1, False),
           Server("bare FastAPI + PostGIS, 2 workers", "bare", 2, False),
           Server("gridmap, 1 worker", "ours", 1, False),
           Server("gridmap, 2 workers", "ours", 2, False),
           Server("gridmap, 1 worker + replica", "ours", 1, True),
           Server("gridmap, 2 workers + replica", "ours", 2, True)]


def _transactions(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database")).scalar_one())
    finally:
        engine.dispose()


def _start(server: Server, primary: TempCluster, standby: TempCluster, log_dir: Path) -> None:
    url = primary.url(DB)
    log_path = log_dir / f"{server.side}-{server.workers}-{int(server.replica)}.log"
    if server.side == "bare":
        server.proc, server.base = start_api(url, workers=server.workers, log_path=log_path,
                                             app="scripts.bench.bare_service:create_app")
        return
    env = {**OURS_ENV, "GRIDMAP_DATABASE_READ_URL": standby.url(DB) if server.replica else ""}
    server.proc, server.base = start_api(url, workers=server.workers, log_path=log_path, env=env)


def _warm_up(servers: list[Server], points: Path, n_points: int, *, connections: int) -> None:
    """Untimed: every worker of every server builds its caches (the point locator, prepared statements)."""
    for s in servers:
        run_wrk(s.base, s.get_path, method="GET", points_file=points, first=0, count=n_points,
                key_prefix="warm", connections=connections, duration_s=3)


def _check_answers(servers: list[Server], reports: list[dict]) -> dict[str, int]:
    import httpx

    right = {}
    with httpx.Client(timeout=120) as client:
        for s in servers:
            n = 0
            for r in reports:
                got = client.get(s.base + s.get_path, params={"lon": r["lon"], "lat": r["lat"]}).json()
                code = got.get("grid") if s.side == "bare" else (got.get("grid") or {}).get("code")
                n += code == r["expected"]
            right[s.name] = n
    return right


def _stored(url: str, run_id: str, expected: dict[int, str]) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT description, grid_code FROM incidents WHERE description LIKE :r UNION ALL "
                "SELECT description, grid_code FROM bare_incidents WHERE description LIKE :r"),
                {"r": f"{run_id}-%"}).all()
    finally:
        engine.dispose()
    wrong = sum(1 for d, g in rows if expected.get(int(d.rsplit(" ", 1)[1])) != g)
    return {"stored": len(rows), "wrong_grid": wrong}


def _load(servers: list[Server], method: str, points: Path, n_points: int, *, connections: int, duration_s: float,
          rounds: int, run_id: str, standby_url: str, primary_url: str, log) -> list[dict]:
    """``rounds`` runs of each server on one endpoint, in order and then in reverse (so the machine's drift hits
    every server alike); each run takes its own slice of the points after a 2 s warm-up on the slice before."""
    runs: dict[str, list[dict]] = {s.name: [] for s in servers}
    per_run = n_points // (2 * len(servers) * rounds)
    slot = 0
    for rnd in range(rounds):
        for s in (servers if rnd % 2 == 0 else servers[::-1]):
            path = s.get_path if method == "GET" else s.post_path
            first, slot = slot * per_run, slot + 2
            run_wrk(s.base, path, method=method, points_file=points, first=first, count=per_run,
                    key_prefix=f"warm-{run_id}-{method}-{slot}", connections=connections, duration_s=2)
            before = _transactions(standby_url), _transactions(primary_url)
            r = run_wrk(s.base, path, method=method, points_file=points, first=first + per_run, count=per_run,
                        key_prefix=f"{run_id}-{method}-{slot}", connections=connections, duration_s=duration_s)
            r["standby_xacts"] = _transactions(standby_url) - before[0]
            r["primary_xacts"] = _transactions(primary_url) - before[1]
            log(f"  {method:4s} {s.name:34s} {r['rps']:7.1f} req/s  p50 {r['p50_us'] / 1000:6.1f} ms  p99 "
                f"{r['p99_us'] / 1000:6.1f} ms  errors {r['errors']}  standby transactions {r['standby_xacts']}")
            runs[s.name].append(r)
    return [_row(s, method, runs[s.name]) for s in servers]


def _row(s: Server, method: str, rs: list[dict]) -> dict:
    """One server's runs on one endpoint: req/s over all its runs, p50/p99 the mean of its runs."""
    requests = sum(r["requests"] for r in rs)
    return {"server": s.name, "side": s.side, "workers": s.workers, "replica": s.replica, "method": method,
            "rps": round(requests / (sum(r["duration_us"] for r in rs) / 1e6), 1),
            "runs_rps": [round(r["rps"], 1) for r in rs],
            "p50_ms": round(sum(r["p50_us"] for r in rs) / len(rs) / 1000, 1),
            "p99_ms": round(sum(r["p99_us"] for r in rs) / len(rs) / 1000, 1),
            "requests": requests, "ok": sum(r["ok"] for r in rs), "errors": sum(r["errors"] for r in rs),
            "standby_xacts": sum(r["standby_xacts"] for r in rs), "primary_xacts": sum(r["primary_xacts"] for r in rs)}


def run_scale_out(*, connections: int = 32, duration_s: float = 10.0, rounds: int = 2, n_points: int = 60_000,
                  n_check: int = 50, seed: int = 20261206, log=print) -> dict:
    """Clusters, servers, the loads and the checks (see the module docstring)."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk; `make bench` installs it)")
    primary = TempCluster(prefix="scale-primary-")
    standby = TempCluster(prefix="scale-standby-")
    servers = [Server(c.name, c.side, c.workers, c.replica) for c in CONFIGS]
    try:
        t = time.perf_counter()
        primary.copy_from(template_cluster(log))
        primary.start(*MANY_CLIENTS)
        standby.base_backup_of(primary)
        standby.start(*MANY_CLIENTS)  # a hot standby needs max_connections ≥ the primary's
        for s in servers:
            _start(s, primary, standby, primary.dir)
        engine = create_engine(primary.url(DB))
        reports = draw_reports(engine, n_points, seed)
        engine.dispose()
        points = primary.dir / "points.lua"
        points.write_text(_lua_points(reports), encoding="utf-8")
        for s in servers:
            wait_http(s.base, "/docs" if s.side == "bare" else "/healthz", timeout_s=180)
        setup_s = round(time.perf_counter() - t, 1)
        log(f"primary :{primary.port}, standby :{standby.port}, {len(servers)} servers up ({setup_s} s)")
        _warm_up(servers, points, n_points, connections=connections)
        right = _check_answers(servers, reports[:n_check])
        run_id = f"scale-{uuid.uuid4().hex[:8]}"
        urls = {"standby_url": standby.url("postgres"), "primary_url": primary.url("postgres")}
        get = _load(servers, "GET", points, n_points // 2, connections=connections, duration_s=duration_s,
                    rounds=rounds, run_id=run_id, log=log, **urls)
        post = _load(servers, "POST", points, n_points // 2, connections=connections, duration_s=duration_s,
                     rounds=rounds, run_id=run_id, log=log, **urls)
        stored = _stored(primary.url(DB), run_id, {r["i"]: r["expected"] for r in reports})
        return {"connections": connections, "duration_s": duration_s, "rounds": rounds, "setup_s": setup_s,
                "client": "wrk, 2 threads",
                "answers_right": right, "n_check": len(reports[:n_check]), "get": get, "post": post,
                "stored": stored}
    finally:
        for s in servers:
            if s.proc is not None:
                stop_server(s.proc)
        standby.remove()
        primary.remove()


def checks(res: dict) -> dict[str, bool]:
    """Every agreement check (all must hold)."""
    gets, posts = res["get"], res["post"]
    return {
        "every answer 200/201": all(r["errors"] == 0 for r in gets + posts),
        "expected grid from every server": all(n == res["n_check"] for n in res["answers_right"].values()),
        "replica servers read from the standby": all(r["standby_xacts"] >= r["requests"]
                                                     for r in gets if r["replica"]),
        "other servers did not": all(r["standby_xacts"] < r["requests"] / 10 for r in gets if not r["replica"]),
        "every acknowledged report stored in its grid": res["stored"]["stored"] >= sum(r["ok"] for r in posts)
        and res["stored"]["wrong_grid"] == 0,
    }


def main(argv=None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each server per endpoint (default 2)")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    res = run_scale_out(connections=args.connections, duration_s=args.duration, rounds=args.rounds)
    res["checks"] = checks(res)
    print(json.dumps(res["checks"], ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(res, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0 if all(res["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
