"""The dispatcher's workbench at city scale: the queue query and the page's time to interactive, ×10 city.

``python -m scripts.bench.dispatch [--quick] --json FILE``

Data: a copy of the map benchmark's city (:func:`scripts.bench.map_city.make_city`, kept between runs by
:func:`scripts.bench.maps._database`): 2,000 grids and 100,000 incidents (``--quick``: 60 and 2,000), given what
intake gives every report (:func:`with_intake_details`): an ``incident_details`` row (community, street,
channel; 3 % handed to a 包街 unit, 2 % linked duplicates) and, from 派遣 on, the grid's worker as assignee — so
the queue's joins and its 待人工派遣 rows are those of a real database. The copy is made (≈ 10 s, untimed) and
dropped by each run. The service runs under uvicorn in its own process on 127.0.0.1 with the offline basemap;
Chromium is Debian's.

Rows (what is inside each stopwatch):

- **queue**: one ``GET /api/v1/incidents/queue?sort=newest&limit=50`` (open incidents of the whole city, newest
  first, with the counts of the whole match) timed by the client from request to parsed JSON, over a kept-alive
  connection, median of 25 after 3 warm-ups; the peer is the list the API had before the workbench,
  ``GET /api/v1/incidents?state=<every open state>&limit=50`` (ORM rows, one view per row), timed the same way,
  the two interleaved. Agreement: the same 50 incidents in the same order. The overdue filter is timed too (a note).
- **the statement alone**: :func:`layers.incident_queue.queue_page` in this process (the statement built by
  SQLAlchemy, run by PostgreSQL, its rows read) against the plain SQL one would write for the same page (one join
  of incidents, details and people, the counts as window functions, the whole match sorted), interleaved, median
  of 25 after 3 warm-ups. Agreement: the same 50 ids in the same order and the same counts.
- **workbench**: ``/maps/dispatch`` in Chromium from navigation start until the queue is drawn (its request done,
  the map made, the form ready) and no grid tile is pending (``gridmapDispatch``), plus two animation frames; the
  KPI panel, loaded after that, is timed to its first figures (a note); the peer is the read-only
  dispatch map it replaces, ``/maps/incidents``, until ``gridmap.isIdle()`` (the map benchmark's measure).
  Agreement: the count the page shows is the API's, and nothing left the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from scripts.bench.common import wait_http

OPEN_STATES = ["reported", "registered", "dispatched", "handling", "feedback", "verified", "returned", "postponed"]
QUEUE_TARGET_MS, PAGE_TARGET_S = 100.0, 2.0
# Waits inside the page as promises compiled by the DevTools protocol (page.evaluate): Playwright's
# wait_for_function runs its predicate through eval, which the pages' Content-Security-Policy forbids.
# UNTIL resolves performance.now() two animation frames after EXPR first holds (checked every frame), null after
# 30 s.
UNTIL = """new Promise(resolve => { const end = performance.now() + 30000; const tick = () => {
  let ok = false; try { ok = Boolean(EXPR); } catch (e) { ok = false; }
  if (ok) requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now())));
  else if (performance.now() > end) resolve(null); else requestAnimationFrame(tick); };
  tick(); })"""
READY = ("window.gridmapDispatch && gridmapDispatch.ready && !gridmapDispatch.queue.state.loading && "
         "gridmapDispatch.tilesIdle()")


def _timed(client, url: str, headers: dict) -> tuple[float, dict]:
    t = time.perf_counter()
    r = client.get(url, headers=headers)
    body = r.json()
    ms = (time.perf_counter() - t) * 1000
    r.raise_for_status()
    return ms, body


def _expected_order(peer_items: list[dict]) -> list[int]:
    """The queue's order (待人工派遣 first, then newest) of the peer's newest open incidents."""
    def manual(x: dict) -> bool:
        return x["assignee"] is None and not x.get("assignee_unit") and x["state"] != "closed"

    # newest first, then (a stable sort) the 待人工派遣 ones before the rest
    ranked = sorted(sorted(peer_items, key=lambda x: (x["created_at"], x["id"]), reverse=True),
                    key=lambda x: not manual(x))
    return [x["id"] for x in ranked]


def time_queue(base: str, token: str, *, rounds: int = 25) -> dict:
    """Ours and the peer, interleaved, over one kept-alive connection each; then whether they agree."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    ours_url = "/api/v1/incidents/queue?sort=newest&limit=50"
    peer_url = ("/api/v1/incidents?" + "&".join(f"state={s}" for s in OPEN_STATES)
                + "&include_duplicates=false&limit=50")
    overdue_url = "/api/v1/incidents/queue?overdue=true&limit=50"
    times: dict[str, list[float]] = {"ours": [], "peer": [], "overdue": []}
    with httpx.Client(base_url=base, timeout=120) as ours_c, httpx.Client(base_url=base, timeout=120) as peer_c:
        for _ in range(3):
            _timed(ours_c, ours_url, headers), _timed(peer_c, peer_url, headers), _timed(ours_c, overdue_url, headers)
        for _ in range(rounds):
            ms, ours = _timed(ours_c, ours_url, headers)
            times["ours"].append(ms)
            ms, _ = _timed(peer_c, peer_url, headers)
            times["peer"].append(ms)
            ms, overdue = _timed(ours_c, overdue_url, headers)
            times["overdue"].append(ms)
        # agreement: the peer's 1,000 newest open incidents put in the queue's order give ours
        _, wide = _timed(peer_c, peer_url.replace("limit=50", "limit=1000"), headers)
    agree = [x["id"] for x in ours["items"]] == _expected_order(wide["items"])[:50]
    return {"median_ms": {k: round(statistics.median(v), 1) for k, v in times.items()},
            "p95_ms": {k: round(sorted(v)[int(0.95 * (len(v) - 1))], 1) for k, v in times.items()},
            "agree": agree, "count": ours["count"], "manual_count": ours["manual"], "overdue_count": overdue["overdue"]}


