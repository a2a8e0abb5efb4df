"""Coverage, gaps, 七个一 audit and site suggestions on a hand-checked river town (real PostGIS)."""

from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers import models as m
from layers.coverage import (
    compute_access,
    coverage_report,
    seven_ones_audit,
    suggest_sites,
    uncovered_buildings,
)
from layers.coverage_models import BuildingAccess, SiteSuggestion
from layers.networks import import_line_file
from tests.accounts_fixtures import TEST_SECRET, token
from tests.layers.network_fixtures import RIVER_TOWN, pt, write_geojson

SOUTH, NORTH = "620302004002", "620302004003"
VILLAGE, BARE = "620302100203", "620302100204"


def _square(x, y, half=8):
    ring = [pt(x - half, y - half), pt(x + half, y - half), pt(x + half, y + half), pt(x - half, y + half)]
    return f"SRID=4326;{shapely.MultiPolygon([shapely.Polygon(ring)]).wkt}"


def _point(x, y):
    lon, lat = pt(x, y)
    return f"SRID=4326;POINT({lon} {lat})"


@pytest.fixture(scope="module")
def town(module_sessionmaker, tmp_path_factory):
    path = write_geojson(tmp_path_factory.mktemp("cov") / "town.geojson", RIVER_TOWN)
    ids = {}
    with module_sessionmaker() as s:
        import_line_file(s, path, "river-town")
        s.add(m.Facility(type_code="clinic", name="卫生服务站", geom=_point(0, 0), source="test"))
        for key, (x, y), hh, res, cc in [("b1", (100, 20), 10, 25, SOUTH), ("b2", (450, -30), 20, 50, SOUTH),
                                         ("b3", (800, 20), 30, 70, SOUTH), ("b4", (100, 180), 40, 90, NORTH),
                                         ("b5", (5000, 5000), 5, 9, NORTH)]:
            b = m.Building(name=key, community_code=cc, households=hh, residents=res, geom=_square(x, y),
                           source="test")
            s.add(b)
            s.flush()
            ids[key] = b.id
        # a village with an area around the south bank, and one without an area or facilities
        ring = [pt(-50, -100), pt(600, -100), pt(600, 100), pt(-50, 100)]
        s.add(m.AdminArea(code=VILLAGE, edition_year=2023, name="中牌村", level="village",
                          parent_code="620302100000", geom=f"SRID=4326;{shapely.MultiPolygon([shapely.Polygon(ring)]).wkt}",
                          source="test"))
        s.add(m.AdminArea(code=BARE, edition_year=2023, name="空村", level="village", parent_code="620302100000",
                          source="test"))
        for t, (x, y), cc in [("activity_venue", (3000, 3000), VILLAGE), ("fitness_square", (300, 50), None),
                              ("village_clinic", (900, 0), None), ("reading_room", (2600, 0), None)]:
            s.add(m.Facility(type_code=t, name=t, community_code=cc, geom=_point(x, y), source="test"))
        s.commit()
    return ids


def test_access_distances_are_network_distances(town, module_sessionmaker):
    with module_sessionmaker() as s:
        rep = compute_access(s, network="river-town", type_codes=["clinic"])
        s.commit()
        assert rep["recomputed"] == ["clinic"]
        d = dict(s.execute(select(BuildingAccess.building_id, BuildingAccess.distance_m)
                           .where(BuildingAccess.type_code == "clinic")).all())
        method = dict(s.execute(select(BuildingAccess.building_id, BuildingAccess.method)
                                .where(BuildingAccess.type_code == "clinic")).all())
        assert d[town["b1"]] == pytest.approx(100 + 20, abs=3)
        assert d[town["b2"]] == pytest.approx(450 + 30, abs=3)
        # 180 m from the clinic as the crow flies, but over the bridge: 1000 + 200 + 900 + 20
        assert d[town["b4"]] == pytest.approx(2120, abs=5)
        assert d[town["b5"]] is None and method[town["b5"]] == "euclidean"
        again = compute_access(s, network="river-town", type_codes=["clinic"])
        assert again["recomputed"] == []


def test_coverage_report_per_community(town, module_sessionmaker):
    with module_sessionmaker() as s:
        df = coverage_report(s, type_codes=["clinic"], budget_m=500, network="river-town")
    rows = {r.unit: r for r in df.itertuples()}
    assert rows[SOUTH].households == 60 and rows[SOUTH].households_covered == 30
    assert rows[SOUTH].households_share == pytest.approx(0.5)
    assert rows[SOUTH].residents_covered == 75
    assert rows[NORTH].households == 45 and rows[NORTH].households_covered == 0


def test_uncovered_buildings_geojson(town, module_sessionmaker):
    with module_sessionmaker() as s:
        fc = uncovered_buildings(s, "clinic", budget_m=500, network="river-town")
    assert [f["properties"]["name"] for f in fc["features"]] == ["b4", "b3", "b5"]
    assert fc["households"] == 75


def test_site_suggestions_greedy(town, module_sessionmaker):
    with module_sessionmaker() as s:
        res = suggest_sites(s, "clinic", k=3, budget_m=500, network="river-town")
        s.commit()
        stored = s.scalars(select(SiteSuggestion).order_by(SiteSuggestion.rank)).all()
    assert res["uncovered_households"] == 75
    # first the north bank (40 households), then the east end of the south bank (30); b5 is off the network
    assert [x["households_added"] for x in res["sites"]] == [40, 30]
    assert res["sites"][0]["building_ids"] == [town["b4"]]
    assert res["sites"][1]["cumulative_households"] == 70
    assert shapely.Point(res["sites"][0]["lon"], res["sites"][0]["lat"]).distance(
        shapely.Point(*pt(100, 180))) < 500 / 80_000
    assert [x.households_added for x in stored] == [40, 30]


