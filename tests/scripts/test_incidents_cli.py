"""``gridmap incidents`` on this module's own database: categories, overdue, escalate-overdue, kpis."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from layers import incidents as inc
from layers import models as m
from scripts.cli import main
from tests import incident_fixtures as IF
from tests import locate_fixtures as F


@pytest.fixture(scope="module")
def env_db(module_db, module_sessionmaker):
    IF.load(module_sessionmaker)
    now = inc.utcnow()
    with module_sessionmaker() as s:
        _, _, late = inc.create_incident(s, {"category": "emergency", "lon": F.IN_G1[0], "lat": F.IN_G1[1]},
                                         now=now - dt.timedelta(hours=5))
        inc.create_incident(s, {"category": "sanitation", "lon": F.IN_G2[0], "lat": F.IN_G2[1]}, now=now)
        s.commit()
    return {"settings": module_db, "late": late, "factory": module_sessionmaker}


@pytest.fixture
def env(env_db, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", env_db["settings"].sqlalchemy_url.render_as_string(False))
    return env_db


def test_categories(env, capsys):
    assert main(["incidents", "categories"]) == 0
    out = capsys.readouterr().out
    assert "dispute" in out and "法律咨询员" in out and out.count("\n") == 16


def test_overdue_escalate_and_kpis(env, capsys):
    assert main(["incidents", "overdue"]) == 0
    out = capsys.readouterr().out
    assert f"#{env['late']}" in out and "共 1 件超期" in out
    assert main(["incidents", "escalate-overdue"]) == 0
    assert "grid → community" in capsys.readouterr().out
    with env["factory"]() as s:
        row = s.get(m.Incident, env["late"])
        assert (row.level, row.state) == ("community", "registered")
    assert main(["incidents", "overdue"]) == 0
    assert "共 0 件超期" in capsys.readouterr().out
    assert main(["incidents", "kpis", "--by", "grid", "--json"]) == 0
    k = json.loads(capsys.readouterr().out)
    assert {r["grid"]: r["total"] for r in k["rows"]} == {F.G1: 1, F.G2: 1}


def test_categories_from_a_data_file(env, tmp_path, monkeypatch, capsys):
    path = tmp_path / "cats.json"
    path.write_text(json.dumps([{"code": "snow", "zh": "积雪", "en": "snow", "role": "grid_worker",
                                 "deadline_h": 6, "sensitive": False}], ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("GRIDMAP_INCIDENT_CATEGORIES", str(path))
    try:
        inc.categories(reload=True)
        assert main(["incidents", "categories"]) == 0
        assert capsys.readouterr().out.startswith("snow")
        with env["factory"]() as s:
            a, _, _ = inc.create_incident(s, {"category": "积雪", "lon": F.IN_G1[0], "lat": F.IN_G1[1]})
            assert a["incident"]["category"] == "snow" and a["incident"]["dispatch"]["name"] == "张网格"
            s.rollback()
    finally:
        monkeypatch.delenv("GRIDMAP_INCIDENT_CATEGORIES")
        inc.categories(reload=True)
