"""Benchmark: the service's two busiest calls under HTTP load, against a bare FastAPI + PostGIS service on the
same database, loaded by the same client with the same connections.

- **Ours**: ``uvicorn api.app:create_app`` — ``GET /api/v1/locate`` (the full answer: grid, areas, 包街 rule,
  contacts, plan) and ``POST /api/v1/incidents`` (every rule: locate, dispatch, duplicate check, idempotency
  key, events, privacy; a fresh ``Idempotency-Key`` per request).
- **Peer**: :mod:`scripts.bench.bare_service` — ``GET /locate`` (one ``ST_Covers`` lookup) and
  ``POST /incidents`` (the same lookup and one ``INSERT``, autocommit).

Both run with the same number of uvicorn workers against a copy of the load test's template cluster (the
Jinchang demo's published plan; :func:`scripts.bench.load.template_cluster`), with the public rate limit off (all
requests come from 127.0.0.1). The client is ``wrk`` (``--connections``, default 32, on 2 threads; a Lua script
picks each request's point from a list drawn ≥ 3 m inside the grids, so each has one right grid, and never
repeats a point within a run). Each endpoint is loaded in the order peer, ours, ours, peer (``--duration``
seconds each, after an untimed warm-up of both): requests per second is the total of each side's two runs over
their time, p50/p99 the mean of its two runs.

Agreement: the grid of ``--check`` points asked of both over HTTP must be the same and the expected one; after
the POST runs every stored row must carry the expected grid of its point, no response may be other than
200/201, and each side must have stored at least as many rows as it acknowledged. The command exits 1 if any
check fails.

Run ``python -m scripts.bench.http_load [--quick] [--json FILE]``; needs ``wrk`` (``apt-get install wrk``; the
bench set-up installs it).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from scripts.bench.common import start_api, wait_http
from scripts.bench.load import TempCluster, draw_reports, start_server, stop_server, template_cluster

LUA = Path(__file__).with_name("wrk_points.lua")
TARGETS = {"get_rps": 0.8, "get_p99": 2.0, "post_rps": 0.5}


def _lua_points(reports: list[dict]) -> str:
    rows = ",\n".join(f'{{{r["lon"]!r},{r["lat"]!r},"{r["category"]}",{r["i"]}}}' for r in reports)
    return f"points = {{\n{rows}\n}}\n"


def run_wrk(base: str, path: str, *, method: str, points_file: Path, first: int, count: int, key_prefix: str,
            connections: int, duration_s: float, threads: int = 2) -> dict:
    """Load ``base + path`` with wrk for ``duration_s``; the numbers of its Lua ``done()`` as a dict."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s", "--timeout", "10s", "-s", str(LUA),
           base + path, "--", method, str(points_file), str(first), str(count), key_prefix, str(threads)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60)
    found = re.search(r"^WRKJSON (\{.*\})$", run.stdout, re.M)
    if run.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({run.returncode}): {run.stderr[-500:]} {run.stdout[-500:]}")
    res = json.loads(found.group(1))
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    res["errors"] = sum(res[k] for k in ("connect", "read", "write", "timeout")) + res["bad"]
    return res


def _sides(runs: dict[str, list[dict]]) -> dict[str, dict]:
    out = {}
    for side, rs in runs.items():
        n = sum(r["requests"] for r in rs)
        secs = sum(r["duration_us"] for r in rs) / 1e6
        out[side] = {"rps": n / secs, "requests": n, "ok": sum(r["ok"] for r in rs),
                     "errors": sum(r["errors"] for r in rs),
                     "p50_ms": sum(r["p50_us"] for r in rs) / len(rs) / 1000,
                     "p99_ms": sum(r["p99_us"] for r in rs) / len(rs) / 1000,
                     "runs_rps": [round(r["rps"], 1) for r in rs]}
    return out


def load_endpoint(servers: dict[str, tuple[str, str]], method: str, points_file: Path, n_points: int, *,
                  connections: int, duration_s: float, run_id: str, log=print) -> dict[str, dict]:
    """Peer, ours, ours, peer on one endpoint; each run takes the next slice of the points."""
    runs: dict[str, list[dict]] = {"peer": [], "ours": []}
    per_run = n_points // 4
    for k, side in enumerate(("peer", "ours", "ours", "peer")):
        base, path = servers[side]
        r = run_wrk(base, path, method=method, points_file=points_file, first=k * per_run, count=per_run,
                    key_prefix=f"{run_id}-{method}-{k}", connections=connections, duration_s=duration_s)
        log(f"  {method} {side:4s}: {r['rps']:7.1f} req/s, p50 {r['p50_us'] / 1000:6.1f} ms, "
            f"p99 {r['p99_us'] / 1000:6.1f} ms, non-2xx {r['bad']}, socket errors "
            f"{r['errors'] - r['bad']}")
        runs[side].append(r)
    return _sides(runs)


