"""``gridmap network``, ``gridmap circles`` and ``gridmap coverage`` against a module database."""

from __future__ import annotations

import json

import pytest

from layers import models as m
from scripts.cli import main
from tests.layers.network_fixtures import RIVER_TOWN, pt, write_geojson


@pytest.fixture
def env(module_db, module_sessionmaker, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", module_db.sqlalchemy_url.render_as_string(False))
    return module_sessionmaker


def test_network_circles_coverage_cli(env, tmp_path, capsys):
    path = write_geojson(tmp_path / "town.geojson", RIVER_TOWN)
    assert main(["network", "import", str(path), "--name", "town"]) == 0
    assert "5 条路段" in capsys.readouterr().out
    assert main(["network", "list"]) == 0
    assert "town" in capsys.readouterr().out
    with env() as s:
        lon, lat = pt(0, 0)
        s.add(m.Facility(type_code="clinic", name="诊所", geom=f"SRID=4326;POINT({lon} {lat})", source="test"))
        bx = [pt(90, 10), pt(110, 10), pt(110, 30), pt(90, 30), pt(90, 10)]
        ring = ", ".join(f"{x} {y}" for x, y in bx)
        s.add(m.Building(name="b", community_code="620302004002", households=12, residents=30,
                         geom=f"SRID=4326;MULTIPOLYGON((({ring})))", source="test"))
        s.commit()
    assert main(["circles", "compute", "--meters", "300", "600", "--network", "town"]) == 0
    out = capsys.readouterr().out
    assert "重算 (computed) 1" in out
    assert main(["circles", "compute", "--meters", "300", "600", "--network", "town"]) == 0
    assert "未变 (unchanged) 1" in capsys.readouterr().out
    lon, lat = pt(50, 0)
    assert main(["circles", "reach", str(lon), str(lat), "--minutes", "2", "--network", "town", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in res["facilities"]] == ["诊所"]
    assert main(["coverage", "report", "--type", "clinic", "--meters", "300", "--network", "town"]) == 0
    assert "1.0" in capsys.readouterr().out
    assert main(["coverage", "sites", "--type", "clinic", "--meters", "50", "--k", "1", "--network", "town",
                 "--json"]) == 0
    sites = json.loads(capsys.readouterr().out)
    # 10 m off the street, 110 m from the nearest street node: no candidate node within 50 m of it
    assert sites["uncovered_households"] == 12 and sites["sites"] == []
    assert main(["coverage", "uncovered", "--type", "clinic", "--meters", "100", "--network", "town"]) == 0
    assert "1 栋楼、12 户未覆盖" in capsys.readouterr().out  # 100 m along + 20 m to the building
