"""Coordinate conversion against a real GCJ-02/WGS84 pair, and the checks at the edge."""

import json

import numpy as np
import pytest
import shapely

from gis.coords import (
    CRS,
    bd09_to_gcj02,
    check_lonlat,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_bbox,
    parse_crs,
    to_wgs84,
    wgs84_to_gcj02,
)
from gis.errors import InvalidCoordinates, UnknownCRS

JINCHANG_CENTRE = (102.188, 38.514)  # WGS84, the urban core of 金川区


def _coords(path, adcode=None):
    data = json.loads(path.read_text(encoding="utf-8"))
    if "features" not in data:  # the cnmaps GCJ-02 files are a bare geometry
        return shapely.get_coordinates(shapely.from_geojson(json.dumps(data)))
    feats = [f for f in data["features"] if f["properties"].get("adcode") == adcode]
    return shapely.get_coordinates(shapely.from_geojson(json.dumps(feats[0]["geometry"])))


def test_gcj02_inverse_matches_the_real_pair_under_one_metre(repo_data):
    jc = repo_data / "jinchang"
    gcj = _coords(jc / "620302_jinchuan_gcj02.geojson")
    wgs = _coords(jc / "admin_boundaries_wgs84.geojson", adcode="620302")
    assert gcj.shape == wgs.shape and len(gcj) > 100
    lon, lat = gcj02_to_wgs84(gcj[:, 0], gcj[:, 1])
    metres = np.hypot((lon - wgs[:, 0]) * 111_320 * np.cos(np.radians(38.5)), (lat - wgs[:, 1]) * 110_540)
    raw = np.hypot((gcj[:, 0] - wgs[:, 0]) * 87_000, (gcj[:, 1] - wgs[:, 1]) * 110_540)
    assert raw.mean() > 100  # the pair really is offset
    assert metres.max() < 1.0


def test_forward_and_inverse_round_trip_below_a_millimetre():
    lon = np.linspace(100.0, 120.0, 50)
    lat = np.linspace(25.0, 45.0, 50)
    glon, glat = wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    assert np.abs(back_lon - lon).max() < 1e-8 and np.abs(back_lat - lat).max() < 1e-8
    blon, blat = gcj02_to_bd09(glon, glat)
    g2lon, g2lat = bd09_to_gcj02(blon, blat)
    assert np.abs(g2lon - glon).max() < 1e-8 and np.abs(g2lat - glat).max() < 1e-8


def test_bd09_and_gcj02_go_back_to_wgs84():
    for crs in (CRS.GCJ02, CRS.BD09):
        x, y = from_wgs84(*JINCHANG_CENTRE, crs)
        assert abs(x - JINCHANG_CENTRE[0]) > 1e-3  # really shifted (hundreds of metres)
        lon, lat = to_wgs84(x, y, crs)
        assert abs(lon - JINCHANG_CENTRE[0]) < 1e-8 and abs(lat - JINCHANG_CENTRE[1]) < 1e-8


def test_no_offset_outside_china():
    lon, lat = wgs84_to_gcj02(2.35, 48.85)
    assert (lon, lat) == (2.35, 48.85)


def test_wgs84_and_cgcs2000_are_taken_as_is():
    for crs in ("wgs84", "cgcs2000", "EPSG:4490", None):
        assert tuple(map(float, to_wgs84(102.1, 38.5, crs))) == (102.1, 38.5)


@pytest.mark.parametrize("name", ["utm", "epsg:3857", "", "mars"])
def test_unknown_crs_is_refused_with_the_accepted_list(name):
    with pytest.raises(UnknownCRS) as err:
        parse_crs(name)
    assert "gcj02" in err.value.message


def test_swapped_lon_lat_is_named():
    with pytest.raises(InvalidCoordinates) as err:
        check_lonlat(38.514, 102.188)  # lat=102 is out of range; swapped it is Jinchang
    assert "swap" in err.value.message and err.value.detail["swapped"] is True


def test_swapped_but_in_range_is_named():
    # (lon=45, lat=80) is in range but in the Arctic; swapped, (80, 45) is in Xinjiang.
    with pytest.raises(InvalidCoordinates) as err:
        check_lonlat(45.0, 80.0)
    assert err.value.detail["swapped"] is True and "swap" in err.value.message


def test_outside_china_and_not_a_swap():
    with pytest.raises(InvalidCoordinates) as err:
        check_lonlat(2.35, 48.85)  # Paris, either way round
    assert err.value.detail["swapped"] is False


@pytest.mark.parametrize("lon,lat", [(181, 38), (-181, 38), (102, 91), (float("nan"), 38), (102, float("inf"))])
def test_out_of_range_values(lon, lat):
    with pytest.raises(InvalidCoordinates):
        check_lonlat(lon, lat)


def test_a_point_in_china_passes():
    check_lonlat(*JINCHANG_CENTRE)


def test_bbox_parser():
    assert parse_bbox("102.13,38.47,102.25,38.55") == (102.13, 38.47, 102.25, 38.55)
    assert parse_bbox(None) is None
    for bad in ["1,2,3", "a,b,c,d", "102.25,38.47,102.13,38.55", "102,95,103,96", "200,1,201,2"]:
        with pytest.raises(InvalidCoordinates):
            parse_bbox(bad)


def test_haversine_distances_in_metres():
    from gis.coords import haversine_m

    d = haversine_m(102.19, 38.50, [102.19, 102.19, 103.19], [38.50, 39.50, 38.50])
    assert d[0] == 0.0
    assert d[1] == pytest.approx(111_195.1, abs=0.5)  # one degree of latitude on the mean sphere
    assert d[2] == pytest.approx(111_195.1 * np.cos(np.radians(38.5)), rel=2e-4)  # a degree of longitude there
