"""Residents' forms and tracking through the API on the hand-made community: 随手拍, 点单 and 微心愿 each return a
short tracking code; the code shows the status, the steps, who took it (the name as published) and, once done,
takes the rating. Bad input is answered per field in Chinese and stores nothing; the honeypot and the shared
rate limit keep robots out."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings, Settings
from gis.coords import from_wgs84
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declared_bearer
from tests.layers import people_fixtures as fx

SECRET = TEST_SECRET
IN_G2 = {"lon": 102.3062, "lat": 38.6025}
PRIVATE = ("测试居民", "13711112222")


@pytest.fixture(scope="module")
def world(module_db, module_sessionmaker):
    with module_sessionmaker() as s:
        ids = fx.build(s)
    settings = Settings(api=ApiSettings(environment="test", secret_key=SECRET, public_rate_per_min=0), db=module_db)
    with accounts_in(module_sessionmaker), TestClient(create_app(settings)) as c:
        yield c, ids


def auth(roles, scope="", sub=None, person_id=None):
    return declared_bearer(sub, roles, scope, person_id=person_id)


def counts(module_sessionmaker) -> tuple[int, ...]:
    with module_sessionmaker() as s:
        return s.execute(text("SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM service_orders), "
                              "(SELECT count(*) FROM wishes), (SELECT count(*) FROM resident_tracks)")).one()


def follow(api, token):
    r = api.get(f"/api/v1/track/{token}")
    assert r.status_code == 200, r.text
    assert not any(p in r.text for p in PRIVATE)  # a code may be passed on: never the resident's own contact
    return r.json()


def test_a_report_is_followed_to_its_close_and_rated(world, module_sessionmaker):
    api, _ = world
    r = api.post("/api/v1/residents/reports", json={**IN_G2, "category": "cable_mess", "description": "楼道口蜘蛛网线",
                                                    "photo_url": "https://img.example.cn/a.jpg", "name": PRIVATE[0],
                                                    "phone": PRIVATE[1]})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert len(token) == 10 and r.json()["track_url"] == f"/maps/track/{token}" and token in r.json()["message"]
    seen = follow(api, token.lower()[:4] + "-" + token.lower()[4:])  # typed in lower case, with a dash
    assert (seen["kind_zh"], seen["title"], seen["state"], seen["can_rate"]) == ("随手拍", "蜘蛛网线", "reported", False)
    assert seen["taker"]["name"] == "赵网格员"  # the grid worker of G2, as the board names him
    assert api.post(f"/api/v1/track/{token}/rating", json={"rating": 5}).status_code == 409  # not done yet
    with module_sessionmaker() as s:
        iid = s.scalar(text("SELECT object_id FROM resident_tracks WHERE token = :t"), {"t": token})
    for action in ("register", "dispatch", "handle", "feedback", "verify", "close"):
        api.post(f"/api/v1/incidents/{iid}/transitions", json={"action": action},
                 headers=auth({"dispatcher"})).raise_for_status()
    done = follow(api, token)
    assert done["done"] and done["can_rate"] and [s["zh"] for s in done["steps"]][0] == "上报"
    rated = api.post(f"/api/v1/track/{token}/rating", json={"rating": 4, "feedback": "处理得快"}).json()
    assert rated["rating"] == 4 and not rated["can_rate"]
    assert api.post(f"/api/v1/track/{token}/rating", json={"rating": 1}).status_code == 409


def test_an_order_shows_dispatch_acceptance_and_takes_the_rating(world, module_sessionmaker):
    api, ids = world
    party2 = ids["people"]["party2"]
    r = api.post("/api/v1/residents/orders", json={**IN_G2, "category": "elderly_help", "description": "帮忙取药",
                                                   "name": PRIVATE[0], "phone": PRIVATE[1]})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    with module_sessionmaker() as s:
        oid = s.scalar(text("SELECT id FROM service_orders WHERE resident_token = :t"), {"t": token})
    staff = auth({"grid_staff"}, fx.COMMUNITY, "社区书记")
    api.post(f"/api/v1/orders/{oid}/dispatch", json={"taker_id": party2}, headers=staff).raise_for_status()
    waiting = follow(api, token)
    assert waiting["state_zh"] == "社区派单，待党员接单" and waiting["taker"] is None
    party = auth({"party_member"}, fx.G2, "冯党员", person_id=party2)
    api.post(f"/api/v1/orders/{oid}/accept", headers=party).raise_for_status()
    taken = follow(api, token)
    assert taken["taker"] == {"name": "冯党员", "role_zh": "接单党员"} and "党员 冯党员 已接单" in [
        s["zh"] for s in taken["steps"]]
    api.post(f"/api/v1/orders/{oid}/fulfil", headers=party).raise_for_status()
    rated = api.post(f"/api/v1/track/{token}/rating", json={"rating": 5, "feedback": "很及时"}).json()
    assert (rated["state"], rated["rating"], rated["can_rate"]) == ("closed", 5, False)


def test_a_wish_is_placed_by_its_point_and_followed(world):
    api, _ = world
    r = api.post("/api/v1/residents/wishes", json={**IN_G2, "title": "想学用智能手机"})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert follow(api, token)["place"] == "测试社区第02网格"
    wid = next(w["id"] for w in api.get("/api/v1/wishes/public").json()["wishes"] if w["title"] == "想学用智能手机")
    staff = auth({"grid_staff"}, fx.COMMUNITY)
    api.post(f"/api/v1/wishes/{wid}/claim", json={"unit": "金川区老年大学"}, headers=staff).raise_for_status()
    api.post(f"/api/v1/wishes/{wid}/fulfil", headers=staff).raise_for_status()
    seen = follow(api, token)
    assert seen["taker"] == {"name": "金川区老年大学", "role_zh": "认领单位"} and seen["can_rate"]
    assert api.post(f"/api/v1/track/{token}/rating", json={"rating": 5}).json()["rating"] == 5


@pytest.mark.parametrize(("path", "body", "fields"), [
    ("reports", {"category": "ufo", "description": " ", "photo_url": "javascript:alert(1)", "phone": "call me"},
     {"category", "description", "photo_url", "phone", "place"}),
    ("reports", {**IN_G2, "category": "cable_mess", "description": "长" * 501}, {"description"}),
    ("orders", {**IN_G2, "category": "elderly_help", "description": "x", "name": "名" * 41}, {"name"}),
    ("orders", {"lon": 38.6, "lat": 102.3, "category": "errand", "description": "x"}, {"place"}),
    ("orders", {"lon": 102.2, "lat": 38.7, "category": "errand", "description": "x"}, {"place"}),  # in no community
    ("wishes", {**IN_G2, "title": ""}, {"title"}),
    ("wishes", {"lon": 102.2, "lat": 38.7, "title": "想要书"}, {"place"}),  # in no grid
    ("wishes", {**IN_G2, "title": "想要书", "homepage": "http://spam.example"}, {"homepage"}),  # the honeypot
])
def test_bad_input_is_answered_under_each_field_and_stores_nothing(world, module_sessionmaker, path, body, fields):
    api, _ = world
    before = counts(module_sessionmaker)
    r = api.post(f"/api/v1/residents/{path}", json=body)
    assert r.status_code == 422, r.text
    said = r.json()["error"]["detail"]["fields"]
    assert set(said) == fields
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in message) for message in said.values())  # plain Chinese
    assert counts(module_sessionmaker) == before


def test_unknown_codes_and_odd_input(world):
    api, _ = world
    for code in ("0000000000", "abc", "K7M3PQ9XA%00", "%E6%A5%BC" * 3):
        r = api.get(f"/api/v1/track/{code}")
        assert r.status_code == 404 and "没有这个查询码" in r.json()["error"]["message"], code
    assert api.get("/api/v1/track/" + "K7M3PQ9XAB" * 5).status_code == 422  # longer than any code
    assert api.post("/api/v1/residents/reports", content=b"\xff\xfe", headers={"Content-Type": "application/json"}
                    ).status_code == 422
    assert api.post("/api/v1/residents/orders", json=[1, 2]).status_code == 422
    assert api.get("/maps/track/K7M3PQ9XAB").status_code == 200  # the page itself says when a code is none


def test_places_are_found_by_name_never_by_code(world):
    api, _ = world
    found = api.get("/api/v1/residents/places", params={"q": "测试超市"}).json()["places"]
    assert found[0]["kind"] == "facility" and found[0]["lon"] == pytest.approx(102.3065)
    assert api.get("/api/v1/residents/places", params={"q": fx.G1}).json()["places"] == []
    assert api.get("/api/v1/residents/places", params={"q": "%"}).json()["places"] == []
    found = api.get("/api/v1/residents/places", params={"q": "测试", "limit": 20}).json()["places"]
    assert {"测试社区", "测试超市", "测试小区1号楼", "测试社区第01网格"} <= {p["name"] for p in found}
    assert not any(p["detail"] and p["detail"].isdigit() for p in found)  # no codes shown
    assert api.get("/api/v1/residents/places", params={"q": ""}).json()["places"] == []


def test_a_phone_position_is_shifted_only_for_a_gcj02_page(world):
    api, _ = world
    here = {"lon": 102.19, "lat": 38.52}
    assert api.get("/api/v1/residents/position", params=here).json() == {**here, "crs": "wgs84"}
    shifted = api.get("/api/v1/residents/position", params={**here, "crs": "gcj02"}).json()
    expected = [round(float(v), 7) for v in from_wgs84(here["lon"], here["lat"], "gcj02")]
    assert [shifted["lon"], shifted["lat"]] == expected and shifted["lon"] != here["lon"]
    for bad in ({"lon": 102.19, "lat": 91}, {"lon": "nan", "lat": 38.5}, {"lon": 102.19, "lat": 38.5, "crs": "bd09"},
                {"lat": 38.5}):
        r = api.get("/api/v1/residents/position", params=bad)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", bad


def test_the_forms_share_the_public_rate_limit(module_db, world):
    settings = Settings(api=ApiSettings(environment="test", secret_key=SECRET, public_rate_per_min=1,
                                        public_rate_burst=3), db=module_db)
    with TestClient(create_app(settings)) as c:
        c.post("/api/v1/residents/wishes", json={**IN_G2, "title": "一"}).raise_for_status()
        c.post("/api/v1/orders", json={**IN_G2, "category": "errand"}).raise_for_status()  # the same bucket
        c.get("/api/v1/track/0000000000")
        r = c.post("/api/v1/residents/reports", json={**IN_G2, "category": "cable_mess", "description": "x"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
