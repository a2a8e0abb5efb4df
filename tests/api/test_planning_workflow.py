"""Issue 4 "done when", on the Jinchang demo in PostGIS, through the API only: propose grids for a community,
draft them into a copy of the plan in force, validate, break and fix a grid with versioned edits, preview the
impact, publish the new generation (open incidents follow) and export it as a GeoPackage.

Runs on the module's own database (publishing must not disturb the session's demo)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.app import create_app
from api.settings import ApiSettings, Settings
from gis.plan_validation import Projector
from layers import models as m
from layers.db import make_engine, make_sessionmaker
from tests.accounts_fixtures import TEST_SECRET, bearer

C = "620302001001"  # a demo urban community (13 grids in force, 4,668 households)
PROJ = Projector("EPSG:4543")


@pytest.fixture(scope="module")
def world(module_demo_db):
    engine = make_engine(module_demo_db, pool_size=2, max_overflow=2)
    factory = make_sessionmaker(engine)
    settings = Settings(api=ApiSettings(environment="test", secret_key=TEST_SECRET), db=module_demo_db)
    with TestClient(create_app(settings)) as client:
        yield client, bearer(factory, "规划员乙", {"planner"}, ""), factory
    engine.dispose()


def _key(p: dict) -> tuple:
    return p["kind"], p["grid"], p["community"], p["count"], round(p["area_m2"] or 0)


OWNERS = """
    SELECT DISTINCT ON (b.id) b.id, g.code, b.households FROM buildings b
    JOIN grids g ON g.plan_id = :p AND ST_Covers(g.geom, ST_PointOnSurface(b.geom))
    ORDER BY b.id, (g.kind = 'exclusive') DESC, g.code
