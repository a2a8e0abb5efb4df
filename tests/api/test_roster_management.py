"""Managing the roster (issue 17): add, move and end assignments through the API and the CLI, import a 社区's
roster from CSV or XLSX (every problem of a file in one report, nothing written if any row is refused), market
grids and their two extra roles, and the contact boards with 楼栋长 and 楼口长 — on the hand-made community of
``tests/layers/people_fixtures.py`` in the module's own database."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers import models as m
from layers import roster
from scripts.cli import main
from tests.accounts_fixtures import TEST_SECRET, bearer
from tests.layers import people_fixtures as fx

TODAY = dt.date.today()


@pytest.fixture(scope="module")
def world(module_db, module_sessionmaker):
    with module_sessionmaker() as s:
        built = fx.build(s)
    settings = Settings(api=ApiSettings(environment="test", secret_key=TEST_SECRET), db=module_db)
    with TestClient(create_app(settings)) as client:
        _ACCOUNTS.append(module_sessionmaker)
        yield client, module_sessionmaker, built
        _ACCOUNTS.clear()


_ACCOUNTS: list = []  # the module's session factory, where the test accounts are made


def _h(role: str = "planner", scope: str = "") -> dict:
    return bearer(_ACCOUNTS[0], None, {role}, scope)


def _counts(factory) -> tuple[int, int]:
    with factory() as s:
        return (s.scalar(select(func.count()).select_from(m.Person)),
                s.scalar(select(func.count()).select_from(m.StaffAssignment)))


def _vacancies(factory, unit: str) -> set[tuple]:
    with factory() as s:
        table = roster.roster_audit(s, unit=unit)
    return {(r.grid_code, r.role) for r in table.itertuples()}


def test_add_move_and_end_assignments(world):
    c, factory, built = world
    assert (fx.G2, "health_worker") in _vacancies(factory, fx.G2)
    body = {"name": "周健康", "phone": "139 1234 5678", "public_phone": "0935-8888888", "role": "社区健康员",
            "grid_code": fx.G2}
    r = c.post("/api/v1/roster/assignments", json=body, headers=_h())
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["role"] == "health_worker" and added["public_phone"] == "0935-8888888" and "phone" not in added
    assert (fx.G2, "health_worker") not in _vacancies(factory, fx.G2)

    # a single-holder role already held: 409, naming who holds it
    taken = c.post("/api/v1/roster/assignments", headers=_h(), json={
        "name": "吴新人", "phone": "13900001111", "role": "grid_worker", "grid_code": fx.G2})
    assert taken.status_code == 409 and "赵网格员" in taken.json()["error"]["message"]
    # bad input: every problem of the request at once, nothing stored
    before = _counts(factory)
    bad = c.post("/api/v1/roster/assignments", headers=_h(), json={
        "name": "吴新人", "phone": "12345", "role": "队长", "grid_code": fx.G2})
    assert bad.status_code == 422
    assert {p["column"] for p in bad.json()["error"]["detail"]["problems"]} == {"phone", "role"}
    assert _counts(factory) == before

    # a 楼口长 by building name and stairwell number fills the stairwell vacancy
    b2 = built["buildings"][2]
    r = c.post("/api/v1/roster/assignments", headers=_h(), json={
        "name": "钱楼口", "phone": "13900002222", "role": "楼口长", "building": "测试小区2号楼", "stairwell": 2})
    assert r.status_code == 201, r.text
    assert r.json()["stairwell_id"] == b2["stairwells"][1] and r.json()["grid_code"] == fx.G1
    assert not [v for v in _vacancies(factory, fx.G1) if v[1] == "stairwell_head"]

    # move the health worker to G1 from tomorrow; then end that assignment
    tomorrow = TODAY + dt.timedelta(days=1)
    r = c.post(f"/api/v1/roster/assignments/{added['id']}/move", headers=_h(),
               json={"grid_code": fx.G1, "on": tomorrow.isoformat()})
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["grid_code"] == fx.G1 and moved["valid_from"] == tomorrow.isoformat()
    with factory() as s:
        assert s.get(m.StaffAssignment, added["id"]).valid_to == TODAY
    r = c.post(f"/api/v1/roster/assignments/{moved['id']}/end", headers=_h(), json={"on": "2099-01-01"})
    assert r.status_code == 200 and r.json()["valid_to"] == "2099-01-01"
    assert c.post(f"/api/v1/roster/assignments/{moved['id']}/end", headers=_h(),
                  json={"on": "2000-01-01"}).status_code == 422

    # a 社区 account manages its own area only; others' assignments are not found
    own = _h("grid_staff", scope=fx.G1)
    assert c.post("/api/v1/roster/assignments", json=body | {"phone": "13900003333"}, headers=own).status_code == 403
    assert c.post(f"/api/v1/roster/assignments/{added['id']}/end", headers=own).status_code == 404
    listed = c.get("/api/v1/roster/assignments", headers=own).json()["assignments"]
    assert listed and all((a["grid_code"] or fx.G1).startswith(fx.G1[:12]) for a in listed)
    assert c.get("/api/v1/roster/assignments", params={"unit": fx.G2}, headers=own).status_code == 403
    assert "13900" not in str(listed)  # private phones are never answered
    assert c.post("/api/v1/roster/assignments/999999/end", headers=_h()).status_code == 404


BAD_CSV = """姓名,手机,岗位,网格编码,楼栋,单元
郑一,13811112222,网格长,{g2}
王二,1234,网格员,{g1}
张三,13811113333,网格长,620399001009
李四,13811114444,法律咨询员,{g1}
李四,13811114444,法律咨询员,{g1}
孙五,13811115555,楼栋长,,不存在的楼
周六,13811116666,网格员,{g1}
吴七,13811117777,社区民警,,,
"""


def test_an_import_lists_every_problem_and_writes_nothing(world):
    c, factory, _ = world
    before = _counts(factory)
    body = BAD_CSV.format(g1=fx.G1, g2=fx.G2).encode("utf-8")
    r = c.post("/api/v1/roster/import", files={"file": ("花名册.csv", body, "text/csv")}, headers=_h())
    assert r.status_code == 422, r.text
    problems = r.json()["error"]["detail"]["problems"]
    found = {(p["line"], p["column"]) for p in problems}
    assert found == {(2, "role"),  # G2 already has a 网格长 (王网格长)
                     (3, "phone"), (4, "grid_code"), (6, "name"), (7, "building"),
                     (8, "role"),  # G1 already has a 网格员 (李网格员)
                     (9, "grid_code")}, problems
    assert _counts(factory) == before


def _xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_csv_and_xlsx_rosters_are_imported_all_or_nothing_and_again_idempotently(world):
    c, factory, built = world
    csv_body = (f"姓名,电话,公示电话,岗位,网格编码,楼栋,开始日期\n"
                f"冯监管,0935-6123456,0935-6123456,市场监管员,{fx.G2},,2025/1/1\n"
                f"褚楼长,13822223333,,楼栋长,,测试小区5号楼,\n").encode("gb18030")
    dry = c.post("/api/v1/roster/import", files={"file": ("r.csv", csv_body)}, data={"dry_run": "true"}, headers=_h())
    assert dry.status_code == 200, dry.text
    assert dry.json()["added"] == 2 and dry.json()["dry_run"] is True
    assert [g["role"] for g in dry.json()["market_gaps"]] == ["market_inspector"]  # not yet written
    assert (fx.G2, "market_inspector") in _vacancies(factory, fx.G2)

    r = c.post("/api/v1/roster/import", files={"file": ("r.csv", csv_body)}, headers=_h())
    assert r.status_code == 200, r.text
    assert (r.json()["added"], r.json()["unchanged"], r.json()["market_gaps"]) == (2, 0, [])
    assert not {v for v in _vacancies(factory, fx.G2) if v[1] in ("market_inspector", "building_head")}
    again = c.post("/api/v1/roster/import", files={"file": ("r.csv", csv_body)}, headers=_h()).json()
    assert (again["added"], again["unchanged"]) == (0, 2)

    book = _xlsx([["姓名", "手机", "岗位", "网格编码"], ["卫律师", 13833334444, "法律咨询员", int(fx.G3)]])
    r = c.post("/api/v1/roster/import", files={"file": ("r.xlsx", book)}, headers=_h())
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    broken = _xlsx([["姓名", "岗位"], ["蒋某", "网格员"]])
    r = c.post("/api/v1/roster/import", files={"file": ("r.xlsx", broken)}, headers=_h())
    assert r.status_code == 422 and "phone" in str(r.json()["error"]["detail"]["problems"])
    for name, data in [("r.xlsx", b"not a workbook"), ("r.txt", b"a,b"), ("r.csv", b"\xff\xfe\x00garbage")]:
        assert c.post("/api/v1/roster/import", files={"file": (name, data)}, headers=_h()).status_code == 422
    # a 社区 account cannot import into another community
    other = _h("grid_staff", scope="620399001002")
    r = c.post("/api/v1/roster/import", files={"file": ("r.csv", csv_body)}, headers=other)
    assert r.status_code == 422 and "辖区" in str(r.json()["error"]["detail"])


def test_a_markets_own_grid_needs_its_two_market_roles(world):
    _, factory, _ = world
    with factory() as s:
        plan = s.scalar(select(m.GridPlan.id).where(m.GridPlan.status == "published"))
        s.execute(text("INSERT INTO grids (plan_id, code, name, kind, exclusive_type, community_code, "
                       "community_edition, geom, households, residents, version, source, properties) VALUES "
                       "(:p, :c, '测试农贸市场专属网格', 'exclusive', 'market', :cc, 2023, :g, 0, 0, 1, 'test', '{}')"),
                  {"p": plan, "c": fx.COMMUNITY + "004", "cc": fx.COMMUNITY,
                   "g": fx.box(102.3050, 38.6005, 102.3058, 38.6012)})
        s.commit()
    found = _vacancies(factory, fx.COMMUNITY + "004")
    assert found == {(fx.COMMUNITY + "004", r) for r in
                     ("grid_head", "grid_worker", "urban_inspector", "market_inspector")}


def test_boards_show_building_and_stairwell_heads(world):
    c, _, built = world
    b2 = built["buildings"][2]
    board = c.get(f"/api/v1/buildings/{b2['id']}/board", params={"stairwell": 1}).json()
    (building,) = board["buildings"]
    assert building["name"] == "测试小区2号楼" and board["grid"]["code"] == fx.G1
    assert building["building_heads"] == [{"name": "李网格员", "public_phone": "0935-2222222"}]
    assert building["stairwells"] == [{"number": 1, "stairwell_heads": [
        {"name": "赵网格员", "public_phone": "0935-3333333"}]}]
    html = c.get(f"/api/v1/buildings/{b2['id']}/board.html", params={"stairwell": 1}).text
    assert "楼口长" in html and "赵网格员" in html and "13900" not in html
    grid_board = c.get(f"/api/v1/grids/{fx.G1}/board").json()
    assert {b["name"] for b in grid_board["buildings"]} == {"测试小区1号楼", "测试小区2号楼", "测试小区3号楼"}
    assert "13900" not in str(grid_board)
    assert c.get(f"/api/v1/buildings/{b2['id']}/board", params={"stairwell": 9}).status_code == 404
    assert c.get("/api/v1/buildings/999999/board").status_code == 404


def test_the_cli_adds_ends_and_imports(world, module_db, monkeypatch, tmp_path, capsys):
    _, factory, _ = world
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", module_db.sqlalchemy_url.render_as_string(False))
    assert main(["roster", "assign", "--name", "韩网格", "--phone", "13844445555", "--role", "网格长",
                 "--grid", fx.G3]) == 2  # G3 already has one: refused, saying who
    assert "王网格长" in capsys.readouterr().err
    assert main(["roster", "assign", "--name", "韩党员", "--phone", "13844445555", "--role", "party_member",
                 "--grid", fx.G1]) == 0
    out = capsys.readouterr().out
    assignment = int(out.split("(added):")[1].split()[0])
    assert main(["roster", "end", str(assignment)]) == 0
    with factory() as s:
        assert s.get(m.StaffAssignment, assignment).valid_to == TODAY
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_CSV.format(g1=fx.G1, g2=fx.G2), encoding="utf-8")
    before = _counts(factory)
    assert main(["roster", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "第 3 行 [phone]" in err and "第 9 行 [grid_code]" in err
    assert _counts(factory) == before
