"""Regression tests for the findings of the attack on the running service (issue 14): one test per finding,
each sending the probe that worked and expecting the refusal (4xx/401/403) or the harmless answer.

The world is the hand-made community of ``tests/layers/people_fixtures.py`` (county 620399, street 620399001,
grids G1/G2) plus orders placed directly in a second street (620399002) that no account of street 001 may see.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.auth import Principal, issue_token
from api.settings import ApiSettings, Settings
from tests.accounts_fixtures import TEST_SECRET, bearer
from tests.layers import people_fixtures as fx

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
    settings = Settings(api=ApiSettings(environment="test", secret_key=TEST_SECRET, public_rate_per_min=0),
                        db=module_db)
    with TestClient(create_app(settings)) as client:
        yield client, ids


@pytest.fixture(scope="module")
def login(world, module_sessionmaker):
    """``login(username, roles, scope, person_id=None)`` → the Authorization header of that account."""

    def make(username, roles, scope, *, person_id=None):
        return bearer(module_sessionmaker, username, roles, scope, person_id=person_id)

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


# ------------------------------------------------------------------------------------------- tokens and accounts
def _old_format_token(payload: dict, secret: str) -> str:
    """A token in the hand-written format the service used to accept: base64url(json).base64url(hmac)."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    body = b64(json.dumps(payload).encode())
    return f"{body}.{b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())}"


