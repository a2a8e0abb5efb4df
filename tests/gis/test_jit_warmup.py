"""The set-up warm-up compiles every numba kernel the service and the benchmarks call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# In a fresh interpreter (no other test has called a kernel yet): run the warm-up, then list the kernels that
# still have no compiled signature. Private helpers (``_name``) and kernels inlined into others
# (inline="always") are compiled as part of their callers and need none of their own.
PROBE = """
import json
from numba.core.registry import CPUDispatcher
from gis import _iso_kernels, _locate_kernels, jit_warmup
jit_warmup.warm_all(log=lambda m: None)
missing, seen = [], []
for mod in (_locate_kernels, _iso_kernels):
    for name, f in vars(mod).items():
        if isinstance(f, CPUDispatcher) and f.__module__ == mod.__name__:
            if name.startswith("_") or f.targetoptions.get("inline") == "always":
                continue
            seen.append(name)
            if not f.signatures:
                missing.append(f"{mod.__name__}.{name}")
print(json.dumps({"missing": missing, "seen": seen}))
"""


def test_warm_up_compiles_every_kernel():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(res["seen"]) >= 9, res
    assert res["missing"] == [], f"kernels the warm-up does not compile: {res['missing']}"


def test_warm_up_has_help():
    out = subprocess.run([sys.executable, "-m", "gis.jit_warmup", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True)
    assert "numba" in out.stdout
