"""The seams of dispatch over HTTP (issue 16), on the hand-made plan of this module's own database:

- 包街 takes only the categories its responsibility covers (configurable per street); Open311 names the right agency;
- every escalation level has a named receiver (kept as data), or the incident waits in an explicit 待人工派遣 queue
  that the queue shows first; ``escalate-overdue`` says why it did not escalate;
- KPIs over every incident reported, rows always named;
- the queue by scope (filters and sorting in SQL), the dry run of a report, the people an incident may go to.
"""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers import models as m
from layers.incidents_models import IncidentDetail
from tests import incident_fixtures as IF
from tests import locate_fixtures as F

DISPATCH = IF.auth("dispatcher", sub="调度员甲")
WORKER_G1 = IF.auth("grid_staff", scope=F.G1, sub="网格员张")
WORKER_B = IF.auth("grid_staff", scope=F.COMMUNITY_B, sub="网格员B")


@pytest.fixture(scope="module")
def ids(module_sessionmaker):
    return IF.load(module_sessionmaker)


@pytest.fixture(scope="module")
def client(module_db, ids):
    settings = Settings(api=ApiSettings(environment="test", secret_key=IF.SECRET, public_rate_per_min=0), db=module_db)
    with TestClient(create_app(settings)) as c:
        yield c


def post(client, pt, category, headers=None, **kw):
    r = client.post("/api/v1/incidents", json={"category": category, "lon": pt[0], "lat": pt[1], **kw},
                    headers=headers or {})
    assert r.status_code == 201, r.text
    return r.json()


def act(client, iid, action, headers=DISPATCH, **kw):
    return client.post(f"/api/v1/incidents/{iid}/transitions", json={"action": action, **kw}, headers=headers)


def age(factory, iid, *, hours: float) -> None:
    """Move an incident's report and deadline ``hours`` into the past."""
    with factory() as s:
        s.execute(m.Incident.__table__.update().where(m.Incident.id == iid).values(
            created_at=func.now() - dt.timedelta(hours=hours), due_at=func.now() - dt.timedelta(hours=hours / 2)))
        s.commit()


# ------------------------------------------------------------------------------------------------- 包街
@pytest.mark.parametrize(("category", "to_unit"), [("sanitation", True), ("street_order", True),
                                                   ("public_security", False), ("traffic", False),
                                                   ("dispute", False), ("market", False)])
def test_street_unit_only_for_the_categories_it_covers(client, category, to_unit):
    body = post(client, F.ON_STREET, category)
    d = body["incident"]["dispatch"]
    assert body["assignment"]["method"] == "street_responsibility"  # the point is on the street either way
    if to_unit:
        assert (d["unit"], d["rule"]) == ("市政工程公司", "street_unit")
    else:
        assert d["unit"] is None and d["rule"] != "street_unit" and "不负责" in d["reason"]
    iid = body["incident"]["id"]
    o311 = client.get(f"/open311/v2/requests/{iid}.json").json()[0]
    assert (o311["agency_responsible"] == "市政工程公司") is to_unit


def test_street_categories_are_configured_per_street(client, module_sessionmaker):
    with module_sessionmaker() as s:
        sid = s.scalar(select(m.StreetResponsibility.id).where(m.StreetResponsibility.street_name == "新华路"))
    assert post(client, F.ON_STREET, "road_damage")["incident"]["dispatch"]["rule"] != "street_unit"
    bad = client.put(f"/api/v1/street-responsibility/{sid}", headers=DISPATCH,
                     json={"responsible_unit": "市政工程公司", "categories": ["road_damage", "ufo"]})
    assert bad.status_code == 422 and "ufo" in bad.text
    r = client.put(f"/api/v1/street-responsibility/{sid}", headers=DISPATCH,
                   json={"responsible_unit": "市政工程公司", "categories": ["road_damage"]})
    assert r.status_code == 200 and r.json()["categories"] == ["road_damage"]
    west, east = (102.1915, 38.5011), (102.1975, 38.5011)  # on the street, > 50 m from the earlier reports
    try:
        assert post(client, west, "road_damage")["incident"]["dispatch"]["unit"] == "市政工程公司"
        assert post(client, east, "sanitation")["incident"]["dispatch"]["unit"] is None  # not on its list
    finally:
        client.put(f"/api/v1/street-responsibility/{sid}", headers=DISPATCH, json={"responsible_unit": "市政工程公司"})


