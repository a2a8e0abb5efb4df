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


def _report_incidents(db, community: str, n: int) -> list[int]:
    """Open incidents in a community's buildings, reported through the API."""
    from fastapi.testclient import TestClient
    from sqlalchemy import text as sql

    from api.app import create_app
    from api.settings import ApiSettings, Settings
    from layers.db import make_engine

    engine = make_engine(db, pool_size=1, max_overflow=0)
    with engine.connect() as conn:
        points = conn.execute(sql("""
            SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(b.geom) p, b.id FROM buildings b
            JOIN admin_areas a ON a.code = :c AND ST_Covers(a.geom, ST_PointOnSurface(b.geom))
            WHERE b.households > 0 ORDER BY b.id) q"""), {"c": community}).all()[::25][:n]
    engine.dispose()
    with TestClient(create_app(Settings(api=ApiSettings(environment="test"), db=db))) as c:
        return [c.post("/api/v1/incidents", json={"category": "环境卫生", "lon": x, "lat": y}).json()["incident"]["id"]
                for x, y in points]


def test_scoped_import_publish_then_reassign_from_the_cli(env, tmp_path, capsys):
    """A file of one community imported (its scope), published without re-dispatch; ``gridmap reassign`` then
    moves the open incidents (it crashed on NaN before, and its dry run printed ``- → nan``)."""
    community = "620302001002"
    incidents = _report_incidents(env, community, 4)
    out = tmp_path / "longquanli.geojson"
    assert main(["plan", "propose", "--community", community, "--out", str(out)]) == 0
    assert main(["plan", "list"]) == 0
    before = int(re.search(r"^\s+\d+\s+现行\s+第\d+代\s+(\d+) 格", capsys.readouterr().out, re.M).group(1))
    assert main(["plan", "import", str(out), "--name", "龙泉里"]) == 0
    text = capsys.readouterr().out
    assert f"范围 {community}" in text
    draft = int(re.search(r"已导入草案 (\d+)", text).group(1))
    assert main(["plan", "impact", str(draft)]) == 0
    assert "范围外：无变化" in capsys.readouterr().out
    assert main(["plan", "publish", str(draft), "--no-redispatch"]) == 0
    text = capsys.readouterr().out
    assert "试运行" in text and "人员交接" in text
    n = len(json.loads(out.read_text(encoding="utf-8"))["features"])
    assert main(["plan", "list"]) == 0
    assert re.search(rf"^\s+{draft}\s+现行\s+第\d+代\s+{before - 11 + n} 格", capsys.readouterr().out, re.M)

    assert main(["reassign", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "nan" not in dry.lower() and re.search(rf"{community}\d{{3}}\s+{community}\d{{3}}", dry), dry
    assert main(["reassign"]) == 0
    done = capsys.readouterr().out
    moved = int(re.search(r"改变网格 (\d+)", done).group(1))
    assert moved >= len(incidents), done
    assert main(["plan", "reassign", str(draft), "--dry-run"]) == 0
    assert "改变网格 0" in capsys.readouterr().out
