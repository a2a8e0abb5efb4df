"""Service areas on hand-checked small networks (metric coordinates, EPSG:32650 as a label only)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import shapely

from gis import network as gnet
from gis.errors import InvalidInput
from gis.isochrones import minutes_to_meters, reachable_node_sets, service_areas, substrings

X0, Y0 = 500_000.0, 3_400_000.0  # somewhere in UTM 50N


def _graph(lines, oneway=None):
    geoms = [shapely.LineString([(X0 + x, Y0 + y) for x, y in c]) for c in lines]
    ends = np.array([[c[0], c[-1]] for c in lines], dtype=float)
    # node labels from rounded local coordinates
    lab = lambda p: (np.rint(p[:, 0]).astype(np.int64) + 100_000) * 1_000_000 + np.rint(p[:, 1]).astype(np.int64)  # noqa: E731
    return gnet.build_graph("t", "EPSG:32650", geoms, lab(ends[:, 0]), lab(ends[:, 1]), oneway=oneway)


def _covers(area, x, y) -> bool:
    return bool(area.geom.covers(shapely.Point(X0 + x, Y0 + y)))


@pytest.fixture
def river():
    # south bank street y=0, north bank street y=200, one bridge at x=1000; the river runs along y=100
    return _graph([[(0, 0), (1000, 0)], [(1000, 0), (1000, 200)], [(1000, 200), (0, 200)]])


def test_river_with_one_bridge(river):
    a500, a1500 = service_areas(river, [X0], [Y0], [500, 1500])
    assert a500.method == "network" and a500.budget_m == 500
    # partial edge: the south street is covered up to 500 m (+ 50 m buffer), not beyond
    assert _covers(a500, 450, 0) and _covers(a500, 540, 0)
    assert not _covers(a500, 700, 0)
    # the other bank is 200 m away in a straight line but not reachable within 500 m
    assert not _covers(a500, 0, 200) and not _covers(a500, 0, 160)
    assert a500.geom.area == pytest.approx(500 * 100 + np.pi * 50**2, rel=0.02)
    # 1500 m: over the bridge (1000 + 200) and 300 m back west along the north bank
    assert _covers(a1500, 1000, 100) and _covers(a1500, 750, 200)
    assert not _covers(a1500, 600, 200) and not _covers(a1500, 0, 200)
    assert a1500.reached_nodes == 3


def test_one_way_footbridge():
    # the footbridge may only be walked north → south
    g = _graph([[(0, 0), (1000, 0)], [(1000, 200), (1000, 0)], [(1000, 200), (0, 200)]],
               oneway=[False, True, False])
    south, north = service_areas(g, [X0, X0], [Y0, Y0 + 200], [1500])
    assert not _covers(south, 800, 200)
    assert _covers(north, 800, 0)
    assert north.reached_nodes == 3 and south.reached_nodes == 2


def test_start_on_an_edge_not_a_node(river):
    # 10 m off the south street at x=300: snapped to (300, 0); 490 m left to walk each way
    (a,) = service_areas(river, [X0 + 300], [Y0 + 10], [500])
    assert _covers(a, 300, 10)
    assert _covers(a, 780, 0) and not _covers(a, 850, 0)
    assert a.reached_nodes == 1  # only the west end (x=0) is within 500 m
    line = shapely.LineString([(X0, Y0), (X0 + 790, Y0)])
    assert a.geom.area == pytest.approx(line.buffer(50).area, rel=0.02)


def test_block_keeps_its_hole():
    sq = [(0, 0), (400, 0), (400, 400), (0, 400)]
    g = _graph([[sq[i], sq[(i + 1) % 4]] for i in range(4)])
    (a,) = service_areas(g, [X0], [Y0], [2000])
    poly = a.geom.geoms[0]
    assert len(a.geom.geoms) == 1 and len(poly.interiors) == 1
    assert not _covers(a, 200, 200) and _covers(a, 200, 40)
    rounded = 4 * (50**2 - np.pi * 50**2 / 4)
    assert a.geom.area == pytest.approx(500**2 - 300**2 - rounded, rel=0.01)


def test_euclidean_fallback_far_from_streets(river):
    far, near = service_areas(river, [X0 + 5000, X0], [Y0 + 5000, Y0], [500])
    assert far.method == "euclidean" and near.method == "network"
    assert far.geom.area == pytest.approx(np.pi * 500**2, rel=0.01)
    (nonet,) = service_areas(None, [X0], [Y0], [300])
    assert nonet.method == "euclidean"


def test_budgets_minutes_and_validation(river):
    assert minutes_to_meters([5, 10, 15]).tolist() == pytest.approx([416.67, 833.33, 1250], abs=0.01)
    with pytest.raises(InvalidInput):
        service_areas(river, [X0], [Y0], [0])
    with pytest.raises(InvalidInput):
        minutes_to_meters(5, speed_kmh=0)


def test_substrings_and_reachability(river):
    sub = substrings(river, np.array([0, 2]), np.array([100.0, 0.0]), np.array([250.0, 1000.0]))
    assert shapely.length(sub).tolist() == pytest.approx([150, 1000])
    assert shapely.get_coordinates(sub[0])[0].tolist() == pytest.approx([X0 + 100, Y0])
    sets = reachable_node_sets(river, [0], 1100)
    assert len(sets[0]) == 2
    # the graph survives pickling (dask workers) without its STRtree
    assert river.tree is not None
    g2 = pickle.loads(pickle.dumps(river))
    assert g2._tree is None and g2.snap([X0 + 10], [Y0 + 5], 50)[0][0] == 0


def test_grid_polygon_matches_the_vector_union():
    # a small street grid with a dead end and a diagonal: both polygon builders agree within 1 %
    lines = [[(0, 0), (300, 0)], [(300, 0), (600, 0)], [(0, 300), (300, 300)], [(300, 300), (600, 300)],
             [(0, 0), (0, 300)], [(300, 0), (300, 300)], [(600, 0), (600, 300)], [(300, 300), (420, 480)],
             [(600, 300), (900, 310)]]
    g = _graph(lines)
    for budget in (250, 700, 1500):
        (grid,) = service_areas(g, [X0 + 10], [Y0 + 5], [budget], mode="grid")
        (vec,) = service_areas(g, [X0 + 10], [Y0 + 5], [budget], mode="vector")
        assert grid.geom.is_valid
        sym = shapely.symmetric_difference(grid.geom, vec.geom).area
        assert sym / vec.geom.area < 0.01
        assert grid.geom.area == pytest.approx(vec.geom.area, rel=0.01)
        holes = [len(p.interiors) for p in grid.geom.geoms]
        assert holes == [len(p.interiors) for p in vec.geom.geoms]


def test_dead_end_is_covered_to_its_tip_plus_the_buffer():
    # a main street with a 200 m dead end branching north at x=300
    g = _graph([[(0, 0), (300, 0)], [(300, 0), (600, 0)], [(300, 0), (300, 200)]])
    (a,) = service_areas(g, [X0 + 300], [Y0], [400])
    assert _covers(a, 300, 240) and not _covers(a, 300, 260)  # tip at 200 m, round cap of 50 m
    assert _covers(a, 0, 0) and _covers(a, 600, 0)  # 300 m each way along the main street
    assert a.reached_nodes == 4


def test_larger_budgets_cover_smaller_ones():
    # starting mid-block, each budget's reach ends at a different point of a partial edge; the traced outline
    # is an approximation at junctions, yet the circles nest exactly: every budget is traced on the lattice of
    # the largest, each line kept within the next one's (on a lattice placed by each reach's extent slivers of
    # up to 67 m² stuck out; with each outline simplified on its own, strips up to 0.3 m)
    lines = [[(0, 0), (300, 0)], [(300, 0), (600, 0)], [(0, 300), (300, 300)], [(300, 300), (600, 300)],
             [(0, 0), (0, 300)], [(300, 0), (300, 300)], [(600, 0), (600, 300)], [(300, 300), (420, 480)],
             [(600, 300), (900, 310)], [(37, 11), (300, 0)]]
    g = _graph(lines)
    for small in (93, 137, 180, 221, 250):
        areas = service_areas(g, [X0 + 311.7], [Y0 + 155.3], [small, 333, 517, 777], mode="grid")
        for inner, outer in zip(areas, areas[1:], strict=False):
            assert outer.geom.covers(inner.geom)
            assert shapely.difference(inner.geom, outer.geom).area == 0


def test_circles_nest_exactly_on_a_real_network(repo_data):
    """Wuhan's OSM streets (data/osm): 150 facilities off the network, 5/10/15 minutes — each smaller circle lies
    within the larger ones exactly (with each outline simplified on its own, strips up to 0.3 m stuck out)."""
    import geopandas as gpd

    streets = gpd.read_parquet(repo_data / "osm" / "wuhan_fua8989_streets.parquet")
    u, v = gnet.endpoint_node_ids(streets.to_crs("EPSG:4326").geometry.values)
    g = gnet.build_graph("wuhan", "EPSG:32650", streets.geometry.values, u, v)
    rng = np.random.default_rng(19)
    nodes = rng.choice(g.n_nodes, 150, replace=False)
    x = g.node_xy[nodes, 0] + rng.uniform(-60, 60, 150)
    y = g.node_xy[nodes, 1] + rng.uniform(-60, 60, 150)
    areas = service_areas(g, x, y, minutes_to_meters([5, 10, 15]))
    pairs = [(areas[k + i], areas[k + j]) for k in range(0, len(areas), 3) for i, j in ((0, 1), (1, 2), (0, 2))]
    assert all(inner.method == "network" for inner, _ in pairs)
    assert all(outer.geom.covers(inner.geom) for inner, outer in pairs)
    assert max(shapely.difference(inner.geom, outer.geom).area for inner, outer in pairs) == 0
