// What publishing a plan changes, in words: the impact preview (with the one line on what changes outside the
// draft's scope), the staff handover as an editable table, and what publishing did (handover applied, open
// incidents re-dispatched and to whom). Used by the drawing page (pages/plan_editor.js).

import {esc} from "gridmap/shared/html.js";

const MAX_ROWS = 200;

/** The impact preview as a paragraph. */
export function impactHtml(impact) {
  const grids = impact.grids;
  const buildings = impact.buildings;
  const outside = impact.outside_scope || {};
  const outsideClass = outside.clean === false ? "gm-error" : "gm-ok";
  return `<p class="${outsideClass}" id="gm-editor-outside">${esc(outside.summary || "")}</p>`
    + `<b>与现行方案相比 (against the plan in force)：</b>新增 ${grids.new.length}、撤销 ${grids.removed.length}、`
    + `调整 ${grids.changed.length} 个网格；楼栋 ${buildings.count} 栋（${buildings.households} 户）、未结事件 `
    + `${impact.incidents.count} 件将改变所属网格 (would move)；人员交接 ${impact.staff.count} 项 (staff handover)；`
    + "蓝色虚线为新增或调整的网格 (new or changed grids: blue dashes)";
}

function targetSelect(item, k, codes) {
  const options = codes.map((code) => `<option value="${esc(code)}"${code === item.to ? " selected" : ""}>`
    + `${esc(code)}</option>`);
  const end = `<option value=""${item.to ? "" : " selected"}>结束任职 (end)</option>`;
  return `<select data-k="${k}" aria-label="交接去向 (where this person goes)">${end}${options.join("")}</select>`;
}

/** The handover as a table whose targets can be changed (``codes``: the draft's grids that may receive). */
export function handoverHtml(items, codes) {
  if (!items.length) return "<p class=\"gm-muted\">无需人员交接 (no staff to hand over)</p>";
  const rows = items.slice(0, MAX_ROWS).map((item, k) => `<tr data-assignment="${item.assignment_id}">`
    + `<td>${esc(item.kind_zh)}</td><td>${esc(item.person_name)}</td><td>${esc(item.role_zh)}</td>`
    + `<td>${esc(item.from || "—")}</td><td>${targetSelect(item, k, codes)}</td></tr>`);
  const more = items.length > MAX_ROWS ? `<p class="gm-muted">另有 ${items.length - MAX_ROWS} 项按默认安排</p>` : "";
  return "<h4>人员交接 (staff handover, editable)</h4><table class=\"gm-handover\"><thead><tr><th>方式</th>"
    + "<th>姓名</th><th>岗位</th><th>原网格</th><th>去向</th></tr></thead><tbody>" + rows.join("")
    + "</tbody></table>" + more;
}

/** The handover as edited in the table: each item with its chosen target (no target: the assignment ends). */
export function readHandover(box, items) {
  const chosen = {};
  for (const select of box.querySelectorAll("select[data-k]")) chosen[Number(select.dataset.k)] = select.value;
  return items.map((item, k) => {
    const to = k in chosen ? chosen[k] || null : item.to;
    return {assignment_id: item.assignment_id, kind: to ? (item.kind === "end" ? "move" : item.kind) : "end", to};
  });
}

function incidentLine(item) {
  return `<li>事件 ${item.incident_id}：${esc(item.from || "无")} → ${esc(item.to || "无")}，`
    + `${esc(item.assignee_before || "未派遣")} → ${esc(item.assignee_after || "待派遣")}</li>`;
}

/** What publishing did (the publish answer, or the report kept with the generation). */
export function publishedHtml(plan, report) {
  const counts = report.handover.counts;
  const incidents = report.incidents;
  const items = (incidents.items || []).slice(0, 20).map(incidentLine).join("");
  return `<p class="gm-ok"><b>已发布为第 ${plan.generation} 代，${esc(report.effective_from)} 起生效 (published)</b></p>`
    + `<p>人员交接 (handover)：转入 ${counts.move}，随楼栋 ${counts.follow}，兼任 ${counts.share}，结束 ${counts.end}`
    + `（另有 ${report.handover.ended_with_retired_grids} 项随撤销网格结束）</p>`
    + `<p>未结事件 (open incidents)：改变网格 ${incidents.moved} 件`
    + (report.redispatched ? "，已重新分派 (re-dispatched)" : "，未重新分派，可在此后执行 (not re-dispatched)")
    + "</p>" + (items ? `<ol class="gm-moved">${items}</ol>` : "")
    + (report.reason ? `<p>强制发布理由 (reason)：${esc(report.reason)}</p>` : "");
}
