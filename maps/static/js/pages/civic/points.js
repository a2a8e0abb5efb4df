// 活动与积分 on the civic staff desk: sign a registered volunteer up for an activity, take attendance (the
// server awards the activity's points once), redeem points at the 积分超市 (never below zero; every change with
// its reason in the ledger shown below).

import {esc} from "gridmap/shared/html.js";
import {api, say} from "gridmap/pages/civic/api.js";
import {byId, fillSelect, intOf, when} from "gridmap/pages/civic/dom.js";

const state = {config: null, registrations: []};

function unitQuery() {
  return state.config.unit ? `?unit=${encodeURIComponent(state.config.unit)}` : "";
}

function registrationsOf(community) {
  return state.registrations.filter((r) => !community || r.community_code === community)
    .map((r) => ({value: r.id, label: `${r.name}${r.display_name ? "（" + r.display_name + "）" : ""} #${r.id}`}));
}

function activityCommunity() {
  const option = byId("p-activity").selectedOptions[0];
  return option ? option.dataset.community : "";
}

async function loadSignups() {
  const id = byId("p-activity").value;
  fillSelect(byId("p-reg"), registrationsOf(activityCommunity()));
  if (!id) return;
  const answer = await api(`/api/v1/volunteers/activities/${encodeURIComponent(id)}/signups`);
  if (byId("p-activity").value !== id) return;  // another activity was chosen meanwhile
  const rows = answer.ok ? answer.body.signups : [];
  byId("p-signups").innerHTML = rows.map((s) => `<label class="check"><input type="checkbox" value="${esc(s.registration_id)}"`
    + `${s.attended ? " checked" : ""}> ${esc(s.name)} #${esc(s.registration_id)}</label>`).join("") || "<p>还没有人报名</p>";
}

async function loadActivities() {
  const answer = await api(`/api/v1/volunteers/activities${unitQuery()}`);
  const rows = answer.ok ? answer.body.activities : [];
  byId("p-activity").innerHTML = rows.map((a) => `<option value="${esc(a.id)}" data-community="${esc(a.community_code)}">`
    + `${esc(when(a.starts_at))} ${esc(a.title)}（余 ${esc(a.places_left)} 名额，${esc(a.points)} 分）</option>`).join("");
  await loadSignups();
}

async function loadLedger() {
  const id = byId("p-redeem-reg").value;
  if (!id) return;
  const answer = await api(`/api/v1/volunteers/registrations/${encodeURIComponent(id)}/points`);
  if (!answer.ok || byId("p-redeem-reg").value !== id) return;  // another person was chosen meanwhile
  byId("p-balance").textContent = String(answer.body.balance);
  byId("p-ledger").tBodies[0].innerHTML = answer.body.entries.map((e) => `<tr><td>${esc(when(e.at))}</td>`
    + `<td>${e.delta > 0 ? "+" : ""}${esc(e.delta)}</td><td>${esc(e.balance_after)}</td><td>${esc(e.reason)}</td></tr>`).join("");
}

function rewardCommunity() {
  const option = byId("p-reward").selectedOptions[0];
  return option ? option.dataset.community : "";
}

async function loadShelf() {
  // redrawn after a redemption (stock changes): the reward and the person chosen stay chosen
  const [reward, person] = [byId("p-reward").value, byId("p-redeem-reg").value];
  const answer = await api(`/api/v1/volunteers/rewards${unitQuery()}`);
  const rows = answer.ok ? answer.body.rewards : [];
  byId("p-reward").innerHTML = rows.map((r) => `<option value="${esc(r.id)}" data-community="${esc(r.community_code)}">`
    + `${esc(r.name)}（${esc(r.cost)} 分，库存 ${esc(r.stock)}）</option>`).join("");
  if (reward) byId("p-reward").value = reward;
  fillSelect(byId("p-redeem-reg"), registrationsOf(rewardCommunity()));
  if (person) byId("p-redeem-reg").value = person;
  await loadLedger();
}

async function signUp() {
  const answer = await api(`/api/v1/volunteers/activities/${encodeURIComponent(byId("p-activity").value)}/signups`,
    {method: "POST", body: {registration_id: Number(byId("p-reg").value)}});
  say(byId("p-signup-msg"), answer, "已报名");
  if (answer.ok) await loadSignups();
}

async function attend() {
  const attended = [...byId("p-signups").querySelectorAll("input:checked")].map((b) => Number(b.value));
  const answer = await api(`/api/v1/volunteers/activities/${encodeURIComponent(byId("p-activity").value)}/attendance`,
    {method: "POST", body: {attended}});
  say(byId("p-attend-msg"), answer, answer.ok ? `已签到 ${answer.body.attended} 人，${answer.body.points_awarded_to} 人获得积分` : "");
  if (answer.ok) await loadLedger();
}

