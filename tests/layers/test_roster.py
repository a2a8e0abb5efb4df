"""Roster audit, contact boards and 包街 reports on PostGIS with a hand-made community."""

import datetime as dt

import pandas as pd
import pytest

from layers import roster
from tests.layers import people_fixtures as fx


@pytest.fixture(scope="module")
def community(module_sessionmaker):
    with module_sessionmaker() as s:
        return fx.build(s)


def test_audit_finds_exactly_the_deliberate_vacancies(module_sessionmaker, community):
    with module_sessionmaker() as s:
        table = roster.roster_audit(s)
    def n(v):
        return None if pd.isna(v) else int(v)

    found = {(r.grid_code, r.kind, r.role, n(r.building_id), n(r.stairwell_id)) for r in table.itertuples()}
    b2, b5 = community["buildings"][2], community["buildings"][5]
    assert found == {
        (fx.G2, "role", "health_worker", None, None),
        (fx.G2, "role", "market_inspector", None, None),  # the supermarket makes G2 a market grid
        (fx.G2, "building", "building_head", b5["id"], None),
        (fx.G1, "stairwell", "stairwell_head", b2["id"], b2["stairwells"][1]),
    }
    assert set(table["grid_name"]) <= {"测试社区第01网格", "测试社区第02网格"}


def test_audit_on_a_day_before_anyone_served_finds_every_role_vacant(module_sessionmaker, community):
    with module_sessionmaker() as s:
        table = roster.roster_audit(s, on=dt.date(2023, 6, 1), unit=fx.G3)
    assert set(table["role"]) == {"grid_head", "grid_worker"}


def test_summary_by_grid_community_street(module_sessionmaker, community):
    with module_sessionmaker() as s:
        by_grid = roster.roster_summary(s, by="grid").set_index("unit")
        by_street = roster.roster_summary(s, by="street").set_index("unit")
    assert by_grid.loc[fx.G2, "total_vacancies"] == 3 and by_grid.loc[fx.G3, "total_vacancies"] == 0
    assert by_street.loc["620399001", "total_vacancies"] == 4
    assert by_street.loc["620399001", "name"] == "测试街道"


def test_contact_board_has_public_numbers_only(module_sessionmaker, community):
    with module_sessionmaker() as s:
        board = roster.contact_board(s, fx.G2)
    roles = {r["role"]: r["people"] for r in board["roles"]}
    assert roles["grid_head"] == [{"name": "王网格长", "public_phone": "0935-1111111"}]
    assert roles["health_worker"] == []  # vacant, still shown
    assert "urban_inspector" in roles
    assert "139" not in str(board)  # private phones are never read


def test_streets_without_unit(module_sessionmaker, community):
    with module_sessionmaker() as s:
        names = [r["street_name"] for r in roster.streets_without_unit(s)]
        assert names == ["测试路", "过期路"]  # no unit, or its period has ended
        street = next(r for r in roster.streets_without_unit(s) if r["street_name"] == "测试路")
        assert 650 < street["length_m"] < 750
        roster.assign_street_unit(s, street["id"], unit="测试城管中队", valid_from=dt.date(2024, 1, 1))
        assert [r["street_name"] for r in roster.streets_without_unit(s)] == ["过期路"]
        s.rollback()


def test_audit_follows_every_change_to_the_roster(module_sessionmaker, community):
    """The audit is kept per process until its tables change (layers.data_versions): an insert, an update and
    a rollback each give the answer a fresh audit would."""
    from sqlalchemy import text

    def vacancies(s):
        return {(r.grid_code, r.role) for r in roster.roster_audit(s).itertuples() if r.kind == "role"}

    with module_sessionmaker() as s:
        before = vacancies(s)
        assert (fx.G2, "health_worker") in before and (fx.G1, "grid_head") not in before
        doctor = s.execute(text("SELECT person_id FROM staff_assignments WHERE role = 'health_worker' "
                                "AND grid_code = :g"), {"g": fx.G1}).scalar_one()
        s.execute(text("INSERT INTO staff_assignments (person_id, role, grid_code, community_code) "
                       "VALUES (:p, 'health_worker', :g, :c)"), {"p": doctor, "g": fx.G2, "c": fx.COMMUNITY})
        assert vacancies(s) == before - {(fx.G2, "health_worker")}  # insert
        s.execute(text("UPDATE staff_assignments SET valid_to = DATE '2024-01-01' WHERE role = 'grid_head' "
                       "AND grid_code = :g"), {"g": fx.G1})
        assert vacancies(s) == (before - {(fx.G2, "health_worker")}) | {(fx.G1, "grid_head")}  # update
        s.rollback()
        assert vacancies(s) == before
