"""Test fixtures on a real PostgreSQL + PostGIS: a throwaway database per test session, created and dropped.

The server comes from ``GRIDMAP_DATABASE_URL`` (or ``GRIDMAP_DB_*``, or ``.env`` as written by the set-up
script); the database name is replaced by a fresh ``gridmap_test_<random>`` that is dropped at the end.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers import migrate
from layers.db import drop_database, make_engine, make_sessionmaker
from layers.settings import DatabaseSettings, DataSettings
from tests.accounts_fixtures import TEST_SECRET

ROOT = Path(__file__).resolve().parents[1]


def _throwaway_settings(prefix: str) -> DatabaseSettings:
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    return DatabaseSettings(_env_file=ROOT / ".env").with_database(name)


@pytest.fixture(scope="session")
def repo_data() -> Path:
    """The repository's real data folder (``data/``: Jinchang boundaries and codes, OSM extracts)."""
    folder = DataSettings().data_dir
    if not (folder / "jinchang").is_dir():
        pytest.fail(f"data folder not found at {folder}; set GRIDMAP_DATA_DIR")
    return folder


@pytest.fixture(scope="session")
def db_settings():
    """Settings of a fresh, migrated database that lives for the whole test session."""
    settings = _throwaway_settings("gridmap_test")
    migrate.upgrade(settings)
    yield settings
    drop_database(settings.sqlalchemy_url)


@pytest.fixture(scope="session")
def engine(db_settings):
    """A pooled engine on the session's throwaway database."""
    eng = make_engine(db_settings)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def sessionmaker_(engine):
    """Session factory for the throwaway database."""
    return make_sessionmaker(engine)


@pytest.fixture
def session(sessionmaker_) -> Session:
    """A session for one test; whatever the test leaves uncommitted is rolled back."""
    s = sessionmaker_()
    yield s
    s.rollback()
    s.close()


@pytest.fixture(scope="session")
def demo_loaded(db_settings, engine, repo_data):
    """The Jinchang demo, loaded once into the session's database; returns the load report."""
    from layers.demo import load_jinchang_demo

    factory = make_sessionmaker(engine)
    return load_jinchang_demo(factory, data_dir=repo_data / "jinchang")


@pytest.fixture(scope="session")
def app_settings(db_settings) -> Settings:
    """Service settings pointing at the throwaway database."""
    return Settings(api=ApiSettings(environment="test", secret_key=TEST_SECRET), db=db_settings)


@pytest.fixture(scope="session")
def client(app_settings, demo_loaded):
    """A TestClient on the app (lifespan run) with the demo loaded."""
    with TestClient(create_app(app_settings)) as c:
        yield c


@pytest.fixture
def scratch_db():
    """A second, empty throwaway database (not migrated) for tests that migrate or break things."""
    settings = _throwaway_settings("gridmap_scratch")
    yield settings
    drop_database(settings.sqlalchemy_url)


@pytest.fixture(scope="module")
def module_db():
    """A migrated throwaway database of one test module's own, for tests that publish plans or need
    "the plan in force" to be theirs alone (the session database holds the demo). Yields settings."""
    settings = _throwaway_settings("gridmap_mod")
    migrate.upgrade(settings)
    yield settings
    drop_database(settings.sqlalchemy_url)


def _copy_database(template: DatabaseSettings, target: DatabaseSettings) -> None:
    """``CREATE DATABASE target TEMPLATE template``: a file-level copy, about a second for the demo."""
    src, dst = template.sqlalchemy_url.database, target.sqlalchemy_url.database
    server = create_engine(template.sqlalchemy_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            # a template must have no other sessions while it is copied
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": src})
            conn.execute(text(f'CREATE DATABASE "{dst}" TEMPLATE "{src}"'))
    finally:
        server.dispose()


@pytest.fixture(scope="session")
def demo_template(repo_data):
    """A migrated database with the Jinchang demo loaded once per test session; ``module_demo_db`` copies it
    so modules that need the demo to themselves do not each spend ~25 s loading it. Yields settings."""
    from layers.demo import load_jinchang_demo

    settings = _throwaway_settings("gridmap_tpl")
    migrate.upgrade(settings)
    eng = make_engine(settings, pool_size=1, max_overflow=0)
    try:
        load_jinchang_demo(make_sessionmaker(eng), data_dir=repo_data / "jinchang")
    finally:
        eng.dispose()
    yield settings
    drop_database(settings.sqlalchemy_url)


@pytest.fixture(scope="module")
def module_demo_db(demo_template):
    """A throwaway database of one module's own holding a fresh copy of the Jinchang demo. Yields settings."""
    settings = _throwaway_settings("gridmap_mod")
    _copy_database(demo_template, settings)
    yield settings
    drop_database(settings.sqlalchemy_url)


@pytest.fixture(scope="module")
def module_sessionmaker(module_db):
    """Session factory on ``module_db``."""
    eng = make_engine(module_db, pool_size=2, max_overflow=2)
    yield make_sessionmaker(eng)
    eng.dispose()


@pytest.fixture(scope="session")
def load_template_cluster():
    """The data directory of the load benchmark's kept template cluster (a stopped cluster whose database
    ``gridmap_load`` holds the migrated schema and the Jinchang demo's core), in the clone's cluster folder where
    the ``postgres`` user can reach it. Built if missing; removed at the end if this session built it."""
    import shutil

    from scripts.bench.clusters import PG_BIN, cluster_root
    from scripts.bench.load import template_cluster

    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"needs PostgreSQL's initdb and pg_ctl in {PG_BIN} (GRIDMAP_PG_BIN)")
    before = set(cluster_root().glob("load-cluster-*/ready"))
    data = template_cluster(log=lambda *_: None)
    yield data
    if data.parent / "ready" not in before:
        shutil.rmtree(data.parent, ignore_errors=True)
