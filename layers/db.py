"""Engines, sessions and server-level helpers (create/drop a database, ensure PostGIS)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gis.errors import NotFound, ServiceUnavailable
from layers.settings import DatabaseSettings

Row = TypeVar("Row")


def make_engine(settings: DatabaseSettings, **overrides) -> Engine:
    """Create a pooled engine for ``settings`` (pre-ping on, short connect timeout, statement timeout, JIT off
    unless ``settings.jit``)."""
    kwargs = dict(
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=True,
        connect_args=settings.driver_options(),
    )
    kwargs.update(overrides)
    engine = create_engine(settings.sqlalchemy_url, **kwargs)
    event.listen(engine, "checkin", _transactions_again)
    return engine


def _transactions_again(dbapi_connection, record) -> None:
    """A connection goes back to the pool with transactions on (a statement session turned them off: see
    :func:`make_statement_sessionmaker`); psycopg2 sends nothing for it."""
    if dbapi_connection is not None and dbapi_connection.autocommit:
        dbapi_connection.autocommit = False


def make_statement_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose statements each run on their own, without ``BEGIN`` and ``ROLLBACK`` round trips
    (psycopg2's autocommit, set on the driver's connection when the session takes one: SQLAlchemy's
    ``AUTOCOMMIT`` isolation level would send a ``SET`` on the way out). For a read whose hot path is one
    statement or none; the connection is back in transactions when the pool takes it back."""
    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "after_begin", _statement_mode)
    return factory


def _statement_mode(session: Session, transaction, connection) -> None:
    connection.connection.dbapi_connection.autocommit = True


_NAMED_PARAMETER = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


class PreparedStatement:
    """A statement the server parses and plans once per connection (``PREPARE``) and then only executes
    (``EXECUTE name (…)``): for a hot statement whose planning costs more than running it. ``sql`` names its
    parameters ``:name`` (each with a type the server can infer: cast it where the context does not say, e.g.
    in a ``SELECT`` list); :meth:`rows` runs it on the session's connection, in its transaction or, on a
    statement-mode session, on its own. A prepared statement outlives a rolled-back transaction and dies with
    its connection, so which are prepared is kept in the pooled connection's ``info`` (cleared when SQLAlchemy
    replaces the connection). Errors come back as SQLAlchemy's, as for any statement."""

    def __init__(self, name: str, sql: str) -> None:
        order: list[str] = []

        def number(found: re.Match) -> str:
            if found.group(1) not in order:
                order.append(found.group(1))
            return f"${order.index(found.group(1)) + 1}"

        self.name = name
        self.prepare_sql = f"PREPARE {name} AS {_NAMED_PARAMETER.sub(number, sql)}"
        self.parameters = tuple(order)
        self.execute_sql = f"EXECUTE {name} ({', '.join(['%s'] * len(order))})" if order else f"EXECUTE {name}"

    def rows(self, session: Session, params: dict) -> list[tuple]:
        """Run with ``params`` (a value for each ``:name``); the rows it returns."""
        connection = session.connection()
        prepared = connection.connection.info.setdefault("gridmap_prepared", set())
        if self.name not in prepared:
            connection.exec_driver_sql(self.prepare_sql)
            prepared.add(self.name)
        result = connection.exec_driver_sql(self.execute_sql, tuple(params[p] for p in self.parameters))
        return result.all() if result.returns_rows else []


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine`` whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction: commit when the block ends normally, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def get_or_not_found(session: Session, model: type[Row], row_id: Any, missing: str, *, lock: bool = False,
                     detail: dict | None = None) -> Row:
    """The row of ``model`` with primary key ``row_id`` — locked (``SELECT … FOR UPDATE``) for the change about to
    be made when ``lock`` — or :class:`NotFound` with the user-facing message ``missing``."""
    row = session.get(model, row_id, with_for_update=lock)
    if row is None:
        raise NotFound(missing, detail=detail)
    return row


def advisory_xact_lock(session: Session, name: str, *, on_wait: Callable[[], None] | None = None) -> float:
    """Hold PostgreSQL's transaction-level advisory lock ``name`` (hashed to a bigint) until the session's
    transaction ends; returns the seconds spent waiting for another holder. ``on_wait`` is called once if the lock
    is taken, before waiting — with no statement timeout, since the holder may take minutes."""
    key = {"name": name}
    if session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:name, 0))"), key):
        return 0.0
    if on_wait is not None:
        on_wait()
    started = time.perf_counter()
    session.execute(text("SET LOCAL statement_timeout = 0"))
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), key)
    session.execute(text("SET LOCAL statement_timeout TO DEFAULT"))
    return round(time.perf_counter() - started, 2)


def ping(engine: Engine) -> dict:
    """Check that the database answers and has PostGIS; return versions, or raise ServiceUnavailable."""
    try:
        with engine.connect() as conn:
            pg = conn.execute(text("SHOW server_version")).scalar_one()
            postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
    except OperationalError as exc:
        raise ServiceUnavailable("数据库暂时不可用，请稍后重试 (the database is not reachable; retry later)") from exc
    return {"postgresql": pg, "postgis": postgis}


def _server_url(url: URL) -> URL:
    return url.set(database="postgres")


def database_exists(url: URL) -> bool:
    """True if the database named in ``url`` exists on its server."""
    engine = create_engine(_server_url(url), isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}
            ).first()
        return found is not None
    finally:
        engine.dispose()


def create_database(url: URL, *, exist_ok: bool = True) -> bool:
    """Create the database named in ``url`` with PostGIS enabled; return True if it was created."""
    created = False
    if not database_exists(url):
        engine = create_engine(_server_url(url), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{url.database}" ENCODING \'UTF8\' TEMPLATE template0'))
            created = True
        finally:
            engine.dispose()
    elif not exist_ok:
        raise FileExistsError(url.database)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    finally:
        engine.dispose()
    return created


def drop_database(url: URL) -> None:
    """Drop the database named in ``url``, ending any sessions still connected to it."""
    engine = create_engine(_server_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": url.database},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}"'))
    finally:
        engine.dispose()
