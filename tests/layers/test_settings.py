"""Settings assemble the URL from parts and never instantiate at import time."""

import pytest

from api.settings import ApiSettings
from layers.settings import DatabaseSettings


def test_url_from_parts(monkeypatch):
    monkeypatch.delenv("GRIDMAP_DATABASE_URL", raising=False)
    s = DatabaseSettings(_env_file=None, host="db.example", port=6543, user="u", password="p", name="g")
    assert s.url == "postgresql+psycopg2://u:p@db.example:6543/g"


def test_url_wins_and_gets_the_driver(monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", "postgresql://a@h:5432/x")
    s = DatabaseSettings(_env_file=None)
    assert s.url == "postgresql+psycopg2://a@h:5432/x"
    assert s.with_database("y").sqlalchemy_url.database == "y"


def test_read_replica_url(monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", "postgresql://a@primary:5432/x")
    monkeypatch.setenv("GRIDMAP_DATABASE_READ_URL", "postgres://a@standby:5433/x")
    s = DatabaseSettings(_env_file=None)
    assert s.read_url == "postgresql+psycopg2://a@standby:5433/x"
    replica = s.replica_settings()
    assert replica.url == s.read_url and replica.read_url is None and replica.pool_size == s.pool_size
    moved = s.with_database("y")  # a throwaway database is the same name on the primary and on its replica
    assert moved.sqlalchemy_url.database == "y" and moved.replica_settings().sqlalchemy_url.database == "y"
    assert moved.replica_settings().sqlalchemy_url.host == "standby"
    monkeypatch.setenv("GRIDMAP_DATABASE_READ_URL", "")  # empty: no replica
    assert DatabaseSettings(_env_file=None).replica_settings() is None


def test_read_sessions_without_a_replica_are_read_only_on_the_primary(db_settings):
    """Read-heavy endpoints get read-only sessions on the primary too, so a write slipped into one fails in every
    test, not only behind a replica; the write sessions of the same pool stay writable."""
    from sqlalchemy import text
    from sqlalchemy.exc import InternalError

    from layers.replica import Databases, ReadSource

    databases = Databases(db_settings.model_copy(update={"pool_size": 1, "max_overflow": 0}))
    try:
        session, source = databases.read_session(after="0/0")
        with session:
            assert source is ReadSource.PRIMARY
            with pytest.raises(InternalError, match="read-only transaction"):
                session.execute(text("CREATE TEMP TABLE should_fail (a int)"))
        with databases.primary_sessions() as session:
            assert session.scalar(text("SHOW transaction_read_only")) == "off"
        assert databases.read_status() == {"from": "primary", "replica": "none"}
        assert databases.write_position().count("/") == 1
    finally:
        databases.dispose()


def test_placeholder_secret_refused_in_production():
    with pytest.raises(ValueError):
        ApiSettings(_env_file=None, environment="production", secret_key="change-me")
    ApiSettings(_env_file=None, environment="production", secret_key="a-real-long-secret-value-of-32-bytes+")


def test_sessions_run_without_jit_unless_asked(db_settings):
    """PostgreSQL's JIT compiled every vector-tile query on an analysed ×10 city (~0.3 s of a 0.33 s incidents
    tile): the service's sessions turn it off; ``GRIDMAP_DB_JIT=true`` turns it back on."""
    from sqlalchemy import text

    from layers.db import make_engine

    for settings, expected in ((db_settings, "off"), (db_settings.model_copy(update={"jit": True}), "on")):
        eng = make_engine(settings, pool_size=1, max_overflow=0)
        try:
            with eng.connect() as c:
                assert c.execute(text("SHOW jit")).scalar_one() == expected
                assert c.execute(text("SHOW statement_timeout")).scalar_one() == "30s"
        finally:
            eng.dispose()


def test_incident_categories_and_open311_keys_are_settings(monkeypatch, tmp_path):
    from layers.settings import IncidentSettings

    monkeypatch.delenv("GRIDMAP_INCIDENT_CATEGORIES", raising=False)
    assert IncidentSettings(_env_file=None).incident_categories is None
    monkeypatch.setenv("GRIDMAP_INCIDENT_CATEGORIES", str(tmp_path / "cats.json"))
    assert IncidentSettings(_env_file=None).incident_categories == tmp_path / "cats.json"
    monkeypatch.setenv("GRIDMAP_OPEN311_API_KEYS", " key-one, ,key-two ")
    assert ApiSettings(_env_file=None).open311_keys == ["key-one", "key-two"]
