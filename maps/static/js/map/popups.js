// What a click on a feature shows: popup HTML from the feature's properties (and its layer's spec), by name.

import {esc, syntheticBadge, tableRows} from "gridmap/shared/html.js";

const VACANT = "<span class=\"gm-muted\">待配备 (vacant)</span>";

function gridBoard(p, spec) {
  const board = (spec.boards || {})[p.code];
  let html = `<div class="gm-board"><b>${esc(p.name)}</b>${syntheticBadge(p)}<br><small>网格编码 ${esc(p.code)}`
    + "</small>";
  if (board && board.length) {
    html += "<table class=\"gm-table\">";
    for (const [role, people] of board) {
      html += `<tr><th>${esc(role)}</th><td>${people.length ? people.map(esc).join("<br>") : VACANT}</td></tr>`;
    }
    html += "</table>";
  } else {
    html += "<p class=\"gm-muted\">公示牌未配置 (no contact board configured)</p>";
  }
  return html + "</div>";
}

function householdBand(households) {
  if (households === null || households === undefined) return "未统计";
  if (households < 300) return "低于300户";
  if (households > 500) return "超过500户";
  return "300–500户";
}

function gridPlanner(p) {
  return `<b>${esc(p.name)}</b>${syntheticBadge(p)}` + tableRows([["网格编码", p.code], ["类型", p.kind_zh],
    ["户数 households", p.households], ["人口 residents", p.residents], ["户数区间", householdBand(p.households)],
    ["问题 problems", p.problems], ["缺配岗位 vacant roles", p.vacant_roles],
    ["缺楼栋长的楼栋", p.buildings_without_head || null], ["缺楼口长的楼口", p.stairwells_without_head || null]]);
}

function rosterGap(p) {
  return `<b>${esc(p.name)} · 人员空缺 ${esc(p.vacancies)}</b>${syntheticBadge(p)}` + tableRows([
    ["网格编码", p.code], ["缺配岗位 vacant roles", p.vacant_roles || "无 none"],
    ["缺楼栋长的楼栋", p.buildings_without_head], ["缺楼口长的楼口", p.stairwells_without_head]]);
}

function rosterLines(p) {
  let lines = p.details;
  if (typeof lines === "string") {
    try {
      lines = JSON.parse(lines);
    } catch {
      lines = [lines];
    }
  }
  if (lines) return lines;
  // from the vector tiles: flags and counts instead of the lines
  const out = [];
  if (p.no_building_head) out.push("缺楼栋长 (building without a building head)");
  if (p.stairwells_without_head) out.push(p.stairwells_without_head + " 个单元缺楼口长 (stairwells without a head)");
  return out;
}

function rosterBuilding(p) {
  const items = rosterLines(p).map((line) => `<li>${esc(line)}</li>`).join("");
  return `<b>${esc(p.name || "楼栋")}</b>${syntheticBadge(p)}<ul>${items}</ul>`;
}

function village(p) {
  const items = (p.items || []).map(([name, present]) => `<li>${present ? "✓ " : "✗ "}${esc(name)}</li>`).join("");
  return `<b>${esc(p.name)} · 七个一 ${esc(p.have)}/${esc(p.of)}</b>${syntheticBadge(p)}<ul>${items}</ul>`;
}

function incident(p) {
  if (p.count > 1) {
    return `<b>此处聚合 ${esc(p.count)} 件事件</b>${syntheticBadge(p)}` + tableRows([["未结案", p.open],
      ["含超期", p.overdue ? "是" : "否"]]) + "<small class=\"gm-muted\">放大查看单个事件</small>";
  }
  const overdue = p.overdue === true || p.overdue === 1;
  return `<b>事件 #${esc(p.id)}</b>${syntheticBadge(p)}` + tableRows([["类别", p.category_zh || p.category],
    ["状态", p.state_zh || p.state], ["网格", p.grid_code], ["上报时间", p.created], ["办结时限", p.due],
    ["超期", overdue ? "是 overdue" : "否"]]);
}

function uncovered(p) {
  if (p.count > 1) {
    return `<b>此处 ${esc(p.count)} 栋未覆盖楼栋</b>${syntheticBadge(p)}` + tableRows([["户数", p.households]]);
  }
  const walk = p.nearest_m === null || p.nearest_m === undefined ? "步行不可达 (unreachable)" : p.nearest_m;
  return `<b>未覆盖楼栋 uncovered</b>${syntheticBadge(p)}` + tableRows([["名称", p.name], ["户数", p.households],
    ["步行到最近设施(米)", walk]]);
}

function visitShare(p) {
  const share = p.visit_share === null || p.visit_share === undefined ? "—" : `${Math.round(p.visit_share * 100)}%`;
  return `<b>${esc(p.name)} · 入户走访</b>${syntheticBadge(p)}` + tableRows([["月份", p.visit_month],
    ["已走访户数", p.visited_households], ["总户数", p.households], ["覆盖率", share]]);
}

function staleBuilding(p) {
  return `<b>${esc(p.name || "楼栋")} · 待走访</b>${syntheticBadge(p)}` + tableRows([["网格", p.grid_code],
    ["户数", p.households], ["上次走访", p.last_visited || "从未 (never)"], ["已隔天数", p.days_since]]);
}

export const POPUPS = {
  visit_share: visitShare,
  stale_building: staleBuilding,
  grid_board: gridBoard,
  grid_planner: gridPlanner,
  roster_gap: rosterGap,
  roster_building: rosterBuilding,
  community: (p) => `<b>${esc(p.name)}</b>${syntheticBadge(p)}` + tableRows([["区划代码", p.code],
    ["层级", p.level_zh]]),
  village,
  facility: (p) => `<b>${esc(p.name)}</b>${syntheticBadge(p)}` + tableRows([["类型", p.type_zh],
    ["地址", p.address]]),
  building: (p) => `<b>${esc(p.name || "楼栋")}</b>${syntheticBadge(p)}` + tableRows([["户数", p.households],
    ["层数", p.floors]]),
  incident,
  problem: (p) => `<b class="gm-bad">${esc(p.kind_zh)}</b><br>${esc(p.message)}`,
  uncovered,
  site: (p) => `<b>建议选址 #${esc(p.rank)}</b>` + tableRows([["新增覆盖户数", p.households],
    ["新增覆盖楼栋", p.buildings], ["方法", p.method]]),
  circle: (p) => `<b>${esc(p.type_zh)} · ${esc(p.minutes)}分钟服务圈</b>${syntheticBadge(p)}`,
};
