// 接警登记 (taking a call): the point (a click on the map, a place found by name, or typed coordinates in WGS84,
// GCJ-02 or BD-09), the category, channel and caller; before saving, POST /api/v1/incidents/preview says which
// grid, which person and why, and which open incidents of the same category are nearby.

import {esc} from "gridmap/shared/html.js";
import {queryString} from "gridmap/pages/dispatch/api.js";
import {shortTime} from "gridmap/pages/dispatch/format.js";

const DIGITS = 6;

/** "lon,lat" typed with a comma, a Chinese comma or spaces; null when it is not two numbers. */
export function parseCoords(text) {
  const parts = String(text || "").trim().split(/[\s,，;]+/).filter(Boolean).map(Number);
  return parts.length === 2 && parts.every(Number.isFinite) ? {lon: parts[0], lat: parts[1]} : null;
}

function who(dispatch) {
  if (dispatch.name) return `<b>${esc(dispatch.name)}</b>（${esc(dispatch.role_zh || dispatch.duty || "")}）`;
  if (dispatch.unit) return `<b>${esc(dispatch.unit)}</b>（包街责任单位 street unit）`;
  if (dispatch.rule === "duplicate") return "<b>不另派</b>（重复上报 duplicate）";
  return "<b class=\"wb-error\">待人工派遣 (nobody found: a dispatcher assigns it)</b>";
}

function duplicatesHtml(incident) {
  if (!incident.duplicates.length) return "<div class=\"wb-meta\">附近 250 米内没有同类未结事件 (no open duplicates nearby)</div>";
  const rows = incident.duplicates.map((d) => `<li><a href="#" data-open="${d.id}">#${d.id}</a> ` +
    `${d.distance_m} 米 · ${esc(d.state_zh)} · ${d.age_h} 小时前</li>`).join("");
  const linked = incident.duplicate_of ? `<div class="wb-error">将关联为 #${incident.duplicate_of} 的重复上报，不另行派遣 ` +
    "(will be linked as a duplicate)</div>" : "";
  return `${linked}<div>附近同类未结事件 (open duplicates nearby)：</div><ul id="wb-dups">${rows}</ul>`;
}

/** The preview box: grid, person and rule, deadline, duplicates. */
export function previewHtml(answer) {
  const i = answer.incident;
  const grid = answer.grid ? `${esc(answer.grid.name)}（${esc(answer.grid.code)}）` : "<b class=\"wb-error\">无网格</b>";
  const community = answer.community ? esc(answer.community.name || answer.community.code) : "—";
  const manual = i.dispatch.manual ? " wb-warn" : "";
  return `<div class="wb-box${manual}" id="wb-preview-box"><table class="wb-kv">` +
    `<tr><th>网格 grid</th><td id="wb-pv-grid">${grid}</td></tr>` +
    `<tr><th>社区 community</th><td>${community}</td></tr>` +
    `<tr><th>定位 located by</th><td>${esc(answer.assignment.method_zh)}</td></tr>` +
    `<tr><th>派给 to</th><td id="wb-pv-who">${who(i.dispatch)}</td></tr>` +
    `<tr><th>依据 why</th><td id="wb-pv-why">${esc(i.dispatch.reason)}</td></tr>` +
    `<tr><th>时限 due</th><td>${shortTime(i.due_at)}</td></tr></table>${duplicatesHtml(i)}</div>`;
}

function bodyOf(form, point) {
  const data = new FormData(form);
  const text = (name) => (data.get(name) || "").trim() || null;
  return {category: data.get("category"), lon: point.lon, lat: point.lat, crs: point.crs,
          channel: data.get("channel"), reporter_name: text("reporter_name"),
          reporter_phone: text("reporter_phone"), address: text("address"), description: text("description")};
}

/**
 * The call-taking form: {setPoint(lon, lat, crs), state}. ``els``: {form, search, searchGo, places, coordsGo,
 * preview, save, msg}; ``onSaved(id)`` after a report is stored; ``onOpen(id)`` to open a nearby incident.
 */
