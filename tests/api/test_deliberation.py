"""六步议事 through the API on a copy of the demo: a resident's topic from the public form through the six steps,
a meeting drawn from the council with a vote and its quorum, the public notice, follow-up tasks whose closure
closes the topic (the database trigger, whoever closes the incident), suggestions from incident clusters, and
what is refused (bad links, votes beyond those present, other communities, anonymous callers)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.auth import Principal, issue_token
from api.settings import ApiSettings, Settings
from layers.db import make_engine
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declared_bearer

SECRET = TEST_SECRET
PROPOSER, PHONE = "议题测试王五", "13600001111"


def auth(roles, scope, sub=None):
    return declared_bearer(sub, roles, scope)


@pytest.fixture(scope="module")
def world(module_demo_db):
    eng = make_engine(module_demo_db, pool_size=2, max_overflow=2)
    with eng.connect() as conn:
        community, lon, lat = conn.execute(text(
            "SELECT g.community_code, ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)) "
            "FROM grids g JOIN council_members c ON c.community_code = g.community_code "
            "WHERE g.plan_id = (SELECT id FROM grid_plans WHERE status = 'published') AND g.kind = 'comprehensive' "
            "ORDER BY g.code LIMIT 1")).one()
        other = conn.scalar(text("SELECT code FROM admin_areas WHERE level = 'community' AND code <> :c "
                                 "ORDER BY code LIMIT 1"), {"c": community})
    settings = Settings(api=ApiSettings(environment="test", secret_key=SECRET, public_rate_per_min=0),
                        db=module_demo_db)
    with TestClient(create_app(settings)) as client, accounts_in(client.app.state.sessionmaker):
        yield {"api": client, "community": community, "other": other, "lon": lon, "lat": lat, "engine": eng}
    eng.dispose()


def _staff(world):
    return auth({"grid_staff"}, world["community"], "社区书记")


def _propose(world) -> dict:
    r = world["api"].post("/api/v1/deliberation/topics", json={
        "title": "小区南门路灯不亮", "description": "晚上出行不便", "lon": world["lon"], "lat": world["lat"],
        "proposer_name": PROPOSER, "proposer_phone": PHONE, "origin": "grid_staff", "incident_ids": [1]})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_resident_topic_goes_through_the_six_steps_to_a_public_notice(world):
    api, staff = world["api"], _staff(world)
    topic = _propose(world)
    assert topic["origin"] == "resident" and topic["step"] == "collecting"  # the public cannot claim another origin
    assert topic["community_code"] == world["community"] and topic["incident_ids"] == []
    assert PROPOSER not in str(topic) and PHONE not in str(topic)
    tid = topic["id"]
    assert api.get(f"/api/v1/deliberation/topics/{tid}").json()["steps"][0]["actor"] == "居民"
    private = api.get(f"/api/v1/deliberation/topics/{tid}", headers=staff).json()
    assert private["proposer_phone"] == PHONE

    assert api.post(f"/api/v1/deliberation/topics/{tid}/steps", json={"step": "accepted"}).status_code == 401
    bad = api.post(f"/api/v1/deliberation/topics/{tid}/steps", json={"step": "deliberating"}, headers=staff)
    assert bad.status_code == 409 and "确定议题" in bad.json()["error"]["message"]  # steps are not skipped
    for step in ("accepted", "researching", "deliberating"):
        r = api.post(f"/api/v1/deliberation/topics/{tid}/steps", json={"step": step, "note": step}, headers=staff)
        assert r.status_code == 200, r.text
    early = api.post(f"/api/v1/deliberation/topics/{tid}/steps", json={"step": "publicised"}, headers=staff)
    assert early.status_code == 409  # no vote yet

    link = api.post(f"/api/v1/deliberation/topics/{tid}/attachments",
                    json={"title": "现场照片", "url": "https://example.org/photos/1"}, headers=staff)
    assert link.status_code == 201
    for url in ("javascript:alert(1)", "data:text/html,<b>x</b>", "file:///etc/passwd", "https://u:p@x.org/"):
        r = api.post(f"/api/v1/deliberation/topics/{tid}/attachments", json={"title": "x", "url": url},
                     headers=staff)
        assert r.status_code == 422 and "链接" in r.json()["error"]["message"], url

    members = api.get(f"/api/v1/deliberation/councils/{world['community']}/members", headers=staff).json()["members"]
    groups = [m["group"] for m in members]
    assert groups.count("1") == 1 and groups.count("7") >= 7 and "X" in groups
    ids = [m["id"] for m in members]
    meeting = api.post("/api/v1/deliberation/meetings", headers=staff, json={
        "community_code": world["community"], "title": "路灯议事会", "held_on": dt.date.today().isoformat(),
        "member_ids": ids, "absent_ids": ids[:3]}).json()
    present = len(ids) - 3
    assert meeting["quorum"] == len(ids) // 2 + 1 and meeting["present"] == present

    too_many = api.post(f"/api/v1/deliberation/meetings/{meeting['id']}/votes", headers=staff, json={
        "topic_id": tid, "votes_for": present, "votes_against": 1, "votes_abstain": 0})
    assert too_many.status_code == 422 and "多于到会人数" in too_many.json()["error"]["message"]
    r = api.post(f"/api/v1/deliberation/meetings/{meeting['id']}/votes", headers=staff, json={
        "topic_id": tid, "votes_for": present - 1, "votes_against": 1, "votes_abstain": 0,
        "decision": "由物业三日内修复路灯"})
    assert r.status_code == 201 and r.json()["passed"] and r.json()["quorate"]
    item = r.json()["id"]
    again = api.post(f"/api/v1/deliberation/meetings/{meeting['id']}/votes", headers=staff, json={
        "topic_id": tid, "votes_for": 1, "votes_against": 0, "votes_abstain": 0})
    assert again.status_code == 409
    assert api.get(f"/api/v1/deliberation/notices/{item}").status_code == 404  # not publicised yet

    r = api.post(f"/api/v1/deliberation/topics/{tid}/steps", json={"step": "publicised"}, headers=staff)
    assert r.status_code == 200 and r.json()["step"] == "publicised"
    notice = api.get(f"/api/v1/deliberation/notices/{item}").json()
    assert notice["result_zh"] == "通过" and notice["item"]["votes_for"] == present - 1
    assert notice["item"]["notice_until"] and sum(p["count"] for p in notice["present_by_role"]) == present
    page = api.get(f"/deliberation/notices/{item}")
    assert page.status_code == 200 and "由物业三日内修复路灯" in page.text and PROPOSER not in page.text


def test_follow_up_tasks_close_the_topic_when_their_incident_closes(world):
    api, staff, eng = world["api"], _staff(world), world["engine"]
    topic = _propose(world)
    tid = topic["id"]
    with eng.begin() as conn:  # fast-forward to 公开公示 through the same rules (the vote is above)
        conn.execute(text("UPDATE topics SET step = 'publicised' WHERE id = :t"), {"t": tid})
    inc = api.post("/api/v1/incidents", json={"category": "city_appearance", "lon": world["lon"],
                                              "lat": world["lat"], "description": "路灯"}).json()
    iid = inc["incident"]["id"]
    r = api.post(f"/api/v1/deliberation/topics/{tid}/tasks", json={"title": "修路灯", "incident_id": iid},
                 headers=staff)
    assert r.status_code == 201, r.text
    assert api.post(f"/api/v1/deliberation/topics/{tid}/tasks", json={"title": "x", "incident_id": iid},
                    headers=staff).status_code == 409
    assert api.post(f"/api/v1/deliberation/topics/{tid}/tasks", json={"title": "x", "incident_id": 2**31 - 1},
                    headers=staff).status_code == 404
    api.post(f"/api/v1/deliberation/topics/{tid}/steps", json={"step": "implementing"}, headers=staff)
    early = api.post(f"/api/v1/deliberation/topics/{tid}/steps", json={"step": "closed"}, headers=staff)
    assert early.status_code == 409  # the task is open

    admin = auth({"admin"}, "", "调度")
    for action in ("register", "dispatch", "handle", "feedback", "verify", "close"):
        r = api.post(f"/api/v1/incidents/{iid}/transitions", json={"action": action}, headers=admin)
        assert r.status_code == 200, (action, r.text)
    closed = api.get(f"/api/v1/deliberation/topics/{tid}").json()
    assert closed["step"] == "closed" and closed["tasks"][0]["done"]
    assert closed["steps"][-1]["actor"] == "系统" and closed["steps"][-1]["from"] == "implementing"


def test_scope_and_odd_input_are_refused(world):
    api = world["api"]
    outsider = auth({"grid_staff"}, world["other"], "别的社区")
    tid = _propose(world)["id"]
    r = api.post(f"/api/v1/deliberation/topics/{tid}/steps", json={"step": "accepted"}, headers=outsider)
    assert r.status_code == 403
    assert "proposer_phone" not in api.get(f"/api/v1/deliberation/topics/{tid}", headers=outsider).json()
    assert api.get(f"/api/v1/deliberation/councils/{world['community']}/members", headers=outsider).status_code == 403
    for body in ({"title": ""}, {"title": "x", "lon": 102.2}, {"title": "x", "lon": 500, "lat": 38},
                 {"title": "x"}, {"title": "x", "community_code": "abc"}, {"title": "x" * 201, "lon": 1, "lat": 1}):
        r = api.post("/api/v1/deliberation/topics", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["message"]
    assert api.post("/api/v1/deliberation/topics", json={"title": "x", "lon": 116.4, "lat": 39.9}).status_code == 422
    assert api.get("/api/v1/deliberation/topics/999999").status_code == 404
    assert api.get("/api/v1/deliberation/topics?step=nonsense").status_code == 422
    forged = {"Authorization": "Bearer " + issue_token(Principal("x"), "a-wrong-secret-that-is-long-enough-0123456789")}
    assert api.post(f"/api/v1/deliberation/topics/{tid}/steps", json={"step": "accepted"},
                    headers=forged).status_code == 401


def test_map_layer_and_cluster_suggestions(world):
    api, staff, eng = world["api"], _staff(world), world["engine"]
    layer = api.get(f"/api/v1/deliberation/topics?format=geojson&unit={world['community']}").json()
    assert layer["type"] == "FeatureCollection" and layer["features"]
    steps = {f["properties"]["step"] for f in layer["features"]}
    assert len(steps) >= 4  # the demo has topics in many steps
    assert all(f["geometry"]["type"] == "Point" for f in layer["features"] if f["geometry"])
    assert "proposer_name" not in str(layer)

    for k in range(5):  # five reports of the same problem within a few metres
        r = api.post("/api/v1/incidents", json={"category": "cable_mess", "lon": world["lon"] + k * 0.0002,
                                                "lat": world["lat"], "description": f"飞线 {k}"})
        assert r.status_code in (200, 201), r.text
    found = api.get("/api/v1/deliberation/suggestions?days=1&radius_m=100&min_incidents=4", headers=staff).json()
    cluster = [s for s in found["suggestions"] if s["category"] == "cable_mess"]
    assert cluster and cluster[0]["n"] >= 4 and "蜘蛛网线" in cluster[0]["title"]
    elsewhere = auth({"grid_staff"}, "620302999", "别的街道")
    assert api.get("/api/v1/deliberation/suggestions?days=1&radius_m=100&min_incidents=4",
                   headers=elsewhere).json()["suggestions"] == []
    r = api.post("/api/v1/deliberation/topics", headers=staff, json={
        "title": cluster[0]["title"], "lon": cluster[0]["lon"], "lat": cluster[0]["lat"],
        "origin": "incident_cluster", "incident_ids": cluster[0]["incident_ids"]})
    assert r.status_code == 201 and r.json()["origin"] == "incident_cluster"
    again = api.get("/api/v1/deliberation/suggestions?days=1&radius_m=100&min_incidents=4", headers=staff).json()
    assert not [s for s in again["suggestions"] if s["category"] == "cable_mess"]  # taken up now
    assert api.get("/api/v1/deliberation/suggestions?radius_m=1", headers=staff).status_code == 422
    with eng.connect() as conn:
        audited = conn.scalar(text("SELECT count(*) FROM audit_log WHERE object_type = 'topic_proposer'"))
    assert audited >= 1
