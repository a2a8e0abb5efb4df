"""The civic pages people look at, Chinese first and phone-friendly: the 议事厅 (topics on a map, the public
form), a decision's public notice (公开公示), the volunteers' page (activities, 积分超市, leaderboard) and a
district's 事项准入清单. Pure functions from plain data to HTML; no inline scripts (the one interactive page
loads ``/static/maps/js/pages/deliberation.js``); every value is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

ASSET_BASE = "/static/vendor/node_modules"
SYNTHETIC_NOTE = '<p class="synthetic">演示数据（synthetic）：以下内容为生成数据，非真实信息。</p>'


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _page(title: str, body: str, *, head: str = "") -> str:
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>{_e(title)} · gridmap</title><link rel="stylesheet" href="/static/maps/css/civic.css">{head}</head>
<body><main>{body}</main>
<footer>gridmap 社区网格化服务管理 · <a href="/deliberation">议事厅</a> · <a href="/volunteers">志愿服务</a> ·
<a href="/matters">事项准入清单</a> · <a href="/maps/public">便民地图</a></footer></body></html>"""


def _synthetic(rows: list[dict[str, Any]]) -> str:
    return SYNTHETIC_NOTE if any(r.get("source") == "synthetic" for r in rows) else ""


def deliberation_page(*, steps: list[dict[str, str]], tile_url: str | None) -> str:
    """The 议事厅: a map of topics coloured by step, the list, and the form residents propose a topic with.
    ``tile_url`` is the OSM basemap's tile template (None: no basemap, e.g. offline)."""
    legend = "".join(f'<li><span class="dot" data-colour="{_e(s["colour"])}"></span>{_e(s["zh"])}</li>'
                     for s in steps)
    head = (f'<link rel="stylesheet" href="{ASSET_BASE}/leaflet/dist/leaflet.css">'
            f'<script src="{ASSET_BASE}/leaflet/dist/leaflet.js" defer></script>'
            '<script type="module" src="/static/maps/js/pages/deliberation.js"></script>')
    body = f"""
<h1>居民议事厅 <small>六步议事 (community deliberation)</small></h1>
<p class="lead">收集议题 → 确定议题 → 议前调研 → 协商议事 → 公开公示 → 研究落实</p>
<section class="split">
  <div id="topic-map" class="map" data-tiles="{_e(tile_url or '')}" role="region" aria-label="议题地图 (topics on the map)"></div>
  <form id="propose" class="card" novalidate>
    <h2>我有议题 (propose a topic)</h2>
    <p class="hint" id="place-hint">请先在地图上点选位置 (tap the map to place it)</p>
    <label for="title">议题 (topic)</label><input id="title" name="title" maxlength="200" required>
    <label for="description">说明 (details)</label><textarea id="description" name="description" rows="3"
      maxlength="4000"></textarea>
    <label for="proposer_name">联系人（仅工作人员可见）</label><input id="proposer_name" name="proposer_name"
      maxlength="100" autocomplete="name">
    <label for="proposer_phone">联系电话（仅工作人员可见）</label><input id="proposer_phone" name="proposer_phone"
      maxlength="40" inputmode="tel" autocomplete="tel">
    <input type="hidden" id="lon" name="lon"><input type="hidden" id="lat" name="lat">
    <button type="submit">提交议题 (submit)</button>
    <p id="propose-msg" class="msg" role="status"></p>
  </form>
</section>
<ul class="legend" id="legend">{legend}</ul>
<p id="synthetic-note" class="synthetic" hidden>演示数据（synthetic）：议题为生成数据，非真实信息。</p>
<h2>议题 (topics) <small id="topic-count"></small></h2>
<ol id="topic-list" class="topics"></ol>
<p class="attribution">底图 © OpenStreetMap contributors</p>"""
    return _page("居民议事厅", body, head=head)


