"""Privacy (PIPL): personal data put in through every intake never comes out of a public endpoint.

Reports, orders, wishes and ledger entries are written with marked names, phones and e-mails, and a report of
a sensitive category at a precise point. Then every GET route the matrix opens to ANYONE is called without
credentials and as a signed-in public account, and no answer may contain a marker or the precise point.
The staff view of the same data does contain the markers (so the test can fail), and reading it is audited.
"""

from __future__ import annotations

import re

import fastapi.routing as fr
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.permissions import ANYONE, MATRIX
from api.settings import ApiSettings, Settings
from layers.db import make_engine
from tests.accounts_fixtures import TEST_SECRET, token

SECRET = TEST_SECRET
NAME, PHONE, EMAIL = "隐私测试张三丰", "13912345678", "zhangsanfeng@example.invalid"
LEDGER_NAME, LEDGER_PHONE = "台账测试李四光", "13787654321"
MARKERS = [NAME, PHONE, EMAIL, LEDGER_NAME, LEDGER_PHONE]


@pytest.fixture(scope="module")
def world(module_demo_db):
    module_db = module_demo_db
    eng = make_engine(module_db, pool_size=2, max_overflow=2)
    with eng.connect() as conn:
        grid, lon, lat, gid, plon, plat = conn.execute(
            text(
                "WITH g AS (SELECT g.* FROM grids g JOIN grid_plans p ON p.id = g.plan_id "
                "WHERE p.status = 'published' AND g.kind = 'comprehensive' ORDER BY g.code LIMIT 1), "
                "r AS (SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(g.geom, -0.0002), 1, 4242))).geom AS pt FROM g) "
                "SELECT g.code, ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)), g.id, "
                "round(ST_X(r.pt)::numeric, 7)::float8, round(ST_Y(r.pt)::numeric, 7)::float8 FROM g, r"
            )
        ).one()
        building = conn.scalar(
            text(
                "SELECT b.id FROM buildings b JOIN grids g ON ST_Covers(g.geom, ST_PointOnSurface(b.geom)) "
                "WHERE g.id = :g ORDER BY b.id LIMIT 1"
            ),
            {"g": gid},
        )
    eng.dispose()
    api = ApiSettings(environment="test", secret_key=SECRET, public_rate_per_min=0)
    with TestClient(create_app(Settings(api=api, db=module_db))) as c:
        made = {}
        for cat, x, y in (("sanitation", lon, lat), ("dispute", plon, plat)):
            r = c.post(
                "/api/v1/incidents",
                json={
                    "category": cat,
                    "lon": x,
                    "lat": y,
                    "description": "楼道堆物 synthetic",
                    "reporter_name": NAME,
                    "reporter_phone": PHONE,
                    "reporter_email": EMAIL,
                },
            )
            assert r.status_code == 201, r.text
            made[cat] = r.json()["incident"]["id"]
        r = c.post(
            "/api/v1/orders",
            json={
                "lon": lon,
                "lat": lat,
                "category": "elderly_help",
                "description": "x",
                "resident_name": NAME,
                "resident_phone": PHONE,
            },
        )
        assert r.status_code == 201, r.text
        made["order"] = r.json()["id"]
        r = c.post(
            "/api/v1/wishes",
            json={
                "grid_code": grid,
                "title": "一台轮椅 synthetic",
                "resident_name": NAME,
                "resident_phone": PHONE,
            },
        )
        assert r.status_code == 201, r.text
        made["wish"] = r.json().get("id")
        staff = token(c.app.state.sessionmaker, "privacy_staff", {"grid_staff"}, grid)
        if building is not None:
            r = c.post(
                "/api/v1/ledgers/entries",
                headers={"Authorization": f"Bearer {staff}"},
                json={
                    "building_id": building,
                    "kind": "resident",
                    "person_name": LEDGER_NAME,
                    "phone": LEDGER_PHONE,
                },
            )
            assert r.status_code == 201, r.text
        yield {
            "client": c,
            "grid": grid,
            "made": made,
            "precise": (plon, plat),
            "staff": staff,
            "module_db": module_db,
        }


