// 规划员绘图页 (the planners' drawing page, maps/plan_editor.py): a draft plan's grids in a Leaflet.draw group;
// each drawn, reshaped or deleted grid goes to the plan API (versioned: If-Match / ?version=), then the page
// reloads the plan's state (grids, versions, validation report) and shows the result. Impact preview,
// staff handover (editable), publishing (forced with a written reason when the draft changes grids outside
// its scope; what publishing did stays shown) and a proposal for one community from the panel.
//
// State for the browser tests: `window.gridmapEditor` (busy, edits, done, log, report, byCode, parts, …).

import {esc} from "gridmap/shared/html.js";
import {bearerToken, errorMessage, jsonHeaders, requestJson} from "gridmap/shared/http.js";
import {householdColour} from "gridmap/shared/colours.js";
import {handoverHtml, impactHtml, publishedHtml, readHandover} from "gridmap/shared/plan_report.js";

const MAX_LISTED = 50;

function gridStyle(props) {
  const bad = props.problems > 0;
  return {color: bad ? "#d50000" : "#263238", weight: bad ? 2.5 : 1.2, fill: true,
    fillColor: householdColour(props.households), fillOpacity: 0.35};
}

// Leaflet.draw edits polygons, not multi-polygons: each part of a grid is its own layer, and an edit sends
// the grid's parts back together as one (Multi)Polygon
function polygonsOf(geometry) {
  return geometry.type === "MultiPolygon" ? geometry.coordinates : [geometry.coordinates];
}

function gridTooltip(props, part, parts) {
  const households = props.households === null || props.households === undefined ? "未统计 (no count)"
    : props.households + " 户";
  return esc(props.code) + " " + esc(props.name || "")
    + (parts > 1 ? `（第 ${part + 1}/${parts} 块 part）` : "") + "<br>" + households + " · 版本 v" + props.version
    + (props.problems ? ` · <span class="gm-bad">${props.problems} 个问题</span>` : "");
}

function problemsLayer(map) {
  // problems lie in a pane under the grids, so a click on a grid (to edit or delete it) reaches the grid
  map.createPane("gmProblems").style.zIndex = 390;
  return L.geoJSON(null, {
    pane: "gmProblems",
    style: () => ({color: "#ff1744", weight: 3, fill: true, fillColor: "#ff1744", fillOpacity: 0.5}),
    pointToLayer: (feature, latlng) => L.circleMarker(latlng, {pane: "gmProblems", radius: 7, color: "#ff1744",
      weight: 2, fillOpacity: 0.7}),
    onEachFeature: (feature, layer) => {
      layer.bindPopup(`<b>${esc(feature.properties.kind_zh)}</b><br>${esc(feature.properties.message)}`,
        {maxWidth: 320});
    },
  }).addTo(map);
}

function panelHtml(cfg) {
  const editing = cfg.editable ? " <button type=\"button\" id=\"gm-editor-impact\">影响预览 (impact)</button>"
    + " <button type=\"button\" id=\"gm-editor-publish\">发布 (publish)</button>"
    + "<div id=\"gm-editor-force\" hidden><label for=\"gm-editor-reason\">强制发布理由（随该代方案保存） "
    + "(why publish anyway)</label><textarea id=\"gm-editor-reason\" rows=\"2\"></textarea>"
    + "<button type=\"button\" id=\"gm-editor-force-publish\">强制发布 (publish anyway)</button></div>" : "";
  const propose = cfg.community ? "<button type=\"button\" id=\"gm-editor-propose\">为本社区自动划分，生成新草案 "
    + "(propose a draft for this community from the plan in force)</button>"
    + "<div class=\"gm-import\"><label for=\"gm-editor-file\">导入本社区的新方案文件（GeoJSON、GeoPackage、Shapefile "
    + "zip），其他社区保持不变 (import this community's new plan; the rest of the city stays)</label>"
    + "<input type=\"file\" id=\"gm-editor-file\" accept=\".geojson,.json,.gpkg,.zip\">"
    + "<button type=\"button\" id=\"gm-editor-import\">导入为草案 (import as a draft)</button></div>" : "";
  return "<h4>校验结果 (validation)</h4><div id=\"gm-editor-plan\" class=\"gm-muted\"></div>"
    + `<div id="gm-editor-status" class="gm-info">${esc(cfg.hint)}</div>`
    + "<div id=\"gm-editor-summary\"></div><ol id=\"gm-editor-problems\"></ol>"
    + "<button type=\"button\" id=\"gm-editor-refresh\">重新校验 (validate again)</button>"
    + editing + "<div id=\"gm-editor-result\" role=\"status\" aria-live=\"polite\"></div>"
    + "<div id=\"gm-editor-impact-out\"></div><div id=\"gm-editor-handover\"></div>" + propose;
}

