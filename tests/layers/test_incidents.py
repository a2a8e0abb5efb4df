"""Incidents in PostGIS: intake, dispatch, duplicates, idempotency, lifecycle, overdue, escalation, KPIs."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from gis import incidents as R
from gis.errors import Forbidden, InvalidCoordinates, InvalidInput, UnknownCRS
from layers import incident_flow as flow
from layers import incident_kpis
from layers import incidents as inc
from layers import locate as loc
from layers import models as m
from layers.incidents_models import IncidentDetail
from tests import incident_fixtures as IF
from tests import locate_fixtures as F

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)
DISPATCHER = frozenset({"dispatcher"})
STAFF = frozenset({"grid_staff"})


@pytest.fixture(scope="module")
def db(module_sessionmaker):
    return {"factory": module_sessionmaker, **IF.load(module_sessionmaker)}


@pytest.fixture
def s(db):
    with db["factory"]() as session:
        yield session
        session.rollback()


def report(s, pt, category="sanitation", *, now=T0, key=None, **kw):
    body = {"category": category, "lon": pt[0], "lat": pt[1], **kw}
    return inc.create_incident(s, body, idempotency_key=key, now=now, actor="test")


def count(s) -> int:
    return s.scalar(select(func.count()).select_from(m.Incident))


def test_intake_stores_point_crs_plan_assignment_and_dispatches_by_category(s, db):
    ans, replayed, iid = report(s, F.IN_G1, reporter_name="刘居民", reporter_phone="13812345678",
                                description="楼下垃圾三天未清运")
    assert not replayed
    assert ans["grid"]["code"] == F.G1 and ans["plan"]["generation"] == 1
    i = ans["incident"]
    assert i["state"] == "reported" and i["level"] == "grid" and i["status"] == "open"
    assert i["dispatch"]["name"] == "张网格" and i["dispatch"]["role"] == "grid_worker"
    assert i["due_at"] == (T0 + dt.timedelta(hours=24)).isoformat()
    row, det = inc.load(s, iid)
    assert (row.original_lon, row.original_lat, row.original_crs) == (F.IN_G1[0], F.IN_G1[1], "wgs84")
    assert row.plan_id == db["plan_id"] and row.grid_code == F.G1
    assert row.assignment["method"] == "grid" and row.assignee_id == db["张网格"]
    assert row.reporter_phone == "13812345678"
    assert det.community_code == F.COMMUNITY_A and det.street_code == "620302004000"
    assert "13812345678" not in str(ans)  # the answer never echoes personal data
    ev = inc.events(s, iid)
    assert [(e["from_state"], e["to_state"], e["actor"]) for e in ev] == [(None, "reported", "test")]


def test_intake_answers_like_locate(s):
    lon, lat = F.ON_SHARED_BORDER
    ans, _, _ = report(s, (lon, lat), accuracy_m=600)
    direct = loc.locate(s, lon, lat, accuracy_m=600)
    for k in ("input", "point", "grid", "community", "street_responsibility", "responsible", "plan", "assignment"):
        assert ans[k] == direct[k], k
    assert ans["assignment"]["tied_codes"] == [F.G1, F.G2]


def test_gcj02_is_converted_and_the_original_kept(s):
    from gis.coords import wgs84_to_gcj02

    glon, glat = (float(v) for v in wgs84_to_gcj02(*F.IN_G2))
    ans, _, iid = report(s, (glon, glat), crs="gcj02")
    assert ans["grid"]["code"] == F.G2
    row, _ = inc.load(s, iid)
    assert (row.original_lon, row.original_lat, row.original_crs) == (glon, glat, "gcj02")
    x, y = s.execute(select(func.ST_X(m.Incident.geom), func.ST_Y(m.Incident.geom)).where(m.Incident.id == iid)).one()
    assert abs(x - F.IN_G2[0]) < 1e-5 and abs(y - F.IN_G2[1]) < 1e-5


@pytest.mark.parametrize(("pt", "extra", "error", "needle"), [
    ((38.5015, 102.1855), {}, InvalidCoordinates, "写反"),
    ((102.18, 95.0), {}, InvalidCoordinates, "超出范围"),
    (F.IN_G1, {"crs": "epsg:3857"}, UnknownCRS, "未知坐标系"),
    (F.IN_G1, {"category": "ufo"}, InvalidInput, "未知的事件类别"),
    (F.IN_G1, {"reporter_phone": "call me"}, InvalidInput, "电话"),
])
def test_bad_input_is_refused_and_nothing_stored(s, pt, extra, error, needle):
    before = count(s)
    body = {"category": "sanitation", "lon": pt[0], "lat": pt[1], **extra}
    with pytest.raises(error) as e:
        inc.create_incident(s, body, now=T0)
    assert needle in e.value.message
    assert count(s) == before


def test_dispatch_rules(s, db):
    # legal adviser of G2 for a dispute in G2
    a, _, _ = report(s, F.IN_G2, "dispute")
    assert (a["incident"]["dispatch"]["name"], a["incident"]["dispatch"]["rule"]) == ("赵法律", "grid_role")
    # no health worker in G1 → its grid head
    a, _, _ = report(s, F.IN_G1, "health")
    assert (a["incident"]["dispatch"]["name"], a["incident"]["dispatch"]["rule"]) == ("王格长", "grid_head")
    # G2 has no sanitation worker and no grid head → community A's own head
    a, _, _ = report(s, F.IN_G2, "sanitation")
    assert (a["incident"]["dispatch"]["name"], a["incident"]["dispatch"]["rule"]) == ("钱社区长", "community_head")
    # on a 包街 street: the unit takes the street's sanitation …
    a, _, iid = report(s, F.ON_STREET, "sanitation")
    d = a["incident"]["dispatch"]
    assert a["assignment"]["method"] == "street_responsibility"
    assert (d["unit"], d["person_id"], d["rule"]) == ("市政工程公司", None, "street_unit")
    assert inc.load(s, iid)[1].assignee_unit == "市政工程公司"
    # … but not a dispute: that goes to the grid's legal adviser, and the reason says why
    a, _, iid = report(s, F.ON_STREET, "dispute")
    d = a["incident"]["dispatch"]
    assert (d["name"], d["unit"], d["rule"]) == ("赵法律", None, "grid_role") and "市政工程公司 不负责" in d["reason"]
    assert inc.load(s, iid)[1].assignee_unit is None
    # community fallback (B has no grid): level community, B's head
    a, _, iid = report(s, F.IN_COMMUNITY_B, "sanitation")
    assert a["grid"] is None and a["incident"]["level"] == "community"
    assert a["incident"]["dispatch"]["name"] == "李社区"
    # far away: unassigned with a reason
    a, _, _ = report(s, F.FAR, "sanitation")
    assert a["assignment"]["method"] == "unassigned" and a["incident"]["dispatch"]["rule"] == "unassigned"


def test_duplicates_are_linked_not_dispatched_and_suggested(s):
    first, _, id1 = report(s, F.IN_G1, "cable_mess")
    # 30 m east, 2 h later: a duplicate
    near = (F.IN_G1[0] + 0.000345, F.IN_G1[1])
    dup, _, id2 = report(s, near, "cable_mess", now=T0 + dt.timedelta(hours=2))
    assert dup["incident"]["duplicate_of"] == id1
    assert dup["incident"]["dispatch"]["rule"] == "duplicate" and dup["incident"]["due_at"] is None
    assert [d["id"] for d in dup["incident"]["duplicates"]] == [id1]
    assert 25 < dup["incident"]["duplicates"][0]["distance_m"] < 35
    # 200 m away: suggested but a task of its own
    far = (F.IN_G1[0], F.IN_G1[1] + 0.0018)
    third, _, id3 = report(s, far, "cable_mess", now=T0 + dt.timedelta(hours=3))
    assert third["incident"]["duplicate_of"] is None
    assert [d["id"] for d in third["incident"]["duplicates"]] == [id1]
    # another category at the same place: nothing
    other, _, _ = report(s, F.IN_G1, "advertising", now=T0 + dt.timedelta(hours=3))
    assert other["incident"]["duplicates"] == []
    # the duplicate cannot be handled on its own, and closes with the first
    with pytest.raises(R.IllegalTransition):
        flow.transition(s, id2, "register", actor="d", roles=DISPATCHER)
    for action in ("register", "dispatch"):
        flow.transition(s, id1, action, actor="d", roles=DISPATCHER, now=T0 + dt.timedelta(hours=4))
    for action in ("handle", "feedback"):
        flow.transition(s, id1, action, actor="w", roles=STAFF, now=T0 + dt.timedelta(hours=5))
    for action in ("verify", "close"):
        flow.transition(s, id1, action, actor="d", roles=DISPATCHER, now=T0 + dt.timedelta(hours=6))
    row2, _ = inc.load(s, id2)
    assert row2.state == "closed" and row2.closed_at == T0 + dt.timedelta(hours=6)
    assert inc.load(s, id3)[0].state == "reported"


def test_idempotency_key(s):
    before = count(s)
    a1, r1, id1 = report(s, F.IN_G2, "market", key="abc-123")
    a2, r2, id2 = report(s, F.IN_G2, "market", key="abc-123")
    assert (r1, r2) == (False, True) and id1 == id2 and a1 == a2
    assert count(s) == before + 1
    with pytest.raises(R.IdempotencyKeyReused):
        report(s, F.IN_G2, "sanitation", key="abc-123")
    assert count(s) == before + 1


def test_full_lifecycle_records_every_transition(s):
    _, _, iid = report(s, F.IN_G1, "sanitation")
    steps = [("register", DISPATCHER, "d1"), ("dispatch", DISPATCHER, "d1"), ("handle", STAFF, "w1"),
             ("postpone", STAFF, "w1"), ("handle", STAFF, "w1"), ("feedback", STAFF, "w1"),
             ("verify", DISPATCHER, "d2"), ("return", DISPATCHER, "d2"), ("dispatch", DISPATCHER, "d2"),
             ("handle", STAFF, "w1"), ("feedback", STAFF, "w1"), ("verify", DISPATCHER, "d2"),
             ("close", DISPATCHER, "d2")]
    for k, (action, roles, who) in enumerate(steps, start=1):
        flow.transition(s, iid, action, actor=who, roles=roles, hours=12 if action == "postpone" else None,
                       now=T0 + dt.timedelta(hours=k))
    row, _ = inc.load(s, iid)
    assert row.state == "closed" and row.closed_at == T0 + dt.timedelta(hours=13)
    assert row.due_at == T0 + dt.timedelta(hours=24 + 12)  # the postponement added 12 h
    ev = inc.events(s, iid)
    assert [e["to_state"] for e in ev] == ["reported", "registered", "dispatched", "handling", "postponed",
                                          "handling", "feedback", "verified", "returned", "dispatched", "handling",
                                          "feedback", "verified", "closed"]
    assert [e["actor"] for e in ev][1:4] == ["d1", "d1", "w1"]
    with pytest.raises(R.IllegalTransition) as e:
        flow.transition(s, iid, "handle", actor="w1", roles=STAFF)
    assert e.value.detail["allowed"] == []


def test_roles_and_illegal_transitions(s):
    _, _, iid = report(s, F.IN_G1, "sanitation")
    with pytest.raises(Forbidden):
        flow.transition(s, iid, "register", actor="w", roles=STAFF)
    with pytest.raises(R.IllegalTransition) as e:
        flow.transition(s, iid, "close", actor="d", roles=DISPATCHER)
    assert "上报" in e.value.message and e.value.detail["allowed"] == ["register", "escalate"]
    with pytest.raises(InvalidInput):
        flow.transition(s, iid, "fly", actor="d", roles=DISPATCHER)
    assert [e["to_state"] for e in inc.events(s, iid)] == ["reported"]


def test_escalation_climbs_levels_to_named_receivers_and_stops_at_the_top(s, db):
    _, _, iid = report(s, F.IN_G1, "sanitation")
    flow.transition(s, iid, "register", actor="d", roles=DISPATCHER, now=T0)
    flow.transition(s, iid, "escalate", actor="d", roles=DISPATCHER, now=T0 + dt.timedelta(hours=1))
    row, det = inc.load(s, iid)
    assert (row.level, row.state, row.assignee_id) == ("community", "registered", db["孙值班"])
    assert row.due_at == T0 + dt.timedelta(hours=25)
    flow.transition(s, iid, "escalate", actor="d", roles=DISPATCHER)
    row, det = inc.load(s, iid)
    assert (row.level, row.assignee_id, det.assignee_unit) == ("street", db["周综治"], "金川路街道综治中心")
    flow.transition(s, iid, "escalate", actor="d", roles=DISPATCHER)
    row, det = inc.load(s, iid)  # sanitation: the district's 城管 department, not the general duty office
    assert (row.level, row.assignee_id, det.assignee_unit) == ("district", db["吴城管"], "金川区城市管理综合执法局")
    with pytest.raises(R.IllegalTransition):
        flow.transition(s, iid, "escalate", actor="d", roles=DISPATCHER)
    ev = inc.events(s, iid)
    assert [e["level"] for e in ev] == ["grid", "grid", "community", "street", "district"]
    assert "孙值班" in ev[2]["note"] and "周综治" in ev[3]["note"] and "吴城管" in ev[4]["note"]
    # every level had a named person: never assignee null on the way up
    _, _, other = report(s, F.IN_G2, "market")
    for _ in range(3):
        flow.transition(s, other, "escalate", actor="d", roles=DISPATCHER)
    assert inc.load(s, other)[0].assignee_id == db["郑总值班"]


def test_an_escalation_with_no_receiver_waits_in_the_manual_queue(s):
    _, _, iid = report(s, F.IN_COMMUNITY_B, "sanitation")  # community fallback: 李社区 (B's own head)
    row, det = inc.load(s, iid)
    assert (row.level, row.assignee_id is not None, inc.is_manual(row, det)) == ("community", True, False)
    flow.transition(s, iid, "escalate", actor="d", roles=DISPATCHER)  # → street: 周综治 serves B's street too
    row, det = inc.load(s, iid)
    assert row.level == "street" and not inc.is_manual(row, det)
    s.execute(IncidentDetail.__table__.update().where(IncidentDetail.incident_id == iid)
              .values(community_code="620321009001"))  # another county: no receiver at any level
    s.expire_all()
    flow.transition(s, iid, "escalate", actor="d", roles=DISPATCHER)
    row, det = inc.load(s, iid)
    assert (row.level, row.assignee_id, det.assignee_unit) == ("district", None, None) and inc.is_manual(row, det)
    assert row.assignment["escalation"]["manual"] and "待人工派遣" in inc.events(s, iid)[-1]["note"]


def test_overdue_list_and_automatic_escalation(s):
    s.execute(m.Incident.__table__.delete())
    _, _, a = report(s, F.IN_G1, "emergency")  # 2 h deadline
    _, _, b = report(s, F.IN_G2, "sanitation")  # 24 h
    now = T0 + dt.timedelta(hours=3)
    assert [r[0].id for r in inc.query(s, overdue=True, now=now)] == [a]
    moved = flow.escalate_overdue(s, now=now)
    assert [(x["id"], x["from_level"], x["to_level"], x["escalated"]) for x in moved] == [(a, "grid", "community", True)]
    assert moved[0]["receiver"]["name"] == "孙值班" and "超期" in moved[0]["reason"]
    assert inc.query(s, overdue=True, now=now) == []  # a fresh deadline (2 h) at the new level
    assert inc.load(s, a)[0].due_at == now + dt.timedelta(hours=2)
    assert {r[0].id for r in inc.query(s, overdue=True, now=T0 + dt.timedelta(hours=25))} == {a, b}
    assert inc.events(s, a)[-1]["actor"] == "system:overdue"
    # fed back and waiting for verification, or at the top: not escalated, and it says why
    for action in ("register", "dispatch", "handle", "feedback"):
        flow.transition(s, b, action, actor="d", roles=frozenset({"admin"}), now=T0 + dt.timedelta(hours=2))
    later = T0 + dt.timedelta(hours=30)
    out = {x["id"]: x for x in flow.escalate_overdue(s, now=later)}
    assert out[b]["escalated"] is False and "核查" in out[b]["reason"] and out[b]["overdue_h"] == 6.0
    assert out[a]["escalated"] is True and out[a]["to_level"] == "street"


def test_kpis_by_grid_community_and_month(s):
    s.execute(m.Incident.__table__.delete())

    def life(pt, category, close_after_h, *, escalate=0, created=T0):
        _, _, iid = report(s, pt, category, now=created)
        flow.transition(s, iid, "register", actor="d", roles=DISPATCHER, now=created)
        for _ in range(escalate):
            flow.transition(s, iid, "escalate", actor="d", roles=DISPATCHER, now=created)
        if close_after_h is None:
            flow.transition(s, iid, "dispatch", actor="d", roles=DISPATCHER, now=created)
            return iid
        t = created + dt.timedelta(hours=close_after_h)
        flow.transition(s, iid, "dispatch", actor="d", roles=DISPATCHER, now=created)
        for action in ("handle", "feedback"):
            flow.transition(s, iid, action, actor="w", roles=STAFF, now=t)
        for action in ("verify", "close"):
            flow.transition(s, iid, action, actor="d", roles=DISPATCHER, now=t)
        return iid

    life(F.IN_G1, "sanitation", 10)  # on time (24 h), grid level
    life((F.IN_G1[0], F.IN_G1[1] + 0.003), "sanitation", 30)  # late
    life(F.IN_G1, "road_damage", 5, escalate=2)  # closed at street level, on time (72 h)
    life(F.IN_G2, "market", None)  # open, due in 72 h
    life(F.IN_G2, "emergency", 1, created=T0 + dt.timedelta(days=31))  # April, on time (2 h)
    now = T0 + dt.timedelta(days=40)
    k = incident_kpis.kpis(s, "grid", now=now)
    g1 = next(r for r in k["rows"] if r["grid"] == F.G1)
    assert (g1["total"], g1["closed"], g1["closed_low_level"], g1["on_time"]) == (3, 3, 2, 2)
    assert g1["low_level_rate"] == round(2 / 3, 4) and g1["on_time_rate"] == round(2 / 3, 4)
    assert g1["median_handling_h"] == 10.0 and g1["name"] == "金水里一网格" and g1["meets_target"] is False
    g2 = next(r for r in k["rows"] if r["grid"] == F.G2)
    assert (g2["total"], g2["open"], g2["overdue_open"], g2["on_time_rate"]) == (2, 1, 1, 1.0)
    o = k["overall"]
    assert (o["total"], o["closed"], o["closed_low_level"], o["on_time"]) == (5, 4, 3, 3)
    assert o["median_handling_h"] == 7.5
    # solved at grid/community level over every report (3 of 5), not over the closed ones (3 of 4)
    assert (o["low_level_rate"], o["open"], o["escalated"], o["meets_target"]) == (0.6, 1, 1, False)
    c = incident_kpis.kpis(s, "community", now=now)["rows"]
    assert [(r["community"], r["name"], r["total"]) for r in c] == [(F.COMMUNITY_A, "金水里社区", 5)]
    months = {r["month"]: r["total"] for r in incident_kpis.kpis(s, "month", now=now)["rows"]}
    assert months == {"2026-03": 4, "2026-04": 1}
    st = incident_kpis.kpis(s, "street", now=now)["rows"]
    assert [(r["street"], r["name"], r["low_level_rate"]) for r in st] == [("620302004000", "金川路街道", 0.6)]


def test_views_hide_personal_data_and_snap_sensitive_points(s):
    _, _, iid = report(s, F.IN_G1, "dispute", reporter_name="刘居民", reporter_phone="13812345678",
                       description="邻里噪音纠纷")
    row, det = inc.load(s, iid)
    pub = inc.view(s, row, det, "public")
    cx, cy = s.execute(select(func.ST_X(func.ST_Centroid(m.Grid.geom)), func.ST_Y(func.ST_Centroid(m.Grid.geom)))
                       .where(m.Grid.code == F.G1)).one()
    assert pub["point"] == {"lon": round(cx, 6), "lat": round(cy, 6), "snapped": True}
    assert (det.public_lon, det.public_lat) == (cx, cy)  # the centroid the locator keeps, to the last bit
    assert pub["description"] is None and "reporter" not in pub and "13812345678" not in str(pub)
    staff = inc.view(s, row, det, "staff")
    assert staff["point"]["lon"] == F.IN_G1[0] and staff["description"] == "邻里噪音纠纷"
    assert "reporter" not in staff
    priv = inc.view(s, row, det, "private")
    assert priv["reporter"]["phone"] == "13812345678"
    # a non-sensitive category keeps its point in public
    _, _, j = report(s, F.IN_G2, "sanitation")
    r2, d2 = inc.load(s, j)
    assert inc.view(s, r2, d2, "public")["point"] == {"lon": F.IN_G2[0], "lat": F.IN_G2[1], "snapped": False}


def test_scope_filters_incidents(s):
    s.execute(m.Incident.__table__.delete())
    report(s, F.IN_G1, "sanitation")
    report(s, F.IN_COMMUNITY_B, "sanitation")
    assert len(inc.query(s, scope="")) == 2
    assert [r[0].grid_code for r in inc.query(s, scope=F.G1)] == [F.G1]
    assert [r[1].community_code for r in inc.query(s, scope=F.COMMUNITY_B)] == [F.COMMUNITY_B]
    assert len(inc.query(s, scope="620302004000")) == 2
    assert inc.query(s, scope=None) == []
    assert s.scalar(select(func.count()).select_from(IncidentDetail)) == 2


def test_reassign_after_a_new_generation_redispatches_open_incidents(s, db):
    from geoalchemy2.shape import from_shape
    from shapely.geometry import MultiPolygon, box

    from layers.reassign import reassign

    s.execute(m.Incident.__table__.delete())
    _, _, open_id = report(s, F.IN_G2, "sanitation")  # G2 has no worker: 钱社区长 (community head)
    _, _, sens_id = report(s, F.IN_G2, "dispute")  # 赵法律, G2's legal adviser; snapped to G2's centroid
    flow.transition(s, sens_id, "register", actor="d", roles=DISPATCHER)
    flow.transition(s, sens_id, "dispatch", actor="d", roles=DISPATCHER)
    assert inc.load(s, open_id)[0].assignee_id == db["钱社区长"]
    # generation 2: G1 takes the whole of community A
    s.execute(m.GridPlan.__table__.update().values(status="retired"))
    plan = m.GridPlan(name="第二代", status="published", generation=2, source="test")
    s.add(plan)
    s.flush()
    s.add(m.Grid(plan_id=plan.id, code=F.G1, name="金水里一网格（扩）", kind="comprehensive",
                 community_code=F.COMMUNITY_A, community_edition=F.EDITION,
                 geom=from_shape(MultiPolygon([box(102.180, 38.500, 102.200, 38.510)]), srid=4326), source="test"))
    s.flush()
    out = reassign(s)
    assert out["moved"] == 2 and out["moves"] == [{"from": F.G2, "to": F.G1, "count": 2}]
    row, det = inc.load(s, open_id)
    assert row.grid_code == F.G1 and row.assignment["grid"]["name"] == "金水里一网格（扩）"
    assert row.assignee_id == db["张网格"] and row.assignment["dispatch"]["rule"] == "grid_role"
    row, det = inc.load(s, sens_id)
    assert row.assignee_id == db["赵法律"]  # already dispatched: keeps its person
    assert (det.public_lon, det.public_lat) == pytest.approx((102.19, 38.505))
    assert inc.view(s, row, det, "public")["grid"]["code"] == F.G1


@pytest.mark.parametrize("same_body", [True, False])
def test_idempotency_key_race_between_two_sessions(db, same_body):
    """B sends the same key while A's insert is not committed yet: B waits on the unique key, then replays A's
    answer (same body) or is refused (another body) — never a second row."""
    import threading
    import time

    key = f"race-{same_body}"
    factory = db["factory"]
    with factory() as a:
        before = count(a)
        first, _, id_a = report(a, F.IN_G1, "sanitation", key=key)
        out: dict = {}

        def other():
            with factory() as b:
                try:
                    out["answer"] = report(b, F.IN_G1, "sanitation" if same_body else "advertising", key=key)
                    b.commit()
                except Exception as exc:  # noqa: BLE001 - the test inspects it
                    out["error"] = exc

        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.5)
        assert t.is_alive()  # B is waiting on A's uncommitted key
        a.commit()
        t.join(10)
    if same_body:
        answer, replayed, id_b = out["answer"]
        assert replayed and id_b == id_a and answer == first
    else:
        assert isinstance(out["error"], R.IdempotencyKeyReused)
    with factory() as c:
        assert count(c) == before + 1
        c.execute(m.Incident.__table__.delete().where(m.Incident.id == id_a))
        c.commit()


def test_incidents_written_by_other_tools_are_served(s, db):
    """A row inserted without incident_details (imports, the map benchmark) is listed, shown, counted and can
    move on; its details are derived from the grid code and the category's Chinese name."""
    from geoalchemy2.shape import from_shape
    from shapely.geometry import Point

    s.execute(m.Incident.__table__.delete())
    legacy = m.Incident(category="矛盾纠纷", state="dispatched", level="grid", geom=from_shape(Point(*F.IN_G1), srid=4326),
                        original_lon=F.IN_G1[0], original_lat=F.IN_G1[1], original_crs="wgs84", grid_code=F.G1,
                        plan_id=db["plan_id"], due_at=T0, created_at=T0 - dt.timedelta(hours=1), source="import:x")
    s.add(legacy)
    s.flush()
    [(row, det)] = inc.query(s, community_code=F.COMMUNITY_A)
    pub = inc.view(s, row, det, "public")
    assert pub["category"] == "dispute" and pub["grid"] == {"code": F.G1, "name": None}
    assert pub["point"]["snapped"] is True and pub["point"]["lon"] != F.IN_G1[0]  # sensitive: grid centroid
    assert [r[0].id for r in inc.query(s, overdue=True, now=T0 + dt.timedelta(hours=1))] == [legacy.id]
    k = incident_kpis.kpis(s, "street", now=T0)
    assert [(r["street"], r["total"]) for r in k["rows"]] == [("620302004000", 1)]
    assert incident_kpis.kpis(s, "category", now=T0)["rows"][0]["category"] == "dispute"
    flow.transition(s, legacy.id, "handle", actor="w", roles=STAFF, now=T0)
    assert s.get(IncidentDetail, legacy.id).community_code == F.COMMUNITY_A  # stored once it changed


