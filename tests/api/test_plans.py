"""Planning endpoints on their own throwaway PostGIS database (publishing there cannot disturb the demo)."""

from __future__ import annotations

import io
import json
import zipfile

import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings, Settings
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declared_bearer
from tests.gis.plan_fixtures import COMMUNITY, DEFECTS, code
from tests.layers.plan_db_fixtures import as_collection, plan_database


@pytest.fixture(scope="module")
def plan_app():
    with plan_database() as (db, world):
        settings = Settings(api=ApiSettings(environment="test", secret_key=TEST_SECRET), db=db)
        with TestClient(create_app(settings)) as c, accounts_in(c.app.state.sessionmaker):
            yield c, settings, world


def _headers(settings, roles=("planner",), scope=""):
    return declared_bearer(None, roles, scope)


def test_planner_role_is_required(plan_app):
    c, settings, world = plan_app
    assert c.get("/api/v1/plans").status_code == 401
    assert c.get("/api/v1/plans", headers=_headers(settings, roles=("dispatcher",))).status_code == 403
    fc = as_collection(world["plan"])
    r = c.post("/api/v1/plans", json=fc, headers=_headers(settings, scope="620321"))
    assert r.status_code == 403  # a planner of 永昌县 may not draw grids in 金川区


def test_unknown_plan_is_404_with_its_id(plan_app):
    c, settings, _ = plan_app
    r = c.get("/api/v1/plans/987654321", headers=_headers(settings))
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] == "not_found" and "987654321" in error["message"]
    assert error["detail"] == {"plan_id": 987654321}


def test_workflow_create_edit_validate_impact_publish(plan_app):
    c, settings, world = plan_app
    h = _headers(settings)
    r = c.post("/api/v1/plans", params={"name": "第一代"}, json=as_collection(world["plan"]), headers=h)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["status"] == "draft" and first["grid_count"] == 12
    r = c.post(f"/api/v1/plans/{first['id']}/publish", json={"effective_from": "2025-01-01"}, headers=h)
    assert r.status_code == 200 and r.json()["generation"] == 1, r.text + str(c.get(f"/api/v1/plans/{first['id']}/validation", headers=h).json()["problems"])

    r = c.post("/api/v1/plans/drafts", json={"name": "第二代"}, headers=h)
    draft = r.json()
    r = c.get(f"/api/v1/plans/{draft['id']}/grids/{code(1)}", headers=h)
    etag, feature = r.headers["ETag"], r.json()
    g = shapely.geometry.shape(feature["geometry"])
    x0, y0, x1, y1 = g.bounds
    shrunk = shapely.MultiPolygon([g.intersection(shapely.box(x0, y0, (x0 + x1) / 2, y1))])
    edit = {"type": "Feature", "geometry": shapely.geometry.mapping(shrunk), "properties": {"name": "缩小"}}
    r = c.put(f"/api/v1/plans/{draft['id']}/grids/{code(1)}", json=edit, headers=h | {"If-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"', r.text
    # the same stale edit again: 409, nothing changed
    r2 = c.put(f"/api/v1/plans/{draft['id']}/grids/{code(1)}", json={**edit, "geometry": feature["geometry"]},
               headers=h | {"If-Match": etag})
    assert r2.status_code == 409 and r2.json()["error"]["detail"]["current_version"] == 2
    now = c.get(f"/api/v1/plans/{draft['id']}/grids/{code(1)}", headers=h).json()
    assert shapely.geometry.shape(now["geometry"]).equals_exact(shrunk, 1e-7)
    assert c.put(f"/api/v1/plans/{draft['id']}/grids/{code(1)}", json=edit, headers=h).status_code == 422

    v = c.get(f"/api/v1/plans/{draft['id']}/validation", headers=h).json()
    assert v["counts"]["gap"] == 1 and v["geojson"]["features"]
    imp = c.get(f"/api/v1/plans/{draft['id']}/impact", headers=h).json()
    assert [x["code"] for x in imp["grids"]["changed"]] == [code(1)]
    assert imp["grids"]["changed"][0]["area_lost_m2"] == pytest.approx(45000, rel=0.01)
    # fix the gap on the map: add a grid where the shrunk part was
    rest = shapely.difference(g, shrunk)
    r = c.post(f"/api/v1/plans/{draft['id']}/grids", headers=h, json={
        "type": "Feature", "geometry": shapely.geometry.mapping(rest),
        "properties": {"community_code": COMMUNITY, "name": "新网格"}})
    assert r.status_code == 201 and r.json()["id"] == code(23), r.json()  # after the highest code used (022)
    v = c.get(f"/api/v1/plans/{draft['id']}/validation", headers=h).json()
    assert v["counts"]["gap"] == 0

    r = c.post(f"/api/v1/plans/{draft['id']}/publish", json={"effective_from": "2026-01-01"}, headers=h)
    assert r.status_code == 200 and r.json()["generation"] == 2, r.json()
    listed = {p["id"]: p for p in c.get("/api/v1/plans", headers=h).json()["plans"]}
    assert listed[first["id"]]["status"] == "retired" and listed[first["id"]]["effective_to"] == "2026-01-01"
    assert c.post(f"/api/v1/plans/{draft['id']}/publish", headers=h).status_code == 409
    # the public grids layer now serves generation 2
    layer = c.get("/api/v1/layers/grids").json()
    assert {f["properties"]["plan_id"] for f in layer["features"]} == {draft["id"]}


def test_validate_unsaved_collection_reports_every_defect(plan_app):
    c, settings, world = plan_app
    from tests.gis.plan_fixtures import make_plan
    fc = as_collection(make_plan(DEFECTS))
    r = c.post("/api/v1/plans/validate", json=fc, headers=_headers(settings))
    assert r.status_code == 200
    kinds = sorted(p["kind"] for p in r.json()["problems"])
    # the buildings and staff here are the clean world's; the plan's own geometric defects are all found
    assert set(kinds) >= {"invalid_geometry", "outside_community", "overlap", "gap", "sliver", "exclusive_outside",
                          "duplicate_code"}
    assert r.json()["publishable"] is False


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "csv"])
def test_export_import_round_trip(plan_app, fmt):
    c, settings, world = plan_app
    h = _headers(settings)
    r = c.post("/api/v1/plans", params={"name": "往返"}, json=as_collection(world["plan"]), headers=h)
    pid = r.json()["id"]
    r = c.get(f"/api/v1/plans/{pid}/export", params={"format": fmt}, headers=h)
    assert r.status_code == 200, r.text
    if fmt == "csv":
        text = r.content.decode("utf-8-sig").splitlines()
        assert text[0].startswith("code,code_cjt349") and len(text) == 13
        assert text[1].split(",")[1] == "010100" + text[1].split(",")[0][:12] + text[1].split(",")[0][-2:]
        return
    name = {"geojson": "p.geojson", "gpkg": "p.gpkg", "shp": "p.zip"}[fmt]
    if fmt == "shp":
        assert any(n.endswith(".prj") for n in zipfile.ZipFile(io.BytesIO(r.content)).namelist())
    r2 = c.post("/api/v1/plans/import", files={"file": (name, r.content)}, data={"name": "导入"}, headers=h)
    assert r2.status_code == 201, r2.text
    a = c.get(f"/api/v1/plans/{pid}", headers=h).json()["grids"]["features"]
    b = c.get(f"/api/v1/plans/{r2.json()['id']}", headers=h).json()["grids"]["features"]
    assert [f["id"] for f in a] == [f["id"] for f in b]
    for fa, fb in zip(a, b):
        ga, gb = shapely.geometry.shape(fa["geometry"]), shapely.geometry.shape(fb["geometry"])
        assert shapely.hausdorff_distance(ga, gb) < 1e-6
        assert fa["properties"]["kind"] == fb["properties"]["kind"]