PLAIN_QUEUE = """
SELECT i.id, i.category, i.state, i.level, i.grid_code, i.assignment->'grid'->>'name' AS grid_name,
       coalesce(d.community_code, substr(i.grid_code, 1, 12)) AS community_code, i.created_at, i.due_at,
       i.assignee_id, p.name AS assignee_name, d.assignee_unit, d.channel, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
       left(i.description, 60) AS summary, coalesce(i.due_at < :now, false) AS overdue,
       count(*) OVER () AS n_total, count(*) FILTER (WHERE i.due_at < :now) OVER () AS n_overdue,
       count(*) FILTER (WHERE i.assignee_id IS NULL AND coalesce(d.assignee_unit, '') = '') OVER () AS n_manual
FROM incidents i JOIN incident_details d ON d.incident_id = i.id LEFT JOIN people p ON p.id = i.assignee_id
WHERE i.state <> 'closed' AND d.duplicate_of IS NULL
ORDER BY (i.assignee_id IS NULL AND coalesce(d.assignee_unit, '') = '') DESC, i.created_at DESC, i.id DESC
LIMIT 50"""


def time_queue_sql(db_settings, *, rounds: int = 25) -> dict:
    """The queue's statement alone (:func:`layers.incident_queue.queue_page`: built, sent, rows read) against
    the plain SQL a reader would write for the same page (one join, counts as window functions over the whole
    match, the match sorted in full), interleaved on one connection each; they must give the same 50 ids and
    the same counts."""
    from sqlalchemy import text

    from layers.db import make_engine, make_sessionmaker
    from layers.incident_queue import QueueFilter, queue_page
    from layers.incidents import utcnow

    engine = make_engine(db_settings, pool_size=2, max_overflow=0)
    factory = make_sessionmaker(engine)
    now = utcnow()
    times: dict[str, list[float]] = {"ours": [], "plain": []}
    try:
        with factory() as ours_s, factory() as plain_s:
            for k in range(rounds + 3):
                t = time.perf_counter()
                page = queue_page(ours_s, QueueFilter(), scope="", sort="newest", limit=50, now=now)
                ours_ms = (time.perf_counter() - t) * 1000
                t = time.perf_counter()
                plain = plain_s.execute(text(PLAIN_QUEUE), {"now": now}).mappings().all()
                plain_ms = (time.perf_counter() - t) * 1000
                if k >= 3:  # after warm-ups
                    times["ours"].append(ours_ms)
                    times["plain"].append(plain_ms)
    finally:
        engine.dispose()
    first = plain[0] if plain else {"n_total": 0, "n_overdue": 0, "n_manual": 0}
    agree = ([r["id"] for r in page.rows] == [r["id"] for r in plain]
             and (page.total, page.overdue, page.manual) == (first["n_total"], first["n_overdue"], first["n_manual"]))
    return {"median_ms": {k: round(statistics.median(v), 1) for k, v in times.items()}, "agree": agree, "rounds": rounds,
            "counts": {"ours": [page.total, page.overdue, page.manual],
                       "plain": [first["n_total"], first["n_overdue"], first["n_manual"]]}}