def compare_answers(servers: dict[str, tuple[str, str]], reports: list[dict]) -> dict:
    """The grid each side gives for each point over HTTP, against the expected one."""
    import httpx

    same = expected_ours = expected_peer = 0
    with httpx.Client(timeout=30) as client:
        for r in reports:
            params = {"lon": r["lon"], "lat": r["lat"]}
            ours = client.get(servers["ours"][0] + "/api/v1/locate", params=params).json()
            peer = client.get(servers["peer"][0] + "/locate", params=params).json()
            ours_code = (ours.get("grid") or {}).get("code")
            same += ours_code == peer.get("grid")
            expected_ours += ours_code == r["expected"]
            expected_peer += peer.get("grid") == r["expected"]
    return {"points": len(reports), "same": same, "ours_expected": expected_ours, "peer_expected": expected_peer}


def check_stored(engine, run_id: str, expected: dict[int, str]) -> dict:
    """Rows each side stored in the POST runs, and how many carry a grid other than the expected one."""
    with engine.connect() as conn:
        # the description of a POST is "<run>-POST-<k> <point index>"
        ours = conn.execute(text("SELECT description, grid_code FROM incidents WHERE description LIKE :r"),
                            {"r": f"{run_id}-POST-%"}).all()
        peer = conn.execute(text("SELECT description, grid_code FROM bare_incidents WHERE description LIKE :r"),
                            {"r": f"{run_id}-POST-%"}).all()

    def wrong(rows) -> int:
        return sum(1 for d, g in rows if expected.get(int(d.rsplit(" ", 1)[1])) != g)

    return {"ours_stored": len(ours), "ours_wrong_grid": wrong(ours), "peer_stored": len(peer),
            "peer_wrong_grid": wrong(peer)}


def run_http(*, connections: int = 32, duration_s: float = 10.0, workers: int = 2, n_points: int = 64_000,
             n_check: int = 200, seed: int = 20261205, log=print) -> dict:
    """Start the cluster and both services, load each endpoint, check the answers (see the module docstring)."""
    from layers.db import make_engine
    from layers.settings import DatabaseSettings

    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk; `make bench` installs it)")
    cluster = TempCluster()
    procs = []
    engine = None
    try:
        t = time.perf_counter()
        url = cluster.url("gridmap_load")
        # the servers import while the cluster is copied and started and the points are drawn (the peer opens
        # its pool at start-up, so it starts once the database is up)
        # ours with as many pooled connections as the peer (and as FastAPI has threads)
        ours, ours_base = start_server(url, workers, cluster.dir / "ours.log",
                                       pool={"GRIDMAP_DB_POOL_SIZE": "40", "GRIDMAP_DB_MAX_OVERFLOW": "0"})
        procs.append(ours)
        cluster.copy_from(template_cluster(log))
        cluster.start()
        peer, peer_base = start_api(url, workers=workers, log_path=cluster.dir / "peer.log",
                                    app="scripts.bench.bare_service:create_app")
        procs.append(peer)
        engine = make_engine(DatabaseSettings(url=url, pool_size=2, max_overflow=0))
        reports = draw_reports(engine, n_points, seed)
        run_id = f"http-{uuid.uuid4().hex[:8]}"
        points_file = cluster.dir / "points.lua"
        points_file.write_text(_lua_points(reports), encoding="utf-8")
        wait_http(ours_base)
        wait_http(peer_base, "/docs")
        servers_get = {"ours": (ours_base, "/api/v1/locate"), "peer": (peer_base, "/locate")}
        servers_post = {"ours": (ours_base, "/api/v1/incidents"), "peer": (peer_base, "/incidents")}
        setup_s = time.perf_counter() - t
        log(f"cluster on port {cluster.port}, both services up, {len(reports)} points ({setup_s:.1f} s)")
        # untimed warm-up: every worker builds its caches (locator, compiled kernels, prepared statements)
        for servers, method in ((servers_get, "GET"), (servers_post, "POST")):
            for side in ("ours", "peer"):
                run_wrk(*servers[side], method=method, points_file=points_file, first=0, count=n_points,
                        key_prefix=f"warm-{run_id}-{side}", connections=connections, duration_s=1)
        answers = compare_answers(servers_get, reports[:n_check])
        log(f"answers: {answers}")
        get = load_endpoint(servers_get, "GET", points_file, n_points, connections=connections,
                            duration_s=duration_s, run_id=run_id, log=log)
        post = load_endpoint(servers_post, "POST", points_file, n_points, connections=connections,
                             duration_s=duration_s, run_id=run_id, log=log)
        stored = check_stored(engine, run_id, {r["i"]: r["expected"] for r in reports})
        log(f"stored: {stored}")
        return {"connections": connections, "duration_s": duration_s, "workers": workers, "points": n_points,
                "setup_s": round(setup_s, 1), "client": "wrk 2 threads", "get": get, "post": post,
                "answers": answers, "stored": stored}
    finally:
        for proc in procs:
            stop_server(proc)
        if engine is not None:
            engine.dispose()
        cluster.remove()


