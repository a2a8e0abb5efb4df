// "What can I reach from here": per facility type, the nearest facility and whether it is reachable — asked
// of PostGIS on a served page, computed from the page's own data on an exported one — plus the contact board
// (公示牌) of the grid clicked in.

import {esc} from "gridmap/shared/html.js";
import {getJson} from "gridmap/shared/http.js";
import {haversineMetres, pointInGeometry} from "gridmap/shared/geometry.js";
import {POPUPS} from "gridmap/map/popups.js";
import {noteError, state} from "gridmap/map/state.js";

function facilitiesOnPage(cfg) {
  const facilities = [];
  const typeNames = {};
  for (const name of cfg.facilityLayers || []) {
    const spec = state.specs[name];
    for (const feature of spec && spec.data ? spec.data.features : []) {
      const p = feature.properties;
      const [lon, lat] = feature.geometry.coordinates;
      facilities.push([p.type_code, lon, lat, p.name]);
      typeNames[p.type_code] = p.type_zh || p.type_code;
    }
  }
  return {facilities, typeNames};
}

function circlesOnPage(circleLayers) {
  const circles = {};
  for (const [type, name] of Object.entries(circleLayers)) {
    const spec = state.specs[name];
    const feature = spec && spec.data && spec.data.features[0];
    if (feature) circles[type] = feature.geometry;
  }
  return circles;
}

/** Read, once, the facilities, circles and type order the page computes reach from. */
function prepare(cfg) {
  if (cfg.facilities) return;
  const {facilities, typeNames} = facilitiesOnPage(cfg);
  cfg.facilities = facilities;
  if (cfg.circleLayers && !cfg.circles) cfg.circles = circlesOnPage(cfg.circleLayers);
  if (!cfg.types) {
    cfg.types = (cfg.typeOrder || Object.keys(typeNames)).filter((t) => typeNames[t]).map((t) => [t, typeNames[t]]);
  }
}

/** Per type: the nearest facility from (lat, lon), its distance and whether it is within reach. */
export function reachFrom(cfg, lat, lon) {
  prepare(cfg);
  const nearest = {};
  for (const [type, flon, flat, name] of cfg.facilities) {
    const metres = haversineMetres(lat, lon, flat, flon);
    if (!nearest[type] || metres < nearest[type].metres) nearest[type] = {metres, name};
  }
  const out = [];
  for (const [type, typeName] of cfg.types) {
    const best = nearest[type];
    if (!best) continue;
    const circle = (cfg.circles || {})[type];
    out.push({type, zh: typeName, nearest: best.name, metres: Math.round(best.metres),
      reachable: circle ? pointInGeometry(lon, lat, circle) : best.metres <= cfg.budget_m,
      how: circle ? "服务圈" : "直线"});
  }
  out.sort((a, b) => (b.reachable - a.reachable) || (a.metres - b.metres));
  return out;
}

function reachHtml(results, cfg) {
  const reachable = results.filter((r) => r.reachable);
  const items = results.map((r) => `<li class="${r.reachable ? "gm-ok" : "gm-no"}">${r.reachable ? "✓ " : "✗ "}`
    + `${esc(r.zh)}：${esc(r.nearest)} · ${r.metres} 米</li>`).join("");
  return `<div class="gm-reach"><b>从这里${esc(cfg.minutes)}分钟内可达 (${reachable.length}/${results.length} 类)`
    + `</b><ul>${items}</ul><small class="gm-muted">步行${esc(cfg.minutes)}分钟≈${esc(cfg.budget_m)} 米；`
    + "有服务圈的按服务圈判断，否则按直线距离估算</small></div>";
}

/** The 公示牌 of the grid clicked in: embedded (exported pages) or fetched (published names and phones only). */
async function boardHtml(gridSpec, lat, lng) {
  if (!gridSpec || !gridSpec.data) return "";
  const hit = (gridSpec.data.features || []).find((f) => pointInGeometry(lng, lat, f.geometry));
  if (!hit) return "";
  const code = hit.properties.code;
  gridSpec.boards = gridSpec.boards || {};
  if (!gridSpec.boards[code] && gridSpec.boardsUrl) {
    const board = await getJson(gridSpec.boardsUrl.replace("{code}", encodeURIComponent(code))).catch(() => null);
    gridSpec.boards[code] = board ? board.roles : [];
  }
  return POPUPS.grid_board(hit.properties, gridSpec);
}

function askServer(cfg, lat, lng) {
  const url = cfg.url + (cfg.url.includes("?") ? "&" : "?") + "lon=" + lng + "&lat=" + lat;
  return getJson(url).then((answer) => answer.results);
}

/** On a click anywhere: a popup with what is within reach and the grid's contact board. */
export function reach(map, cfg) {
  map.on("click", (event) => {
    const {lat, lng} = event.latlng;
    const popup = L.popup({maxWidth: 340}).setLatLng(event.latlng)
      .setContent("<div class=\"gm-reach-pending\">计算中… (working)</div>").openOn(map);
    const answer = cfg.url ? askServer(cfg, lat, lng) : Promise.resolve(reachFrom(cfg, lat, lng));
    Promise.all([answer, boardHtml(state.specs[cfg.gridLayer], lat, lng)]).then(([results, board]) => {
      state.lastReach = results;
      state.lastReachAt = [lat, lng];
      popup.setContent(reachHtml(results, cfg) + (board ? "<hr>" + board : ""));
    }).catch((err) => {
      noteError("reach: " + err.message);
      popup.setContent(`<div class="gm-bad">暂时无法计算 (could not compute): ${esc(err.message)}</div>`);
    });
  });
}