# ------------------------------------------------------------------------------------------- escalation
def test_every_level_has_a_named_receiver(client, ids):
    iid = post(client, F.IN_G1, "sanitation")["incident"]["id"]
    names = []
    for _ in range(3):
        r = act(client, iid, "escalate")
        assert r.status_code == 200, r.text
        one = r.json()
        assert one["assignee"] is not None and one["manual"] is False
        names.append((one["level"], one["assignee"]["name"]))
    assert names == [("community", "孙值班"), ("street", "周综治"), ("district", "吴城管")]
    ev = client.get(f"/api/v1/incidents/{iid}/events", headers=DISPATCH).json()
    assert "吴城管" in ev[-1]["note"] and ev[-1]["level_zh"] == "区/部门"
    rec = client.get("/api/v1/incidents/escalation-receivers", headers=DISPATCH).json()
    assert {r["name"] for r in rec["items"]} >= {"孙值班", "周综治", "吴城管", "郑总值班"}
    assert all("phone" not in r for r in rec["items"])  # published phones only
    # community B has grids nowhere and no receivers of its own: not a gap of the plan's grids
    assert all(g["area_code"] != F.COMMUNITY_A for g in rec["gaps"])


def test_no_receiver_means_the_manual_queue_shown_first(client, module_sessionmaker):
    iid = post(client, F.IN_COMMUNITY_B, "sanitation")["incident"]["id"]
    with module_sessionmaker() as s:  # an area (another county) with no receiver at any level
        s.execute(IncidentDetail.__table__.update().where(IncidentDetail.incident_id == iid)
                  .values(community_code="620321009001"))
        s.commit()
    one = act(client, iid, "escalate").json()
    assert (one["level"], one["assignee"], one["manual"]) == ("street", None, True)
    q = client.get("/api/v1/incidents/queue", headers=DISPATCH).json()
    assert q["items"][0]["id"] == iid and q["items"][0]["manual"] and q["manual"] >= 1
    manual = client.get("/api/v1/incidents/queue", params={"manual": True}, headers=DISPATCH).json()
    assert iid in [x["id"] for x in manual["items"]] and all(x["manual"] for x in manual["items"])
    # nobody serves that area: no candidate to pick (the workbench says so)
    assert client.get(f"/api/v1/incidents/{iid}/candidates", headers=DISPATCH).json() == []
    with module_sessionmaker() as s:  # back in community B: its own staff may take it
        s.execute(IncidentDetail.__table__.update().where(IncidentDetail.incident_id == iid)
                  .values(community_code=F.COMMUNITY_B))
        s.commit()
    # the dispatcher gives it to a named person by hand: it leaves the manual queue
    cands = client.get(f"/api/v1/incidents/{iid}/candidates", headers=DISPATCH).json()
    person = cands[0]["person_id"]
    assert cands[0]["name"] in ("李社区", "周综治")
    assert act(client, iid, "dispatch", assignee_id=person).json()["assignee"]["person_id"] == person
    manual = client.get("/api/v1/incidents/queue", params={"manual": True}, headers=DISPATCH).json()
    assert iid not in [x["id"] for x in manual["items"]]


