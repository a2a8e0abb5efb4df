"""``gridmap demo load`` from the command line: loads, reports counts, and is a no-op the second time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _command(module_db, *args) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": module_db.url}
    return [sys.executable, "-m", "scripts.cli", "demo", "load", *args], env


def run(module_db, *args):
    cmd, env = _command(module_db, *args)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_two_loads_at_once_one_waits_then_skips(module_db, repo_data):
    """Two ``gridmap demo load`` processes started together on one empty database: one loads, the other waits
    for its advisory lock and then finds the demo loaded (no collision, no second copy)."""
    cmd, env = _command(module_db, "--data", str(repo_data / "jinchang"))
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    reports = sorted((json.loads(out) for out, _ in outs), key=lambda r: r["skipped"])
    loaded, skipped = reports
    assert loaded["skipped"] is False and loaded["grids"] > 250 and loaded["admin_areas"] == 203
    assert skipped["skipped"] is True and skipped["waited_s"] > 0
    assert skipped["grids"] == loaded["grids"]
    errs = sorted((err for _, err in outs), key=lambda e: "already loaded" in e)
    assert "网格" in errs[0]  # the loader's progress is shown
    assert "waiting for another demo load" in errs[1] and "already loaded" in errs[1]
    from sqlalchemy import create_engine, text

    eng = create_engine(module_db.sqlalchemy_url)
    with eng.connect() as c:
        plans = c.execute(text("SELECT count(*) FROM grid_plans WHERE source = 'synthetic'")).scalar()
        grids = c.execute(text("SELECT count(*) FROM grids")).scalar()
    eng.dispose()
    assert plans == 1 and grids == loaded["grids"]


def test_demo_load_with_missing_data_folder_says_what_is_missing(module_db, tmp_path):
    out = run(module_db, "--data", str(tmp_path))
    assert out.returncode != 0
    assert "divisions_2023.csv" in out.stderr


def test_demo_load_osm_imports_streets_buildings_and_pois_with_attribution(module_db, repo_data):
    from sqlalchemy import create_engine, text

    out = run(module_db, "--osm", str(repo_data / "osm" / "guixi_jiangxi_2024.osm.pbf"))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["network"]["edges"] > 500 and report["network"]["nodes"] > 500
    assert "OpenStreetMap" in report["attribution"]
    eng = create_engine(module_db.sqlalchemy_url)
    with eng.connect() as c:
        assert c.execute(text("SELECT count(*) FROM street_edges WHERE network = 'guixi_jiangxi_2024' "
                              "AND source = 'osm'")).scalar() == report["network"]["edges"]
        assert c.execute(text("SELECT count(*) FROM buildings WHERE source = 'osm'")).scalar() > 100
        attribution = c.execute(text("SELECT string_agg(attribution, ' ') FROM dataset_loads")).scalar()
    eng.dispose()
    assert "© OpenStreetMap contributors" in attribution
