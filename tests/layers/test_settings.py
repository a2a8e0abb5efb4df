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


def test_placeholder_secret_refused_in_production():
    with pytest.raises(ValueError):
        ApiSettings(_env_file=None, environment="production", secret_key="change-me")
    ApiSettings(_env_file=None, environment="production", secret_key="a-real-long-secret-value")


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
