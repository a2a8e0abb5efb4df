"""The locator's kernels compiled ahead of time (gis.locate_aot) answer exactly as numba's, without numba.

The set-up (``python -m gis.jit_warmup``) builds the module; where there is no C compiler it cannot, and the
locator uses numba (checked here too)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

from gis import locate_aot
from gis.locate import Locator

ROOT = Path(__file__).resolve().parents[2]

# A small city: Voronoi grids (one with a hole, one in two parts), an exclusive grid over two of them, a
# community around everything and a 包街 street; points at random, on vertices and on shared edges.
CITY = """
import numpy as np, shapely
rng = np.random.default_rng(4)
frame = shapely.box(102.0, 38.4, 102.1, 38.5)
cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(
    shapely.multipoints(shapely.points(rng.uniform(102.0, 102.1, 60), rng.uniform(38.4, 38.5, 60))),
    extend_to=frame)), frame)
cells = list(cells)
cells[0] = shapely.Polygon(cells[0].exterior.coords,
                           [shapely.affinity.scale(cells[0], 0.3, 0.3).exterior.coords])
cells[1] = shapely.MultiPolygon([cells[1], cells[2]])
grids = cells[:2] + cells[3:] + [shapely.box(102.04, 38.44, 102.06, 38.46)]
kinds = ["comprehensive"] * (len(grids) - 1) + ["exclusive"]
codes = [f"{620302004001000 + i:015d}" for i in range(len(grids))]
street = shapely.LineString([(102.0, 38.45), (102.1, 38.452)])
verts = shapely.get_coordinates(shapely.GeometryCollection(grids))[:300]
lon = np.r_[rng.uniform(101.99, 102.11, 200_000), verts[:, 0]]
lat = np.r_[rng.uniform(38.39, 38.51, 200_000), verts[:, 1]]
lon[:3] = [np.nan, 102.05, 1e9]
"""

RUN = CITY + """
import sys, json
from gis import locate as gl
if AHEAD:
    gl.use_ahead_of_time_kernels()
loc = gl.Locator(codes, kinds, grids, community_codes=["620302004001"], community_geoms=[frame.buffer(0.01)],
                 street_geoms=[street], street_buffers_m=[20.0])
a = loc.assign(lon, lat)
one = [loc.locate_one(x, y) for x, y in zip(lon[3:2000], lat[3:2000])]
np.savez(OUT, **{k: v for k, v in vars(a).items()},
         one=np.array([(o["grid"] if o["grid"] is not None else -1, len(o["tied"]), o["on_boundary"]) for o in one]))
print(json.dumps({"numba": "numba" in sys.modules, "ahead_of_time": gl.kernels().ahead_of_time}))
"""


def _run(tmp_path: Path, ahead: bool) -> tuple[dict, dict]:
    out = tmp_path / f"{'aot' if ahead else 'jit'}.npz"
    run = subprocess.run([sys.executable, "-c", f"AHEAD = {ahead}\nOUT = {str(out)!r}\n{RUN}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1]), dict(np.load(out))


@pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="no C compiler: numba is used")
def test_ahead_of_time_kernels_answer_like_numba_without_importing_it(tmp_path):
    assert locate_aot.path().exists(), "run python -m gis.jit_warmup (the set-up does) to build the module"
    aot_info, aot = _run(tmp_path, True)
    jit_info, jit = _run(tmp_path, False)
    assert aot_info == {"numba": False, "ahead_of_time": True}
    assert jit_info == {"numba": True, "ahead_of_time": False}
    for name, values in jit.items():
        assert np.array_equal(aot[name], values, equal_nan=values.dtype.kind == "f"), name
    assert (jit["method"] == 1).any() and (jit["method"] == 2).any() and (jit["on_boundary"]).any()


def test_a_stale_or_missing_module_falls_back_to_numba(monkeypatch, tmp_path):
    from gis import locate as gl

    monkeypatch.setattr(locate_aot, "CACHE_DIR", tmp_path)  # nothing built here
    monkeypatch.setattr(gl, "_KERNELS", None)
    monkeypatch.setattr(gl, "_AHEAD_OF_TIME", True)
    assert locate_aot.load() is None
    loc = Locator(["A"], ["comprehensive"], [shapely.box(102.0, 38.0, 102.01, 38.01)])
    assert loc.assign([102.005], [38.005]).grid[0] == 0
    assert gl.kernels().ahead_of_time is False
    monkeypatch.setattr(gl, "_KERNELS", None)
