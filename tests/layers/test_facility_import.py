"""Facility import from GeoJSON and CSV on real PostGIS: validation, CRS, swap detection, all or nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import text

from gis.coords import wgs84_to_gcj02
from gis.errors import InvalidInput
from gis.facility_input import TYPE_CODES, parse_csv, parse_geojson, type_code_for
from layers.facility_import import import_facilities, import_facility_file

# three real places in 金川区 (WGS84)
CLINIC = (102.1880, 38.5200)
SCHOOL = (102.1950, 38.5150)
TOILET = (102.2010, 38.5090)


def _fc(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def _pt(lon, lat, **props):
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def _count(factory, source):
    with factory() as s:
        return s.scalar(text("SELECT count(*) FROM facilities WHERE source = :s"), {"s": source})


def test_type_names_in_chinese_and_english_are_accepted():
    assert type_code_for("school") == "school"
    assert type_code_for("中小学") == "school"
    assert type_code_for("Toilet open to the public") == "open_toilet"
    assert type_code_for("学校") is None


def test_geojson_rows():
    rows = parse_geojson(_fc(_pt(*CLINIC, name="金川路社区卫生服务站", type="clinic", address="金川路 1 号", phone="x"),
                             _pt(*SCHOOL, name="新华小学", type="中小学")))
    assert [r["type_code"] for r in rows] == ["clinic", "school"]
    assert rows[0]["address"] == "金川路 1 号" and rows[0]["extra"] == {"phone": "x"}
    assert (rows[1]["lon"], rows[1]["lat"]) == SCHOOL


def test_every_problem_is_listed_with_valid_codes():
    fc = _fc(
        _pt(*CLINIC, name="ok", type="clinic"),
        _pt(*CLINIC, name="unknown type", type="hospitalx"),
        _pt(SCHOOL[1], SCHOOL[0], name="swapped", type="school"),
        _pt(*SCHOOL, type="school"),
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[102.1, 38.5], [102.2, 38.5]]},
         "properties": {"name": "line", "type": "park"}},
        _pt("abc", 38.5, name="text", type="park"),
        _pt(2.35, 48.85, name="Paris", type="park"),
    )
    with pytest.raises(InvalidInput) as err:
        parse_geojson(fc)
    problems = err.value.detail["problems"]
    assert [(p["row"], p["field"]) for p in problems] == [
        (2, "type"), (3, "lon/lat"), (4, "name"), (5, "geometry"), (6, "lon/lat"), (7, "lon/lat"),
    ]
    assert "hospitalx" in problems[0]["message"] and "open_toilet" in problems[0]["message"]
    assert "写反" in problems[1]["message"] and "swap" in problems[1]["message"]
    assert "中国" in problems[5]["message"]
    assert err.value.detail["valid_types"] == TYPE_CODES
    assert err.value.detail["problem_count"] == 6


def test_csv_with_per_row_crs_and_aliases():
    glon, glat = (float(v) for v in wgs84_to_gcj02(*CLINIC))
    text_ = ("\ufeff经度,纬度,名称,类型,地址,crs\n"
             f"{glon:.8f},{glat:.8f},卫生服务站,clinic,金川路,gcj02\n"
             f"{SCHOOL[0]},{SCHOOL[1]},小学,school,,\n"
             "\n")
    rows = parse_csv(text_.encode("utf-8"))
    assert len(rows) == 2
    # the GCJ-02 point is brought back to WGS84 within a millimetre-scale tolerance
    assert np.allclose((rows[0]["lon"], rows[0]["lat"]), CLINIC, atol=1e-7)
    assert rows[0]["original"]["crs"] == "gcj02" and rows[1]["original"]["crs"] == "wgs84"


def test_csv_missing_columns_and_bad_crs():
    with pytest.raises(InvalidInput, match="lon,lat,name,type") as err:
        parse_csv("x_coord,lat,name,type\n1,2,a,park\n")
    assert err.value.detail["missing_columns"] == ["lon"]
    with pytest.raises(InvalidInput) as err:
        parse_csv(f"lon,lat,name,type\n{CLINIC[0]},{CLINIC[1]},a,clinic\n", crs="mars")
    assert err.value.detail["problems"][0]["field"] == "crs"


def test_geojson_import_stores_points_and_replaces_on_reimport(module_sessionmaker):
    fc = _fc(_pt(*CLINIC, name="卫生服务站", type="clinic"), _pt(*TOILET, name="公厕", type="open_toilet"))
    with module_sessionmaker() as s:
        report = import_facilities(s, json.dumps(fc), fmt="geojson", name="pts.geojson")
        s.commit()
    assert report == {"source": "import:pts.geojson", "imported": 2, "replaced": 0,
                      "by_type": {"clinic": 1, "open_toilet": 1}, "with_community": 0}
    with module_sessionmaker() as s:
        again = import_facilities(s, json.dumps(fc), fmt="geojson", name="pts.geojson")
        s.commit()
        lonlat = s.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM facilities "
                                "WHERE source = 'import:pts.geojson' AND type_code = 'clinic'")).one()
    assert again["replaced"] == 2 and again["imported"] == 2
    assert _count(module_sessionmaker, "import:pts.geojson") == 2
    assert lonlat == pytest.approx(CLINIC, abs=1e-8)


def test_nothing_is_stored_when_any_row_is_bad(module_sessionmaker, tmp_path):
    good = "".join(f"{102.18 + i * 0.001},{38.51},店{i},small_shop\n" for i in range(50))
    path = tmp_path / "shops.csv"
    path.write_text("lon,lat,name,type\n" + good + "38.51,102.2,反了,small_shop\n", encoding="utf-8")
    with module_sessionmaker() as s:
        with pytest.raises(InvalidInput) as err:
            import_facility_file(s, path)
        s.rollback()
    assert err.value.detail["problems"][0]["row"] == 52  # the header is line 1
    assert _count(module_sessionmaker, "import:shops.csv") == 0
    # fixed, the same file imports all 50
    path.write_text("lon,lat,name,type\n" + good, encoding="utf-8")
    with module_sessionmaker() as s:
        report = import_facility_file(s, path)
        s.commit()
    assert report["imported"] == 50 and _count(module_sessionmaker, "import:shops.csv") == 50


def test_community_code_from_admin_areas(module_sessionmaker):
    with module_sessionmaker() as s, s.begin():
        s.execute(text("""
            INSERT INTO admin_areas (code, edition_year, name, level, parent_code, geom, source, properties)
            VALUES ('620302001001', 2023, '测试社区', 'community', '620302001000',
                    ST_Multi(ST_MakeEnvelope(102.19, 38.50, 102.20, 38.52, 4326)), 'test', '{}')"""))
    fc = _fc(_pt(*SCHOOL, name="inside", type="school"), _pt(*CLINIC, name="outside", type="clinic"))
    with module_sessionmaker() as s:
        report = import_facilities(s, fc, fmt="geojson", name="areas")
        s.commit()
        codes = dict(s.execute(text("SELECT name, community_code FROM facilities WHERE source = 'import:areas'")).all())
    assert report["with_community"] == 1
    assert codes == {"inside": "620302001001", "outside": None}


def test_seed_facility_types_is_idempotent_and_repairs(module_sessionmaker):
    from layers.facility_types import seed_facility_types

    with module_sessionmaker() as s:
        s.execute(text("UPDATE facility_types SET name_zh = '旧名' WHERE code = 'talk_room'"))
        assert seed_facility_types(s) == 24
        assert seed_facility_types(s) == 24
        s.commit()
        rows = dict(s.execute(text("SELECT code, name_zh FROM facility_types")).all())
    assert len(rows) == 24 and rows["talk_room"] == "民情恳谈室"
