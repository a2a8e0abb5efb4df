"""Issue 5 on a real OpenStreetMap extract (Guixi, Jiangxi): import buildings, facilities and the walking
network from the PBF, then service circles, coverage, uncovered buildings and site suggestions from the CLI and
the API, all stored in PostGIS — with the numbers checked against each other, and a suggested site checked by
building there and measuring again."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings, Settings
from scripts.cli import main
from tests.accounts_fixtures import TEST_SECRET
from tests.accounts_fixtures import token as planner_token

PBF = "osm/guixi_jiangxi_2024.osm.pbf"
FIVE_MIN_M = 5 * 5000 / 60  # 5 minutes at 5 km/h


@pytest.fixture(scope="module")
def guixi(module_db, module_sessionmaker, repo_data):
    mp = pytest.MonkeyPatch()
    mp.setenv("GRIDMAP_DATABASE_URL", module_db.sqlalchemy_url.render_as_string(False))
    pbf = str(repo_data / PBF)
    assert main(["osm", "import", pbf, "--name", "guixi"]) == 0
    assert main(["network", "import", pbf, "--name", "guixi"]) == 0
    yield module_db, module_sessionmaker
    mp.undo()


def _scalar(factory, sql: str, **params):
    with factory() as s:
        return s.scalar(text(sql), params)


def test_circles_from_the_real_network_are_stored(guixi, capsys):
    _, factory = guixi
    capsys.readouterr()
    assert main(["circles", "compute", "--network", "guixi", "--minutes", "5", "10", "15"]) == 0
    out = capsys.readouterr().out
    assert "guixi" in out
    rows = _scalar(factory, "SELECT json_agg(json_build_object('m', minutes, 'method', method, 'net', network, "
                   "'valid', ST_IsValid(geom), 'area', ST_Area(geom::geography))) FROM service_circles")
    assert rows, "no circles stored"
    assert {r["m"] for r in rows} == {5, 10, 15}
    assert all(r["method"] == "network" and r["net"] == "guixi" and r["valid"] for r in rows)
    # each facility's circles nest exactly, as stored (15 ⊇ 10 ⊇ 5 minutes): covered, nothing outside
    nested = _scalar(factory, """
        SELECT json_build_object('pairs', count(*), 'covered', count(*) FILTER (WHERE ST_Covers(b.geom, a.geom)),
                                 'outside_m2', coalesce(max(ST_Area(ST_Difference(a.geom, b.geom)::geography)), 0))
        FROM service_circles a JOIN service_circles b ON b.facility_id = a.facility_id AND b.minutes > a.minutes
        """)
    assert nested["pairs"] >= 20 and nested["covered"] == nested["pairs"] and nested["outside_m2"] == 0, nested
    # a walking circle is smaller than the straight-line disc of the same radius (streets, not crow flight)
    disc = 3.1416 * 1250.0 ** 2
    assert all(r["area"] < disc for r in rows if r["m"] == 15)


def test_coverage_report_uncovered_and_sites_agree(guixi, capsys, tmp_path):
    _, factory = guixi
    capsys.readouterr()
    assert main(["coverage", "report", "--type", "school", "--minutes", "5", "--csv", str(tmp_path / "r.csv")]) == 0
    lines = (tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()
    head = lines[0].split(",")
    row = dict(zip(head, lines[1].split(","), strict=True))
    assert len(lines) == 2 and row["unit_name"] == "未归属社区 (no community)"  # OSM buildings: no community
    total, covered = int(row["households"]), int(row["households_covered"])
    assert total == _scalar(factory, "SELECT sum(households) FROM buildings WHERE source = 'osm'") > 0
    # the stored walking distances are what the report counted
    assert covered == _scalar(factory, "SELECT coalesce(sum(b.households), 0) FROM building_access a JOIN buildings b "
                              "ON b.id = a.building_id WHERE a.type_code = 'school' AND a.distance_m <= :m",
                              m=FIVE_MIN_M)
    # along the streets, except where the building or its nearest school lies off the walking network (over
    # 250 m from any street: 贵溪五中 sits 332 m inside its campus) — then the straight line × 1.3, flagged
    methods = _scalar(factory, """
        SELECT json_object_agg(method, n) FROM (SELECT method, count(*) n FROM building_access
        WHERE type_code = 'school' GROUP BY 1) x""")
    assert methods["network"] > 0 and sum(methods.values()) == 165, methods
    unexplained = _scalar(factory, """
        SELECT count(*) FROM building_access a JOIN buildings b ON b.id = a.building_id
        LEFT JOIN facilities f ON f.id = a.nearest_facility_id
        WHERE a.type_code = 'school' AND a.method = 'euclidean'
          AND NOT (f.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM street_edges e
                   WHERE ST_DWithin(e.geom::geography, f.geom::geography, 250)))
          AND EXISTS (SELECT 1 FROM street_edges e
                      WHERE ST_DWithin(e.geom::geography, ST_PointOnSurface(b.geom)::geography, 250))""")
    assert unexplained == 0

    geo = tmp_path / "uncovered.geojson"
    assert main(["coverage", "uncovered", "--type", "school", "--minutes", "5", "--geojson", str(geo)]) == 0
    fc = json.loads(geo.read_text(encoding="utf-8"))
    assert fc["households"] == total - covered
    assert all(f["properties"]["distance_m"] is None or f["properties"]["distance_m"] > FIVE_MIN_M
               for f in fc["features"])

    capsys.readouterr()
    assert main(["coverage", "sites", "--type", "school", "--minutes", "5", "--k", "3", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["network"] == "guixi" and res["uncovered_households"] == total - covered
    sites = res["sites"]
    assert len(sites) == 3
    gains = [s["households_added"] for s in sites]
    assert gains == sorted(gains, reverse=True) and gains[0] > 0  # greedy: each adds no more than the one before
    assert sites[-1]["cumulative_households"] == sum(gains) <= total - covered
    assert _scalar(factory, "SELECT count(*) FROM site_suggestions WHERE type_code = 'school'") == 3

    # build a school at the first suggestion: coverage rises by exactly what the suggestion promised
    csv = tmp_path / "new_school.csv"
    csv.write_text(f"lon,lat,name,type\n{sites[0]['lon']},{sites[0]['lat']},新建学校（建议 1）,school\n",
                   encoding="utf-8")
    assert main(["facilities", "import", str(csv)]) == 0
    assert main(["coverage", "report", "--type", "school", "--minutes", "5", "--csv", str(tmp_path / "r2.csv")]) == 0
    after = dict(zip(head, (tmp_path / "r2.csv").read_text(encoding="utf-8").splitlines()[1].split(","),
                     strict=True))
    assert int(after["households_covered"]) == covered + gains[0]


def test_seven_ones_audit_says_what_is_missing(guixi, capsys):
    capsys.readouterr()
    assert main(["coverage", "audit"]) == 0
    assert "没有村" in capsys.readouterr().out  # an OSM extract brings no villages: the command says so


def test_the_api_answers_the_same(guixi):
    settings_db, factory = guixi
    settings = Settings(api=ApiSettings(environment="test", secret_key=TEST_SECRET), db=settings_db)
    with TestClient(create_app(settings)) as c:
        token = planner_token(c.app.state.sessionmaker, "规划员丁", {"planner"}, "")
        r = c.get("/api/v1/circles", params={"type": "fitness", "minutes": 10})
        assert r.status_code == 200, r.text
        feats = r.json()["features"]
        assert feats and all(f["properties"]["method"] == "network" for f in feats)

        r = c.get("/api/v1/coverage/report", params={"type": "fitness", "minutes": 10, "network": "guixi"})
        assert r.status_code == 200, r.text
        (row,) = r.json()["rows"]
        want = _scalar(factory, "SELECT coalesce(sum(b.households), 0) FROM building_access a JOIN buildings b "
                       "ON b.id = a.building_id WHERE a.type_code = 'fitness' AND a.distance_m <= :m",
                       m=10 * 5000 / 60)
        assert row["households_covered"] == want and 0 < row["households_share"] < 1

        r = c.get("/api/v1/coverage/uncovered", params={"type": "fitness", "minutes": 10})
        assert r.status_code == 200
        assert r.json()["households"] == row["households"] - row["households_covered"]

        body = {"type": "fitness", "minutes": 10, "k": 2, "network": "guixi"}
        assert c.post("/api/v1/coverage/sites", json=body).status_code == 401  # planners only
        r = c.post("/api/v1/coverage/sites", json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert [s["rank"] for s in r.json()["sites"]] == [1, 2]
        assert _scalar(factory, "SELECT count(*) FROM site_suggestions WHERE type_code = 'fitness'") == 2
