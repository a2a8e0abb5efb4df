"""``gridmap plan list|propose|validate|impact|export|import|publish`` on the Jinchang demo (the module's own
database: publishing here cannot disturb the session's demo)."""

from __future__ import annotations

import json
import re

import pyogrio
import pytest

from scripts.cli import main

C = "620302001001"


@pytest.fixture(scope="module")
def demo_db(module_demo_db):
    return module_demo_db


@pytest.fixture
def env(demo_db, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", demo_db.sqlalchemy_url.render_as_string(False))
    return demo_db


def test_plan_commands_end_to_end(env, tmp_path, capsys):
    assert main(["plan", "list"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"^\s+1\s+现行\s+第1代\s+321 格", listing, re.M), listing

    out = tmp_path / "proposal.geojson"
    assert main(["plan", "propose", "--community", C, "--out", str(out), "--create-draft"]) == 0
    text = capsys.readouterr().out
    proposal = json.loads(out.read_text(encoding="utf-8"))
    n = len(proposal["features"])
    assert f"社区 {C}：{proposal['metrics']['total_households']} 户 → {n} 个网格" in text
    draft = int(re.search(r"已保存为草案 (\d+)", text).group(1))

    # validation: exit 0 (only warnings), the JSON lists this community's proposed grids as clean geometry
    assert main(["plan", "validate", str(draft), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["publishable"] is True and report["grid_count"] == 321 - 13 + n
    assert not [p for p in report["problems"] if p["community"] == C
                and p["kind"] in ("overlap", "gap", "building_cut", "outside_community")]

    assert main(["plan", "impact", str(draft), "--json"]) == 0
    impact = json.loads(capsys.readouterr().out)
    assert impact["base_plan_id"] == 1 and impact["buildings"]["count"] > 0
    assert all(g["code"].startswith(C) for g in impact["grids"]["new"] + impact["grids"]["removed"])

    gpkg = tmp_path / "draft.gpkg"
    assert main(["plan", "export", str(draft), "--out", str(gpkg)]) == 0
    capsys.readouterr()
    frame = pyogrio.read_dataframe(gpkg, layer="grids")
    assert len(frame) == report["grid_count"] and frame["code"].str.len().eq(15).all()
    assert main(["plan", "import", str(gpkg), "--name", "再导入"]) == 0
    assert f"{len(frame)} 个网格" in capsys.readouterr().out

    assert main(["plan", "publish", str(draft), "--effective-from", "2026-12-01"]) == 0
    assert "已发布为第 2 代，2026-12-01 起生效" in capsys.readouterr().out
    assert main(["plan", "list"]) == 0
    listing = capsys.readouterr().out
    assert re.search(rf"^\s+{draft}\s+现行\s+第2代", listing, re.M) and re.search(r"^\s+1\s+已废止", listing, re.M), \
        listing
