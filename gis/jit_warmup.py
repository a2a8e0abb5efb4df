"""Compile the numba kernels once, at set-up, instead of on the first request or benchmark.

The point locator (:mod:`gis._locate_kernels`) and the service-area code (:mod:`gis._iso_kernels`) are compiled
with ``cache=True``: the first call of each kernel with a new argument signature compiles it (about 17 s for
all of them on a 2-core machine) and writes the machine code next to the module (``__pycache__``, or
``NUMBA_CACHE_DIR``); later processes load it in milliseconds. This module calls the public entry points on a
tiny made-up city and street lattice, with the same argument types the service passes, so that every kernel is
compiled and cached before the service or ``gridmap bench`` first needs it.

Run ``python -m gis.jit_warmup`` (``scripts/bootstrap.sh`` does, after installing the Python environment).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import shapely

# a corner of Jinchang (金川区) in WGS84; the lattice below is metric (UTM 48N), used as a label only
LON0, LAT0 = 102.19, 38.52
X0, Y0 = 600_000.0, 4_264_000.0


def _square(x: float, y: float, d: float) -> shapely.Polygon:
    return shapely.box(x, y, x + d, y + d)


def warm_locator() -> None:
    """Build a :class:`gis.locate.Locator` over two grids, a community and a 包街 street, and run every query."""
    from gis.locate import Locator

    d = 0.002
    grids = [_square(LON0, LAT0, d), _square(LON0 + d, LAT0, d)]
    loc = Locator(["A", "B"], ["comprehensive", "exclusive"], grids,
                  community_codes=["620302001001"], community_geoms=[_square(LON0 - d, LAT0 - d, 4 * d)],
                  street_geoms=[shapely.LineString([(LON0, LAT0 - d / 2), (LON0 + 2 * d, LAT0 - d / 2)])],
                  street_buffers_m=[20.0])
    # inside A, on the A|B border, near the street, inside the community only, far from everything
    lon = np.array([LON0 + d / 2, LON0 + d, LON0 + d / 2, LON0 - d / 2, LON0 + 1.0])
    lat = np.array([LAT0 + d / 2, LAT0 + d / 2, LAT0 - d / 2, LAT0 - d / 2, LAT0 + 1.0])
    loc.assign(lon, lat)
    for x, y in zip(lon.tolist(), lat.tolist()):
        loc.locate_one(x, y)
        loc.locate_one(x, y, accuracy_m=30.0)


def warm_network() -> None:
    """Service areas, reachable node sets, nearest distances and a coverage matrix on a 4 × 4 street lattice."""
    from gis import network as gnet
    from gis.coverage import PointsOnNet, coverage_matrix, nearest_distances
    from gis.isochrones import reachable_node_sets, service_areas

    step, n = 200.0, 4
    lines, ends = [], []
    for i in range(n):
        for j in range(n - 1):
            lines.append([(j * step, i * step), ((j + 1) * step, i * step)])  # east–west
            lines.append([(i * step, j * step), (i * step, (j + 1) * step)])  # north–south
    geoms = [shapely.LineString([(X0 + x, Y0 + y) for x, y in c]) for c in lines]
    ends = np.array([[c[0], c[-1]] for c in lines], dtype=float)

    def label(p: np.ndarray) -> np.ndarray:
        return (np.rint(p[:, 0]).astype(np.int64) + 100_000) * 1_000_000 + np.rint(p[:, 1]).astype(np.int64)

    graph = gnet.build_graph("warmup", "EPSG:32648", geoms, label(ends[:, 0]), label(ends[:, 1]))
    fx, fy = np.array([X0 + 10.0, X0 + 310.0]), np.array([Y0 + 5.0, Y0 + 410.0])
    service_areas(graph, fx, fy, [250.0, 500.0])
    service_areas(graph, fx, fy, [250.0], mode="vector")
    reachable_node_sets(graph, np.array([0, 1]), 400.0)
    fac = PointsOnNet.snap(graph, fx, fy, 100.0)
    dem = PointsOnNet.snap(graph, [X0 + 100.0, X0 + 590.0, X0 + 5000.0], [Y0 + 30.0, Y0 + 600.0, Y0], 100.0)
    nearest_distances(graph, fac, dem, limit=1000.0)
    coverage_matrix(graph, fac, dem, 500.0)


def warm_all(log=print) -> float:
    """Compile (or load from the cache) every kernel; returns the seconds it took."""
    t = time.perf_counter()
    log("编译定位内核 (compiling the point-locator kernels)…")
    warm_locator()
    log(f"  {time.perf_counter() - t:.1f} s")
    t2 = time.perf_counter()
    log("编译服务圈内核 (compiling the service-area kernels)…")
    warm_network()
    log(f"  {time.perf_counter() - t2:.1f} s")
    t3 = time.perf_counter()
    log("预编译定位内核为扩展模块 (compiling the point-locator kernels ahead of time, for gridmap locate)…")
    from gis import locate_aot

    if locate_aot.build(log=log):
        log(f"  {time.perf_counter() - t3:.1f} s")
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(
        prog="python -m gis.jit_warmup",
        description="预编译 numba 内核并写入缓存 (compile the numba kernels into their on-disk cache, so the "
                    "first request and the first benchmark do not pay for it; ~17 s the first time, <1 s after).")
    ap.parse_args(argv)
    took = warm_all(lambda m: print(m, file=sys.stderr, flush=True))
    print(f"内核已就绪 (kernels ready) in {took:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