def test_import_projected_and_gcj02(plan_app, tmp_path):
    c, settings, world = plan_app
    h = _headers(settings)
    import geopandas as gpd
    fc = as_collection(world["plan"])
    gdf = gpd.GeoDataFrame.from_features(fc["features"], crs=4326).iloc[:3]
    path = tmp_path / "cgcs2000_gk.gpkg"
    pyogrio.write_dataframe(gdf.to_crs(4543), path, layer="grids")
    r = c.post("/api/v1/plans/import", files={"file": ("g.gpkg", path.read_bytes())}, headers=h)
    assert r.status_code == 201, r.text
    got = c.get(f"/api/v1/plans/{r.json()['id']}", headers=h).json()["grids"]["features"]
    assert shapely.hausdorff_distance(shapely.geometry.shape(got[0]["geometry"]), gdf.geometry.iloc[0]) < 1e-6
    import numpy as np

    from gis.coords import from_wgs84
    gcj = gdf.copy()
    gcj["geometry"] = shapely.transform(gdf.geometry.values,
                                        lambda xy: np.column_stack(from_wgs84(xy[:, 0], xy[:, 1], "gcj02")))
    body = json.loads(gcj.to_json()).copy()
    r = c.post("/api/v1/plans/import", files={"file": ("g.geojson", json.dumps(body).encode())},
               data={"crs": "gcj02"}, headers=h)
    got = c.get(f"/api/v1/plans/{r.json()['id']}", headers=h).json()["grids"]["features"]
    assert shapely.hausdorff_distance(shapely.geometry.shape(got[0]["geometry"]), gdf.geometry.iloc[0]) < 1e-7
    bad = c.post("/api/v1/plans/import", files={"file": ("g.txt", b"hello")}, headers=h)
    assert bad.status_code == 422
