"""``gridmap civic``: a batch of paper visit forms imported (audited, all or nothing), a district list
published from JSON, suggestions printed — on a copy of the demo."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from scripts.cli import main


@pytest.fixture
def env_db(module_demo_db, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", module_demo_db.sqlalchemy_url.render_as_string(False))
    eng = create_engine(module_demo_db.sqlalchemy_url)
    yield eng
    eng.dispose()


def _count(eng, sql):
    with eng.connect() as conn:
        return conn.scalar(text(sql))


def test_visits_import_is_all_or_nothing_and_audited(env_db, tmp_path, capsys):
    building = _count(env_db, "SELECT min(id) FROM buildings WHERE households > 0")
    good = tmp_path / "visits.csv"
    good.write_text("building_id,household,visited_on,knows,notes\n"
                    f"{building},1-101,2026-01-05,person|affairs,独居\n{building},1-102,2026-01-05,,\n", "utf-8")
    before = _count(env_db, "SELECT count(*) FROM household_visits")
    assert main(["civic", "visits-import", str(good), "--visitor", "网格员丙"]) == 0
    assert _count(env_db, "SELECT count(*) FROM household_visits") == before + 2
    assert _count(env_db, "SELECT count(*) FROM audit_log WHERE subject = '网格员丙' "
                          "AND object_type = 'household_visit'") == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("building_id,household,visited_on,knows,notes\n"
                   f"{building},2-201,2026-01-06,,\n{building},2-202,2026-01-06,gossip,\n", "utf-8")
    assert main(["civic", "visits-import", str(bad), "--visitor", "网格员丙"]) == 2
    assert _count(env_db, "SELECT count(*) FROM household_visits") == before + 2


def test_matters_import_and_suggest(env_db, tmp_path, capsys):
    items = [{"kind": "statutory", "item": "居民会议", "legal_basis": "居委会组织法",
              "incident_categories": ["sanitation"]}]
    path = tmp_path / "list.json"
    path.write_text(json.dumps(items, ensure_ascii=False), "utf-8")
    assert main(["civic", "matters-import", "620321", str(path)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["statutory"] == 1
    assert _count(env_db, "SELECT count(*) FROM matter_items WHERE district_code = '620321'") == 1
    path.write_text(json.dumps([{"kind": "nonsense", "item": "x", "legal_basis": "y"}]), "utf-8")
    assert main(["civic", "matters-import", "620321", str(path)]) == 2
    assert _count(env_db, "SELECT count(*) FROM matter_items WHERE district_code = '620321'") == 1
    assert main(["civic", "suggest", "--days", "90", "--radius", "300", "--min", "2"]) == 0
