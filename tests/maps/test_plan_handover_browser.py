"""Issue 17's "done when" in headless Chromium on a copy of the Jinchang demo: a planner imports one community's
new plan from the drawing page, previews the impact (nothing outside the scope) and the staff handover (and
changes one target), publishes from the page, and the city keeps every other grid while staff and open
incidents follow; a draft that would remove a grid elsewhere is refused where the planner sees it, and goes
through only with a written reason. The planners' map browses 区 → 街道 → 社区 → 网格."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers import models as m
from layers.db import make_engine, make_sessionmaker
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declare
from tests.browser import ARGS, CHROMIUM, new_context, require_chromium
from tests.live_server import serve_in_thread

SECRET = TEST_SECRET
C = "620302001005"  # 龙广里
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "maps"
READY = "() => window.gridmap && gridmap.ready && window.gridmapEditor"


def _token() -> str:
    return declare("规划员戊", ("planner",), "")


@pytest.fixture(scope="module")
def settings(module_demo_db):
    mp = pytest.MonkeyPatch()
    mp.setenv("GRIDMAP_MAP_BASEMAP", "none")
    yield Settings(api=ApiSettings(environment="test", secret_key=SECRET), db=module_demo_db)
    mp.undo()


@pytest.fixture(scope="module")
def factory(module_demo_db):
    engine = make_engine(module_demo_db, pool_size=2, max_overflow=2)
    factory = make_sessionmaker(engine)
    _token()
    with accounts_in(factory):
        yield factory
    engine.dispose()


@pytest.fixture(scope="module")
def server(settings, factory):
    with serve_in_thread(create_app(settings)) as base:
        yield base


@pytest.fixture
def page(server):
    require_chromium()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    context = new_context(browser, viewport={"width": 1280, "height": 860})
    context.add_cookies([{"name": "gridmap_token", "value": _token(), "url": server, "httpOnly": True,
                          "sameSite": "Strict"}])
    external: list[str] = []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server + "/")
                  else (external.append(route.request.url), route.abort()))
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    yield p, errors
    assert external == [], external[:5]
    context.csp.assert_none()
    context.close()
    browser.close()
    pw.stop()


def _in_force(factory) -> tuple[int, dict[str, bytes]]:
    with factory() as s:
        plan = s.scalar(select(m.GridPlan.id).where(m.GridPlan.status == "published"))
        rows = s.execute(text("SELECT code, ST_AsBinary(geom) FROM grids WHERE plan_id = :p"), {"p": plan}).all()
    return plan, {r[0]: bytes(r[1]) for r in rows}


def _proposal_file(settings, path: Path) -> int:
    """The community's new plan as a GeoJSON file (its grids as the proposal draws them), as a planner keeps it."""
    with TestClient(create_app(settings)) as c:
        proposal = c.post("/api/v1/plans/proposals", json={"community_code": C},
                          headers={"Authorization": f"Bearer {_token()}"}).json()
        features = [{**f, "properties": {k: f["properties"][k] for k in ("name", "kind", "community_code")}}
                    for f in proposal["features"]]
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                        encoding="utf-8")
    return len(features)


