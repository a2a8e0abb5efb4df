"""社区工作台 ``/maps/civic`` in a real headless Chromium over a copy of the demo: a grid worker signs in on the
sign-in form and drives each part end to end as a person would (select, type, tick, submit, read the answer):
a household visit whose follow-ups become a real incident and ledger update, read back (audited); a topic from
收集议题 through a meeting with its vote, the public notice and a follow-up task to 已办结; an activity's sign-up
and attendance, and a redemption at the 积分超市 that would overdraw refused; an incident outside the 准入 list
seen by the grid worker and approved by the dispatcher. Phone-sized and desk-sized screens;
requests leaving 127.0.0.1 are blocked and recorded, the console must stay free of errors."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers.accounts import create_user
from layers.db import make_engine, make_sessionmaker
from tests.accounts_fixtures import token
from tests.live_server import serve_in_thread
from tests.maps.test_browser import Page, browser  # noqa: F401  (the module's browser fixture)

pytestmark = pytest.mark.browser
SECRET = "civic-staff-test-secret-0123456789-abcdef"
PASSWORD = "civic-staff-pass-1"
PHONE = {"viewport": {"width": 375, "height": 740}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESK = {"viewport": {"width": 1280, "height": 860}}
NOTE = "走访页面测试：独居老人，需助餐"


def until(p: Page, expr: str, timeout: int = 20_000) -> None:
    """Wait until ``expr`` holds in the page (a function predicate: no eval under the pages' CSP)."""
    p.page.wait_for_function(f"() => {expr}", timeout=timeout)


class Api:
    """Requests to the served app (the set-up a test needs before the browser acts)."""

    def __init__(self, http: requests.Session, base: str) -> None:
        self.http, self.base = http, base

    def post(self, path: str, **kw) -> requests.Response:
        return self.http.post(self.base + path, timeout=60, **kw)


@pytest.fixture(scope="module")
def site(module_demo_db):
    mp = pytest.MonkeyPatch()
    mp.setenv("GRIDMAP_MAP_BASEMAP", "none")
    app = create_app(Settings(api=ApiSettings(environment="test", secret_key=SECRET, public_rate_per_min=0),
                              db=module_demo_db))
    eng = make_engine(module_demo_db, pool_size=2, max_overflow=0)
    factory = make_sessionmaker(eng)
    with eng.connect() as conn:  # a community whose council has members and whose grids have buildings
        community = conn.scalar(text(
            "SELECT m.community_code FROM council_members m JOIN grids g ON g.community_code = m.community_code "
            "WHERE m.active AND g.plan_id = (SELECT id FROM grid_plans WHERE status = 'published') "
            "AND g.kind = 'comprehensive' AND g.households > 0 GROUP BY 1 ORDER BY count(DISTINCT m.id) DESC LIMIT 1"))
    with factory() as s:
        create_user(s, "wangge-civic", PASSWORD, roles=["grid_staff"], scope=community, display_name="网格员")
        create_user(s, "diaodu-civic", PASSWORD, roles=["dispatcher"], scope=community, display_name="调度员")
        s.commit()
    staff = {"Authorization": "Bearer " + token(factory, "t-civic-desk-api", ["grid_staff"], community, secret=SECRET)}
    with serve_in_thread(app) as base, requests.Session() as http:
        yield {"base": base, "community": community, "engine": eng, "api": Api(http, base), "staff": staff}
    eng.dispose()
    mp.undo()


def _scalar(site, sql, **params):
    with site["engine"].connect() as conn:
        return conn.scalar(text(sql), params)


def _settled(p: Page) -> None:
    until(p, "window.civicStaff && civicStaff.isIdle()")


def _open(browser, site, screen, username: str = "wangge-civic") -> Page:  # noqa: F811
    """Sign in as a person does: /maps/civic sends the browser to the sign-in form, which comes back."""
    p = Page(browser, site["base"], **screen)
    p.page.goto(site["base"] + "/maps/civic")
    p.page.wait_for_url(re.compile(r".*/maps/signin\?next=.*"))
    p.page.fill("#u", username)
    p.page.fill("#p", PASSWORD)
    p.page.click("#f button[type=submit]")
    p.page.wait_for_url(re.compile(r"^[^?]*/maps/civic$"))  # the desk itself, not the form's ?next=/maps/civic
    p.page.wait_for_load_state()
    _settled(p)
    return p


def _done(p: Page, shot: str) -> None:
    width = p.js("() => document.documentElement.scrollWidth")
    viewport = p.js("() => window.innerWidth")
    assert width <= viewport, f"page wider than the screen: {width}px > {viewport}px"
    p.shot(shot)
    assert p.external == [] and p.errors == [], (p.external[:3], p.errors[:3])
    p.context.close()


def _message(p: Page, selector: str) -> str:
    until(p, f"document.querySelector('{selector}').textContent.length > 0")
    _settled(p)
    return p.page.locator(selector).inner_text()


def test_a_grid_worker_logs_a_visit_and_reads_the_grids_visits(browser, site):  # noqa: F811
    p = _open(browser, site, PHONE)
    grid = p.page.locator("#v-grid").input_value()
    assert grid.startswith(site["community"])
    before = int(p.page.locator("#v-coverage tbody tr").first.locator("td").nth(2).inner_text())
    building = int(p.page.locator("#v-building").input_value())
    p.page.fill("#v-household", "7-702")
    p.page.locator("#v-knows label", has_text="提户知人").locator("input").check()
    p.page.locator("#v-knows label", has_text="提人知事").locator("input").check()
    p.page.fill("#v-notes", NOTE)
    p.page.check("#fu-incident")
    p.page.select_option("#fu-incident-cat", "sanitation")
    p.page.fill("#fu-incident-text", "楼道堆放杂物")
    p.page.check("#fu-ledger")
    p.page.select_option("#fu-ledger-kind", "special_care")
    p.page.fill("#fu-ledger-persons", "1")
    p.page.click("#visit-form button[type=submit]")
    msg = _message(p, "#visit-msg")
    assert "已保存走访" in msg and "7-702" in msg and "事件 #" in msg and "台账" in msg, msg
    incident = int(re.search(r"事件 #(\d+)", msg).group(1))
    assert _scalar(site, "SELECT channel FROM incident_details WHERE incident_id = :i", i=incident) == "visit"
    assert _scalar(site, "SELECT persons FROM building_ledgers WHERE building_id = :b AND kind = 'special_care'",
                   b=building) == 1
    assert _scalar(site, "SELECT notes FROM household_visits WHERE household = '7-702'") == NOTE
    after = int(p.page.locator("#v-coverage tbody tr").first.locator("td").nth(2).inner_text())
    assert after == before + 1  # the grid's coverage counts the new household
    assert p.page.locator("#v-buildings tbody tr").count() > 0

    reads = "SELECT count(*) FROM audit_log WHERE object_type = 'household_visit' AND action = 'read'"
    audited = _scalar(site, reads)
    p.page.click("#v-load")
    until(p, "document.querySelectorAll('#v-list li').length > 0")
    _settled(p)
    assert NOTE in p.page.locator("#v-list").inner_text()
    assert _scalar(site, reads) == audited + 1  # every read of the notes is logged

    p.page.fill("#v-household", "")  # refused in the browser: nothing sent, nothing stored
    p.page.click("#visit-form button[type=submit]")
    assert _scalar(site, "SELECT count(*) FROM household_visits WHERE household = ''") == 0
    _done(p, "civic_desk_visit_phone")


def test_a_topic_goes_through_the_six_steps_on_the_desk(browser, site):  # noqa: F811
    api, community = site["api"], site["community"]
    topic = api.post("/api/v1/deliberation/topics", json={"title": "小区停车位不足，建议划线", "community_code": community,
                                                          "proposer_phone": "13900001111"}).json()["id"]
    p = _open(browser, site, DESK)
    p.page.click("#tabs button[data-tab=topics]")
    _settled(p)
    p.page.select_option("#t-topic", str(topic))
    until(p, "document.getElementById('t-current') && "
                             "document.getElementById('t-current').textContent === '收集议题'")
    assert "13900001111" in p.page.locator("#t-detail").inner_text()  # staff of the area see the contact
    p.page.fill("#t-attach-title", "停车需求问卷")
    p.page.fill("#t-attach-url", "https://example.org/survey/parking")
    p.page.click("#t-attach button[type=submit]")
    assert _message(p, "#t-attach-msg") == "已添加附件"
    until(p, "document.querySelector('#t-links a') !== null")
    assert p.page.locator("#t-links a").inner_text() == "停车需求问卷"
    p.page.fill("#t-attach-title", "脚本")
    p.page.fill("#t-attach-url", "javascript:alert(1)")  # typed past the browser's own check: the API refuses it
    p.page.evaluate("() => { document.getElementById('t-attach-url').type = 'text'; }")
    p.page.click("#t-attach button[type=submit]")
    until(p, "document.getElementById('t-attach-msg').textContent.startsWith('未成功')")
    assert p.page.locator("#t-links a").count() == 1
    for step, zh in [("accepted", "确定议题"), ("researching", "议前调研"), ("deliberating", "协商议事")]:
        p.page.select_option("#t-step", step)
        p.page.fill("#t-note", f"进入{zh}")
        p.page.click("#t-move button[type=submit]")
        until(p, f"document.getElementById('t-current').textContent === '{zh}'")
        _settled(p)
    members = p.page.locator("#t-members input[type=checkbox]")
    invited = members.count()
    assert invited >= 3
    members.nth(invited - 1).uncheck()  # one member did not come
    p.page.fill("#t-title", "第三季度协商议事会")
    p.page.fill("#t-place", "社区居民议事厅")
    p.page.click("#t-meeting button[type=submit]")
    msg = _message(p, "#t-meeting-msg")
    assert f"应到 {invited} 人" in msg and f"实到 {invited - 1} 人" in msg, msg
    p.page.fill("#t-for", str(invited - 1))
    p.page.fill("#t-decision", "同意在东侧空地划设停车位")
    p.page.click("#t-vote button[type=submit]")
    assert "表决通过" in _message(p, "#t-vote-msg")

    p.page.select_option("#t-step", "publicised")
    p.page.click("#t-move button[type=submit]")
    until(p, "document.getElementById('t-current').textContent === '公开公示'")
    _settled(p)
    notice = p.page.locator("#t-votes a", has_text="公示页").get_attribute("href")
    p.page.select_option("#t-step", "implementing")
    p.page.click("#t-move button[type=submit]")
    until(p, "document.getElementById('t-current').textContent === '研究落实'")
    _settled(p)
    lon, lat = (_scalar(site, f"SELECT ST_{c}(ST_PointOnSurface(geom)) FROM admin_areas WHERE code = :c LIMIT 1",
                        c=community) for c in "XY")
    incident = api.post("/api/v1/incidents", json={"category": "street_order", "lon": lon, "lat": lat}).json()
    p.page.fill("#t-task-title", "划设停车位")
    p.page.fill("#t-task-incident", str(incident["incident"]["id"]))
    p.page.click("#t-task button[type=submit]")
    assert "已关联任务" in _message(p, "#t-task-msg")
    assert "划设停车位" in p.page.locator("#t-tasks").inner_text()
    with site["engine"].begin() as conn:  # the task's incident is closed by its own loop
        conn.execute(text("UPDATE incidents SET state = 'closed' WHERE id = :i"), {"i": incident["incident"]["id"]})
    p.page.select_option("#t-topic", str(topic))
    until(p, "document.getElementById('t-current').textContent === '已办结'")
    assert p.page.locator("#t-move").is_hidden()  # nothing follows 已办结
    p.page.goto(site["base"] + notice)
    assert p.page.locator("h1").inner_text() == "议事决议公示"
    assert p.page.locator("#notice-result").inner_text() == "通过"
    assert "13900001111" not in p.page.content()
    p.errors = [e for e in p.errors if "422" not in e]  # the refused link's answer, logged by the browser
    _done(p, "civic_desk_topic_desk")


def test_sign_up_attendance_and_redemption_at_the_points_shop(browser, site):  # noqa: F811
    api, staff, community = site["api"], site["staff"], site["community"]
    reward = api.post("/api/v1/volunteers/rewards", headers=staff, json={
        "community_code": community, "name": "页面测试：洗衣液", "cost": 20, "stock": 5}).json()
    p = _open(browser, site, {**PHONE, "timezone_id": "Asia/Shanghai"})
    p.page.click("#tabs button[data-tab=points]")
    _settled(p)
    # an activity published on the desk, in the browser's own time (Beijing), under way now
    beijing = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    p.page.select_option("#p-new-community", community)
    p.page.fill("#p-new-title", "页面测试：清扫楼道")
    p.page.fill("#p-new-start", (beijing - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    p.page.fill("#p-new-end", (beijing + dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    p.page.fill("#p-new-capacity", "5")
    p.page.fill("#p-new-points", "30")
    p.page.click("#p-new button[type=submit]")
    msg = _message(p, "#p-new-msg")
    assert msg.startswith("已发布活动 #"), msg
    act = int(msg.split("#")[1])
    assert p.js("() => document.documentElement.scrollWidth <= window.innerWidth")  # the time fields fit the phone
    starts = _scalar(site, "SELECT starts_at FROM volunteer_activities WHERE id = :a", a=act)
    assert abs((starts - (beijing - dt.timedelta(hours=1))).total_seconds()) < 60  # the offset travelled along
    # 双报到: a Party member registers with the community, in the grid they live in
    p.page.select_option("#p-kind", "party_member")
    p.page.fill("#p-name", "页面测试党员")
    p.page.select_option("#p-community", community)
    home = p.page.locator("#p-grid option").nth(1).get_attribute("value")
    p.page.select_option("#p-grid", home)
    p.page.fill("#p-display", "热心人乙")
    p.page.fill("#p-phone", "13700003333")
    p.page.click("#p-register button[type=submit]")
    msg = _message(p, "#p-register-msg")
    assert msg.startswith("已登记报到 #"), msg
    reg = {"id": int(msg.split("#")[1])}
    assert _scalar(site, "SELECT grid_code || ':' || display_name FROM registrations WHERE id = :r",
                   r=reg["id"]) == f"{home}:热心人乙"
    p.page.select_option("#p-activity", str(act))
    _settled(p)
    p.page.select_option("#p-reg", str(reg["id"]))
    p.page.click("#p-signup")
    assert _message(p, "#p-signup-msg") == "已报名"
    box = p.page.locator("#p-signups label", has_text="页面测试党员").locator("input")
    box.check()
    p.page.click("#p-attend")
    assert "1 人获得积分" in _message(p, "#p-attend-msg")

    p.page.select_option("#p-reward", str(reward["id"]))
    p.page.select_option("#p-redeem-reg", str(reg["id"]))
    _settled(p)
    assert p.page.locator("#p-balance").inner_text() == "30"
    p.page.fill("#p-redeem-note", "兑换洗衣液")
    p.page.click("#p-redeem button[type=submit]")
    assert "余额 10 分" in _message(p, "#p-redeem-msg")
    p.page.click("#p-redeem button[type=submit]")  # 10 points left, the reward costs 20: refused
    until(p, "document.getElementById('p-redeem-msg').textContent.startsWith('未成功')")
    _settled(p)
    assert "积分不足" in p.page.locator("#p-redeem-msg").inner_text()
    assert p.page.locator("#p-balance").inner_text() == "10"  # never below zero
    # a change by hand needs its reason, and cannot take more than there is
    p.page.fill("#p-adjust-delta", "5")
    p.page.click("#p-adjust")
    until(p, "document.getElementById('p-adjust-msg').textContent.startsWith('未成功')")
    p.page.fill("#p-adjust-delta", "-50")
    p.page.fill("#p-adjust-reason", "测试扣分")
    p.page.click("#p-adjust")
    until(p, "document.getElementById('p-adjust-msg').textContent.includes('积分不足')")
    _settled(p)
    assert p.page.locator("#p-balance").inner_text() == "10"
    p.page.fill("#p-adjust-delta", "5")
    p.page.fill("#p-adjust-reason", "补录上月参加活动")
    p.page.click("#p-adjust")
    assert "余额 15 分" in _message(p, "#p-adjust-msg")
    until(p, "document.getElementById('p-balance').textContent === '15'")
    ledger = p.page.locator("#p-ledger tbody").inner_text()
    assert "+30" in ledger and "-20" in ledger and "+5" in ledger and "清扫楼道" in ledger and "补录上月" in ledger
    reasons = _scalar(site, "SELECT count(*) FROM point_entries WHERE registration_id = :r AND reason <> ''",
                      r=reg["id"])
    assert reasons == _scalar(site, "SELECT count(*) FROM point_entries WHERE registration_id = :r", r=reg["id"]) == 3
    p.errors = [e for e in p.errors if "409" not in e and "422" not in e]  # the refused redemption's answer, logged by the browser
    _done(p, "civic_desk_points_phone")


def test_a_category_outside_the_list_is_approved_on_the_desk(browser, site):  # noqa: F811
    api, community = site["api"], site["community"]
    lon, lat = (_scalar(site, f"SELECT ST_{c}(ST_PointOnSurface(geom)) FROM admin_areas WHERE code = :c LIMIT 1",
                        c=community) for c in "XY")
    iid = api.post("/api/v1/incidents", json={"category": "market", "lon": lon, "lat": lat}).json()["incident"]["id"]
    flag = "SELECT state FROM matter_flags WHERE subject_type = 'incident' AND subject_id = :i"
    assert _scalar(site, flag, i=iid) == "pending"  # 市场监管 is not on the demo's 金川区 list

    worker = _open(browser, site, PHONE)  # grid staff see the flags; the centre decides
    worker.page.click("#tabs button[data-tab=matters]")
    _settled(worker)
    row = worker.page.locator("#m-flags li[data-flag]", has_text=f"事件 #{iid}")
    assert "市场监管" in row.inner_text() and row.locator("button").count() == 0
    worker.context.close()

    p = _open(browser, site, PHONE, "diaodu-civic")
    p.page.click("#tabs button[data-tab=matters]")
    _settled(p)
    p.page.fill("#m-note", "由社区协助市场监管局巡查")
    p.page.locator("#m-flags li[data-flag]", has_text=f"事件 #{iid}").get_by_role("button", name="批准").click()
    assert _message(p, "#m-msg") == f"#{iid}：已批准"
    assert _scalar(site, flag, i=iid) == "approved"
    assert p.page.locator("#m-flags li", has_text=f"事件 #{iid}").count() == 0  # no longer pending
    p.page.select_option("#m-state", "approved")
    _settled(p)
    assert "由社区协助市场监管局巡查" in p.page.locator("#m-flags li", has_text=f"事件 #{iid}").inner_text()
    _done(p, "civic_desk_matters_phone")


def test_recurring_incidents_become_a_topic_and_the_council_gains_a_member(browser, site):  # noqa: F811
    api, community = site["api"], site["community"]
    first_building = ("SELECT ST_{}(ST_PointOnSurface(b.geom)) FROM buildings b JOIN grids g ON g.geom && b.geom "
                      "AND ST_Covers(g.geom, ST_PointOnSurface(b.geom)) WHERE g.community_code = :c "
                      "AND g.plan_id = (SELECT id FROM grid_plans WHERE status = 'published') ORDER BY b.id LIMIT 1")
    lon, lat = (_scalar(site, first_building.format(c), c=community) for c in "XY")
    ids = [api.post("/api/v1/incidents", json={"category": "cable_mess", "lon": lon + k * 0.0002, "lat": lat,
                                               "description": f"飞线第{k}处"}).json()["incident"]["id"]
           for k in range(4)]  # four tangles of cables within ~60 m: a cluster worth a topic
    p = _open(browser, site, DESK)
    p.page.click("#tabs button[data-tab=topics]")
    _settled(p)
    p.page.click("#t-suggest")
    until(p, "document.querySelectorAll('#t-suggestions button').length > 0")
    item = p.page.locator("#t-suggestions li", has_text="蜘蛛网线").first
    item.get_by_role("button", name="立为议题").click()
    msg = _message(p, "#t-suggest-msg")
    assert msg.startswith("已立为议题 #"), msg
    topic = int(msg.split("#")[1])
    with site["engine"].connect() as conn:
        origin, incidents = conn.execute(text("SELECT origin, incident_ids FROM topics WHERE id = :t"),
                                         {"t": topic}).one()
    assert origin == "incident_cluster" and set(ids) <= set(incidents)
    until(p, f"document.getElementById('t-topic').value === '{topic}'")
    until(p, "document.getElementById('t-current') && document.getElementById('t-current').textContent === '收集议题'")
    _settled(p)
    assert "蜘蛛网线" not in p.page.locator("#t-suggestions").inner_text()  # taken up: no longer suggested

    seated = p.page.locator("#t-members input[type=checkbox]").count()
    p.page.fill("#t-seat-name", "页面测试居民代表")
    p.page.select_option("#t-seat-role", index=p.page.locator("#t-seat-role option").count() - 1)  # an X seat
    p.page.click("#t-seat button[type=submit]")
    assert "已增补：页面测试居民代表" in _message(p, "#t-seat-msg")
    until(p, f"document.querySelectorAll('#t-members input[type=checkbox]').length === {seated + 1}")
    assert "页面测试居民代表" in p.page.locator("#t-members").inner_text()
    assert _scalar(site, "SELECT community_code FROM council_members WHERE name = '页面测试居民代表'") == \
        _scalar(site, "SELECT community_code FROM topics WHERE id = :t", t=topic)
    _done(p, "civic_desk_suggestions_desk")
