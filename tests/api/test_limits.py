"""Limits: body size (413), batch size (413), public intake rate (429 + Retry-After); nothing is stored."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings, Settings
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declare

SECRET = TEST_SECRET


@pytest.fixture(scope="module")
def limited(module_db, module_sessionmaker):
    api = ApiSettings(
        environment="test",
        secret_key=SECRET,
        max_body_bytes=2_000,
        max_upload_bytes=50_000,
        max_batch_points=5,
        public_rate_per_min=6,
        public_rate_burst=3,
    )
    with accounts_in(module_sessionmaker), TestClient(create_app(Settings(api=api, db=module_db))) as c:
        yield c


def _count(module_sessionmaker, table: str) -> int:
    with module_sessionmaker() as s:
        return s.scalar(text(f"SELECT count(*) FROM {table}"))


def test_declared_body_over_limit_is_refused(limited, module_sessionmaker):
    body = json.dumps({"category": "sanitation", "lon": 102.18, "lat": 38.5, "description": "x" * 3000})
    r = limited.post(
        "/api/v1/incidents",
        content=body,
        headers={"Content-Type": "application/json", "X-API-Key": "size-test"},
    )
    assert r.status_code == 413
    err = r.json()["error"]
    assert err["code"] == "payload_too_large" and err["detail"] == {"max_body_bytes": 2000}
    assert "2000" in err["message"] and "拆分" in err["message"]
    assert _count(module_sessionmaker, "incidents") == 0


def test_streamed_body_over_limit_is_refused(limited, module_sessionmaker):
    def chunks():
        for _ in range(10):
            yield b" " * 500  # 5000 bytes with no Content-Length (chunked)

    r = limited.post("/api/v1/locate/batch", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["detail"]["max_body_bytes"] == 2000


def test_uploads_have_their_own_larger_limit(limited):
    # 10 kB is over the general limit but under the upload limit: the import route answers for itself
    r = limited.post("/api/v1/plans/import", content=b"x" * 10_000)
    assert r.status_code != 413
    r = limited.post("/api/v1/plans/import", content=b"x" * 60_000)
    assert r.status_code == 413 and r.json()["error"]["detail"]["max_body_bytes"] == 50_000


def test_batch_over_point_limit_is_refused(limited):
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"i": i},
                "geometry": {"type": "Point", "coordinates": [102.18, 38.5]},
            }
            for i in range(6)
        ],
    }
    r = limited.post("/api/v1/locate/batch", json=fc)
    assert r.status_code == 413
    msg = r.json()["error"]["message"]
    assert "5" in msg and "6" in msg


def test_public_intake_is_rate_limited_per_client(limited, module_sessionmaker):
    from layers.accounts import create_api_key, create_user

    with module_sessionmaker() as s:  # two systems with their own keys (each has its own budget)
        for name in ("hotline_a", "hotline_b"):
            create_user(s, name, "a-long-password", roles=["system"])
        keys = {name: create_api_key(s, name, "intake") for name in ("hotline_a", "hotline_b")}
        s.commit()
    before = _count(module_sessionmaker, "service_orders")
    h = {"X-API-Key": keys["hotline_a"]}
    # the burst of 3 gets through to the route (which refuses the empty body with 422)
    assert [limited.post("/api/v1/orders", json={}, headers=h).status_code for _ in range(3)] == [422] * 3
    r = limited.post("/api/v1/orders", json={}, headers=h)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "10"  # 6 a minute: one token every 10 s
    err = r.json()["error"]
    assert err["code"] == "rate_limited" and err["detail"]["retry_after_s"] == 10 and "重试" in err["message"]
    # the limit is shared across the public intake endpoints, per client
    assert limited.post("/api/v1/wishes", json={}, headers=h).status_code == 429
    # another client, reads, and signed-in staff are not held back
    assert limited.post("/api/v1/orders", json={}, headers={"X-API-Key": keys["hotline_b"]}).status_code == 422
    assert limited.get("/api/v1/orders/categories", headers=h).status_code == 200
    staff = declare(None, {"dispatcher"}, "")
    r = limited.post("/api/v1/orders", json={}, headers={**h, "Authorization": f"Bearer {staff}"})
    assert r.status_code == 422
    assert _count(module_sessionmaker, "service_orders") == before


def test_shared_bucket_refills_at_the_set_rate(module_sessionmaker):
    from layers.rate_limits import take

    with module_sessionmaker() as s:
        conn = s.connection()

        def spend(bucket="t:a", cost=1):
            return take(conn, bucket, cost=cost, burst=2, per_min=60)

        def age(seconds):  # the database's clock is the only clock: move the bucket's last use back
            conn.execute(text("UPDATE rate_limits SET at = at - make_interval(secs => :s) WHERE bucket = 't:a'"),
                         {"s": seconds})

        assert spend() == 0 and spend() == 0
        assert spend() == pytest.approx(1.0, abs=0.05)  # one a second
        age(0.5)
        assert spend() == pytest.approx(0.5, abs=0.05)
        age(0.6)
        assert spend() == 0 and spend("t:b") == 0
        age(100)
        assert spend() == 0 and spend() == 0 and spend() > 0  # refills to the burst, not beyond
        assert spend(cost=3) == float("inf")  # more than the whole burst: never
        s.rollback()


def test_nul_characters_are_refused_with_422(limited):
    r = limited.post("/api/v1/auth/token", data={"username": "a\x00b", "password": "x" * 12})
    assert r.status_code == 422
    assert "NUL" in r.json()["error"]["message"]


def test_values_the_database_cannot_take_are_422(limited):
    staff = declare(None, {"dispatcher"}, "")
    r = limited.get(
        "/api/v1/incidents",
        params={"until": "2224-04-17T12:44:58+17:53"},
        headers={"Authorization": f"Bearer {staff}"},
    )
    assert r.status_code == 422, r.text
    assert "out of range" in r.json()["error"]["message"]


def test_every_public_intake_path_is_rate_limited():
    from api.limits import PUBLIC_INTAKE

    def limited(path):
        return any(method == "POST" and rx.match(path) for method, rx in PUBLIC_INTAKE)

    for path in ("/api/v1/incidents", "/api/v1/orders", "/api/v1/orders/7/rating", "/api/v1/wishes",
                 "/open311/v2/requests.json", "/open311/v2/requests.xml", "/open311/v2/requests"):
        assert limited(path), path
    assert not limited("/api/v1/orders/7/dispatch")
