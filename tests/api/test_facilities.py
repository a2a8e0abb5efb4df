"""Facility endpoints on a database of their own: public GeoJSON by type/bbox, types, planner-only imports."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers.osm_import import load_osm
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declared_bearer

WUDAOKOU = "osm/beijing_wudaokou_2017.osm.pbf"
# a window on the Tsinghua campus west of Wudaokou
BBOX = "116.315,39.995,116.335,40.010"


@pytest.fixture(scope="module")
def app(module_db, module_sessionmaker, repo_data):
    load_osm(module_sessionmaker, repo_data / WUDAOKOU, name="wudaokou")
    settings = Settings(api=ApiSettings(environment="test", secret_key=TEST_SECRET), db=module_db)
    with accounts_in(module_sessionmaker), TestClient(create_app(settings)) as c:
        yield c, settings


def _headers(settings, *roles):
    return declared_bearer(None, roles, "")


def test_types_in_chinese_and_english(app):
    c, _ = app
    r = c.get("/api/v1/facilities/types")
    assert r.status_code == 200
    types = {t["code"]: t for t in r.json()["types"]}
    assert len(types) == 24
    assert types["elderly_home"]["name_zh"] == "互助老人幸福院" and types["elderly_home"]["group_zh"] == "七个一"
    assert types["school"]["name_en"] == "school" and types["school"]["count"] == 8
    assert types["police_room"]["group"] == "function_room"


def test_public_geojson_filtered_by_type(app):
    c, _ = app
    r = c.get("/api/v1/facilities", params={"type": "school,supermarket", "limit": 100})
    assert r.status_code == 200
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["numberMatched"] == 14  # 8 schools + 6 supermarkets
    kinds = {f["properties"]["type_code"] for f in fc["features"]}
    assert kinds == {"school", "supermarket"}
    school = next(f for f in fc["features"] if f["properties"]["type_code"] == "school")
    assert school["geometry"]["type"] == "Point"
    assert school["properties"]["type_zh"] == "中小学"
    assert school["properties"]["attribution"] == "© OpenStreetMap contributors"
    assert school["properties"]["osm_id"].split("/")[0] in ("node", "way", "relation")


def test_bbox_and_paging(app):
    c, _ = app
    everything = c.get("/api/v1/facilities", params={"limit": 1000}).json()
    inside = c.get("/api/v1/facilities", params={"bbox": BBOX, "limit": 1000}).json()
    x0, y0, x1, y1 = (float(v) for v in BBOX.split(","))
    expected = [f["id"] for f in everything["features"]
                if x0 <= f["geometry"]["coordinates"][0] <= x1 and y0 <= f["geometry"]["coordinates"][1] <= y1]
    assert 0 < len(expected) < everything["numberMatched"] == 183
    assert [f["id"] for f in inside["features"]] == expected
    page = c.get("/api/v1/facilities", params={"limit": 10, "offset": 10}).json()
    assert [f["id"] for f in page["features"]] == [f["id"] for f in everything["features"][10:20]]


def test_unknown_type_lists_valid_codes(app):
    c, _ = app
    r = c.get("/api/v1/facilities", params={"type": "school,hospitalx"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_input" and "hospitalx" in err["message"]
    assert "open_toilet" in err["detail"]["valid_types"]


def test_import_requires_planner_or_admin(app):
    c, settings = app
    files = {"file": ("a.csv", b"lon,lat,name,type\n116.32,40.0,x,park\n", "text/csv")}
    assert c.post("/api/v1/facilities/import", files=files).status_code == 401
    r = c.post("/api/v1/facilities/import", files=files, headers=_headers(settings, "dispatcher"))
    assert r.status_code == 403


def test_import_csv_and_geojson(app):
    c, settings = app
    csv_body = "lon,lat,name,type,address\n116.3300,40.0020,五道口社区警务室,police_room,成府路\n" \
               "116.3310,40.0030,五道口公厕,对外开放厕所,\n"
    r = c.post("/api/v1/facilities/import", files={"file": ("rooms.csv", csv_body.encode(), "text/csv")},
               headers=_headers(settings, "planner"))
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 2 and r.json()["by_type"] == {"open_toilet": 1, "police_room": 1}
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [116.3320, 40.0040]},
         "properties": {"name": "幸福院", "type": "elderly_home"}}]}
    r = c.post("/api/v1/facilities/import", params={"crs": "gcj02"},
               files={"file": ("home.geojson", json.dumps(fc).encode(), "application/geo+json")},
               headers=_headers(settings, "admin"))
    assert r.status_code == 201 and r.json()["source"] == "import:home.geojson"
    mine = c.get("/api/v1/facilities", params={"source": "import:rooms.csv"}).json()
    assert sorted(f["properties"]["name"] for f in mine["features"]) == ["五道口公厕", "五道口社区警务室"]
    stored = c.get("/api/v1/facilities", params={"type": "elderly_home"}).json()["features"]
    assert len(stored) == 1
    lon, lat = stored[0]["geometry"]["coordinates"]
    # converted from GCJ-02: the stored WGS84 point lies a few hundred metres south-west of the input
    assert 116.325 < lon < 116.3320 and 40.0025 < lat < 40.0040


def test_bad_import_stores_nothing_and_lists_every_row(app):
    c, settings = app
    before = c.get("/api/v1/facilities", params={"limit": 1}).json()["numberMatched"]
    body = ("lon,lat,name,type\n116.33,40.0,好的,park\n40.0,116.33,反了,park\n116.33,40.0,未知,mall\n"
            "abc,40.0,坏数,park\n").encode()
    r = c.post("/api/v1/facilities/import", files={"file": ("bad.csv", body, "text/csv")},
               headers=_headers(settings, "planner"))
    assert r.status_code == 422
    err = r.json()["error"]
    assert [(p["row"], p["field"]) for p in err["detail"]["problems"]] == [(3, "lon/lat"), (4, "type"), (5, "lon/lat")]
    assert "school" in err["detail"]["valid_types"]
    after = c.get("/api/v1/facilities", params={"limit": 1}).json()["numberMatched"]
    assert after == before


def test_unknown_format_is_refused(app):
    c, settings = app
    r = c.post("/api/v1/facilities/import", files={"file": ("x.kml", b"<kml/>", "application/xml")},
               headers=_headers(settings, "planner"))
    assert r.status_code == 422 and "geojson" in r.json()["error"]["message"]
