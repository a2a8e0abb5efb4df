"""Household estimates of OSM buildings: which are housing, how many levels, how many households."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from gis.osm_buildings import estimate_households, footprint_area_m2


def test_footprint_area_in_metres():
    # 0.001° × 0.001° at 40°N is about 85 m × 111 m
    geoms = gpd.GeoSeries([box(116.33, 40.0, 116.331, 40.001)], crs=4326)
    assert footprint_area_m2(geoms)[0] == pytest.approx(85.3 * 111.0, rel=0.01)




def test_rule_by_building_type():
    df = pd.DataFrame({
        "building": ["apartments", "yes", "yes", "school", "house", "yes", "residential"],
        "building:levels": [None, None, None, "3", None, "2;3", None],
        "height": [None, None, None, None, None, None, "30 m"],
        "amenity": [None, None, "restaurant", None, None, None, None],
    })
    area = np.array([900.0, 450.0, 450.0, 2000.0, 120.0, 50.0, 300.0])
    out = estimate_households(df, area)
    assert out["basis"].tolist() == [
        "residential", "assumed_residential", "non_residential", "non_residential", "residential",
        "non_residential", "residential",
    ]
    assert out["floors"].tolist() == [6, 4, 4, 3, 2, 2, 10]
    sources = ["default", "default", "default", "tag", "default", "tag", "height"]
    assert out["levels_source"].tolist() == sources
    # 900 m² × 6 / 90 = 60; 450 × 4 / 90 = 20; 120 × 2 / 90 = 2.67 → 3; 300 × 10 / 90 = 33.3 → 33
    assert out["households"].tolist() == [60, 20, 0, 0, 3, 0, 33]
    assert out["residents"].tolist() == [157, 52, 0, 0, 8, 0, 86]


def test_small_housing_has_at_least_one_household():
    out = estimate_households(pd.DataFrame({"building": ["house"]}), np.array([20.0]))
    assert out["households"].tolist() == [1]