def test_placeholder_secret_signs_and_verifies_nothing(module_db):
    """High: any token signed with the development placeholder was trusted without a user lookup."""
    import time
    import warnings

    import jwt

    placeholder = "dev-secret-change-me"
    settings = Settings(api=ApiSettings(_env_file=None, environment="development", secret_key=placeholder),
                        db=module_db)
    admin = {"sub": "nobody", "roles": ["admin"], "scope": "", "staff_roles": [], "exp": int(time.time()) + 600}
    with warnings.catch_warnings():  # PyJWT warns that the placeholder is short: that is the point
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        forged = [_old_format_token(admin, placeholder), jwt.encode({**admin, "ver": 1}, placeholder, "HS256")]
    with TestClient(create_app(settings)) as client:
        for token in forged:
            r = client.get("/api/v1/ledgers/entries", params={"grid": fx.G1},
                           headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, r.text
        signin = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x" * 12})
        assert signin.status_code in (401, 503) and "access_token" not in signin.text


def test_a_token_for_an_account_that_does_not_exist_is_refused(world):
    """High: an admin token for a user that does not exist read ledgers."""
    import time

    import jwt

    api, _ = world
    claims = {"sub": "ghost-admin", "ver": 1, "roles": ["admin"], "scope": "", "exp": int(time.time()) + 600}
    for token in (jwt.encode(claims, TEST_SECRET, "HS256"), _old_format_token(claims, TEST_SECRET)):
        r = api.get("/api/v1/ledgers/entries", params={"grid": fx.G1}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, r.text


@pytest.mark.parametrize("change", ["disable", "roles", "scope", "password", "delete"])
def test_changing_an_account_ends_its_tokens_at_once(world, login, change):
    """Medium: tokens of disabled or deleted users kept working until they expired."""
    api, _ = world
    admin = login("sec_admin", {"admin"}, "")
    victim = login(f"sec_victim_{change}", {"dispatcher"}, STREET_1)
    assert api.get("/api/v1/orders", headers=victim).status_code == 200
    url = f"/api/v1/users/sec_victim_{change}"
    answer = {
        "disable": lambda: api.post(f"{url}/disable", headers=admin),
        "roles": lambda: api.put(f"{url}/roles", json={"roles": ["planner"]}, headers=admin),
        "scope": lambda: api.put(f"{url}/scope", json={"scope": STREET_2}, headers=admin),
        "password": lambda: api.put(f"{url}/password", json={"password": "a-new-password-1"}, headers=admin),
        "delete": lambda: api.delete(url, headers=admin),
    }[change]()
    assert answer.status_code in (200, 204), answer.text
    r = api.get("/api/v1/orders", headers=victim)
    assert r.status_code == 401 and "重新登录" in r.json()["error"]["message"]


def test_a_disabled_account_can_be_enabled_but_old_tokens_stay_dead(world, login):
    api, _ = world
    admin = login("sec_admin", {"admin"}, "")
    old = login("sec_comeback", {"dispatcher"}, STREET_1)
    assert api.post("/api/v1/users/sec_comeback/disable", headers=admin).json()["active"] is False
    assert api.post("/api/v1/users/sec_comeback/enable", headers=admin).json()["active"] is True
    assert api.get("/api/v1/orders", headers=old).status_code == 401


def test_account_admin_api_refuses_bad_changes(world, login):
    api, _ = world
    admin = login("sec_admin", {"admin"}, "")
    login("sec_worker", {"grid_staff"}, fx.G1)
    # a scoped role without a scope would be an unrestricted account
    r = api.put("/api/v1/users/sec_worker/scope", json={"scope": ""}, headers=admin)
    assert r.status_code == 422 and "范围" in r.json()["error"]["message"]
    assert api.put("/api/v1/users/sec_worker/roles", json={"roles": ["emperor"]}, headers=admin).status_code == 422
    assert api.post("/api/v1/users/nobody-here/disable", headers=admin).status_code == 404
    assert api.post("/api/v1/users/sec_worker/disable", headers=login("sec_dispatch_all", {"dispatcher"}, "")
                    ).status_code == 403
    listed = api.get("/api/v1/users", headers=admin)
    assert listed.status_code == 200 and "password_hash" not in listed.text and "!test-account" not in listed.text
    assert {"sec_admin", "sec_worker"} <= {u["username"] for u in listed.json()}


def test_the_last_active_admin_cannot_be_disabled(module_sessionmaker):
    from gis.errors import Conflict
    from layers import accounts
    from tests.accounts_fixtures import account

    with module_sessionmaker() as s:
        s.execute(text("UPDATE users SET active = false WHERE 'admin' = ANY(roles)"))
        account(s, "sec_only_admin", {"admin"}, "")
        with pytest.raises(Conflict):
            accounts.set_active(s, "sec_only_admin", False)
        with pytest.raises(Conflict):
            accounts.delete_user(s, "sec_only_admin")
        s.rollback()


def test_scoped_roles_need_a_scope(module_sessionmaker):
    """Low: ``gridmap user add --role grid_staff`` without ``--scope`` made an unrestricted account."""
    from gis.errors import InvalidInput
    from layers import accounts

    with module_sessionmaker() as s:
        for role in ("grid_staff", "party_member"):
            with pytest.raises(InvalidInput, match="范围"):
                accounts.create_user(s, f"sec_unscoped_{role}", "a-long-password", roles=[role], scope="")
        s.rollback()


def test_cli_refuses_a_scoped_role_without_scope_and_changes_accounts(module_db, world, login):
    import os
    import subprocess
    import sys
    from pathlib import Path

    api, _ = world
    env = {**os.environ, "GRIDMAP_DATABASE_URL": module_db.url, "GRIDMAP_USER_PASSWORD": "a-long-password"}
    root = Path(__file__).resolve().parents[2]

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "scripts.cli", "user", *args], env=env, cwd=root,
                              capture_output=True, text=True, timeout=120)

    r = cli("add", "sec_cli_worker", "--role", "grid_staff")
    assert r.returncode == 1 and "范围" in r.stderr
    victim = login("sec_cli_victim", {"dispatcher"}, STREET_1)
    assert cli("set-scope", "sec_cli_victim", STREET_2).returncode == 0
    assert api.get("/api/v1/orders", headers=victim).status_code == 401
    assert cli("set-role", "sec_cli_victim", "--role", "grid_staff").returncode == 0  # scope 620399002 kept
    assert cli("disable", "sec_cli_victim").returncode == 0
    r = cli("list")
    assert r.returncode == 0 and "sec_cli_victim\tgrid_staff\t620399002\t停用" in r.stdout
    assert cli("delete", "sec_cli_victim").returncode == 0 and "sec_cli_victim" not in cli("list").stdout


