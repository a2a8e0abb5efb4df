// 六步议事 on the civic staff desk: pick a topic of the area, move it through the six steps (who and when kept by
// the server), record a meeting of the council's 1+7+X members with who came, the vote on the topic against the
// quorum, publish the notice (公开公示) and link the follow-up incidents or orders (研究落实).

import {esc} from "gridmap/shared/html.js";
import {api, say} from "gridmap/pages/civic/api.js";
import {byId, fillSelect, intOf, today, when} from "gridmap/pages/civic/dom.js";

const state = {config: null, topic: null, meetingId: null, suggestions: []};

function stepZh(code) {
  const step = state.config.steps.find((s) => s.code === code);
  return step ? step.zh : code;
}

function voteLine(item) {
  const verdict = !item.quorate ? "不足法定人数" : item.passed ? "通过" : "未通过";
  const notice = item.notice_from
    ? ` · <a href="/deliberation/notices/${esc(item.id)}" target="_blank" rel="noopener">公示页</a>` : "";
  return `<li>表决：赞成 ${esc(item.votes_for)}，反对 ${esc(item.votes_against)}，弃权 ${esc(item.votes_abstain)}`
    + `（到会 ${esc(item.present)}）<b>${verdict}</b>${notice}</li>`;
}

function drawTopic(topic) {
  const steps = topic.steps.map((s) => `<li>${esc(when(s.at))} `
    + `${esc(s.to_zh)} · ${esc(s.actor)}${s.note ? " · " + esc(s.note) : ""}</li>`).join("");
  const tasks = topic.tasks.map((k) => `<li>${esc(k.title)} · ${k.incident_id ? "事件 #" + esc(k.incident_id) : ""}`
    + `${k.order_id ? "服务单 #" + esc(k.order_id) : ""} · ${k.done ? "已办结" : esc(k.state || "")}</li>`).join("");
  const links = topic.attachments.map((a) => `<li><a href="${esc(a.url)}" target="_blank" rel="noopener noreferrer">`
    + `${esc(a.title)}</a></li>`).join("");
  const contact = topic.proposer_phone ? `<p>提出人：${esc(topic.proposer_name || "")} ${esc(topic.proposer_phone)}</p>` : "";
  byId("t-detail").innerHTML = `<p>当前步骤：<b id="t-current">${esc(topic.step_zh)}</b> · 社区 ${esc(topic.community_code)}</p>`
    + contact + `<ol class="steps">${steps}</ol>` + (links ? `<ul id="t-links">${links}</ul>` : "")
    + (topic.votes.length ? `<ul id="t-votes">${topic.votes.map(voteLine).join("")}</ul>` : "")
    + (tasks ? `<h3>落实任务</h3><ul id="t-tasks">${tasks}</ul>` : "");
  const next = (state.config.steps.find((s) => s.code === topic.step) || {next: []}).next;
  fillSelect(byId("t-step"), next.map((code) => ({value: code, label: stepZh(code)})));
  byId("t-move").hidden = next.length === 0;
}

async function loadMembers(community) {
  const answer = await api(`/api/v1/deliberation/councils/${encodeURIComponent(community)}/members`);
  const members = answer.ok ? answer.body.members : [];
  byId("t-members").innerHTML = "<legend>参会成员（1+7+X，勾选到会者）</legend>" + (members.map((m) => `<label class="check">`
    + `<input type="checkbox" value="${esc(m.id)}" checked> ${esc(m.name)} · ${esc(m.role_zh)}（${esc(m.group)}）</label>`)
    .join("") || "<p>本社区议事会还没有成员</p>");
}

async function loadTopic() {
  const id = byId("t-topic").value;
  if (!id) return;
  const answer = await api(`/api/v1/deliberation/topics/${encodeURIComponent(id)}`);
  if (byId("t-topic").value !== id) return;  // another topic was chosen meanwhile
  if (!answer.ok) {
    say(byId("t-move-msg"), answer, "");
    return;
  }
  const changed = !state.topic || state.topic.community_code !== answer.body.community_code;
  state.topic = answer.body;
  drawTopic(answer.body);
  if (changed) await loadMembers(answer.body.community_code);
}

async function loadTopics(keep) {
  const unit = state.config.unit ? `?unit=${encodeURIComponent(state.config.unit)}` : "";
  const answer = await api(`/api/v1/deliberation/topics${unit}`);
  const topics = answer.ok ? answer.body.topics : [];
  fillSelect(byId("t-topic"), topics.map((t) => ({value: t.id, label: `#${t.id} ${t.title}（${t.step_zh}）`})));
  if (keep) byId("t-topic").value = String(keep);
  await loadTopic();
}

async function move(event) {
  event.preventDefault();
  const step = byId("t-step").value;
  const answer = await api(`/api/v1/deliberation/topics/${state.topic.id}/steps`, {method: "POST",
    body: {step, note: byId("t-note").value || null}});
  say(byId("t-move-msg"), answer, `已推进到「${stepZh(step)}」`);
  if (answer.ok) await loadTopics(state.topic.id);
}

