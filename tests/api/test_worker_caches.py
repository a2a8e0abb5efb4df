"""Every worker's caches follow every change, whoever made it: ``gridmap serve --workers 2`` on a demo copy.

The point locator, the roster audit, a plan's validation problems and the coverage answers live in each worker
process's memory (``layers.data_versions``). Each test first asks both workers, so that both hold the answer,
then changes the data — through one worker, or behind both with SQL as QGIS or psql would — and asks the other
worker at once: its very next answer must show the change.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import text

from layers import accounts
from layers.db import make_engine
from tests.live_server import serve_workers, worker_of

PW = "caches horse battery staple"
LOG = [lambda: ""]  # the server's log, for a failure message


@pytest.fixture(scope="module")
def db(module_demo_db):
    engine = make_engine(module_demo_db, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def service(module_demo_db, db):
    from layers.db import make_sessionmaker

    with make_sessionmaker(db)() as s:
        accounts.create_user(s, "planner_c", PW, roles=["planner"], scope="")
        s.commit()
    env = {"GRIDMAP_SECRET_KEY": "worker-caches-secret-" + "x" * 24, "GRIDMAP_PUBLIC_RATE_PER_MIN": "0",
           "GRIDMAP_MAP_BASEMAP": "none"}
    with serve_workers(module_demo_db, workers=2, env=env) as svc:
        LOG[0] = lambda: "server log:\n" + svc.log()[-2500:]
        yield svc


@pytest.fixture(scope="module")
def pair(service):
    """Two clients, each held on its own worker process, signed in as a planner."""
    (id_a, a), (id_b, b) = service.worker_clients().items()
    token = a.post("/api/v1/auth/token", data={"username": "planner_c", "password": PW})
    assert token.status_code == 200, token.text
    for client in (a, b):
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return (id_a, a), (id_b, b)


def _rows(db, sql: str, params: dict | None = None) -> list:
    with db.connect() as conn:
        return conn.execute(text(sql), params or {}).all()


def _write(db, sql: str, params: dict) -> None:
    """A change made behind both workers (as QGIS or psql would), committed before it returns."""
    with db.begin() as conn:
        assert conn.execute(text(sql), params).rowcount == 1


def _get(client, worker: str, url: str, **params):
    """GET on ``client``'s worker; the answer must come from that very worker."""
    answer = client.get(url, params=params, timeout=120)
    assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
    assert worker_of(answer) == worker, LOG[0]()  # a worker restarted would have lost its caches
    return answer


def _layers(html: str) -> dict[str, dict]:
    return {spec["name"]: spec for spec in
            (json.loads(m.group(1)) for m in re.finditer(r"gridmap\.layer\((\{.*?\})\);\n", html))}


def _grid_layer(html: str) -> dict:
    return next(spec for name, spec in _layers(html).items() if name.startswith("网格 grids"))


def _building_vacancies(client, worker) -> set[int]:
    rows = _get(client, worker, "/api/v1/roster/audit").json()["vacancies"]
    return {r["building_id"] for r in rows if r["kind"] == "building"}


def _without_head(client, worker) -> dict[str, int]:
    """Per grid of the grid map page: its buildings without a 楼栋长 (from the roster audit)."""
    features = _grid_layer(_get(client, worker, "/maps/grids").text)["data"]["features"]
    return {f["properties"]["code"]: f["properties"].get("buildings_without_head", 0) for f in features}


