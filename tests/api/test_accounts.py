"""Accounts: argon2 hashes, the OAuth2 password flow, API keys, the audit writer, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.app import create_app
from api.auth import issue_token, read_token
from api.settings import ApiSettings, Settings
from gis.errors import Conflict, InvalidInput, NotAuthenticated
from layers import accounts
from layers.accounts_models import AuditEntry, User
from tests.accounts_fixtures import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
PW = "correct horse battery"


@pytest.fixture(scope="module")
def app_client(module_db, module_sessionmaker):
    with module_sessionmaker() as s:
        accounts.create_user(s, "admin1", PW, roles=["admin"], scope="")
        accounts.create_user(
            s, "worker1", PW, roles=["grid_staff"], scope="620302001001001", staff_roles=["grid_worker"]
        )
        u = accounts.create_user(s, "gone", PW, roles=["planner"])
        u.active = False
        s.commit()
    settings = Settings(
        api=ApiSettings(environment="test", secret_key=TEST_SECRET, token_ttl_s=120), db=module_db
    )
    with TestClient(create_app(settings)) as c:
        yield c


def test_passwords_are_argon2_and_checked(module_sessionmaker, app_client):
    with module_sessionmaker() as s:
        user = s.scalar(select(User).where(User.username == "admin1"))
        assert user.password_hash.startswith("$argon2id$")
        assert PW not in user.password_hash
        assert accounts.authenticate(s, "admin1", PW).roles == {"admin"}
        with pytest.raises(NotAuthenticated):
            accounts.authenticate(s, "admin1", PW + "x")
        with pytest.raises(NotAuthenticated):
            accounts.authenticate(s, "nobody", PW)
        with pytest.raises(NotAuthenticated):
            accounts.authenticate(s, "gone", PW)
        s.rollback()


def test_create_user_refuses_bad_input(module_sessionmaker, app_client):
    with module_sessionmaker() as s:
        with pytest.raises(InvalidInput, match="密码"):
            accounts.create_user(s, "shorty", "short", roles=["admin"])
        with pytest.raises(InvalidInput, match="未知角色"):
            accounts.create_user(s, "x_role", PW, roles=["emperor"])
        with pytest.raises(InvalidInput, match="范围"):
            accounts.create_user(s, "x_scope", PW, roles=["planner"], scope="62")
        with pytest.raises(Conflict):
            accounts.create_user(s, "admin1", PW, roles=["planner"])
        s.rollback()


def test_password_flow_issues_short_lived_token(app_client):
    r = app_client.post("/api/v1/auth/token", data={"username": "worker1", "password": PW})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 120
    claims = read_token(body["access_token"], TEST_SECRET)
    assert claims.subject == "worker1" and claims.version == 1
    with pytest.raises(NotAuthenticated, match="过期"):
        read_token(body["access_token"], TEST_SECRET, now=time.time() + 121)
    me = app_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json() == {"username": "worker1", "roles": ["grid_staff"], "scope": "620302001001001",
                         "staff_roles": ["grid_worker"]}


def test_password_flow_refuses_wrong_password(app_client):
    r = app_client.post("/api/v1/auth/token", data={"username": "worker1", "password": "wrong password!"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert "密码" in r.json()["error"]["message"]
    assert app_client.get("/api/v1/auth/me").status_code == 401


def test_forged_and_foreign_tokens_refused(app_client):
    from api.auth import Principal

    forged = issue_token(Principal("admin1"), "another-secret-of-at-least-32-bytes!!")
    r = app_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


def test_api_key_resolves_and_revokes(module_sessionmaker, app_client):
    with module_sessionmaker() as s:
        key = accounts.create_api_key(s, "worker1", "open311")
        s.commit()
        stored = s.execute(text("SELECT key_hash, prefix FROM api_keys")).all()
    assert key.startswith("gm_") and all(key not in row.key_hash for row in stored)
    r = app_client.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert r.status_code == 200 and r.json()["scope"] == "620302001001001"
    assert app_client.get("/api/v1/auth/me", headers={"X-API-Key": key + "x"}).status_code == 401
    prefix = key.split("_")[1]
    with module_sessionmaker() as s:
        assert accounts.revoke_api_key(s, prefix)
        s.commit()
    assert app_client.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 401


def test_audit_dep_writes_who_what_when(module_sessionmaker, app_client):
    from api.audit import get_audit
    from api.auth import Principal

    class FakeURL:
        path = "/api/v1/x"

    class Req:
        method = "GET"
        url = FakeURL()

        class app:  # noqa: N801
            class state:  # noqa: N801
                sessionmaker = module_sessionmaker

    audit = get_audit(Req(), Principal("worker1", frozenset({"grid_staff"}), "620302001001001"))
    audit("read", "ledger_entry", "620302001001001", {"count": 3})
    with module_sessionmaker() as s:
        row = s.scalar(
            select(AuditEntry).where(AuditEntry.subject == "worker1").order_by(AuditEntry.id.desc())
        )
    assert (row.action, row.object_type, row.object_id, row.roles) == (
        "read",
        "ledger_entry",
        "620302001001001",
        "grid_staff",
    )
    assert row.detail == {"count": 3} and row.request_path == "GET /api/v1/x" and row.at is not None


def test_cli_creates_admin_user_and_key(module_db, module_sessionmaker, app_client):
    env = {
        **os.environ,
        "GRIDMAP_DATABASE_URL": module_db.url,
        "GRIDMAP_ADMIN_PASSWORD": PW,
        "GRIDMAP_USER_PASSWORD": PW,
    }
    cli = [sys.executable, "-m", "scripts.cli"]
    # an admin exists already in this database → create-admin refuses
    r = subprocess.run(
        [*cli, "user", "create-admin", "root"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 1 and "已有管理员" in r.stderr
    r = subprocess.run(
        [*cli, "user", "add", "planner9", "--role", "planner", "--scope", "620302001000"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [*cli, "apikey", "create", "planner9", "--name", "open311"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip().splitlines()[0]
    me = app_client.get("/api/v1/auth/me", headers={"X-API-Key": key}).json()
    assert me == {"username": "planner9", "roles": ["planner"], "scope": "620302001000", "staff_roles": []}


def test_cli_create_admin_on_empty_db(scratch_db):
    from layers import migrate

    migrate.upgrade(scratch_db)
    env = {**os.environ, "GRIDMAP_DATABASE_URL": scratch_db.url, "GRIDMAP_ADMIN_PASSWORD": PW}
    r = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "user", "create-admin", "root"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    from layers.db import make_engine, make_sessionmaker

    eng = make_engine(scratch_db, pool_size=1, max_overflow=0)
    with make_sessionmaker(eng)() as s:
        assert accounts.authenticate(s, "root", PW).roles == {"admin"}
    eng.dispose()