async function meeting(event) {
  event.preventDefault();
  const boxes = [...byId("t-members").querySelectorAll("input[type=checkbox]")];
  const body = {community_code: state.topic.community_code, title: byId("t-title").value, held_on: byId("t-date").value,
    place: byId("t-place").value || null, member_ids: boxes.map((b) => Number(b.value)),
    absent_ids: boxes.filter((b) => !b.checked).map((b) => Number(b.value)), quorum: intOf(byId("t-quorum"))};
  const answer = await api("/api/v1/deliberation/meetings", {method: "POST", body});
  if (answer.ok) state.meetingId = answer.body.id;
  say(byId("t-meeting-msg"), answer, answer.ok ? `已记录会议 #${answer.body.id}：应到 ${answer.body.invited} 人，`
    + `实到 ${answer.body.present} 人，法定人数 ${answer.body.quorum}` : "");
}

async function vote(event) {
  event.preventDefault();
  if (!state.meetingId) {
    byId("t-vote-msg").textContent = "请先记录会议 (record the meeting first)";
    return;
  }
  const body = {topic_id: state.topic.id, votes_for: intOf(byId("t-for")) || 0,
    votes_against: intOf(byId("t-against")) || 0, votes_abstain: intOf(byId("t-abstain")) || 0,
    decision: byId("t-decision").value};
  const answer = await api(`/api/v1/deliberation/meetings/${state.meetingId}/votes`, {method: "POST", body});
  const item = answer.body || {};
  say(byId("t-vote-msg"), answer, !item.quorate ? "已记录：不足法定人数，表决无效" : item.passed ? "已记录：表决通过" : "已记录：未通过");
  if (answer.ok) await loadTopics(state.topic.id);
}

async function task(event) {
  event.preventDefault();
  const body = {title: byId("t-task-title").value, incident_id: intOf(byId("t-task-incident")),
    order_id: intOf(byId("t-task-order"))};
  const answer = await api(`/api/v1/deliberation/topics/${state.topic.id}/tasks`, {method: "POST", body});
  say(byId("t-task-msg"), answer, answer.ok ? `已关联任务 #${answer.body.id}` : "");
  if (answer.ok) await loadTopics(state.topic.id);
}

async function attach(event) {
  event.preventDefault();
  const answer = await api(`/api/v1/deliberation/topics/${state.topic.id}/attachments`, {method: "POST",
    body: {title: byId("t-attach-title").value, url: byId("t-attach-url").value}});
  say(byId("t-attach-msg"), answer, "已添加附件");
  if (answer.ok) await loadTopic();
}

async function suggest() {
  const answer = await api("/api/v1/deliberation/suggestions");
  const rows = answer.ok ? answer.body.suggestions : [];
  state.suggestions = rows;
  byId("t-suggestions").innerHTML = rows.map((r, i) => `<li>${esc(r.title)} · 网格 ${esc(r.grid_code)} `
    + `<button type="button" data-suggestion="${i}">立为议题</button></li>`).join("") || "<li>没有反复发生的事件</li>";
  if (!answer.ok) say(byId("t-suggest-msg"), answer, "");
}

async function adopt(event) {
  const button = event.target.closest("button[data-suggestion]");
  if (!button) return;
  const found = state.suggestions[Number(button.dataset.suggestion)];
  const answer = await api("/api/v1/deliberation/topics", {method: "POST", body: {title: found.title,
    origin: "incident_cluster", lon: found.lon, lat: found.lat, incident_ids: found.incident_ids,
    description: `由 ${found.n} 起「${found.category_zh}」事件聚类生成 (suggested from incidents)`}});
  say(byId("t-suggest-msg"), answer, answer.ok ? `已立为议题 #${answer.body.id}` : "");
  if (!answer.ok) return;
  await loadTopics(answer.body.id);
  await suggest();
}

async function seat(event) {
  event.preventDefault();
  const community = state.topic ? state.topic.community_code : (state.config.communities[0] || {}).code;
  const answer = await api(`/api/v1/deliberation/councils/${encodeURIComponent(community)}/members`, {method: "POST",
    body: {name: byId("t-seat-name").value.trim(), role: byId("t-seat-role").value}});
  say(byId("t-seat-msg"), answer, answer.ok ? `已增补：${answer.body.name}（社区 ${community}）` : "");
  if (answer.ok) await loadMembers(community);
}

/** Wire the deliberation tab (topics are loaded when the tab is first opened). */
export function startTopics(setup) {
  state.config = setup;
  byId("t-date").value = today();
  byId("t-topic").addEventListener("change", loadTopic);
  byId("t-move").addEventListener("submit", move);
  byId("t-meeting").addEventListener("submit", meeting);
  byId("t-vote").addEventListener("submit", vote);
  byId("t-task").addEventListener("submit", task);
  byId("t-attach").addEventListener("submit", attach);
  byId("t-suggest").addEventListener("click", suggest);
  byId("t-suggestions").addEventListener("click", adopt);
  byId("t-seat").addEventListener("submit", seat);
  fillSelect(byId("t-seat-role"), Object.entries(setup.roles).map(([code, zh]) => ({value: code, label: zh})));
  return () => loadTopics(null);
}
