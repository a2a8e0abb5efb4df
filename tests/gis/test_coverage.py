"""Greedy maximal covering and nearest-facility distances on tiny hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from gis.coverage import PointsOnNet, greedy_max_cover, nearest_distances
from gis.errors import InvalidInput
from tests.gis.test_isochrones import X0, Y0, _graph


def test_greedy_takes_the_biggest_gain_then_the_rest():
    # candidates × demand; weights = households
    cover = csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 1], [1, 0, 0, 0]], dtype=bool))
    picks = greedy_max_cover(cover, [10, 5, 3, 4], 3, secondary=[1, 1, 1, 1])
    assert [p.candidate for p in picks] == [0, 1]  # 15 first, then the 7 left; candidate 2 adds nothing
    assert [p.added_weight for p in picks] == [15, 7]
    assert picks[1].added_points.tolist() == [2, 3] and picks[1].added_secondary == 2
    with pytest.raises(InvalidInput):
        greedy_max_cover(cover, [1, 1, 1, 1], 0)


def test_nearest_distances_network_and_fallback():
    g = _graph([[(0, 0), (1000, 0)], [(1000, 0), (1000, 200)], [(1000, 200), (0, 200)]])
    fac = PointsOnNet.snap(g, [X0 + 100, X0 + 9000], [Y0, Y0 + 9000], 100)
    dem = PointsOnNet.snap(g, [X0 + 300, X0 + 50, X0 + 100, X0 + 9000], [Y0 + 10, Y0, Y0 + 200, Y0 + 9100], 100)
    d, nearest, method = nearest_distances(g, fac, dem, limit=3000)
    assert d[:3].tolist() == pytest.approx([210, 50, 900 + 200 + 900], abs=0.5)
    assert nearest.tolist() == [0, 0, 0, 1]
    assert method.tolist() == ["network", "network", "network", "euclidean"]
    assert d[3] == pytest.approx(100 * 1.3)
