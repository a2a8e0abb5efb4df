"""The generated Jinchang core: deterministic, inside the real boundary, grids in the band, clean topology."""

from __future__ import annotations

import numpy as np
import shapely

from gis.domain import SEVEN_ONES
from layers.demo import demo_city


def test_same_seed_same_city_other_seed_other_city(repo_data):
    a = demo_city(repo_data / "jinchang", seed=7)
    b = demo_city(repo_data / "jinchang", seed=7)
    c = demo_city(repo_data / "jinchang", seed=8)
    assert shapely.to_wkb(a.buildings["geometry"].to_numpy()).tolist() == \
        shapely.to_wkb(b.buildings["geometry"].to_numpy()).tolist()
    assert a.grids["code"].tolist() == b.grids["code"].tolist()
    assert a.people["name"].tolist() == b.people["name"].tolist()
    assert len(a.buildings) != len(c.buildings) or a.people["name"].tolist() != c.people["name"].tolist()


def test_core_lies_inside_the_real_district_and_grids_tile_communities(repo_data):
    import geopandas as gpd

    city = demo_city(repo_data / "jinchang")
    bounds = gpd.read_file(repo_data / "jinchang" / "admin_boundaries_wgs84.geojson")
    jinchuan = bounds.loc[bounds["adcode"] == "620302", "geometry"].iloc[0]
    assert jinchuan.contains(shapely.union_all(city.grids["geometry"].to_numpy()))
    assert jinchuan.contains(shapely.union_all(city.buildings["geometry"].to_numpy()))

    comp = city.grids[city.grids["kind"] == "comprehensive"]
    for code, community in zip(city.core.communities["code"], city.core.communities["geometry"]):
        mine = comp.loc[comp["community_code"] == code, "geometry"].to_numpy()
        union = shapely.union_all(mine)
        # the grids of a community cover it exactly, without overlaps (areas add up)
        assert abs(union.area - community.area) < 1e-12
        assert abs(sum(g.area for g in mine) - community.area) < 1e-12
    ex = city.grids[city.grids["kind"] == "exclusive"]
    assert len(ex) >= 10
    for code, geom in zip(ex["community_code"], ex["geometry"]):
        hosts = comp.loc[comp["community_code"] == code, "geometry"]
        assert any(h.contains(geom) for h in hosts)


def test_grids_mostly_in_the_household_band_and_buildings_not_cut(repo_data):
    city = demo_city(repo_data / "jinchang")
    comp = city.grids[city.grids["kind"] == "comprehensive"]
    hh = city.buildings.groupby("grid_code")["households"].sum()
    per_grid = comp["code"].map(hh).fillna(0).to_numpy()
    in_band = ((per_grid >= 300) & (per_grid <= 500)).mean()
    assert in_band > 0.9, in_band
    assert 3000 <= len(city.buildings) <= 8000
    b = city.buildings["geometry"].to_numpy()
    cut = shapely.STRtree(b).query(shapely.boundary(comp["geometry"].to_numpy()), predicate="crosses")
    assert cut.shape[1] == 0


def test_fifty_four_main_streets_have_units_and_villages_lack_some_seven_ones(repo_data):
    city = demo_city(repo_data / "jinchang")
    with_unit = city.streets[city.streets["unit"].notna()]
    assert len(with_unit) == 54 and with_unit["name"].is_unique
    assert city.streets["unit"].isna().sum() == 6
    assert 0 < len(city.missing_seven_ones) < 27
    village_facilities = city.facilities[city.facilities["type_code"].isin(SEVEN_ONES)]
    per_village = village_facilities.groupby("community_code")["type_code"].nunique()
    complete = int((per_village == len(SEVEN_ONES)).sum())
    assert complete + len(city.missing_seven_ones) == 27
    assert np.all(city.people["phone"].str.len() == 11)
