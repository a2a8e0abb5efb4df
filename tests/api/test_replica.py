"""A real streaming replica: reads go to it, a writer reads its own writes, and the service keeps answering when
the replica lags or stops.

Two throwaway clusters of our own on free ports (the machine's cluster on 5432 is never touched): a primary
copied from the load benchmark's template (the Jinchang demo's core) and a hot standby made from it with
``pg_basebackup -R``, streaming. ``gridmap serve`` runs with ``GRIDMAP_DATABASE_URL`` on the primary and
``GRIDMAP_DATABASE_READ_URL`` on the standby.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker as orm_sessionmaker

from layers.settings import DatabaseSettings
from scripts.bench.clusters import TempCluster
from tests.accounts_fixtures import TEST_SECRET, bearer
from tests.live_server import serve_workers

pytestmark = pytest.mark.slow
DB = "gridmap_load"
RETRY_S = 2.0


def _sql(url: str, statement: str, **params):
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.execute(text(statement), params)
            return result.all() if result.returns_rows else None
    finally:
        engine.dispose()


def _wait(check, *, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


@pytest.fixture(scope="module")
def clusters(load_template_cluster):
    """(primary, standby): started, the standby streaming from the primary."""
    primary = TempCluster(prefix="replica-primary-")
    standby = TempCluster(prefix="replica-standby-")
    try:
        primary.copy_from(load_template_cluster)
        primary.start()
        standby.base_backup_of(primary)
        standby.start()
        _wait(lambda: _sql(primary.url("postgres"), "SELECT count(*) FROM pg_stat_replication "
                                                    "WHERE state = 'streaming'")[0][0],
              timeout_s=30, what="the standby streams")
        yield primary, standby
    finally:
        standby.remove()
        primary.remove()


@pytest.fixture(scope="module")
def service(clusters):
    primary, standby = clusters
    env = {"GRIDMAP_DATABASE_READ_URL": standby.url(DB), "GRIDMAP_DB_REPLICA_RETRY_S": str(RETRY_S),
           "GRIDMAP_DB_CONNECT_TIMEOUT_S": "2", "GRIDMAP_PUBLIC_RATE_PER_MIN": "0", "GRIDMAP_SECRET_KEY": TEST_SECRET}
    with serve_workers(DatabaseSettings(url=primary.url(DB)), workers=1, env=env) as svc:
        yield svc


@pytest.fixture(scope="module")
def admin(clusters) -> dict[str, str]:
    """An administrator's header: only an administrator reads where reads go in ``/healthz``."""
    primary, _ = clusters
    engine = create_engine(primary.url(DB))
    try:
        return bearer(orm_sessionmaker(engine), "t-replica-admin", ["admin"], "")
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def inside(clusters) -> tuple[float, float]:
    primary, _ = clusters
    (row,) = _sql(primary.url(DB), "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) AS p "
                  "FROM grids g JOIN grid_plans pl ON pl.id = g.plan_id WHERE pl.status = 'published' "
                  "AND g.kind <> 'exclusive' ORDER BY g.code LIMIT 1) s")
    return float(row[0]), float(row[1])


def _reported(client: httpx.Client, **headers) -> int:
    r = client.get("/api/v1/incidents/kpis", params={"by": "category"}, headers=headers)
    assert r.status_code == 200, r.text
    overall = r.json()["overall"]
    return int(overall["total"]) if overall else 0


def test_reads_come_from_the_standby(service, inside, admin):
    with service.client() as client:
        health = client.get("/healthz", headers=admin).json()
        assert health["reads"] == {"from": "replica", "in_recovery": True, "replica": "up"}
        located = client.get("/api/v1/locate", params={"lon": inside[0], "lat": inside[1]})
        assert located.status_code == 200 and located.json()["grid"]["code"]
        assert client.get("/api/v1/layers/grids", params={"limit": 5}).status_code == 200
        assert client.get("/maps/public").status_code == 200


def test_writes_go_on_while_the_replica_lags_and_the_writer_reads_its_own(service, clusters, inside):
    _, standby = clusters
    with service.client() as writer, service.client() as reader:
        before = _reported(reader)
        _sql(standby.url(DB), "SELECT pg_wal_replay_pause()")  # the replica lags from here on
        try:
            body = {"category": "sanitation", "lon": inside[0], "lat": inside[1], "description": "副本滞后 lag"}
            posted = writer.post("/api/v1/incidents", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
            assert posted.status_code == 201, posted.text
            position = posted.headers["gridmap-write-position"]
            assert writer.cookies.get("gridmap_wrote") == position
            assert _reported(reader) == before  # the reader is served by the paused replica
            assert _reported(writer) == before + 1  # the writer's read went to the primary
            with service.client() as other:  # a client without cookies sends the position as a header
                assert _reported(other, **{"Gridmap-Read-After": position}) == before + 1
                assert _reported(other, **{"Gridmap-Read-After": "not/a-position"}) == before
        finally:
            _sql(standby.url(DB), "SELECT pg_wal_replay_resume()")
        _wait(lambda: _reported(reader) == before + 1, timeout_s=15, what="the replica replays the write")


def test_reads_fall_back_to_the_primary_when_the_replica_stops(service, clusters, inside, admin):
    _, standby = clusters
    standby.stop()
    try:
        with service.client() as client:
            for _ in range(5):
                started = time.monotonic()
                r = client.get("/api/v1/locate", params={"lon": inside[0], "lat": inside[1]})
                assert r.status_code == 200, r.text
                assert time.monotonic() - started < 5.0  # refused at once; at most one connect timeout
            health = client.get("/healthz", headers=admin).json()
            assert health["status"] == "ok"
            assert health["reads"] == {"from": "primary", "in_recovery": False, "replica": "down"}
            posted = client.post("/api/v1/incidents", json={"category": "sanitation", "lon": inside[0],
                                                            "lat": inside[1], "description": "副本停止 down"})
            assert posted.status_code == 201, posted.text
    finally:
        standby.start()
    with service.client() as client:  # tried again after RETRY_S: reads return to the replica
        _wait(lambda: client.get("/healthz", headers=admin).json()["reads"]["from"] == "replica", timeout_s=RETRY_S + 20,
              what="reads return to the restarted replica")
