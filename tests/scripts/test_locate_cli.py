"""``gridmap locate`` and ``gridmap reassign`` on the hand-made plan's database."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from scripts.cli import main
from tests import locate_fixtures as F

locate_db = F.locate_db  # the fixture, from the shared module


@pytest.fixture
def env(locate_db, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", locate_db["settings"].sqlalchemy_url.render_as_string(False))
    return locate_db


def test_locate_csv_to_geojson_and_parquet(env, tmp_path, capsys):
    src = tmp_path / "points.csv"
    src.write_text("id,lon,lat\n1,{},{}\n2,{},{}\n3,38.5,102.19\n".format(*F.IN_G1, *F.ON_STREET), encoding="utf-8")
    out = tmp_path / "answers.geojson"
    assert main(["locate", str(src), "--out", str(out)]) == 0
    feats = json.loads(out.read_text(encoding="utf-8"))["features"]
    assert [f["properties"]["method"] for f in feats] == ["grid", "street_responsibility", "invalid"]
    assert feats[1]["properties"]["responsible_unit"] == "市政工程公司"
    assert "street_responsibility" in capsys.readouterr().out
    # an answer file is itself an input (the invalid row has no geometry, so it is left out here)
    valid = tmp_path / "valid.geojson"
    valid.write_text(json.dumps({"type": "FeatureCollection", "features": feats[:2]}), encoding="utf-8")
    pq = tmp_path / "answers.parquet"
    assert main(["locate", str(valid), "--out", str(pq)]) == 0
    back = pd.read_parquet(pq)
    assert list(back["method"]) == ["grid", "street_responsibility"]
    assert list(back["in_method"]) == ["grid", "street_responsibility"]


def test_locate_strict_fails_on_invalid_points(env, tmp_path, capsys):
    src = tmp_path / "bad.csv"
    src.write_text("lon,lat\n38.5,102.19\n", encoding="utf-8")
    assert main(["locate", str(src), "--out", str(tmp_path / "x.csv"), "--strict"]) == 1
    assert "写反" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]  # nothing written, not even a part


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_locate_in_parts_gives_the_same_file(env, tmp_path, monkeypatch, suffix):
    from scripts.commands import locate as command

    frame = pd.DataFrame({"id": range(100), "lon": [F.IN_G1[0], F.ON_STREET[0], 38.5, F.IN_G1[0]] * 25,
                          "lat": [F.IN_G1[1], F.ON_STREET[1], 102.19, 95.0] * 25})
    src = tmp_path / "points.csv"
    frame.to_csv(src, index=False)
    whole, parts = tmp_path / f"whole.{suffix}", tmp_path / f"parts.{suffix}"
    assert main(["locate", str(src), "--out", str(whole)]) == 0
    monkeypatch.setattr(command, "CHUNK", 7)
    assert main(["locate", str(src), "--out", str(parts)]) == 0
    if suffix == "csv":
        assert parts.read_bytes() == whole.read_bytes()
    else:
        import pyarrow.parquet as pq

        a, b = pq.read_table(whole), pq.read_table(parts)
        assert a.to_pylist() == b.to_pylist() and a.schema.metadata == b.schema.metadata
        assert pq.ParquetFile(parts).metadata.num_row_groups == 15
    answers = pd.read_csv(parts) if suffix == "csv" else pd.read_parquet(parts)
    assert list(answers["method"][:4]) == ["grid", "street_responsibility", "invalid", "invalid"]


def test_reassign_dry_run_prints_a_summary(env, capsys):
    assert main(["reassign", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "试运行" in out and "checked" in out


def test_locate_on_a_local_dask_cluster_gives_the_same_file(env, tmp_path):
    rng = pd.DataFrame({"lon": [F.IN_G1[0], F.ON_STREET[0]] * 50, "lat": [F.IN_G1[1], F.ON_STREET[1]] * 50})
    src = tmp_path / "points.csv"
    rng.to_csv(src, index=False)
    plain, dask = tmp_path / "plain.csv", tmp_path / "dask.csv"
    assert main(["locate", str(src), "--out", str(plain)]) == 0
    assert main(["locate", str(src), "--out", str(dask), "--dask", "local"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(plain), pd.read_csv(dask))


def test_locate_imports_neither_sqlalchemy_nor_pandas(env, tmp_path):
    """The command reads the plan through the driver alone (layers.driver): checked in a fresh interpreter by what
    it imported (a timed test would flake on a shared machine)."""
    import subprocess
    import sys
    from pathlib import Path

    src = tmp_path / "points.csv"
    src.write_text("id,lon,lat\n1,{},{}\n".format(*F.IN_G1), encoding="utf-8")
    probe = ("import json, sys\nfrom scripts.cli import main\n"
             f"code = main(['locate', {str(src)!r}, '--out', {str(tmp_path / 'out.parquet')!r}])\n"
             "print(json.dumps([code, sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'pandas', "
             "'geopandas', 'pyproj'})]))")  # (numba only when the kernels compiled ahead of time are stale)
    run = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == [0, []]


def test_locate_says_when_the_database_cannot_be_reached(env, tmp_path, monkeypatch, capsys):
    src = tmp_path / "points.csv"
    src.write_text("id,lon,lat\n1,{},{}\n".format(*F.IN_G1), encoding="utf-8")
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    assert main(["locate", str(src), "--out", str(tmp_path / "out.csv")]) == 1
    assert "not reachable" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["points.csv"]
