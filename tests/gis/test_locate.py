"""The point → grid locator on hand-made shapes: covers, ties, holes, multipolygons, vertices, precedence."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from gis.coords import bd09_to_gcj02, gcj02_to_bd09, to_wgs84
from gis.locate import (
    M_COMMUNITY,
    M_EXCLUSIVE,
    M_GRID,
    M_NEAREST,
    M_STREET,
    M_UNASSIGNED,
    AssignMethod,
    Locator,
    PolygonIndex,
)

# Two grids sharing the border lon = 102.01; A has a hole (a lake); C is a village in two detached parts;
# X is an exclusive grid (a school) inside B, B not cut around it.
A_CODE, B_CODE, C_CODE, X_CODE = "620302004001001", "620302004001002", "620302004001003", "620302004001101"
A = Polygon(box(102.00, 38.00, 102.01, 38.01).exterior.coords, [box(102.002, 38.002, 102.004, 38.004).exterior.coords])
B = box(102.01, 38.00, 102.02, 38.01)
C = MultiPolygon([box(102.03, 38.00, 102.04, 38.01), box(102.05, 38.00, 102.06, 38.01)])
X = box(102.015, 38.005, 102.017, 38.007)
COMMUNITY = box(101.99, 37.99, 102.07, 38.02)
STREET = LineString([(102.011, 38.002), (102.019, 38.002)])

IN_A = (102.005, 38.008)
ON_SHARED_BORDER = (102.01, 38.005)
ON_SHARED_VERTEX = (102.01, 38.01)
ON_OUTER_VERTEX = (102.00, 38.00)
IN_HOLE = (102.003, 38.003)
ON_HOLE_EDGE = (102.002, 38.003)
IN_SECOND_PART = (102.055, 38.005)
BETWEEN_PARTS = (102.045, 38.005)
IN_EXCLUSIVE = (102.016, 38.006)
ON_EXCLUSIVE_BORDER = (102.015, 38.006)
NEAR_STREET = (102.015, 38.0021)  # about 11 m north of the street
FAR = (102.5, 38.5)
ALMOST_ON_BORDER = (102.01 + 2e-6, 38.005)  # 0.18 m east of the border: still a tie within 0.5 m
CLEAR_OF_BORDER = (102.01 + 2e-5, 38.005)  # 1.75 m east: B only


@pytest.fixture(scope="module")
def locator() -> Locator:
    return Locator([A_CODE, B_CODE, C_CODE, X_CODE], ["comprehensive", "comprehensive", "comprehensive", "exclusive"],
                   [A, B, C, X], street_geoms=[STREET], street_buffers_m=[20.0])


def _one(loc: Locator, p):
    a = loc.assign([p[0]], [p[1]])
    return int(a.grid[0]), int(a.method[0]), bool(a.on_boundary[0]), int(a.n_tied[0])


@pytest.mark.parametrize(
    ("point", "grid", "method", "on_boundary"),
    [
        (IN_A, 0, M_GRID, False),
        (ON_SHARED_BORDER, 0, M_GRID, True),
        (ON_SHARED_VERTEX, 0, M_GRID, True),
        (ON_OUTER_VERTEX, 0, M_GRID, False),
        (IN_SECOND_PART, 2, M_GRID, False),
        (IN_EXCLUSIVE, 3, M_EXCLUSIVE, False),
        (ON_EXCLUSIVE_BORDER, 3, M_EXCLUSIVE, False),
        (NEAR_STREET, 1, M_STREET, False),
        (ALMOST_ON_BORDER, 0, M_GRID, True),
        (CLEAR_OF_BORDER, 1, M_GRID, False),
        (ON_HOLE_EDGE, 0, M_GRID, False),
    ],
)
def test_covering_rules(locator, point, grid, method, on_boundary):
    assert _one(locator, point)[:3] == (grid, method, on_boundary)


def test_tie_on_a_border_goes_to_the_lowest_code_and_is_reported(locator):
    res = locator.locate_one(*ON_SHARED_BORDER)
    assert res["grid"] == 0 and res["on_boundary"] is True
    assert [locator.codes[i] for i in res["tied"]] == [A_CODE, B_CODE]
    assert "最小" in res["reason"]
    # the tie-break follows codes, not input order
    swapped = Locator([B_CODE, A_CODE], ["comprehensive"] * 2, [B, A])
    assert swapped.codes[swapped.locate_one(*ON_SHARED_BORDER)["grid"]] == A_CODE


def test_hole_is_in_no_grid_and_falls_back(locator):
    grid, method, _, _ = _one(locator, IN_HOLE)
    assert method == M_NEAREST and grid == 0  # the lake's shore is about 90 m away
    res = locator.locate_one(*IN_HOLE)
    assert res["flagged"] and 80 < res["distance_m"] < 100


def test_between_the_parts_of_a_multipolygon_is_outside(locator):
    grid, method, _, _ = _one(locator, BETWEEN_PARTS)
    assert method in (M_NEAREST, M_UNASSIGNED)
    assert grid != 2 or method == M_NEAREST


def test_community_fallback_and_unassigned():
    loc = Locator([A_CODE], ["comprehensive"], [A], community_codes=["620302004001"], community_geoms=[COMMUNITY])
    grid, method, _, _ = _one(loc, IN_HOLE)
    assert method == M_COMMUNITY and grid == -1
    assert loc.assign([IN_HOLE[0]], [IN_HOLE[1]]).community[0] == 0
    res = loc.locate_one(*FAR)
    assert res["method"] is AssignMethod.UNASSIGNED and res["flagged"] and "200" in res["reason"]


def test_nearest_fallback_respects_its_limit():
    loc = Locator([A_CODE], ["comprehensive"], [A], nearest_m=50)
    p55 = (102.005, 38.0105)  # about 55 m north of A
    assert _one(loc, p55)[1] == M_UNASSIGNED
    loc200 = Locator([A_CODE], ["comprehensive"], [A])
    g, m, _, _ = _one(loc200, p55)
    assert (g, m) == (0, M_NEAREST)
    assert 50 < loc200.assign([p55[0]], [p55[1]]).distance_m[0] < 60


def test_candidates_within_accuracy(locator):
    res = locator.locate_one(102.0095, 38.005, accuracy_m=100)
    codes = [locator.codes[i] for i, _ in res["candidates"]]
    assert codes[:2] == [A_CODE, B_CODE]
    assert res["candidates"][0][1] == 0.0 and 40 < res["candidates"][1][1] < 50


def test_empty_and_invalid_geometries_never_break_the_index():
    bowtie = Polygon([(102.1, 38.1), (102.11, 38.11), (102.11, 38.1), (102.1, 38.11), (102.1, 38.1)])
    loc = Locator(["1", "2", "3", "4"], ["comprehensive"] * 4, [None, Polygon(), bowtie, A])
    a = loc.assign([102.005, 102.109, 102.105], [38.008, 38.105, 38.1001])
    assert list(a.grid[:2]) == [3, 2]  # even-odd reading of the bow-tie: the right lobe is inside
    empty = Locator([], [], [])
    assert empty.assign([102.0], [38.0]).method[0] == M_UNASSIGNED


def test_agrees_with_shapely_covers_on_random_points():
    rng = np.random.default_rng(1)
    seeds = shapely.points(rng.uniform(102.0, 102.2, 300), rng.uniform(38.4, 38.6, 300))
    frame = box(102.0, 38.4, 102.2, 38.6)
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds),
                                                                            extend_to=frame)), frame)
    codes = [f"{620302004001000 + i:015d}" for i in range(len(cells))]
    loc = Locator(codes, ["comprehensive"] * len(cells), cells, nearest_m=0)
    lon, lat = rng.uniform(101.99, 102.21, 20_000), rng.uniform(38.39, 38.61, 20_000)
    verts = shapely.get_coordinates(cells)[:500]
    lon, lat = np.r_[lon, verts[:, 0]], np.r_[lat, verts[:, 1]]
    got = loc.assign(lon, lat).grid
    pts = shapely.points(lon, lat)
    pi, gi = shapely.STRtree(cells).query(pts, predicate="intersects")
    expected = np.full(lon.size, -1)
    for p, g in sorted(zip(pi, gi), key=lambda t: (t[0], -t[1])):
        expected[p] = g  # the lowest index (= lowest code) wins
    near = shapely.dwithin(shapely.boundary(cells[np.maximum(got, 0)]), pts, 1e-5) & (got >= 0)
    assert np.array_equal(got[~near], expected[~near])
    assert np.array_equal(got[-500:], expected[-500:])  # vertices: covered, lowest code


def test_polygon_index_cover_lists_every_polygon():
    idx = PolygonIndex([A, B], rank=[0, 1])
    ids, near = idx.cover(*ON_SHARED_BORDER)
    assert list(ids) == [0, 1] and near.all()


def test_lon_lat_arrays_may_be_chunked(locator):
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(101.99, 102.07, 5000), rng.uniform(37.99, 38.02, 5000)
    whole = locator.assign(lon, lat)
    parts = [locator.assign(lon[i:i + 777], lat[i:i + 777]) for i in range(0, 5000, 777)]
    assert np.array_equal(whole.grid, np.concatenate([p.grid for p in parts]))
    assert np.array_equal(whole.method, np.concatenate([p.method for p in parts]))


def test_answers_do_not_depend_on_the_order_of_the_points(locator):
    """A batch is queried in bands of raster rows, not in input order: each answer still lands on its own row,
    for points off the raster, not numbers, on borders and in the overlap of an exclusive grid alike."""
    named = [IN_A, ON_SHARED_BORDER, ON_SHARED_VERTEX, IN_HOLE, IN_SECOND_PART, IN_EXCLUSIVE, ON_EXCLUSIVE_BORDER,
             NEAR_STREET, FAR, ALMOST_ON_BORDER, (np.nan, 38.005), (102.005, np.inf)]
    rng = np.random.default_rng(11)
    lon = np.r_[[p[0] for p in named], rng.uniform(101.99, 102.07, 3000)]
    lat = np.r_[[p[1] for p in named], rng.uniform(37.99, 38.02, 3000)]
    whole = locator.assign(lon, lat)
    shuffle = rng.permutation(lon.size)
    mixed = locator.assign(lon[shuffle], lat[shuffle])
    for field in ("grid", "method", "on_boundary", "n_tied", "street"):
        assert np.array_equal(getattr(mixed, field), getattr(whole, field)[shuffle]), field
    one_by_one = [_one(locator, p) for p in zip(lon[:len(named)], lat[:len(named)])]
    assert one_by_one == [(int(whole.grid[i]), int(whole.method[i]), bool(whole.on_boundary[i]),
                           int(whole.n_tied[i])) for i in range(len(named))]


def test_gcj02_and_bd09_input_meet_the_real_pair(repo_data):
    """GCJ-02 vertices of 金川区 (Amap) converted at the edge land within 1 m of the WGS84 vertices."""
    with open(repo_data / "jinchang" / "620302_jinchuan_gcj02.geojson", encoding="utf-8") as f:
        gcj = json.load(f)
    with open(repo_data / "jinchang" / "admin_boundaries_wgs84.geojson", encoding="utf-8") as f:
        wgs = json.load(f)
    g = shapely.geometry.shape(gcj.get("geometry", gcj) if gcj.get("type") != "FeatureCollection"
                               else gcj["features"][0]["geometry"])
    w = next(shapely.geometry.shape(ft["geometry"]) for ft in wgs["features"]
             if str(ft["properties"].get("adcode")) == "620302")
    gxy, wxy = shapely.get_coordinates(g), shapely.get_coordinates(w)
    assert gxy.shape == wxy.shape
    step = max(1, len(gxy) // 2000)
    gxy, wxy = gxy[::step], wxy[::step]
    lon, lat = to_wgs84(gxy[:, 0], gxy[:, 1], "gcj02")
    err = np.hypot((lon - wxy[:, 0]) * 87_000, (lat - wxy[:, 1]) * 111_000)
    assert err.max() < 1.0
    blon, blat = gcj02_to_bd09(gxy[:, 0], gxy[:, 1])
    lon2, lat2 = to_wgs84(blon, blat, "bd09")
    err2 = np.hypot((lon2 - wxy[:, 0]) * 87_000, (lat2 - wxy[:, 1]) * 111_000)
    assert err2.max() < 1.0
    back = bd09_to_gcj02(blon, blat)
    assert np.allclose(back[0], gxy[:, 0], atol=1e-8)
    # and a GCJ-02 point locates in the grid its WGS84 twin is in
    loc = Locator(["620302000000001"], ["comprehensive"], [w])
    inside = shapely.get_coordinates(shapely.point_on_surface(w))[0]
    assert loc.locate_one(*inside)["grid"] == 0


def _random_city(seed: int):
    """Voronoi grids (some with a hole, one in two parts) and exclusive boxes overlapping them and each other
    (cells covered twice or three times), with ranks: exclusive first, then by index."""
    rng = np.random.default_rng(seed)
    frame = box(102.0, 38.4, 102.1, 38.5)
    seeds = shapely.points(rng.uniform(102.0, 102.1, 120), rng.uniform(38.4, 38.5, 120))
    cells = list(shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds),
                                                                                 extend_to=frame)), frame))
    for i in range(0, len(cells), 9):
        inner = shapely.affinity.scale(shapely.convex_hull(cells[i]), 0.3, 0.3, origin="centroid")
        cells[i] = Polygon(cells[i].exterior.coords, [inner.exterior.coords])
    cells[1] = MultiPolygon([cells[1], cells.pop(40)])
    x, y = rng.uniform(102.0, 102.09, 6), rng.uniform(38.4, 38.49, 6)
    exclusive = [box(a, b, a + 0.008, b + 0.006) for a, b in zip(x, y)]
    exclusive.append(box(x[0] + 0.004, y[0] + 0.003, x[0] + 0.012, y[0] + 0.009))  # two exclusive grids overlap
    geoms = np.asarray(cells + exclusive, dtype=object)
    kind = np.r_[np.zeros(len(cells)), np.ones(len(exclusive))].astype(np.int8)
    rank = np.argsort(np.argsort(np.r_[np.arange(len(cells)) + 100, np.arange(len(exclusive))]))
    return geoms, kind, rank


def _test_points(geoms, rng):
    """Random points over and around the city, exactly on vertices, on edges, a few centimetres to a few metres
    off edges, off the raster and not numbers."""
    rings = shapely.get_rings(shapely.get_parts(geoms))
    verts = shapely.get_coordinates(geoms)
    on_edge = shapely.get_coordinates(shapely.line_interpolate_point(
        rings[rng.integers(0, len(rings), 3000)], rng.random(3000), normalized=True))
    off = on_edge + rng.normal(0, 1e-5, on_edge.shape)  # ~1 m: inside and outside the 0.5 m tolerance
    xy = np.vstack([np.column_stack([rng.uniform(101.99, 102.11, 20_000), rng.uniform(38.39, 38.51, 20_000)]),
                    verts, on_edge, off, [[np.nan, 38.45], [102.05, np.inf], [1e9, 38.45], [102.05, -1e9]]])
    return xy[:, 0].copy(), xy[:, 1].copy()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("min_cells", [1, 1 << 14])
def test_cells_answered_without_a_test_give_the_exact_answers(seed, min_cells):
    """Property: a batch answers the points of cells that need no test from a table and tests only the others;
    every answer (grid, ties, border) equals the exact path's (every point through the per-cell test, in bands)
    and the one-point path's (``cover``), on random points, vertices, edges and near edges, for coarse and fine
    rasters; and away from borders it is shapely's covering polygon of lowest rank."""
    from gis.locate import band_order

    geoms, kind, rank = _random_city(seed)
    idx = PolygonIndex(geoms, rank=rank, kind=kind, min_cells=min_cells)
    rng = np.random.default_rng(seed + 100)
    lon, lat = _test_points(geoms, rng)
    fast = idx.query(lon, lat)
    exact = idx.query(lon, lat, order=band_order(idx.raster, lon, lat))
    for f, e in zip(fast, exact):
        assert np.array_equal(f, e)
    assert (idx.direct >= -1).any() and (idx.direct == -2).any()  # both kinds of cell are exercised
    one = np.asarray([_cover_answer(idx, x, y) for x, y in zip(lon[::7], lat[::7])])
    assert np.array_equal(one, np.column_stack([f[::7] for f in fast]).astype(one.dtype))
    finite = np.isfinite(lon) & np.isfinite(lat)
    pts = shapely.points(lon[finite], lat[finite])
    tree = shapely.STRtree(geoms)
    pi, gi = tree.query(pts, predicate="intersects")
    expected = np.full(pts.size, -1)
    for p, g in sorted(zip(pi, gi), key=lambda t: (t[0], -rank[t[1]])):
        expected[p] = g
    pi, gi = tree.query(pts, predicate="dwithin", distance=2e-5)
    near = np.zeros(pts.size, bool)  # within ~2 m of a boundary: the tolerance decides there
    near[pi[shapely.dwithin(shapely.boundary(geoms[gi]), pts[pi], 2e-5)]] = True
    away = ~near
    assert away.sum() > 15_000 and np.array_equal(fast[0][finite][away], expected[away])
    assert (fast[0][~finite] == -1).all()