def test_non_ascii_bearer_is_401_not_500(world):
    """Medium: ``Authorization: Bearer é.é`` gave 500 on every route."""
    api, _ = world
    for value in ("Bearer é.é".encode(), "Bearer é.é".encode("latin-1"), b"Bearer \xff\xfe.\x80"):
        r = api.get("/api/v1/auth/me", headers={"Authorization": value})
        assert r.status_code == 401, r.text
        assert api.get("/api/v1/orders", headers={"Authorization": value}).status_code == 401
        # a public route ignores it; the public intake's rate limit reads it and must not fail either
        assert api.get("/api/v1/orders/categories", headers={"Authorization": value}).status_code == 200
        assert api.post("/api/v1/orders", json={}, headers={"Authorization": value}).status_code == 422


@pytest.mark.parametrize(("name", "normalised"), [
    ("Production", "production"), ("prod", "production"), ("PROD", "production"), (" production ", "production"),
    ("Dev", "development"), ("TEST", "test"),
])
def test_environment_names_are_normalised(name, normalised):
    """Medium: ``Production``/``prod`` silently ran as development."""
    strong = "s" * 16 + "0123456789abcdefXYZ"
    assert ApiSettings(_env_file=None, environment=name, secret_key=strong).environment == normalised


@pytest.mark.parametrize("secret", ["x", "CHANGE-ME", "change-me", "dev-secret-change-me", "", "short-but-real-1",
                                    "please-change-me-before-going-live-0123"])
@pytest.mark.parametrize("name", ["production", "Production", "prod"])
def test_production_refuses_weak_secrets(name, secret):
    """Medium: ``production`` accepted weak secrets (``x``, ``CHANGE-ME``)."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="GRIDMAP_SECRET_KEY"):
        ApiSettings(_env_file=None, environment=name, secret_key=secret)


def test_unknown_environment_names_are_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown environment"):
        ApiSettings(_env_file=None, environment="staging", secret_key="s" * 40)


# ------------------------------------------------------------------------------------------- pages and headers
XSS = "/maps/</script><script>alert(document.domain)</script>"


def test_signin_next_cannot_inject_script(world):
    """High: ``/maps/signin?next=…</script><script>…`` ran the attacker's script."""
    api, _ = world
    r = api.get("/maps/signin", params={"next": XSS})
    assert r.status_code == 200
    assert "<script>alert" not in r.text and "alert(document.domain)" not in r.text
    assert 'data-next="/maps/incidents"' in r.text  # not a plain /maps/ path: the default
    assert "<script>" not in r.text  # the page's script is a static file
    for bad in ("//evil.example/maps/", "https://evil.example/maps/", "/maps/../api/v1/orders", "/maps/\\evil",
                "javascript:alert(1)", "/maps/x\" onmouseover=\"alert(1)"):
        assert 'data-next="/maps/incidents"' in api.get("/maps/signin", params={"next": bad}).text, bad
    ok = api.get("/maps/signin", params={"next": "/maps/plans/3/edit?community=620302001001"})
    assert 'data-next="/maps/plans/3/edit?community=620302001001"' in ok.text


@pytest.mark.parametrize("path", ["/maps/signin", "/docs", "/redoc", "/docs/oauth2-redirect",
                                  f"/api/v1/grids/{fx.G1}/board.html", "/maps/public", "/maps/grids",
                                  "/maps/coverage", "/maps/track/ABCD2345", "/deliberation", "/volunteers",
                                  "/matters"])
def test_every_html_page_enforces_a_content_security_policy(world, path):
    api, _ = world
    r = api.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:200]
    assert "content-security-policy-report-only" not in r.headers  # enforced, not only reported
    csp = r.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    inline = [s for s in r.text.split("<script")[1:] if "src=" not in s.split(">")[0]]
    assert all(f'nonce="{nonce}"' in s.split(">")[0] for s in inline)  # every inline script carries it
    assert r.headers["x-content-type-options"] == "nosniff"
    assert api.get(path).headers["content-security-policy"] != csp  # a nonce per response


