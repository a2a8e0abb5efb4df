"""The dispatcher's workbench ``/maps/dispatch`` on the hand-made plan of this module's own database: who may open
it, that it loads only local assets and no inline script, and — in Debian's headless Chromium — the loop a
dispatcher and a grid worker drive through it: sign in, take a call by clicking the map, see the grid, the person
and why before saving, dispatch, handle and feed back, verify and close; an escalation reaching a named person;
the overdue filter; the queue updating without a reload; finding the place by name, address, grid or
coordinates in WGS84/GCJ-02/BD-09 and the duplicate warning; postponing to a new deadline and returning; a
phone-sized screen."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from api.app import create_app
from api.auth import read_token
from api.settings import ApiSettings, Settings
from layers import models as m
from layers.accounts import create_user
from tests import incident_fixtures as IF
from tests import locate_fixtures as F
from tests.browser import chromium, new_context, require_chromium
from tests.live_server import serve_in_thread

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "maps"
PASSWORD = "workbench-pass-1"
# true once EXPR holds (checked each animation frame), false after TIMEOUT ms; an error in EXPR counts as not yet
UNTIL = """new Promise(resolve => { const end = performance.now() + TIMEOUT; const tick = () => {
  let ok = false; try { ok = Boolean(EXPR); } catch (e) { ok = false; }
  if (ok) resolve(true); else if (performance.now() > end) resolve(false); else requestAnimationFrame(tick); };
  tick(); })"""
CLINIC = (102.1972, 38.5041)  # in G2
CHINA = "Asia/Shanghai"


@pytest.fixture(scope="module")
def ids(module_sessionmaker):
    out = IF.load(module_sessionmaker)
    with module_sessionmaker() as s:
        create_user(s, "diaodu", PASSWORD, roles=["dispatcher"], scope="", display_name="调度员丁")
        create_user(s, "wangge", PASSWORD, roles=["grid_staff"], scope=F.G1, staff_roles=["grid_worker"],
                    person_id=out["张网格"])
        create_user(s, "guihua", PASSWORD, roles=["planner"], scope="")
        s.add(m.Facility(type_code="village_clinic", name="金水里社区卫生服务站", address="金川区新华路18号",
                         geom=f"SRID=4326;POINT({CLINIC[0]} {CLINIC[1]})", source="test"))
        s.commit()
    return out


@pytest.fixture(scope="module")
def settings(module_db, ids):
    mp = pytest.MonkeyPatch()
    mp.setenv("GRIDMAP_MAP_BASEMAP", "none")
    mp.setenv("GRIDMAP_MAP_DISPATCH_POLL_S", "2")
    yield Settings(api=ApiSettings(environment="test", secret_key=IF.SECRET, public_rate_per_min=0), db=module_db)
    mp.undo()


def test_who_may_open_it_and_what_it_loads(settings):
    with TestClient(create_app(settings)) as c:
        assert c.get("/maps/dispatch").status_code == 401
        away = c.get("/maps/dispatch", headers={"Accept": "text/html"}, follow_redirects=False)
        assert away.status_code == 303 and away.headers["location"] == "/maps/signin?next=/maps/dispatch"
        assert c.get("/maps/dispatch", headers=IF.auth("planner")).status_code == 403
        assert c.get("/maps/dispatch", headers=IF.auth("public")).status_code == 403
        forged = IF.token("dispatcher")[:-3] + "abc"
        assert c.get("/maps/dispatch", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        c.cookies.set("gridmap_token", IF.token("grid_staff", scope=F.G1, sub="网格员张"))
        r = c.get("/maps/dispatch")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        page = r.text
        srcs = [u for u in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page) if not u.startswith("data:")]
        assert srcs and all(u.startswith("/static/") for u in srcs), srcs
        for u in srcs:
            assert c.get(u).status_code == 200, u
        assert re.findall(r"https?://", page) == []  # no CDN, no basemap ("none")
        # scripts: files, an import map, no inline code
        inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page)
        assert [re.sub(r' nonce="[^"]+"', "", a) for a in inline] == [' type="importmap"'], inline
        config = json.loads(html.unescape(re.search(r'data-config="([^"]*)"', page).group(1)))
        who = c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {config['token']}"}).json()
        assert (who["username"], who["scope"], config["canDispatch"], config["canRegister"]) == \
            ("网格员张", F.G1, False, False)
        assert config["bounds"] and {c["code"] for c in config["channels"]} >= {"phone", "hotline_12345", "visit"}
        fresh = c.get("/maps/dispatch/token").json()  # renewed from the cookie
        assert read_token(fresh["access_token"], IF.SECRET).subject == "网格员张"
        c.cookies.clear()
        assert c.get("/maps/dispatch/token").status_code == 401


# ------------------------------------------------------------------------------------------------- browser
class Screen:
    """A headless Chromium page on our server; requests leaving it are blocked and recorded."""

    def __init__(self, browser, base: str, **context) -> None:
        self.base = base
        self.context = new_context(browser, **context)
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

    def wait(self, expr: str, what: str, timeout: int = 30_000) -> None:
        """Until ``expr`` is true, checked at every animation frame. Not ``wait_for_function``: Playwright runs its
        predicate through ``eval`` inside the page, which the page's Content-Security-Policy (no unsafe-eval)
        forbids; this promise is compiled by the DevTools protocol like any ``evaluate``."""
        done, tries = False, 3
        while not done and tries:
            tries -= 1
            try:
                done = self.page.evaluate(UNTIL.replace("TIMEOUT", str(timeout)).replace("EXPR", expr))
                break
            except Exception as exc:  # noqa: BLE001 - a navigation under way: wait for the new page, ask it
                if "context was destroyed" not in str(exc) or not tries:
                    self.errors.append(str(exc))
                    break
                self.page.wait_for_load_state()
        if not done:
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SHOTS / f"dispatch_stuck_{re.sub(r'[^a-z]+', '_', what)}.png"))
            raise AssertionError(f"{what}: never happened ({expr}); errors {self.errors[:5]}")

    def settled(self) -> None:
        self.wait("window.gridmapDispatch && gridmapDispatch.ready && gridmapDispatch.busy() === 0", "settled")

    def sign_in(self, username: str) -> None:
        self.page.goto(f"{self.base}/maps/dispatch")
        self.page.wait_for_url(re.compile(r".*/maps/signin\?next=.*"))
        self.page.fill("#u", username)
        self.page.fill("#p", PASSWORD)
        self.page.click("#f button[type=submit]")
        self.page.wait_for_url(re.compile(r".*/maps/dispatch$"))
        self.settled()

    def click_map(self, lon: float, lat: float) -> None:
        x, y = self.js(f"(() => {{ const m = gridmapDispatch.map; const p = m.latLngToContainerPoint([{lat}, {lon}]);"
                       "const r = m.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; })()")
        self.page.mouse.click(x, y)

    def open_incident(self, iid: int) -> None:
        self.wait(f"document.querySelector('#wb-queue li[data-id=\"{iid}\"]') !== null", f"#{iid} in the queue")
        self.page.click(f"#wb-queue li[data-id='{iid}']")
        self.wait(f"gridmapDispatch.card.state.incident && gridmapDispatch.card.state.incident.id === {iid} && "
                  "gridmapDispatch.busy() === 0", f"card of {iid}")

    def previewed(self, before: int, what: str) -> str:
        """Wait for the preview after ``before`` previews; the text of the preview box."""
        self.wait(f"gridmapDispatch.intake.state.previews > {before} && gridmapDispatch.busy() === 0", what)
        return self.page.inner_text("#wb-preview")

    def search(self, text: str, pick: str) -> str:
        """Search a place by typing, pick the hit containing ``pick``; the preview of that point."""
        self.page.fill("#wb-search", text)
        self.page.press("#wb-search", "Enter")
        self.wait("document.querySelector('#wb-places li') !== null && gridmapDispatch.busy() === 0",
                  f"places for {text}")
        hits = self.page.locator("#wb-places li[data-k]", has_text=pick)
        assert hits.count() >= 1, (text, self.page.inner_text("#wb-places"))
        before = self.js("gridmapDispatch.intake.state.previews")
        hits.first.click()
        return self.previewed(before, f"preview of {pick}")

    def coordinates(self, lon: float, lat: float, crs: str) -> str:
        """Type coordinates in ``crs`` and locate them; the preview."""
        self.page.fill("#wb-coords", f"{lon:.6f}，{lat:.6f}")  # a Chinese comma, as typed on a Chinese keyboard
        self.page.select_option("#wb-crs", crs)
        before = self.js("gridmapDispatch.intake.state.previews")
        self.page.click("#wb-coords-go")
        return self.previewed(before, f"preview of {crs}")

    def act(self, label: str, *, person: str | None = None, note: str | None = None, due: str | None = None) -> str:
        before = self.js("gridmapDispatch.card.state.acted")
        self.page.click(f"#wb-actions button:has-text('{label}')")
        if due:
            self.page.fill("#wb-act-form input[name=due]", due)
        if person:
            value = self.js(f"[...document.querySelectorAll('#wb-act-form select[name=assignee_id] option')]"
                            f".find(o => o.textContent.includes({json.dumps(person)})).value")
            self.page.select_option("#wb-act-form select[name=assignee_id]", value)
        if note:
            self.page.fill("#wb-act-form textarea[name=note]", note)
        self.page.click("#wb-act-form button[type=submit]")
        self.wait(f"gridmapDispatch.card.state.acted > {before} && gridmapDispatch.busy() === 0", f"action {label}")
        return self.page.inner_text("#wb-act-msg")

    def actions(self) -> list[str]:
        return self.js("[...document.querySelectorAll('#wb-actions button')].map(b => b.dataset.act)")

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def server(settings):
    require_chromium()
    with serve_in_thread(create_app(settings)) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _state(factory, iid: int) -> tuple[str, str, int | None]:
    with factory() as s:
        row = s.get(m.Incident, iid)
        return row.state, row.level, row.assignee_id


@pytest.mark.browser
def test_a_call_from_intake_to_closure(server, browser, module_sessionmaker, ids):
    desk = Screen(browser, server, viewport={"width": 1366, "height": 860})
    worker = Screen(browser, server, viewport={"width": 1280, "height": 800})
    try:
        desk.sign_in("diaodu")
        assert "调度员" in desk.page.inner_text("#wb-user")
        # take a call: pick the category and channel, click the map; before saving: grid, person and why
        desk.page.select_option("#wb-intake select[name=category]", "cable_mess")
        desk.page.select_option("#wb-intake select[name=channel]", "hotline_12345")
        desk.page.fill("#wb-intake input[name=reporter_name]", "刘先生")
        desk.page.fill("#wb-intake input[name=reporter_phone]", "13812345678")
        desk.click_map(102.1865, 38.5045)
        desk.wait("gridmapDispatch.intake.state.preview !== null && gridmapDispatch.busy() === 0", "preview")
        assert "金水里一网格" in desk.page.inner_text("#wb-pv-grid")
        assert "张网格" in desk.page.inner_text("#wb-pv-who")
        assert "蜘蛛网线由所在网格的网格员处置" in desk.page.inner_text("#wb-pv-why")
        desk.page.click("#wb-save")
        desk.wait("gridmapDispatch.intake.state.saved.length === 1 && gridmapDispatch.busy() === 0", "saved")
        assert "已立案" in desk.page.inner_text("#wb-intake-msg")
        iid = desk.js("gridmapDispatch.intake.state.saved[0]")
        assert _state(module_sessionmaker, iid)[0] == "registered"
        desk.wait(f"gridmapDispatch.card.state.incident && gridmapDispatch.card.state.incident.id === {iid}",
                  "the new incident's card")
        assert "刘先生" in desk.page.inner_text("#wb-card")  # the caller, for the dispatcher who calls back
        assert desk.actions() == ["dispatch", "return", "escalate"]
        assert "已派遣" in desk.act("派遣", person="张网格")
        assert _state(module_sessionmaker, iid) == ("dispatched", "grid", ids["张网格"])

        # the grid worker handles it and feeds back, in their own browser; they cannot verify or close
        worker.sign_in("wangge")
        worker.open_incident(iid)
        assert worker.actions() == ["handle", "return", "postpone", "escalate"]
        worker.act("处置", note="已联系运营商整理线缆")
        assert worker.actions() == ["feedback", "return", "postpone", "escalate"]
        worker.act("反馈", note="线缆已整理")
        assert worker.actions() == ["return"] and _state(module_sessionmaker, iid)[0] == "feedback"

        # the dispatcher's queue and open card show it without a reload (polled), then verify and close
        desk.wait(f"gridmapDispatch.queue.items().some(x => x.id === {iid} && x.state === 'feedback')",
                  "the queue updated by itself")
        desk.wait("gridmapDispatch.card.state.incident.state === 'feedback' && gridmapDispatch.busy() === 0",
                  "the open card updated by itself")
        assert "由他人更新" in desk.page.inner_text("#wb-act-msg")
        assert desk.js("performance.getEntriesByType('navigation').length") == 1
        assert desk.actions() == ["verify", "return"]
        desk.act("核查")
        desk.act("结案", note="回访满意")
        assert _state(module_sessionmaker, iid)[0] == "closed" and desk.actions() == []
        history = desk.page.inner_text("#wb-events")
        for word in ("上报", "立案", "派遣", "处置", "反馈", "核查", "结案", "wangge", "diaodu", "回访满意"):
            assert word in history, word
        SHOTS.mkdir(parents=True, exist_ok=True)
        desk.page.screenshot(path=str(SHOTS / "dispatch_desk.png"))
        assert desk.external == [] and worker.external == []
        assert desk.errors == [] and worker.errors == [], (desk.errors, worker.errors)
    finally:
        desk.close()
        worker.close()


@pytest.mark.browser
def test_escalation_reaches_a_named_person_and_the_overdue_filter(server, browser, module_sessionmaker, ids):
    from layers.incidents import create_incident

    with module_sessionmaker() as s:
        fresh, _, up = create_incident(s, {"category": "street_order", "lon": 102.1875, "lat": 38.5085})
        olds = [create_incident(s, {"category": c, "lon": lon, "lat": 38.5025})[2]
                for c, lon in (("advertising", 102.1811), ("road_damage", 102.1951))]
        s.execute(m.Incident.__table__.update().where(m.Incident.id.in_(olds)).values(
            created_at=func.now() - dt.timedelta(days=9), due_at=func.now() - dt.timedelta(days=6)))
        s.commit()
    desk = Screen(browser, server, viewport={"width": 1366, "height": 860})
    try:
        desk.sign_in("diaodu")
        desk.open_incident(up)
        desk.act("上报上级", note="网格无法处置")
        assert _state(module_sessionmaker, up)[1:] == ("community", ids["孙值班"])
        card = desk.page.inner_text("#wb-card")
        assert "孙值班" in card and "社区值班" in card
        assert "孙值班" in desk.page.inner_text("#wb-events")
        # the overdue filter shows the overdue ones, and all of them
        desk.page.check("#wb-filters input[name=overdue]")
        desk.wait("gridmapDispatch.queue.state.answer && gridmapDispatch.queue.items().every(x => x.overdue) && "
                  "gridmapDispatch.busy() === 0", "overdue filter")
        shown = desk.js("gridmapDispatch.queue.items().map(x => x.id)")
        with module_sessionmaker() as s:
            want = s.scalars(text("SELECT id FROM incidents i WHERE state <> 'closed' AND due_at < now() AND NOT "
                                  "EXISTS (SELECT FROM incident_details d WHERE d.incident_id = i.id AND "
                                  "d.duplicate_of IS NOT NULL)")).all()  # linked duplicates follow their first
        assert set(olds) <= set(shown) and set(shown) == set(want)
        assert desk.page.locator("#wb-queue li.wb-overdue").count() == len(shown)
        assert "超期" in desk.page.inner_text("#wb-queue")
        assert fresh["incident"]["id"] not in shown
        assert desk.errors == [] and desk.external == []
    finally:
        desk.close()


@pytest.mark.browser
def test_a_phone_sized_screen(server, browser, module_sessionmaker):
    from layers.incidents import create_incident

    with module_sessionmaker() as s:
        create_incident(s, {"category": "other", "lon": 102.1815, "lat": 38.5095})  # one of G1's, open
        s.commit()
    phone = Screen(browser, server, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    try:
        phone.sign_in("wangge")
        assert phone.js("document.body.dataset.view") == "queue"
        assert phone.js("document.scrollingElement.scrollWidth") <= 375
        assert phone.page.locator("#wb-queue li[data-id]").count() >= 1
        phone.page.click(".wb-tabs button[data-show=intake]")
        assert phone.page.is_visible("#wb-intake") and phone.page.is_visible("#wb-map")
        phone.page.click(".wb-tabs button[data-show=kpis]")
        phone.wait("gridmapDispatch.kpis.state.answer !== null", "kpis")
        assert "网格/社区结案率" in phone.page.inner_text("#wb-kpis")
        assert phone.js("document.scrollingElement.scrollWidth") <= 375
        SHOTS.mkdir(parents=True, exist_ok=True)
        phone.page.screenshot(path=str(SHOTS / "dispatch_phone.png"))
        assert phone.errors == [] and phone.external == []
        with module_sessionmaker() as s:  # nothing of another grid reached the grid worker's screen
            mine = set(s.scalars(select(m.Incident.id).where(m.Incident.grid_code == F.G1)).all())
        assert set(phone.js("gridmapDispatch.queue.items().map(x => x.id)")) <= mine
    finally:
        phone.close()


@pytest.mark.browser
def test_find_the_place_by_name_address_grid_or_coordinates_and_see_duplicates(server, browser, module_sessionmaker,
                                                                                ids):
    from gis.coords import from_wgs84
    from layers.incidents import create_incident
    from layers.incidents_models import IncidentDetail

    with module_sessionmaker() as s:  # an open 环境卫生 report; the next call 20 m away is the same problem
        older = create_incident(s, {"category": "sanitation", "lon": 102.1968, "lat": 38.5036})[2]
        s.commit()
    desk = Screen(browser, server, viewport={"width": 1366, "height": 860}, timezone_id=CHINA)
    try:
        desk.sign_in("diaodu")
        desk.page.select_option("#wb-intake select[name=category]", "other")
        # a grid by its name, a POI by its name and by its address
        assert "金水里二网格" in desk.search("金水里二", "金水里二网格")
        assert desk.page.input_value("#wb-intake input[name=address]") == "金水里二网格"
        for text in ("卫生服务站", "新华路18号"):
            shown = desk.search(text, "金水里社区卫生服务站")
            assert "金水里二网格" in shown, shown
            assert desk.js("gridmapDispatch.intake.state.point") == {"lon": CLINIC[0], "lat": CLINIC[1],
                                                                     "crs": "wgs84"}
        desk.page.fill("#wb-search", "火星基地")
        desk.page.press("#wb-search", "Enter")
        desk.wait("document.querySelector('#wb-places').textContent.includes('没有找到')", "nothing found")
        # coordinates: WGS84 as typed; GCJ-02 and BD-09 converted (read as WGS84 they would land elsewhere)
        assert "金水里一网格" in desk.coordinates(102.1885, 38.5025, "wgs84")
        glon, glat = (float(v) for v in from_wgs84(102.1885, 38.5025, "gcj02"))  # read as WGS84: in G2
        assert "金水里一网格" in desk.coordinates(glon, glat, "gcj02")
        pv = desk.js("gridmapDispatch.intake.state.preview")
        assert abs(pv["point"]["lon"] - 102.1885) < 2e-5 and abs(pv["point"]["lat"] - 38.5025) < 2e-5
        assert abs(pv["display_point"]["lon"] - 102.1885) < 2e-5  # the pin is drawn where the place is
        blon, blat = (float(v) for v in from_wgs84(102.1925, 38.5020, "bd09"))  # read as WGS84: community B
        assert "金水里二网格" in desk.coordinates(blon, blat, "bd09")
        desk.page.fill("#wb-coords", "38.5 102.19 7")
        desk.page.click("#wb-coords-go")
        assert "坐标格式" in desk.page.inner_text("#wb-preview")
        assert desk.page.is_disabled("#wb-save")  # nothing to save from a bad entry
        # the same problem 20 m from the open report: shown before saving, and saved as its duplicate
        desk.page.select_option("#wb-intake select[name=category]", "sanitation")
        shown = desk.coordinates(102.1970, 38.5036, "wgs84")
        assert f"#{older}" in desk.page.inner_text("#wb-dups") and "附近同类未结事件" in shown
        assert f"将关联为 #{older} 的重复上报" in shown and "不另派" in desk.page.inner_text("#wb-pv-who")
        desk.page.fill("#wb-intake input[name=reporter_name]", "马女士")
        desk.page.click("#wb-save")
        desk.wait("gridmapDispatch.intake.state.saved.length === 1 && gridmapDispatch.busy() === 0", "saved")
        msg = desk.page.inner_text("#wb-intake-msg")
        assert "已保存" in msg and "已立案" not in msg  # a duplicate follows the first report: no second task
        new = desk.js("gridmapDispatch.intake.state.saved[0]")
        with module_sessionmaker() as s:
            assert s.get(IncidentDetail, new).duplicate_of == older
            assert s.get(IncidentDetail, older).duplicate_of is None
        # the typed GCJ-02 call, saved: the service stores WGS84 and keeps what was typed
        desk.page.click(".wb-tabs button[data-show=intake]")  # saving opened the new incident's card
        desk.page.select_option("#wb-intake select[name=category]", "market")
        desk.coordinates(glon, glat, "gcj02")
        desk.page.click("#wb-save")
        desk.wait("gridmapDispatch.intake.state.saved.length === 2 && gridmapDispatch.busy() === 0", "saved again")
        gcj = desk.js("gridmapDispatch.intake.state.saved[1]")
        with module_sessionmaker() as s:
            row = s.get(m.Incident, gcj)
            assert (row.grid_code, row.original_crs) == (F.G1, "gcj02")
            assert abs(row.original_lon - glon) < 1e-6 and abs(row.original_lat - glat) < 1e-6
        assert desk.errors == [] and desk.external == []
    finally:
        desk.close()


@pytest.mark.browser
def test_postpone_to_a_new_deadline_then_return_and_dispatch_again(server, browser, module_sessionmaker, ids):
    from zoneinfo import ZoneInfo

    from layers.incident_flow import transition
    from layers.incidents import create_incident

    with module_sessionmaker() as s:
        iid = create_incident(s, {"category": "other", "lon": 102.1835, "lat": 38.5075})[2]  # G1: 张网格
        for action in ("register", "dispatch"):
            transition(s, iid, action, actor="diaodu", roles={"dispatcher"})
        s.commit()
        due = s.get(m.Incident, iid).due_at
    china = ZoneInfo(CHINA)
    wanted = (due + dt.timedelta(days=2)).astimezone(china).replace(hour=18, minute=30, second=0, microsecond=0)
    worker = Screen(browser, server, viewport={"width": 1280, "height": 800}, timezone_id=CHINA)
    desk = Screen(browser, server, viewport={"width": 1366, "height": 860}, timezone_id=CHINA)
    try:
        worker.sign_in("wangge")
        worker.open_incident(iid)
        assert worker.actions() == ["handle", "return", "postpone", "escalate"]
        worker.act("延期", due=wanted.strftime("%Y-%m-%dT%H:%M"), note="等待配件，约定周末处理")
        with module_sessionmaker() as s:
            row = s.get(m.Incident, iid)
            assert (row.state, row.due_at) == ("postponed", wanted)  # exactly the deadline typed
        assert wanted.strftime("%m-%d 18:30") in worker.page.inner_text("#wb-card")
        assert "新时限" in worker.page.inner_text("#wb-events")
        assert worker.actions() == ["handle", "escalate"]
        worker.act("处置")
        assert "已回退" in worker.act("回退", note="涉及供暖管线，非网格可处置")
        assert _state(module_sessionmaker, iid)[0] == "returned" and worker.actions() == ["escalate"]

        # the dispatcher finds it returned in the queue (state filter) and gives it to another named person
        desk.sign_in("diaodu")
        desk.page.select_option("#wb-filters select[name=state]", "returned")
        desk.wait("gridmapDispatch.queue.state.answer && gridmapDispatch.busy() === 0 && "
                  "gridmapDispatch.queue.items().length > 0 && "
                  "gridmapDispatch.queue.items().every(x => x.state === 'returned')", "state filter")
        assert iid in desk.js("gridmapDispatch.queue.items().map(x => x.id)")
        desk.open_incident(iid)
        assert "非网格可处置" in desk.page.inner_text("#wb-events")
        assert desk.actions() == ["dispatch", "escalate"]
        assert "已派遣" in desk.act("派遣", person="王格长")
        assert _state(module_sessionmaker, iid) == ("dispatched", "grid", ids["王格长"])
        assert "王格长" in desk.page.inner_text("#wb-card")
        assert "已改派" in desk.act("改派", person="张网格", note="王格长外出，改由张网格处置")  # another named person
        assert _state(module_sessionmaker, iid) == ("dispatched", "grid", ids["张网格"])
        assert "改派" in desk.page.inner_text("#wb-events")
        assert desk.errors == [] and worker.errors == [] and desk.external == [] and worker.external == []
    finally:
        worker.close()
        desk.close()


@pytest.mark.browser
def test_the_manual_queue_comes_first_and_a_dispatcher_assigns_by_hand(server, browser, module_sessionmaker, ids):
    from layers.incident_flow import transition
    from layers.incidents import create_incident
    from layers.incidents_models import IncidentDetail

    def community(iid: int, code: str) -> None:
        with module_sessionmaker() as s:
            s.execute(IncidentDetail.__table__.update().where(IncidentDetail.incident_id == iid)
                      .values(community_code=code))
            s.commit()

    with module_sessionmaker() as s:
        iid = create_incident(s, {"category": "sanitation", "lon": F.IN_COMMUNITY_B[0] + 0.002,
                                  "lat": F.IN_COMMUNITY_B[1]})[2]
        s.commit()
    community(iid, "620321009001")  # for the escalation: an area with no receiver at the next level
    with module_sessionmaker() as s:
        transition(s, iid, "escalate", actor="diaodu", roles={"dispatcher"})
        s.commit()
    community(iid, F.COMMUNITY_B)
    assert _state(module_sessionmaker, iid) == ("registered", "street", None)  # reported at 社区 (no grid)
    desk = Screen(browser, server, viewport={"width": 1366, "height": 860})
    try:
        desk.sign_in("diaodu")
        first = desk.js("gridmapDispatch.queue.items()[0]")
        assert first["manual"] is True and iid in desk.js("gridmapDispatch.queue.items().filter(x => x.manual)"
                                                          ".map(x => x.id)")
        assert "待人工派遣" in desk.page.inner_text("#wb-queue li:first-child")
        assert "待人工派遣" in desk.page.inner_text(f"#wb-queue li[data-id='{iid}']")
        desk.page.check("#wb-filters input[name=manual]")
        desk.wait("gridmapDispatch.queue.state.answer && gridmapDispatch.busy() === 0 && "
                  "gridmapDispatch.queue.items().length > 0 && gridmapDispatch.queue.items().every(x => x.manual)",
                  "manual filter")
        # picked on the map: its dot (red, 待人工派遣) opens the card, and is not taken as a new call's point
        pt = desk.js(f"gridmapDispatch.queue.items().find(x => x.id === {iid}).point")
        desk.js(f"gridmapDispatch.map.setView([{pt['lat']}, {pt['lon']}], 16, {{animate: false}})")
        desk.click_map(pt["lon"], pt["lat"])
        desk.wait(f"gridmapDispatch.card.state.incident && gridmapDispatch.card.state.incident.id === {iid} && "
                  "gridmapDispatch.busy() === 0", "the card of the dot clicked")
        assert desk.js("gridmapDispatch.intake.state.point") is None
        assert "待人工派遣" in desk.page.inner_text("#wb-card")
        assert "已派遣" in desk.act("派遣", person="李社区")
        assert _state(module_sessionmaker, iid) == ("dispatched", "street", ids["李社区"])
        desk.wait(f"gridmapDispatch.busy() === 0 && !gridmapDispatch.queue.items().some(x => x.id === {iid})",
                  "gone from the manual queue")
        assert desk.errors == [] and desk.external == []
    finally:
        desk.close()