function addPanel(map, cfg) {
  const panel = L.control({position: "bottomleft"});
  panel.onAdd = () => {
    const box = L.DomUtil.create("div", "gm-editor");
    box.id = "gm-editor";
    box.innerHTML = panelHtml(cfg);
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    return box;
  };
  panel.addTo(map);
}

function summaryHtml(report, kinds) {
  if (report.ok) return "<span class=\"gm-ok\">校验通过，没有问题 (no problems)</span>";
  const counts = Object.keys(report.counts).filter((k) => report.counts[k])
    .map((k) => (kinds[k] || k) + " " + report.counts[k]);
  return `<span class="${report.publishable ? "gm-info" : "gm-error"}">校验发现 ${report.problems.length} 个问题 `
    + `(problems)：${esc(counts.join("，"))}${report.publishable ? "" : "；须修正后才能发布 (blocking)"}</span>`;
}

function problemItems(problems) {
  const items = problems.slice(0, MAX_LISTED).map((p, k) => `<li data-k="${k}" data-kind="${esc(p.kind)}" `
    + `data-grid="${esc(p.grid || "")}"${p.location ? " class=\"gm-link\" title=\"定位 (zoom to it)\"" : ""}>`
    + `${esc(p.message)}</li>`);
  return items.join("") + (problems.length > MAX_LISTED ? "<li>…</li>" : "");
}

/** The editor of one page: its state, the drawing, the API calls, the panel's buttons. */
class PlanEditor {
  constructor(map, group, cfg) {
    Object.assign(this, {map, group, cfg, report: null, busy: 0, edits: 0, done: 0, log: [], byCode: {},
      parts: {}, plan: null, impact: null, published: null, proposal: null, refused: null});
    this.problems = problemsLayer(map);
  }

  /** Show an outcome where the planner is looking: right under the buttons, scrolled into view. */
  result(html) {
    const box = document.getElementById("gm-editor-result");
    box.innerHTML = html;
    box.scrollIntoView({block: "nearest"});
  }

  say(text, kind = "info") {
    const status = document.getElementById("gm-editor-status");
    if (status) {
      status.textContent = text;
      status.className = "gm-" + kind;
    }
    this.log.push(text);
  }

  async call(method, path, body, extra) {
    const cfg = this.cfg;
    const query = cfg.crs && body ? "?crs=" + cfg.crs : "";
    const url = path.startsWith("/api/") ? path : cfg.api + path + query;
    this.busy += 1;
    try {
      return await requestJson(url, {method, body: body || undefined,
        headers: jsonHeaders(bearerToken(cfg.token), extra)});
    } finally {
      this.busy -= 1;
    }
  }

  /** A grid's geometry from its parts still on the map (``null`` when none is left). */
  gridGeometry(code) {
    const polygons = (this.parts[code] || []).filter((layer) => this.group.hasLayer(layer))
      .map((layer) => layer.toGeoJSON(false).geometry.coordinates);
    if (!polygons.length) return null;
    return polygons.length === 1 ? {type: "Polygon", coordinates: polygons[0]}
      : {type: "MultiPolygon", coordinates: polygons};
  }

  showReport(report) {
    this.report = report;
    this.problems.clearLayers();
    this.problems.addData(report.geojson);
    const summary = document.getElementById("gm-editor-summary");
    summary.dataset.problems = String(report.problems.length);
    summary.dataset.publishable = String(report.publishable);
    summary.innerHTML = summaryHtml(report, this.cfg.kinds);
    const list = document.getElementById("gm-editor-problems");
    list.innerHTML = problemItems(report.problems);
    for (const item of list.querySelectorAll("li.gm-link")) {
      item.onclick = () => {
        const [lon, lat] = this.report.problems[Number(item.dataset.k)].location;
        this.map.setView([lat, lon], Math.max(this.map.getZoom(), 16), {animate: false});
      };
    }
  }

  drawGrid(feature) {
    const props = feature.properties;
    const polygons = polygonsOf(feature.geometry);
    this.parts[props.code] = polygons.map((polygon, k) => {
      const layer = L.GeoJSON.geometryToLayer({type: "Feature", geometry: {type: "Polygon", coordinates: polygon},
        properties: props});
      layer.feature = {type: "Feature", geometry: feature.geometry, properties: props};
      layer.setStyle(gridStyle(props));
      layer.bindTooltip(gridTooltip(props, k, polygons.length), {sticky: true});
      this.group.addLayer(layer);
      return layer;
    });
    this.byCode[props.code] = this.parts[props.code][0];
  }

