// 进度查询页 (/maps/track/{token}): what a resident sent, where it stands, who took it, and the rating once done.
// Everything comes from /api/v1/track/{token}; problems with the rating are shown under their field.

import {esc} from "gridmap/shared/html.js";
import {errorMessage, jsonHeaders, requestJson} from "gridmap/shared/http.js";

function stepsHtml(steps) {
  return "<ol class=\"steps\">" + steps.map((s) => `<li>${esc(s.zh)}<time>${esc(s.at)}</time></li>`).join("")
    + "</ol>";
}

/** The view of one tracked item (the API's answer) as HTML. */
export function viewHtml(item) {
  const taker = item.taker ? `<p class="taker">${esc(item.taker.role_zh)}：<b>${esc(item.taker.name)}</b></p>` : "";
  const rating = item.rating ? `<p class="rated">您的评价：${"★".repeat(item.rating)}</p>` : "";
  return `<p class="kind">${esc(item.kind_zh)} · ${esc(item.sent_at)}${item.place ? " · " + esc(item.place) : ""}</p>`
    + `<h2>${esc(item.title)}</h2>${item.detail ? `<p>${esc(item.detail)}</p>` : ""}`
    + `<p><span class="state${item.done ? " done" : ""}" id="state">${esc(item.state_zh)}</span></p>`
    + (item.due && !item.done ? `<p class="muted">办理时限：${esc(item.due)}</p>` : "")
    + taker + rating + stepsHtml(item.steps);
}

function showFieldErrors(form, fields) {
  for (const el of form.querySelectorAll(".err[data-for]")) el.textContent = (fields || {})[el.dataset.for] || "";
}

async function load(token, view, form) {
  const answer = await requestJson("/api/v1/track/" + encodeURIComponent(token));
  if (!answer.ok) {
    view.innerHTML = `<p class="err" id="missing">${esc(errorMessage(answer))}</p>`;
    return null;
  }
  view.innerHTML = viewHtml(answer.body);
  form.hidden = !answer.body.can_rate;
  document.body.dataset.state = answer.body.state;
  return answer.body;
}

function wireRating(token, view, form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = form.querySelector("input[name=rating]:checked");
    const message = form.querySelector("#rate-msg");
    if (!chosen) {
      showFieldErrors(form, {rating: "请选择满意程度"});
      return;
    }
    const body = {rating: Number(chosen.value), feedback: form.feedback.value.trim() || null};
    const answer = await requestJson(`/api/v1/track/${encodeURIComponent(token)}/rating`,
      {method: "POST", body, headers: jsonHeaders("")});
    const detail = answer.body && answer.body.error && answer.body.error.detail;
    showFieldErrors(form, detail && detail.fields);
    message.textContent = answer.ok ? "" : errorMessage(answer);
    if (answer.ok) await load(token, view, form);
  });
}

/** Show the item of ``token`` and wire the rating form. */
export function start(token) {
  const view = document.getElementById("view");
  const form = document.getElementById("rate");
  wireRating(token, view, form);
  return load(token, view, form);
}

if (document.body && document.body.dataset.token) start(document.body.dataset.token);
