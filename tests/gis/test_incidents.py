"""The pure rules of incidents: categories, dispatch, the state machine, escalation, duplicates, KPIs."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from gis import incidents as R
from gis.domain import IncidentState, StaffRole
from gis.errors import Conflict, InvalidInput

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
S = IncidentState


def test_categories_map_to_roles_and_deadlines():
    c = R.CATEGORIES
    assert c["sanitation"].role is StaffRole.GRID_WORKER and c["sanitation"].deadline_h == 24
    assert c["dispute"].role is StaffRole.LEGAL_ADVISER and c["dispute"].sensitive
    assert c["legal"].role is StaffRole.LEGAL_ADVISER
    assert c["health"].role is StaffRole.HEALTH_WORKER and c["health"].sensitive
    assert c["public_security"].role is StaffRole.COMMUNITY_POLICE
    assert c["market"].role is StaffRole.MARKET_INSPECTOR
    assert c["street_order"].role is StaffRole.URBAN_INSPECTOR
    assert R.category_of("环境卫生").code == "sanitation" and R.category_of("Damaged Road").code == "road_damage"
    with pytest.raises(InvalidInput) as e:
        R.category_of("飞碟")
    assert "未知的事件类别" in e.value.message and "sanitation" in e.value.detail["known"]


def test_categories_as_data():
    cats = R.parse_categories([{"code": "snow", "zh": "积雪", "en": "snow", "role": "grid_worker", "deadline_h": 6}])
    assert R.category_of("积雪", cats).deadline_h == 6.0
    with pytest.raises(InvalidInput):
        R.parse_categories([{"code": "x", "zh": "x", "role": "astronaut", "deadline_h": 1}])
    with pytest.raises(InvalidInput):
        R.parse_categories([{"code": "x", "zh": "x", "role": "grid_worker", "deadline_h": 0}])


def staff(*rows):
    return [R.Staff(i, role, name) for i, (role, name) in enumerate(rows, start=1)]


def test_pick_assignee_precedence():
    cat = R.CATEGORIES["dispute"]
    grid = staff(("grid_worker", "甲"), ("legal_adviser", "乙"), ("legal_adviser", "丙"), ("grid_head", "丁"))
    comm = staff(("grid_head", "戊"))
    d = R.pick_assignee(cat, method="grid", grid_staff=grid, community_staff=comm)
    assert (d.name, d.rule) == ("丙", "grid_role")  # two advisers: the first by name (丙 < 乙 in code points)
    d = R.pick_assignee(cat, method="grid", grid_staff=grid[:1] + grid[3:], community_staff=comm)
    assert (d.name, d.rule) == ("丁", "grid_head")
    d = R.pick_assignee(cat, method="grid", grid_staff=grid[:1], community_staff=comm)
    assert (d.name, d.rule) == ("戊", "community_head")
    d = R.pick_assignee(cat, method="street_responsibility", grid_staff=grid, community_staff=comm,
                        street_unit="市政公司")
    assert (d.unit, d.person_id, d.rule) == ("市政公司", None, "street_unit")
    d = R.pick_assignee(cat, method="unassigned", grid_staff=[], community_staff=[])
    assert d.rule == "unassigned" and d.person_id is None and "人工派遣" in d.reason


def test_every_open_state_can_reach_closed_and_closed_is_final():
    graph: dict[S, set[S]] = {s: set() for s in S}
    for froms, to in R.TRANSITIONS.values():
        for f in froms:
            graph[f].add(to)
    assert graph[S.CLOSED] == set()
    for start in S:
        if start is S.CLOSED:
            continue
        seen, todo = {start}, [start]
        while todo:
            for n in graph[todo.pop()]:
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        assert S.CLOSED in seen, start


def test_main_path_and_illegal_moves():
    state, level = "reported", "grid"
    for action in ("register", "dispatch", "handle", "feedback", "verify", "close"):
        step = R.apply_action(state, level, action)
        state = step.to_state.value
    assert state == "closed"
    with pytest.raises(R.IllegalTransition) as e:
        R.apply_action("reported", "grid", "close")
    assert isinstance(e.value, Conflict) and e.value.detail["allowed"] == ["register", "escalate"]
    assert "上报" in e.value.message and "结案" in e.value.message
    assert R.apply_action("verified", "grid", "回退").to_state is S.RETURNED
    assert R.apply_action("returned", "grid", "dispatch").to_state is S.DISPATCHED
    with pytest.raises(InvalidInput):
        R.apply_action("handling", "grid", "postpone")  # needs hours
    with pytest.raises(InvalidInput):
        R.apply_action("handling", "grid", "postpone", hours=24 * 31)
    assert R.apply_action("handling", "grid", "postpone", hours=8).extend_h == 8


def test_escalation_climbs_and_stops():
    levels = []
    level = "grid"
    for _ in range(3):
        step = R.apply_action("dispatched", level, "escalate")
        level = step.to_level.value
        levels.append(level)
        assert step.to_state is S.REGISTERED
    assert levels == ["community", "street", "district"]
    assert "escalate" not in R.allowed_actions("registered", "district")
    with pytest.raises(R.IllegalTransition):
        R.apply_action("registered", "district", "escalate")


def test_deadlines_and_overdue():
    due = R.due_at(T0, R.CATEGORIES["emergency"])
    assert due == T0 + dt.timedelta(hours=2)
    assert not R.is_overdue(due, None, T0 + dt.timedelta(hours=2))
    assert R.is_overdue(due, None, T0 + dt.timedelta(hours=2, seconds=1))
    assert R.is_overdue(due, T0 + dt.timedelta(hours=3), T0)  # closed late stays late
    assert not R.is_overdue(None, None, T0)


def test_duplicates_suggest_and_link():
    near = [R.Nearby(7, 49.9, 23.9, "dispatched"), R.Nearby(3, 30.0, 30.0, "handling"),
            R.Nearby(9, 250.0, 1.0, "reported"), R.Nearby(11, 250.1, 1.0, "reported"),
            R.Nearby(12, 10.0, 1.0, "closed")]
    d = R.classify_duplicates(near)
    assert [n.incident_id for n in d.suggestions] == [3, 7, 9]  # nearest first; 250.1 m and closed ones left out
    assert d.duplicate_of == 7  # 3 is nearer but 30 h old
    assert R.classify_duplicates([R.Nearby(1, 50.1, 1.0, "reported")]).duplicate_of is None
    assert R.classify_duplicates([R.Nearby(4, 20.0, 2.0, "reported"), R.Nearby(2, 20.0, 2.0, "reported")]
                                 ).duplicate_of == 2


def test_request_hash_ignores_key_order_and_nones():
    a = R.request_hash({"lon": 1.0, "lat": 2.0, "category": "x", "description": None})
    b = R.request_hash({"category": "x", "lat": 2.0, "lon": 1.0})
    assert a == b and a != R.request_hash({"category": "y", "lat": 2.0, "lon": 1.0})


def test_open311_status_mapping():
    assert [R.open311_status(s.value) for s in S].count("closed") == 1
    assert R.open311_status("closed") == "closed" and R.open311_status("postponed") == "open"
    assert R.status_notes("handling", "street") == "处置（街道层级处置） (handling, handled at street level)"


def test_kpi_table_numbers():
    h = dt.timedelta(hours=1)
    rows = [  # grid, community, category, state, level, created, due, closed
        ("G1", "C1", "sanitation", "closed", "grid", T0, T0 + 24 * h, T0 + 10 * h),
        ("G1", "C1", "sanitation", "closed", "community", T0, T0 + 24 * h, T0 + 30 * h),
        ("G1", "C1", "road_damage", "closed", "street", T0, T0 + 72 * h, T0 + 5 * h),
        ("G2", "C1", "market", "dispatched", "grid", T0, T0 + 72 * h, None),
        ("G2", "C2", "market", "handling", "grid", T0 + 800 * h, T0 + 872 * h, None),
    ]
    df = pd.DataFrame(rows, columns=["grid_code", "community_code", "category", "state", "level", "created_at",
                                     "due_at", "closed_at"]).assign(street_code="S1")
    now = T0 + 100 * h
    g = {r["grid"]: r for r in R.kpi_table(df, "grid", now=now)}
    assert (g["G1"]["total"], g["G1"]["closed"], g["G1"]["closed_low_level"], g["G1"]["on_time"]) == (3, 3, 2, 2)
    assert g["G1"]["low_level_rate"] == 0.6667 and g["G1"]["median_handling_h"] == 10.0
    assert (g["G1"]["closed_at_grid"], g["G1"]["closed_at_community"], g["G1"]["grid_rate"]) == (1, 1, 0.3333)
    assert g["G1"]["meets_target"] is False
    assert (g["G2"]["open"], g["G2"]["overdue_open"], g["G2"]["on_time_rate"], g["G2"]["meets_target"]) == (
        2, 1, None, None)
    months = {r["month"]: r["total"] for r in R.kpi_table(df, "month", now=now)}
    assert months == {"2026-03": 4, "2026-04": 1}
    assert R.kpi_table(df.iloc[:0], "grid", now=now) == []
    with pytest.raises(InvalidInput):
        R.kpi_table(df, "planet", now=now)
