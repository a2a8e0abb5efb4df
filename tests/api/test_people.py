"""Roster, contact-board and 包街 endpoints: who may see what, and no private phones on public answers."""

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings, Settings
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declared_bearer
from tests.layers import people_fixtures as fx


@pytest.fixture(scope="module")
def api(module_db, module_sessionmaker):
    with module_sessionmaker() as s:
        fx.build(s)
    settings = Settings(api=ApiSettings(environment="test", secret_key=TEST_SECRET), db=module_db)
    with accounts_in(module_sessionmaker), TestClient(create_app(settings)) as c:
        yield c


def _auth(roles, scope):
    return declared_bearer(None, roles, scope)


def test_audit_needs_sign_in(api):
    assert api.get("/api/v1/roster/audit").status_code == 401
    assert api.get("/api/v1/roster/audit", headers=_auth({"party_member"}, "")).status_code == 403


def test_audit_for_a_community_worker_is_limited_to_the_community(api):
    r = api.get("/api/v1/roster/audit", headers=_auth({"grid_staff"}, fx.COMMUNITY))
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 4
    assert all(v["grid_code"].startswith(fx.COMMUNITY) for v in body["vacancies"])


def test_a_grid_worker_sees_own_grid_not_a_sibling(api):
    own = api.get("/api/v1/roster/audit", headers=_auth({"grid_staff"}, fx.G1)).json()
    assert {v["grid_code"] for v in own["vacancies"]} == {fx.G1}
    sibling = api.get("/api/v1/roster/audit", params={"unit": fx.G2}, headers=_auth({"grid_staff"}, fx.G1))
    assert sibling.status_code == 403


def test_an_area_written_as_a_12_digit_code_sees_what_its_prefix_sees(api):
    as_prefix = api.get("/api/v1/roster/audit", headers=_auth({"dispatcher"}, "620399")).json()
    as_code = api.get("/api/v1/roster/audit", headers=_auth({"dispatcher"}, "620399000000")).json()
    assert as_code["count"] == as_prefix["count"] == 4
    listed = api.get("/api/v1/roster/assignments", headers=_auth({"planner"}, "620399000000")).json()
    assert listed["count"] == api.get("/api/v1/roster/assignments", headers=_auth({"planner"}, "")).json()["count"] > 0


def test_an_account_without_an_area_sees_no_roster(api):
    nowhere = _auth({"dispatcher"}, None)
    assert api.get("/api/v1/roster/audit", headers=nowhere).status_code == 403
    assert api.get("/api/v1/roster/assignments", headers=_auth({"planner"}, None)).status_code == 403


def test_audit_as_csv(api):
    r = api.get("/api/v1/roster/audit", params={"format": "csv"}, headers=_auth({"dispatcher"}, ""))
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0].startswith("grid_code,grid_name,kind,role")
    assert len(r.text.splitlines()) == 5


def test_summary_by_street(api):
    r = api.get("/api/v1/roster/summary", params={"by": "street"}, headers=_auth({"dispatcher"}, ""))
    rows = {row["unit"]: row for row in r.json()["rows"]}
    assert rows["620399001"]["total_vacancies"] == 4


def test_summary_only_of_the_callers_area_at_its_level_and_below(api):
    grids = api.get("/api/v1/roster/summary", params={"by": "grid"}, headers=_auth({"grid_staff"}, fx.G1)).json()
    assert [row["unit"] for row in grids["rows"]] == [fx.G1]
    above = api.get("/api/v1/roster/summary", params={"by": "street"}, headers=_auth({"grid_staff"}, fx.COMMUNITY))
    assert above.status_code == 200 and above.json()["rows"] == []


def test_board_is_public_and_has_no_private_phone(api):
    r = api.get(f"/api/v1/grids/{fx.G2}/board")
    assert r.status_code == 200
    assert "0935-1111111" in r.text and "139000" not in r.text
    page = api.get(f"/api/v1/grids/{fx.G2}/board.html")
    assert page.status_code == 200 and "网格公示牌" in page.text and "待配备" in page.text
    assert "139000" not in page.text


def test_board_of_an_unknown_grid_is_404_and_a_bad_code_422(api):
    assert api.get("/api/v1/grids/620399001001099/board").status_code == 404
    assert api.get("/api/v1/grids/12345/board").status_code == 422


def test_streets_without_unit_and_assigning_one(api):
    staff = _auth({"dispatcher"}, "")
    rows = api.get("/api/v1/street-responsibility/unassigned", headers=staff).json()["streets"]
    assert [r["street_name"] for r in rows] == ["测试路", "过期路"]
    target = rows[0]["id"]
    assert api.put(f"/api/v1/street-responsibility/{target}", json={"responsible_unit": "x"},
                   headers=_auth({"grid_staff"}, fx.G1)).status_code == 403
    bad = api.put(f"/api/v1/street-responsibility/{target}", headers=staff,
                  json={"responsible_unit": "测试中队", "valid_from": "2025-01-01", "valid_to": "2024-01-01"})
    assert bad.status_code == 422
    ok = api.put(f"/api/v1/street-responsibility/{target}", headers=staff,
                 json={"responsible_unit": "测试中队", "valid_from": "2024-01-01"})
    assert ok.status_code == 200
    rows = api.get("/api/v1/street-responsibility/unassigned", headers=staff).json()["streets"]
    assert [r["street_name"] for r in rows] == ["过期路"]