"""


def _moves(session, base: int, draft: int) -> dict[int, tuple[str | None, str | None, int]]:
    """Buildings whose grid differs between two plans, computed by PostGIS alone."""
    rows = session.execute(text(f"""
        WITH a AS ({OWNERS.replace(':p', ':base')}), b AS ({OWNERS.replace(':p', ':draft')})
        SELECT coalesce(a.id, b.id), a.code, b.code, coalesce(a.households, b.households)
        FROM a FULL JOIN b ON a.id = b.id WHERE a.code IS DISTINCT FROM b.code
    """), {"base": base, "draft": draft}).all()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_propose_validate_fix_preview_publish_export(world, tmp_path):
    c, h, factory = world
    plans = c.get("/api/v1/plans", headers=h).json()["plans"]
    (base,) = [p for p in plans if p["status"] == "published"]
    base_report = c.get(f"/api/v1/plans/{base['id']}/validation", headers=h).json()

    # 1. propose grids for one community from its buildings and streets
    r = c.post("/api/v1/plans/proposals", json={"community_code": C}, headers=h)
    assert r.status_code == 200, r.text
    proposal = r.json()
    metrics = proposal["metrics"]
    with factory() as s:
        total = s.scalar(text("""SELECT sum(b.households) FROM buildings b JOIN admin_areas a ON a.code = :c
                                  AND ST_Covers(a.geom, ST_PointOnSurface(b.geom))"""), {"c": C})
        in_force = s.scalar(select(text("count(*)")).select_from(m.Grid).where(
            m.Grid.plan_id == base["id"], m.Grid.community_code == C))
    assert metrics["total_households"] == total == sum(f["properties"]["households"] for f in proposal["features"])
    assert metrics["within_bounds_share"] >= 0.9
    outliers = [f for f in proposal["features"] if f["properties"]["out_of_bounds_reason"]]
    assert all(not 300 <= f["properties"]["households"] <= 500 for f in outliers)
    codes = [f["properties"]["code"] for f in proposal["features"]]
    assert len(set(codes)) == len(codes) and all(code.startswith(C) and len(code) == 15 for code in codes)

    # 2. a draft: the plan in force copied, this community's grids replaced by the proposal
    r = c.post("/api/v1/plans/drafts", json={"name": "金川区 第二代（自动划分一社区）", "replace_community": C,
                                             "features": proposal["features"]}, headers=h)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["status"] == "draft" and draft["generation"] is None
    assert draft["grid_count"] == base["grid_count"] - in_force + len(proposal["features"])

    # 3. validate: the proposed community is clean (tiles it, cuts no building); the rest is as before
    v0 = c.get(f"/api/v1/plans/{draft['id']}/validation", headers=h).json()
    mine = [p for p in v0["problems"] if p["community"] == C]
    assert {p["kind"] for p in mine} <= {"households_out_of_bounds", "no_grid_worker"}, mine
    assert sorted(p["grid"] for p in mine if p["kind"] == "households_out_of_bounds") == sorted(
        f["properties"]["code"] for f in outliers)
    assert {_key(p) for p in v0["problems"] if p["community"] != C} == {
        _key(p) for p in base_report["problems"] if p["community"] != C}
    assert v0["publishable"] is True

    # 4. break a grid: grow A 20 m into its neighbour B (versioned PUT), and validation finds the overlap
    grids = {f["id"]: f for f in c.get(f"/api/v1/plans/{draft['id']}", params={"community": C},
                                       headers=h).json()["grids"]["features"]}
    gm = {k: PROJ.forward(np.array([shapely.geometry.shape(f["geometry"])]))[0] for k, f in grids.items()}
    a, b = next((x, y) for x in sorted(gm) for y in sorted(gm)
                if x < y and shapely.intersection(gm[x], gm[y]).length > 100)
    band = shapely.intersection(gm[b], gm[a].buffer(20))
    grown = PROJ.inverse(np.array([shapely.union_all([gm[a], band])]))[0]
    r = c.get(f"/api/v1/plans/{draft['id']}/grids/{a}", headers=h)
    etag = r.headers["ETag"]
    assert etag == '"1"'
    r = c.put(f"/api/v1/plans/{draft['id']}/grids/{a}", headers=h | {"If-Match": etag},
              json={"type": "Feature", "geometry": shapely.geometry.mapping(grown), "properties": {}})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"', r.text
    v1 = c.get(f"/api/v1/plans/{draft['id']}/validation", headers=h).json()
    overlaps = [p for p in v1["problems"] if p["kind"] == "overlap"]
    assert len(overlaps) == 1 and {overlaps[0]["grid"], overlaps[0]["detail"]["other"]} == {a, b}
    assert overlaps[0]["area_m2"] == pytest.approx(band.area, rel=0.02)
    assert v1["publishable"] is False
    assert c.post(f"/api/v1/plans/{draft['id']}/publish", headers=h).status_code == 409  # blocking problem

    # a stale edit (the version seen before the change) gets 409 and changes nothing
    original = grids[a]["geometry"]
    r = c.put(f"/api/v1/plans/{draft['id']}/grids/{a}", headers=h | {"If-Match": etag},
              json={"type": "Feature", "geometry": original, "properties": {}})
    assert r.status_code == 409 and r.json()["error"]["detail"]["current_version"] == 2
    now = c.get(f"/api/v1/plans/{draft['id']}/grids/{a}", headers=h)
    assert now.headers["ETag"] == '"2"'
    assert shapely.hausdorff_distance(shapely.geometry.shape(now.json()["geometry"]), grown) < 1e-6

    # fix it with the current version: the report is back to what it was before the edit
    r = c.put(f"/api/v1/plans/{draft['id']}/grids/{a}", headers=h,
              json={"type": "Feature", "geometry": original, "properties": {"version": 2}})
    assert r.status_code == 200 and r.json()["properties"]["version"] == 3
    v2 = c.get(f"/api/v1/plans/{draft['id']}/validation", headers=h).json()
    assert sorted(map(_key, v2["problems"])) == sorted(map(_key, v0["problems"]))

    # an open incident routed under the plan in force, in a building that will change grid
    with factory() as s:
        moves = _moves(s, base["id"], draft["id"])
        bid, (old, new, _) = next((k, v) for k, v in sorted(moves.items()) if v[0] and v[1])
        x, y = s.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM buildings "
                              "WHERE id = :b) q"), {"b": bid}).one()
        old_grid = s.scalar(select(m.Grid.id).where(m.Grid.plan_id == base["id"], m.Grid.code == old))
        inc = m.Incident(category="环境卫生", description="test", state="dispatched", level="grid",
                         geom=f"SRID=4326;POINT({x} {y})", original_lon=x, original_lat=y, original_crs="wgs84",
                         plan_id=base["id"], grid_id=old_grid, grid_code=old, source="test")
        s.add(inc)
        s.commit()
        incident_id = inc.id

    # 5. impact preview: the buildings/households that move are exactly those PostGIS finds
    imp = c.get(f"/api/v1/plans/{draft['id']}/impact", headers=h).json()
    assert imp["base_plan_id"] == base["id"]
    assert {g["code"] for g in imp["grids"]["removed"] + imp["grids"]["new"] + imp["grids"]["changed"]}
    assert all(g["code"].startswith(C) for g in imp["grids"]["removed"] + imp["grids"]["new"]
               + imp["grids"]["changed"])
    got = {b["building_id"]: (b["from"], b["to"], b["households"]) for b in imp["buildings"]["items"]}
    assert got == moves and imp["buildings"]["count"] == len(moves) > 0
    assert imp["buildings"]["households"] == sum(v[2] for v in moves.values())
    assert any(i["incident_id"] == incident_id and i["from"] == old and i["to"] == new
               for i in imp["incidents"]["items"])

    # 6. publish: generation 2 in force; generation 1 retired but kept; the open incident follows its building to
    #    the new grid (re-dispatched on publish) and remembers where it was routed before
    r = c.post(f"/api/v1/plans/{draft['id']}/publish", json={"effective_from": "2026-12-01"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "published" and r.json()["generation"] == base["generation"] + 1
    listed = {p["id"]: p for p in c.get("/api/v1/plans", headers=h).json()["plans"]}
    assert listed[base["id"]]["status"] == "retired" and listed[base["id"]]["effective_to"] == "2026-12-01"
    assert listed[base["id"]]["grid_count"] == base["grid_count"]
    with factory() as s:
        kept = s.get(m.Incident, incident_id)
        new_grid = s.scalar(select(m.Grid.id).where(m.Grid.plan_id == draft["id"], m.Grid.code == new))
        assert (kept.plan_id, kept.grid_id, kept.grid_code) == (draft["id"], new_grid, new)
        assert kept.assignment["reassigned_from"] == {"plan_id": base["id"], "grid_id": old_grid, "grid_code": old}
        assert s.scalar(select(m.GridPlan.effective_from).where(m.GridPlan.id == draft["id"])) == dt.date(2026, 12, 1)
    assert any(i["incident_id"] == incident_id and (i["from"], i["to"]) == (old, new)
               for i in r.json()["incidents"]["items"])
    layer = c.get("/api/v1/layers/grids").json()
    assert {f["properties"]["plan_id"] for f in layer["features"]} == {draft["id"]}

    # 7. export as GeoPackage and read it back
    r = c.get(f"/api/v1/plans/{draft['id']}/export", params={"format": "gpkg"}, headers=h)
    assert r.status_code == 200
    path = tmp_path / "plan.gpkg"
    path.write_bytes(r.content)
    gdf = pyogrio.read_dataframe(path, layer="grids")
    stored = c.get(f"/api/v1/plans/{draft['id']}", headers=h).json()["grids"]["features"]
    assert sorted(gdf["code"]) == sorted(f["id"] for f in stored)
    assert gdf.crs.to_epsg() == 4326
    row = gdf.set_index("code").loc[a]
    assert shapely.hausdorff_distance(row.geometry, shapely.geometry.shape(original)) < 1e-6
    assert row["code_cjt349"].endswith(a[-2:]) and len(row["code_cjt349"]) == 20