async function redeem(event) {
  event.preventDefault();
  const answer = await api(`/api/v1/volunteers/rewards/${encodeURIComponent(byId("p-reward").value)}/redemptions`,
    {method: "POST", body: {registration_id: Number(byId("p-redeem-reg").value), note: byId("p-redeem-note").value || null}});
  say(byId("p-redeem-msg"), answer, answer.ok ? `已兑换，余额 ${answer.body.balance} 分` : "");
  await (answer.ok ? loadShelf() : loadLedger());
}

function gridsOf() {
  const community = byId("p-community").value;
  fillSelect(byId("p-grid"), state.config.grids.filter((g) => g.community === community)
    .map((g) => ({value: g.code, label: `${g.name || ""} ${g.code}`})), "（不填）");
}

async function register(event) {
  event.preventDefault();
  const text = (id) => byId(id).value.trim() || null;
  const body = {kind: byId("p-kind").value, name: byId("p-name").value.trim(), community_code: byId("p-community").value,
    grid_code: text("p-grid"), display_name: text("p-display"), organisation: text("p-org"), phone: text("p-phone")};
  const answer = await api("/api/v1/volunteers/registrations", {method: "POST", body});
  say(byId("p-register-msg"), answer, answer.ok ? `已登记报到 #${answer.body.id}` : "");
  if (!answer.ok) return;
  state.registrations.push(answer.body);
  fillSelect(byId("p-reg"), registrationsOf(activityCommunity()));
  byId("p-register").reset();
  gridsOf();
}

function withZone(local) {
  // a datetime-local value ("2026-12-05T09:00") in the browser's time zone, as the API wants it (with offset)
  const minutes = -new Date(local).getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  return `${local}:00${sign}${pad(minutes / 60)}:${pad(minutes % 60)}`;
}

async function publish(event) {
  event.preventDefault();
  const body = {community_code: byId("p-new-community").value, title: byId("p-new-title").value.trim(),
    place: byId("p-new-place").value.trim() || null, starts_at: withZone(byId("p-new-start").value),
    ends_at: withZone(byId("p-new-end").value), capacity: intOf(byId("p-new-capacity")),
    points: intOf(byId("p-new-points"))};
  const answer = await api("/api/v1/volunteers/activities", {method: "POST", body});
  say(byId("p-new-msg"), answer, answer.ok ? `已发布活动 #${answer.body.id}` : "");
  if (!answer.ok) return;
  await loadActivities();
  byId("p-activity").value = String(answer.body.id);
  await loadSignups();
}

async function adjust() {
  const id = byId("p-redeem-reg").value;
  const answer = await api(`/api/v1/volunteers/registrations/${encodeURIComponent(id)}/points`, {method: "POST",
    body: {delta: intOf(byId("p-adjust-delta")), reason: byId("p-adjust-reason").value.trim()}});
  say(byId("p-adjust-msg"), answer, answer.ok ? `已调整，余额 ${answer.body.balance} 分` : "");
  await loadLedger();
}

/** Wire the points tab (its lists are loaded when the tab is first opened). */
export function startPoints(setup) {
  state.config = setup;
  byId("p-activity").addEventListener("change", loadSignups);
  byId("p-reward").addEventListener("change", () => {
    fillSelect(byId("p-redeem-reg"), registrationsOf(rewardCommunity()));
    loadLedger();
  });
  byId("p-redeem-reg").addEventListener("change", loadLedger);
  byId("p-signup").addEventListener("click", signUp);
  byId("p-attend").addEventListener("click", attend);
  byId("p-redeem").addEventListener("submit", redeem);
  fillSelect(byId("p-community"), setup.communities.map((c) => ({value: c.code, label: `${c.name} ${c.code}`})));
  gridsOf();
  byId("p-community").addEventListener("change", gridsOf);
  byId("p-register").addEventListener("submit", register);
  fillSelect(byId("p-new-community"), setup.communities.map((c) => ({value: c.code, label: `${c.name} ${c.code}`})));
  byId("p-new").addEventListener("submit", publish);
  byId("p-adjust").addEventListener("click", adjust);
  return async () => {
    const answer = await api(`/api/v1/volunteers/registrations${unitQuery()}`);
    state.registrations = answer.ok ? answer.body.registrations : [];
    await Promise.all([loadActivities(), loadShelf()]);
  };
}
