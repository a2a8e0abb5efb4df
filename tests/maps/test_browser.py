"""The maps in a real headless Chromium (Debian's), served by uvicorn on 127.0.0.1 over a synthetic city.

Every request that would leave 127.0.0.1 is recorded and blocked; the console must stay free of errors.
Screenshots go to test-artifacts/maps/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings, Settings
from scripts.bench.map_city import make_city
from tests.browser import VIOLATIONS, chromium, new_context, require_chromium
from tests.live_server import serve_in_thread

pytestmark = pytest.mark.browser

SECRET = "browser-test-secret-0123456789-abcdefgh"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "maps"


@pytest.fixture(scope="module")
def city(module_sessionmaker):
    return make_city(module_sessionmaker, grids=60, buildings_per_grid=16, incidents=800)


@pytest.fixture(scope="module")
def server(module_db, city):
    require_chromium()
    mp = pytest.MonkeyPatch()
    mp.setenv("GRIDMAP_MAP_BASEMAP", "none")
    mp.setenv("GRIDMAP_MAP_TILE_THRESHOLD", "900")  # 960 buildings → vector tiles; 800 incidents → embedded
    app = create_app(Settings(api=ApiSettings(environment="test", secret_key=SECRET), db=module_db))
    with serve_in_thread(app) as base:
        yield base
    mp.undo()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


class Page:
    """A page with request interception and console capture."""

    def __init__(self, browser, base: str, **context) -> None:
        self.base = base
        self.context = new_context(browser, **context)
        self.external: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(self.base + "/"):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)
        try:
            self.page.wait_for_function("() => window.gridmap && gridmap.isIdle()", timeout=20_000)
        except Exception as exc:
            raise AssertionError(f"map never became idle; errors: {self.errors[:5]}") from exc

    def idle(self) -> None:
        self.page.wait_for_timeout(150)
        self.page.wait_for_function("() => gridmap.isIdle()", timeout=20_000)

    def js(self, expr: str):
        return self.page.evaluate(expr)

    def paths(self) -> int:
        return self.page.locator("path.leaflet-interactive").count()

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def check_clean(self) -> None:
        assert self.external == [], f"requests left 127.0.0.1: {self.external[:5]}"
        assert self.errors == [], f"console errors: {self.errors[:5]}"
        assert self.js("gridmap.errors") == []
        self.context.csp.assert_none()
        self.context.close()


def _overlay(p: Page, starts: str):
    labels = p.page.locator(".leaflet-control-layers-overlays label")
    for i in range(labels.count()):
        if labels.nth(i).inner_text().strip().startswith(starts):
            return labels.nth(i).locator("input")
    raise AssertionError(f"no overlay {starts}")


TILE_PATHS = ".leaflet-tile-container svg path, .leaflet-tile svg path, svg.leaflet-tile path"
CLUSTERED = "[...document.querySelectorAll('.marker-cluster')].reduce((n, e) => n + parseInt(e.innerText), 0)"


def _markers(p: Page) -> int:
    """Facility markers on screen, those inside clusters counted by the cluster's number, once marker-cluster has
    settled: no cluster animation running (it marks the map pane ``leaflet-cluster-anim``) and the same count in two
    readings 0.2 s apart (fading markers of a previous zoom leave a moment after the animation; a loaded machine
    takes longer than its 0.3 s)."""
    count = f"() => {CLUSTERED} + document.querySelectorAll('.gm-fac').length"
    previous = None
    for _ in range(50):
        p.page.wait_for_function("() => !document.querySelector('.leaflet-cluster-anim')", timeout=10_000)
        current = p.js(count)
        if current == previous:
            return current
        previous = current
        p.page.wait_for_timeout(200)
    raise AssertionError(f"facility markers never settled (last count {previous})")


def _facilities(module_sessionmaker):
    with module_sessionmaker() as s:
        return s.execute(text("SELECT f.type_code, ST_X(f.geom), ST_Y(f.geom), f.name FROM facilities f")).all()


def test_public_map_draws_toggles_and_answers_reach(browser, server, city, module_sessionmaker):
    p = Page(browser, server, viewport={"width": 1280, "height": 800})
    p.open("/maps/public")
    layers = p.js("gridmap.layers")
    assert layers["网格与公示牌 grids"] == city.grids
    assert _markers(p) == city.facilities
    before = p.paths()
    assert before >= city.grids + city.communities
    # layer control: hiding the grids removes exactly their paths; showing one circle layer adds one
    p.page.locator(".leaflet-control-layers").hover()
    _overlay(p, "网格与公示牌").uncheck()
    assert p.paths() == before - city.grids
    _overlay(p, "网格与公示牌").check()
    assert p.paths() == before
    _overlay(p, "卫生服务站/诊所 15分钟圈").check()  # fetched when first switched on
    p.page.wait_for_function("() => gridmap.isSettled()")
    assert p.paths() == before + 1
    p.page.mouse.move(600, 700)
    # a grid's contact board from the popup
    # click an empty spot: the reach answer, checked against the facilities in the database
    size = p.js("[gridmap.map.getSize().x, gridmap.map.getSize().y]")
    x, y = size[0] // 2 + 7, size[1] // 2 + 9
    p.page.mouse.click(x, y)
    p.page.wait_for_function("() => gridmap.lastReach", timeout=10_000)
    p.page.wait_for_selector(".gm-reach", timeout=5000)
    text_shown = p.page.locator(".gm-reach").inner_text()
    assert "从这里步行可达" in text_shown
    p.page.wait_for_selector(".leaflet-popup .gm-board")  # the board of the grid clicked in, fetched on demand
    board = p.page.locator(".leaflet-popup .gm-board").inner_text()
    assert "网格长" in board and "0935-" in board and "13900000000" not in board
    ll = p.js("gridmap.lastReachAt")  # where the click landed (the popup may pan the map afterwards)
    shown = p.js("gridmap.lastReach")
    for band in shown["answers"]:  # what the popup shows is what the API answers for the same place
        api = requests.get(f"{server}/api/v1/circles/reachable", timeout=10,
                           params={"lon": ll[1], "lat": ll[0], "minutes": band["minutes"]}).json()
        assert api == band
        assert f"{band['minutes']:g}分钟（{round(band['budget_m'])}米）{band['count']} 处" in text_shown
    for t in shown["types"]:
        assert f"✓ {t['type_zh']}：{t['name']}" in text_shown
    assert shown["types"], "the click should reach something"
    p.shot("public_reach")
    p.page.keyboard.press("Escape")
    # search by name
    name = _facilities(module_sessionmaker)[0][3]
    p.page.fill(".gm-search input", name[-6:])
    p.page.wait_for_selector(".gm-results li")
    assert name in p.page.locator(".gm-results").inner_text()
    p.check_clean()


def test_public_map_on_a_phone(browser, server, city):
    p = Page(browser, server, viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True,
             device_scale_factor=2)
    p.open("/maps/public")
    box = p.page.locator(".gm-search").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    legend = p.page.locator(".gm-legend").bounding_box()
    assert legend["width"] <= 160 and legend["height"] <= 667 * 0.35
    layers = p.js("gridmap.layers")
    assert sum(v for k, v in layers.items() if "设施" in k or "功能室" in k or "厕所" in k) == city.facilities
    p.page.wait_for_function("() => document.querySelectorAll('.gm-fac, .marker-cluster').length > 0")
    assert _markers(p) >= city.facilities - 2  # a marker right at the edge may fall outside the narrow view
    p.shot("public_mobile")
    p.check_clean()


def test_grid_map_colours_labels_and_building_tiles(browser, server, city):
    p = Page(browser, server, viewport={"width": 1280, "height": 800})
    p.open("/maps/grids")
    assert p.js("gridmap.layers['网格 grids (60)']") == city.grids
    p.page.wait_for_function("() => gridmap.isSettled()")  # the validation problems arrive after the page shows
    shown = p.js("Object.entries(gridmap.layers).filter(([k]) => k.startsWith('校验问题'))[0][1]")
    expected = len(p.context.request.get(p.base + "/maps/grids/problems.json").json()["features"])
    assert shown == expected and expected > 0
    fills = p.js("[...document.querySelectorAll('path.leaflet-interactive')].map(e => e.getAttribute('fill'))")
    assert "#42a5f5" in fills  # 16 buildings × 10–20 households: under 300 → blue
    gaps = p.js("Object.entries(gridmap.layers).filter(([k]) => k.startsWith('人员空缺'))[0][1]")
    assert gaps > 0  # the synthetic city staffs only the board roles: every grid lacks some
    strokes = p.js("[...document.querySelectorAll('path.leaflet-interactive')].map(e => e.getAttribute('stroke'))")
    assert strokes.count("#ff8f00") == gaps  # each gap outlined in orange
    assert "人员空缺网格" in p.page.locator(".gm-legend").inner_text()
    lon, lat = city.bounds[0] + 0.002, city.bounds[1] + 0.002
    p.js(f"gridmap.map.setView([{lat}, {lon}], 14, {{animate: false}})")
    p.idle()
    assert p.page.locator(".gm-label").count() == 0  # codes only from zoom 15
    assert p.page.locator(TILE_PATHS).count() == 0  # nor buildings
    p.js(f"gridmap.map.setView([{lat}, {lon}], 17, {{animate: false}})")
    p.idle()
    tiles = p.js("Object.entries(gridmap.layers).filter(([k]) => k.startsWith('楼栋'))[0][1]")
    assert tiles > 0
    assert p.page.locator(TILE_PATHS).count() > 0
    labels = p.page.locator(".gm-label")
    assert labels.count() > 0 and labels.first.inner_text().startswith("620302")
    p.shot("grids_zoomed")
    p.check_clean()


def test_dispatch_map_needs_sign_in_then_clusters_and_heat(browser, server, city, module_sessionmaker):
    from layers.accounts import create_user

    with module_sessionmaker() as s:
        create_user(s, "disp1", "correct-horse-9", roles=["dispatcher"], scope="")
        s.commit()
    p = Page(browser, server, viewport={"width": 1280, "height": 800})
    p.page.goto(server + "/maps/incidents?category=")
    assert "/maps/signin" in p.page.url  # a browser is sent to the sign-in form
    p.page.fill("#u", "disp1")
    p.page.fill("#p", "wrong-password")
    p.page.click("button")
    p.page.wait_for_function("() => document.getElementById('msg').textContent.length > 0")
    p.errors.clear()  # the refused sign-in logs a 401 on purpose
    p.page.fill("#p", "correct-horse-9")
    p.page.click("button")
    p.page.wait_for_url("**/maps/incidents*")
    p.page.wait_for_function("() => window.gridmap && gridmap.isIdle()", timeout=20_000)
    cookies = {c["name"]: c for c in p.context.cookies()}
    assert cookies["gridmap_token"]["httpOnly"] and cookies["gridmap_token"]["sameSite"] == "Strict"
    layer = [v for k, v in p.js("gridmap.layers").items() if k.startswith("事件")]
    assert layer == [city.incidents]
    assert p.page.locator(".marker-cluster").count() > 0
    # after a zoom, marker-cluster fades the previous level's clusters out while the new ones are drawn: wait for
    # the old ones to leave (on a loaded machine this takes longer than the 0.3 s animation)
    p.page.wait_for_function(f"() => {CLUSTERED} <= {city.incidents}", timeout=10_000)
    total = p.js(CLUSTERED)
    singles = p.page.locator("path.leaflet-interactive").count()
    assert total <= city.incidents and total + singles >= city.incidents * 0.5
    p.page.locator(".leaflet-control-layers").hover()
    _overlay(p, "热力图").check()
    assert p.page.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert p.page.locator(".gm-filters select[name=category] option").count() > 2
    # the page's own requests carry the HttpOnly cookie: incident tiles load for it (and not for a stranger)
    status = p.js("fetch('/tiles/incidents/13/6472/3146.mvt', {credentials: 'same-origin'}).then(r => r.status)")
    assert status == 200
    assert p.js("fetch('/tiles/incidents/13/6472/3146.mvt', {credentials: 'omit'}).then(r => r.status)") == 401
    p.errors.clear()  # the refused request above logs a 401 on purpose
    p.shot("incidents")
    p.check_clean()


def test_coverage_map_sites_and_uncovered(browser, server, city):
    p = Page(browser, server, viewport={"width": 1280, "height": 800})
    p.open("/maps/coverage?type=bus_stop&sites=3")
    sites = p.page.locator(".gm-site")
    assert 1 <= sites.count() <= 3
    unc = [v for k, v in p.js("gridmap.layers").items() if k.startswith("未覆盖")]
    assert unc and unc[0] > 0
    p.shot("coverage")
    p.check_clean()


def test_exported_page_works_opened_from_disk(browser, module_db, city, tmp_path_factory, monkeypatch):
    # a browser refuses module files from file:// URLs: the export inlines our modules in its import map
    from scripts.cli import main

    folder = tmp_path_factory.mktemp("export")
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", module_db.url)
    assert main(["map", "export", "public", "--out", str(folder / "public.html"), "--basemap", "none"]) == 0
    p = Page(browser, folder.as_uri(), viewport={"width": 1280, "height": 800})
    p.open("/public.html")
    assert p.js("gridmap.layers")["网格与公示牌 grids"] == city.grids
    size = p.js("[gridmap.map.getSize().x, gridmap.map.getSize().y]")
    p.page.mouse.click(size[0] // 2 + 7, size[1] // 2 + 9)
    p.page.wait_for_function("() => gridmap.lastReach", timeout=10_000)  # no server behind it: no walking answer
    assert p.js("gridmap.lastReach.offline") is True
    assert "离线导出的地图不能计算步行可达" in p.page.locator(".gm-reach").inner_text()
    p.check_clean()


PROBE = '探针</script><script>alert(1)</script><img src=x onerror="alert(2)">'
REFLECTED = "/maps/</script><script>alert(document.domain)</script>"  # issue 14's reflected probe


def test_script_in_stored_data_or_in_the_url_does_not_run(browser, server, city, module_sessionmaker):
    """A facility named with a script, shown on the public map (its data is JSON inside the page's inline
    script), and the sign-in page's ``next`` with a script: no dialog opens, the name shows as text, and the
    enforced policy reports nothing (no script without the nonce was even attempted)."""
    with module_sessionmaker() as s:
        fid, old = s.execute(text("SELECT id, name FROM facilities ORDER BY id LIMIT 1")).one()
        s.execute(text("UPDATE facilities SET name = :n WHERE id = :i"), {"n": PROBE, "i": fid})
        s.commit()
    try:
        p = Page(browser, server, viewport={"width": 1280, "height": 800})
        dialogs: list[str] = []
        p.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        p.open("/maps/public")
        assert "content-security-policy-report-only" not in requests.get(f"{server}/maps/public", timeout=30).headers
        p.page.fill(".gm-search input", "探针")
        p.page.wait_for_selector(".gm-results li")
        assert "<script>alert(1)</script>" in p.page.locator(".gm-results").inner_text()  # as text
        p.page.goto(server + "/maps/signin?next=" + requests.utils.quote(REFLECTED, safe=""))
        p.page.wait_for_function("() => document.getElementById('f') !== null")
        p.page.locator("#u").fill("nobody")  # the page's own module still works under the policy
        assert p.page.get_attribute("body", "data-next") == "/maps/incidents"
        p.page.wait_for_timeout(300)
        assert dialogs == []
        p.context.csp.assert_none()
        # the policy is enforced: a script element without the nonce, as injected markup would make, is refused
        p.js("() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
             " document.body.append(s); }")
        for _ in range(50):
            if p.context.csp:
                break
            p.page.wait_for_timeout(100)
        assert p.js("() => window.injected === undefined")
        assert len(p.context.csp) == 1 and p.context.csp[0].startswith("script-src"), p.context.csp
        VIOLATIONS.remove(p.context.csp.pop())  # expected here: not a failure of the page
        p.context.close()
    finally:
        with module_sessionmaker() as s:
            s.execute(text("UPDATE facilities SET name = :n WHERE id = :i"), {"n": old, "i": fid})
            s.commit()
