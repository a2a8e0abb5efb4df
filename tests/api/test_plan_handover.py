"""Issue 17 through the API on a copy of the Jinchang demo: a file covering one community is imported and published
without retiring any other grid; its staff are handed over and its open incidents re-dispatched; a draft that
would change grids outside its scope needs force and a written reason; reads round-trip exactly; the hierarchy
can be browsed level by level; and the editor's counts and messages speak of what lies inside a grid."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers import models as m
from layers.db import make_engine, make_sessionmaker
from tests.accounts_fixtures import TEST_SECRET, bearer, token

C = "620302001005"  # 龙广里: 10 grids in force
OTHER = "620302001004"  # 龙云里, a neighbour in the same street


@pytest.fixture(scope="module")
def world(module_demo_db):
    engine = make_engine(module_demo_db, pool_size=2, max_overflow=2)
    factory = make_sessionmaker(engine)
    settings = Settings(api=ApiSettings(environment="test", secret_key=TEST_SECRET), db=module_demo_db)
    with TestClient(create_app(settings)) as client:
        yield client, bearer(factory, "规划员丁", {"planner"}, ""), factory
    engine.dispose()


def _in_force(factory) -> tuple[int, dict[str, bytes]]:
    with factory() as s:
        plan = s.scalar(select(m.GridPlan.id).where(m.GridPlan.status == "published"))
        rows = s.execute(text("SELECT code, ST_AsBinary(geom) FROM grids WHERE plan_id = :p"), {"p": plan}).all()
    return plan, {r[0]: bytes(r[1]) for r in rows}


def _role_vacancies(client, headers, unit: str) -> list[dict]:
    r = client.get("/api/v1/roster/audit", params={"unit": unit}, headers=headers)
    assert r.status_code == 200, r.text
    return [v for v in r.json()["vacancies"] if v["kind"] == "role"]


def _building_points(factory, community: str, n: int) -> list[tuple[float, float]]:
    with factory() as s:
        return [tuple(r) for r in s.execute(text("""
            SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(b.geom) p, b.id FROM buildings b
            JOIN admin_areas a ON a.code = :c AND ST_Covers(a.geom, ST_PointOnSurface(b.geom))
            WHERE b.households > 0 ORDER BY b.id LIMIT :n) q"""), {"c": community, "n": n}).all()]


def _report(client, lon: float, lat: float) -> int:
    r = client.post("/api/v1/incidents", json={"category": "环境卫生", "lon": lon, "lat": lat,
                                               "description": "楼道堆放杂物"})
    assert r.status_code in (200, 201), r.text
    return r.json()["incident"]["id"]


def test_a_one_community_file_is_published_and_the_city_keeps_every_other_grid(world):
    c, h, factory = world
    base_id, before = _in_force(factory)
    mine = {code for code in before if code.startswith(C)}
    assert len(mine) == 10 and len(before) == 321

    # open incidents in the community, reported before the new plan
    incidents = [_report(c, x, y) for x, y in _building_points(factory, C, 40)[::8]]
    vacant_before = {v["role"] for v in _role_vacancies(c, h, C)}

    # 1. a file with the community's new grids (the proposal), imported as a file: its scope is the community
    proposal = c.post("/api/v1/plans/proposals", json={"community_code": C}, headers=h).json()
    body = json.dumps({"type": "FeatureCollection", "features": [
        {**f, "properties": {k: f["properties"][k] for k in ("name", "kind", "community_code")}}
        for f in proposal["features"]]}, ensure_ascii=False).encode()
    r = c.post("/api/v1/plans/import", files={"file": ("longguangli.geojson", body)}, data={"name": "龙广里新方案"},
               headers=h)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["scope"] == [C] and draft["base_plan_id"] == base_id
    assert draft["grid_count"] == 321 - 10 + len(proposal["features"])
    assert c.get(f"/api/v1/plans/{draft['id']}/validation", headers=h).json()["publishable"] is True

    # 2. the impact preview: nothing outside the scope; every retired grid's people have somewhere to go
    imp = c.get(f"/api/v1/plans/{draft['id']}/impact", headers=h).json()
    assert imp["outside_scope"]["summary"].startswith("范围外：无变化")
    touched = imp["grids"]["removed"] + imp["grids"]["new"] + imp["grids"]["changed"]
    assert touched and all(g["code"].startswith(C) for g in touched)
    new_codes = {g["code"] for g in imp["grids"]["new"]}
    moves = [i for i in imp["handover"]["items"] if i["kind"] == "move"]
    assert moves and all(i["to"].startswith(C) for i in moves)
    assert {i["from"] for i in moves} <= {g["code"] for g in imp["grids"]["removed"]}

    # 3. publish: every grid outside the community is still in force, unchanged
    r = c.post(f"/api/v1/plans/{draft['id']}/publish", json={}, headers=h)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["generation"] == 2 and result["previous_plan_id"] == base_id
    plan_id, after = _in_force(factory)
    assert plan_id == draft["id"]
    assert {k: v for k, v in after.items() if not k.startswith(C)} == {
        k: v for k, v in before.items() if not k.startswith(C)}
    assert len(after) == 321 - 10 + len(proposal["features"])
    assert c.get("/api/v1/layers/grids", params={"limit": 1000}).json()["numberMatched"] == len(after)

    # 4. staff followed: the new grids show no role vacancy that the old ones had filled
    vacant_after = _role_vacancies(c, h, C)
    assert {v["grid_code"] for v in vacant_after} <= new_codes | mine
    assert {v["role"] for v in vacant_after} <= vacant_before, vacant_after
    assert result["handover"]["counts"]["move"] == len(moves)

    # 5. open incidents followed, were re-dispatched and the answer says to whom; a new report has a person
    with factory() as s:
        rows = s.execute(select(m.Incident.id, m.Incident.plan_id, m.Incident.grid_code, m.Incident.assignee_id)
                         .where(m.Incident.id.in_(incidents))).all()
    assert all(r.plan_id == plan_id and r.grid_code in after for r in rows)
    moved = {i["incident_id"]: i for i in result["incidents"]["items"]}
    assert set(incidents) <= set(moved)
    assert all(moved[i]["to"] in new_codes and moved[i]["assignee_after"] for i in incidents)
    x, y = _building_points(factory, C, 3)[-1]
    fresh = _report(c, x, y)
    with factory() as s:
        assert s.get(m.Incident, fresh).assignee_id is not None
    # the report is kept with the generation
    kept = c.get(f"/api/v1/plans/{plan_id}", headers=h).json()["publish_report"]
    assert kept["handover"]["counts"] == result["handover"]["counts"] and kept["incidents"]["moved"] >= len(incidents)
    # nothing left to re-dispatch
    again = c.post(f"/api/v1/plans/{plan_id}/reassign", json={"dry_run": True}, headers=h).json()
    assert again["moved"] == 0 and again["repointed"] == 0


def test_a_change_outside_the_scope_needs_force_and_a_written_reason(world):
    c, h, factory = world
    base_id, before = _in_force(factory)
    mine = c.get(f"/api/v1/plans/{base_id}", params={"community": OTHER}, headers=h).json()["grids"]["features"]
    r = c.post("/api/v1/plans/drafts", json={"name": "龙云里微调", "scope": [OTHER], "features": mine}, headers=h)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["scope"] == [OTHER] and draft["grid_count"] == len(before)
    # a grid of another community is deleted in the draft: outside the scope
    victim = sorted(code for code in before if code.startswith("620302002"))[0]
    assert c.delete(f"/api/v1/plans/{draft['id']}/grids/{victim}", params={"version": 1}, headers=h).status_code == 204
    imp = c.get(f"/api/v1/plans/{draft['id']}/impact", headers=h).json()
    assert imp["outside_scope"]["removed"] == [victim]
    assert imp["outside_scope"]["summary"].startswith("范围外：撤销 1")

    refused = c.post(f"/api/v1/plans/{draft['id']}/publish", json={}, headers=h)
    assert refused.status_code == 409 and refused.json()["error"]["detail"]["outside_scope"]["removed"] == [victim]
    no_reason = c.post(f"/api/v1/plans/{draft['id']}/publish", json={"force": True, "reason": " "}, headers=h)
    assert no_reason.status_code == 409 and "理由" in no_reason.json()["error"]["message"]
    assert _in_force(factory) == (base_id, before)  # nothing changed

    reason = "该网格并入相邻社区，经街道办批准"
    r = c.post(f"/api/v1/plans/{draft['id']}/publish", json={"force": True, "reason": reason}, headers=h)
    assert r.status_code == 200, r.text
    plan = c.get(f"/api/v1/plans/{draft['id']}", headers=h).json()
    assert plan["status"] == "published" and plan["publish_reason"] == reason
    assert plan["publish_report"]["reason"] == reason
    assert set(_in_force(factory)[1]) == set(before) - {victim}


def test_a_grid_read_and_sent_back_unchanged_is_unchanged(world):
    c, h, factory = world
    draft = c.post("/api/v1/plans/drafts", json={"name": "往返"}, headers=h).json()
    with factory() as s:  # the grid with the most vertices: the longest boundary
        code, wkb = s.execute(text("SELECT code, ST_AsBinary(geom) FROM grids WHERE plan_id = :p "
                                   "ORDER BY ST_NPoints(geom) DESC LIMIT 1"), {"p": draft["id"]}).one()
    read = c.get(f"/api/v1/plans/{draft['id']}/grids/{code}", headers=h)
    listed = next(f for f in c.get(f"/api/v1/plans/{draft['id']}", headers=h).json()["grids"]["features"]
                  if f["id"] == code)
    assert listed["geometry"] == read.json()["geometry"]
    r = c.put(f"/api/v1/plans/{draft['id']}/grids/{code}", headers=h | {"If-Match": read.headers["ETag"]},
              json={"type": "Feature", "geometry": read.json()["geometry"], "properties": {}})
    assert r.status_code == 200, r.text
    with factory() as s:
        now = s.scalar(text("SELECT ST_AsBinary(geom) FROM grids WHERE plan_id = :p AND code = :c"),
                       {"p": draft["id"], "c": code})
    assert bytes(now) == bytes(wkb)  # every coordinate exactly as stored
    imp = c.get(f"/api/v1/plans/{draft['id']}/impact", headers=h).json()
    assert code not in {g["code"] for g in imp["grids"]["changed"]}
    v = c.get(f"/api/v1/plans/{draft['id']}/validation", headers=h).json()
    assert not [p for p in v["problems"] if p["kind"] == "overlap" and p["grid"] == code]


def test_the_hierarchy_is_browsed_level_by_level(world):
    c, _, _ = world
    streets = c.get("/api/v1/layers/areas", params={"level": "township", "parent": "620302"}).json()
    assert streets["numberMatched"] >= 5
    assert {f["properties"]["parent_code"] for f in streets["features"]} == {"620302000000"}
    comms = c.get("/api/v1/layers/areas", params={"level": "community", "parent": "620302001"}).json()
    assert C in {f["properties"]["code"] for f in comms["features"]}
    assert all(f["properties"]["code"].startswith("620302001") for f in comms["features"])
    same = c.get("/api/v1/layers/areas", params={"level": "community", "parent": "620302001000"}).json()
    assert same["numberMatched"] == comms["numberMatched"]
    grids = c.get("/api/v1/layers/areas", params={"level": "grid", "parent": OTHER}).json()
    assert grids["numberMatched"] > 0
    assert all(f["properties"]["level"] == "grid" and f["properties"]["parent_code"] == OTHER and
               f["id"].startswith(OTHER) for f in grids["features"])
    assert c.get("/api/v1/layers/areas", params={"level": "planet"}).status_code == 422
    assert c.get("/api/v1/layers/areas", params={"parent": "62x302"}).status_code == 422


def test_a_drawn_grid_counts_what_lies_inside_and_problems_name_buildings(world):
    c, h, factory = world
    draft = c.post("/api/v1/plans/drafts", json={"name": "绘图计数"}, headers=h).json()
    with factory() as s:  # a rectangle over the middle of a community, overlapping its grids
        x0, y0, x1, y1 = s.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                        "(SELECT ST_Extent(geom) e FROM grids WHERE plan_id = :p AND community_code = :c) q"),
                                   {"p": draft["id"], "c": OTHER}).one()
    w, hh = (x1 - x0) / 4, (y1 - y0) / 4
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    ring = [[cx - w, cy - hh], [cx + w, cy - hh], [cx + w, cy + hh], [cx - w, cy + hh], [cx - w, cy - hh]]
    r = c.post(f"/api/v1/plans/{draft['id']}/grids", headers=h, json={
        "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"community_code": OTHER}})
    assert r.status_code == 201, r.text
    new = r.json()
    with factory() as s:
        inside = s.execute(text("""SELECT count(*), coalesce(sum(households), 0) FROM buildings b
            WHERE ST_Covers(ST_MakeEnvelope(:a, :b, :c, :d, 4326), ST_PointOnSurface(b.geom))"""),
                           {"a": cx - w, "b": cy - hh, "c": cx + w, "d": cy + hh}).one()
        names = dict(s.execute(select(m.Building.id, m.Building.name)).all())
    assert inside[0] > 0 and new["properties"]["households"] == inside[1]
    report = c.get(f"/api/v1/plans/{draft['id']}/validation", headers=h).json()
    counted = [p for p in report["problems"] if p["kind"] == "households_out_of_bounds" and p["grid"] == new["id"]]
    assert all(p["count"] == inside[1] for p in counted)
    cut = [p for p in report["problems"] if p["kind"] == "building_cut"]
    assert cut, "the rectangle cuts buildings"
    for p in cut:
        building = p["detail"]["building"]
        assert names[building] and names[building] in p["message"]
        assert f"楼栋 {building} " not in p["message"]


def test_signed_out_browsers_are_sent_to_sign_in_and_back(world):
    c, _, factory = world
    r = c.get("/maps/plans/2/edit", params={"community": C}, headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/maps/signin?next=%2Fmaps%2Fplans%2F2%2Fedit%3Fcommunity%3D" + C
    expired = token(factory, "规划员丁", {"planner"}, "", ttl_s=-10)
    r = c.get("/maps/plans/2/edit", headers={"Accept": "text/html", "Authorization": f"Bearer {expired}"},
              follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/maps/signin?next=")
    assert c.get("/maps/plans/2/edit").status_code == 401  # an API client still gets the 401
    page = c.get(r.headers["location"])
    assert page.status_code == 200 and "/maps/plans/2/edit" in page.text
