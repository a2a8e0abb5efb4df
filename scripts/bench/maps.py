"""Map pages at city scale: HTML size and time-to-interactive in headless Chromium, ours vs plain Folium GeoJson.

``python -m scripts.bench.maps [--quick] --json FILE``

Data: :func:`scripts.bench.map_city.make_city` — the Jinchang demo scaled ×10 (2,000 grids, 50,000 buildings,
100,000 incidents; ``--quick``: 60 grids, 1,200 buildings, 2,000 incidents) in a database kept between runs
(``gridmap_bench_maps[_quick]_<key>``, rebuilt when the generator or the schema changes, or with ``--fresh``).
The service runs under uvicorn on 127.0.0.1 with the offline basemap, so
nothing leaves the machine; Chromium is Debian's.

Ours: the served page (``/maps/public|grids|incidents|coverage``) — big layers as PostGIS vector tiles,
the rest embedded with 5-decimal coordinates and simplified polygons. Peer: a plain Folium map with one
``folium.GeoJson`` layer per dataset of the same data (what you would write first), with the same local assets.
Time-to-interactive: from navigation start until the page's scripts have run, every layer is drawn — no tile
pending and every layer fetched after the script arrived (``gridmap.isSettled()``; the peer: the ``load``
event) — plus two animation frames. Agreement: the same number of features behind each page (ours: embedded,
fetched, and what the vector tiles of the first view deliver, decoded by :mod:`scripts.bench.mvt`; a layer
drawn only from a closer zoom counts its rows; peer: embedded); the command exits 1 when they differ.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import folium

from scripts.bench.common import ROOT, start_api, wait_http

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]  # nothing leaves the machine
SECRET = "bench-maps-secret-0123456789-abcdefghij"  # ≥ 32 bytes, as the service requires
BENCH_USER, BENCH_PASSWORD = "bench-dispatcher", "bench-dispatcher-password"
DB_NAME = "gridmap_bench_maps"
PEER = "folium.GeoJson (plain)"
TTI_TIMEOUT_MS = 30_000  # 10× the 3 s target: a page not interactive by then is reported as such


def _database(sizes: dict, *, fresh: bool):
    """The map city of ``sizes`` in a database kept between runs (rebuilt when the generator, the schema or
    the sizes change, or with ``fresh``)."""
    from layers import migrate
    from layers.db import make_engine, make_sessionmaker
    from scripts.bench.common import kept_database, source_key
    from scripts.bench.map_city import make_city

    info: dict = {"reused": True}

    def build(settings) -> None:
        migrate.upgrade(settings)
        eng = make_engine(settings, pool_size=2, max_overflow=0)
        t = time.perf_counter()
        city = make_city(make_sessionmaker(eng), grids=sizes["grids"], buildings_per_grid=sizes["bpg"],
                         incidents=sizes["incidents"])
        eng.dispose()
        info.update(reused=False, generated_s=round(time.perf_counter() - t, 1), city=city.__dict__)

    prefix = DB_NAME + ("_quick" if sizes["grids"] < 1000 else "")
    key = source_key(ROOT / "scripts" / "bench" / "map_city.py", (ROOT / "layers" / "migrations").rglob("*.py"),
                     json.dumps(sizes, sort_keys=True))
    settings = kept_database(prefix, key, build, fresh=fresh)
    return settings, info


def _serve(db_settings) -> tuple[subprocess.Popen, str]:
    """``uvicorn api.app:create_app`` in its own process, as deployed (a server thread in this process would
    share the interpreter lock with the browser driver and slow both); returns at once — it imports while the
    peer pages are built, :func:`scripts.bench.common.wait_http` waits for it."""
    return start_api(db_settings.sqlalchemy_url.render_as_string(hide_password=False),
                     env={"GRIDMAP_SECRET_KEY": SECRET, "GRIDMAP_MAP_BASEMAP": "none"})


def _dispatcher_token(db_settings, base: str) -> str:
    """A dispatcher's token for the staff-only page, got by signing in as a person does (the account is made
    once in the kept database)."""
    import httpx

    from gis.errors import Conflict
    from layers.accounts import create_user
    from layers.db import make_engine, make_sessionmaker

    engine = make_engine(db_settings, pool_size=1, max_overflow=0)
    with make_sessionmaker(engine)() as session:
        try:
            create_user(session, BENCH_USER, BENCH_PASSWORD, roles=["dispatcher"], scope="")
            session.commit()
        except Conflict:
            session.rollback()
    engine.dispose()
    answer = httpx.post(base + "/api/v1/auth/token", data={"username": BENCH_USER, "password": BENCH_PASSWORD},
                        timeout=60)
    answer.raise_for_status()
    return answer.json()["access_token"]


def _peer_pages(db_settings, base: str) -> dict[str, tuple[str, int]]:
    """Plain Folium pages of the same data: {page: (html, features)}."""
    from layers import map_data
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import WalkSettings
    from maps import assets
    from usecases.coverage import map_uncovered

    eng = make_engine(db_settings, pool_size=1, max_overflow=0)
    out = {}
    with make_sessionmaker(eng)() as s:
        bounds = map_data.extent(s)
        grids = map_data.grids(s, tolerance_deg=0)
        flt = map_data.IncidentFilter()
        datasets = {
            "public": [map_data.facilities(s), grids, map_data.communities(s, tolerance_deg=0),
                       map_data.circles_by_type(s, tolerance_deg=0)],
            "grids": [grids, map_data.buildings(s)],
            "incidents": [grids, map_data.incidents(s, flt, limit=10**7)],
            "coverage": [map_data.facilities(s, type_code="clinic"), map_data.circles_by_type(s, type_code="clinic",
                                                                                             tolerance_deg=0),
                         map_uncovered(s, "clinic", walk=WalkSettings())[0], grids],
        }
    eng.dispose()
    for page, frames in datasets.items():
        m = folium.Map(tiles=None, control_scale=True)
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
        n = 0
        for i, gdf in enumerate(frames):
            gdf = gdf.copy()
            for c in gdf.columns:
                if c != "geometry" and gdf[c].dtype == object:
                    gdf[c] = gdf[c].astype(str)
            folium.GeoJson(gdf, name=f"layer{i}").add_to(m)
            n += len(gdf)
        folium.LayerControl().add_to(m)
        assets.localize(m, base + "/static/vendor/node_modules", base + "/static/maps")
        out[page] = (m.get_root().render(), n)
    return out


FRAMES = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))"


def _measure(browser, base: str, url: str | None, html: str | None, cookie: str | None) -> dict:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    external: list[str] = []
    errors: list[str] = []
    tiles: list[str] = []
    ctx.on("request", lambda r: tiles.append(r.url) if "/tiles/" in r.url else None)
    # only the peer page itself is intercepted (every intercepted request waits for this process); anything
    # off the machine fails to resolve (ARGS) and is counted here
    if html is not None:
        ctx.route(base + "/peer", lambda r: r.fulfill(status=200, body=html, content_type="text/html; charset=utf-8"))
    ctx.on("request", lambda r: None if r.url.startswith((base + "/", "data:", "blob:")) else external.append(r.url))
    if cookie:
        ctx.add_cookies([{"name": "gridmap_token", "value": cookie, "url": base}])
    page = ctx.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        if html is None:
            page.goto(base + url, timeout=TTI_TIMEOUT_MS)
            page.wait_for_function("() => window.gridmap && gridmap.isIdle()", timeout=TTI_TIMEOUT_MS)
        else:
            page.goto(base + "/peer", wait_until="load", timeout=TTI_TIMEOUT_MS)
        idle = page.evaluate(FRAMES)
        ok = True
        tti = idle
        if html is None:  # interactive once every layer is drawn, those fetched after the page's script too
            page.wait_for_function("() => gridmap.isSettled()", timeout=TTI_TIMEOUT_MS)
            tti = page.evaluate(FRAMES)
        phases = page.evaluate("(() => { const n = performance.getEntriesByType('navigation')[0]; return "
                               "{response_end_ms: Math.round(n.responseEnd), dom_loaded_ms: "
                               "Math.round(n.domContentLoadedEventEnd), script_ready_ms: window.gridmap ? "
                               "Math.round(gridmap.readyAt) : null}; })()")
    except Exception as exc:  # noqa: BLE001 - a timeout is a result
        tti, ok, phases, idle = float(TTI_TIMEOUT_MS), False, {}, float(TTI_TIMEOUT_MS)
        errors.append(f"timeout: {type(exc).__name__}")
    ctx.close()
    return {"tti_ms": round(tti), "idle_ms": round(idle), "finished": ok, **phases, "external": len(external),
            "errors": errors[:3], "tile_urls": sorted(set(tiles))}


def run(quick: bool, fresh: bool) -> dict:
    """Build data, serve it, measure every page both ways."""
    import httpx
    from playwright.sync_api import sync_playwright

    sizes = {"grids": 60, "bpg": 20, "incidents": 2000} if quick else {"grids": 2000, "bpg": 25,
                                                                          "incidents": 100_000}
    db_settings, data_info = _database(sizes, fresh=fresh)
    server, base = _serve(db_settings)
    pages = {"public": "/maps/public", "grids": "/maps/grids", "incidents": "/maps/incidents",
             "coverage": "/maps/coverage?type=clinic"}
    rows, details = [], {"data": data_info, "sizes": sizes, "pages": {}}
    try:
        t = time.perf_counter()
        peers = _peer_pages(db_settings, base)
        details["peer_build_s"] = round(time.perf_counter() - t, 1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            wait_http(base)
            token = _dispatcher_token(db_settings, base)
            for name, url in pages.items():
                cookie = token if name == "incidents" else None
                t = time.perf_counter()
                r = httpx.get(base + url, cookies={"gridmap_token": token} if cookie else None, timeout=120)
                server_s = time.perf_counter() - t
                r.raise_for_status()
                ours_bytes = len(r.content)
                ours = _measure(browser, base, url, None, cookie)
                peer_html, peer_n = peers[name]
                peer = _measure(browser, base, None, peer_html, None)
                counted = _our_features(r.text, base, ours.pop("tile_urls"), {"gridmap_token": token} if cookie
                                        else None, db_settings)
                ours_n = counted["total"]
                agree = ours_n == peer_n
                details["pages"][name] = {"ours": {**ours, "bytes": ours_bytes, "server_s": round(server_s, 2),
                                                   "features": ours_n, "counted": counted},
                                          "peer": {**peer, "bytes": len(peer_html.encode()), "features": peer_n}}
                rows.append({"target": f"{name}: HTML size (< 2 MB)", "ours": round(ours_bytes / 1e6, 3),
                             "peer": round(len(peer_html.encode()) / 1e6, 3), "peer_name": PEER,
                             "ratio": round(len(peer_html.encode()) / ours_bytes, 1), "unit": "MB",
                             "agreement": f"features {ours_n} = {peer_n}" if agree else f"features {ours_n} ≠ {peer_n}",
                             "agrees": agree, "notes": f"ours: {counted['how']}"})
                rows.append({"target": f"{name}: time to interactive (< 3 s)", "ours": ours["tti_ms"] / 1000,
                             "peer": peer["tti_ms"] / 1000 if peer["finished"] else None, "peer_name": PEER,
                             "ratio": round(peer["tti_ms"] / max(ours["tti_ms"], 1), 1), "unit": "s",
                             "agreement": f"features {ours_n} = {peer_n}; requests off the machine {ours['external']}",
                             "agrees": agree and ours["external"] == 0,
                             "notes": f"until every layer is drawn (ours: no tile pending and every layer fetched "
                                      f"after the page's script arrived; first idle at {ours['idle_ms'] / 1000:.2f} s; "
                                      f"peer: load); server {server_s:.2f} s" + ("" if peer["finished"] else
                                      f"; peer did not finish in {TTI_TIMEOUT_MS / 1000:.0f} s")})
                print(f"{name:10s} ours {ours_bytes / 1e6:7.3f} MB {ours['tti_ms'] / 1000:6.2f} s | peer "
                      f"{len(peer_html.encode()) / 1e6:7.3f} MB {peer['tti_ms'] / 1000:6.2f} s"
                      f"{'' if peer['finished'] else ' (timeout)'} | features {ours_n}/{peer_n}", flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    return {"benchmark": "maps", "rows": rows, "details": details}


# layers that mark features already drawn by another layer (problems, suggestions and audits over grids and
# buildings): not counted again
HIGHLIGHTS = ("problem", "site", "seven_ones", "roster_gap", "roster_building", "visit_share", "stale_building")


def _tile_features(base: str, urls: list[str], layer: str, cookies: dict | None) -> tuple[int, int]:
    """Features the page's tiles of ``layer`` delivered: points inside their own tile (a cluster counts its
    ``count``), polygons once each by id; and the number of tiles."""
    import httpx

    from scripts.bench import mvt

    mine = [u for u in urls if f"/tiles/{layer}/" in u]
    points, polygons = 0, set()
    with httpx.Client(cookies=cookies, timeout=60) as client:
        for url in mine:
            answer = client.get(url)
            answer.raise_for_status()
            for extent, feats in mvt.decode(answer.content).values():
                for f in feats:
                    if f.kind == 1 and f.first is not None and 0 <= f.first[0] < extent and 0 <= f.first[1] < extent:
                        points += int(f.properties.get("count", 1))
                    elif f.kind == 3:
                        polygons.add(f.id if f.id is not None else f.properties.get("id"))
    return points + len(polygons), len(mine)


def _rows_behind(db_settings, layer: str) -> int:
    """Rows behind a layer the first view does not show (drawn from a closer zoom)."""
    from layers import map_data
    from layers.db import make_engine, make_sessionmaker

    eng = make_engine(db_settings, pool_size=1, max_overflow=0)
    try:
        with make_sessionmaker(eng)() as s:
            return map_data.count(s, layer)
    finally:
        eng.dispose()


def _our_features(html: str, base: str, tile_urls: list[str], cookies: dict | None, db_settings) -> dict:
    """Features behind our page: embedded ones, those fetched after load, those the page's vector tiles
    delivered at its first view (decoded), and the rows of layers shown only from a closer zoom."""
    import re

    import httpx

    embedded = fetched = delivered = gated = n_tiles = 0
    gated_names = []
    for m in re.finditer(r"gridmap\.layer\((\{.*?\})\);\n", html):
        spec = json.loads(m.group(1))
        if spec.get("from") or spec.get("style") in HIGHLIGHTS or spec["name"].startswith("超期"):
            continue  # a view on, or a highlight of, features counted in their own layer
        if spec["kind"] == "tiles":
            n, k = _tile_features(base, tile_urls, spec["tileLayer"], cookies)
            n_tiles += k
            if k == 0 and spec.get("minZoom"):  # not drawn at the first view
                gated += _rows_behind(db_settings, spec["tileLayer"])
                gated_names.append(f"{spec['tileLayer']} from zoom {spec['minZoom']}")
            delivered += n
        elif spec["kind"] not in ("geojson", "cluster"):
            continue  # a heat map of features counted in their own layer
        elif "data" in spec:
            embedded += len(spec["data"]["features"])
        elif spec.get("url"):  # fetched by the page after load or when switched on (the service circles)
            fetched += len(httpx.get(base + spec["url"], cookies=cookies, timeout=60).json()["features"])
    how = (f"{embedded} embedded + {fetched} fetched + {delivered} in the {n_tiles} vector tiles of the first view"
           + (f" + {gated} rows of {', '.join(gated_names)} (not drawn at the first view)" if gated_names else ""))
    return {"total": embedded + fetched + delivered + gated, "embedded": embedded, "fetched": fetched,
            "tiles": delivered, "n_tiles": n_tiles, "gated": gated, "how": how}


def main(argv: list[str] | None = None) -> int:
    """CLI entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small city (60 grids), ~15 s")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--dask", help="unused (pages are not a bulk job)")
    ap.add_argument("--fresh", action="store_true", help="regenerate the data even if the database is there")
    args = ap.parse_args(argv)
    result = run(args.quick, args.fresh)
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    return 0 if all(row["agrees"] for row in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