def _cover_answer(idx: PolygonIndex, x: float, y: float) -> tuple[int, int, bool]:
    ids, near = idx.cover(x, y)
    if not ids.size:
        return -1, 0, False
    return int(ids[0]), int(np.sum(idx.kind[ids] == idx.kind[ids[0]])), bool(near[0])


def _edges_ring_by_ring(geoms) -> list[tuple[float, float, float, float, int]]:
    """Every edge of every ring of every polygon, read one ring at a time with shapely (the reference)."""
    out = []
    for owner, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        for part in shapely.get_parts(g):
            if part.geom_type != "Polygon" or part.is_empty:
                continue
            for ring in [part.exterior, *part.interiors]:
                xy = np.asarray(ring.coords)[:, :2]
                out += [(a[0], a[1], b[0], b[1], owner) for a, b in zip(xy[:-1], xy[1:]) if (a != b).any()]
    return out


@pytest.mark.parametrize("with_collection", [False, True])
def test_polygon_edges_are_every_ring_edge_in_order(with_collection):
    """The edges the index is built from (read from WKB for polygons and multipolygons, from the geometries'
    parts otherwise) are those of every ring, exteriors and holes, in order, with their owner; repeated
    coordinates give no edge; Z is ignored; missing and empty geometries give none."""
    from gis.locate import _polygon_edges

    holed = Polygon(box(0, 0, 4, 4).exterior.coords, [box(1, 1, 2, 2).exterior.coords, box(2.5, 2.5, 3, 3).exterior.coords])
    repeated = Polygon([(5, 0), (6, 0), (6, 0), (6, 1), (5, 1), (5, 0)])
    multi = MultiPolygon([holed, box(10, 10, 11, 11), repeated])
    with_z = Polygon([(20, 0, 1), (21, 0, 2), (21, 1, 3), (20, 0, 1)])
    geoms = [None, holed, Polygon(), multi, with_z, MultiPolygon(), repeated]
    if with_collection:  # not polygons only: read part by part
        geoms.append(shapely.GeometryCollection([box(30, 0, 31, 1), LineString([(0, 0), (1, 1)])]))
    got = np.column_stack(_polygon_edges(np.asarray(geoms, dtype=object)))
    expected = np.asarray(_edges_ring_by_ring(geoms))
    assert got.shape == expected.shape and np.array_equal(got, expected)
