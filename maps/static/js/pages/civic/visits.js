// 入户走访 on the civic staff desk: log a visit (building, household, day, 六提六知, what was learned, follow-ups
// that become an incident, an order or a ledger update), the grid's coverage, its buildings by last visit and
// the visit records (a read of personal data, audited by the server).

import {esc} from "gridmap/shared/html.js";
import {api, say} from "gridmap/pages/civic/api.js";
import {byId, fillSelect, intOf, percent, today} from "gridmap/pages/civic/dom.js";

let config = null;

function drawCoverage() {
  const grid = byId("v-grid").value;
  const rows = config.grids.filter((g) => g.code === grid || !grid);
  byId("v-coverage").tBodies[0].innerHTML = rows.map((g) => `<tr><td>${esc(g.name || g.code)}</td>`
    + `<td>${esc(g.households)}</td><td>${esc(g.visited)}</td><td>${esc(percent(g.share))}</td></tr>`).join("");
}

async function loadBuildings() {
  const grid = byId("v-grid").value;
  const answer = await api(`/api/v1/visits/buildings?grid=${encodeURIComponent(grid)}`);
  if (byId("v-grid").value !== grid) return;  // another grid was chosen meanwhile
  const buildings = answer.ok ? answer.body.buildings : [];
  fillSelect(byId("v-building"), buildings.map((b) => ({value: b.id, label: `${b.name || "楼栋 " + b.id}（${b.households}户）`})));
  const days = intOf(byId("v-days")) || config.staleDays;
  const stale = buildings.filter((b) => b.days_since === null || b.days_since > days);
  byId("v-stale").textContent = String(stale.length);
  byId("v-buildings").tBodies[0].innerHTML = buildings.map((b) => `<tr class="${stale.includes(b) ? "stale" : ""}">`
    + `<td>${esc(b.name || b.id)}</td><td>${esc(b.households)}</td><td>${esc(b.last_visited || "从未走访")}</td></tr>`)
    .join("");
}

function followUps() {
  const ups = [];
  if (byId("fu-incident").checked) {
    ups.push({kind: "incident", category: byId("fu-incident-cat").value, description: byId("fu-incident-text").value});
  }
  if (byId("fu-order").checked) {
    ups.push({kind: "order", category: byId("fu-order-cat").value, description: byId("fu-order-text").value});
  }
  if (byId("fu-ledger").checked) {
    const counts = {};
    for (const key of ["persons", "households", "units"]) {
      const value = intOf(byId(`fu-ledger-${key}`));
      if (value !== null) counts[key] = value;
    }
    ups.push({kind: "ledger", counts: {[byId("fu-ledger-kind").value]: counts}});
  }
  return ups;
}

function outcome(visit) {
  const parts = visit.follow_ups.map((f) => (f.kind === "incident" ? `事件 #${f.incident_id}`
    : f.kind === "order" ? `服务单 #${f.order_id}` : `台账 ${f.ledger_kinds.join("、")}`));
  return `已保存走访 #${visit.id}（${visit.household}，${visit.visited_on}）` + (parts.length ? "；已生成：" + parts.join("，") : "");
}

async function submitVisit(event) {
  event.preventDefault();
  const knows = [...byId("v-knows").querySelectorAll("input:checked")].map((i) => i.value);
  const body = {building_id: Number(byId("v-building").value), household: byId("v-household").value.trim(),
    visited_on: byId("v-date").value, knows, notes: byId("v-notes").value || null, follow_ups: followUps()};
  const answer = await api("/api/v1/visits", {method: "POST", body});
  say(byId("visit-msg"), answer, answer.ok ? outcome(answer.body) : "");
  if (!answer.ok) return;
  const grid = config.grids.find((g) => g.code === answer.body.grid_code);
  const coverage = await api(`/api/v1/visits/coverage?unit=${encodeURIComponent(answer.body.grid_code)}`);
  if (grid && coverage.ok && coverage.body.grids.length) {
    Object.assign(grid, {visited: coverage.body.grids[0].visited_households, share: coverage.body.grids[0].share});
  }
  drawCoverage();
  await loadBuildings();
}

async function loadVisits() {
  const grid = byId("v-grid").value;
  const answer = await api(`/api/v1/visits?grid=${encodeURIComponent(grid)}`);
  const list = byId("v-list");
  if (!answer.ok) {
    list.innerHTML = `<li class="bad">${esc(answer.body && answer.body.error ? answer.body.error.message : "无法读取")}</li>`;
    return;
  }
  list.innerHTML = answer.body.visits.map((v) => `<li><b>${esc(v.visited_on)}</b> ${esc(v.household)} · `
    + `${esc(v.knows_zh.join("、"))}<br>${esc(v.notes || "")}`
    + `${v.follow_ups.length ? "<br>后续：" + esc(v.follow_ups.map((f) => f.summary).join("；")) : ""}</li>`).join("")
    || "<li>本网格还没有走访记录</li>";
}

/** Wire the visits tab. */
export function startVisits(setup) {
  config = setup;
  fillSelect(byId("v-grid"), setup.grids.map((g) => ({value: g.code, label: `${g.name || ""} ${g.code}`})));
  byId("v-knows").insertAdjacentHTML("beforeend", setup.knows.map((k) => `<label class="check">`
    + `<input type="checkbox" value="${esc(k.code)}"> ${esc(k.zh)}</label>`).join(""));
  fillSelect(byId("fu-incident-cat"), setup.incidentCategories.map((c) => ({value: c.code, label: c.zh})));
  fillSelect(byId("fu-order-cat"), setup.orderCategories.map((c) => ({value: c.code, label: c.zh})));
  fillSelect(byId("fu-ledger-kind"), setup.ledgerKinds.map((c) => ({value: c.code, label: c.zh})));
  byId("v-date").value = today();
  byId("v-month").textContent = setup.month || "";
  byId("v-days").value = String(setup.staleDays);
  byId("v-grid").addEventListener("change", () => { drawCoverage(); loadBuildings(); byId("v-list").innerHTML = ""; });
  byId("v-days").addEventListener("change", loadBuildings);
  byId("visit-form").addEventListener("submit", submitVisit);
  byId("v-load").addEventListener("click", loadVisits);
  drawCoverage();
  return setup.grids.length ? loadBuildings() : Promise.resolve();
}
