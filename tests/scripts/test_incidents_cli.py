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
    out = capsys.readouterr().out
    assert "grid → community" in out and "接收人 孙值班" in out  # a named receiver, not null
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


def test_report_gives_the_answer_of_the_api(env, capsys):
    """The API computes, before the CLI stores anything, what reporting this point would answer (its dry run);
    the CLI's answer is the same; and the API replays the CLI's stored answer for the same Idempotency-Key."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import ApiSettings, Settings

    settings = Settings(api=ApiSettings(environment="test", secret_key=IF.SECRET, public_rate_per_min=0),
                        db=env["settings"])
    body = {"category": "法律咨询", "lon": F.IN_G2[0] - 0.002, "lat": F.IN_G2[1], "description": "租房合同"}
    with TestClient(create_app(settings)) as c:
        preview = c.post("/api/v1/incidents/preview", json=body, headers=IF.auth("dispatcher")).json()
        assert main(["incidents", "report", "--lon", str(body["lon"]), "--lat", str(body["lat"]), "--category",
                     body["category"], "--description", body["description"], "--key", "call-0815", "--json"]) == 0
        cli = json.loads(capsys.readouterr().out)
        for k in ("input", "point", "grid", "community", "street_responsibility", "responsible", "plan", "assignment"):
            assert cli[k] == preview[k], k
        assert cli["incident"]["dispatch"] == preview["incident"]["dispatch"]
        assert cli["incident"]["dispatch"]["name"] == "赵法律" and cli["incident"]["state"] == "reported"
        again = c.post("/api/v1/incidents", json=body, headers={"Idempotency-Key": "call-0815"})
        assert again.headers["idempotent-replayed"] == "true" and again.json() == cli
    # GCJ-02 input is converted at the edge, as the API does
    from gis.coords import wgs84_to_gcj02

    glon, glat = (float(v) for v in wgs84_to_gcj02(F.IN_G1[0] - 0.002, F.IN_G1[1]))
    assert main(["incidents", "report", "--lon", str(glon), "--lat", str(glat), "--crs", "gcj02", "--category",
                 "market"]) == 0
    out = capsys.readouterr().out
    assert F.G1 in out and "派给" in out
    assert main(["incidents", "report", "--lon", "38.5", "--lat", "102.18", "--category", "market"]) == 2
    assert "写反" in capsys.readouterr().err


def test_report_a_file_row_by_row_and_again_without_doubles(env, tmp_path, capsys):
    from sqlalchemy import func, select

    path = tmp_path / "calls.csv"
    path.write_text("lon,lat,category,channel,description\n"
                    f"{F.IN_G1[0]},{F.IN_G1[1] + 0.002},sanitation,phone,楼下垃圾\n"
                    f"{F.IN_G2[0]},{F.IN_G2[1] - 0.001},火星事件,phone,未知类别\n"
                    f"{F.IN_G2[0] + 0.002},{F.IN_G2[1]},health,12345热线,\n", encoding="utf-8")
    out = tmp_path / "answers.jsonl"

    def n() -> int:
        with env["factory"]() as s:
            return s.scalar(select(func.count()).select_from(m.Incident))

    before = n()
    assert main(["incidents", "report", "--file", str(path), "--out", str(out)]) == 1  # one bad row
    captured = capsys.readouterr()
    assert "已保存 2 件" in captured.out and "第 2 行" in captured.err and "未知的事件类别" in captured.err
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["row"] for x in lines] == [1, 2, 3] and "error" in lines[1]
    assert lines[0]["incident"]["dispatch"]["name"] == "张网格" and n() == before + 2
    assert main(["incidents", "report", "--file", str(path)]) == 1  # again: nothing stored twice
    assert "已保存 0 件，重试未重复 2 件" in capsys.readouterr().out and n() == before + 2
    with env["factory"]() as s:
        channels = sorted(s.scalars(select(inc.IncidentDetail.channel).where(
            inc.IncidentDetail.incident_id.in_([lines[0]["incident"]["id"], lines[2]["incident"]["id"]]))).all())
    assert channels == ["hotline_12345", "phone"]


def test_queue_receivers_and_escalate_say_why(env, capsys):
    assert main(["incidents", "queue", "--json"]) == 0
    q = json.loads(capsys.readouterr().out)
    assert q["count"] >= 1 and q["items"]
    assert main(["incidents", "queue", "--overdue"]) == 0
    assert "共" in capsys.readouterr().out
    assert main(["incidents", "queue", "--state", "flying"]) == 2
    assert "未知状态" in capsys.readouterr().err
    assert main(["incidents", "receivers"]) == 0
    out = capsys.readouterr().out
    assert "孙值班" in out and "街道综治中心" in out
    assert main(["incidents", "kpis", "--by", "street"]) == 0
    assert "÷ 全部上报" in capsys.readouterr().out


def test_escalate_overdue_says_why_it_did_not(env, capsys):
    """An overdue incident fed back (waiting for the dispatcher's check) stays where it is, and the command says
    why, on the line of that incident."""
    from layers.incident_flow import transition

    now = inc.utcnow()
    with env["factory"]() as s:
        iid = inc.create_incident(s, {"category": "emergency", "lon": F.IN_G1[0] + 0.001, "lat": F.IN_G1[1]},
                                  now=now - dt.timedelta(hours=6))[2]
        for action in ("register", "dispatch", "handle", "feedback"):
            transition(s, iid, action, actor="test", roles={"dispatcher"}, now=now - dt.timedelta(hours=5))
        s.commit()
    assert main(["incidents", "escalate-overdue"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith(f"#{iid} "))
    assert "未上报" in line and "核查" in line, out
    with env["factory"]() as s:
        row = s.get(m.Incident, iid)
        assert (row.state, row.level) == ("feedback", "grid")