export function createIntake({api, config, els, mapView, onSaved, onOpen}) {
  const f = els.form.elements;
  for (const c of config.categories) f.category.add(new Option(`${c.zh} (${c.code})`, c.code));
  for (const c of config.channels) f.channel.add(new Option(c.zh, c.code));
  f.channel.value = "phone";
  f.crs.value = config.crs;
  const state = {point: null, preview: null, previews: 0, saved: [], key: crypto.randomUUID(), seq: 0};

  async function preview() {
    if (!state.point || !f.category.value) return;
    const seq = ++state.seq;
    els.save.disabled = true;
    const answer = await api.post("/api/v1/incidents/preview" + queryString({display_crs: config.crs}),
                                  bodyOf(els.form, state.point));
    if (seq !== state.seq) return;  // a later change made this answer stale
    state.previews += 1;
    if (!answer.ok) {
      state.preview = null;
      els.preview.innerHTML = `<div class="wb-box wb-warn wb-error">${esc(api.errorMessage(answer))}</div>`;
      return;
    }
    state.preview = answer.body;
    els.preview.innerHTML = previewHtml(answer.body);
    const shown = answer.body.display_point;
    if (shown) mapView.showPick(shown.lon, shown.lat);
    els.save.disabled = false;
  }

  function setPoint(lon, lat, crs = config.crs) {
    state.point = {lon: Number(lon.toFixed(DIGITS)), lat: Number(lat.toFixed(DIGITS)), crs};
    f.coords.value = `${state.point.lon},${state.point.lat}`;
    f.crs.value = crs;
    if (crs === config.crs) mapView.showPick(state.point.lon, state.point.lat);
    return preview();
  }

  wireSearch({api, config, els, setPoint, form: els.form});
  wireSave({api, config, els, state, onSaved, reset});
  wireCoords({els, state, mapView, setPoint});
  for (const name of ["category", "channel"]) f[name].addEventListener("change", preview);
  els.preview.addEventListener("click", (event) => {
    const link = event.target.closest("[data-open]");
    if (link) { event.preventDefault(); onOpen(Number(link.dataset.open)); }
  });

  function reset() {
    for (const name of ["reporter_name", "reporter_phone", "address", "description", "coords"]) f[name].value = "";
    state.point = null;
    state.preview = null;
    state.key = crypto.randomUUID();
    els.preview.innerHTML = "";
    els.save.disabled = true;
    mapView.clearPick();
  }

  return {setPoint, preview, reset, state};
}

function wireCoords({els, state, mapView, setPoint}) {
  const f = els.form.elements;
  els.coordsGo.addEventListener("click", () => {
    const typed = parseCoords(f.coords.value);
    if (typed) {
      setPoint(typed.lon, typed.lat, f.crs.value);
      return;
    }
    // the earlier point is not what the dispatcher now means: nothing to save until a new one is given
    state.point = null;
    state.preview = null;
    state.seq += 1;
    els.save.disabled = true;
    mapView.clearPick();
    els.preview.innerHTML = "<div class=\"wb-box wb-warn wb-error\">坐标格式：经度,纬度 (lon,lat)</div>";
  });
}

function wireSearch({api, config, els, setPoint, form}) {
  async function search() {
    const q = els.search.value.trim();
    if (!q) return;
    const answer = await api.get("/api/v1/incidents/places" + queryString({q, crs: config.crs}));
    if (!answer.ok) {
      els.places.innerHTML = `<li class="wb-error">${esc(api.errorMessage(answer))}</li>`;
      return;
    }
    els.places.innerHTML = answer.body.items.map((p, k) => `<li data-k="${k}">${esc(p.kind_zh)} · ` +
      `<b>${esc(p.name)}</b> <span class="wb-meta">${esc(p.detail || "")}</span></li>`).join("") ||
      "<li class=\"wb-meta\">没有找到 (nothing found)</li>";
    els.places.onclick = (event) => {
      const li = event.target.closest("li[data-k]");
      if (!li) return;
      const place = answer.body.items[Number(li.dataset.k)];
      form.elements.address.value = place.name;
      els.places.innerHTML = "";
      setPoint(place.lon, place.lat, config.crs);
    };
  }
  els.searchGo.addEventListener("click", search);
  els.search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); search(); }
  });
}

function wireSave({api, config, els, state, onSaved, reset}) {
  els.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!state.preview) return;
    els.save.disabled = true;
    const answer = await api.post("/api/v1/incidents", bodyOf(els.form, state.point), {"Idempotency-Key": state.key});
    if (!answer.ok) {
      els.msg.className = "wb-msg wb-error";
      els.msg.textContent = "未保存 (not saved)：" + api.errorMessage(answer);
      els.save.disabled = false;
      return;
    }
    const incident = answer.body.incident;
    let note = `已保存 #${incident.id} (saved)`;
    if (config.canRegister && !incident.duplicate_of) {
      const registered = await api.post(`/api/v1/incidents/${incident.id}/transitions`,
                                        {action: "register", note: "接警立案 (registered on intake)"});
      note += registered.ok ? "，已立案 (registered)" : "，立案未成功：" + api.errorMessage(registered);
    }
    state.saved.push(incident.id);
    els.msg.className = "wb-msg wb-ok";
    els.msg.textContent = note;
    reset();
    onSaved(incident.id);
  });
}
