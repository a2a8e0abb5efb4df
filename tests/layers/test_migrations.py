"""Migrations run forward and back on a real, empty PostGIS database."""

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from layers import migrate
from layers.db import database_exists

FOUNDATION_TABLES = {
    "admin_areas", "grid_plans", "grids", "buildings", "stairwells", "facility_types", "facilities",
    "street_edges", "service_circles", "incidents", "incident_events", "people", "staff_assignments",
    "street_responsibilities", "dataset_loads",
}


def _tables(settings):
    eng = create_engine(settings.sqlalchemy_url)
    try:
        return set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def test_upgrade_creates_database_then_downgrade_and_upgrade_again(scratch_db):
    assert not database_exists(scratch_db.sqlalchemy_url)
    migrate.upgrade(scratch_db)
    assert database_exists(scratch_db.sqlalchemy_url)
    assert FOUNDATION_TABLES <= _tables(scratch_db)
    script_heads = set(ScriptDirectory.from_config(migrate.alembic_config(scratch_db)).get_heads())
    assert set(migrate.current(scratch_db)) == script_heads  # every branch applied

    migrate.downgrade(scratch_db, "base")
    assert not (FOUNDATION_TABLES & _tables(scratch_db))
    assert migrate.current(scratch_db) == []

    migrate.upgrade(scratch_db)
    assert FOUNDATION_TABLES <= _tables(scratch_db)


def test_every_geometry_is_4326_with_a_gist_index(engine):
    with engine.connect() as conn:
        cols = conn.execute(
            text("SELECT f_table_name, f_geometry_column, srid FROM geometry_columns WHERE f_table_schema='public'")
        ).all()
        gist = {
            row[0]
            for row in conn.execute(
                text("SELECT tablename FROM pg_indexes WHERE schemaname='public' AND indexdef ILIKE '%USING gist%'")
            )
        }
    by_table = {t for t, _, _ in cols}
    assert {"admin_areas", "grids", "buildings", "facilities", "street_edges", "service_circles", "incidents",
            "street_responsibilities"} <= by_table
    assert all(srid == 4326 for _, _, srid in cols)
    assert by_table <= gist


def test_facility_types_are_seeded_as_data(engine):
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT code, name_zh FROM facility_types")).all())
    assert rows["elderly_home"] == "互助老人幸福院"
    assert rows["open_toilet"] == "对外开放厕所"
    assert len(rows) >= 24


def test_codes_are_checked_by_the_database(session):
    import pytest
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        session.execute(
            text("INSERT INTO admin_areas (code, edition_year, name, level, source, properties) "
                 "VALUES ('6203', 2023, 'x', 'city', 'test', '{}')")
        )
