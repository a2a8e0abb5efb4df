"""五彩台账: building counts feed households and residents; person-level entries are audited."""

import pytest
from sqlalchemy import text

from gis.errors import InvalidInput
from layers import ledgers
from tests.layers import people_fixtures as fx


@pytest.fixture(scope="module")
def community(module_sessionmaker):
    with module_sessionmaker() as s:
        return fx.build(s)


def test_counts_feed_buildings_and_grids(module_sessionmaker, community):
    b1 = community["buildings"][1]["id"]
    with module_sessionmaker() as s:
        ledgers.set_building_counts(
            s, b1,
            {"resident": {"persons": 70, "households": 30}, "floating": {"persons": 12, "households": 6},
             "rental": {"units": 4}},
            source="test",
        )
        report = ledgers.refresh_population(s)
        s.commit()
        hh, res = s.execute(text("SELECT households, residents FROM buildings WHERE id = :b"), {"b": b1}).one()
        g1 = s.execute(text("SELECT households, residents FROM grids WHERE code = :g"), {"g": fx.G1}).one()
        counts = ledgers.building_counts(s, grid_code=fx.G1)
    assert (hh, res) == (36, 82)
    assert report["buildings_updated"] == 1
    assert tuple(g1) == (36 + 24 + 24, 82 + 60 + 60)  # the two other buildings keep their figures
    rental = counts[(counts.building_id == b1) & (counts.kind == "rental")].iloc[0]
    assert rental["units"] == 4 and rental["kind_zh"] == "出租屋" and rental["colour"] == "blue"


def test_counts_are_upserted_not_duplicated(module_sessionmaker, community):
    b1 = community["buildings"][1]["id"]
    with module_sessionmaker() as s:
        ledgers.set_building_counts(s, b1, {"resident": {"persons": 71, "households": 30}}, source="test")
        s.commit()
        n = s.scalar(text("SELECT count(*) FROM building_ledgers WHERE building_id = :b AND kind = 'resident'"),
                     {"b": b1})
    assert n == 1


@pytest.mark.parametrize("counts", [{"ghosts": {"persons": 1}}, {"resident": {"persons": -1}}])
def test_bad_counts_are_refused(module_sessionmaker, community, counts):
    with module_sessionmaker() as s, pytest.raises(InvalidInput):
        ledgers.set_building_counts(s, community["buildings"][2]["id"], counts, source="test")


def test_entries_are_filed_in_their_grid_and_every_read_is_audited(module_sessionmaker, community):
    log = []

    def audit(action, kind, object_id, details):
        log.append((action, kind, object_id, details))

    b4 = community["buildings"][4]["id"]
    with module_sessionmaker() as s:
        entry = ledgers.add_entry(s, building_id=b4, kind="special_care", person_name="测试老人",
                                  phone="13800000000", source="test", audit=audit)
        s.commit()
        assert entry.grid_code == fx.G2
        rows = ledgers.read_entries(s, grid_code=fx.G2, audit=audit)
        none = ledgers.read_entries(s, grid_code=fx.G1, audit=audit)
    assert [r["person_name"] for r in rows] == ["测试老人"] and none == []
    assert [(a, k) for a, k, _, _ in log] == [("create", "ledger_entry"), ("read", "ledger_entry"),
                                              ("read", "ledger_entry")]
    assert "测试老人" not in str(log)  # the log says what was read, not the personal data itself