def _page_tti(browser, base: str, url: str, ready: str, cookie: str) -> dict:
    ctx = browser.new_context(viewport={"width": 1366, "height": 860})
    external: list[str] = []
    ctx.on("request", lambda r: None if r.url.startswith((base + "/", "data:", "blob:")) else external.append(r.url))
    ctx.add_cookies([{"name": "gridmap_token", "value": cookie, "url": base}])
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(base + url, timeout=30_000)
        tti = page.evaluate(UNTIL.replace("EXPR", ready))
        if tti is None:
            raise TimeoutError(ready)
        phases = page.evaluate("(() => { const n = performance.getEntriesByType('navigation')[0]; return "
                               "{response_end_ms: Math.round(n.responseEnd), dom_loaded_ms: "
                               "Math.round(n.domContentLoadedEventEnd), queue_drawn_ms: window.gridmapDispatch ? "
                               "Math.round(gridmapDispatch.readyAt) : null}; })()")
        shown = page.evaluate("window.gridmapDispatch ? gridmapDispatch.queue.state.answer.count : null")
        kpis = None
        if shown is not None:
            kpis = page.evaluate(UNTIL.replace("EXPR", "gridmapDispatch.kpis.state.answer !== null"))
        ok = True
    except Exception as exc:  # noqa: BLE001 - a timeout is a result
        tti, shown, kpis, ok, phases = 30_000.0, None, None, False, {}
        errors.append(type(exc).__name__)
    ctx.close()
    return {"tti_ms": round(tti), "kpis_ms": None if kpis is None else round(kpis), "shown_count": shown,
            "finished": ok, "external": len(external), "errors": errors[:3], **phases}


