"""The dispatcher's workbench ``/maps/dispatch`` on the hand-made plan of this module's own database: who may open
it, that it loads only local assets and no inline script, and — in Debian's headless Chromium — the loop a
dispatcher and a grid worker drive through it: sign in, take a call by clicking the map, see the grid, the person
and why before saving, dispatch, handle and feed back, verify and close; an escalation reaching a named person;
the overdue filter; the queue updating without a reload; a phone-sized screen."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import shutil
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
from tests.live_server import serve_in_thread

CHROMIUM = os.environ.get("GRIDMAP_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "maps"
PASSWORD = "workbench-pass-1"


@pytest.fixture(scope="module")
def ids(module_sessionmaker):
    out = IF.load(module_sessionmaker)
    with module_sessionmaker() as s:
        create_user(s, "diaodu", PASSWORD, roles=["dispatcher"], scope="", display_name="调度员丁")
        create_user(s, "wangge", PASSWORD, roles=["grid_staff"], scope=F.G1, staff_roles=["grid_worker"],
                    person_id=out["张网格"])
        create_user(s, "guihua", PASSWORD, roles=["planner"], scope="")
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
        self.context = browser.new_context(**context)
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
        try:
            self.page.wait_for_function(expr, timeout=timeout)
        except Exception as exc:
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SHOTS / f"dispatch_stuck_{re.sub(r'[^a-z]+', '_', what)}.png"))
            raise AssertionError(f"{what}: never happened ({expr}); errors {self.errors[:5]}") from exc

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

    def act(self, label: str, *, person: str | None = None, note: str | None = None) -> str:
        before = self.js("gridmapDispatch.card.state.acted")
        self.page.click(f"#wb-actions button:has-text('{label}')")
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
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(f"Chromium not found at {CHROMIUM}")
    with serve_in_thread(create_app(settings)) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


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
            want = s.scalars(text("SELECT id FROM incidents WHERE state <> 'closed' AND due_at < now()")).all()
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
