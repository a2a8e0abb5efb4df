"""The civic pages in a real headless Chromium (Debian's) on a phone-sized screen, over a copy of the demo:
a resident taps the 议事厅 map, types a topic and submits it; the notice page, the volunteers' page and the
matter list are read as a person would (tabs clicked). Requests leaving 127.0.0.1 are blocked and recorded;
the console must stay free of errors."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers.accounts import create_user
from layers.db import make_engine, make_sessionmaker
from tests.live_server import serve_in_thread
from tests.maps.test_browser import Page, _overlay, browser  # noqa: F401  (the module's browser fixture)

pytestmark = pytest.mark.browser
SECRET = "civic-pages-test-secret-0123456789-abcdef"
PASSWORD = "civic-pages-pass-1"
PHONE = {"viewport": {"width": 375, "height": 740}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def site(module_demo_db):
    mp = pytest.MonkeyPatch()
    mp.setenv("GRIDMAP_MAP_BASEMAP", "none")
    app = create_app(Settings(api=ApiSettings(environment="test", secret_key=SECRET, public_rate_per_min=0),
                              db=module_demo_db))
    eng = make_engine(module_demo_db, pool_size=1, max_overflow=0)
    with eng.connect() as conn:
        notice = conn.scalar(text("SELECT min(id) FROM meeting_items WHERE notice_from IS NOT NULL"))
        hidden = conn.scalar(text("SELECT name FROM registrations WHERE display_name IS NULL ORDER BY id LIMIT 1"))
        # a community with stale buildings and visits this month: its planner's map has both layers
        community = conn.scalar(text(
            "SELECT g.community_code FROM grids g JOIN household_visits v ON v.grid_code = g.code "
            "WHERE g.plan_id = (SELECT id FROM grid_plans WHERE status = 'published') "
            "AND v.visited_on >= date_trunc('month', current_date) GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"))
    eng.dispose()
    with make_sessionmaker(make_engine(module_demo_db, pool_size=1, max_overflow=0))() as s:
        create_user(s, "guihua-civic", PASSWORD, roles=["planner"], scope=community, display_name="规划员")
        s.commit()
    with serve_in_thread(app) as base:
        yield {"base": base, "notice": notice, "hidden": hidden, "db": module_demo_db, "community": community}
    mp.undo()


def _idle(p: Page) -> None:
    p.page.wait_for_function("() => window.civic && civic.isIdle()", timeout=20_000)


def test_a_resident_proposes_a_topic_on_the_map(browser, site):  # noqa: F811
    p = Page(browser, site["base"], **PHONE)
    p.page.goto(site["base"] + "/deliberation")
    _idle(p)
    before = p.page.locator("#topic-list li").count()
    assert before > 0 and p.page.locator("#synthetic-note").is_visible()
    assert p.page.locator(".leaflet-interactive").count() > 0  # topics drawn as circles
    p.page.locator("#title").fill("健身器材损坏，建议更换")
    p.page.locator("button[type=submit]").click()
    assert "地图上点选" in p.page.locator("#propose-msg").inner_text()  # no place yet: refused in the page
    # tap where a demo topic stands (inside a community): the pixel of the first topic on the map
    spot = p.js("(() => { const m = civic.state.map; const ll = civic.state.layer.getLayers()[0].getLatLng();"
                " const pt = m.latLngToContainerPoint(ll); return {x: pt.x + 1, y: pt.y + 1}; })()")
    p.page.locator("#topic-map").click(position=spot, force=True)
    p.page.wait_for_function("() => document.getElementById('place-hint').textContent.startsWith('已选位置')",
                             timeout=5_000)
    p.page.locator("#title").fill("健身器材损坏，建议更换")
    p.page.locator("#proposer_phone").fill("13800009999")
    p.page.locator("button[type=submit]").click()
    p.page.wait_for_function("() => document.getElementById('propose-msg').textContent.length > 0")
    _idle(p)
    msg = p.page.locator("#propose-msg").inner_text()
    assert "已收到议题" in msg and "收集议题" in msg, msg
    assert p.page.locator("#topic-list li").count() == before + 1
    assert "健身器材损坏" in p.page.locator("#topic-list").inner_text()
    assert "13800009999" not in p.page.content()
    width = p.js("document.documentElement.scrollWidth")
    assert width <= 375, f"page wider than the phone: {width}px"
    p.shot("deliberation_phone")
    assert p.external == [] and p.errors == [], (p.external[:3], p.errors[:3])
    p.context.close()


def test_notice_volunteers_and_matters_pages(browser, site):  # noqa: F811
    p = Page(browser, site["base"], **PHONE)
    p.page.goto(f"{site['base']}/deliberation/notices/{site['notice']}")
    assert p.page.locator("h1").inner_text() == "议事决议公示"
    assert p.page.locator("#notice-result").inner_text() == "通过"
    assert "赞成" in p.page.locator("#notice-votes").inner_text()
    p.shot("notice_phone")

    p.page.goto(site["base"] + "/volunteers")
    rows = p.page.locator("#leaderboard tbody tr")
    assert rows.count() > 0
    board = p.page.locator("#leaderboard").inner_text()
    assert site["hidden"] not in board and "（合成）" not in board  # real names never shown
    options = p.page.locator("#community option")
    assert options.count() >= 2
    second = options.nth(1).get_attribute("value")
    p.page.locator("#community").select_option(second)
    p.page.locator(".pick button").click()
    p.page.wait_for_url(f"**community={second}")
    assert p.page.locator("#rewards tbody tr").count() == 5
    assert p.page.locator(".synthetic").is_visible()
    p.shot("volunteers_phone")

    p.page.goto(site["base"] + "/matters")
    assert p.page.locator("#matters tbody tr").count() == 101
    p.page.get_by_role("link", name="协助政府事项（53）").click()
    p.page.wait_for_url("**kind=assist")
    assert p.page.locator("#matters tbody tr").count() == 53
    assert "法律依据" in p.page.locator("#matters thead").inner_text()
    p.shot("matters_phone")
    assert p.external == [] and p.errors == [], (p.external[:3], p.errors[:3])
    p.context.close()


def sign_in(p: Page, username: str, then: str) -> None:
    """The staff sign-in form of /maps/signin, as a person fills it; lands on ``then``."""
    p.page.goto(f"{p.base}/maps/signin?next={then}")
    p.page.fill("#u", username)
    p.page.fill("#p", PASSWORD)
    p.page.click("#f button[type=submit]")
    p.page.wait_for_url(re.compile(rf"^[^?]*{re.escape(then)}$"))  # the page itself, not the form's ?next=


def test_visit_coverage_on_the_planners_grid_map(browser, site):  # noqa: F811
    # anyone may open the grid map, but the visit layers are not theirs to see
    anon = Page(browser, site["base"], viewport={"width": 1200, "height": 800})
    anon.open("/maps/grids")
    names = anon.page.locator(".leaflet-control-layers-overlays").inner_text()
    assert "网格" in names and "入户" not in names and "未走访" not in names
    html = anon.page.content()
    assert "visit_share" not in html and "last_visited" not in html
    anon.context.close()

    p = Page(browser, site["base"], viewport={"width": 1200, "height": 800})
    sign_in(p, "guihua-civic", "/maps/grids")
    p.page.wait_for_function("() => window.gridmap && gridmap.isIdle()", timeout=20_000)
    before = p.paths()
    p.page.locator(".leaflet-control-layers").hover()
    _overlay(p, "入户走访覆盖").check()
    p.idle()
    coloured = p.paths() - before
    assert coloured > 0  # grids with households, coloured by the month's share visited
    fills = set(p.js("[...document.querySelectorAll('path.leaflet-interactive')].map(e => e.getAttribute('fill'))"))
    assert fills & {"#2e7d32", "#f9a825", "#c62828"}
    assert p.js("gridmap.shown('超过90天未走访')") == 0  # off until ticked
    _overlay(p, "超过90天未走访").check()
    p.idle()
    # the stale buildings as points (SVG or, when many, canvas: counted on the map either way)
    p.page.wait_for_function("() => gridmap.shown('超过90天未走访') > 0", timeout=10_000)
    stale = p.js("Object.values(gridmap.specs).find(s => s.style === 'stale_building').data.features"
                 ".map(f => f.properties.grid_code)")
    assert stale and all(code.startswith(site["community"]) for code in stale)  # the planner's own area only
    assert p.js("gridmap.shown('超过90天未走访')") == len(stale)
    visited = p.js("Object.values(gridmap.specs).find(s => s.style === 'visit_share').data.features"
                   ".map(f => f.properties.code)")
    assert visited and all(code.startswith(site["community"]) for code in visited)
    legend = p.page.locator(".gm-legend, .legend").first.inner_text()
    assert "入户" in legend and "未走访" in legend
    p.shot("grids_visits")
    p.check_clean()