def _public_gets(app) -> list[str]:
    out = []
    for ctx in fr.iter_route_contexts(app.routes):
        if "GET" in (ctx.methods or ()) and MATRIX.get(f"GET {ctx.path}") == ANYONE:
            out.append(ctx.path)
    return out


def test_no_public_answer_carries_personal_data(world):
    c, grid, made = world["client"], world["grid"], world["made"]
    fill = {
        "code": grid,
        "incident_id": str(made["dispute"]),
        "collection_id": "incidents",
        "feature_id": "1",
        "fmt": "json",
        "service_request_id": str(made["dispute"]),
        "service_code": "dispute",
        "layer": "incidents",
        "z": "12",
        "x": "3259",
        "y": "1562",
        "name": "gridmap.js",
        "path": "x",
    }
    public_token = token(c.app.state.sessionmaker, "resident", {"public"}, None)
    plon, plat = world["precise"]
    leaks, seen = [], 0
    for path in _public_gets(c.app):
        url = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: fill.get(m.group(1), "1"), path)
        for headers in ({}, {"Authorization": f"Bearer {public_token}"}):
            r = c.get(url, headers=headers)
            body = r.text
            seen += len(body)
            # the precise point as a pair (lon then lat, or lat then lon, a few characters apart); single
            # 7-decimal values occur by chance among the thousands of vertices of a large layer
            point = [f"{plon}(?!\\d)\\D{{1,20}}{plat}(?!\\d)", f"{plat}(?!\\d)\\D{{1,20}}{plon}(?!\\d)"]
            for pattern in [*(re.escape(m) for m in MARKERS), *(p.replace(".", "\\.") for p in point)]:
                hit = re.search(pattern, body)
                if hit:
                    who = "public account" if headers else "anonymous"
                    around = body[max(0, hit.start() - 150) : hit.end() + 50]
                    leaks.append(f"{url} ({who}): {pattern!r} in …{around}…")
    assert not leaks, "\n".join(leaks)
    assert seen > 10_000  # the answers were real pages, not just errors


def test_public_incident_view_hides_reporter_and_snaps_sensitive_point(world):
    c, made = world["client"], world["made"]
    r = c.get(f"/api/v1/incidents/{made['dispute']}")
    assert r.status_code == 200
    body = r.text
    assert NAME not in body and PHONE not in body
    plon, plat = world["precise"]
    assert str(plon) not in body and str(plat) not in body


def test_staff_view_has_the_data_and_the_read_is_audited(world):
    c, made, grid = world["client"], world["made"], world["grid"]
    h = {"Authorization": f"Bearer {world['staff']}"}
    r = c.get(f"/api/v1/incidents/{made['sanitation']}", headers=h)
    assert r.status_code == 200 and NAME in r.text  # the markers do come out for the grid's own staff
    r = c.get(f"/api/v1/incidents/{made['dispute']}", headers=h)
    plon, plat = world["precise"]
    assert r.status_code == 200 and str(plon) in r.text and str(plat) in r.text  # and the precise point
    r = c.get("/api/v1/ledgers/entries", params={"grid": grid}, headers=h)
    assert r.status_code == 200 and LEDGER_NAME in r.text
    eng = make_engine(world["module_db"], pool_size=1, max_overflow=0)
    with eng.connect() as conn:
        rows = conn.execute(
            text("SELECT object_type, action FROM audit_log WHERE subject = 'privacy_staff'")
        ).all()
    eng.dispose()
    kinds = {(t, a) for t, a in rows}
    assert ("ledger_entry", "read") in kinds and ("ledger_entry", "create") in kinds
    assert any(t.startswith("incident") and a == "read" for t, a in kinds), kinds
