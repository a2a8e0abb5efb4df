"""Regression tests for the findings of the attack on the running service (issue 14): one test per finding,
each sending the probe that worked and expecting the refusal (4xx/401/403) or the harmless answer.

The world is the hand-made community of ``tests/layers/people_fixtures.py`` (county 620399, street 620399001,
grids G1/G2) plus orders placed directly in a second street (620399002) that no account of street 001 may see.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings, Settings
from tests.accounts_fixtures import bearer
from tests.layers import people_fixtures as fx

SECRET = "test-secret-security-0123456789abcdef"
STREET_1, STREET_2 = "620399001", "620399002"
OTHER_GRID = STREET_2 + "001001"  # a grid of the other street


def _order(session, grid: str, state: str, *, taker: int | None = None) -> int:
    return session.execute(text(
        "INSERT INTO service_orders (category, state, geom, original_lon, original_lat, original_crs, grid_code, "
        "community_code, resident_name, resident_phone, resident_token, taker_id, source) VALUES ('elderly_help', "
        ":state, ST_SetSRID(ST_MakePoint(102.3, 38.6), 4326), 102.3, 38.6, 'wgs84', :grid, :community, '保密居民', "
        "'13700009999', md5(random()::text), :taker, 'test') RETURNING id"),
        {"state": state, "grid": grid, "community": grid[:12], "taker": taker}).scalar()


@pytest.fixture(scope="module")
def world(module_db, module_sessionmaker):
    with module_sessionmaker() as s:
        ids = fx.build(s)
        people = ids["people"]
        ids["orders"] = {
            "g1": _order(s, fx.G1, "dispatched"),
            "g2": _order(s, fx.G2, "dispatched"),
            "g2_taken_by_party1": _order(s, fx.G2, "taken", taker=people["party1"]),
            "street2": _order(s, OTHER_GRID, "taken", taker=people["party2"]),
        }
        s.commit()
    settings = Settings(api=ApiSettings(environment="test", secret_key=SECRET, public_rate_per_min=0),
                        db=module_db)
    with TestClient(create_app(settings)) as client:
        yield client, ids


@pytest.fixture(scope="module")
def login(world, module_sessionmaker):
    """``login(username, roles, scope, person_id=None)`` → the Authorization header of that account."""

    def make(username, roles, scope, *, person_id=None):
        return bearer(module_sessionmaker, SECRET, username, roles, scope, person_id=person_id)

    return make


# ------------------------------------------------------------------------------------------- order scopes
def test_party_member_cannot_read_an_order_of_another_grid(world, login):
    """High: a party member read any dispatched/taken order's resident contact in any grid."""
    api, ids = world
    party1 = login("sec_party1", {"party_member"}, fx.G1, person_id=ids["people"]["party1"])
    r = api.get(f"/api/v1/orders/{ids['orders']['g2']}", headers=party1)
    assert r.status_code == 403, r.text
    assert "13700009999" not in r.text
    r = api.get(f"/api/v1/orders/{ids['orders']['street2']}", headers=party1)
    assert r.status_code == 403 and "13700009999" not in r.text


def test_party_member_reads_orders_of_their_grid_and_those_they_took(world, login):
    api, ids = world
    party1 = login("sec_party1", {"party_member"}, fx.G1, person_id=ids["people"]["party1"])
    assert api.get(f"/api/v1/orders/{ids['orders']['g1']}", headers=party1).status_code == 200
    taken = api.get(f"/api/v1/orders/{ids['orders']['g2_taken_by_party1']}", headers=party1)
    assert taken.status_code == 200 and taken.json()["resident_phone"] == "13700009999"
    assert api.get("/api/v1/orders/999999", headers=party1).status_code == 404


def test_street_dispatcher_lists_only_the_street_orders(world, login):
    """High: a street-level dispatcher listed other streets' orders with residents' contacts."""
    api, ids = world
    dispatcher = login("sec_dispatch_street1", {"dispatcher"}, STREET_1)
    r = api.get("/api/v1/orders", headers=dispatcher)
    assert r.status_code == 200, r.text
    listed = {o["id"] for o in r.json()["orders"]}
    assert {ids["orders"]["g1"], ids["orders"]["g2"]} <= listed
    assert ids["orders"]["street2"] not in listed
    assert all(o["grid_code"].startswith(STREET_1) for o in r.json()["orders"])
    assert api.get(f"/api/v1/orders/{ids['orders']['street2']}", headers=dispatcher).status_code == 403


def test_street_dispatcher_counts_only_the_street_orders(world, login):
    """High: ``/orders/stats`` counted every street's orders for a street-level dispatcher."""
    api, _ = world
    rows = api.get("/api/v1/orders/stats", headers=login("sec_dispatch_street1", {"dispatcher"}, STREET_1))
    assert rows.status_code == 200, rows.text
    grids = {row["grid_code"] for row in rows.json()["rows"]}
    assert grids and all(g.startswith(STREET_1) for g in grids)
    everything = api.get("/api/v1/orders/stats", headers=login("sec_dispatch_all", {"dispatcher"}, ""))
    assert OTHER_GRID in {row["grid_code"] for row in everything.json()["rows"]}


def test_grid_staff_of_one_grid_cannot_act_on_another_grid_order(world, login):
    api, ids = world
    staff_g1 = login("sec_staff_g1", {"grid_staff"}, fx.G1)
    listed = api.get("/api/v1/orders", headers=staff_g1).json()["orders"]
    assert {o["grid_code"] for o in listed} == {fx.G1}
    assert api.get(f"/api/v1/orders/{ids['orders']['g2']}/suggestions", headers=staff_g1).status_code == 403
