"""One plain psycopg2 connection, for a command that reads a little from PostGIS and exits.

``gridmap locate FILE`` reads a plan (five statements) and spends the rest of its run on a million points: the
SQLAlchemy engine, pool and session it would otherwise import cost ≈0.25 s of CPU, a fifth of the run. The
connection is opened with the same options as every pooled one (:meth:`DatabaseSettings.driver_options`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gis.errors import ServiceUnavailable
from layers.settings import DatabaseSettings


@contextmanager
def connect(settings: DatabaseSettings) -> Iterator:
    """A psycopg2 connection to ``settings``' database, closed (its transaction rolled back) on the way out;
    :class:`ServiceUnavailable` with the driver's reason when it cannot be opened."""
    import psycopg2

    try:
        connection = psycopg2.connect(settings.libpq_url, **settings.driver_options())
    except psycopg2.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise ServiceUnavailable(f"数据库暂时不可用 (the database is not reachable): {reason}") from exc
    try:
        yield connection
    finally:
        connection.close()