def time_pages(base: str, token: str, *, rounds: int = 3) -> dict:
    """The workbench and the peer page in Chromium, best of ``rounds`` each (a fresh context every time)."""
    from playwright.sync_api import sync_playwright

    from scripts.bench.maps import ARGS, CHROMIUM

    out: dict[str, list[dict]] = {"ours": [], "peer": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(rounds):
            out["ours"].append(_page_tti(browser, base, "/maps/dispatch", READY, token))
            out["peer"].append(_page_tti(browser, base, "/maps/incidents", "window.gridmap && gridmap.isIdle()",
                                         token))
        browser.close()
    return {k: min(v, key=lambda r: r["tti_ms"]) for k, v in out.items()} | {"all": out}


INTAKE_DETAILS = """
INSERT INTO incident_details (incident_id, request_hash, token, channel, community_code, street_code, assignee_role,
    assignee_unit, duplicate_of, sensitive, public_lon, public_lat, private, extra, response)
SELECT i.id, '', md5('bench' || i.id)::uuid::text,
    (ARRAY['phone', 'hotline_12345', 'visit', 'grid_worker', 'app', 'api'])[1 + i.id % 6],
    substr(i.grid_code, 1, 12), substr(i.grid_code, 1, 9) || '000', 'grid_worker',
    CASE WHEN i.id % 33 = 0 THEN '金川区城市管理综合执法局' END,
    CASE WHEN i.id % 50 = 7 THEN (SELECT max(o.id) FROM incidents o WHERE o.grid_code = i.grid_code AND o.id < i.id) END,
    false, ST_X(i.geom), ST_Y(i.geom), '{}', '{}', '{}'
FROM incidents i;
UPDATE incidents i SET assignee_id = w.person_id FROM staff_assignments w
WHERE w.grid_code = i.grid_code AND w.role = 'grid_worker'
  AND i.state NOT IN ('reported', 'registered', 'returned') AND i.id % 33 <> 0;
"""


def with_intake_details(settings) -> dict:
    """Give every incident of the copy what intake would have stored (see the module docstring)."""
    from sqlalchemy import create_engine, text

    eng = create_engine(settings.sqlalchemy_url, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            for statement in INTAKE_DETAILS.split(";\n"):
                if statement.strip():
                    conn.execute(text(statement))
            conn.execute(text("VACUUM (ANALYZE) incidents"))
            conn.execute(text("VACUUM (ANALYZE) incident_details"))
            counts = conn.execute(text(
                "SELECT count(*), count(assignee_unit), count(duplicate_of) FROM incident_details")).one()
    finally:
        eng.dispose()
    return {"details": counts[0], "handed_to_units": counts[1], "duplicates": counts[2]}


def run(quick: bool, fresh: bool) -> dict:
    """Copy the city, give it intake's details, serve it, time the queue and the page, drop the copy."""
    from layers.db import drop_database
    from scripts.bench.common import copy_database
    from scripts.bench.maps import _database

    sizes = {"grids": 60, "bpg": 20, "incidents": 2000} if quick else {"grids": 2000, "bpg": 25, "incidents": 100_000}
    city, data_info = _database(sizes, fresh=fresh)
    t = time.perf_counter()
    db_settings = copy_database(city)
    try:
        data_info.update(with_intake_details(db_settings), copy_s=round(time.perf_counter() - t, 1))
        return _measure_all(db_settings, sizes, data_info, quick=quick)
    finally:
        drop_database(db_settings.sqlalchemy_url)


def _measure_all(db_settings, sizes: dict, data_info: dict, *, quick: bool) -> dict:
    """Serve the copy and time the queue and the pages."""
    from scripts.bench.maps import _dispatcher_token, _serve

    server, base = _serve(db_settings)
    try:
        wait_http(base)
        token = _dispatcher_token(db_settings, base)
        queue = time_queue(base, token, rounds=10 if quick else 25)
        statement = time_queue_sql(db_settings, rounds=10 if quick else 25)
        pages = time_pages(base, token, rounds=2 if quick else 3)
    finally:
        server.terminate()
        server.wait(30)
    q, ours, peer = queue["median_ms"], pages["ours"], pages["peer"]
    load = f"; machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    rows = [
        {"target": f"dispatch queue, {sizes['incidents']:,} incidents: GET …/queue (< {QUEUE_TARGET_MS:g} ms)",
         "ours": q["ours"], "peer": q["peer"], "peer_name": "GET /api/v1/incidents (ORM rows, a view per row)",
         "ratio": round(q["peer"] / max(q["ours"], 0.1), 1), "unit": "ms", "agrees": bool(queue["agree"]),
         "agreement": "same first 50 ids in the same order" if queue["agree"] else "DIFFERENT order or ids",
         "notes": f"median of 25 over HTTP, p95 {queue['p95_ms']['ours']} ms; overdue filter {q['overdue']} ms; "
                  f"{queue['count']:,} open matched{load}"},
        {"target": f"dispatch queue, {sizes['incidents']:,} incidents: the statement alone (< {QUEUE_TARGET_MS:g} ms)",
         "ours": statement["median_ms"]["ours"], "peer": statement["median_ms"]["plain"],
         "peer_name": "plain SQL (one join, window counts, whole match sorted)",
         "ratio": round(statement["median_ms"]["plain"] / max(statement["median_ms"]["ours"], 0.1), 1), "unit": "ms",
         "agrees": bool(statement["agree"]),
         "agreement": "same 50 ids and counts" if statement["agree"] else "DIFFERENT ids or counts",
         "notes": f"layers.incident_queue.queue_page in process (SQLAlchemy build + PostgreSQL + rows read) vs "
                  f"the plain statement on the same driver, interleaved, median of {statement['rounds']}; same 50 ids "
                  f"and counts (total, overdue, 待人工派遣) {statement['counts']['ours']}{load}"},
        {"target": f"workbench /maps/dispatch: time to interactive (< {PAGE_TARGET_S:g} s)",
         "ours": ours["tti_ms"] / 1000, "peer": peer["tti_ms"] / 1000 if peer["finished"] else None,
         "peer_name": "/maps/incidents (read-only dispatch map)",
         "ratio": round(peer["tti_ms"] / max(ours["tti_ms"], 1), 1), "unit": "s",
         "agrees": bool(ours["finished"] and ours["shown_count"] == queue["count"] and ours["external"] == 0),
         "agreement": f"finished {ours['finished']}, shown {ours['shown_count']} = queue count {queue['count']}, "
                      f"requests off the machine {ours['external']}",
         "notes": f"queue drawn, grid tiles loaded; KPI panel (loaded after) at {ours['kpis_ms']} ms; best of "
                  f"{len(pages['all']['ours'])}{load}"},
    ]
    for r in rows:
        print(f"{r['target']}: ours {r['ours']} {r['unit']} | peer {r['peer']} | agree {r['agreement']}", flush=True)
    return {"benchmark": "dispatch", "rows": rows,
            "details": {"data": data_info, "sizes": sizes, "queue": queue, "statement": statement, "pages": pages}}


def main(argv: list[str] | None = None) -> int:
    """CLI entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small city (60 grids, 2,000 incidents)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--dask", help="unused (not a bulk job)")
    ap.add_argument("--fresh", action="store_true", help="regenerate the city even if its database is there")
    args = ap.parse_args(argv)
    result = run(args.quick, args.fresh)
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    # a row without "agrees" fails only on a bare False agreement (as gridmap bench reads it)
    return 0 if all(r.get("agrees", r.get("agreement") is not False) for r in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
