"""Map pages and vector tiles over a synthetic city in the module's own database (real PostGIS)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings, Settings
from scripts.bench.map_city import make_city
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declared_bearer

SECRET = TEST_SECRET
REPORTER, PHONE = "王秘密", "13812345678"


@pytest.fixture(scope="module")
def city(module_db, module_sessionmaker):
    made = make_city(module_sessionmaker, grids=40, buildings_per_grid=16, incidents=1500)
    with module_sessionmaker() as s:  # one incident with a reporter: must never show on a map
        s.execute(text(
            "INSERT INTO incidents (category, state, level, geom, original_lon, original_lat, original_crs, "
            "grid_code, reporter_name, reporter_phone, source, assignment, due_at) SELECT '环境卫生', 'handling', "
            "'grid', ST_PointOnSurface(geom), 0, 0, 'wgs84', code, :n, :p, 'synthetic', '{}', now() - interval '1 day' "
            "FROM grids ORDER BY code LIMIT 1"), {"n": REPORTER, "p": PHONE})
        s.commit()
    return made


@pytest.fixture(scope="module")
def mclient(module_db, module_sessionmaker, city, monkeypatch_module):
    monkeypatch_module.setenv("GRIDMAP_MAP_BASEMAP", "none")
    settings = Settings(api=ApiSettings(environment="test", secret_key=SECRET), db=module_db)
    with accounts_in(module_sessionmaker), TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _auth(roles=("dispatcher",), scope=""):
    return declared_bearer(None, roles, scope)


def _layers(html: str) -> dict[str, dict]:
    out = {}
    for m in re.finditer(r"gridmap\.layer\((\{.*?\})\);\n", html):
        spec = json.loads(m.group(1))
        out[spec["name"]] = spec
    return out


def test_public_map_has_layers_and_no_personal_data(mclient, city):
    r = mclient.get("/maps/public")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    layers = _layers(r.text)
    grids = next(v for k, v in layers.items() if k.startswith("网格"))
    assert len(grids["data"]["features"]) == city.grids
    fac = sum(len(v["data"]["features"]) for v in layers.values() if v.get("style") == "facility")
    assert fac == city.facilities
    assert any("分钟圈" in k for k in layers)
    code = grids["data"]["features"][0]["properties"]["code"]
    assert grids["boards"] == {} and grids["boardsUrl"] == "/maps/public/boards/{code}.json"
    board = mclient.get(f"/maps/public/boards/{code}.json")
    assert board.status_code == 200
    roles = board.json()["roles"]
    assert [row[0] for row in roles][:2] == ["网格长", "网格员"]
    assert all(p.split("　")[1].startswith("0935-") for p in roles[0][1])  # published phone, never the private one
    assert "13900000000" not in board.text
    assert mclient.get("/maps/public/boards/620302999999999.json").status_code == 404
    for secret in (REPORTER, PHONE, "13900000000", "reporter"):
        assert secret not in r.text
    assert "事件" not in "".join(layers)  # no incident layer on the public map
    assert not re.findall(r"https?://", r.text)  # basemap none: nothing leaves the server


def test_grid_map_colours_by_households_and_lists_problems(mclient, city):
    r = mclient.get("/maps/grids")
    assert r.status_code == 200
    layers = _layers(r.text)
    grids = next(v for k, v in layers.items() if k.startswith("网格"))
    hh = [f["properties"]["households"] for f in grids["data"]["features"]]
    assert len(hh) == city.grids and all(160 <= h <= 320 for h in hh)  # 16 buildings × 10–20 households
    assert "少于300户" in r.text
    probs = next(v for k, v in layers.items() if k.startswith("校验问题"))
    if "url" in probs:  # not validated yet: the page fetches the problems after it shows
        fc = mclient.get(probs["url"]).json()
        again = _layers(mclient.get("/maps/grids").text)  # now cached: embedded
        embedded = next(v for k, v in again.items() if k.startswith("校验问题"))
        assert len(embedded["data"]["features"]) == len(fc["features"])
    else:
        fc = probs["data"]
    assert fc["type"] == "FeatureCollection" and fc["features"]
    from gis.plan_validation import ProblemKind

    assert {f["properties"]["kind"] for f in fc["features"]} <= set(ProblemKind.values())
    assert all(f["properties"]["kind_zh"] and f["geometry"] for f in fc["features"])
    b = next(v for k, v in layers.items() if k.startswith("楼栋"))
    assert b["kind"] == "geojson" and len(b["data"]["features"]) == city.buildings


def test_grid_map_shows_the_roster_audit(mclient, city):
    layers = _layers(mclient.get("/maps/grids").text)
    gaps = next(v for k, v in layers.items() if k.startswith("人员空缺"))
    # a view on the grid layer (geometry sent once): the page draws its features with vacancies > 0
    assert gaps["from"].startswith("网格 grids") and gaps["where"] == "vacancies" and "data" not in gaps
    gaps = {"data": {"features": [f for f in layers[gaps["from"]]["data"]["features"]
                                  if f["properties"]["vacancies"] > 0]}}
    audit = mclient.get("/api/v1/roster/audit", headers=_auth()).json()["vacancies"]
    assert audit, "the synthetic city staffs only the board roles: the audit must find vacancies"
    by_grid: dict[str, int] = {}
    for v in audit:
        by_grid[v["grid_code"]] = by_grid.get(v["grid_code"], 0) + 1
    shown = {f["properties"]["code"]: f["properties"] for f in gaps["data"]["features"]}
    assert {c: p["vacancies"] for c, p in shown.items()} == by_grid
    code, audit_roles = next((c, {v["role_zh"] for v in audit if v["grid_code"] == c and v["kind"] == "role"})
                             for c in by_grid)
    assert set(filter(None, shown[code]["vacant_roles"].split("、"))) == audit_roles
    heads = {v["building_id"] for v in audit if v["kind"] in ("building", "stairwell")}
    marked = next((v for k, v in layers.items() if k.startswith("缺楼栋长")), {"data": {"features": []}})
    assert {f["properties"]["id"] for f in marked["data"]["features"]} == heads
    text_ = json.dumps(gaps, ensure_ascii=False)
    assert "13900000000" not in text_ and "phone" not in text_  # roles and counts only, never people


def test_roster_tiles_agree_with_the_audit(mclient, city, module_sessionmaker):
    from layers.map_data import ROSTER_BUILDINGS_SQL

    audit = mclient.get("/api/v1/roster/audit", headers=_auth()).json()["vacancies"]
    heads = {v["building_id"] for v in audit if v["kind"] in ("building", "stairwell")}
    msession = module_sessionmaker()
    rows = msession.execute(text(ROSTER_BUILDINGS_SQL.format(where="true")), {"day": dt.date.today()}).all()
    assert heads and {r.id for r in rows} == heads
    no_head = {v["building_id"] for v in audit if v["kind"] == "building"}
    assert {r.id for r in rows if r.no_building_head} == no_head
    per = {}
    for v in audit:
        if v["kind"] == "stairwell":
            per[v["building_id"]] = per.get(v["building_id"], 0) + 1
    assert {r.id: r.stairwells_without_head for r in rows if r.stairwells_without_head} == per
    # the tile of one such building carries it (from z14; none below)
    import math

    lon, lat = msession.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM buildings "
                                     "WHERE id = :i) q"), {"i": min(heads)}).one()
    n = 2**16
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    r = mclient.get(f"/tiles/roster/16/{x}/{y}.mvt")
    assert r.status_code == 200 and b"roster" in r.content and b"no_building_head" in r.content
    assert mclient.get(f"/tiles/roster/13/{x >> 3}/{y >> 3}.mvt").content == b""
    msession.close()


def test_incident_map_is_staff_only_and_private(mclient, city):
    assert mclient.get("/maps/incidents").status_code == 401
    assert mclient.get("/maps/incidents", headers=_auth(roles=("party_member",))).status_code == 403
    r = mclient.get("/maps/incidents", headers=_auth())
    assert r.status_code == 200
    layers = _layers(r.text)
    cluster = next(v for v in layers.values() if v["kind"] == "cluster")
    assert len(cluster["data"]["features"]) == city.incidents + 1
    assert any(v["kind"] == "heat" for v in layers.values())
    overdue = next(v for k, v in layers.items() if k.startswith("超期"))
    assert len(overdue["data"]["features"]) >= 1
    assert REPORTER not in r.text and PHONE not in r.text
    # cookie works as well as the header (for the page's own tile requests)
    mclient.cookies.set("gridmap_token", _auth()["Authorization"][7:])
    try:
        assert mclient.get("/maps/incidents").status_code == 200
    finally:
        mclient.cookies.clear()


def test_session_cookie_and_signin_redirect(mclient):
    assert mclient.post("/maps/session").status_code == 401
    assert mclient.post("/maps/session", headers=_auth(roles=("party_member",))).status_code == 403
    r = mclient.post("/maps/session", headers=_auth())
    assert r.status_code == 204
    cookie = r.headers["set-cookie"]
    assert "gridmap_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    mclient.cookies.clear()
    r = mclient.get("/maps/incidents", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/maps/signin?next=/maps/incidents")
    page = mclient.get("/maps/signin", params={"next": "//evil.example/x"})
    assert '"/maps/incidents"' in page.text and "evil" not in page.text


def test_incident_filters_and_scope(mclient, city):
    with_filter = mclient.get("/maps/incidents", params={"category": "环境卫生", "since": "2026-11-01"},
                              headers=_auth())
    feats = next(v for v in _layers(with_filter.text).values() if v["kind"] == "cluster")["data"]["features"]
    assert feats and all(f["properties"]["category"] == "环境卫生" for f in feats)
    assert all(f["properties"]["created"] >= "2026-11-01" for f in feats)
    first = feats[0]["properties"]["grid_code"]
    scoped = mclient.get("/maps/incidents", headers=_auth(scope=first))
    feats = next(v for v in _layers(scoped.text).values() if v["kind"] == "cluster")["data"]["features"]
    assert feats and {f["properties"]["grid_code"] for f in feats} == {first}
    assert mclient.get("/maps/incidents", headers=_auth(scope=None)).status_code == 403  # an account with no area


def test_coverage_map_uncovered_and_sites(mclient):
    r = mclient.get("/maps/coverage", params={"type": "bus_stop", "sites": 3})
    assert r.status_code == 200
    layers = _layers(r.text)
    unc = next(v for k, v in layers.items() if k.startswith("未覆盖"))
    sites = next(v for k, v in layers.items() if k.startswith("建议选址"))
    assert 1 <= len(sites["data"]["features"]) <= 3
    ranked = [f["properties"]["households"] for f in sites["data"]["features"]]
    assert ranked == sorted(ranked, reverse=True) and ranked[0] > 0
    assert len(unc["data"]["features"]) > 0
    assert mclient.get("/maps/coverage", params={"type": "nope"}).status_code == 422


def test_vector_tiles(mclient, city):
    import math

    lon, lat = city.bounds[0] + 0.001, city.bounds[1] + 0.001
    z = 16
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    r = mclient.get(f"/tiles/buildings/{z}/{x}/{y}.mvt")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert len(r.content) > 100 and b"households" in r.content and b"buildings" in r.content
    assert mclient.get(f"/tiles/buildings/12/{x >> 4}/{y >> 4}.mvt").content == b""  # not below z14
    assert mclient.get(f"/tiles/incidents/{z}/{x}/{y}.mvt").status_code == 401
    inc = mclient.get(f"/tiles/incidents/13/{x >> 3}/{y >> 3}.mvt", headers=_auth())
    assert inc.status_code == 200 and b"count" in inc.content and b"overdue" in inc.content
    assert REPORTER.encode() not in inc.content and PHONE.encode() not in inc.content
    assert mclient.get("/tiles/people/1/0/0.mvt").status_code == 422
    assert mclient.get("/tiles/buildings/3/9/0.mvt").status_code == 422


def test_vendor_assets_served_and_confined(mclient):
    r = mclient.get("/static/vendor/node_modules/leaflet/dist/leaflet.js")
    assert r.status_code == 200 and b"Leaflet" in r.content[:2000]
    own = mclient.get("/static/maps/js/map/main.js")
    assert own.status_code == 200 and own.headers["content-type"].startswith("text/javascript")
    assert mclient.get("/static/maps/css/gridmap.css").headers["content-type"].startswith("text/css")
    for outside in ("/static/maps/../signin.py", "/static/maps/js/../../plan_editor.py", "/static/maps/js",
                    "/static/maps/%2e%2e/assets.py"):
        assert mclient.get(outside).status_code == 404, outside
    assert mclient.get("/static/vendor/package.json").status_code == 404
    assert mclient.get("/static/vendor/node_modules/../../../.env").status_code == 404


def test_gcj02_tiles_line_up_with_amap(mclient, city):
    import math

    from gis.coords import wgs84_to_gcj02

    lon, lat = city.bounds[0] + 0.004, city.bounds[1] + 0.004
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    z = 17

    def tile_of(x, y):
        n = 2**z
        return int((x + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(y))) / math.pi) / 2 * n)

    shifted = tile_of(glon, glat)
    assert shifted != tile_of(lon, lat)  # the offset (~500 m) moves the buildings to another z17 tile
    plain = mclient.get(f"/tiles/buildings/{z}/{shifted[0]}/{shifted[1]}.mvt").content
    gcj = mclient.get(f"/tiles/buildings/{z}/{shifted[0]}/{shifted[1]}.mvt", params={"crs": "gcj02"}).content
    assert b"households" in gcj and gcj != plain


def test_map_export_writes_a_standalone_page(module_db, city, tmp_path, monkeypatch):
    from scripts.cli import main

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", module_db.url)
    out = tmp_path / "public.html"
    assert main(["map", "export", "public", "--out", str(out), "--basemap", "none"]) == 0
    html = out.read_text()
    assert not re.findall(r"https?://", html)
    srcs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    for src in srcs:
        if src != "data:,":
            assert (tmp_path / src).is_file(), src  # every asset beside the page
    grids = next(v for k, v in _layers(html).items() if k.startswith("网格"))
    assert len(grids["boards"]) == city.grids  # no server behind an exported page: boards embedded


def test_reach_and_circle_endpoints(mclient, city, module_sessionmaker):
    lon, lat = city.bounds[0] + 0.005, city.bounds[1] + 0.004
    r = mclient.get("/maps/public/reach", params={"lon": lon, "lat": lat})
    assert r.status_code == 200
    popup = r.json()
    for answer in popup["answers"]:  # each band is exactly the API's answer (tests/api/test_one_truth.py: 200 points)
        api = mclient.get("/api/v1/circles/reachable", params={"lon": lon, "lat": lat, "minutes": answer["minutes"]})
        assert api.json() == answer
    assert popup["answers"][-1]["count"] > 0
    nearest = {}
    for f in popup["answers"][-1]["facilities"]:
        nearest.setdefault(f["type_code"], f)
    assert {t["type_code"]: t["facility_id"] for t in popup["types"]} == \
        {k: f["facility_id"] for k, f in nearest.items()}
    from gis.coords import wgs84_to_gcj02

    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    shifted = mclient.get("/maps/public/reach", params={"lon": glon, "lat": glat, "crs": "gcj02"}).json()
    assert shifted["lon"] == pytest.approx(lon, abs=1e-7) and shifted["lat"] == pytest.approx(lat, abs=1e-7)
    assert shifted["types"] == popup["types"]  # an Amap page's click means the same place
    with module_sessionmaker() as s:
        some = s.scalar(text("SELECT min(type_code) FROM service_circles"))
    c = mclient.get(f"/maps/public/circles/{some}.json").json()
    assert c["type"] == "FeatureCollection" and len(c["features"]) == 1
    assert c["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert mclient.get("/maps/public/circles/nope.json").status_code == 422


def _tiles_over(bounds, z: int) -> list[tuple[int, int]]:
    import math

    n = 2**z

    def tx(lon):
        return int((lon + 180) / 360 * n)

    def ty(lat):
        return int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)

    return [(x, y) for x in range(tx(bounds[0]), tx(bounds[2]) + 1) for y in range(ty(bounds[3]), ty(bounds[1]) + 1)]


@pytest.mark.parametrize(("layer", "z"), [("incidents", 13), ("incidents", 14), ("uncovered", 13)])
def test_clustered_tiles_count_every_feature_once(mclient, city, module_sessionmaker, layer, z):
    """Over every tile of one zoom, the clusters' counts add up to the rows behind the layer, each cluster lies
    inside its own tile and has its own id: a point near a tile edge is in one cluster of one tile (clusters on
    cells straddling the edges counted it in both tiles' clusters, or in neither)."""
    from tests import mvt

    params = {"type": "bus_stop"} if layer == "uncovered" else None
    if layer == "incidents":
        with module_sessionmaker() as s:
            expected = s.scalar(text("SELECT count(*) FROM incidents"))
        assert expected == city.incidents + 1
    else:
        expected = mclient.get("/api/v1/coverage/uncovered", params=params).json()["total_buildings"]
        assert expected > 20
    counts, ids = 0, []
    for x, y in _tiles_over(city.bounds, z):
        answer = mclient.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", params=params, headers=_auth())
        assert answer.status_code == 200
        decoded = mvt.decode(answer.content)
        if not decoded:
            continue
        extent = decoded[layer]["extent"]
        for f in decoded[layer]["features"]:
            [(px, py)] = f["points"]
            assert 0 <= px < extent and 0 <= py < extent, (x, y, px, py)
            counts += int(f["properties"]["count"])
            ids.append(f["properties"]["id"])
    assert len(ids) > 4 and len(set(ids)) == len(ids)
    assert counts == expected, (counts, expected, len(ids), len(_tiles_over(city.bounds, z)))
