"""/healthz on a real database, and on a stopped one."""

import socket

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers.settings import DatabaseSettings
from tests.accounts_fixtures import bearer


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


def test_healthz_tells_only_an_administrator_the_internals(app_settings, sessionmaker_):
    with TestClient(create_app(app_settings)) as client:
        anonymous = client.get("/healthz")
        staff = client.get("/healthz", headers=bearer(sessionmaker_, None, ["dispatcher"], ""))
        forged = client.get("/healthz", headers={"Authorization": "Bearer not.a.token"})
        admin = client.get("/healthz", headers=bearer(sessionmaker_, None, ["admin"], ""))
    for r in (anonymous, staff, forged):  # what a load balancer needs, no versions, replicas or workers
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "database": "ok"}
    assert admin.status_code == 200
    body = admin.json()
    assert body["status"] == "ok"
    assert body["postgis"].startswith("3.")
    assert int(body["postgresql"].split(".")[0]) >= 15
    assert body["reads"]["from"] == "primary" and body["worker"]


def test_healthz_with_the_database_down_is_503_not_a_crash():
    db = DatabaseSettings(url=f"postgresql://postgres@127.0.0.1:{_closed_port()}/gridmap", connect_timeout_s=1)
    with TestClient(create_app(Settings(api=ApiSettings(environment="test"), db=db))) as client:
        r = client.get("/healthz")
        layers = client.get("/api/v1/layers/grids")
    assert r.status_code == 503
    assert r.headers["Retry-After"]
    assert r.json()["status"] == "unhealthy"
    assert layers.status_code == 503 and layers.headers["Retry-After"]
    assert "psycopg2" not in layers.text and "127.0.0.1" not in layers.text  # no internals leak


def test_openapi_describes_every_route(app_settings):
    with TestClient(create_app(app_settings)) as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert docs.status_code == 200
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary") or op.get("description"), f"{method.upper()} {path} has no OpenAPI text"
