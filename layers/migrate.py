"""Run the Alembic migrations from code (the CLI, the set-up script and the test fixtures all use this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from layers.db import create_database
from layers.settings import DatabaseSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(settings: DatabaseSettings) -> Config:
    """An Alembic :class:`Config` pointing at our migrations and at ``settings``' database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", (settings.url or "").replace("%", "%%"))
    cfg.attributes["url"] = settings.url
    return cfg


def upgrade(settings: DatabaseSettings, revision: str = "heads", *, create: bool = True) -> None:
    """Create the database (with PostGIS) if needed, then migrate it forward to ``revision``."""
    if create:
        create_database(settings.sqlalchemy_url)
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: DatabaseSettings, revision: str = "base") -> None:
    """Migrate the database back to ``revision`` (``base`` removes every gridmap table)."""
    command.downgrade(alembic_config(settings), revision)


def current(settings: DatabaseSettings) -> list[str]:
    """The revisions the database is at (empty before the first migration)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            return list(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