def test_escalate_overdue_says_why_not(client, module_sessionmaker):
    waiting = post(client, F.IN_G1, "emergency")["incident"]["id"]
    for action, who in (("register", DISPATCH), ("dispatch", DISPATCH), ("handle", WORKER_G1),
                        ("feedback", WORKER_G1)):
        assert act(client, waiting, action, headers=who).status_code == 200
    top = post(client, F.IN_G2, "market")["incident"]["id"]
    for _ in range(3):
        act(client, top, "escalate")
    late = post(client, F.IN_G2, "emergency")["incident"]["id"]
    for iid in (waiting, top, late):
        age(module_sessionmaker, iid, hours=6)
    out = client.post("/api/v1/incidents/escalate-overdue", headers=DISPATCH).json()
    items = {x["id"]: x for x in out["items"]}
    assert items[waiting]["escalated"] is False and "核查" in items[waiting]["reason"]
    assert items[top]["escalated"] is False and "最高层级" in items[top]["reason"]
    assert items[late]["escalated"] is True and items[late]["receiver"]["name"] == "孙值班"
    assert out["not_escalated"] >= 2 and all(x["reason"] for x in out["items"])


# ------------------------------------------------------------------------------------------------- KPIs
COUNTED_BY_HAND = """
SELECT coalesce(d.street_code, substr(i.grid_code, 1, 9) || '000') AS street, count(*) AS total,
       count(*) FILTER (WHERE i.state <> 'closed') AS open,
       count(*) FILTER (WHERE i.state <> 'closed' AND i.due_at < now()) AS overdue_open,
       count(*) FILTER (WHERE i.state = 'closed' AND i.level IN ('grid', 'community')) AS closed_low_level,
       count(*) FILTER (WHERE i.level IN ('street', 'district')
                           OR (i.level = 'community' AND i.grid_code IS NOT NULL)) AS escalated
FROM incidents i LEFT JOIN incident_details d ON d.incident_id = i.id
WHERE d.duplicate_of IS NULL GROUP BY 1"""


def test_kpis_over_every_report_and_every_row_named(client, module_sessionmaker):
    post(client, F.FAR, "other")  # outside every community
    closed = post(client, (F.IN_G1[0] - 0.003, F.IN_G1[1] - 0.001), "other")["incident"]["id"]
    for action, who in (("register", DISPATCH), ("dispatch", DISPATCH), ("handle", WORKER_G1),
                        ("feedback", WORKER_G1), ("verify", DISPATCH), ("close", DISPATCH)):
        assert act(client, closed, action, headers=who).status_code == 200
    k = client.get("/api/v1/incidents/kpis", params={"by": "street"}).json()
    with module_sessionmaker() as s:  # the same figures counted by hand, every incident of this database
        by_hand = {r.street: r._asdict() for r in s.execute(text(COUNTED_BY_HAND))}
    for r in k["rows"]:
        want = by_hand[r["street"]]
        assert {c: r[c] for c in want if c != "street"} == {c: v for c, v in want.items() if c != "street"}, r
    assert len(k["rows"]) == len(by_hand) and sum(r["escalated"] for r in k["rows"]) >= 1
    assert all(r["name"] for r in k["rows"]) and "000" not in [r["street"] for r in k["rows"]]
    nowhere = next(r for r in k["rows"] if r["street"] is None)
    assert "未定位" in nowhere["name"]
    for r in k["rows"]:
        assert r["low_level_rate"] == round(r["closed_low_level"] / r["total"], 4)
        assert r["meets_target"] == (r["low_level_rate"] >= 0.8)
        assert {"open", "overdue_open", "escalated"} <= set(r)
    o = k["overall"]
    assert o["total"] == sum(r["total"] for r in k["rows"]) and o["low_level_rate"] < 0.8  # mostly open here
    by_grid = client.get("/api/v1/incidents/kpis", params={"by": "grid"}).json()["rows"]
    assert all(r["name"] for r in by_grid) and any(r["grid"] is None for r in by_grid)


