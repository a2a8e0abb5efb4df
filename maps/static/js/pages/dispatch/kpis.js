// The KPI panel: the share solved at grid/community level over every incident reported in the period (the
// target 80 %), with open, overdue and escalated beside it, per community, street, grid or category.

import {esc} from "gridmap/shared/html.js";
import {queryString} from "gridmap/pages/dispatch/api.js";

const PERIODS = [["30", "近30天 (30 days)"], ["7", "近7天 (7 days)"], ["90", "近90天 (90 days)"], ["", "全部 (all)"]];
const BY = [["community", "社区 community"], ["street", "街道 street"], ["grid", "网格 grid"], ["category", "类别 category"]];
const pct = (v) => (v === null || v === undefined ? "—" : `${Math.round(v * 1000) / 10}%`);

function options(pairs, chosen) {
  return pairs.map(([v, label]) => `<option value="${v}"${v === chosen ? " selected" : ""}>${label}</option>`).join("");
}

function tableHtml(answer) {
  const rows = answer.rows.map((r) => `<tr><td>${esc(r.name)}</td><td>${r.total}</td>` +
    `<td class="${r.meets_target ? "" : "wb-error"}">${pct(r.low_level_rate)}</td><td>${r.open}</td>` +
    `<td>${r.overdue_open}</td><td>${r.escalated}</td><td>${pct(r.on_time_rate)}</td></tr>`).join("");
  return "<table class=\"wb-table\" id=\"wb-kpi-table\"><thead><tr><th>名称 name</th><th>上报</th>" +
    "<th>网格/社区结案率</th><th>未结</th><th>超期</th><th>上交</th><th>按时率</th></tr></thead>" +
    `<tbody>${rows}</tbody></table>`;
}

/** The KPI panel in ``element`` and the summary chip in the header: {load(), state}. */
export function createKpis({api, element, chip}) {
  const state = {by: "community", days: "30", answer: null, loads: 0};

  async function load() {
    const since = state.days ? new Date(Date.now() - Number(state.days) * 864e5).toISOString() : null;
    const answer = await api.get("/api/v1/incidents/kpis" + queryString({by: state.by, since}));
    state.loads += 1;
    if (!answer.ok) {
      element.innerHTML = `<p class="wb-error">${esc(api.errorMessage(answer))}</p>`;
      return;
    }
    state.answer = answer.body;
    render(answer.body);
  }

  function render(answer) {
    const o = answer.overall;
    const target = pct(answer.target_low_level_rate);
    chip.textContent = o ? `网格/社区结案率 ${pct(o.low_level_rate)}（目标 ${target}）· 超期 ${o.overdue_open}` : "暂无事件";
    chip.classList.toggle("wb-bad", Boolean(o && !o.meets_target));
    const summary = o ? `<p id="wb-kpi-overall">期间上报 <b>${o.total}</b> 件，网格/社区结案 <b>${o.closed_low_level}</b> 件，` +
      `结案率 <b class="${o.meets_target ? "" : "wb-error"}">${pct(o.low_level_rate)}</b>（目标 ≥ ${target}）；` +
      `未结 ${o.open}，超期 ${o.overdue_open}，上交 ${o.escalated}</p>` : "<p>期间没有上报事件 (nothing reported)</p>";
    element.innerHTML = "<h2>考核指标 <small>KPIs</small></h2><form class=\"wb-row\" id=\"wb-kpi-form\">" +
      `<select name="days" aria-label="期间 (period)">${options(PERIODS, state.days)}</select>` +
      `<select name="by" aria-label="汇总 (by)">${options(BY, state.by)}</select></form>${summary}` +
      `<p class="wb-hint">${esc(answer.definition)}</p>${tableHtml(answer)}`;
  }

  element.addEventListener("change", (event) => {
    const form = event.target.form;
    if (!form) return;
    state.by = form.elements.by.value;
    state.days = form.elements.days.value;
    load();
  });
  return {load, state};
}
