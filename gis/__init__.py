"""Pure geometry and algorithms for gridmap: no I/O, no database, no web."""

import os

# numba's parallel kernels (gis._locate_kernels, gis._iso_kernels) run on OpenMP threads, which by default spin at
# the end of every parallel loop while waiting for each other, taking a core from whoever else needs it. On a
# machine shared with the service's workers, the database and other jobs (2 cores here) a bulk locate on 2 threads
# was no faster than on 1 (1M points in 10,000 grids, ratio to geopandas.sjoin: median of 8 runs 12.6× spinning,
# range 10.5–27.4×; 14.2× sleeping, range 12.2–18.0×). A waiting thread now sleeps; set OMP_WAIT_POLICY yourself to
# choose otherwise. Read by OpenMP when numba first starts its threads, which is after this import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