# ------------------------------------------------------------------------------------------------ queue
def test_queue_filters_sorts_and_scopes(client, module_sessionmaker):
    fresh = post(client, F.IN_G1, "cable_mess", headers=DISPATCH, channel="hotline_12345")["incident"]["id"]
    old = post(client, (F.IN_G1[0] + 0.003, F.IN_G1[1] + 0.004), "advertising")["incident"]["id"]
    age(module_sessionmaker, old, hours=200)
    over = client.get("/api/v1/incidents/queue", params={"overdue": True, "limit": 500}, headers=DISPATCH).json()
    assert over["items"] and all(x["overdue"] for x in over["items"]) and old in [x["id"] for x in over["items"]]
    assert over["count"] == over["overdue"] == len(over["items"])
    chan = client.get("/api/v1/incidents/queue", params={"channel": "hotline_12345"}, headers=DISPATCH).json()
    assert [x["id"] for x in chan["items"]] == [fresh] and chan["items"][0]["channel_zh"] == "12345热线"
    cat = client.get("/api/v1/incidents/queue", params={"category": "蜘蛛网线", "sort": "newest"},
                     headers=DISPATCH).json()
    assert {x["category"] for x in cat["items"]} == {"cable_mess"}
    newest = client.get("/api/v1/incidents/queue", params={"sort": "newest", "manual": False},
                        headers=DISPATCH).json()["items"]
    assert [x["created_at"] for x in newest] == sorted([x["created_at"] for x in newest], reverse=True)
    urgent = client.get("/api/v1/incidents/queue", params={"manual": False, "limit": 500},
                        headers=DISPATCH).json()["items"]
    dues = [x["due_at"] for x in urgent if x["due_at"]]
    assert dues == sorted(dues)
    # a grid worker sees their grid only; a sibling community's worker sees none of it
    mine = client.get("/api/v1/incidents/queue", params={"limit": 500}, headers=WORKER_G1).json()["items"]
    assert mine and {x["grid"]["code"] for x in mine} == {F.G1}
    other = client.get("/api/v1/incidents/queue", params={"grid": F.G1}, headers=WORKER_B).json()
    assert other["count"] == 0
    # no personal data in the queue
    assert "reporter" not in str(urgent) and "phone" not in str(urgent)


@pytest.mark.parametrize(("params", "needle"), [({"state": "flying"}, "未知状态"), ({"category": "ufo"}, "类别"),
                                                ({"channel": "pigeon"}, "渠道"), ({"sort": "random"}, "sort"),
                                                ({"grid": "6203"}, "grid"), ({"crs": "mars"}, "坐标系")])
def test_queue_refuses_bad_filters(client, params, needle):
    r = client.get("/api/v1/incidents/queue", params=params, headers=DISPATCH)
    assert r.status_code == 422 and needle in r.json()["error"]["message"]


def test_queue_and_workbench_calls_need_staff(client):
    assert client.get("/api/v1/incidents/queue").status_code == 401
    assert client.get("/api/v1/incidents/queue", headers=IF.auth("planner")).status_code == 403
    assert client.get("/api/v1/incidents/1/candidates", headers=WORKER_G1).status_code == 403


# --------------------------------------------------------------------------------- preview and dispatch
def test_preview_is_the_answer_of_a_report_with_nothing_stored(client, module_sessionmaker):
    def n() -> int:
        with module_sessionmaker() as s:
            return s.scalar(select(func.count()).select_from(m.Incident))

    body = {"category": "legal", "lon": 102.1945, "lat": 38.5011, "channel": "phone"}  # on 新华路
    before = n()
    pre = client.post("/api/v1/incidents/preview", json=body, headers=DISPATCH)
    assert pre.status_code == 200 and n() == before
    real = client.post("/api/v1/incidents", json=body, headers=DISPATCH).json()
    p, r = pre.json(), real
    for k in ("grid", "community", "street_responsibility", "responsible", "plan", "assignment", "point"):
        assert p[k] == r[k], k
    assert p["incident"]["dispatch"] == r["incident"]["dispatch"]
    assert p["incident"]["dispatch"]["name"] == "赵法律" and "不负责" in p["incident"]["dispatch"]["reason"]
    again = client.post("/api/v1/incidents/preview", json=body, headers=DISPATCH).json()
    assert real["incident"]["id"] in [d["id"] for d in again["incident"]["duplicates"]]
    assert again["incident"]["duplicate_of"] == real["incident"]["id"]
    assert client.post("/api/v1/incidents/preview", json=body).status_code == 401


