"""POST/GET /api/v1/incidents and the lifecycle over HTTP, on the hand-made plan in this module's own database."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.settings import ApiSettings, Settings
from gis.coords import from_wgs84
from layers import models as m
from tests import incident_fixtures as IF
from tests import locate_fixtures as F
from tests.accounts_fixtures import accounts_in

DISPATCH = IF.auth("dispatcher", sub="调度员甲")
WORKER_G1 = IF.auth("grid_staff", scope=F.G1, sub="网格员张")
WORKER_G2 = IF.auth("grid_staff", scope=F.G2, sub="网格员赵")
PLANNER = IF.auth("planner", sub="规划员")


@pytest.fixture(scope="module")
def ids(module_sessionmaker):
    return IF.load(module_sessionmaker)


@pytest.fixture(scope="module")
def client(module_db, module_sessionmaker, ids):
    settings = Settings(api=ApiSettings(environment="test", secret_key=IF.SECRET, public_rate_per_min=0), db=module_db)
    with accounts_in(module_sessionmaker), TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def count(module_sessionmaker):
    def n() -> int:
        with module_sessionmaker() as s:
            return s.scalar(select(func.count()).select_from(m.Incident))
    return n


def post(client, pt, category="sanitation", headers=None, **kw):
    return client.post("/api/v1/incidents", json={"category": category, "lon": pt[0], "lat": pt[1], **kw},
                       headers=headers or {})


@pytest.mark.parametrize("pt", [F.IN_G1, F.ON_SHARED_BORDER, F.ON_VERTEX, F.IN_EXCL, F.IN_HOLE, F.IN_COMMUNITY_B,
                                F.ON_STREET, F.IN_G3_SECOND_PART, F.NEAR_G1, F.FAR])
def test_post_agrees_with_get_locate(client, pt):
    r = post(client, pt, "other", accuracy_m=100)
    assert r.status_code == 201, r.text
    g = client.get("/api/v1/locate", params={"lon": pt[0], "lat": pt[1], "accuracy_m": 100}).json()
    body = r.json()
    for k in ("grid", "community", "street_responsibility", "responsible", "plan", "assignment", "point"):
        assert body[k] == g[k], k
    assert r.headers["location"] == f"/api/v1/incidents/{body['incident']['id']}"


def test_post_bd09_keeps_original_and_answers_grid(client):
    blon, blat = (float(v) for v in from_wgs84(*F.IN_G2, "bd09"))
    r = post(client, (blon, blat), "market", crs="bd09", reporter_name="孙先生", reporter_phone="13700000000")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["grid"]["code"] == F.G2 and body["input"] == {"lon": blon, "lat": blat, "crs": "bd09"}
    assert "13700000000" not in r.text and "孙先生" not in r.text
    iid = body["incident"]["id"]
    staff = client.get(f"/api/v1/incidents/{iid}", headers=DISPATCH).json()
    assert staff["original"] == {"lon": blon, "lat": blat, "crs": "bd09"}
    assert staff["reporter"] == {"name": "孙先生", "phone": "13700000000"}
    assert staff["plan_id"] == 1 and staff["assignment"]["method"] == "grid"


@pytest.mark.parametrize(("body", "needle"), [
    ({"lon": 38.5015, "lat": 102.1855}, "写反"),
    ({"lon": 200.0, "lat": 38.5}, "超出范围"),
    ({"crs": "utm"}, "未知坐标系"),
    ({"category": "火星事件"}, "未知的事件类别"),
    ({"lon": "east"}, "lon"),
    ({"accuracy_m": -5}, "accuracy_m"),
])
def test_bad_input_422_with_message_nothing_stored(client, count, body, needle):
    before = count()
    payload = {"category": "sanitation", "lon": F.IN_G1[0], "lat": F.IN_G1[1], **body}
    r = client.post("/api/v1/incidents", json=payload)
    assert r.status_code == 422, r.text
    msg = r.json()["error"]["message"]
    assert needle in msg and "(" in msg  # Chinese first, English in brackets
    assert count() == before


def test_idempotency_key_over_http(client, count):
    before = count()
    h = {"Idempotency-Key": "retry-7f3a"}
    r1 = post(client, F.IN_G1, "advertising", headers=h, description="小广告")
    r2 = post(client, F.IN_G1, "advertising", headers=h, description="小广告")
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json() and r2.headers["idempotent-replayed"] == "true"
    assert count() == before + 1
    r3 = post(client, F.IN_G1, "advertising", headers=h, description="另一条")
    assert r3.status_code == 422 and r3.json()["error"]["code"] == "idempotency_key_reused"
    assert count() == before + 1


def test_privacy_of_views(client):
    r = post(client, F.IN_G2, "health", reporter_name="周女士", reporter_phone="13600000000", description="独居老人发热")
    iid = r.json()["incident"]["id"]
    pub = client.get(f"/api/v1/incidents/{iid}")
    assert pub.status_code == 200
    p = pub.json()
    assert "13600000000" not in pub.text and "周女士" not in pub.text and "独居老人" not in pub.text
    assert p["point"] == {"lon": 102.195, "lat": 38.5025, "snapped": True}  # G2's centroid
    # a planner sees no reporter; the grid worker of G1 is outside G2's scope: public view
    assert "reporter" not in client.get(f"/api/v1/incidents/{iid}", headers=PLANNER).json()
    other = client.get(f"/api/v1/incidents/{iid}", headers=WORKER_G1).json()
    assert "reporter" not in other and other["point"]["snapped"] is True
    mine = client.get(f"/api/v1/incidents/{iid}", headers=WORKER_G2).json()
    assert mine["reporter"]["phone"] == "13600000000" and mine["point"] == {"lon": 102.195, "lat": 38.5035,
                                                                            "snapped": False}
    # lists need a staff role, and are cut to the caller's scope
    assert client.get("/api/v1/incidents").status_code == 401
    assert client.get("/api/v1/incidents", headers=PLANNER).status_code == 403
    g1 = client.get("/api/v1/incidents", headers=WORKER_G1).json()["items"]
    assert g1 and {x["grid"]["code"] for x in g1} == {F.G1}


def test_task_list_of_a_person(client, ids):
    iid = post(client, F.IN_G2, "legal").json()["incident"]["id"]
    tasks = client.get("/api/v1/incidents", params={"assignee_id": ids["赵法律"], "state": "reported"},
                       headers=WORKER_G2).json()["items"]
    assert iid in [t["id"] for t in tasks] and {t["assignee"]["name"] for t in tasks} == {"赵法律"}


def test_lifecycle_over_http(client, ids):
    iid = post(client, F.IN_G1, "street_order").json()["incident"]["id"]

    def act(action, headers, **kw):
        return client.post(f"/api/v1/incidents/{iid}/transitions", json={"action": action, **kw}, headers=headers)

    assert act("register", WORKER_G1).status_code == 403  # grid staff may not register
    assert act("close", DISPATCH).status_code == 409
    assert act("register", DISPATCH).json()["state"] == "registered"
    r = act("dispatch", DISPATCH, assignee_id=ids["张网格"])
    assert r.json()["assignee"]["name"] == "张网格"
    assert act("handle", WORKER_G2).status_code == 403  # outside G2's worker's scope
    assert act("handle", WORKER_G1).json()["state"] == "handling"
    r = act("postpone", WORKER_G1, hours=48, note="等待材料")
    assert r.status_code == 200 and r.json()["state"] == "postponed"
    assert act("postpone", WORKER_G1).status_code == 409  # from postponed: not again
    assert act("handle", WORKER_G1).status_code == 200
    assert act("feedback", WORKER_G1).status_code == 200
    assert act("verify", DISPATCH).status_code == 200
    closed = act("close", DISPATCH).json()
    assert closed["state"] == "closed" and closed["status"] == "closed" and closed["allowed_actions"] == []
    ev = client.get(f"/api/v1/incidents/{iid}/events", headers=DISPATCH).json()
    assert [(e["to_state"], e["actor"]) for e in ev] == [
        ("reported", "public"), ("registered", "调度员甲"), ("dispatched", "调度员甲"), ("handling", "网格员张"),
        ("postponed", "网格员张"), ("handling", "网格员张"), ("feedback", "网格员张"), ("verified", "调度员甲"),
        ("closed", "调度员甲")]
    assert ev[4]["note"] == "等待材料（延期 48 小时）"
    assert client.get(f"/api/v1/incidents/{iid}/events").status_code == 401


def test_duplicate_suggestions_over_http(client):
    a = post(client, F.IN_G3_SECOND_PART, "road_damage").json()
    b = post(client, (F.IN_G3_SECOND_PART[0] + 0.0002, F.IN_G3_SECOND_PART[1]), "road_damage").json()
    assert b["incident"]["duplicate_of"] == a["incident"]["id"]
    assert b["incident"]["duplicates"][0]["id"] == a["incident"]["id"]
    assert 15 < b["incident"]["duplicates"][0]["distance_m"] < 20


def test_categories_overdue_escalation_and_kpis(client, module_sessionmaker):
    cats = {c["code"]: c for c in client.get("/api/v1/incidents/categories").json()}
    assert cats["dispute"]["role"] == "legal_adviser" and cats["health"]["role"] == "health_worker"
    assert cats["traffic"]["role"] == "community_police" and cats["market"]["role"] == "market_inspector"
    iid = post(client, F.IN_EXCL, "emergency").json()["incident"]["id"]
    with module_sessionmaker() as s:  # the report came in three hours ago
        s.execute(m.Incident.__table__.update().where(m.Incident.id == iid).values(
            created_at=func.now() - func.make_interval(0, 0, 0, 0, 3), due_at=func.now() - func.make_interval(
                0, 0, 0, 0, 1)))
        s.commit()
    over = client.get("/api/v1/incidents/overdue", headers=DISPATCH).json()
    assert iid in [x["id"] for x in over["items"]] and all(x["overdue"] for x in over["items"])
    assert client.post("/api/v1/incidents/escalate-overdue", headers=WORKER_G1).status_code == 403
    esc = client.post("/api/v1/incidents/escalate-overdue", headers=DISPATCH).json()
    mine = next(x for x in esc["items"] if x["id"] == iid)
    assert (mine["from_level"], mine["to_level"], mine["escalated"]) == ("grid", "community", True)
    assert mine["receiver"]["name"] == "孙值班"
    one = client.get(f"/api/v1/incidents/{iid}", headers=DISPATCH).json()
    assert (one["level"], one["state"], one["overdue"]) == ("community", "registered", False)
    k = client.get("/api/v1/incidents/kpis", params={"by": "community"}).json()
    total = sum(r["total"] for r in k["rows"])
    assert k["overall"]["total"] == total and k["target_low_level_rate"] == 0.8
    a = next(r for r in k["rows"] if r["community"] == F.COMMUNITY_A)
    assert a["name"] == "金水里社区" and a["closed"] >= 1
    assert client.get("/api/v1/incidents/kpis", params={"by": "planet"}).status_code == 422


def test_reading_the_reporter_is_audited(client, module_sessionmaker):
    from sqlalchemy import text

    iid = post(client, F.IN_G1, "legal", reporter_name="吴先生", reporter_phone="13300000000").json()["incident"]["id"]

    def audits() -> list[tuple]:
        with module_sessionmaker() as s:
            return s.execute(text("SELECT subject, action, object_type, object_id FROM audit_log "
                                  "WHERE object_type = 'incident_reporter' ORDER BY id")).all()

    before = len(audits())
    client.get(f"/api/v1/incidents/{iid}")  # public: nothing personal, nothing audited
    client.get(f"/api/v1/incidents/{iid}", headers=PLANNER)
    assert len(audits()) == before
    r = client.get(f"/api/v1/incidents/{iid}", headers=WORKER_G1)
    assert r.json()["reporter"]["phone"] == "13300000000"
    rows = audits()
    assert len(rows) == before + 1 and tuple(rows[-1]) == ("网格员张", "read", "incident_reporter", str(iid))


@pytest.mark.parametrize("raw", [
    '{"category":"sanitation","lon":102.1855,"lat":38.5015,"accuracy_m":NaN}',
    '{"category":"sanitation","lon":NaN,"lat":38.5015}',
    '{"category":"sanitation","lon":102.1855,"lat":38.5015,"description":"a\\u0000b"}',
])
def test_nan_and_nul_are_422_not_500(client, count, raw):
    before = count()
    r = client.post("/api/v1/incidents", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert count() == before


def test_reports_stored_in_one_batch_keep_their_own_caller_channel_and_answer(client, module_sessionmaker):
    """Many callers at once, so that the intake queue stores their reports in shared batches: each keeps its own
    caller (actor), channel and answer; forged, expired and made-up tokens, a staff-only channel named by the
    public and a bad accuracy are refused alone, with nothing stored for them."""
    import time
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import text

    from api.auth import Principal, issue_token
    from layers.incidents_models import IncidentDetail

    expired = issue_token(Principal(subject="调度员甲", token_version=1), IF.SECRET, ttl_s=60, now=time.time() - 3600)
    forged = issue_token(Principal(subject="调度员甲", token_version=1), "another-secret-" + "x" * 32)
    kinds = [  # (headers, body extras, status, actor, channel)
        ({}, {}, 201, "public", "api"),
        ({}, {"channel": "app"}, 201, "public", "app"),
        ({}, {"channel": "phone"}, 403, None, None),
        (DISPATCH, {"channel": "phone"}, 201, "调度员甲", "phone"),
        (WORKER_G1, {"channel": "visit"}, 201, "网格员张", "visit"),
        (WORKER_G1, {}, 201, "网格员张", "api"),
        ({"Authorization": f"Bearer {expired}"}, {}, 401, None, None),
        ({"Authorization": f"Bearer {forged}"}, {}, 401, None, None),
        ({"Authorization": "Bearer a.b.c"}, {}, 401, None, None),
        ({}, {"accuracy_m": -5}, 422, None, None),
    ] * 4
    marks = [f"r7-{uuid.uuid4().hex}" for _ in kinds]
    before = client.app.state.intake.batches, client.app.state.intake.reports

    def send(n):
        headers, extra, *_ = kinds[n]
        return post(client, F.IN_G1 if n % 2 else F.IN_G2, "sanitation", headers=headers, description=marks[n], **extra)

    with ThreadPoolExecutor(len(kinds)) as pool:
        answers = list(pool.map(send, range(len(kinds))))
    batches = client.app.state.intake.batches - before[0]
    stored = [n for n, (_, _, status, _, _) in enumerate(kinds) if status == 201]
    assert batches < len(stored), "the reports were not batched"
    with module_sessionmaker() as s:
        for n, ((_, _, status, actor, channel), r) in enumerate(zip(kinds, answers)):
            assert r.status_code == status, (n, r.text)
            rows = s.execute(select(m.Incident.id).where(m.Incident.description == marks[n])).scalars().all()
            if status != 201:
                assert rows == [] and marks[n] not in r.text
                continue
            assert r.json()["incident"]["description"] == marks[n] and rows == [r.json()["incident"]["id"]]
            assert s.get(IncidentDetail, rows[0]).channel == channel
            assert s.scalar(text("SELECT actor FROM incident_events WHERE incident_id = :i"), {"i": rows[0]}) == actor