def _report_incidents(settings, factory, n: int) -> list[int]:
    with factory() as s:
        points = s.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(b.geom) p, b.id
            FROM buildings b JOIN admin_areas a ON a.code = :c AND ST_Covers(a.geom, ST_PointOnSurface(b.geom))
            WHERE b.households > 0 ORDER BY b.id) q"""), {"c": C}).all()[::15][:n]
    with TestClient(create_app(settings)) as c:
        return [c.post("/api/v1/incidents", json={"category": "环境卫生", "lon": x, "lat": y}).json()["incident"]["id"]
                for x, y in points]


@pytest.mark.browser
def test_import_preview_handover_and_publish_from_the_editor(page, server, settings, factory, tmp_path):
    p, errors = page
    base_id, before = _in_force(factory)
    file = tmp_path / "longguangli.geojson"
    n = _proposal_file(settings, file)
    incidents = _report_incidents(settings, factory, 3)

    # 1. from the plan in force, import the community's file: a scoped draft opens
    p.goto(f"{server}/maps/plans/{base_id}/edit?community={C}")
    p.wait_for_function(READY, timeout=60_000)
    p.locator("#gm-editor-file").set_input_files(str(file))
    with p.expect_navigation(timeout=60_000):
        p.locator("#gm-editor-import").click()
    p.wait_for_function(READY, timeout=60_000)
    plan = p.evaluate("gridmapEditor.plan")
    assert plan["status"] == "draft" and plan["scope"] == [C] and plan["grid_count"] == len(before) - 10 + n
    assert f"范围 {C}" in p.locator("#gm-editor-plan").inner_text()

    # 2. the impact preview: one line on what changes outside the scope, and the handover table
    p.locator("#gm-editor-impact").click()
    p.wait_for_function("() => gridmapEditor.impact !== null && gridmapEditor.busy === 0", timeout=60_000)
    assert p.locator("#gm-editor-outside").inner_text().startswith("范围外：无变化")
    items = p.evaluate("gridmapEditor.impact.handover.items")
    moves = [i for i in items if i["kind"] == "move"]
    assert moves and p.locator("table.gm-handover tbody tr").count() == min(len(items), 200)
    # send one person elsewhere: another of the new grids than the one proposed
    k = items.index(moves[0])
    new_codes = sorted(g["code"] for g in p.evaluate("gridmapEditor.impact.grids.new"))
    other = next(code for code in new_codes if code != moves[0]["to"])
    p.locator(f"table.gm-handover select[data-k='{k}']").select_option(other)
    SHOTS.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(SHOTS / "plan_handover_preview.png"))

    # 3. publish from the page: the result shows where the planner looks, and stays after the page reloads
    p.once("dialog", lambda d: d.accept())
    with p.expect_navigation(timeout=90_000):
        p.locator("#gm-editor-publish").click()
        p.wait_for_function("() => gridmapEditor.published !== null", timeout=90_000)
        assert p.locator("#gm-editor-result").is_visible()
        assert "已发布为第 2 代" in p.locator("#gm-editor-result").inner_text()
    p.wait_for_function(READY, timeout=60_000)
    shown = p.locator("#gm-editor-result").inner_text()
    assert "已发布为第 2 代" in shown and "人员交接" in shown and "未结事件" in shown
    p.screenshot(path=str(SHOTS / "plan_handover_published.png"))

    # the city kept every other grid; staff and open incidents followed
    plan_id, after = _in_force(factory)
    assert plan_id == plan["id"] and len(after) == len(before) - 10 + n
    assert {k: v for k, v in after.items() if not k.startswith(C)} == {
        k: v for k, v in before.items() if not k.startswith(C)}
    with factory() as s:
        moved = s.execute(select(m.StaffAssignment.grid_code, m.StaffAssignment.source).where(
            m.StaffAssignment.person_id == moves[0]["person_id"], m.StaffAssignment.role == moves[0]["role"],
            m.StaffAssignment.valid_to.is_(None))).all()
        assert (other, f"handover:plan {plan_id}") in moved
        rows = s.execute(select(m.Incident.plan_id, m.Incident.grid_code, m.Incident.assignee_id)
                         .where(m.Incident.id.in_(incidents))).all()
    assert all(r.plan_id == plan_id and r.grid_code in after and r.grid_code.startswith(C) for r in rows)
    assert all(r.assignee_id is not None for r in rows)
    assert errors == [], errors[:5]


@pytest.mark.browser
def test_a_refused_publish_is_in_view_and_a_forced_one_keeps_its_reason(page, server, factory):
    p, errors = page
    base_id, before = _in_force(factory)
    with factory() as s:  # a whole copy scoped to one community, with a grid of another street deleted
        from layers import plans

        mine = plans.plan_features(s, base_id, community="620302001004")["features"]
        draft = plans.create_draft_from(s, name="越界草案", scope=["620302001004"], features=mine)
        victim = sorted(c for c in before if c.startswith("620302002"))[0]
        plans.delete_grid(s, draft.id, victim, expected_version=1)
        s.commit()
        draft_id = draft.id
    p.set_viewport_size({"width": 375, "height": 700})  # a phone
    p.goto(f"{server}/maps/plans/{draft_id}/edit")
    p.wait_for_function(READY, timeout=60_000)
    p.once("dialog", lambda d: d.accept())
    p.locator("#gm-editor-publish").click()
    p.wait_for_function("() => gridmapEditor.refused !== null && gridmapEditor.busy === 0", timeout=60_000)
    result = p.locator("#gm-editor-result")
    assert "未发布" in result.inner_text() and "范围外：撤销 1" in result.inner_text()
    box = result.bounding_box()
    assert box and 0 <= box["y"] and box["y"] + min(box["height"], 40) <= 700  # on screen, not scrolled away
    assert p.locator("#gm-editor-force").is_visible()
    p.screenshot(path=str(SHOTS / "plan_publish_refused_phone.png"))
    assert _in_force(factory) == (base_id, before)

    reason = "该网格并入相邻街道，经区民政局批准"
    p.locator("#gm-editor-reason").fill(reason)
    with p.expect_navigation(timeout=90_000):
        p.locator("#gm-editor-force-publish").click()
    p.wait_for_function(READY, timeout=60_000)
    assert reason in p.locator("#gm-editor-result").inner_text()
    with factory() as s:
        assert s.get(m.GridPlan, draft_id).publish_reason == reason
    assert set(_in_force(factory)[1]) == set(before) - {victim}
    assert errors == [], errors[:5]


@pytest.mark.browser
def test_the_planners_map_browses_district_street_community_grid(page, server, factory):
    p, errors = page
    p.goto(f"{server}/maps/grids")
    p.wait_for_function("() => window.gridmapTree && gridmapTree.loaded >= 1 && gridmapTree.busy === 0", timeout=60_000)

    def expand(code: str, loaded: int) -> None:
        p.locator(f"#gm-tree li[data-code='{code}'] > .gm-tree-toggle").click()
        p.wait_for_function(f"() => gridmapTree.loaded >= {loaded} && gridmapTree.busy === 0", timeout=30_000)

    expand("620302000000", 2)
    expand("620302001000", 3)
    expand(C, 4)
    with factory() as s:
        plan = s.scalar(select(m.GridPlan.id).where(m.GridPlan.status == "published"))
        codes = sorted(s.scalars(select(m.Grid.code).where(m.Grid.plan_id == plan, m.Grid.community_code == C)))
    listed = p.locator(f"#gm-tree li[data-code='{C}'] li[data-level='grid']")
    assert sorted(listed.evaluate_all("els => els.map(e => e.dataset.code)")) == codes
    listed.first.locator(".gm-tree-name").click()
    assert p.evaluate("gridmapTree.shown") == codes[0]
    inside = p.evaluate(f"gridmapTree.map.getBounds().contains(L.geoJSON(gridmapTree.features['{codes[0]}'])"
                        ".getBounds().getCenter())")
    assert inside
    assert errors == [], errors[:5]
