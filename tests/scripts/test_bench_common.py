"""The benchmarks' kept databases (real PostgreSQL + PostGIS): built once per key, reused, replaced when the
key changes, never left half-built; and copies of them for a single run."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import create_engine, text

from layers.db import drop_database
from layers.settings import DatabaseSettings
from scripts.bench.common import copy_database, databases, kept_database, source_key


def _names(prefix: str) -> set[str]:
    return set(databases("^" + prefix))


def _fill(value: int):
    def build(settings) -> None:
        eng = create_engine(settings.sqlalchemy_url)
        with eng.begin() as c:
            c.execute(text("CREATE TABLE t (v int, g geometry(Point, 4326))"))
            c.execute(text("INSERT INTO t VALUES (:v, ST_SetSRID(ST_Point(102.2, 38.5), 4326))"), {"v": value})
        eng.dispose()
        built.append(value)

    built: list[int] = []
    build.built = built
    return build


def _value(settings) -> int:
    eng = create_engine(settings.sqlalchemy_url)
    try:
        with eng.connect() as c:
            return c.execute(text("SELECT v FROM t")).scalar_one()
    finally:
        eng.dispose()


@pytest.fixture()
def prefix():
    p = f"gridmap_test_kept_{secrets.token_hex(3)}"
    yield p
    for name in _names(p):
        drop_database(DatabaseSettings().with_database(name).sqlalchemy_url)


def test_kept_database_is_built_once_per_key_and_replaced_when_the_key_changes(prefix):
    key1, key2 = source_key("one"), source_key("two")
    first = _fill(1)
    s1 = kept_database(prefix, key1, first, log=lambda *_: None)
    again = _fill(99)
    assert kept_database(prefix, key1, again, log=lambda *_: None).name == s1.name
    assert first.built == [1] and again.built == []  # reused, not rebuilt
    assert _value(s1) == 1

    copy = copy_database(s1)  # a throwaway copy for one run
    try:
        assert _value(copy) == 1
    finally:
        drop_database(copy.sqlalchemy_url)

    second = _fill(2)
    s2 = kept_database(prefix, key2, second, log=lambda *_: None)
    assert _value(s2) == 2
    assert _names(prefix) == {s2.name}  # the earlier key is gone

    fresh = _fill(3)
    assert _value(kept_database(prefix, key2, fresh, fresh=True, log=lambda *_: None)) == 3


def test_a_failed_build_leaves_nothing_behind(prefix):
    def broken(settings) -> None:
        eng = create_engine(settings.sqlalchemy_url)
        with eng.begin() as c:
            c.execute(text("CREATE TABLE half (v int)"))
        eng.dispose()
        raise RuntimeError("the data file is unreadable")

    with pytest.raises(RuntimeError, match="unreadable"):
        kept_database(prefix, source_key("x"), broken, log=lambda *_: None)
    assert _names(prefix) == set()
    # the next run builds it properly
    ok = _fill(7)
    assert _value(kept_database(prefix, source_key("x"), ok, log=lambda *_: None)) == 7


def test_source_key_follows_file_contents(tmp_path):
    f = tmp_path / "data.csv"
    f.write_text("a,b\n1,2\n", encoding="utf-8")
    k1 = source_key(f, "v1")
    assert source_key(f, "v1") == k1 and len(k1) == 12
    assert source_key(f, "v2") != k1
    f.write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    assert source_key(f, "v1") != k1


def test_drop_kept_drops_only_unused_databases_of_the_prefix(prefix):
    from scripts.bench.common import drop_kept

    a = kept_database(prefix, source_key("a"), _fill(1), log=lambda *_: None)
    b = kept_database(prefix + "_other", source_key("b"), _fill(2), log=lambda *_: None)
    in_use = create_engine(a.sqlalchemy_url)
    with in_use.connect():
        assert drop_kept(prefix + "_other") == [b.name]  # only names with the prefix
        assert drop_kept(prefix) == []  # a has a session open
    in_use.dispose()
    assert drop_kept(prefix) == [a.name]
    assert _names(prefix) == set()
