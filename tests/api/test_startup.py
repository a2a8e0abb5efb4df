"""Start-up cost of the API: what a worker imports before its first request. Every uvicorn worker, every
restart and every benchmark server pays it, so the modules only some routes need (service areas: numba
kernels and the street network; coverage: scipy's graph search) load on first use, and the argon2 hash for
unknown users is made on the first login (~0.1 s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from api.app import create_app
from layers import accounts
create_app()
print(json.dumps({"loaded": sorted(m for m in sys.modules if m.startswith(("gis.", "layers.", "scipy.sparse.csgraph"))),
                  "dummy_hashes": accounts._dummy_hash.cache_info().currsize}))
"""

ON_FIRST_USE = ("layers.service_circles", "gis.isochrones", "gis._iso_kernels", "layers.coverage", "gis.coverage",
                "scipy.sparse.csgraph")


def test_workers_start_without_the_modules_of_a_few_routes():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert "layers.incidents" in res["loaded"] and "layers.locate" in res["loaded"]  # intake is ready at once
    early = [m for m in ON_FIRST_USE if m in res["loaded"]]
    assert early == [], f"imported at start-up: {early}"
    assert res["dummy_hashes"] == 0