def test_data_in_an_inline_script_cannot_close_it_and_gets_no_nonce():
    """The nonce goes on the script elements our templates write, never on markup that came with data."""
    from maps.common import Call, MapContext, finish, new_map, render, script_json

    probe = "</script><script>alert(1)</script><!-- \u2028\u2029 & >"
    text = script_json({"name": probe})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"name": probe}

    m = new_map("探针 probe", MapContext(tile_base=None), None)
    Call("legend", probe).add_to(m)
    html = render(finish(m, MapContext(tile_base=None), sources=set(), legend=probe), "n0nce-_x")
    scripts = html.split("<script")[1:]
    assert scripts and "alert(1)" in html  # the text is on the page, as data
    assert "<script>alert" not in html and "</script><script>alert" not in html
    inline = [sc for sc in scripts if "src=" not in sc.split(">")[0]]
    assert inline and all('nonce="n0nce-_x"' in sc.split(">")[0] for sc in inline)
    assert render(new_map("无 none", MapContext(tile_base=None), None)).count("nonce=") == 0  # saved to disk


# ------------------------------------------------------------------------------------------- odd input
IN_G1 = (102.3020, 38.6020)


def _raw(api, method, path, body: str, **headers):
    return api.request(method, path, content=body.encode("utf-8", "surrogatepass"),
                       headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e309"])
def test_non_finite_numbers_are_422(world, number):
    """Low: ``accuracy_m=NaN`` (also Infinity, 1e309) gave 500."""
    api, _ = world
    r = api.get("/api/v1/locate", params={"lon": IN_G1[0], "lat": IN_G1[1], "accuracy_m": number})
    assert r.status_code == 422, r.text
    body = f'{{"category": "sanitation", "lon": {IN_G1[0]}, "lat": {IN_G1[1]}, "accuracy_m": {number}}}'
    r = _raw(api, "POST", "/api/v1/incidents", body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text


def test_an_integer_of_thousands_of_digits_is_422(world, module_sessionmaker):
    """Low: a JSON integer longer than Python converts (4,300 digits) in any field gave 500 (the ValueError of
    int() escaped the body check)."""
    api, _ = world
    before = _count(module_sessionmaker)
    for body in (f'{{"category": "sanitation", "lon": {"9" * 5000}, "lat": {IN_G1[1]}}}',
                 f'{{"category": "sanitation", "lon": {IN_G1[0]}, "lat": {IN_G1[1]}, "accuracy_m": -{"1" * 4301}}}'):
        r = _raw(api, "POST", "/api/v1/incidents", body)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text[:300]
        assert "digits" in r.json()["error"]["message"] and len(r.text) < 1000
    assert _count(module_sessionmaker) == before


def test_a_lone_surrogate_is_422(world, module_sessionmaker):
    """Low: a lone surrogate (``"\\ud800"``) in a description gave 500."""
    api, _ = world
    before = _count(module_sessionmaker)
    body = f'{{"category": "sanitation", "lon": {IN_G1[0]}, "lat": {IN_G1[1]}, "description": "坏\\ud800字"}}'
    r = _raw(api, "POST", "/api/v1/incidents", body)
    assert r.status_code == 422 and "surrogate" in r.json()["error"]["message"], r.text
    r = _raw(api, "POST", "/api/v1/orders", '{"lon": 102.302, "lat": 38.602, "category": "errand", '
                                            '"description": "\\udc00"}')
    assert r.status_code == 422, r.text
    assert _count(module_sessionmaker) == before


def test_deeply_nested_json_gets_the_service_error_format(world):
    """Low: deeply nested JSON got FastAPI's bare ``{"detail": …}``."""
    api, _ = world
    for depth in (100, 100_000):
        r = _raw(api, "POST", "/api/v1/incidents", "[" * depth + "]" * depth)
        assert r.status_code == 422, r.text[:200]
        assert r.json()["error"]["code"] == "invalid_input" and "detail" not in r.json()
    r = api.post("/api/v1/incidents", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "error" in r.json()
    assert api.get("/no/such/path").json()["error"]["code"] == "not_found"


def test_a_nul_byte_in_a_static_path_is_404(world):
    """Low: ``GET /static/vendor/node_modules/%00`` gave 500."""
    api, _ = world
    for path in ("/static/vendor/node_modules/%00", "/static/vendor/%00/x.js", "/static/vendor/node_modules/a%01b"):
        r = api.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (path, r.text)


def _count(factory) -> int:
    with factory() as s:
        return s.scalar(text("SELECT count(*) FROM incidents"))


@pytest.mark.parametrize("field", ["description", "reporter_name", "address"])
def test_control_characters_in_user_text_are_422(world, module_sessionmaker, field):
    api, _ = world
    before = _count(module_sessionmaker)
    body = {"category": "sanitation", "lon": IN_G1[0], "lat": IN_G1[1], field: "楼道\x07堆物\x1b[31m"}
    r = api.post("/api/v1/incidents", json=body)
    assert r.status_code == 422 and "U+0007" in r.json()["error"]["message"], r.text
    assert api.post("/api/v1/wishes", json={"grid_code": fx.G1, "title": "想要\x0b一副老花镜"}).status_code == 422
    assert _count(module_sessionmaker) == before
    assert api.post("/api/v1/incidents", json={**body, field: "第一行\n第二行\t完"}).status_code == 201


def test_open311_xml_stays_well_formed_whatever_is_stored(world, module_sessionmaker):
    """Medium: control characters in a description made ``requests.xml`` not well-formed for every client."""
    import xml.etree.ElementTree as ET

    api, _ = world
    r = api.post("/api/v1/incidents", json={"category": "sanitation", "lon": IN_G1[0], "lat": IN_G1[1],
                                            "description": "路灯不亮"})
    assert r.status_code == 201, r.text
    iid = r.json()["incident"]["id"]
    with module_sessionmaker() as s:  # as an older version, or another system, may have stored it
        s.execute(text("UPDATE incidents SET description = description || chr(1) || chr(27) || chr(65534) "
                       "WHERE id = :i"), {"i": iid})
        s.commit()
    for path in ("/open311/v2/requests.xml", f"/open311/v2/requests/{iid}.xml"):
        xml = api.get(path)
        assert xml.status_code == 200
        root = ET.fromstring(xml.content)  # raises if not well-formed
        texts = [e.text for e in root.iter("description") if e.text and e.text.startswith("路灯不亮")]
        assert texts == ["路灯不亮\ufffd\ufffd\ufffd"]


def test_media_url_is_http_only(world, module_sessionmaker):
    """Low: ``media_url`` accepted ``javascript:`` URLs and public views served them."""
    api, _ = world
    report = {"category": "sanitation", "lon": IN_G1[0], "lat": IN_G1[1]}
    for bad in ("javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>",
                "vbscript:x", "//evil.example/a.png", "http:///nohost", " javascript:alert(1)"):
        r = api.post("/api/v1/incidents", json={**report, "media_url": bad})
        assert r.status_code == 422, (bad, r.text)
    good = api.post("/api/v1/incidents", json={**report, "media_url": "https://img.example.cn/a.jpg"})
    assert good.status_code == 201
    iid = good.json()["incident"]["id"]
    assert api.get(f"/open311/v2/requests/{iid}.json").json()[0]["media_url"] == "https://img.example.cn/a.jpg"
    with module_sessionmaker() as s:  # stored before the check existed
        s.execute(text("UPDATE incident_details SET extra = jsonb_set(extra, '{media_url}', "
                       "'\"javascript:alert(1)\"') WHERE incident_id = :i"), {"i": iid})
        s.commit()
    assert api.get(f"/open311/v2/requests/{iid}.json").json()[0]["media_url"] is None
    assert "javascript:" not in api.get(f"/open311/v2/requests/{iid}.xml").text


def test_geometry_errors_say_what_is_wrong(world, login):
    """Low: geometry errors for NaN/empty/3D coordinates were misleading or showed raw database text."""
    import math

    from gis.errors import InvalidGeometry
    from layers.plans import to_multipolygon

    ring = [[102.300, 38.600], [102.301, 38.600], [102.301, 38.601], [102.300, 38.600]]
    with pytest.raises(InvalidGeometry, match="NaN"):
        to_multipolygon({"type": "Polygon", "coordinates": [[ring[0], [math.nan, 38.6005], *ring[2:]]]})
    with pytest.raises(InvalidGeometry, match="empty"):
        to_multipolygon({"type": "Polygon", "coordinates": []})
    flat = to_multipolygon({"type": "Polygon", "coordinates": [[[x, y, 1500.0] for x, y in ring]]})
    assert not flat.has_z  # heights are dropped, the outline kept
    api, _ = world
    planner = login("sec_planner", {"planner"}, "")
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": fx.G1},
                                                     "geometry": {"type": "Polygon", "coordinates": []}}]}
    r = api.post("/api/v1/plans", json=fc, headers=planner)
    assert r.status_code == 422 and "empty" in r.text, r.text
    assert "psycopg2" not in r.text and "SQL" not in r.text


