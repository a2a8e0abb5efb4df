"""入户走访, 双报到/points and 事项准入 through the API on a copy of the demo.

Visits: follow-ups become a real incident, order and ledger update; notes are readable only in scope and every
read is audited; coverage and stale buildings are consistent with what was logged. Points: an order fulfilled
and a wish fulfilled earn points through the database triggers, attendance earns once, the ledger never goes
negative, also when many redemptions race for the last points. Matters: the public list, flags for categories
outside it, and approval once.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers import volunteers
from layers.db import make_engine, make_sessionmaker
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declared_bearer
from usecases import area_lists
from usecases.access import Viewer

SECRET = TEST_SECRET
NOTE = "走访测试：独居老人赵六，需要助餐"


def auth(roles, scope, sub=None):
    return declared_bearer(sub, roles, scope)


@pytest.fixture(scope="module")
def world(module_demo_db):
    eng = make_engine(module_demo_db, pool_size=12, max_overflow=4)
    with eng.connect() as conn:
        grid, community, building = conn.execute(text(
            "SELECT g.code, g.community_code, b.id FROM grids g JOIN buildings b "
            "ON g.geom && b.geom AND ST_Covers(g.geom, ST_PointOnSurface(b.geom)) "
            "WHERE g.plan_id = (SELECT id FROM grid_plans WHERE status = 'published') AND g.kind = 'comprehensive' "
            "AND b.households > 0 AND g.community_code IN (SELECT community_code FROM volunteer_activities) "
            "ORDER BY g.code, b.id LIMIT 1")).one()
        sibling = conn.scalar(text("SELECT code FROM grids WHERE code LIKE :c || '%' AND code <> :g ORDER BY code "
                                   "LIMIT 1"), {"c": community, "g": grid})
    settings = Settings(api=ApiSettings(environment="test", secret_key=SECRET, public_rate_per_min=0),
                        db=module_demo_db)
    with TestClient(create_app(settings)) as client, accounts_in(client.app.state.sessionmaker):
        yield {"api": client, "grid": grid, "community": community, "building": building, "sibling": sibling,
               "engine": eng, "factory": make_sessionmaker(eng)}
    eng.dispose()


def _scalar(world, sql, **params):
    with world["engine"].connect() as conn:
        return conn.scalar(text(sql), params)


# ------------------------------------------------------------------------------------------------ visits
def test_a_visit_with_follow_ups_and_its_private_notes(world):
    api, grid = world["api"], world["grid"]
    worker = auth({"grid_staff"}, grid, "网格员甲")
    before = api.get(f"/api/v1/visits/coverage?unit={grid}", headers=worker).json()["grids"][0]
    r = api.post("/api/v1/visits", headers=worker, json={
        "building_id": world["building"], "household": "9-909", "knows": ["person", "affairs"], "notes": NOTE,
        "follow_ups": [{"kind": "incident", "category": "sanitation", "description": "楼道垃圾"},
                       {"kind": "order", "category": "elderly_help", "description": "助餐"},
                       {"kind": "ledger", "counts": {"special_care": {"persons": 1, "households": 1}}}]})
    assert r.status_code == 201, r.text
    visit = r.json()
    kinds = {f["kind"]: f for f in visit["follow_ups"]}
    assert set(kinds) == {"incident", "order", "ledger"} and visit["grid_code"] == grid
    assert _scalar(world, "SELECT channel FROM incident_details WHERE incident_id = :i",
                   i=kinds["incident"]["incident_id"]) == "visit"
    assert _scalar(world, "SELECT grid_code FROM service_orders WHERE id = :o", o=kinds["order"]["order_id"]) == grid
    assert _scalar(world, "SELECT persons FROM building_ledgers WHERE building_id = :b AND kind = 'special_care'",
                   b=world["building"]) == 1

    after = api.get(f"/api/v1/visits/coverage?unit={grid}", headers=worker).json()["grids"][0]
    assert after["visits"] == before["visits"] + 1
    assert after["visited_households"] == before["visited_households"] + 1

    audits = _scalar(world, "SELECT count(*) FROM audit_log WHERE object_type = 'household_visit'")
    notes = api.get(f"/api/v1/visits?grid={grid}", headers=worker).json()
    assert any(v["notes"] == NOTE for v in notes["visits"])
    assert _scalar(world, "SELECT count(*) FROM audit_log WHERE object_type = 'household_visit'") == audits + 1
    neighbour = auth({"grid_staff"}, world["sibling"], "网格员乙")
    assert api.get(f"/api/v1/visits?grid={grid}", headers=neighbour).status_code == 403
    assert api.post("/api/v1/visits", headers=neighbour, json={
        "building_id": world["building"], "household": "1-101"}).status_code == 403
    assert api.get(f"/api/v1/visits?grid={grid}", headers=auth({"planner"}, "", "规划")).status_code == 403
    assert api.get(f"/api/v1/visits?grid={grid}").status_code == 401


def test_a_bad_follow_up_stores_nothing(world):
    api, grid = world["api"], world["grid"]
    worker = auth({"grid_staff"}, grid, "网格员甲")
    count = _scalar(world, "SELECT count(*) FROM household_visits")
    incidents = _scalar(world, "SELECT count(*) FROM incidents")
    for body in (
        {"building_id": world["building"], "household": "1-1",
         "follow_ups": [{"kind": "incident", "category": "sanitation"}, {"kind": "order", "category": "nope"}]},
        {"building_id": world["building"], "household": "1-1", "visited_on": "2999-01-01"},
        {"building_id": world["building"], "household": " "},
        {"building_id": world["building"], "household": "1-1", "knows": ["gossip"]},
        {"building_id": world["building"], "household": "1-1", "follow_ups": [{"kind": "ledger", "counts": {}}]},
        {"building_id": 2**31 - 1, "household": "1-1"},
    ):
        r = api.post("/api/v1/visits", headers=worker, json=body)
        assert r.status_code in (403, 404, 409, 422), (body, r.status_code, r.text)
        assert r.json()["error"]["message"]
    assert _scalar(world, "SELECT count(*) FROM household_visits") == count
    assert _scalar(world, "SELECT count(*) FROM incidents") == incidents


def test_coverage_stale_buildings_and_the_roster_summary(world):
    api, community = world["api"], world["community"]
    planner = auth({"planner"}, "", "规划")
    cover = api.get(f"/api/v1/visits/coverage?unit={community}", headers=planner).json()["grids"]
    assert cover and all(0 <= (c["share"] or 0) <= 1 for c in cover)
    assert any(c["visited_households"] > 0 for c in cover) and all(c["grid_code"].startswith(community) for c in cover)
    stale = api.get(f"/api/v1/visits/stale-buildings?days=60&unit={community}", headers=planner).json()
    assert stale["count"] > 0
    last = [b["last_visited"] for b in stale["buildings"] if b["last_visited"]]
    assert all(dt.date.fromisoformat(d) < dt.date.today() - dt.timedelta(days=60) for d in last)
    assert api.get("/api/v1/visits/stale-buildings?days=0", headers=planner).status_code == 422
    summary = api.get("/api/v1/roster/summary?by=community", headers=planner).json()["rows"]
    row = next(r for r in summary if r["unit"] == community)
    assert row["visited_households"] == sum(c["visited_households"] for c in cover)
    assert row["visit_share"] is not None and row["visit_month"] == dt.date.today().strftime("%Y-%m")
    stale60 = api.get(f"/api/v1/visits/stale-buildings?days=60&unit={community}", headers=planner).json()["count"]
    summary60 = api.get("/api/v1/roster/summary?by=community&stale_days=60", headers=planner).json()["rows"]
    assert next(r for r in summary60 if r["unit"] == community)["stale_buildings"] == stale60
    assert api.get("/api/v1/visits/coverage?month=2024-13", headers=planner).status_code == 422


def test_the_grid_maps_visit_layers_are_for_staff_of_the_area_only(world):
    api, community = world["api"], world["community"]
    anon = api.get("/maps/grids?problems=false")
    assert anon.status_code == 200
    assert "入户走访覆盖" not in anon.text and "last_visited" not in anon.text and "visit_share" not in anon.text
    assert "Cookie" in anon.headers["vary"]
    token = auth({"grid_staff"}, community, "网格员甲")["Authorization"][7:]
    api.cookies.set("gridmap_token", token)
    try:
        mine = api.get("/maps/grids?problems=false")
    finally:
        api.cookies.clear()
    assert mine.status_code == 200 and mine.headers["cache-control"] == "private, no-store"
    assert "入户走访覆盖" in mine.text and "last_visited" in mine.text

    codes = set(re.findall(r'"grid_code": ?"([0-9]{15})"', mine.text))
    assert codes and all(c.startswith(community) for c in codes)  # stale buildings of the own area only
    resident = auth({"public"}, None, "居民甲")["Authorization"][7:]
    api.cookies.set("gridmap_token", resident)
    try:
        theirs = api.get("/maps/grids?problems=false")
    finally:
        api.cookies.clear()
    assert theirs.status_code == 200 and "last_visited" not in theirs.text


# ----------------------------------------------------------------------------------------- points bank
def _registration(world, **extra) -> dict:
    staff = auth({"grid_staff"}, world["community"], "社区书记")
    body = {"kind": "party_member", "name": "积分测试党员", "community_code": world["community"],
            "grid_code": world["grid"], "phone": "13500002222", **extra}
    r = world["api"].post("/api/v1/volunteers/registrations", json=body, headers=staff)
    assert r.status_code == 201, r.text
    return r.json()


def test_orders_wishes_and_activities_earn_points_once(world):
    api, staff = world["api"], auth({"grid_staff"}, world["community"], "社区书记")
    with world["engine"].begin() as conn:
        person = conn.scalar(text("INSERT INTO people (name, is_party_member, source) "
                                  "VALUES ('积分党员', true, 'test') RETURNING id"))
    reg = _registration(world, person_id=person, display_name="热心党员甲")
    lon, lat = (_scalar(world, f"SELECT ST_{c}(ST_PointOnSurface(geom)) FROM buildings WHERE id = :b",
                        b=world["building"]) for c in "XY")
    order = api.post("/api/v1/orders", json={"lon": lon, "lat": lat, "category": "errand"}).json()
    admin = auth({"admin"}, "", "管理员")
    assert api.post(f"/api/v1/orders/{order['id']}/dispatch", json={"taker_id": person},
                    headers=admin).status_code == 200
    taker = declared_bearer("积分党员", {"party_member"}, world["grid"], person_id=person)
    assert api.post(f"/api/v1/orders/{order['id']}/accept", headers=taker).status_code == 200
    assert api.post(f"/api/v1/orders/{order['id']}/fulfil", headers=taker).status_code == 200
    wish = api.post("/api/v1/wishes", json={"grid_code": world["grid"], "title": "想要一本字典"}).json()
    api.post(f"/api/v1/wishes/{wish['id']}/claim", json={"person_id": person}, headers=admin)
    api.post(f"/api/v1/wishes/{wish['id']}/fulfil", headers=admin)
    points = api.get(f"/api/v1/volunteers/registrations/{reg['id']}/points", headers=staff).json()
    assert points["balance"] == 20 and {e["kind"] for e in points["entries"]} == {"order", "wish"}
    assert all(e["reason"] for e in points["entries"])

    now = dt.datetime.now(dt.timezone.utc)
    act = api.post("/api/v1/volunteers/activities", headers=staff, json={
        "community_code": world["community"], "title": "测试活动", "starts_at": (now - dt.timedelta(hours=1)).isoformat(),
        "ends_at": (now + dt.timedelta(hours=2)).isoformat(), "capacity": 1, "points": 7}).json()
    assert api.post(f"/api/v1/volunteers/activities/{act['id']}/signups", headers=staff,
                    json={"registration_id": reg["id"]}).status_code == 201
    other = _registration(world)
    full = api.post(f"/api/v1/volunteers/activities/{act['id']}/signups", headers=staff,
                    json={"registration_id": other["id"]})
    assert full.status_code == 409 and "名额已满" in full.json()["error"]["message"]
    for _ in range(2):  # attendance taken twice: points once
        r = api.post(f"/api/v1/volunteers/activities/{act['id']}/attendance", headers=staff,
                     json={"attended": [reg["id"]]})
        assert r.status_code == 200
    assert volunteers.balance(world["factory"](), reg["id"]) == 27
    board = api.get(f"/api/v1/volunteers/leaderboard?community={world['community']}").json()["rows"]
    assert "热心党员甲" in [r["display_name"] for r in board]
    assert "积分测试党员" not in str(board) and "13500002222" not in str(board)


def test_the_ledger_never_goes_negative_even_under_racing_redemptions(world):
    api, staff = world["api"], auth({"grid_staff"}, world["community"], "社区书记")
    reg = _registration(world)
    r = api.post(f"/api/v1/volunteers/registrations/{reg['id']}/points", headers=staff,
                 json={"delta": 30, "reason": "补录历史积分"})
    assert r.status_code == 201 and r.json()["balance"] == 30
    assert api.post(f"/api/v1/volunteers/registrations/{reg['id']}/points", headers=staff,
                    json={"delta": 5, "reason": ""}).status_code == 422
    reward = api.post("/api/v1/volunteers/rewards", headers=staff, json={
        "community_code": world["community"], "name": "测试毛巾", "cost": 10, "stock": 100}).json()

    results: list[int] = []
    barrier = threading.Barrier(8)

    def redeem() -> None:  # each thread its own connection and transaction, straight through the layer
        with world["factory"]() as session:
            barrier.wait()
            try:
                volunteers.redeem(session, reward_id=reward["id"], registration_id=reg["id"], actor="race")
                session.commit()
                results.append(1)
            except Exception:
                session.rollback()
                results.append(0)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 3  # 30 points buy exactly three
    assert volunteers.balance(world["factory"](), reg["id"]) == 0
    assert _scalar(world, "SELECT stock FROM rewards WHERE id = :r", r=reward["id"]) == 97
    assert _scalar(world, "SELECT sum(delta) FROM point_entries WHERE registration_id = :r", r=reg["id"]) == 0
    r = api.post(f"/api/v1/volunteers/rewards/{reward['id']}/redemptions", headers=staff,
                 json={"registration_id": reg["id"]})
    assert r.status_code == 409 and "积分不足" in r.json()["error"]["message"]
    with pytest.raises(Exception, match="balance_not_negative|append-only"):  # the database itself refuses
        with world["engine"].begin() as conn:
            conn.execute(text("INSERT INTO point_entries (registration_id, kind, delta, reason, actor) "
                              "VALUES (:r, 'adjust', -1, 'sql', 'sql')"), {"r": reg["id"]})
    with pytest.raises(Exception, match="append-only"):
        with world["engine"].begin() as conn:
            conn.execute(text("UPDATE point_entries SET delta = 1000 WHERE registration_id = :r"), {"r": reg["id"]})


def test_party_members_act_only_on_their_own_registration(world):
    api = world["api"]
    member = auth({"party_member"}, world["grid"], "party-007")
    r = api.post("/api/v1/volunteers/registrations", headers=member, json={
        "kind": "party_member", "name": "自己报到", "community_code": world["community"], "display_name": "小七"})
    assert r.status_code == 201
    mine = r.json()["id"]
    other = _registration(world)["id"]
    assert api.get(f"/api/v1/volunteers/registrations/{mine}/points", headers=member).status_code == 200
    assert api.get(f"/api/v1/volunteers/registrations/{other}/points", headers=member).status_code == 404
    assert api.post("/api/v1/volunteers/registrations", headers=member, json={
        "kind": "organisation", "name": "x", "community_code": world["community"]}).status_code == 403
    assert api.get("/api/v1/volunteers/registrations", headers=member).status_code == 403


# ---------------------------------------------------------------------------------------------- matters
def _a_newer_flag_elsewhere(world) -> None:
    with world["engine"].begin() as conn:
        conn.execute(text("INSERT INTO matter_flags (subject_type, subject_id, community_code, category, state, "
                          "flagged_at) VALUES ('incident', 2147483000, '620302999001', 'market', 'pending', "
                          "now() + interval '1 hour')"))


def test_the_matter_list_and_flags_for_what_falls_outside(world):
    api = world["api"]
    listing = api.get("/api/v1/matters?district=620302").json()
    assert listing["by_kind"] == {"statutory": 12, "assist": 53, "devolved": 36}
    assert all(i["legal_basis"] for i in listing["items"])
    outside = api.get(f"/api/v1/matters/check?community={world['community']}&subject_type=incident"
                      "&category=market").json()
    inside = api.get(f"/api/v1/matters/check?community={world['community']}&subject_type=incident"
                     "&category=sanitation").json()
    assert outside["needs_approval"] and inside["listed"] is True
    lon, lat = (_scalar(world, f"SELECT ST_{c}(ST_PointOnSurface(geom)) FROM buildings WHERE id = :b",
                        b=world["building"]) for c in "XY")
    iid = api.post("/api/v1/incidents", json={"category": "market", "lon": lon, "lat": lat}).json()["incident"]["id"]
    staff = auth({"grid_staff"}, world["community"], "社区")
    flags = api.get("/api/v1/matters/flags?state=pending", headers=staff).json()["flags"]
    flag = next(f for f in flags if f["subject_type"] == "incident" and f["subject_id"] == iid)
    assert flag["category"] == "market" and flag["community_code"] == world["community"]
    elsewhere = auth({"grid_staff"}, "620302999", "别的街道")
    assert api.get("/api/v1/matters/flags", headers=elsewhere).json()["flags"] == []
    _a_newer_flag_elsewhere(world)
    with world["factory"]() as session:  # the limit counts only the caller's flags (filtered in SQL)
        first = area_lists.flags_for(session, Viewer(frozenset({"grid_staff"}), world["community"]), limit=1)
    assert [f["community_code"] for f in first] == [world["community"]]
    assert api.post(f"/api/v1/matters/flags/{flag['id']}/decision", json={"approve": True},
                    headers=staff).status_code == 403  # grid staff see, dispatchers decide
    dispatcher = auth({"dispatcher"}, "", "调度")
    r = api.post(f"/api/v1/matters/flags/{flag['id']}/decision", json={"approve": False, "note": "转市场监管局"},
                 headers=dispatcher)
    assert r.status_code == 200 and r.json()["state"] == "refused"
    assert api.post(f"/api/v1/matters/flags/{flag['id']}/decision", json={"approve": True},
                    headers=dispatcher).status_code == 409
    bad = api.put("/api/v1/matters/620302", headers=auth({"admin"}, "", "a"), json={"items": [
        {"kind": "statutory", "item": "x", "legal_basis": "y"}, {"kind": "statutory", "item": "x", "legal_basis": "y"}]})
    assert bad.status_code == 422 and "重复" in str(bad.json())
    assert api.get("/api/v1/matters?district=620302").json()["count"] == 101  # unchanged
    page = api.get("/matters?district=620302&kind=assist")
    assert page.status_code == 200 and "协助" in page.text and "synthetic" in page.text


def test_a_category_change_is_checked_against_the_list_again(world):
    # the demo's 金川区 list covers sanitation and errands; not market, construction or tutoring
    api = world["api"]
    lon, lat = (_scalar(world, f"SELECT ST_{c}(ST_PointOnSurface(geom)) FROM buildings WHERE id = :b",
                        b=world["building"]) for c in "XY")
    iid = api.post("/api/v1/incidents", json={"category": "sanitation", "lon": lon, "lat": lat}).json()["incident"]["id"]
    oid = api.post("/api/v1/orders", json={"lon": lon, "lat": lat, "category": "errand"}).json()["id"]
    flag = "SELECT state || ':' || category FROM matter_flags WHERE subject_type = :t AND subject_id = :i"

    def recategorise(table: str, row: int, category: str) -> None:
        with world["engine"].begin() as conn:
            conn.execute(text(f"UPDATE {table} SET category = :c WHERE id = :i"), {"c": category, "i": row})

    assert _scalar(world, flag, t="incident", i=iid) is None  # on the list: no flag
    recategorise("incidents", iid, "market")  # reclassified as something the community does not do
    assert _scalar(world, flag, t="incident", i=iid) == "pending:market"
    fid = _scalar(world, "SELECT id FROM matter_flags WHERE subject_type = 'incident' AND subject_id = :i", i=iid)
    assert api.post(f"/api/v1/matters/flags/{fid}/decision", json={"approve": True},
                    headers=auth({"dispatcher"}, "", "调度")).status_code == 200
    recategorise("incidents", iid, "construction")  # approving market does not cover construction
    assert _scalar(world, flag, t="incident", i=iid) == "pending:construction"
    recategorise("incidents", iid, "sanitation")  # back on the list: the pending flag is withdrawn
    assert _scalar(world, flag, t="incident", i=iid) == "withdrawn:construction"
    staff = auth({"grid_staff"}, world["community"], "社区")
    listed = api.get("/api/v1/matters/flags?state=withdrawn", headers=staff).json()["flags"]
    assert [f["state_zh"] for f in listed if f["subject_id"] == iid and f["subject_type"] == "incident"] == \
        ["已撤回（类别改为清单内）"]
    assert _scalar(world, flag, t="order", i=oid) is None
    recategorise("service_orders", oid, "tutoring")
    assert _scalar(world, flag, t="order", i=oid) == "pending:tutoring"


def test_the_civic_staff_desk_and_its_lists(world):
    api, grid, community = world["api"], world["grid"], world["community"]
    assert api.get("/maps/civic").status_code == 401
    away = api.get("/maps/civic", headers={"Accept": "text/html"}, follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"] == "/maps/signin?next=/maps/civic"
    assert api.get("/maps/civic", headers=auth({"planner"}, "", "规划")).status_code == 403
    worker = auth({"grid_staff"}, community, "网格员甲")
    page = api.get("/maps/civic", headers=worker)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page.text)
    assert [re.sub(r' nonce="[^"]+"', "", a) for a in inline] == [' type="importmap"']  # no inline code
    config = json.loads(html.unescape(re.search(r'data-config="([^"]*)"', page.text).group(1)))
    assert config["grids"] and all(g["code"].startswith(community) for g in config["grids"])
    assert {s["code"] for s in config["steps"]} >= {"collecting", "closed"} and config["unit"] == community

    mine = api.get(f"/api/v1/visits/buildings?grid={grid}", headers=worker).json()["buildings"]
    assert any(b["id"] == world["building"] for b in mine) and all(b["households"] > 0 for b in mine)
    assert api.get(f"/api/v1/visits/buildings?grid={grid}", headers=auth({"grid_staff"}, "620302999", "外")
                   ).status_code == 403
    assert api.get("/api/v1/visits/buildings?grid=12", headers=worker).status_code == 422

    act = _scalar(world, "SELECT id FROM volunteer_activities WHERE community_code = :c ORDER BY id LIMIT 1",
                  c=community)
    audited = "SELECT count(*) FROM audit_log WHERE object_type = 'registration' AND action = 'read'"
    before = _scalar(world, audited)
    listed = api.get(f"/api/v1/volunteers/activities/{act}/signups", headers=worker)
    assert listed.status_code == 200 and _scalar(world, audited) == before + 1
    assert api.get(f"/api/v1/volunteers/activities/{act}/signups").status_code == 401
    assert api.get(f"/api/v1/volunteers/activities/{act}/signups",
                   headers=auth({"grid_staff"}, "620302999", "外")).status_code == 403