def checks(res: dict) -> dict[str, bool]:
    """Every agreement check of the run (all must hold)."""
    a, s, get, post = res["answers"], res["stored"], res["get"], res["post"]
    return {
        "same grid over HTTP": a["same"] == a["points"] == a["ours_expected"] == a["peer_expected"],
        "no error responses": all(side["errors"] == 0 for side in (*get.values(), *post.values())),
        "ours stored every 201 with the right grid": s["ours_stored"] >= post["ours"]["ok"]
        and s["ours_wrong_grid"] == 0,
        "peer stored every 201 with the right grid": s["peer_stored"] >= post["peer"]["ok"]
        and s["peer_wrong_grid"] == 0,
    }


def rows_of(res: dict) -> list[dict]:
    """The table's rows: requests per second (ours ÷ peer) and latency (peer ÷ ours: below 1 is slower)."""
    ok = checks(res)
    agree = "all checks pass" if all(ok.values()) else "FAILED: " + ", ".join(k for k, v in ok.items() if not v)
    a = res["answers"]
    setup = (f"wrk, {res['connections']} connections, {res['workers']} uvicorn workers each, same database; "
             f"order peer-ours-ours-peer, {res['duration_s']:g} s each")
    rows = []
    for key, label, ours_path, peer_path, target in (
            ("get", "GET /api/v1/locate", "full answer (grid, areas, 包街 rule, contacts)", "one ST_Covers lookup",
             TARGETS["get_rps"]),
            ("post", "POST /api/v1/incidents", "every rule, duplicates, idempotency key, events",
             "ST_Covers lookup + INSERT", TARGETS["post_rps"])):
        ours, peer = res[key]["ours"], res[key]["peer"]
        peer_name = f"bare FastAPI + PostGIS {'GET /locate' if key == 'get' else 'POST /incidents'}"
        rows.append({"target": f"{label} req/s ≥ {target:.0%} of bare", "ours": round(ours["rps"], 1),
                     "peer": round(peer["rps"], 1), "peer_name": peer_name,
                     "ratio": round(ours["rps"] / peer["rps"], 3), "unit": "req/s", "agreement": agree,
                     "agrees": all(ok.values()),
                     "notes": f"ours: {ours_path}; peer: {peer_path}; {setup}; runs ours {ours['runs_rps']}, "
                              f"peer {peer['runs_rps']}" + (f"; same grid {a['same']}/{a['points']}"
                                                             if key == "get" else "")})
        p99_target = " ≤ 2× bare" if key == "get" else ""
        rows.append({"target": f"{label} latency p99{p99_target}", "ours": round(ours["p99_ms"], 1),
                     "peer": round(peer["p99_ms"], 1), "peer_name": peer_name,
                     "ratio": round(peer["p99_ms"] / ours["p99_ms"], 3), "unit": "ms", "agreement": agree,
                     "agrees": all(ok.values()),
                     "notes": f"p50 ours {ours['p50_ms']:.1f} ms, peer {peer['p50_ms']:.1f} ms; ratio = peer ÷ "
                              "ours latency (below 1: ours slower)"})
    return rows


def main(argv=None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 s per run, 12,000 points (~20 s)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--duration", type=int, help="seconds per run (default 10; 1 with --quick)")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers of each service (default 2)")
    ap.add_argument("--dask", metavar="ADDRESS", help="accepted for the common contract; not used")
    ap.add_argument("--json", help="write the result rows to this file")
    args = ap.parse_args(argv)
    res = run_http(connections=args.connections, duration_s=args.duration or (1 if args.quick else 10),
                   workers=args.workers, n_points=12_000 if args.quick else 64_000,
                   n_check=50 if args.quick else 200)
    rows = rows_of(res)
    res["checks"] = checks(res)
    for row in rows:
        print(f"{row['target']}: ours {row['ours']} {row['unit']}, peer {row['peer']}, ratio {row['ratio']}")
    print(json.dumps(res["checks"], ensure_ascii=False))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "http_load", "rows": rows, "details": res}, f, ensure_ascii=False, indent=2)
    return 0 if all(res["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