def test_site_suggestions_among_given_points(town, module_sessionmaker):
    with module_sessionmaker() as s:  # at b3 (30 households uncovered) and at b4 (40): b4's first, no street node
        res = suggest_sites(s, "clinic", k=2, budget_m=500, network="river-town",
                            candidates=[pt(800, 20), pt(100, 180)])
        s.rollback()
    assert [(x["households_added"], x["building_ids"], x["node_id"]) for x in res["sites"]] == [
        (40, [town["b4"]], None), (30, [town["b3"]], None)]
    assert (res["sites"][0]["lon"], res["sites"][0]["lat"]) == pytest.approx(pt(100, 180), abs=1e-7)


def test_seven_ones_audit(town, module_sessionmaker):
    with module_sessionmaker() as s:
        df = seven_ones_audit(s, kind="village", distance_m=500)
    v = df.set_index("code").loc[VILLAGE]
    assert v.activity_venue is not None  # belongs to the village by code, though 3 km away
    assert v.fitness_square is not None and v.village_clinic is not None  # inside / 300 m outside the area
    assert v.reading_room is None  # 2 km away
    assert v.present == 3 and "图书室" in v.missing_zh
    bare = df.set_index("code").loc[BARE]
    assert bare.present == 0 and len(bare.missing) == 7


def test_coverage_api(town, module_db, module_sessionmaker):
    settings = Settings(api=ApiSettings(environment="test", secret_key=TEST_SECRET), db=module_db)
    with TestClient(create_app(settings)) as c:
        r = c.get("/api/v1/coverage/report", params={"type": "clinic", "meters": 500, "network": "river-town"})
        assert r.status_code == 200
        rows = {x["unit"]: x for x in r.json()["rows"]}
        assert rows[SOUTH]["households_covered"] == 30
        r = c.get("/api/v1/coverage/seven-ones", params={"kind": "village", "distance_m": 500})
        assert r.status_code == 200 and {u["code"]: u["present"] for u in r.json()["units"]}[VILLAGE] == 3
        r = c.get("/api/v1/coverage/uncovered", params={"type": "clinic", "meters": 500,
                                                        "network": "river-town"})
        assert r.status_code == 200 and r.json()["count"] == 3
        assert c.post("/api/v1/coverage/sites", json={"type": "clinic"}).status_code == 401
        assert c.get("/api/v1/coverage/report", params={"type": "nope"}).status_code == 422
        planner = token(c.app.state.sessionmaker, "规划员", {"planner"}, "")
        r = c.post("/api/v1/coverage/sites", json={"type": "clinic", "k": 2, "meters": 500,
                                                   "network": "river-town"},
                   headers={"Authorization": f"Bearer {planner}"})
        assert r.status_code == 200 and [x["households_added"] for x in r.json()["sites"]] == [40, 30]
        r = c.get(f"/api/v1/coverage/buildings/{town['b1']}", params={"meters": 500, "network": "river-town"})
        body = r.json()
        assert r.status_code == 200 and "clinic" in body["reached"]
        clinic = next(t for t in body["types"] if t["type_code"] == "clinic")
        assert clinic["distance_m"] == pytest.approx(120, abs=3) and clinic["nearest_facility"] == "卫生服务站"
        assert c.get("/api/v1/coverage/buildings/999999").status_code == 404


def test_coverage_report_per_grid(town, module_sessionmaker):
    # a published plan with one grid over the south bank (x -50..1100, y -100..100)
    ring = [pt(-50, -100), pt(1100, -100), pt(1100, 100), pt(-50, 100)]
    with module_sessionmaker() as s:
        plan = m.GridPlan(name="覆盖测试", status="published", generation=1, source="test")
        s.add(plan)
        s.flush()
        s.add(m.Grid(plan_id=plan.id, code="620302004002001", name="南岸网格", community_code=SOUTH,
                     community_edition=2023, geom=f"SRID=4326;{shapely.MultiPolygon([shapely.Polygon(ring)]).wkt}",
                     source="test"))
        s.flush()
        df = coverage_report(s, type_codes=["clinic"], budget_m=500, by="grid", network="river-town")
        s.rollback()
    rows = {r.unit: r for r in df.itertuples()}
    assert rows["620302004002001"].households == 60 and rows["620302004002001"].households_covered == 30
    assert rows["620302004002001"].unit_name == "南岸网格"
    # buildings outside every grid are reported together under no grid
    none_rows = df[df.unit.isna()]
    assert int(none_rows.households.sum()) == 45


def test_each_building_walks_its_own_network(town, module_sessionmaker, tmp_path):
    # a second town 20 km east with its own street and clinic: its building is measured along that street
    far = write_geojson(tmp_path / "east.geojson", [[(20_000, 0), (20_400, 0)], [(20_400, 0), (20_800, 0)]])
    with module_sessionmaker() as s:
        import_line_file(s, far, "east-town")
        s.add(m.Facility(type_code="clinic", name="东镇诊所", geom=_point(20_000, 0), source="test"))
        b = m.Building(name="east", community_code=NORTH, households=7, residents=15, geom=_square(20_700, 30),
                       source="test")
        s.add(b)
        s.flush()
        rep = compute_access(s, type_codes=["clinic"])
        assert set(rep["network"].split(",")) == {"east-town", "river-town"}
        got = s.get(BuildingAccess, (b.id, "clinic"))
        assert got.method == "network" and got.distance_m == pytest.approx(700 + 30, abs=3)
        near = s.get(BuildingAccess, (town["b4"], "clinic"))
        assert near.distance_m == pytest.approx(2120, abs=5)  # still over the bridge of its own town
        s.rollback()
