"""layers.data_versions: table versions bumped at commit by triggers, and the per-process cache built on them.

Real PostgreSQL sessions stand for separate processes: what one commits, the other's caches see at once; what
one has not committed (or rolled back), the other never sees, and its own caches do not keep.
"""

from __future__ import annotations

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import text

from layers import models as m
from layers.data_versions import CACHES, UnwatchedTable, VersionedCache, table_versions
from layers.db import make_engine, make_sessionmaker

TABLES = ["buildings", "stairwells"]


@pytest.fixture(scope="module")
def factory(module_db):
    engine = make_engine(module_db, pool_size=3, max_overflow=0)
    made = make_sessionmaker(engine)
    with made() as s:
        for k in range(3):
            b = m.Building(name=f"楼{k}", source="test", households=10,
                           geom=from_shape(MultiPolygon([box(102.19 + k * 0.001, 38.5, 102.1905 + k * 0.001, 38.5005)]),
                                           srid=4326))
            b.stairwells = [m.Stairwell(number=1), m.Stairwell(number=2)]
            s.add(b)
        s.commit()
    yield made
    engine.dispose()


@pytest.fixture
def cache():
    made = VersionedCache("test cache", ["buildings"])
    yield made
    CACHES.remove(made)


def _ids(session, table: str) -> list[int]:
    return list(session.scalars(text(f"SELECT id FROM {table} ORDER BY id")))


def test_a_commit_bumps_the_tables_it_changed_and_nothing_else(factory):
    with factory() as reader, factory() as writer:
        before = table_versions(reader, TABLES)
        first = _ids(writer, "buildings")[0]
        # a geometry edited in place: count, ids and households all stay the same
        writer.execute(text("UPDATE buildings SET geom = ST_Translate(geom, 0.0001, 0) WHERE id = :i"), {"i": first})
        assert table_versions(writer, TABLES).dirty  # its own change, not yet committed
        assert table_versions(reader, TABLES) == before  # the others see nothing yet
        writer.commit()
        after = table_versions(reader, TABLES)
        assert after.stamp[0] > before.stamp[0] and after.stamp[1] == before.stamp[1] and not after.dirty


def test_a_rollback_bumps_nothing_and_truncate_counts(factory):
    with factory() as reader, factory() as writer:
        before = table_versions(reader, TABLES)
        writer.execute(text("DELETE FROM stairwells"))
        writer.rollback()
        assert table_versions(reader, TABLES) == before
        saved = writer.execute(text("SELECT building_id, number, households FROM stairwells")).all()
        writer.execute(text("TRUNCATE stairwells CASCADE"))  # (nothing refers to them here)
        writer.commit()
        assert table_versions(reader, TABLES).stamp[1] > before.stamp[1]
        writer.execute(text("INSERT INTO stairwells (building_id, number, households) VALUES (:b, :n, :h)"),
                       [{"b": b, "n": n, "h": h} for b, n, h in saved])
        writer.commit()


def test_writers_in_opposite_order_never_wait_for_each_other(factory):
    """The version rows are locked only while committing, in name order: two transactions that write the same
    two tables in opposite order (or one long one and a short one) neither deadlock nor queue."""
    with factory() as one, factory() as two:
        for s in (one, two):
            s.execute(text("SET LOCAL lock_timeout = '2s'"))  # a wait would fail the test, not hang it
        b1, b2, _ = _ids(one, "buildings")
        s1, s2 = _ids(one, "stairwells")[:2]
        before = table_versions(one, TABLES)
        one.execute(text("UPDATE buildings SET households = households + 1 WHERE id = :i"), {"i": b1})
        two.execute(text("UPDATE stairwells SET number = number WHERE id = :i"), {"i": s1})
        one.execute(text("UPDATE stairwells SET number = number WHERE id = :i"), {"i": s2})
        two.execute(text("UPDATE buildings SET households = households + 1 WHERE id = :i"), {"i": b2})
        two.commit()  # while `one` still holds its changes to both tables
        one.commit()
        after = table_versions(one, TABLES)
        assert all(a > b for a, b in zip(after.stamp, before.stamp, strict=True))


def test_the_cache_keeps_a_value_until_its_tables_change_anywhere(factory, cache):
    builds = []

    def build():
        builds.append(1)
        return len(builds)

    with factory() as mine, factory() as other:
        assert cache.get(mine, "k", build) == 1
        assert cache.get(mine, "k", build) == 1 and cache.ready(mine, "k")
        assert cache.get(mine, "other key", build) == 2
        b = _ids(other, "buildings")[0]
        other.execute(text("UPDATE buildings SET geom = ST_Translate(geom, 0, 0.0001) WHERE id = :i"), {"i": b})
        assert cache.get(mine, "k", build) == 1  # not committed yet: nothing to see
        other.commit()
        assert not cache.ready(mine, "k")
        assert cache.get(mine, "k", build) == 3
        # this transaction's own change: values are built from what it sees and not kept
        mine.execute(text("UPDATE buildings SET name = name WHERE id = :i"), {"i": b})
        assert cache.get(mine, "k", build) == 4 and cache.get(mine, "k", build) == 5
        assert not cache.ready(mine, "k")
        mine.rollback()
        assert cache.get(mine, "k", build) == 3  # rolled back: the kept value stands
        other.execute(text("UPDATE stairwells SET number = number"))
        other.commit()
        assert cache.get(mine, "k", build) == 3  # a table this cache does not read


def test_a_table_without_a_trigger_is_refused(factory):
    with factory() as s, pytest.raises(UnwatchedTable, match="incidents"):
        table_versions(s, ["buildings", "incidents"])


def test_every_cache_of_the_service_uses_the_helper_on_watched_tables(factory):
    import importlib

    for module in ("layers.locate", "layers.networks", "layers.roster", "usecases.map_pages"):
        importlib.import_module(module)  # each registers its caches on import

    names = {c.name for c in CACHES}
    assert {"plan locator", "roster audit", "plan problems", "suggested sites", "street graphs"} <= names
    with factory() as s:
        for one in CACHES:
            assert len(one.versions(s).stamp) == len(one.tables)  # UnwatchedTable otherwise