def test_a_dispatcher_cannot_assign_outside_their_scope(world, login, module_sessionmaker):
    """Low: a dispatcher could assign an incident to a person outside their scope. (Since the workbench, an
    incident goes only to the people of its own grid, community or level: 422 names the rule.)"""
    api, ids = world
    with module_sessionmaker() as s:  # a person who serves only in the other street
        outsider = s.execute(text("INSERT INTO people (name, phone, is_party_member, source) VALUES ('外街人员', '13900001234', false, 'test') "
                                  "RETURNING id")).scalar()
        s.execute(text("INSERT INTO staff_assignments (person_id, role, grid_code, community_code, valid_from) "
                       "VALUES (:p, 'grid_worker', :g, :c, '2024-01-01')"),
                  {"p": outsider, "g": OTHER_GRID, "c": OTHER_GRID[:12]})
        s.commit()
    r = api.post("/api/v1/incidents", json={"category": "road_damage", "lon": 102.3066, "lat": 38.6012})
    iid = r.json()["incident"]["id"]
    assert r.json()["incident"]["duplicate_of"] is None
    dispatcher = login("sec_dispatch_street1", {"dispatcher"}, STREET_1)
    assert api.post(f"/api/v1/incidents/{iid}/transitions", json={"action": "register"},
                    headers=dispatcher).status_code == 200
    r = api.post(f"/api/v1/incidents/{iid}/transitions", json={"action": "dispatch", "assignee_id": outsider},
                 headers=dispatcher)
    assert r.status_code in (403, 422) and "assignee_id" in r.text, r.text
    inside = ids["people"]["worker2"]  # serves in G2, where the incident is
    r = api.post(f"/api/v1/incidents/{iid}/transitions", json={"action": "dispatch", "assignee_id": inside},
                 headers=dispatcher)
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------------------------------- who the client is
@pytest.fixture
def limited(module_db, module_sessionmaker):
    """The app with a small public limit (3 at once, 6 a minute) and batch budget (10 points a minute)."""
    with module_sessionmaker() as s:
        s.execute(text("DELETE FROM rate_limits"))
        s.commit()
    api = ApiSettings(environment="test", secret_key=TEST_SECRET, public_rate_per_min=6, public_rate_burst=3,
                      public_batch_points_per_min=10)
    with TestClient(create_app(Settings(api=api, db=module_db))) as client:
        yield client