  draw(pageState) {
    this.group.clearLayers();
    this.byCode = {};
    this.parts = {};
    const perGrid = {};
    for (const problem of pageState.report.problems) {
      if (problem.grid) perGrid[problem.grid] = (perGrid[problem.grid] || 0) + 1;
    }
    for (const feature of pageState.grids.features) {
      feature.properties.problems = perGrid[feature.properties.code] || 0;
      this.drawGrid(feature);
    }
    this.plan = pageState.plan;
    document.getElementById("gm-editor-plan").textContent =
      `${pageState.plan.name} · ${pageState.plan.status_zh} · ${pageState.plan.grid_count} 个网格`
      + (pageState.plan.scope ? ` · 范围 ${pageState.plan.scope.join("、")}` : "");
    if (pageState.plan.publish_report) this.result(publishedHtml(pageState.plan, pageState.plan.publish_report));
    this.showReport(pageState.report);
  }

  async refresh() {
    this.busy += 1;
    try {
      const result = await requestJson(this.cfg.state, {headers: jsonHeaders(bearerToken(this.cfg.token))});
      if (!result.ok) throw new Error("HTTP " + result.status);
      this.draw(result.body);
    } catch (err) {
      this.say("刷新失败 (reload failed): " + err, "error");
    } finally {
      this.busy -= 1;
      this.done += 1;
    }
  }

  async save(props, geometry) {
    const feature = {type: "Feature", geometry, properties: {name: props.name, kind: props.kind,
      exclusive_type: props.exclusive_type, households: props.households, residents: props.residents}};
    const result = await this.call("PUT", "/grids/" + encodeURIComponent(props.code), feature,
      {"If-Match": `"${props.version}"`});
    if (result.ok) return {ok: true, text: `网格 ${props.code} 已保存，版本 ${result.body.properties.version}`};
    if (result.status === 409) {
      return {ok: false, text: `网格 ${props.code} 已被他人修改，本次修改未保存，已重新载入 `
        + `(changed by someone else since version ${props.version}; not saved, reloaded)`};
    }
    return {ok: false, text: `网格 ${props.code} 保存失败 (not saved)：${errorMessage(result)}`};
  }

  async remove(props) {
    const rest = this.gridGeometry(props.code);  // the deleted parts are off the group already
    if (rest) return this.save(props, rest);
    const result = await this.call("DELETE", `/grids/${encodeURIComponent(props.code)}?version=${props.version}`);
    return result.ok ? {ok: true, text: "已删除网格 " + props.code}
      : {ok: false, text: `网格 ${props.code} 未删除 (not deleted)：${errorMessage(result)}`};
  }

  /** Run ``job`` once per grid touched by a draw event; report all outcomes, then reload. */
  async eachGrid(event, job) {
    this.edits += 1;
    const jobs = [];
    const seen = new Set();
    event.layers.eachLayer((layer) => {
      const props = layer.feature.properties;
      if (seen.has(props.code)) return;
      seen.add(props.code);
      jobs.push(job(props));
    });
    if (!jobs.length) {
      this.say("没有改动 (nothing changed)", "info");
      this.done += 1;
      return;
    }
    this.say("正在保存… (saving)", "info");
    const outcomes = await Promise.all(jobs);
    this.say(outcomes.map((o) => o.text).join("；"), outcomes.every((o) => o.ok) ? "ok" : "error");
    await this.refresh();
  }

  async created(event) {
    this.edits += 1;
    const feature = {type: "Feature", geometry: event.layer.toGeoJSON(false).geometry,
      properties: {name: "新网格 (new grid)"}};
    if (this.cfg.community) feature.properties.community_code = this.cfg.community;
    this.say("正在保存新网格… (saving)", "info");
    const result = await this.call("POST", "/grids", feature);
    this.group.removeLayer(event.layer);
    if (result.ok) this.say(`已新增网格 ${result.body.id}，版本 1 (grid added)`, "ok");
    else this.say("新增网格失败 (not added)：" + errorMessage(result), "error");
    await this.refresh();
  }

  async propose() {
    this.say("正在自动划分… (proposing)", "info");
    const result = await this.call("POST", "/api/v1/plans/proposals", {community_code: this.cfg.community,
      create_draft: true});
    if (!result.ok) {
      this.say("自动划分失败 (no proposal)：" + errorMessage(result), "error");
      return;
    }
    const metrics = result.body.metrics;
    this.proposal = metrics;
    this.say(`已生成草案 ${result.body.plan.id}：${metrics.grids} 个网格，`
      + `${Math.round(metrics.within_bounds_share * 100)}% 在户数范围内 (draft created)`, "ok");
    window.location.href = this.cfg.editPage.replace("{id}", result.body.plan.id) + "?community="
      + this.cfg.community;
  }

