"""layers.db.PreparedStatement: prepared once per connection, again on a connection the pool replaced, kept
across a rolled-back transaction, errors as SQLAlchemy's."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError

from layers.db import PreparedStatement, make_engine, make_sessionmaker, make_statement_sessionmaker

SUM = PreparedStatement("gridmap_test_sum", "SELECT CAST(:a AS integer) + CAST(:b AS integer), CAST(:a AS integer) "
                                            "* 10, 'a:b'::text")
DIVIDE = PreparedStatement("gridmap_test_divide", "SELECT 1 / CAST(:d AS integer)")


@pytest.fixture
def one_connection(db_settings):
    """An engine whose pool holds one connection, so every session gets the same one until it is replaced."""
    engine = make_engine(db_settings, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _prepared_here(session) -> list[str]:
    return list(session.execute(text("SELECT name FROM pg_prepared_statements ORDER BY name")).scalars())


def test_named_parameters_become_numbered_once_each():
    assert SUM.parameters == ("a", "b")
    assert "$1 AS integer) + CAST($2 AS integer), CAST($1 AS integer)" in SUM.prepare_sql
    assert "'a:b'::text" in SUM.prepare_sql  # a colon in a literal or a cast is not a parameter
    assert SUM.execute_sql == "EXECUTE gridmap_test_sum (%s, %s)"


def test_prepared_once_per_connection_and_again_on_a_new_one(one_connection):
    sessions = make_statement_sessionmaker(one_connection)
    with sessions() as s:
        assert SUM.rows(s, {"a": 2, "b": 3}) == [(5, 20, "a:b")]
        assert SUM.rows(s, {"a": 4, "b": -1}) == [(3, 40, "a:b")]
        assert _prepared_here(s) == ["gridmap_test_sum"]
        backend = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
        s.connection().invalidate()  # as after a lost connection: the pool opens a new one
    with sessions() as s:
        assert s.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
        assert _prepared_here(s) == []
        assert SUM.rows(s, {"a": 1, "b": 1}) == [(2, 10, "a:b")]
        assert _prepared_here(s) == ["gridmap_test_sum"]


def test_kept_across_a_rolled_back_transaction(one_connection):
    sessions = make_sessionmaker(one_connection)
    with sessions() as s:
        assert SUM.rows(s, {"a": 1, "b": 2}) == [(3, 10, "a:b")]
        s.rollback()
        assert SUM.rows(s, {"a": 5, "b": 5}) == [(10, 50, "a:b")]


def test_an_error_is_sqlalchemys_and_the_connection_goes_on(one_connection):
    sessions = make_statement_sessionmaker(one_connection)
    with sessions() as s:
        with pytest.raises(DataError):
            DIVIDE.rows(s, {"d": 0})
    with sessions() as s:
        assert DIVIDE.rows(s, {"d": 1}) == [(1,)]


def _incidents_around_a_centre(session) -> None:
    """A city's worth of incidents of a few categories around one centre, most of them closed, as over the years
    (rolled back with the session)."""
    session.execute(text("""
        INSERT INTO incidents (category, state, level, geom, original_lon, original_lat, original_crs, assignment,
                               source)
        SELECT (ARRAY['road_damage', 'dispute', 'city_appearance', 'construction'])[1 + k % 4],
               CASE WHEN k % 8 = 0 THEN 'reported' ELSE 'closed' END, 'grid',
               ST_SetSRID(ST_MakePoint(102.18 + (k % 97) * 0.0004, 38.50 + (k / 97) * 0.0004), 4326),
               102.18, 38.50, 'wgs84', '{}', 'test'
          FROM generate_series(1, 8000) k"""))
    session.execute(text("INSERT INTO incident_details (incident_id, request_hash, token, channel, sensitive, "
                         "public_lon, public_lat, private, extra, response) SELECT id, 'h', 't' || id, 'api', false, "
                         "0, 0, '{}', '{}', '{}' FROM incidents WHERE source = 'test'"))
    session.execute(text("ANALYZE incidents"))
    session.execute(text("ANALYZE incident_details"))


def _generic_plan(session, statement: PreparedStatement, arguments: str, params: dict | None = None) -> str:
    session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    return _plan(session, statement, arguments, params)


def _plan(session, statement: PreparedStatement, arguments: str, params: dict | None = None) -> str:
    session.execute(text(statement.prepare_sql.replace(statement.name, "gridmap_test_plan")))
    plan = "\n".join(session.execute(text(f"EXPLAIN EXECUTE gridmap_test_plan ({arguments})"), params or {})
                     .scalars())
    session.execute(text("DEALLOCATE gridmap_test_plan"))
    return plan


def test_intake_duplicate_check_uses_the_open_incidents_index_in_a_generic_plan(session):
    """The nearby search of intake (migration 0751) finds its candidates through ``ix_incidents_open_category_geom``
    — also in the generic plan PostgreSQL switches a prepared statement to after five runs, where a parameter in
    place of the closed state would leave the index's predicate unprovable (and the planner ANDs two bitmaps or
    scans every incident's point in the box)."""
    from layers.incidents import _REPLAY_AND_NEARBY

    _incidents_around_a_centre(session)
    plan = _generic_plan(session, _REPLAY_AND_NEARBY,
                         "NULL, now(), 102.19, 38.51, 'road_damage', 0.003, 0.0023, 250")
    assert "ix_incidents_open_category_geom" in plan
    assert "BitmapAnd" not in plan


def test_batch_intake_read_uses_the_open_incidents_index(session):
    """The same for a batch's read (layers.intake_batch), for one report and for a batch of them."""
    from layers.intake_batch import _READ

    _incidents_around_a_centre(session)
    for n in (1, 16):
        plan = _plan(session, _READ, "now(), 250, :keys, :lons, :lats, :categories, :dlons, :dlats", {
            "keys": [None] * n, "lons": [102.19] * n, "lats": [38.51] * n, "categories": ["road_damage"] * n,
            "dlons": [0.003] * n, "dlats": [0.0023] * n})
        assert "ix_incidents_open_category_geom" in plan
        assert "BitmapAnd" not in plan