def test_a_plan_published_through_one_worker_is_what_every_worker_answers(pair, db):
    (id_a, a), (id_b, b) = pair
    (code, lon, lat), = _rows(db, """
        SELECT g.code, ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)) FROM grids g
        JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published' WHERE g.kind = 'comprehensive'
        ORDER BY g.code LIMIT 1""")
    before = {}
    for worker, client in pair:
        found = _get(client, worker, "/api/v1/locate", lon=lon, lat=lat).json()
        assert found["grid"]["code"] == code
        before[worker] = (found["plan"]["generation"], len(_grid_layer(_get(client, worker, "/maps/grids").text)
                                                           ["data"]["features"]))
    generation, grids = before[id_a]
    assert before[id_b] == before[id_a]
    # through worker A: copy the plan in force, take one grid out, publish the draft
    draft = a.post("/api/v1/plans/drafts", json={"name": "两进程发布"})
    assert draft.status_code == 201, draft.text
    plan_id = draft.json()["id"]
    version = a.get(f"/api/v1/plans/{plan_id}/grids/{code}").json()["properties"]["version"]
    assert a.delete(f"/api/v1/plans/{plan_id}/grids/{code}", params={"version": version}).status_code == 204
    published = a.post(f"/api/v1/plans/{plan_id}/publish", json={"force": True})
    assert published.status_code == 200, published.text
    assert worker_of(published) == id_a, LOG[0]()
    # the very next request of either worker answers with the new generation
    for worker, client in [(id_b, b), (id_a, a)]:
        found = _get(client, worker, "/api/v1/locate", lon=lon, lat=lat).json()
        assert found["plan"]["generation"] == generation + 1
        assert (found["grid"] or {}).get("code") != code
        grid_layer = _grid_layer(_get(client, worker, "/maps/grids").text)
        assert len(grid_layer["data"]["features"]) == grids - 1
        assert code not in {f["properties"]["code"] for f in grid_layer["data"]["features"]}


def test_a_building_moved_in_place_shows_on_the_other_worker(pair, db):
    """A building without a 楼栋长 is moved out of its grid by an UPDATE of its geometry (same id, count and
    households): it leaves the roster audit and its grid's count on the grid map."""
    (id_a, a), (id_b, b) = pair
    vacant = _building_vacancies(a, id_a)
    counts = _without_head(a, id_a)
    assert _building_vacancies(b, id_b) == vacant and _without_head(b, id_b) == counts
    moved = min(vacant)
    (code,), = _rows(db, """
        SELECT g.code FROM buildings b JOIN grids g ON ST_Covers(g.geom, ST_PointOnSurface(b.geom))
        JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
        WHERE b.id = :i AND g.kind = 'comprehensive'""", {"i": moved})
    _write(db, "UPDATE buildings SET geom = ST_Translate(geom, 0.4, 0.2) WHERE id = :i", {"i": moved})
    for worker, client in [(id_b, b), (id_a, a)]:
        assert _building_vacancies(client, worker) == vacant - {moved}
        assert _without_head(client, worker) == {**counts, code: counts[code] - 1}


def test_a_staff_assignment_ended_shows_on_the_other_worker(pair, db):
    """The only 网格员 of a grid gets a ``valid_to`` in the past (a row updated in place): the roster audit, the
    grid map and the plan's validation problems of the other worker show the grid without one."""
    (id_a, a), (id_b, b) = pair
    (assignment, code), = _rows(db, """
        SELECT min(a.id), g.code FROM staff_assignments a
        JOIN grids g ON g.code = a.grid_code JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
        WHERE a.role = 'grid_worker' AND (a.valid_to IS NULL OR a.valid_to >= current_date)
        GROUP BY g.code HAVING count(*) = 1 ORDER BY g.code LIMIT 1""")

    def without_worker(client, worker) -> tuple[bool, bool, bool]:
        audit = _get(client, worker, "/api/v1/roster/audit").json()["vacancies"]
        grid = next(f["properties"] for f in _grid_layer(_get(client, worker, "/maps/grids").text)["data"]
                    ["features"] if f["properties"]["code"] == code)
        problems = _get(client, worker, "/maps/grids/problems.json").json()["features"]
        return ((code, "grid_worker") in {(r["grid_code"], r["role"]) for r in audit},
                "网格员" in (grid.get("vacant_roles") or ""),
                (code, "no_grid_worker") in {(p["properties"].get("grid"), p["properties"]["kind"])
                                             for p in problems})

    for worker, client in pair:
        assert without_worker(client, worker) == (False, False, False)
    _write(db, "UPDATE staff_assignments SET valid_to = current_date - 1 WHERE id = :i", {"i": assignment})
    for worker, client in [(id_b, b), (id_a, a)]:
        assert without_worker(client, worker) == (True, True, True)
