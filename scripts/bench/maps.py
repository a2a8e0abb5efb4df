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
event) — plus two animation frames; a page not there 30 s after navigation started is reported as not
finished (the peer's coverage page, 15,699 markers, paints for minutes). Agreement: the same number of features behind each page (ours: embedded,
fetched, and what the vector tiles the page holds once settled deliver, decoded by :mod:`scripts.bench.mvt` and
counted by distinct feature id — a cluster counts its ``count`` — with every id one the layer should show; a
tile layer not drawn at the first view (from a closer zoom, or switched off) counts its rows; peer: every row
of its layers embedded, the uncovered buildings all of them, not the API's first 5,000); the command exits 1
when they differ.
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


def _peer_pages(db_settings, base: str) -> tuple[dict[str, tuple[str, int, str]], dict[str, set[int]]]:
    """Plain Folium pages of the same data: ``{page: (html, features, what they are)}``; and the ids each vector tile layer of
    our pages should show (``{tile layer: ids}``, from the same frames)."""
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
        buildings = map_data.buildings(s)
        incidents = map_data.incidents(s, flt, limit=10**7)
        # every uncovered building, as the page's tiles and legend have them (not the API's first 5,000)
        uncovered = map_uncovered(s, "clinic", walk=WalkSettings(), limit=10**7)[0]
        datasets = {
            "public": {"facilities": map_data.facilities(s), "grids": grids,
                       "communities": map_data.communities(s, tolerance_deg=0),
                       "circles": map_data.circles_by_type(s, tolerance_deg=0)},
            "grids": {"grids": grids, "buildings": buildings},
            "incidents": {"grids": grids, "incidents": incidents},
            "coverage": {"clinics": map_data.facilities(s, type_code="clinic"),
                         "circles": map_data.circles_by_type(s, type_code="clinic", tolerance_deg=0),
                         "uncovered": uncovered, "grids": grids},
        }
    eng.dispose()
    ids = {"grids": set(grids["id"]), "buildings": set(buildings["id"]), "incidents": set(incidents["id"]),
           "uncovered": set(uncovered["id"])}
    for page, frames in datasets.items():
        m = folium.Map(tiles=None, control_scale=True)
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
        n = 0
        for i, gdf in enumerate(frames.values()):
            gdf = gdf.copy()
            for c in gdf.columns:
                if c != "geometry" and gdf[c].dtype == object:
                    gdf[c] = gdf[c].astype(str)
            folium.GeoJson(gdf, name=f"layer{i}").add_to(m)
            n += len(gdf)
        folium.LayerControl().add_to(m)
        assets.localize(m, base + "/static/vendor/node_modules", base + "/static/maps")
        out[page] = (m.get_root().render(), n, " + ".join(f"{len(v)} {k}" for k, v in frames.items()))
    return out, {layer: {int(i) for i in v} for layer, v in ids.items()}


# two animation frames after now: the predicate runs at once and then on every frame (polling "raf"); its
# value on the third run is the time
FRAMES = """(key) => { const seen = (window.gmBenchFrames ||= {}); seen[key] = (seen[key] || 0) + 1;
  return seen[key] >= 3 && performance.now(); }"""


def _frames(page, key: str, started: float) -> float:
    """:data:`FRAMES` within what is left of the :data:`TTI_TIMEOUT_MS` since navigation started (a page whose
    first frames take longer — the peer's 15,699 embedded markers paint for minutes — is reported as not
    finished, as one whose load event is late)."""
    left = TTI_TIMEOUT_MS - (time.perf_counter() - started) * 1000
    return float(page.wait_for_function(FRAMES, arg=key, polling="raf", timeout=max(left, 1)).json_value())
# the tiles each vector tile layer on the map holds for its current zoom (what the view draws; tiles of a zoom
# passed through on the way — the page opens at zoom 12 before fitting the city — are pruned by then); the
# URL asks for zoom z-1 (512-pixel tiles, maps/static/js/map/layers.js)
HELD_TILES = """() => gridmap.tileLayers.filter((l) => l._map).map((l) => ({
  layer: Object.keys(l.options.vectorTileLayerStyles)[0], url: l._url,
  tiles: Object.values(l._tiles).filter((t) => t.current).map((t) => [t.coords.z - 1, t.coords.x, t.coords.y])}))"""


def _tile_url(base: str, template: str, z: int, x: int, y: int) -> str:
    url = template.replace("{zz}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
    return base + url if url.startswith("/") else url


def _measure(browser, base: str, url: str | None, html: str | None, cookie: str | None) -> dict:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    external: list[str] = []
    errors: list[str] = []
    tiles: dict[str, list[str]] | None = None  # tile layer on the map → URLs of the tiles it holds once settled
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
            started = time.perf_counter()
            page.goto(base + url, timeout=TTI_TIMEOUT_MS)
            page.wait_for_function("() => window.gridmap && gridmap.isIdle()", timeout=TTI_TIMEOUT_MS)
        else:
            started = time.perf_counter()
            page.goto(base + "/peer", wait_until="load", timeout=TTI_TIMEOUT_MS)
        idle = _frames(page, "idle", started)
        ok = True
        tti = idle
        if html is None:  # interactive once every layer is drawn, those fetched after the page's script too
            page.wait_for_function("() => gridmap.isSettled()", timeout=TTI_TIMEOUT_MS)
            tti = _frames(page, "settled", started)
            tiles = {held["layer"]: sorted({_tile_url(base, held["url"], *t) for t in held["tiles"]})
                     for held in page.evaluate(HELD_TILES)}
        phases = page.evaluate("(() => { const n = performance.getEntriesByType('navigation')[0]; return "
                               "{response_end_ms: Math.round(n.responseEnd), dom_loaded_ms: "
                               "Math.round(n.domContentLoadedEventEnd), script_ready_ms: window.gridmap ? "
                               "Math.round(gridmap.readyAt) : null}; })()")
    except Exception as exc:  # noqa: BLE001 - a timeout is a result
        tti, ok, phases, idle = float(TTI_TIMEOUT_MS), False, {}, float(TTI_TIMEOUT_MS)
        errors.append(f"timeout: {type(exc).__name__}")
    ctx.close()
    return {"tti_ms": round(tti), "idle_ms": round(idle), "finished": ok, **phases, "external": len(external),
            "errors": errors[:3], "tile_urls": tiles}


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
        peers, expected_ids = _peer_pages(db_settings, base)
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
                peer_html, peer_n, peer_how = peers[name]
                peer = _measure(browser, base, None, peer_html, None)
                counted = _our_features(r.text, base, ours.pop("tile_urls"), {"gridmap_token": token} if cookie
                                        else None, expected_ids)
                ours_n = counted["total"]
                agree = ours_n == peer_n and counted["unexpected"] == 0
                details["pages"][name] = {"ours": {**ours, "bytes": ours_bytes, "server_s": round(server_s, 2),
                                                   "features": ours_n, "counted": counted},
                                          "peer": {**peer, "bytes": len(peer_html.encode()), "features": peer_n}}
                rows.append({"target": f"{name}: HTML size (< 2 MB)", "ours": round(ours_bytes / 1e6, 3),
                             "peer": round(len(peer_html.encode()) / 1e6, 3), "peer_name": PEER,
                             "ratio": round(len(peer_html.encode()) / ours_bytes, 1), "unit": "MB",
                             "agreement": (f"features {ours_n} = {peer_n}" if ours_n == peer_n else
                                           f"features {ours_n} ≠ {peer_n}") + (
                                 f"; {counted['unexpected']} tile ids the page should not show"
                                 if counted["unexpected"] else ""),
                             "agrees": agree, "notes": f"ours: {counted['how']}; peer: {peer_how}, every row embedded"})
                rows.append({"target": f"{name}: time to interactive (< 3 s)", "ours": ours["tti_ms"] / 1000,
                             "peer": peer["tti_ms"] / 1000 if peer["finished"] else None, "peer_name": PEER,
                             "ratio": round(peer["tti_ms"] / max(ours["tti_ms"], 1), 1), "unit": "s",
                             "agreement": f"features {ours_n} {'=' if agree else '≠'} {peer_n}; requests off the "
                                          f"machine {ours['external']}",
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


def _tile_features(urls: list[str], layer: str, cookies: dict | None, expected: set[int]) -> dict:
    """What the tiles ``urls`` of ``layer`` deliver, by feature id: a polygon or a single point once however many
    tiles carry it (a tile repeats what lies in its 64-unit buffer), a cluster (``count`` > 1; its id is its
    smallest member's) by its ``count`` each time it is delivered — a cluster is made of its own tile's points, so
    one delivered twice is counted twice and cannot pass. Ids the layer should not show (not in ``expected``)
    are counted apart."""
    import httpx

    from scripts.bench import mvt

    single: set[int] = set()
    clusters: list[tuple[int, int]] = []
    with httpx.Client(cookies=cookies, timeout=60) as client:
        for url in urls:
            answer = client.get(url)
            answer.raise_for_status()
            for name, (_extent, feats) in mvt.decode(answer.content).items():
                if name != layer:
                    raise AssertionError(f"tile {url} carries layer {name!r}")
                for f in feats:
                    fid = int(f.id if f.id is not None else f.properties["id"])
                    n = int(f.properties.get("count", 1))
                    if n > 1:
                        clusters.append((fid, n))
                    else:
                        single.add(fid)
    ids = single | {fid for fid, _ in clusters}
    unexpected = sorted(ids - expected)
    return {"features": len(single) + sum(n for _, n in clusters), "ids": len(ids), "clusters": len(clusters),
            "tiles": len(urls), "unexpected": len(unexpected), "unexpected_ids": unexpected[:10]}


def _our_features(html: str, base: str, tiles: dict[str, list[str]], cookies: dict | None,
                  expected: dict[str, set[int]]) -> dict:
    """Features behind our page: embedded ones, those fetched after load, those the vector tiles the page holds
    once settled deliver (:func:`_tile_features`), and the rows of tile layers not drawn at the first view
    (shown from a closer zoom, or switched off in the layer control). ``tiles`` is None when the page did not
    settle in time: its tile layers then count nothing (and the totals cannot agree)."""
    import re

    import httpx

    embedded = fetched = delivered = hidden = n_tiles = unexpected = 0
    hidden_names, per_layer = [], {}
    for m in re.finditer(r"gridmap\.layer\((\{.*?\})\);\n", html):
        spec = json.loads(m.group(1))
        if spec.get("from") or spec.get("style") in HIGHLIGHTS or spec["name"].startswith("超期"):
            continue  # a view on, or a highlight of, features counted in their own layer
        if spec["kind"] == "tiles":
            layer = spec["tileLayer"]
            if tiles is None:
                hidden_names.append(f"{layer} (not counted: the page did not settle)")
                continue
            if layer not in tiles:  # not on the map at the first view
                hidden += len(expected[layer])
                why = f"from zoom {spec['minZoom']}" if spec.get("minZoom") else "switched off"
                hidden_names.append(f"{layer} ({why})")
                continue
            got = _tile_features(tiles[layer], layer, cookies, expected[layer])
            per_layer[layer] = got
            delivered += got["features"]
            n_tiles += got["tiles"]
            unexpected += got["unexpected"]
        elif spec["kind"] not in ("geojson", "cluster"):
            continue  # a heat map of features counted in their own layer
        elif "data" in spec:
            embedded += len(spec["data"]["features"])
        elif spec.get("url"):  # fetched by the page after load or when switched on (the service circles)
            fetched += len(httpx.get(base + spec["url"], cookies=cookies, timeout=60).json()["features"])
    tiled = "; ".join(f"{k}: {v['ids']} distinct ids" + (f" ({v['clusters']} clusters, by count)" if v["clusters"]
                                                        else "") + f" in {v['tiles']} tiles of zoom {_zoom(tiles[k])}"
                      for k, v in per_layer.items())
    how = (f"{embedded} embedded + {fetched} fetched + {delivered} in the vector tiles the page holds at its first "
           f"view" + (f" ({tiled})" if tiled else "")
           + (f" + {hidden} rows of {', '.join(hidden_names)} (not drawn at the first view)" if hidden_names else ""))
    return {"total": embedded + fetched + delivered + hidden, "embedded": embedded, "fetched": fetched,
            "tiles": delivered, "n_tiles": n_tiles, "hidden": hidden, "unexpected": unexpected,
            "per_layer": per_layer, "how": how}


def _zoom(urls: list[str]) -> str:
    """The zoom(s) in tile URLs ``…/tiles/<layer>/<z>/<x>/<y>.mvt``."""
    return ",".join(sorted({u.split("/tiles/")[1].split("/")[1] for u in urls})) or "-"


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