def test_made_up_api_keys_do_not_open_fresh_budgets(limited):
    """Medium: the rate limit was bypassed with a made-up ``X-API-Key`` (the bucket was keyed on it)."""
    answers = [limited.post("/api/v1/orders", json={}, headers={"X-API-Key": f"made-up-{i}"}).status_code
               for i in range(5)]
    assert answers[:3] == [422] * 3 and answers[3:] == [429, 429], answers


def test_made_up_forwarded_for_does_not_open_fresh_budgets(limited):
    """Medium: random ``X-Forwarded-For`` values bypassed the rate limit (proxy headers trusted from anyone)."""
    answers = [limited.post("/api/v1/orders", json={}, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
               for i in range(5)]
    assert answers[3:] == [429, 429], answers


def test_forwarded_for_is_believed_from_trusted_proxies_only():
    from api.proxies import client_address, parse_networks

    proxies = parse_networks("10.0.0.0/8, 127.0.0.1")
    # from a trusted proxy: the rightmost hop that is not ours; a client's own made-up entries on the left are ignored
    assert client_address("10.1.2.3", ["6.6.6.6, 203.0.113.7"], proxies) == "203.0.113.7"
    assert client_address("10.1.2.3", ["6.6.6.6, 203.0.113.7, 10.9.9.9"], proxies) == "203.0.113.7"
    assert client_address("127.0.0.1", ["[2001:db8::1]:443"], proxies) == "2001:db8::1"
    assert client_address("10.1.2.3", ["junk, 203.0.113.7"], proxies) == "203.0.113.7"
    assert client_address("10.1.2.3", ["203.0.113.7, junk"], proxies) == "10.1.2.3"  # a broken hop ends the walk
    # from anyone else, the header means nothing
    assert client_address("203.0.113.50", ["6.6.6.6"], proxies) == "203.0.113.50"
    assert client_address("203.0.113.50", ["6.6.6.6"], ()) == "203.0.113.50"
    with pytest.raises(ValueError, match="not an address"):
        parse_networks("10.0.0.0/8, proxy.example")


def test_anonymous_batch_locate_has_its_own_budget(limited, login):
    """Medium: an anonymous ``POST /api/v1/locate/batch`` of 280,000 points had no limit at all."""
    def batch(n):
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"i": i}, "geometry": {"type": "Point", "coordinates": list(IN_G1)}}
            for i in range(n)]}

    staff = login("sec_dispatch_all", {"dispatcher"}, "")
    assert limited.post("/api/v1/locate/batch", json=batch(3), headers=staff).status_code == 200  # warm, unlimited
    assert limited.post("/api/v1/locate/batch", json=batch(10)).status_code == 200  # the whole minute's budget
    r = limited.post("/api/v1/locate/batch", json=batch(2))  # 2 points refill in 12 s: refused until then
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1, r.text
    r = limited.post("/api/v1/locate/batch", json=batch(11))
    assert r.status_code == 413 and "10" in r.json()["error"]["message"], r.text
    r = limited.post("/api/v1/locate/batch", json=batch(50), headers=staff)
    assert r.status_code == 200 and len(r.json()["features"]) == 50