def test_kpis_over_every_report_of_the_period(s):
    """34 reports on one street: 13 closed at grid level, 13 overdue, 8 open in time — 38 %, not 100 %; a report
    outside every community gets a row of its own, named; linked duplicates and reports before ``since`` aside."""
    s.execute(m.Incident.__table__.delete())
    # about 100 m apart: none is a duplicate of another
    ids = [report(s, (102.1805 + 0.0012 * (k % 7), 38.5005 + 0.0015 * (k // 7)), "other",
                  now=T0 + dt.timedelta(minutes=k))[2] for k in range(34)]
    s.execute(m.Incident.__table__.update().where(m.Incident.id.in_(ids[:13]))
              .values(state="closed", closed_at=T0 + dt.timedelta(hours=5)))
    s.execute(m.Incident.__table__.update().where(m.Incident.id.in_(ids[13:26]))
              .values(due_at=T0 + dt.timedelta(hours=1)))
    report(s, F.FAR, "other", now=T0)
    report(s, F.IN_G2, "other", now=T0 - dt.timedelta(days=3))  # before the period
    now = T0 + dt.timedelta(hours=30)
    k = incident_kpis.kpis(s, "street", since=T0 - dt.timedelta(hours=1), now=now)
    street = next(r for r in k["rows"] if r["street"] == "620302004000")
    assert (street["total"], street["closed"], street["open"], street["overdue_open"]) == (34, 13, 21, 13)
    assert street["low_level_rate"] == round(13 / 34, 4) and street["meets_target"] is False
    nowhere = next(r for r in k["rows"] if r["street"] is None)
    assert nowhere["total"] == 1 and "未定位" in nowhere["name"]
    assert k["overall"]["total"] == 35 and "÷" in k["definition"]
    by_category = incident_kpis.kpis(s, "category", since=T0 - dt.timedelta(hours=1), now=now)["rows"]
    assert [(r["category"], r["name"], r["total"]) for r in by_category] == [("other", "其他", 35)]


def test_a_street_outside_every_grid_gives_other_categories_to_the_community(s, db):
    """On a 包街 street outside every grid, the unit takes its categories; another category is located as if the
    street were not there (community B's fallback: its own head) and the answer still names the street."""
    from geoalchemy2.shape import from_shape
    from shapely.geometry import LineString, MultiLineString

    s.add(m.StreetResponsibility(street_name="桂林路", responsible_unit="城管桂林中队", buffer_m=20.0, source="test",
                                 geom=from_shape(MultiLineString([LineString([(102.201, 38.506), (102.209, 38.506)])]),
                                                 srid=4326)))
    s.flush()
    on_street = (102.205, 38.5061)  # in community B, which has no grid
    a, _, _ = report(s, on_street, "sanitation")
    assert (a["assignment"]["method"], a["incident"]["dispatch"]["unit"]) == ("street_responsibility", "城管桂林中队")
    b, _, iid = report(s, on_street, "dispute")
    d = b["incident"]["dispatch"]
    assert b["assignment"]["method"] == "community" and b["community"]["code"] == F.COMMUNITY_B
    assert b["street_responsibility"]["name"] == "桂林路" and "桂林路" in d["reason"] and "不负责" in d["reason"]
    assert (d["name"], d["rule"], d["manual"]) == ("李社区", "community_head", False)
    row, det = inc.load(s, iid)
    assert (row.assignee_id, det.community_code, inc.is_manual(row, det)) == (db["李社区"], F.COMMUNITY_B, False)
    assert loc.locate(s, *on_street)["assignment"]["method"] == "street_responsibility"  # GET /locate: unchanged
