"""The planners' drawing page on the Jinchang demo: local assets only, planners only, and in headless Chromium a
grid drawn with Leaflet.draw goes to the plan API and the validation result shows; a reshape is saved with its
version, a stale one is refused (409) without changing anything, and a delete restores the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.app import create_app
from api.auth import read_token
from api.settings import ApiSettings, Settings
from layers import models as m
from layers import plan_impact, plans
from layers.db import make_engine, make_sessionmaker
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declare
from tests.browser import ARGS, CHROMIUM, new_context, require_chromium
from tests.live_server import serve_in_thread

SECRET = TEST_SECRET
C = "620302001001"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "maps"


def _token(*roles: str, scope: str = "") -> str:
    return declare("规划员丙" if (roles, scope) == (("planner",), "") else None, roles, scope)


@pytest.fixture(scope="module")
def demo(module_demo_db):
    engine = make_engine(module_demo_db, pool_size=2, max_overflow=2)
    factory = make_sessionmaker(engine)
    with factory() as s:
        draft = plans.create_draft_from(s, name="绘图测试草案")
        s.commit()
        draft_id = draft.id
    with accounts_in(factory):
        yield factory, draft_id
    engine.dispose()


@pytest.fixture(scope="module")
def settings(module_demo_db):
    mp = pytest.MonkeyPatch()
    mp.setenv("GRIDMAP_MAP_BASEMAP", "none")
    yield Settings(api=ApiSettings(environment="test", secret_key=SECRET), db=module_demo_db)
    mp.undo()


@pytest.fixture(scope="module")
def server(settings, demo):
    with serve_in_thread(create_app(settings)) as base:
        yield base


def test_page_is_for_planners_and_links_only_local_assets(settings, demo):
    factory, draft_id = demo
    with TestClient(create_app(settings)) as c:
        url = f"/maps/plans/{draft_id}/edit"
        assert c.get(url).status_code == 401
        assert c.get(url, headers={"Authorization": f"Bearer {_token('dispatcher')}"}).status_code == 403
        # a planner of 永昌县 may not open a 金川区 community
        other = {"Authorization": f"Bearer {_token('planner', scope='620321')}"}
        assert c.get(url, params={"community": C}, headers=other).status_code == 403
        assert c.get(f"{url}/state", params={"community": C}, headers=other).status_code == 403
        c.cookies.set("gridmap_token", _token("planner"))  # the page accepts the sign-in cookie
        r = c.get(url, params={"community": C})
        c.cookies.clear()
        assert r.status_code == 200, r.text
        html = r.text
        srcs = [u for u in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
                if not u.startswith("data:")]  # the empty favicon
        assert "/static/vendor/node_modules/leaflet-draw/dist/leaflet.draw.js" in srcs
        assert "/static/vendor/node_modules/leaflet-draw/dist/leaflet.draw.css" in srcs
        assert all(s.startswith("/static/") for s in srcs), srcs
        assert re.findall(r"https?://", html) == []  # no CDN, no basemap ("none")
        for s in srcs:
            assert c.get(s).status_code == 200, s
        # the sign-in cookie is HttpOnly: the page carries its own short-lived token for the plan API
        assert r.headers["cache-control"] == "no-store"
        page_token = json.loads(re.search(r"const plan_editor_options = (\{.*?\});\n", html).group(1))["token"]
        assert page_token != _token("planner")
        assert read_token(page_token, SECRET).subject == "规划员丙"
        who = c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {page_token}"}).json()
        assert who["username"] == "规划员丙" and who["roles"] == ["planner"]
        admin = c.get(f"/maps/plans/{draft_id}/edit/state", params={"community": C},
                      headers={"Authorization": f"Bearer {_token('admin')}"})
        assert admin.status_code == 200
        state = admin.json()
        with factory() as s:
            n = len(s.scalars(select(m.Grid.code).where(m.Grid.plan_id == draft_id, m.Grid.community_code == C)).all())
        assert len(state["grids"]["features"]) == n and state["plan"]["status"] == "draft"
        assert all(f["properties"]["version"] == 1 for f in state["grids"]["features"])
        assert all(p["community"] == C for p in state["report"]["problems"])
        published = c.get("/maps/plans/1/edit", headers={"Authorization": f"Bearer {_token('admin')}"})
        assert published.status_code == 200 and "只能查看" in published.text and "L.Control.Draw" not in published.text


class Browser:
    """A headless Chromium page on our server; requests leaving it are blocked and recorded."""

    def __init__(self, base: str, token: str) -> None:
        from playwright.sync_api import sync_playwright

        self.base = base
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        self.context = new_context(self.browser, viewport={"width": 1280, "height": 860})
        # as /maps/session sets it: HttpOnly (the page script cannot read it), SameSite=Strict
        self.context.add_cookies([{"name": "gridmap_token", "value": token, "url": base, "httpOnly": True,
                                   "sameSite": "Strict"}])
        self.external: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route) -> None:
        if route.request.url.startswith(self.base + "/"):
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def js(self, expr: str):
        return self.page.evaluate(expr)

    def settled(self, done: int) -> None:
        try:
            self.page.wait_for_function(f"() => gridmapEditor.done >= {done} && gridmapEditor.busy === 0", timeout=60_000)
        except Exception as exc:
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SHOTS / f"plan_editor_stuck_{done}.png"))
            state = self.js("[gridmapEditor.edits, gridmapEditor.done, gridmapEditor.busy, gridmapEditor.log]")
            raise AssertionError(f"edit {done} never settled: {state}; errors {self.errors[:5]}") from exc

    def px(self, lon: float, lat: float) -> tuple[float, float]:
        """Page pixel of a WGS84 point (the basemap is 'none': no shift)."""
        x, y = self.js(f"(() => {{ const p = gridmapEditor.map.latLngToContainerPoint([{lat}, {lon}]);"
                       "const r = gridmapEditor.map.getContainer().getBoundingClientRect();"
                       "return [p.x + r.left, p.y + r.top]; })()")
        return x, y

    def drag(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        mouse = self.page.mouse
        mouse.move(*a)
        mouse.down()
        for k in range(1, 9):
            mouse.move(a[0] + (b[0] - a[0]) * k / 8, a[1] + (b[1] - a[1]) * k / 8)
        mouse.up()

    def close(self) -> None:
        self.context.close()
        self.browser.close()
        self._pw.stop()


def _grid(factory, plan_id: int, code: str):
    with factory() as s:
        g = s.scalar(select(m.Grid).where(m.Grid.plan_id == plan_id, m.Grid.code == code))
        if g is None:
            return None
        from geoalchemy2.shape import to_shape

        return g.version, to_shape(g.geom)


@pytest.mark.browser
def test_draw_reshape_conflict_delete_in_chromium(server, demo):
    require_chromium()
    factory, draft_id = demo
    b = Browser(server, _token("planner"))
    try:
        b.page.goto(f"{server}/maps/plans/{draft_id}/edit?community={C}")
        b.page.wait_for_function("() => window.gridmap && gridmap.ready && window.gridmapEditor", timeout=60_000)
        assert "gridmap_token" not in b.js("document.cookie")  # edits below authenticate with the page's token
        first = b.js("gridmapEditor.report")
        before = len(first["problems"])
        assert int(b.page.locator("#gm-editor-summary").get_attribute("data-problems")) == before
        assert b.page.locator("#gm-editor-problems li").count() == min(before, 50)
        assert b.js("Object.keys(gridmapEditor.byCode).length") > 5

        # 1. draw a rectangle across the middle of the community: it overlaps the grids there
        box = b.js("(() => { const b = gridmapEditor.group.getBounds(); return [b.getWest(), b.getSouth(), "
                   "b.getEast(), b.getNorth()]; })()")
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        w, h = (box[2] - box[0]) / 8, (box[3] - box[1]) / 8
        b.page.locator("a.leaflet-draw-draw-rectangle").click()
        b.drag(b.px(cx - w, cy + h), b.px(cx + w, cy - h))
        b.settled(1)
        status = b.page.locator("#gm-editor-status").inner_text()
        assert "已新增网格" in status, (status, b.errors)
        new_code = re.search(r"已新增网格 (\d{15})", status).group(1)
        assert new_code.startswith(C)
        version, geom = _grid(factory, draft_id, new_code)
        assert version == 1
        drawn = shapely.box(cx - w, cy - h, cx + w, cy + h)
        assert shapely.area(shapely.symmetric_difference(geom, drawn)) / drawn.area < 0.05  # what was drawn
        report = b.js("gridmapEditor.report")
        overlaps = [p for p in report["problems"] if p["kind"] == "overlap" and new_code in p["message"]]
        assert overlaps and len(report["problems"]) > before
        assert b.page.locator("#gm-editor-problems li[data-kind=overlap]").count() >= len(overlaps)
        assert b.page.locator("#gm-editor-summary").inner_text().startswith("校验发现")
        assert report["publishable"] is False
        SHOTS.mkdir(parents=True, exist_ok=True)
        b.page.screenshot(path=str(SHOTS / "plan_editor_drawn.png"))

        # 2. reshape it: drag its north-east corner further out, save → PUT with version 1 → version 2
        b.page.locator("a.leaflet-draw-edit-edit").click()
        ne = b.px(cx + w, cy + h)
        b.drag(ne, (ne[0] + 40, ne[1] - 30))
        b.page.locator(".leaflet-draw-actions a", has_text="Save").first.click()
        b.settled(2)
        status = b.page.locator("#gm-editor-status").inner_text()
        assert f"网格 {new_code} 已保存，版本 2" in status, (status, b.errors)
        version, reshaped = _grid(factory, draft_id, new_code)
        assert version == 2 and reshaped.area > geom.area * 1.05
        assert b.js(f"gridmapEditor.byCode['{new_code}'].feature.properties.version") == 2

        # 3. someone else changes it meanwhile (version 3); the page's next save is refused and changes nothing
        theirs = shapely.MultiPolygon([shapely.box(cx - w, cy - h, cx + w / 2, cy + h / 2)])
        with factory() as s:
            plans.replace_grid(s, draft_id, new_code, {"type": "Feature", "geometry": theirs.__geo_interface__,
                                                       "properties": {}}, expected_version=2)
            s.commit()
        b.page.locator("a.leaflet-draw-edit-edit").click()
        sw = b.px(cx - w, cy - h)
        b.drag(sw, (sw[0] - 30, sw[1] + 30))
        b.page.locator(".leaflet-draw-actions a", has_text="Save").first.click()
        b.settled(3)
        status = b.page.locator("#gm-editor-status").inner_text()
        assert "已被他人修改" in status, (status, b.errors)
        version, now = _grid(factory, draft_id, new_code)
        assert version == 3 and shapely.equals_exact(now.normalize(), theirs.normalize(), 1e-9)
        assert b.js(f"gridmapEditor.byCode['{new_code}'].feature.properties.version") == 3  # reloaded

        # 4. delete it with the toolbar: DELETE with version 3; the report is back to the first one
        b.page.locator("a.leaflet-draw-edit-remove").click()
        inside = b.px(cx - w / 2, cy - h / 2)
        b.page.mouse.click(*inside)
        b.page.locator(".leaflet-draw-actions a", has_text="Save").first.click()
        b.settled(4)
        status = b.page.locator("#gm-editor-status").inner_text()
        assert f"已删除网格 {new_code}" in status, (status, b.errors)
        assert _grid(factory, draft_id, new_code) is None
        assert len(b.js("gridmapEditor.report")["problems"]) == before
        # a problem in the list takes the map to it
        li = b.page.locator("#gm-editor-problems li.gm-link").first
        loc = b.js(f"gridmapEditor.report.problems[{li.get_attribute('data-k')}].location")
        li.click()
        centre = b.js("[gridmapEditor.map.getCenter().lng, gridmapEditor.map.getCenter().lat]")
        assert centre == pytest.approx(loc, abs=1e-5) and b.js("gridmapEditor.map.getZoom()") >= 16
        # impact preview against the plan in force, as the API computes it
        b.page.locator("#gm-editor-impact").click()
        b.page.wait_for_function("() => gridmapEditor.impact !== null", timeout=60_000)
        with factory() as s:
            expected = plan_impact.impact(s, draft_id)
        shown = b.js("gridmapEditor.impact")
        assert shown["buildings"]["count"] == expected["buildings"]["count"]
        assert shown["buildings"]["households"] == expected["buildings"]["households"]
        assert f"楼栋 {expected['buildings']['count']} 栋" in b.page.locator("#gm-editor-impact-out").inner_text()

        # publish from the page: the draft becomes generation 2 and the page reloads read-only
        b.page.once("dialog", lambda d: d.accept())
        with b.page.expect_navigation(timeout=60_000):
            b.page.locator("#gm-editor-publish").click()
        b.page.wait_for_function("() => window.gridmap && gridmap.ready && window.gridmapEditor", timeout=60_000)
        with factory() as s:
            plan = s.get(m.GridPlan, draft_id)
            assert (plan.status, plan.generation) == ("published", 2)
            assert s.get(m.GridPlan, 1).status == "retired"
        assert "只能查看" in b.page.locator("#gm-editor-status").inner_text()
        assert b.page.locator("#gm-editor-publish").count() == 0 and b.page.locator(".leaflet-draw").count() == 0
        assert b.external == [], b.external[:5]
        # the only console error is Chromium's note of the refused (409) request
        assert [e for e in b.errors if "409" not in e] == [], b.errors[:5]
    finally:
        b.close()


def test_amap_basemap_shifts_the_editable_grids_and_edits_declare_gcj02():
    import numpy as np

    from gis.coords import wgs84_to_gcj02
    from maps.common import MapContext, render
    from maps.plan_editor import EditorData, plan_editor
    from maps.settings import MapSettings

    ring = [[102.15, 38.52], [102.16, 38.52], [102.16, 38.53], [102.15, 38.53], [102.15, 38.52]]
    grid = {"type": "Feature", "id": f"{C}001", "geometry": {"type": "MultiPolygon", "coordinates": [[ring]]},
            "properties": {"code": f"{C}001", "name": "一", "kind": "comprehensive", "households": 420, "version": 3,
                           "source": "synthetic"}}
    report = {"ok": True, "publishable": True, "counts": {"overlap": 0}, "problems": [],
              "geojson": {"type": "FeatureCollection", "features": []}}
    plan = {"id": 9, "name": "草案", "status": "draft", "status_zh": "草案", "grid_count": 1}
    data = EditorData(plan=plan, grids={"type": "FeatureCollection", "features": [grid]}, report=report,
                      buildings=None, building_count=0, api_url="/api/v1/plans/9", state_url="/maps/plans/9/edit/state")
    html = render(plan_editor(data, MapContext(settings=MapSettings(basemap="amap"), tile_base=None)))
    cfg = json.loads(re.search(r"const plan_editor_options = (\{.*?\});\n", html).group(1))
    assert cfg["crs"] == "gcj02" and cfg["editable"] is True
    shown = cfg["initial"]["grids"]["features"][0]
    x, y = wgs84_to_gcj02(np.array([102.15]), np.array([38.52]))
    assert shown["geometry"]["coordinates"][0][0][0] == pytest.approx([float(x[0]), float(y[0])], abs=1e-9)
    assert abs(shown["geometry"]["coordinates"][0][0][0][0] - 102.15) > 1e-3  # really moved
    assert shown["properties"]["version"] == 3 and "source" not in shown["properties"]


@pytest.mark.browser
def test_done_when_in_the_browser_propose_check_fix_preview_publish(server, demo):
    """Issue 4's "done when" on the map alone: from the plan in force, propose grids for a community (a new
    draft), see the validation, break and fix a grid, preview the impact and publish."""
    factory, _ = demo
    c2 = "620302002001"
    with factory() as s:
        current = s.scalar(select(m.GridPlan).where(m.GridPlan.status == "published"))
        current_id, generation = current.id, current.generation
    b = Browser(server, _token("planner"))
    try:
        b.page.goto(f"{server}/maps/plans/{current_id}/edit?community={c2}")
        b.page.wait_for_function("() => window.gridmap && gridmap.ready && window.gridmapEditor", timeout=60_000)
        assert "只能查看" in b.page.locator("#gm-editor-status").inner_text()
        with b.page.expect_navigation(timeout=60_000):
            b.page.locator("#gm-editor-propose").click()
        b.page.wait_for_function("() => window.gridmap && gridmap.ready && window.gridmapEditor", timeout=60_000)
        plan = b.js("gridmapEditor.plan")
        assert plan["status"] == "draft" and plan["id"] != current_id
        with factory() as s:
            codes = s.scalars(select(m.Grid.code).where(m.Grid.plan_id == plan["id"], m.Grid.community_code == c2)).all()
            props = s.scalars(select(m.Grid.source).where(m.Grid.plan_id == plan["id"], m.Grid.community_code == c2))
            assert {p.split(":")[0] for p in props} == {"proposal"}
        assert sorted(b.js("Object.keys(gridmapEditor.byCode)")) == sorted(codes)
        clean = ("overlap", "gap", "building_cut", "outside_community", "invalid_geometry")
        assert not [p for p in b.js("gridmapEditor.report.problems") if p["kind"] in clean]

        # break a grid on the map (drag a corner deep into its neighbour), then fix it (drag it back)
        code = sorted(codes)[-1]  # drawn last: its vertex handles lie on top of its neighbours' shared ones
        b.js(f"gridmapEditor.map.fitBounds(gridmapEditor.byCode['{code}'].getBounds(), "
             "{animate: false, padding: [320, 320]})")  # in the middle, clear of the panels
        ring = b.js(f"gridmapEditor.byCode['{code}'].getLatLngs()[0].map(p => [p.lng, p.lat])")
        centre = b.js(f"(() => {{ const c = gridmapEditor.byCode['{code}'].getBounds().getCenter(); return [c.lng, c.lat]; }})()")
        corner = max(ring, key=lambda v: (v[0] - centre[0]) ** 2 + (v[1] - centre[1]) ** 2)
        start = b.px(*corner)
        far = (start[0] + (start[0] - b.px(*centre)[0]) * 0.4, start[1] + (start[1] - b.px(*centre)[1]) * 0.4)
        b.page.locator("a.leaflet-draw-edit-edit").click()
        b.drag(start, far)
        b.page.locator(".leaflet-draw-actions a", has_text="Save").first.click()
        b.settled(1)
        assert f"网格 {code} 已保存，版本 2" in b.page.locator("#gm-editor-status").inner_text()
        broken = b.js("gridmapEditor.report")
        assert broken["counts"]["overlap"] + broken["counts"]["outside_community"] >= 1
        moved = b.js(f"gridmapEditor.byCode['{code}'].getLatLngs()[0].map(p => [p.lng, p.lat])")
        here = b.px(*min(moved, key=lambda v: (b.px(*v)[0] - far[0]) ** 2 + (b.px(*v)[1] - far[1]) ** 2))
        b.page.locator("a.leaflet-draw-edit-edit").click()
        b.drag(here, start)
        b.page.locator(".leaflet-draw-actions a", has_text="Save").first.click()
        b.settled(2)
        assert f"网格 {code} 已保存，版本 3" in b.page.locator("#gm-editor-status").inner_text()
        fixed = b.js("gridmapEditor.report")
        assert fixed["counts"]["overlap"] == 0 and fixed["publishable"] is True

        b.page.locator("#gm-editor-impact").click()
        b.page.wait_for_function("() => gridmapEditor.impact !== null", timeout=60_000)
        with factory() as s:
            expected = plan_impact.impact(s, plan["id"])
        assert b.js("gridmapEditor.impact.buildings.count") == expected["buildings"]["count"]
        assert {g["code"][:12] for g in expected["grids"]["new"] + expected["grids"]["removed"]} <= {c2}
        marked = b.js("Object.keys(gridmapEditor.parts).filter(c => gridmapEditor.parts[c][0].options.dashArray)")
        assert sorted(marked) == sorted(g["code"] for g in expected["grids"]["new"] + expected["grids"]["changed"]
                                        if g["code"] in codes)

        b.page.once("dialog", lambda d: d.accept())
        with b.page.expect_navigation(timeout=60_000):
            b.page.locator("#gm-editor-publish").click()
        b.page.wait_for_function("() => window.gridmap && gridmap.ready && window.gridmapEditor", timeout=60_000)
        with factory() as s:
            assert s.get(m.GridPlan, plan["id"]).generation == generation + 1
            assert s.get(m.GridPlan, current_id).status == "retired"
        assert [e for e in b.errors if "409" not in e] == [], b.errors[:5]
        assert b.external == []
    finally:
        b.close()


@pytest.mark.browser
def test_a_multi_part_grid_is_edited_part_by_part(server, demo):
    """Leaflet.draw edits polygons: each part of a multi-part grid is its own handle set; a reshaped part is
    sent back with the untouched parts, and deleting one part keeps the others."""
    factory, _ = demo
    with factory() as s:
        draft = plans.create_draft_from(s, name="多块网格草案")
        s.commit()
        draft_id = draft.id
        code = s.scalar(select(m.Grid.code).where(
            m.Grid.plan_id == draft_id, text("ST_NumGeometries(geom) > 1")).order_by(m.Grid.code).limit(1))
    assert code, "the demo has multi-part (village) grids"
    before = _grid(factory, draft_id, code)[1]
    b = Browser(server, _token("planner"))
    try:
        b.page.goto(f"{server}/maps/plans/{draft_id}/edit?community={code[:12]}")
        b.page.wait_for_function("() => window.gridmap && gridmap.ready && window.gridmapEditor", timeout=60_000)
        n = b.js(f"gridmapEditor.parts['{code}'].length")
        assert n == len(before.geoms) > 1
        b.js(f"gridmapEditor.map.fitBounds(gridmapEditor.parts['{code}'][0].getBounds(), "
             "{animate: false, padding: [320, 320]})")
        first = b.js(f"(() => {{ const p = gridmapEditor.parts['{code}'][0].getLatLngs()[0][0]; return [p.lng, p.lat]; }})()")
        b.page.locator("a.leaflet-draw-edit-edit").click()
        a = b.px(*first)
        b.drag(a, (a[0] + 25, a[1] + 15))
        b.page.locator(".leaflet-draw-actions a", has_text="Save").first.click()
        b.settled(1)
        assert f"网格 {code} 已保存，版本 2" in b.page.locator("#gm-editor-status").inner_text(), b.errors
        version, after = _grid(factory, draft_id, code)
        assert version == 2 and len(after.geoms) == n
        # the parts not touched are exactly as they were
        untouched = [g for g in after.geoms if any(g.equals_exact(o, 1e-9) for o in before.geoms)]
        assert len(untouched) == n - 1

        # delete the last part only: the grid keeps the others (a PUT, not a DELETE)
        b.js(f"gridmapEditor.map.fitBounds(gridmapEditor.parts['{code}'][{n - 1}].getBounds(), "
             "{animate: false, padding: [320, 320]})")
        centre = b.js(f"(() => {{ const c = gridmapEditor.parts['{code}'][{n - 1}].getCenter(); return [c.lng, c.lat]; }})()")
        b.page.locator("a.leaflet-draw-edit-remove").click()
        b.page.mouse.click(*b.px(*centre))
        b.page.locator(".leaflet-draw-actions a", has_text="Save").first.click()
        b.settled(2)
        assert f"网格 {code} 已保存，版本 3" in b.page.locator("#gm-editor-status").inner_text(), b.errors
        version, left = _grid(factory, draft_id, code)
        assert version == 3 and len(left.geoms) == n - 1
        assert [e for e in b.errors if "409" not in e] == [], b.errors[:5]
    finally:
        b.close()
