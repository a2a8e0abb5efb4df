// 事项准入 on the civic staff desk: incidents and orders whose category is outside the district's list, flagged
// by the database when they are created or recategorised; dispatchers approve or refuse each once, with a note.

import {esc} from "gridmap/shared/html.js";
import {api, say} from "gridmap/pages/civic/api.js";
import {byId} from "gridmap/pages/civic/dom.js";

const state = {config: null, names: {}};

function line(flag) {
  const what = flag.subject_type === "incident" ? "事件" : "服务单";
  const buttons = flag.state === "pending" && state.config.canDecide
    ? `<button type="button" data-id="${esc(flag.id)}" data-approve="1">批准</button>`
      + `<button type="button" data-id="${esc(flag.id)}" data-approve="0">不予准入</button>` : "";
  return `<li data-flag="${esc(flag.id)}"><b>${what} #${esc(flag.subject_id)}</b> · `
    + `${esc(state.names[flag.subject_type + ":" + flag.category] || flag.category)} · ${esc(flag.community_code)} · `
    + `<span class="state">${esc(flag.state_zh)}</span>${flag.note ? " · " + esc(flag.note) : ""} ${buttons}</li>`;
}

async function load() {
  const params = new URLSearchParams();
  if (state.config.unit) params.set("unit", state.config.unit);
  if (byId("m-state").value) params.set("state", byId("m-state").value);
  const answer = await api(`/api/v1/matters/flags?${params}`);
  if (!answer.ok) {
    say(byId("m-msg"), answer, "");
    return;
  }
  byId("m-flags").innerHTML = answer.body.flags.map(line).join("") || "<li>没有此类事项</li>";
}

async function decide(event) {
  const button = event.target.closest("button[data-id]");
  if (!button) return;
  const approve = button.dataset.approve === "1";
  const answer = await api(`/api/v1/matters/flags/${encodeURIComponent(button.dataset.id)}/decision`, {method: "POST",
    body: {approve, note: byId("m-note").value || null}});
  say(byId("m-msg"), answer, answer.ok ? `#${answer.body.subject_id}：${answer.body.state_zh}` : "");
  if (answer.ok) await load();
}

/** Wire the matters tab (the flags are loaded when the tab is first opened). */
export function startMatters(setup) {
  state.config = setup;
  for (const c of setup.incidentCategories) state.names["incident:" + c.code] = c.zh;
  for (const c of setup.orderCategories) state.names["order:" + c.code] = c.zh;
  byId("m-state").addEventListener("change", load);
  byId("m-flags").addEventListener("click", decide);
  return load;
}
