"""三单 and 微心愿 through the API from placement to closure, and who may read the ledgers (and that it is logged)."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings, Settings
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declared_bearer
from tests.layers import people_fixtures as fx

SECRET = TEST_SECRET


@pytest.fixture(scope="module")
def world(module_db, module_sessionmaker):
    with module_sessionmaker() as s:
        ids = fx.build(s)
    settings = Settings(api=ApiSettings(environment="test", secret_key=SECRET), db=module_db)
    with accounts_in(module_sessionmaker), TestClient(create_app(settings)) as c:
        yield c, ids


def auth(roles, scope, sub=None, person_id=None):
    return declared_bearer(sub, roles, scope, person_id=person_id)


STAFF = auth({"grid_staff"}, fx.COMMUNITY, "社区书记")


def audit_rows(module_sessionmaker, object_type):
    with module_sessionmaker() as s:
        return s.execute(text("SELECT subject, action, object_id FROM audit_log WHERE object_type = :t ORDER BY id"),
                         {"t": object_type}).all()


def test_an_order_from_placement_to_closure_with_suggestions(world, module_sessionmaker):
    api, ids = world
    people = ids["people"]
    r = api.post("/api/v1/orders", json={"lon": 102.3062, "lat": 38.6025, "category": "elderly_help",
                                         "description": "帮忙取药", "resident_name": "测试居民",
                                         "resident_phone": "13711112222"})
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["grid_code"] == fx.G2 and order["state"] == "placed"
    assert "resident_name" not in order and "13711112222" not in r.text
    oid, token = order["id"], order["resident_token"]

    # suggestions: the two party members of grid 002 first, then the one of grid 001 by walking distance
    sug = api.get(f"/api/v1/orders/{oid}/suggestions", headers=STAFF).json()["suggestions"]
    assert {s["person_id"] for s in sug[:2]} == {people["party2"], people["party3"]}
    assert all(s["same_grid"] for s in sug[:2]) and sug[2]["person_id"] == people["party1"]
    assert not sug[2]["same_grid"] and sug[2]["walk_m"] > 0
    assert api.get(f"/api/v1/orders/{oid}/suggestions").status_code == 401

    assert api.post(f"/api/v1/orders/{oid}/dispatch", json={}, headers=STAFF).status_code == 422  # to whom?
    taker, other = sug[0]["person_id"], sug[1]["person_id"]
    r = api.post(f"/api/v1/orders/{oid}/dispatch", json={"taker_id": taker}, headers=STAFF)
    assert r.status_code == 200 and r.json()["state"] == "dispatched" and r.json()["due_at"]
    assert (r.json()["offered_to_id"], r.json()["taker_id"]) == (taker, None)  # offered, not yet taken
    party = auth({"party_member"}, fx.G2, "党员", person_id=taker)
    # staff cannot accept for the party member; another party member, or one of another grid, may not either
    assert api.post(f"/api/v1/orders/{oid}/accept", headers=STAFF).status_code == 403
    assert api.post(f"/api/v1/orders/{oid}/accept",
                    headers=auth({"party_member"}, fx.G2, "别人", person_id=other)).status_code == 403
    assert api.post(f"/api/v1/orders/{oid}/accept",
                    headers=auth({"party_member"}, fx.G1, "外网格", person_id=taker)).status_code == 403
    assert api.post(f"/api/v1/orders/{oid}/accept", headers=auth({"party_member"}, fx.G2)).status_code == 403
    r = api.post(f"/api/v1/orders/{oid}/accept", headers=party)
    assert r.status_code == 200 and r.json()["taker_id"] == taker and r.json()["state"] == "taken"
    assert api.post(f"/api/v1/orders/{oid}/fulfil", headers=party).json()["state"] == "fulfilled"
    bad = api.post(f"/api/v1/orders/{oid}/rating", json={"resident_token": "x" * 20, "rating": 5})
    assert bad.status_code in (403, 422)
    r = api.post(f"/api/v1/orders/{oid}/rating", json={"resident_token": token, "rating": 5, "feedback": "很及时"})
    assert r.status_code == 200 and r.json()["state"] == "closed" and r.json()["rating"] == 5
    # the closed order cannot be rated again
    assert api.post(f"/api/v1/orders/{oid}/rating", json={"resident_token": token, "rating": 1}).status_code == 409

    stats = api.get("/api/v1/orders/stats", headers=STAFF).json()["rows"]
    g2 = [row for row in stats if row["grid_code"] == fx.G2]
    assert g2 and g2[0]["placed"] >= 1 and g2[0]["fulfilled"] >= 1 and g2[0]["late"] == 0

    detail = api.get(f"/api/v1/orders/{oid}", headers=STAFF).json()
    assert detail["resident_phone"] == "13711112222"
    assert ("社区书记", "read", str(oid)) in audit_rows(module_sessionmaker, "service_order")


def test_a_party_member_refuses_and_the_community_dispatches_again(world):
    api, ids = world
    party2, party3 = ids["people"]["party2"], ids["people"]["party3"]
    oid = api.post("/api/v1/orders", json={"lon": 102.3062, "lat": 38.6025, "category": "errand"}).json()["id"]
    api.post(f"/api/v1/orders/{oid}/dispatch", json={"taker_id": party2}, headers=STAFF).raise_for_status()
    me = auth({"party_member"}, fx.G2, "党员二", person_id=party2)
    assert api.post(f"/api/v1/orders/{oid}/refuse", json={"reason": ""}, headers=me).status_code == 422
    r = api.post(f"/api/v1/orders/{oid}/refuse", json={"reason": "这周在外地"}, headers=me)
    assert r.status_code == 200 and r.json()["state"] == "placed" and r.json()["offered_to_id"] is None
    sug = [x["person_id"] for x in api.get(f"/api/v1/orders/{oid}/suggestions", headers=STAFF).json()["suggestions"]]
    assert party2 not in sug
    again = api.post(f"/api/v1/orders/{oid}/dispatch", json={"taker_id": party2}, headers=STAFF)
    assert again.status_code == 409
    api.post(f"/api/v1/orders/{oid}/dispatch", json={"taker_id": party3}, headers=STAFF).raise_for_status()
    assert api.post(f"/api/v1/orders/{oid}/accept", headers=me).status_code == 403  # no longer theirs


def test_a_wish_from_posting_to_fulfilment_public_list_has_no_names(world, module_sessionmaker):
    api, _ = world
    r = api.post("/api/v1/wishes", json={"grid_code": fx.G1, "title": "想要一副老花镜", "resident_name": "王奶奶",
                                         "resident_phone": "13800001111"})
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    assert "王奶奶" not in r.text and "13800001111" not in r.text
    assert api.post(f"/api/v1/wishes/{wid}/claim", json={"unit": "x"},
                    headers=auth({"grid_staff"}, "620398")).json()["error"]["message"].startswith("无权处理其他网格的微心愿")
    claim = api.post(f"/api/v1/wishes/{wid}/claim", json={"unit": "金川区卫健局"}, headers=STAFF)
    assert claim.status_code == 200 and claim.json()["state"] == "claimed"
    assert api.post(f"/api/v1/wishes/{wid}/fulfil", headers=STAFF).json()["state"] == "fulfilled"
    public = api.get("/api/v1/wishes/public", params={"grid": fx.COMMUNITY})
    assert public.status_code == 200
    mine = [w for w in public.json()["wishes"] if w["id"] == wid]
    assert mine and mine[0]["state"] == "fulfilled"
    assert "王奶奶" not in public.text and "13800001111" not in public.text
    staff = api.get("/api/v1/wishes", headers=STAFF)
    assert "王奶奶" in staff.text
    sibling = api.get("/api/v1/wishes", headers=auth({"grid_staff"}, fx.G2)).json()
    assert wid not in [w["id"] for w in sibling["wishes"]] and "王奶奶" not in str(sibling)  # G1's wish
    assert api.get("/api/v1/wishes").status_code == 401


@pytest.mark.parametrize(
    ("roles", "scope", "status"),
    [
        (None, None, 401),  # anonymous
        ({"public"}, None, 403),
        ({"party_member"}, fx.G1, 403),  # not a role that needs ledgers
        ({"grid_staff"}, fx.G2, 403),  # the sibling grid's worker
        ({"grid_staff"}, fx.G1, 200),  # the grid's own worker
        ({"grid_staff"}, fx.COMMUNITY, 200),  # the community above it
        ({"grid_staff"}, "620399001", 200),  # the street above that
        ({"grid_staff"}, "620398", 403),  # another county
        ({"dispatcher"}, "", 200),
    ],
)
def test_ledger_entries_only_for_the_grid_and_higher_levels(world, module_sessionmaker, roles, scope, status):
    api, ids = world
    building = ids["buildings"][1]["id"]  # in grid 001
    api.post("/api/v1/ledgers/entries", headers=auth({"grid_staff"}, fx.G1, "网格员"),
             json={"building_id": building, "kind": "special_care", "person_name": "独居老人甲",
                   "phone": "13912345678"}).raise_for_status()
    before = len(audit_rows(module_sessionmaker, "ledger_entry"))
    reader = f"reader-{'-'.join(sorted(roles or ()))}-{scope}"
    headers = auth(roles, scope, reader) if roles else {}
    r = api.get("/api/v1/ledgers/entries", params={"grid": fx.G1}, headers=headers)
    assert r.status_code == status, r.text
    after = audit_rows(module_sessionmaker, "ledger_entry")
    if status == 200:
        assert "独居老人甲" in r.text
        assert len(after) == before + 1 and after[-1][0] == reader
    else:
        assert "独居老人甲" not in r.text and len(after) == before


def test_ledger_counts_feed_building_and_grid_figures(world, module_sessionmaker):
    api, ids = world
    building = ids["buildings"][4]["id"]  # in grid 002
    r = api.put(f"/api/v1/buildings/{building}/ledger", headers=STAFF,
                json={"resident": {"persons": 50, "households": 20}, "floating": {"persons": 10, "households": 4}})
    assert r.status_code == 200, r.text
    with module_sessionmaker() as s:
        hh, res = s.execute(text("SELECT households, residents FROM buildings WHERE id = :b"), {"b": building}).one()
    assert (hh, res) == (24, 60)
    kinds = api.get("/api/v1/ledgers/kinds").json()["kinds"]
    assert {k["kind"]: k["colour"] for k in kinds}["special_care"] == "red"