  async importFile() {
    const file = document.getElementById("gm-editor-file").files[0];
    if (!file) {
      this.say("请先选择文件 (choose a file first)", "error");
      return;
    }
    const form = new FormData();
    form.append("file", file);
    form.append("scope", this.cfg.community);
    this.say("正在导入… (importing)", "info");
    this.busy += 1;
    let result;
    try {
      const response = await fetch("/api/v1/plans/import", {method: "POST", body: form, credentials: "same-origin",
        headers: {Authorization: "Bearer " + bearerToken(this.cfg.token), Accept: "application/json"}});
      result = {ok: response.ok, status: response.status, body: await response.json().catch(() => null)};
    } finally {
      this.busy -= 1;
    }
    if (!result.ok) {
      this.result(`<p class="gm-error"><b>未导入 (not imported)</b>：${esc(errorMessage(result))}</p>`);
      this.say("未导入 (not imported)：" + errorMessage(result), "error");
      return;
    }
    this.say(`已导入草案 ${result.body.id}（范围 ${(result.body.scope || []).join("、")}） (draft imported)`, "ok");
    window.location.href = this.cfg.editPage.replace("{id}", result.body.id) + "?community=" + this.cfg.community;
  }

  async showImpact() {
    this.say("正在计算影响… (computing the impact)", "info");
    const result = await this.call("GET", "/impact");
    if (!result.ok) {
      this.say("影响预览失败：" + errorMessage(result), "error");
      return;
    }
    this.impact = result.body;
    document.getElementById("gm-editor-impact-out").innerHTML = impactHtml(result.body);
    const scope = this.plan && this.plan.scope;
    const codes = Object.keys(this.byCode).filter((code) => !scope || scope.some((s) => code.startsWith(s))).sort();
    document.getElementById("gm-editor-handover").innerHTML = handoverHtml(result.body.handover.items, codes);
    for (const grid of result.body.grids.new.concat(result.body.grids.changed)) {
      for (const layer of this.parts[grid.code] || []) layer.setStyle({color: "#1565c0", weight: 3, dashArray: "6 4"});
    }
    this.say("影响预览已更新 (impact shown)", "ok");
  }

  publishBody(force) {
    const body = {};
    if (this.impact) {
      body.handover = readHandover(document.getElementById("gm-editor-handover"), this.impact.handover.items);
    }
    if (force) Object.assign(body, {force: true, reason: document.getElementById("gm-editor-reason").value});
    return body;
  }

  refusedHtml(result) {
    const detail = (result.body && result.body.error && result.body.error.detail) || {};
    const outside = detail.outside_scope;
    document.getElementById("gm-editor-force").hidden = !outside;
    return `<p class="gm-error"><b>未发布 (not published)</b>：${esc(errorMessage(result))}</p>`
      + (outside ? `<p class="gm-error">${esc(outside.summary)}</p>` : "");
  }

  async publish(force = false) {
    if (!force && !window.confirm("发布后本方案成为现行方案，原方案废止。确定发布？ (publish this draft?)")) return;
    this.say("正在发布… (publishing)", "info");
    const result = await this.call("POST", "/publish", this.publishBody(force));
    if (!result.ok) {
      this.refused = result.body;
      this.result(this.refusedHtml(result));
      this.say("未发布 (not published)：" + errorMessage(result), "error");
      return;
    }
    this.published = result.body;
    this.result(publishedHtml(result.body, result.body));
    this.say(`方案已发布为第 ${result.body.generation} 代，${result.body.effective_from} 起生效 (published)`, "ok");
    this.cfg.editable = false;
    setTimeout(() => window.location.reload(), 1500);
  }

  listen() {
    this.map.on("draw:created", (event) => this.created(event));
    this.map.on("draw:edited", (event) => this.eachGrid(event, (props) => this.save(props,
      this.gridGeometry(props.code))));
    this.map.on("draw:deleted", (event) => this.eachGrid(event, (props) => this.remove(props)));
    const click = (id, handler) => {
      const button = document.getElementById(id);
      if (button) button.onclick = handler;
    };
    click("gm-editor-refresh", () => {
      this.say("正在校验… (validating)", "info");
      this.refresh();
    });
    if (this.cfg.community) {
      click("gm-editor-propose", () => this.propose());
      click("gm-editor-import", () => this.importFile());
    }
    if (this.cfg.editable) {
      click("gm-editor-impact", () => this.showImpact());
      click("gm-editor-publish", () => this.publish());
      click("gm-editor-force-publish", () => this.publish(true));
    }
  }
}

/** Start the drawing page: ``map`` and its editable ``group`` (Folium's), ``cfg`` from maps/plan_editor.py. */
export function start(map, cfg, {group}) {
  const editor = new PlanEditor(map, group, cfg);
  window.gridmapEditor = editor;
  addPanel(map, cfg);
  editor.listen();
  editor.draw(cfg.initial);
  // the page opens on the plan's grids, without animation (see maps/plan_editor.py)
  if (group.getLayers().length) map.fitBounds(group.getBounds(), {animate: false, padding: [10, 10]});
  if (!cfg.editable) editor.say(cfg.hint, "error");
  return editor;
}
