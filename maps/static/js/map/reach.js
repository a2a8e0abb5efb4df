// "What can I reach from here": on a click, the server's answer for 5, 10 and 15 minutes on foot — exactly what
// /api/v1/circles/reachable gives for each (usecases/reach.py) — plus the contact board (公示牌) of the grid
// clicked in. An exported page has no server to walk the streets: it shows the board and says so.

import {esc} from "gridmap/shared/html.js";
import {getJson} from "gridmap/shared/http.js";
import {pointInGeometry} from "gridmap/shared/geometry.js";
import {POPUPS} from "gridmap/map/popups.js";
import {noteError, state} from "gridmap/map/state.js";

function bandsHtml(answers) {
  return answers.map((a) => `<span class="gm-band">${esc(a.minutes)}分钟（${Math.round(a.budget_m)}米）`
    + `<b>${esc(a.count)}</b> 处</span>`).join(" ");
}

function typeRows(answer, cfg) {
  const longest = answer.answers[answer.answers.length - 1];
  const reached = new Set(answer.types.map((t) => t.type_code));
  const yes = answer.types.map((t) => `<li class="gm-ok">✓ ${esc(t.type_zh)}：${esc(t.name)} · `
    + `${Math.round(t.distance_m)} 米 · ${esc(t.minutes)} 分钟</li>`);
  const no = (cfg.types || []).filter(([code]) => !reached.has(code))
    .map(([, name]) => `<li class="gm-no">✗ ${esc(name)}：${esc(longest.minutes)}分钟内没有</li>`);
  return yes.concat(no).join("");
}

/** The popup's text for a server answer ({speed_kmh, answers: [{minutes, budget_m, count}], types}). */
export function reachHtml(answer, cfg) {
  return `<div class="gm-reach"><b>从这里步行可达</b> <small class="gm-muted">(${esc(answer.speed_kmh)} km/h)`
    + `</small><div class="gm-bands">${bandsHtml(answer.answers)}</div><ul>${typeRows(answer, cfg)}</ul>`
    + "<small class=\"gm-muted\">沿街道的步行距离；与 /api/v1/circles/reachable 的答复一致</small></div>";
}

const OFFLINE = "<div class=\"gm-reach gm-muted\">离线导出的地图不能计算步行可达；请在联网的公众地图上点击查询"
  + " (an exported page cannot walk the streets; use the served map)</div>";

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
  return getJson(url);
}

/** What a click at (lat, lng) shows: the reach answer (served pages) and the grid's board. */
export async function reachPopup(cfg, lat, lng) {
  const [answer, board] = await Promise.all([cfg.url ? askServer(cfg, lat, lng) : null,
    boardHtml(state.specs[cfg.gridLayer], lat, lng)]);
  state.lastReach = answer || {offline: true};
  state.lastReachAt = [lat, lng];
  return (answer ? reachHtml(answer, cfg) : OFFLINE) + (board ? "<hr>" + board : "");
}

/** On a click anywhere (unless a form is choosing a place): a popup with what is within reach. */
export function reach(map, cfg) {
  map.on("click", (event) => {
    if (state.picking) return;
    const {lat, lng} = event.latlng;
    const popup = L.popup({maxWidth: 340}).setLatLng(event.latlng)
      .setContent("<div class=\"gm-reach-pending\">计算中… (working)</div>").openOn(map);
    reachPopup(cfg, lat, lng).then((html) => popup.setContent(html)).catch((err) => {
      noteError("reach: " + err.message);
      popup.setContent(`<div class="gm-bad">暂时无法计算 (could not compute): ${esc(err.message)}</div>`);
    });
  });
}
