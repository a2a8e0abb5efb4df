"""Bulk assignment on a local Dask cluster of two worker processes equals the single-process answer."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis.distributed_assign import assign_distributed, connect
from gis.locate import Locator
from scripts.bench.locate import make_city

FIELDS = ("grid", "method", "on_boundary", "n_tied", "distance_m", "street", "community")


@pytest.fixture(scope="module")
def client():
    with connect("local", n_workers=2) as c:
        yield c


def test_two_workers_give_the_single_process_answer(client):
    codes, geoms = make_city(300, seed=5)
    streets = [shapely.LineString([(102.1, 38.45), (102.4, 38.45)])]
    locator = Locator(codes, ["comprehensive"] * len(codes), geoms, street_geoms=streets, street_buffers_m=[20.0])
    rng = np.random.default_rng(9)
    vx = shapely.get_coordinates(shapely.boundary(np.asarray(geoms[:50], dtype=object)))[:2000]
    lon = np.r_[rng.uniform(101.9, 102.7, 40_000), vx[:, 0]]  # some points outside the city, some on vertices
    lat = np.r_[rng.uniform(38.2, 38.8, 40_000), vx[:, 1]]
    assert len(client.scheduler_info()["workers"]) == 2
    ours = assign_distributed(locator, lon, lat, client, chunk=6_000)
    ref = locator.assign(lon, lat)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(ours, name), getattr(ref, name), err_msg=name)
    assert (ref.street >= 0).sum() > 0  # the street rule took part
    assert ref.on_boundary.sum() > 100  # vertices are on borders