def test_channels_are_staff_business(client):
    body = {"category": "sanitation", "lon": F.IN_G1[0], "lat": F.IN_G1[1]}
    assert client.post("/api/v1/incidents", json={**body, "channel": "phone"}).status_code == 403
    assert client.post("/api/v1/incidents", json={**body, "channel": "demo"}, headers=DISPATCH).status_code == 422
    assert client.post("/api/v1/incidents", json={**body, "channel": "app"}).status_code == 201
    iid = client.post("/api/v1/incidents", json={**body, "channel": "来访"}, headers=DISPATCH).json()["incident"]["id"]
    assert client.get(f"/api/v1/incidents/{iid}", headers=DISPATCH).json()["channel"] == "visit"


def test_dispatch_and_reassign_only_to_people_of_the_incident(client, ids):
    iid = post(client, F.IN_G1, "health")["incident"]["id"]
    cands = client.get(f"/api/v1/incidents/{iid}/candidates", headers=DISPATCH).json()
    by_name = {c["name"]: c for c in cands}
    assert cands[0]["suggested"] and cands[0]["name"] == "王格长"  # no health worker in G1: its grid head
    assert {"张网格", "王格长"} <= set(by_name) and "赵法律" not in by_name  # 赵法律 serves G2
    assert act(client, iid, "register").status_code == 200
    r = act(client, iid, "dispatch", assignee_id=ids["赵法律"])
    assert r.status_code == 422 and "不是此事件" in r.json()["error"]["message"]
    assert act(client, iid, "dispatch", assignee_id=999_999).status_code == 422
    assert act(client, iid, "dispatch", assignee_id=ids["张网格"]).json()["assignee"]["name"] == "张网格"
    staff_view = client.get(f"/api/v1/incidents/{iid}", headers=WORKER_G1).json()
    assert "reassign" not in staff_view["allowed_actions"] and "handle" in staff_view["allowed_actions"]
    assert "reassign" in client.get(f"/api/v1/incidents/{iid}", headers=DISPATCH).json()["allowed_actions"]
    assert act(client, iid, "reassign", headers=WORKER_G1, assignee_id=ids["王格长"]).status_code == 403
    assert act(client, iid, "reassign").status_code == 422  # needs the new person
    moved = act(client, iid, "reassign", assignee_id=ids["王格长"]).json()
    assert (moved["state"], moved["assignee"]["name"]) == ("dispatched", "王格长")
    assert "王格长" in client.get(f"/api/v1/incidents/{iid}/events", headers=DISPATCH).json()[-1]["note"]


def test_places_search(client):
    r = client.get("/api/v1/incidents/places", params={"q": "金水里一"}, headers=DISPATCH).json()
    assert r["items"][0]["kind"] == "grid" and r["items"][0]["detail"] == F.G1
    assert client.get("/api/v1/incidents/places", params={"q": "新华"}, headers=DISPATCH).json()["items"][0][
        "kind"] == "street"
    assert client.get("/api/v1/incidents/places", params={"q": "%_%"}, headers=DISPATCH).json()["items"] == []
    assert client.get("/api/v1/incidents/places", params={"q": ""}, headers=DISPATCH).status_code == 422


