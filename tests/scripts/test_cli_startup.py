"""``gridmap --help`` and every ``gridmap COMMAND --help`` start without the heavy libraries: a command module
imports what its work needs inside the function that does it, so a light command starts in well under 0.5 s.

Checked in a fresh interpreter by what it imported (a timed test would flake on a shared machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# each of these takes 0.1-1 s to import; none is needed to parse arguments or print help
HEAVY = ("numpy", "pandas", "shapely", "geopandas", "pyarrow", "numba", "scipy", "sqlalchemy", "psycopg2",
         "alembic", "pydantic", "pydantic_settings", "fastapi", "starlette", "httpx", "folium", "pyproj",
         "api", "layers", "maps", "usecases")

PROBE = """
import contextlib, io, json, sys
from scripts.cli import build_parser, main
commands = sorted(build_parser()._subparsers._group_actions[0].choices)
helps = {}
for argv in [["--help"]] + [[c, "--help"] for c in commands]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(argv)
        except SystemExit:
            pass
    helps[" ".join(argv)] = out.getvalue()
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
print(json.dumps({"commands": commands, "heavy": heavy, "helps": helps}))
"""


def test_help_of_every_command_imports_no_heavy_library():
    run = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    res = json.loads(run.stdout)
    assert {"locate", "bench", "demo", "db", "plan", "serve"} <= set(res["commands"])
    assert res["heavy"] == [], f"imported while printing help: {res['heavy']}"
    # every help was really printed (a module that failed to register would not be listed)
    for argv, text in res["helps"].items():
        assert "usage: gridmap" in text, argv
    assert "locate" in res["helps"]["--help"] and "--out" in res["helps"]["locate --help"]
