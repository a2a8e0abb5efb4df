"""Service circles stored in PostGIS: compute, skip unchanged, recompute on change; reachability; API."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers import models as m
from layers.networks import import_line_file
from layers.service_circles import circles_geojson, compute_circles, reachable_from, resolve_budgets
from tests.accounts_fixtures import TEST_SECRET, token
from tests.layers.network_fixtures import RIVER_TOWN, pt, write_geojson


@pytest.fixture(scope="module")
def town(module_sessionmaker, tmp_path_factory):
    path = write_geojson(tmp_path_factory.mktemp("town") / "river_town.geojson", RIVER_TOWN)
    with module_sessionmaker() as s:
        import_line_file(s, path, "river-town")
        ids = {}
        for key, (x, y), t in [("clinic", (0, 0), "clinic"), ("shop", (400, 10), "supermarket"),
                               ("north_shop", (100, 200), "supermarket"), ("far", (5000, 5000), "clinic")]:
            lon, lat = pt(x, y)
            f = m.Facility(type_code=t, name=key, geom=f"SRID=4326;POINT({lon} {lat})", source="test")
            s.add(f)
            s.flush()
            ids[key] = f.id
        s.commit()
    return ids


def _covers(session, circle_facility, budget, x, y) -> bool:
    lon, lat = pt(x, y)
    return bool(session.scalar(select(func.ST_Covers(m.ServiceCircle.geom, func.ST_SetSRID(
        func.ST_Point(lon, lat), 4326))).where(m.ServiceCircle.facility_id == circle_facility,
                                              func.abs(m.ServiceCircle.budget_m - budget) < 0.01)))


def test_compute_store_and_skip_unchanged(town, module_sessionmaker):
    with module_sessionmaker() as s:
        rep = compute_circles(s, meters=[500, 1500])  # each facility on the network of its nearest street
        s.commit()
        assert rep["facilities"] == 4 and rep["computed"] == 4 and rep["euclidean"] == 2  # 'far' × 2 budgets
        assert rep["networks"] == {"river-town": 3, "euclidean": 1} and rep["network"] == "river-town"
        rows = s.execute(select(m.ServiceCircle.method, func.count()).group_by(m.ServiceCircle.method)).all()
        assert dict(rows) == {"network": 6, "euclidean": 2}
        # the clinic at the west end of the south bank: the north bank is not reachable within 500 m
        assert _covers(s, town["clinic"], 500, 450, 0) and not _covers(s, town["clinic"], 500, 0, 200)
        # over the bridge within 1500 m: 1000 + 200, then 300 m west along the north bank
        assert _covers(s, town["clinic"], 1500, 750, 200) and not _covers(s, town["clinic"], 1500, 600, 200)
        far = s.scalar(select(m.ServiceCircle).where(m.ServiceCircle.facility_id == town["far"],
                                                     m.ServiceCircle.budget_m == 500))
        assert far.network is None and far.buffer_m is None and far.source == "computed:euclidean"
        area = s.scalar(select(func.ST_Area(func.Geography(m.ServiceCircle.geom))).where(m.ServiceCircle.id == far.id))
        assert area == pytest.approx(np.pi * 500**2, rel=0.01)
        again = compute_circles(s, meters=[500, 1500])
        assert again["computed"] == 0 and again["unchanged"] == 4
        only = compute_circles(s, network="river-town", meters=[500, 1500])  # 'far' is left alone
        assert only["unchanged"] == 3 and only["skipped"] == 1


def test_recompute_when_a_facility_moves_or_the_network_changes(town, module_sessionmaker, tmp_path):
    with module_sessionmaker() as s:
        compute_circles(s, meters=[500, 1500])
        lon, lat = pt(600, 0)
        s.execute(update(m.Facility).where(m.Facility.id == town["shop"])
                  .values(geom=f"SRID=4326;POINT({lon} {lat})"))
        rep = compute_circles(s, meters=[500, 1500])
        assert rep["computed"] == 1 and rep["unchanged"] == 3
        assert _covers(s, town["shop"], 500, 1000, 100)  # the bridge is now 400 m away
        # a second bridge at x=0: the network version changes, every circle on it is recomputed (not the
        # straight-line one of the facility far from any street)
        path = write_geojson(tmp_path / "town2.geojson", RIVER_TOWN + [[(0, 0), (0, 200)]])
        import_line_file(s, path, "river-town")
        rep = compute_circles(s, meters=[500, 1500])
        assert rep["computed"] == 3 and rep["unchanged"] == 1
        assert _covers(s, town["clinic"], 500, 100, 200)
        s.rollback()


def test_geojson_and_reachable(town, module_sessionmaker):
    with module_sessionmaker() as s:
        compute_circles(s, network="river-town", minutes=[5, 10])
        s.commit()
        fc = json.loads(circles_geojson(s, type_code="supermarket", minutes=5))
        assert fc["count"] == 2
        props = fc["features"][0]["properties"]
        assert props["budget_m"] == pytest.approx(416.667, abs=0.01) and props["type_zh"] == "超市/菜市场"
        assert shapely.geometry.shape(fc["features"][0]["geometry"]).geom_type == "MultiPolygon"
        # standing at x=50 on the south bank: the clinic (50 m) and the shop (350 + 10 m) are reachable in
        # 500 m, the north-bank shop is 200 m away as the crow flies but 1000 + 200 + 900 m on foot
        res = reachable_from(s, *pt(50, 0), budget_m=500, network="river-town")
        got = {f["name"]: f["distance_m"] for f in res["facilities"]}
        assert set(got) == {"clinic", "shop"}
        assert got["clinic"] == pytest.approx(50, abs=2) and got["shop"] == pytest.approx(360, abs=3)
    assert resolve_budgets(None, None)[2] == (15.0, 1250.0)


def test_api_circles_and_reachable(town, module_db, module_sessionmaker):
    with module_sessionmaker() as s:
        compute_circles(s, meters=[500])
        s.commit()
    settings = Settings(api=ApiSettings(environment="test", secret_key=TEST_SECRET), db=module_db)
    with TestClient(create_app(settings)) as c:
        r = c.get("/api/v1/circles", params={"type": "clinic", "meters": 500})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
        feats = r.json()["features"]
        assert {f["properties"]["method"] for f in feats} == {"network", "euclidean"}
        assert r.json()["count"] == len(feats) and len({f["id"] for f in feats}) == len(feats)
        assert all(isinstance(f["properties"]["reached_nodes"], int) for f in feats if f["properties"]["method"] == "network")
        lon, lat = pt(50, 0)
        r = c.get("/api/v1/circles/reachable", params={"lon": lon, "lat": lat, "minutes": 6,
                                                       "network": "river-town", "include_area": True})
        body = r.json()
        assert r.status_code == 200 and [f["name"] for f in body["facilities"]] == ["clinic", "shop"]
        assert body["area"]["properties"]["method"] == "network"
        area = shapely.geometry.shape(body["area"]["geometry"])
        assert not area.covers(shapely.Point(*pt(0, 200)))
        assert c.post("/api/v1/circles/compute", json={}).status_code == 401
        planner = token(c.app.state.sessionmaker, "规划员", {"planner"}, "")
        r = c.post("/api/v1/circles/compute", json={"meters": [500]},
                   headers={"Authorization": f"Bearer {planner}"})
        assert r.status_code == 200 and r.json()["unchanged"] == 4 and r.json()["computed"] == 0
        assert c.get("/api/v1/circles/reachable", params={"lon": 500, "lat": 0}).status_code == 422


def test_default_network_is_the_one_near_the_point(town, module_sessionmaker, tmp_path):
    from layers.service_circles import default_network

    far = write_geojson(tmp_path / "far.geojson", [[(50_000, 0), (52_000, 0)], [(52_000, 0), (54_000, 0)],
                                                   [(54_000, 0), (56_000, 0)], [(56_000, 0), (58_000, 0)],
                                                   [(58_000, 0), (60_000, 0)], [(60_000, 0), (62_000, 0)]])
    with module_sessionmaker() as s:
        import_line_file(s, far, "far-away")  # more edges than the river town
        assert default_network(s) == "far-away"
        assert default_network(s, near=tuple(pt(10, 10))) == "river-town"
        assert default_network(s, near=tuple(pt(55_000, 30))) == "far-away"
        res = reachable_from(s, *pt(50, 0), budget_m=500)
        assert res["network"] == "river-town" and {f["name"] for f in res["facilities"]} == {"clinic", "shop"}
        s.rollback()