def test_other_areas_and_odd_input_are_refused(client, module_sessionmaker):
    iid = post(client, F.IN_G1, "other")["incident"]["id"]
    elsewhere = IF.auth("dispatcher", scope=F.COMMUNITY_B, sub="调度员B")  # a dispatcher of community B only
    assert client.get(f"/api/v1/incidents/{iid}/candidates", headers=elsewhere).status_code == 403
    assert act(client, iid, "register", headers=elsewhere).status_code == 403
    assert iid not in [x["id"] for x in client.get("/api/v1/incidents/queue", params={"limit": 500},
                                                    headers=elsewhere).json()["items"]]
    for body, status in (({"action": "dispatch", "assignee_id": -3}, 422),
                         ({"action": "dispatch", "assignee_id": "张网格"}, 422), ({"action": "fly"}, 422),
                         ({"action": "postpone", "hours": 1e9}, 409)):  # 上报: not postponable at all
        r = client.post(f"/api/v1/incidents/{iid}/transitions", json=body, headers=DISPATCH)
        assert r.status_code == status, (body, r.text)
    for params in ({"limit": 501}, {"offset": -1}, {"grid": "62030200400100x"}):
        assert client.get("/api/v1/incidents/queue", params=params, headers=DISPATCH).status_code == 422
    bad = client.post("/api/v1/incidents/preview", json={"category": "other", "lon": "x", "lat": 38.5},
                      headers=DISPATCH)
    assert bad.status_code == 422
    with module_sessionmaker() as s:
        from layers.incidents import load

        assert load(s, iid)[0].state == "reported"  # nothing of the above changed it


# ------------------------------------------------------------------------------------- postpone to a deadline
def test_postpone_to_a_new_deadline(client, module_sessionmaker):
    iid = post(client, (F.IN_G1[0] - 0.002, F.IN_G1[1] + 0.006), "other")["incident"]["id"]
    for action in ("register", "dispatch"):
        assert act(client, iid, action).status_code == 200
    with module_sessionmaker() as s:
        due = s.get(m.Incident, iid).due_at
    china = dt.timezone(dt.timedelta(hours=8))
    wanted = (due + dt.timedelta(days=2)).astimezone(china).replace(hour=18, minute=30, second=0, microsecond=0)

    def refused(body, status=422):
        r = client.post(f"/api/v1/incidents/{iid}/transitions", json=body, headers=WORKER_G1)
        assert r.status_code == status, (body, r.text)
        return r.json()["error"]["message"]

    assert "晚于当前时限" in refused({"action": "postpone", "due_at": (due - dt.timedelta(hours=1)).isoformat()})
    assert "晚于当前时限" in refused({"action": "postpone", "due_at": (due + dt.timedelta(days=31)).isoformat()})
    assert "时区" in refused({"action": "postpone", "due_at": wanted.replace(tzinfo=None).isoformat()})
    assert "只用于延期" in refused({"action": "postpone", "due_at": wanted.isoformat(), "hours": 5})
    assert "只用于延期" in refused({"action": "handle", "due_at": wanted.isoformat()})
    assert refused({"action": "postpone", "due_at": "next tuesday"}) and refused({"action": "postpone"})
    with module_sessionmaker() as s:
        assert (s.get(m.Incident, iid).state, s.get(m.Incident, iid).due_at) == ("dispatched", due)  # unchanged
    r = act(client, iid, "postpone", headers=WORKER_G1, due_at=wanted.isoformat(), note="等待配件")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "postponed" and dt.datetime.fromisoformat(r.json()["due_at"]) == wanted
    with module_sessionmaker() as s:
        assert s.get(m.Incident, iid).due_at == wanted  # exactly the deadline asked for
    note = client.get(f"/api/v1/incidents/{iid}/events", headers=DISPATCH).json()[-1]["note"]
    assert "等待配件" in note and "新时限" in note
    # from 延期 only 处置, 改派 or 上报: another 延期 is a conflict, not a silent change
    assert "不能「延期」" in refused({"action": "postpone", "due_at": (wanted + dt.timedelta(days=1)).isoformat()}, 409)
