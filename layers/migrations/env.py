"""Alembic environment: the URL comes from the caller (``layers.migrate``) or from DatabaseSettings."""

from __future__ import annotations

import importlib
import pkgutil

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

import layers
from layers.models import Base
from layers.settings import DatabaseSettings

# Every ``layers/*_models.py`` module adds its tables to Base.metadata; import them all so autogenerate sees them.
for _info in pkgutil.iter_modules(layers.__path__):
    if _info.name.endswith("_models"):
        importlib.import_module(f"layers.{_info.name}")

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or DatabaseSettings().url


def _include_object(obj, name, type_, reflected, compare_to):
    # PostGIS's own tables (spatial_ref_sys, topology…) are not ours to migrate.
    if type_ == "table" and name in {"spatial_ref_sys"}:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=_include_object,
        render_item=alembic_helpers.render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
