"""locate() on a hand-made plan in PostGIS: each rule of precedence, the answer's shape, the SQL cross-check,
batches agreeing with single calls, the cache following edits, and re-assignment after a new generation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Point, box
from sqlalchemy import select

from gis.coords import gcj02_to_bd09, wgs84_to_gcj02
from gis.errors import InvalidCoordinates, InvalidInput, NotFound, UnknownCRS
from layers import models as m
from layers.locate import locate, locate_many, plan_locator, refresh_subdivided, sql_covering_grids
from layers.reassign import reassign
from tests import locate_fixtures as F

locate_db = F.locate_db  # the fixture, from the shared module

NAMED = {
    "IN_G1": (F.IN_G1, F.G1, "grid", False),
    "IN_G2": (F.IN_G2, F.G2, "grid", False),
    "IN_EXCL": (F.IN_EXCL, F.EXCL, "exclusive_grid", False),
    "ON_EXCL_BORDER": (F.ON_EXCL_BORDER, F.EXCL, "exclusive_grid", False),
    "ON_SHARED_BORDER": (F.ON_SHARED_BORDER, F.G1, "grid", True),
    "ON_VERTEX": (F.ON_VERTEX, F.G1, "grid", True),
    "IN_HOLE": (F.IN_HOLE, None, "community", False),
    "IN_GAP": (F.IN_GAP, None, "community", False),
    "IN_COMMUNITY_B": (F.IN_COMMUNITY_B, None, "community", False),
    "ON_STREET": (F.ON_STREET, F.G2, "street_responsibility", False),
    "IN_G3_SECOND_PART": (F.IN_G3_SECOND_PART, F.G3, "grid", False),
    "NEAR_G1": (F.NEAR_G1, F.G1, "nearest_grid", False),
    "FAR": (F.FAR, None, "unassigned", False),
}


@pytest.fixture
def s(locate_db):
    with locate_db["factory"]() as session:
        yield session
        session.rollback()


@pytest.mark.parametrize("name", list(NAMED))
def test_each_rule(s, name):
    point, code, method, on_boundary = NAMED[name]
    res = locate(s, *point)
    assert res["assignment"]["method"] == method
    assert (res["grid"] or {}).get("code") == code
    assert res["assignment"]["on_boundary"] is on_boundary
    assert res["assignment"]["flagged"] is (method in ("nearest_grid", "unassigned"))
    assert res["assignment"]["reason"]


def test_answer_shape_and_public_people_only(s):
    res = locate(s, *F.IN_G1)
    assert res["input"] == {"lon": F.IN_G1[0], "lat": F.IN_G1[1], "crs": "wgs84"}
    assert res["plan"]["generation"] == 1
    g = res["grid"]
    assert g["community"] == {"code": F.COMMUNITY_A, "name": "金水里社区"}
    assert g["street"] == {"code": "620302004000", "name": "金川路街道"}
    assert g["county"] == {"code": "620302000000", "name": "金川区"}
    assert res["responsible"]["people"] == [
        {"role": "grid_worker", "role_zh": "网格员", "name": "张网格", "public_phone": "0935-8000001"}]
    assert "13900000001" not in str(res)


def test_tie_reported_with_codes(s):
    a = locate(s, *F.ON_SHARED_BORDER)["assignment"]
    assert a["tied_codes"] == [F.G1, F.G2]


def test_street_rule_names_the_unit_and_distance(s):
    res = locate(s, *F.ON_STREET)
    assert res["responsible"]["unit"] == "市政工程公司"
    assert 10.5 < res["assignment"]["distance_m"] < 11.7


def test_community_rule_gives_community_staff(s):
    res = locate(s, *F.IN_COMMUNITY_B)
    assert res["grid"] is None and res["community"]["code"] == F.COMMUNITY_B
    assert [p["name"] for p in res["responsible"]["people"]] == ["李社区"]


def test_nearest_distance_and_candidates(s):
    res = locate(s, *F.NEAR_G1, accuracy_m=100)
    assert 40 < res["assignment"]["distance_m"] < 48
    assert [c["code"] for c in res["assignment"]["candidates"]] == [F.G1]
    inside = locate(s, *F.ON_SHARED_BORDER, accuracy_m=5)
    assert [c["code"] for c in inside["assignment"]["candidates"]] == [F.G1, F.G2]


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_consumer_map_coordinates_are_converted_and_kept(s, crs):
    near_east_edge = (102.199, 38.5035)  # 85 m inside G2; the GCJ-02 offset here is about 170 m east
    glon, glat = wgs84_to_gcj02(*near_east_edge)
    if crs == "bd09":
        glon, glat = gcj02_to_bd09(glon, glat)
    res = locate(s, float(glon), float(glat), crs=crs)
    assert res["input"] == {"lon": float(glon), "lat": float(glat), "crs": crs}
    assert res["grid"]["code"] == F.G2
    assert abs(res["point"]["lon"] - near_east_edge[0]) < 1e-7 and abs(res["point"]["lat"] - near_east_edge[1]) < 1e-7
    # the same numbers taken as WGS84 land in community B, outside every grid
    assert locate(s, float(glon), float(glat))["grid"] is None


def test_bad_input(s):
    with pytest.raises(InvalidCoordinates, match="写反"):
        locate(s, 38.5015, 102.1855)
    with pytest.raises(InvalidCoordinates, match="超出范围"):
        locate(s, 200.0, 38.5)
    with pytest.raises(UnknownCRS):
        locate(s, *F.IN_G1, crs="mercator")
    with pytest.raises(InvalidInput):
        locate(s, *F.IN_G1, accuracy_m=-3)
    with pytest.raises(NotFound):
        locate(s, *F.IN_G1, plan_id=999_999)


def test_sql_lookup_agrees(s):
    refresh_subdivided(s, plan_locator(s).plan_id)
    for name, (point, code, method, _) in NAMED.items():
        sql = sql_covering_grids(s, *point)
        if method in ("grid", "exclusive_grid"):
            assert sql[0] == code, name
        elif method in ("community", "nearest_grid", "unassigned"):
            assert sql == [], name


def test_batch_agrees_with_single_calls(s):
    names = list(NAMED)
    lon = [NAMED[n][0][0] for n in names]
    lat = [NAMED[n][0][1] for n in names]
    rng = np.random.default_rng(5)
    lon += list(rng.uniform(102.16, 102.21, 200))
    lat += list(rng.uniform(38.485, 38.512, 200))
    table = locate_many(s, lon, lat)
    for i, (x, y) in enumerate(zip(lon, lat)):
        one = locate(s, x, y)
        row = table.iloc[i]
        assert row["method"] == one["assignment"]["method"]
        assert (None if pd.isna(row["grid_code"]) else row["grid_code"]) == (one["grid"] or {}).get("code")
        assert bool(row["on_boundary"]) == one["assignment"]["on_boundary"]


def test_batch_refuses_or_flags_invalid_rows(s):
    with pytest.raises(InvalidCoordinates) as exc:
        locate_many(s, [F.IN_G1[0], 38.5], [F.IN_G1[1], 102.19])
    assert exc.value.detail["rows"][0] == {"row": 2, "lon": 38.5, "lat": 102.19, "swapped": True}
    t = locate_many(s, [F.IN_G1[0], 38.5], [F.IN_G1[1], 102.19], on_invalid="flag")
    assert list(t["method"]) == ["grid", "invalid"]


def test_cache_follows_edits(locate_db):
    factory = locate_db["factory"]
    with factory() as s:
        before = plan_locator(s)
        assert plan_locator(s) is before
        g2 = s.scalar(select(m.Grid).where(m.Grid.code == F.G2, m.Grid.plan_id == locate_db["plan_id"]))
        g2.geom = from_shape(MultiPolygon([box(102.190, 38.500, 102.200, 38.510)]), srid=4326)
        g2.version += 1
        s.flush()
        assert plan_locator(s) is not before
        assert locate(s, *F.IN_GAP)["grid"]["code"] == F.G2
        s.rollback()
    with factory() as s:
        assert locate(s, *F.IN_GAP)["assignment"]["method"] == "community"


def test_a_locator_read_through_the_driver_alone_equals_the_sessions(locate_db):
    """gridmap locate FILE builds its locator on a psycopg2 connection of its own (layers.driver)."""
    from layers.driver import connect
    from layers.plan_locator import driver_build_plan_locator

    with locate_db["factory"]() as s:
        cached = plan_locator(s)
    with connect(locate_db["settings"]) as connection:
        own = driver_build_plan_locator(connection, None)
    assert (own.plan_id, own.generation, own.fingerprint) == (cached.plan_id, cached.generation, cached.fingerprint)
    for name in ("grid_codes", "grid_kinds", "grid_communities", "community_codes", "street_names", "street_units"):
        assert list(getattr(own, name)) == list(getattr(cached, name)), name
    assert list(own.street_categories) == list(cached.street_categories)
    assert own.area_names == cached.area_names
    lon, lat = np.array([F.IN_G1[0], F.ON_STREET[0], F.IN_GAP[0]]), np.array([F.IN_G1[1], F.ON_STREET[1], F.IN_GAP[1]])
    a, b = own.locator.assign(lon, lat), cached.locator.assign(lon, lat)
    assert list(a.grid) == list(b.grid) and list(a.method) == list(b.method)


def test_reassign_after_a_new_generation(locate_db):
    factory = locate_db["factory"]
    with factory() as s:
        incidents = [
            m.Incident(category="环境卫生", state="dispatched", geom=from_shape(Point(*F.IN_G2), srid=4326),
                       original_lon=F.IN_G2[0], original_lat=F.IN_G2[1], original_crs="wgs84",
                       plan_id=locate_db["plan_id"], grid_code=F.G2, source="test"),
            m.Incident(category="道路破损", state="closed", geom=from_shape(Point(*F.IN_G2), srid=4326),
                       original_lon=F.IN_G2[0], original_lat=F.IN_G2[1], original_crs="wgs84",
                       plan_id=locate_db["plan_id"], grid_code=F.G2, source="test"),
            m.Incident(category="乱搭乱建", state="reported", geom=from_shape(Point(*F.IN_G1), srid=4326),
                       original_lon=F.IN_G1[0], original_lat=F.IN_G1[1], original_crs="wgs84",
                       plan_id=locate_db["plan_id"], grid_code=F.G1, source="test"),
        ]
        s.add_all(incidents)
        old = s.get(m.GridPlan, locate_db["plan_id"])
        old.status, old.effective_to = "retired", dt.date.today()
        new = m.GridPlan(name="第二代", status="published", generation=2, effective_from=dt.date.today(),
                         source="test")
        s.add(new)
        s.flush()
        # generation 2: G1 keeps its shape, G2 becomes G4 (a new code) over the same ground
        for code, geom in [(F.G1, F.G1_GEOM), ("620302004001004", F.G2_GEOM)]:
            s.add(m.Grid(plan_id=new.id, code=code, name=code, kind="comprehensive", community_code=F.COMMUNITY_A,
                         community_edition=2023, geom=from_shape(geom, srid=4326), source="test"))
        s.flush()
        report = reassign(s)
        assert report["generation"] == 2 and report["checked"] == 2
        assert report["moved"] == 1 and report["repointed"] == 1
        assert report["moves"] == [{"from": F.G2, "to": "620302004001004", "count": 1}]
        s.expire_all()
        open_one, closed_one, g1_one = (s.get(m.Incident, i.id) for i in incidents)
        assert open_one.grid_code == "620302004001004" and open_one.plan_id == new.id
        assert open_one.assignment["reassigned_from"]["grid_code"] == F.G2
        assert closed_one.grid_code == F.G2 and closed_one.plan_id == locate_db["plan_id"]
        assert g1_one.plan_id == new.id and g1_one.grid_code == F.G1
        notes = s.scalars(select(m.IncidentEvent.note).where(m.IncidentEvent.incident_id == open_one.id)).all()
        assert any("620302004001004" in n for n in notes)
        again = reassign(s)
        assert again["moved"] == 0 and again["unchanged"] == 2
        with_history = reassign(s, history=True, dry_run=True)
        assert with_history["checked"] == 3 and with_history["moved"] == 1
        s.rollback()