def notice_page(notice: dict[str, Any]) -> str:
    """The printable public notice (公开公示) of one council decision."""
    item, topic, meeting = notice["item"], notice["topic"], notice["meeting"]
    roles = "、".join(f"{_e(r['role_zh'])} {r['count']} 人" for r in notice["present_by_role"]) or "—"
    tasks = "".join(f"<li>{_e(t['title'])}（{'已办结' if t['done'] else '办理中'}）</li>" for t in notice["tasks"])
    synthetic = SYNTHETIC_NOTE if "synthetic" in (topic.get("source"), meeting.get("source")) else ""
    body = f"""
<article class="notice">
<h1>议事决议公示</h1>
<h2>{_e(notice['community']['name'])}协商议事会</h2>
<table>
<tr><th>议题</th><td id="notice-topic">{_e(topic['title'])}</td></tr>
<tr><th>会议</th><td>{_e(meeting['title'])}，{_e(meeting['held_on'])}{('，' + _e(meeting['place'])) if meeting['place'] else ''}</td></tr>
<tr><th>到会</th><td>{item['present']} 人（法定人数 {meeting['quorum']}）：{roles}</td></tr>
<tr><th>表决</th><td id="notice-votes">赞成 {item['votes_for']}，反对 {item['votes_against']}，弃权 {item['votes_abstain']}</td></tr>
<tr><th>结果</th><td id="notice-result">{_e(notice['result_zh'])}</td></tr>
<tr><th>决议</th><td>{_e(item['decision'])}</td></tr>
<tr><th>公示期</th><td>{_e(item['notice_from'])} 至 {_e(item['notice_until'])}</td></tr>
<tr><th>落实</th><td><ul>{tasks or '<li>待安排</li>'}</ul></td></tr>
</table>
<p class="hint">对决议有意见，请在公示期内向社区居委会反映。当前进度：{_e(topic['step_zh'])}</p>
{synthetic}
</article>"""
    return _page(f"{topic['title']} 决议公示", body)


def _table(headers: list[str], rows: list[list[Any]], *, table_id: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _community_form(communities: list[dict[str, str]], current: str | None) -> str:
    options = "".join(f'<option value="{_e(c["code"])}"{" selected" if c["code"] == current else ""}>'
                      f'{_e(c["name"])}</option>' for c in communities)
    return (f'<form method="get" class="pick"><label for="community">社区 (community)</label>'
            f'<select id="community" name="community">{options}</select><button type="submit">查看</button></form>')


def volunteers_page(data: dict[str, Any]) -> str:
    """双报到 and points for one community: upcoming activities, the 积分超市 shelf and the leaderboard."""
    acts = [[a["title"], f"{a['starts_at']:%m-%d %H:%M}", a["place"] or "", f"{a['signed_up']}/{a['capacity']}",
             a["points"]] for a in data["activities"]]
    shelf = [[r["name"], r["cost"], r["stock"]] for r in data["rewards"]]
    board = [[r["rank"], r["display_name"], r["kind_zh"], r["points"]] for r in data["leaderboard"]]
    body = f"""
<h1>志愿服务与积分 <small>双报到 · 道德银行 · 积分超市</small></h1>
{_community_form(data['communities'], data['community'])}
<h2>{_e(data['community_name'] or '')} 志愿活动 (activities)</h2>
{_table(['活动', '时间', '地点', '已报名/名额', '积分'], acts, table_id='activities') if acts else '<p>暂无活动</p>'}
<h2>积分榜 (leaderboard)</h2>
<p class="hint">只显示志愿者自己选择公开的名称 (only the names people chose to show)</p>
{_table(['名次', '名称', '类别', '积分'], board, table_id='leaderboard') if board else '<p>暂无积分</p>'}
<h2>积分超市 (rewards)</h2>
{_table(['物品', '所需积分', '库存'], shelf, table_id='rewards') if shelf else '<p>暂无商品</p>'}
{_synthetic(data['activities'] + data['rewards'])}"""
    return _page("志愿服务与积分", body)


def matters_page(data: dict[str, Any]) -> str:
    """A district's 社区事项准入清单: items by kind with their legal basis."""
    tabs = "".join(
        f'<a class="tab{" on" if k["kind"] == data["kind"] else ""}" href="?district={_e(data["district"])}'
        f'&amp;kind={_e(k["kind"])}">{_e(k["zh"])}（{data["by_kind"][k["kind"]]}）</a>' for k in data["kinds"])
    rows = [[r["kind_zh"], r["number"], r["item"], r["legal_basis"], r["department"] or ""] for r in data["items"]]
    body = f"""
<h1>社区事项准入清单 <small>{_e(data['district_name'] or data['district'])}</small></h1>
<p class="lead">社区只承担清单内的事项；清单外的事项须经审批方可进入社区 (anything else needs approval).</p>
<nav class="tabs"><a class="tab{' on' if not data['kind'] else ''}" href="?district={_e(data['district'])}">全部（{sum(data['by_kind'].values())}）</a>{tabs}</nav>
{_table(['类别', '序号', '事项', '法律依据', '主管部门'], rows, table_id='matters') if rows else '<p>该区县尚未公布清单</p>'}
{_synthetic(data['items'])}"""
    return _page("社区事项准入清单", body)
