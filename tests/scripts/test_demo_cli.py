"""``gridmap demo load`` from the command line: loads, reports counts, and is a no-op the second time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(module_db, *args):
    env = {**os.environ, "GRIDMAP_DATABASE_URL": module_db.url}
    return subprocess.run([sys.executable, "-m", "scripts.cli", "demo", "load", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_demo_load_twice(module_db, repo_data):
    first = run(module_db, "--data", str(repo_data / "jinchang"))
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["skipped"] is False and report["grids"] > 250 and report["admin_areas"] == 203
    assert "网格" in first.stderr  # progress is shown
    second = run(module_db, "--data", str(repo_data / "jinchang"))
    assert second.returncode == 0 and json.loads(second.stdout)["skipped"] is True
    assert "already loaded" in second.stderr


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
