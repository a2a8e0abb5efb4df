"""``gridmap osm import|tags`` and ``gridmap facilities import|types`` against a database of their own."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from gis.osm_tags import markdown_table
from scripts.cli import main


@pytest.fixture
def env(module_db, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", module_db.sqlalchemy_url.render_as_string(False))
    return module_db


def test_osm_import_twice_replaces(env, module_sessionmaker, repo_data, capsys):
    pbf = repo_data / "osm" / "guixi_jiangxi_2024.osm.pbf"
    assert main(["osm", "import", str(pbf), "--name", "guixi"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["buildings"] == 165 and first["facilities"] == 11
    assert main(["osm", "import", str(pbf), "--name", "guixi"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["replaced"] == {"facilities": 11, "buildings": 165}
    with module_sessionmaker() as s:
        assert s.scalar(text("SELECT count(*) FROM buildings WHERE properties->>'dataset' = 'guixi'")) == 165


def test_osm_tags_writes_the_docs_page(tmp_path, capsys):
    out = tmp_path / "osm_tags.md"
    assert main(["osm", "tags", "--write", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == markdown_table()


def test_facilities_import_and_types(env, tmp_path, capsys):
    good = tmp_path / "rooms.csv"
    good.write_text("lon,lat,name,type\n102.19,38.51,民情恳谈室,talk_room\n102.19,38.52,议事厅,council_hall\n",
                    encoding="utf-8")
    assert main(["facilities", "import", str(good)]) == 0
    assert json.loads(capsys.readouterr().out)["imported"] == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("lon,lat,name,type\n38.51,102.19,反了,talk_room\n102.19,38.51,x,nope\n", encoding="utf-8")
    assert main(["facilities", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "第 2 行" in err and "第 3 行" in err and "talk_room" in err
    assert main(["facilities", "types"]) == 0
    lines = capsys.readouterr().out.splitlines()
    talk = next(line for line in lines if line.startswith("talk_room"))
    assert "民情恳谈室" in talk and talk.split()[-1] == "1"
