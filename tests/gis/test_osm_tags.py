"""The OSM tag → facility type mapping: precedence, access, names, and the generated docs page."""

from __future__ import annotations

from pathlib import Path

import pytest

from gis.domain import FACILITY_TYPES
from gis.osm_tags import NAME_RULES, TAG_RULES, classify, mapping_rows, markdown_table

ROOT = Path(__file__).resolve().parents[2]
CODES = {code for code, *_ in FACILITY_TYPES}


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"amenity": "school"}, "school"),
        ({"amenity": "university"}, None),
        ({"amenity": "kindergarten"}, "kindergarten"),
        ({"shop": "supermarket"}, "supermarket"),
        ({"shop": "convenience"}, "small_shop"),
        ({"amenity": "marketplace"}, "supermarket"),
        ({"leisure": "park"}, "park"),
        ({"leisure": "fitness_station"}, "fitness_square"),
        ({"leisure": "sports_centre"}, "fitness"),
        ({"amenity": "clinic"}, "clinic"),
        ({"healthcare": "clinic"}, "clinic"),
        ({"amenity": "pharmacy"}, "pharmacy"),
        ({"amenity": "social_facility", "social_facility:for": "senior"}, "elderly_care"),
        ({"amenity": "social_facility", "social_facility:for": "homeless"}, None),
        ({"amenity": "community_centre"}, "community_centre"),
        ({"amenity": "post_office"}, "post_bank"),
        ({"amenity": "atm"}, None),
        ({"highway": "bus_stop"}, "bus_stop"),
        ({"public_transport": "stop_position", "bus": "yes"}, None),
        ({"public_transport": "platform", "bus": "yes"}, "bus_stop"),
        ({"amenity": "toilets"}, "open_toilet"),
        ({"amenity": "toilets", "access": "yes"}, "open_toilet"),
        ({"amenity": "toilets", "access": "private"}, None),
        ({"amenity": "toilets", "access": "customers"}, None),
        ({"amenity": "restaurant"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_classify_tags(tags, expected):
    assert classify(tags) == expected


def test_precedence_first_rule_wins():
    # a school whose way is also drawn as a pitch is a school; amenity rules come before leisure rules
    assert classify({"amenity": "school", "leisure": "pitch"}) == "school"
    # a specific shop beats a generic leisure tag
    assert classify({"shop": "supermarket", "leisure": "park"}) == "supermarket"


def test_chinese_names_identify_seven_ones_and_function_rooms():
    assert classify({"amenity": "community_centre", "name": "红旗村卫生室"}) == "village_clinic"
    assert classify({"amenity": "community_centre", "name": "新华社区民情恳谈室"}) == "talk_room"
    assert classify({"office": "government", "name": "滨河社区居民议事厅"}) == "council_hall"
    assert classify({"amenity": "police", "name": "桂林路社区警务室"}) == "police_room"
    assert classify({"amenity": "social_facility", "name": "宁远堡镇互助老人幸福院"}) == "elderly_home"
    assert classify({"amenity": "clinic", "name": "金川路社区卫生服务站"}) == "clinic"
    assert classify({"building": "yes", "name": "双湾村党群服务中心"}) == "activity_venue"
    assert classify({"amenity": "library", "name": "农家书屋"}) == "reading_room"
    assert classify({"amenity": "toilets", "name": "公厕", "access": "private"}) is None


def test_name_rules_need_a_facility_key():
    # a street or a place named like a facility is not one
    assert classify({"highway": "residential", "name": "健身广场路"}) is None
    assert classify({"place": "neighbourhood", "name": "卫生室"}) is None


def test_disused_features_are_not_facilities():
    assert classify({"amenity": "school", "disused": "yes"}) is None
    assert classify({"disused:amenity": "school"}) is None


def test_non_string_values_are_ignored():
    assert classify({"amenity": "school", "building:levels": 3, "ref": None}) == "school"


def test_every_rule_targets_a_known_type():
    for rule in (*NAME_RULES, *TAG_RULES):
        assert rule.type_code in CODES


def test_every_group_is_reachable_from_osm():
    mapped = {r["type_code"] for r in mapping_rows()}
    groups = {g for code, g, *_ in FACILITY_TYPES if code in mapped}
    assert len(groups) == len({g for _, g, *_ in FACILITY_TYPES})
    assert {"school", "supermarket", "park", "clinic", "elderly_care", "open_toilet", "police_room"} <= mapped


def test_docs_page_is_generated_from_the_mapping():
    page = (ROOT / "docs" / "osm_tags.md").read_text(encoding="utf-8")
    stale = "docs/osm_tags.md is stale: run `gridmap osm tags --write docs/osm_tags.md`"
    assert page == markdown_table(), stale
    assert "`amenity` = school" in page and "中小学" in page
    # one table row per rule
    rows = [line for line in page.splitlines() if " | name | " in line or " | tag | " in line]
    assert len(rows) == len(NAME_RULES) + len(TAG_RULES)
