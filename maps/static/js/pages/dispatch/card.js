// One incident: what, where, who has it and why, the actions its state and the user's role allow (the server
// says which: ``allowed_actions``), each with what it needs (a person of the grid, a new deadline, a note),
// and the event history.

import {esc} from "gridmap/shared/html.js";
import {badges, holder, localInput, shortTime} from "gridmap/pages/dispatch/format.js";

const PERSON_ACTIONS = new Set(["dispatch", "reassign"]);

function factsHtml(inc) {
  const grid = inc.grid ? `${esc(inc.grid.name || "")}（${esc(inc.grid.code)}）` : "无网格 (no grid)";
  const why = (inc.assignment && inc.assignment.dispatch && inc.assignment.dispatch.reason) || "";
  const esc2 = inc.assignment && inc.assignment.escalation;
  const reporter = inc.reporter ? `${esc(inc.reporter.name || "—")} ${esc(inc.reporter.phone || "")}` : null;
  const rows = [
    ["状态 state", `${badges(inc)} ${esc(inc.level_zh)}层级`], ["网格 grid", grid],
    ["处置 holder", `${holder(inc)}${inc.assignee && inc.assignee.public_phone ? " " + esc(inc.assignee.public_phone) : ""}`],
    ["派遣依据 why", esc(why)], ["上报接收 escalation", esc2 ? esc(esc2.reason) : null],
    ["时限 due", shortTime(inc.due_at)], ["上报 reported", `${shortTime(inc.created_at)} · ${esc(inc.channel_zh || "")}`],
    ["描述 description", esc(inc.description || "")], ["来电人 caller", reporter],
  ];
  return "<table class=\"wb-kv\">" + rows.filter(([, v]) => v).map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`)
    .join("") + "</table>";
}

function eventsHtml(events) {
  return "<ol class=\"wb-events\" id=\"wb-events\">" + events.map((e) => `<li><b>${esc(e.to_state_zh)}</b> ` +
    `<span class="wb-meta">${shortTime(e.at)} · ${esc(e.actor || "")} · ${esc(e.level_zh || "")}</span><br>` +
    `${esc(e.note || "")}</li>`).join("") + "</ol>";
}

function candidatesHtml(candidates) {
  if (!candidates.length) return "<div class=\"wb-error\">没有可派人员：请先登记网格人员或上报接收人 (nobody to send it to)</div>";
  const options = candidates.map((c) => `<option value="${c.person_id}"${c.suggested ? " selected" : ""}>` +
    `${esc(c.name)}（${esc(c.role_zh || "")}${c.where === "grid" ? "·本网格" : ""}）在办 ${c.open_tasks}` +
    `${c.suggested ? " · 建议 suggested" : ""}${c.current ? " · 当前 current" : ""}</option>`).join("");
  return `<label>派给 (to)<select name="assignee_id">${options}</select></label>`;
}

function actionForm(action, label, inc, candidates) {
  let extra = "";
  if (PERSON_ACTIONS.has(action)) extra = candidatesHtml(candidates);
  if (action === "postpone") {
    const due = inc.due_at ? new Date(inc.due_at) : new Date();
    const later = new Date(due.getTime() + 24 * 3600 * 1000);
    extra = `<label>新的时限 (new deadline)<input type="datetime-local" name="due" value="${localInput(later)}" required></label>`;
  }
  return `<form class="wb-form" id="wb-act-form" data-action="${action}">${extra}` +
    `<label>说明 (note)<textarea name="note" rows="2" maxlength="2000"></textarea></label>` +
    `<button type="submit" class="wb-primary">确认${esc(label)} (confirm)</button></form>`;
}

function transitionBody(form) {
  const data = new FormData(form);
  const body = {action: form.dataset.action, note: (data.get("note") || "").trim() || null};
  if (data.get("assignee_id")) body.assignee_id = Number(data.get("assignee_id"));
  // the new deadline as typed (the browser's local time), sent with its time zone
  if (data.get("due")) body.due_at = new Date(data.get("due")).toISOString();
  return body;
}

/** The incident card in ``element``: {open(id), reload(), state}; ``onChanged(id)`` after an action. */
export function createCard({api, config, element, onChanged}) {
  const state = {id: null, incident: null, candidates: [], opened: 0, acted: 0};

  async function open(id) {
    state.id = id;
    element.innerHTML = `<p class="wb-hint">正在载入 #${id}… (loading)</p>`;
    const [one, events] = await Promise.all([api.get(`/api/v1/incidents/${id}`),
                                             api.get(`/api/v1/incidents/${id}/events`)]);
    if (state.id !== id) return;
    if (!one.ok || !events.ok) {
      element.innerHTML = `<p class="wb-error">${esc(api.errorMessage(one.ok ? events : one))}</p>`;
      return;
    }
    const inc = one.body;
    const wantsPeople = inc.allowed_actions.some((a) => PERSON_ACTIONS.has(a)) && config.canDispatch;
    const people = wantsPeople ? await api.get(`/api/v1/incidents/${id}/candidates`) : null;
    state.incident = inc;
    state.candidates = people && people.ok ? people.body : [];
    render(inc, events.body);
    state.opened += 1;
  }

  function render(inc, events) {
    const buttons = inc.allowed_actions.map((a) => `<button type="button" data-act="${a}">` +
      `${esc(config.actions[a] || a)}</button>`).join("") || "<span class=\"wb-meta\">无可执行操作 (no action)</span>";
    element.innerHTML = `<h2>#${inc.id} ${esc(inc.category_zh)}</h2>${factsHtml(inc)}` +
      `<h3>操作 (actions)</h3><div class="wb-actions" id="wb-actions">${buttons}</div><div id="wb-act"></div>` +
      `<div id="wb-act-msg" class="wb-msg"></div><h3>流转记录 (history)</h3>${eventsHtml(events)}`;
  }

  element.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-act]");
    if (!button || !state.incident) return;
    for (const b of element.querySelectorAll("button[data-act]")) b.classList.toggle("wb-on", b === button);
    const action = button.dataset.act;
    element.querySelector("#wb-act").innerHTML = actionForm(action, config.actions[action] || action,
                                                            state.incident, state.candidates);
  });

  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const body = transitionBody(form);
    form.querySelector("button[type=submit]").disabled = true;
    const answer = await api.post(`/api/v1/incidents/${state.id}/transitions`, body);
    const id = state.id;
    state.acted += 1;
    if (!answer.ok) {
      element.querySelector("#wb-act-msg").innerHTML = `<span class="wb-error">未执行 (not done)：${esc(api.errorMessage(answer))}</span>`;
      form.querySelector("button[type=submit]").disabled = false;
      return;
    }
    await open(id);
    element.querySelector("#wb-act-msg").innerHTML = `<span class="wb-ok">已${esc(config.actions[body.action])} (done)</span>`;
    onChanged(id);
  });

  return {open, reload: () => (state.id ? open(state.id) : null), state};
}
