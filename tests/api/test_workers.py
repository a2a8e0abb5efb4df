"""Several processes act as one service: ``gridmap serve --workers 2`` on one port, a throwaway copy of the demo.

What one worker accepted, the other answers: a report (its ``Idempotency-Key`` retried on the other worker is a
replay, not a second row), a sign-in token, an uploaded file. Nothing of that lives in one process's memory.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from layers import accounts
from layers.db import make_engine, make_sessionmaker
from tests.live_server import serve_workers, worker_of

PW = "workers horse battery"


@pytest.fixture(scope="module")
def service(module_demo_db):
    engine = make_engine(module_demo_db, pool_size=1, max_overflow=0)
    with make_sessionmaker(engine)() as s:
        accounts.create_user(s, "planner_w", PW, roles=["planner"], scope="")
        s.commit()
    engine.dispose()
    env = {"GRIDMAP_SECRET_KEY": "workers-test-secret-" + "x" * 24, "GRIDMAP_PUBLIC_RATE_PER_MIN": "0"}
    with serve_workers(module_demo_db, workers=2, env=env) as svc:
        yield svc


@pytest.fixture(scope="module")
def pair(service):
    """Two clients, each held on its own worker process."""
    clients = service.worker_clients()
    assert len(clients) == 2
    return list(clients.items())


@pytest.fixture(scope="module")
def inside_point(module_demo_db) -> tuple[float, float]:
    engine = make_engine(module_demo_db, pool_size=1, max_overflow=0)
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) AS p FROM grids g "
            "JOIN grid_plans pl ON pl.id = g.plan_id WHERE pl.status = 'published' AND g.kind <> 'exclusive' "
            "ORDER BY g.code LIMIT 1) s")).one()
    engine.dispose()
    return float(row[0]), float(row[1])


def test_two_worker_processes_answer_on_one_port(service, pair, inside_point):
    (id_a, a), (id_b, b) = pair
    assert id_a != id_b
    lon, lat = inside_point
    answers = []
    for worker, client in pair:
        r = client.get("/api/v1/locate", params={"lon": lon, "lat": lat})
        assert r.status_code == 200, r.text
        assert worker_of(r) == worker
        answers.append(r.json())
    assert answers[0] == answers[1] and answers[0]["grid"]["code"]


def test_a_report_retried_on_the_other_worker_is_a_replay(service, pair, inside_point, module_demo_db):
    (id_a, a), (id_b, b) = pair
    lon, lat = inside_point
    body = {"category": "sanitation", "lon": lon, "lat": lat, "description": "两个进程 workers"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = a.post("/api/v1/incidents", json=body, headers=key)
    again = b.post("/api/v1/incidents", json=body, headers=key)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert (worker_of(first), worker_of(again)) == (id_a, id_b)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["incident"]["id"] == first.json()["incident"]["id"]
    engine = make_engine(module_demo_db, pool_size=1, max_overflow=0)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM incidents WHERE description = :d"),
                              {"d": body["description"]}).scalar_one()
    engine.dispose()
    assert stored == 1


def test_a_token_and_an_upload_through_one_worker_serve_on_the_other(service, pair):
    (id_a, a), (id_b, b) = pair
    signed_in = a.post("/api/v1/auth/token", data={"username": "planner_w", "password": PW})
    assert signed_in.status_code == 200, signed_in.text
    auth = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    name = f"w{uuid.uuid4().hex[:8]}.geojson"
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [102.1901, 38.5002]},
         "properties": {"name": "两进程卫生室", "type": "clinic"}}]}
    up = b.post("/api/v1/facilities/import", headers=auth,
                files={"file": (name, json.dumps(fc, ensure_ascii=False).encode(), "application/geo+json")})
    assert up.status_code == 201, up.text
    assert worker_of(up) == id_b
    seen = a.get("/api/v1/facilities", params={"source": f"import:{name}"})
    assert seen.status_code == 200 and worker_of(seen) == id_a
    assert [f["properties"]["name"] for f in seen.json()["features"]] == ["两进程卫生室"]