# ------------------------------------------------------------------------------------------- newer endpoints
def test_the_workbench_cookie_of_a_disabled_account_renews_nothing(world, login):
    """The workbench renews its API token from the sign-in cookie (``/maps/dispatch/token``): a cookie whose
    account was disabled, a token signed with another secret, one for no account and odd bytes all get 401,
    never a fresh token."""
    api, _ = world
    admin = login("sec_admin", {"admin"}, "")
    desk = login("sec_desk", {"dispatcher"}, STREET_1)
    cookie = desk["Authorization"][7:]
    api.cookies.set("gridmap_token", cookie)
    try:
        fresh = api.get("/maps/dispatch/token")
        assert fresh.status_code == 200 and fresh.json()["access_token"]
        renewed = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
        assert api.get("/api/v1/incidents", headers=renewed).status_code == 200
        assert api.post("/api/v1/users/sec_desk/disable", headers=admin).status_code == 200
        assert api.get("/maps/dispatch/token").status_code == 401
        assert api.get("/api/v1/incidents", headers=renewed).status_code == 401  # the renewed one died too
        forged = issue_token(Principal(subject="sec_admin", token_version=1), "another-secret-" + "x" * 32)
        api.cookies.clear()
        for bad in (forged, "é.é", "a.b.c", "\x7f" * 10):
            raw = {"Cookie": f"gridmap_token={bad}".encode()}  # odd bytes as a browser could send them
            assert api.get("/maps/dispatch/token", headers=raw).status_code == 401, bad
            assert api.get("/maps/dispatch", headers={**raw, "Accept": "application/json"}).status_code == 401, bad
    finally:
        api.cookies.clear()
