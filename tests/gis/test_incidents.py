"""The pure rules of incidents: categories, dispatch, the state machine, escalation, duplicates, KPIs."""

from __future__ import annotations

import datetime as dt

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
    d = R.pick_assignee(cat, method="unassigned", grid_staff=[], community_staff=[])
    assert d.rule == "unassigned" and d.person_id is None and "人工派遣" in d.reason and d.manual


STREET = R.Street("经二路", "金川区市场监督管理局")


@pytest.mark.parametrize(("category", "unit"), [
    ("sanitation", True), ("city_appearance", True), ("street_order", True), ("advertising", True),
    ("public_security", False), ("traffic", False), ("dispute", False), ("market", False), ("health", False),
])
def test_street_unit_takes_only_the_street_duty_categories(category, unit):
    """包街 is about a street's sanitation and order: a 治安 or 市场监管 report on 经二路 goes to the grid's role."""
    grid = staff(("grid_worker", "甲"), ("community_police", "乙"), ("legal_adviser", "丙"), ("grid_head", "丁"),
                 ("market_inspector", "戊"), ("health_worker", "己"), ("urban_inspector", "庚"))
    cat = R.CATEGORIES[category]
    d = R.pick_assignee(cat, method="street_responsibility", grid_staff=grid, community_staff=[], street=STREET)
    if unit:
        assert (d.unit, d.person_id, d.rule) == ("金川区市场监督管理局", None, "street_unit") and "经二路" in d.reason
    else:
        assert d.unit is None and d.rule == "grid_role" and d.role == cat.role.value
        assert "经二路" in d.reason and "不负责" in d.reason  # the reason says why the street's unit did not take it


def test_street_categories_are_configurable_per_street():
    roads = R.Street("新华路", "市政工程公司", ("road_damage", "sanitation"))
    grid = staff(("urban_inspector", "甲"), ("grid_worker", "乙"))
    d = R.pick_assignee(R.CATEGORIES["road_damage"], method="street_responsibility", grid_staff=grid,
                        community_staff=[], street=roads)
    assert (d.unit, d.rule) == ("市政工程公司", "street_unit")
    d = R.pick_assignee(R.CATEGORIES["street_order"], method="street_responsibility", grid_staff=grid,
                        community_staff=[], street=roads)  # a street_duty category this street's list leaves out
    assert (d.name, d.rule) == ("甲", "grid_role")
    none = R.Street("纬一路", "某单位", ())
    assert not any(R.street_covers(c, none) for c in R.CATEGORIES.values())
    # off the street the unit plays no part, whatever its list
    d = R.pick_assignee(R.CATEGORIES["road_damage"], method="grid", grid_staff=grid, community_staff=[], street=roads)
    assert d.rule == "grid_role"


def test_escalation_receivers_by_level_area_and_category():
    rs = [R.Receiver(1, "社区甲", "community", "620302004001", "社区值班"),
          R.Receiver(2, "街道乙", "street", "620302004000", "街道综治中心", "金川路街道综治中心"),
          R.Receiver(3, "公安丙", "district", "620302000000", "公安分局指挥室", "公安分局", ("public_security",)),
          R.Receiver(4, "总值班丁", "district", "620302000000", "区政府总值班室", "区政府"),
          R.Receiver(5, "别区戊", "district", "620321000000", "区政府总值班室", "永昌县")]
    sec, san = R.CATEGORIES["public_security"], R.CATEGORIES["sanitation"]
    area = R.receiver_area
    assert area("street", "620302004001") == "620302004000" and area("district", "620302004001") == "620302000000"
    d = R.pick_receiver(rs, level="community", area_code=area("community", "620302004001"), category=san)
    assert (d.person_id, d.duty, d.rule) == (1, "社区值班", "escalation_community") and not d.manual
    d = R.pick_receiver(rs, level="street", area_code="620302004000", category=sec)
    assert (d.name, d.unit) == ("街道乙", "金川路街道综治中心")
    assert R.pick_receiver(rs, level="district", area_code="620302000000", category=sec).name == "公安丙"
    assert R.pick_receiver(rs, level="district", area_code="620302000000", category=san).name == "总值班丁"
    d = R.pick_receiver(rs, level="community", area_code="620302004002", category=san)  # nobody registered
    assert d.person_id is None and d.manual and "待人工派遣" in d.reason and d.rule == R.MANUAL_RULE


def test_escalation_blocker_says_why():
    assert R.escalation_blocker("handling", "grid") is None
    assert "最高层级" in R.escalation_blocker("handling", "district")
    assert "核查" in R.escalation_blocker("feedback", "community")
    assert "结案" in R.escalation_blocker("verified", "grid")
    assert "#7" in R.escalation_blocker("reported", "grid", duplicate_of=7)


def test_reassign_and_actions_by_role():
    step = R.apply_action("handling", "grid", "改派")
    assert step.to_state is S.DISPATCHED and step.action is R.Action.REASSIGN
    with pytest.raises(R.IllegalTransition):
        R.apply_action("registered", "grid", "reassign")
    assert R.allowed_actions("handling", "grid", {"grid_staff"}) == ["feedback", "return", "postpone", "escalate"]
    assert R.allowed_actions("handling", "grid", {"dispatcher"}) == ["reassign", "feedback", "return", "postpone",
                                                                    "escalate"]
    assert R.allowed_actions("feedback", "grid", {"grid_staff"}) == ["return"]
    assert R.allowed_actions("feedback", "grid", {"dispatcher"}) == ["verify", "return"]
    assert R.allowed_actions("registered", "district", {"admin"}) == ["dispatch", "return"]


def test_channels():
    assert R.parse_channel("12345热线") is R.Channel.HOTLINE and R.parse_channel(None) is R.Channel.API
    with pytest.raises(InvalidInput) as e:
        R.parse_channel("pigeon")
    assert "电话" in e.value.message


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
