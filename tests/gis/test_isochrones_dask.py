"""Service areas on a dask.distributed LocalCluster (2 workers) equal the single-process ones."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis.isochrones import service_areas, service_areas_dask
from tests.gis.test_isochrones import X0, Y0, _graph

distributed = pytest.importorskip("dask.distributed")


def test_dask_local_cluster_same_result():
    # a 6 × 6 street grid (100 m blocks) and 30 facilities scattered over it, some off the streets
    lines = []
    for k in range(6):
        for j in range(5):
            lines.append([(j * 100, k * 100), ((j + 1) * 100, k * 100)])
            lines.append([(k * 100, j * 100), (k * 100, (j + 1) * 100)])
    g = _graph(lines)
    rng = np.random.default_rng(7)
    x = X0 + rng.uniform(-50, 550, 30)
    y = Y0 + rng.uniform(-50, 550, 30)
    x[0], y[0] = X0 + 5000, Y0 + 5000  # no street near: euclidean
    single = service_areas(g, x, y, [150, 300])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        spread = service_areas_dask(client, g, x, y, [150, 300], chunk=7)
    assert len(spread) == len(single) == 60
    assert [(a.facility, a.budget_m, a.method) for a in spread] == [(a.facility, a.budget_m, a.method)
                                                                      for a in single]
    assert all(shapely.equals_exact(a.geom, b.geom, 1e-9) for a, b in zip(spread, single, strict=True))
    assert spread[0].method == "euclidean" and spread[2].method == "network"
