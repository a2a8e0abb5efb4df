"""The residents' forms on the public map in a real Chromium with a phone's screen (375 × 740, touch): 随手拍,
点单 and 微心愿 are each submitted by clicking the map, and followed on their tracking page; the order goes through
派单 and 接单 (by the party member's own account) to a rating given on that page. Bad input is shown under its
field in Chinese; the place search and "我的位置" put the pin too. Screenshots go to test-artifacts/maps/."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings, Settings
from gis.coords import from_wgs84
from scripts.bench.map_city import make_city
from tests.accounts_fixtures import TEST_SECRET, accounts_in, declared_bearer
from tests.browser import chromium, new_context, require_chromium
from tests.live_server import serve_in_thread

pytestmark = pytest.mark.browser

SECRET = TEST_SECRET
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "maps"
PHONE = {"viewport": {"width": 375, "height": 740}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN"}


@pytest.fixture(scope="module")
def city(module_sessionmaker):
    made = make_city(module_sessionmaker, grids=20, buildings_per_grid=6, incidents=40)
    with module_sessionmaker() as s:  # a party member of the grid at the map's centre, who takes orders
        centre = s.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) AS c FROM grids) t"
                                )).one()
        grid = s.scalar(text("SELECT code FROM grids WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
                        {"x": centre[0], "y": centre[1]})
        person = s.scalar(text("INSERT INTO people (name, public_phone, is_party_member, source) VALUES "
                               "('党员许明', '0935-8123456', true, 'synthetic') RETURNING id"))
        s.execute(text("INSERT INTO staff_assignments (person_id, role, grid_code) VALUES (:p, 'party_member', :g)"),
                  {"p": person, "g": grid})
        s.commit()
    return {"made": made, "party_member": person, "grid": grid, "centre": centre}


@pytest.fixture(scope="module")
def server(module_db, module_sessionmaker, city):
    require_chromium()
    mp = pytest.MonkeyPatch()
    mp.setenv("GRIDMAP_MAP_BASEMAP", "none")
    app = create_app(Settings(api=ApiSettings(environment="test", secret_key=SECRET, public_rate_per_min=0),
                              db=module_db))
    with accounts_in(module_sessionmaker), serve_in_thread(app) as base:
        yield base
    mp.undo()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


class Phone:
    """A phone-sized page that records console errors and requests leaving the server."""

    def __init__(self, browser, base: str, **extra) -> None:
        self.base = base
        self.context = new_context(browser, **PHONE, **extra)
        self.errors: list[str] = []
        self.external: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route) -> None:
        if route.request.url.startswith(self.base + "/"):
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def open_map(self) -> None:
        self.page.goto(self.base + "/maps/public")
        self.page.wait_for_function("() => window.gridmap && gridmap.isIdle()", timeout=20_000)
        self.page.locator(".gm-open-forms").click()
        assert self.page.locator(".gm-sheet").is_visible()

    def tab(self, label: str):
        self.page.locator(".gm-tabs button", has_text=label).click()
        return self.page.locator(".gm-form:visible")

    def click_map(self, dx: int = 0, dy: int = 0) -> None:
        """Choose the place by a click on the map (the sheet folds away while choosing)."""
        self.page.locator("[data-act=pick]").click()
        box = self.page.locator(".leaflet-container").bounding_box()
        self.page.mouse.click(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 3 + dy)
        self.page.wait_for_function("() => gridmap.residentPlace !== undefined && !gridmap.picking")
        assert "地图点选" in self.page.locator(".gm-place-now").inner_text()

    def submit(self, form) -> str:
        form.locator(".gm-submit").click()
        form.locator(".gm-done").wait_for(state="visible", timeout=10_000)
        token = form.locator(".gm-token").inner_text()
        assert len(token) == 10
        return token

    def follow(self, form, token: str) -> None:
        form.locator(".gm-track").click()
        self.page.wait_for_url(f"**/maps/track/{token}")
        self.page.wait_for_selector("#state", timeout=10_000)

    def fits_the_screen(self) -> None:
        assert self.page.evaluate("document.documentElement.scrollWidth") <= 375

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def check_clean(self, *expected: int) -> None:
        """No request left the server, and the console holds no error but the API's answers of the
        ``expected`` statuses (the browser logs those itself)."""
        said = [f"status of {code}" for code in expected]
        errors = [e for e in self.errors if not any(s in e for s in said)]
        assert self.external == [], self.external[:5]
        assert errors == [], errors[:5]
        self.context.close()


def _bearer(*roles, scope="", person_id=None):
    return declared_bearer(None, roles, scope, person_id=person_id)


def test_a_report_by_map_click_with_field_errors_then_followed(browser, server, module_sessionmaker):
    p = Phone(browser, server)
    p.open_map()
    form = p.tab("随手拍")
    form.locator(".gm-submit").click()  # nothing filled in, no place: every problem under its field, in Chinese
    form.locator(".gm-err[data-for=description]").wait_for(state="visible")
    assert form.locator(".gm-err[data-for=description]").inner_text() == "请填写问题描述"
    assert form.locator(".gm-err[data-for=category]").inner_text() == "请选择问题类别"
    assert "请在地图上点选位置" in p.page.locator(".gm-place .gm-err[data-for=place]").inner_text()
    form.locator("[name=photo_url]").fill("javascript:alert(1)")
    form.locator(".gm-submit").click()
    p.page.wait_for_function("() => document.querySelector('.gm-form:not([hidden]) .gm-err[data-for=photo_url]')"
                             ".textContent.includes('格式不对')")
    with module_sessionmaker() as s:
        assert s.scalar(text("SELECT count(*) FROM resident_tracks")) == 0  # nothing stored
    p.shot("resident_report_errors_375")
    p.click_map()
    form.locator("[name=category]").select_option(label="蜘蛛网线")
    form.locator("[name=description]").fill("楼道口蜘蛛网线，很危险")
    form.locator("[name=photo_url]").fill("https://img.example.cn/wires.jpg")
    token = p.submit(form)
    assert p.page.locator(".gm-place .gm-err[data-for=place]").inner_text() == ""
    p.fits_the_screen()
    p.follow(form, token)
    assert p.page.locator("#state").inner_text() == "上报"
    assert "蜘蛛网线" in p.page.locator("#view").inner_text() and p.page.locator("#rate").is_hidden()
    p.fits_the_screen()
    p.shot("resident_report_tracked_375")
    p.check_clean(422)  # the refused submissions


def test_an_order_by_map_click_is_dispatched_accepted_and_rated_on_its_page(browser, server, city):
    p = Phone(browser, server)
    p.open_map()
    form = p.tab("点单")
    p.page.locator(".gm-place-q").fill("1号楼")  # the search puts a pin too …
    p.page.locator(".gm-place-hits li[data-i]").first.click()
    assert "1号楼" in p.page.locator(".gm-place-now").inner_text()
    p.click_map(dx=5, dy=5)  # … but this order is placed by a click on the map
    form.locator("[name=category]").select_option(label="助老服务")
    form.locator("[name=description]").fill("帮老人取药")
    form.locator("[name=phone]").fill("13700001111")
    token = p.submit(form)
    p.follow(form, token)
    assert p.page.locator("#state").inner_text() == "居民点单"
    # 社区派单 → 党员接单 with the party member's own account
    order = requests.get(f"{server}/api/v1/orders", headers=_bearer("dispatcher"), timeout=10).json()["orders"][0]
    order_id = order["id"]
    requests.post(f"{server}/api/v1/orders/{order_id}/dispatch", json={"taker_id": city["party_member"]},
                  headers=_bearer("dispatcher"), timeout=10).raise_for_status()
    p.page.reload()
    p.page.wait_for_selector("#state")
    assert p.page.locator("#state").inner_text() == "社区派单，待党员接单"
    mine = _bearer("party_member", scope=order["grid_code"][:12], person_id=city["party_member"])  # the community
    requests.post(f"{server}/api/v1/orders/{order_id}/accept", headers=mine, timeout=10).raise_for_status()
    requests.post(f"{server}/api/v1/orders/{order_id}/fulfil", headers=mine, timeout=10).raise_for_status()
    p.page.reload()
    p.page.wait_for_selector("#state")
    assert "接单党员：党员许明" in p.page.locator("#view").inner_text()
    assert p.page.locator("#state").inner_text() == "已办结" and p.page.locator("#rate").is_visible()
    p.page.locator("#rate button[type=submit]").click()  # no stars chosen: said under the stars
    assert p.page.locator(".err[data-for=rating]").inner_text() == "请选择满意程度"
    p.page.locator("input[name=rating][value='5']").check()
    p.page.locator("#feedback").fill("党员很耐心")
    p.page.locator("#rate button[type=submit]").click()
    p.page.wait_for_function("() => document.getElementById('state').textContent === '已评价'")
    assert "您的评价：★★★★★" in p.page.locator("#view").inner_text() and p.page.locator("#rate").is_hidden()
    assert "13700001111" not in p.page.content()
    p.fits_the_screen()
    p.shot("resident_order_rated_375")
    p.check_clean()


def test_a_wish_by_map_click_after_my_location(browser, server, city):
    lon, lat = city["centre"]
    p = Phone(browser, server, geolocation={"longitude": lon, "latitude": lat, "accuracy": 20},
              permissions=["geolocation"])
    p.open_map()
    form = p.tab("微心愿")
    p.page.locator("[data-act=locate]").click()  # "我的位置" puts the pin where the phone is …
    p.page.wait_for_function("() => document.querySelector('.gm-place-now').textContent.includes('我的位置')")
    assert p.page.evaluate("gridmap.residentPlace.lon") == pytest.approx(lon)
    p.click_map(dx=-6, dy=4)  # … and a click on the map moves it
    form.locator("[name=title]").fill("想要一副老花镜")
    token = p.submit(form)
    p.follow(form, token)
    assert p.page.locator("#state").inner_text() == "待认领"
    assert "想要一副老花镜" in p.page.locator("#view").inner_text()
    p.fits_the_screen()
    p.shot("resident_wish_tracked_375")
    p.check_clean()


@pytest.fixture
def amap_server(module_db, server, monkeypatch):
    """The same city served on the Amap basemap (its content policy admits Amap's tiles); for one test, since
    map settings are read from the environment per request."""
    monkeypatch.setenv("GRIDMAP_MAP_BASEMAP", "amap")
    app = create_app(Settings(api=ApiSettings(environment="test", secret_key=SECRET, public_rate_per_min=0),
                              db=module_db))
    with serve_in_thread(app) as base:
        yield base


def test_my_location_on_the_amap_basemap_pins_the_shifted_point_and_reports_wgs84(browser, amap_server, city):
    """On the Amap (GCJ-02) basemap the pin and the view go to the phone's position shifted to GCJ-02 (some
    hundreds of metres in China); the report still carries the WGS84 position the phone gave."""
    lon, lat = city["centre"]
    glon, glat = (float(v) for v in from_wgs84(lon, lat, "gcj02"))
    p = Phone(browser, amap_server, geolocation={"longitude": lon, "latitude": lat, "accuracy": 15},
              permissions=["geolocation"])
    p.open_map()
    p.tab("随手拍")
    p.page.locator("[data-act=locate]").click()
    p.page.wait_for_function("() => document.querySelector('.gm-place-now').textContent.includes('我的位置')")
    place = p.page.evaluate("gridmap.residentPlace")
    assert (place["lon"], place["lat"], place["crs"]) == (pytest.approx(lon), pytest.approx(lat), "wgs84")
    assert (place["pinLon"], place["pinLat"]) == (pytest.approx(glon, abs=1e-6), pytest.approx(glat, abs=1e-6))
    shift_m = math.hypot((glon - lon) * 111_320 * math.cos(math.radians(lat)), (glat - lat) * 110_540)
    assert shift_m > 100  # in China the two really differ, so a pin left at WGS84 would be visibly wrong
    centre = p.page.evaluate("(() => { const c = gridmap.map.getCenter(); return [c.lng, c.lat]; })()")
    assert centre == [pytest.approx(glon, abs=1e-5), pytest.approx(glat, abs=1e-5)]
    assert p.external and all("autonavi.com" in url for url in p.external)  # only Amap's tiles, refused offline
    refused = "Failed to load resource: net::ERR_FAILED"  # what the console says of each refused tile
    assert p.errors.count(refused) <= len(p.external)
    p.errors = [e for e in p.errors if e != refused]
    p.external.clear()
    p.check_clean()


def test_an_unknown_code_says_so_on_the_page(browser, server):
    p = Phone(browser, server)
    p.page.goto(server + "/maps/track/ABCDEFGH12")
    p.page.wait_for_selector("#missing")
    assert "没有这个查询码" in p.page.locator("#missing").inner_text()
    p.check_clean(404)
