// 调度工作台 (/maps/dispatch): the queue beside the map, taking a call, one incident's card with its actions,
// and the KPI panel — all from the JSON API, the queue polled so that it updates without reloading.
// ``window.gridmapDispatch`` exposes the parts to the browser tests.

import {esc} from "gridmap/shared/html.js";
import {makeApi} from "gridmap/pages/dispatch/api.js";
import {createCard} from "gridmap/pages/dispatch/card.js";
import {createIntake} from "gridmap/pages/dispatch/intake.js";
import {createKpis} from "gridmap/pages/dispatch/kpis.js";
import {createMap} from "gridmap/pages/dispatch/mapview.js";
import {createQueue} from "gridmap/pages/dispatch/queue.js";

const byId = (id) => document.getElementById(id);

/** Show a view: on a phone the one panel; on a desk the side panel (接警/事件/指标). */
function show(view) {
  document.body.dataset.view = view;
  if (view === "intake" || view === "card" || view === "kpis") document.body.dataset.side = view;
  for (const b of document.querySelectorAll(".wb-tabs button")) b.classList.toggle("wb-on", b.dataset.show === view);
  window.dispatchEvent(new Event("resize"));  // Leaflet re-measures a map that was hidden
}

function signedOut() {
  const back = encodeURIComponent(window.location.pathname + window.location.search);
  byId("wb-user").innerHTML = `<a href="/maps/signin?next=${back}" style="color:#fff">登录已过期，请重新登录 (sign in again)</a>`;
}

/** Someone else moved the open incident on (the polled queue says so): show its card as it is now. */
function refreshCard(wb, items) {
  const shown = wb.card && wb.card.state.incident;
  if (!shown) return;
  const now = items.find((x) => x.id === shown.id);
  if (!now || (now.state === shown.state && now.level === shown.level)) return;
  wb.card.reload().then(() => {
    const message = document.getElementById("wb-act-msg");
    if (message) message.textContent = "此事件已由他人更新 (updated by someone else)";
  });
}

function parts(config, api, wb) {
  const mapView = createMap(byId("wb-map"), config, {
    onPick: (lon, lat) => { show("intake"); wb.intake.setPoint(lon, lat); },
    onSelect: (id) => wb.queue.select(id, true),
  });
  wb.map = mapView.map;
  wb.tilesIdle = mapView.tilesIdle;
  wb.queue = createQueue({
    api, config, onItems: (items, selected) => { mapView.showQueue(items, selected); refreshCard(wb, items); },
    els: {form: byId("wb-filters"), list: byId("wb-queue"), counts: byId("wb-counts"), more: byId("wb-more"),
          updated: byId("wb-updated"), live: byId("wb-live")},
    onSelect: (id, item) => {
      show("card");
      if (item) mapView.focus(item.point.lon, item.point.lat);
      wb.card.open(id);
    },
  });
  wb.card = createCard({api, config, element: byId("wb-card"),
                        onChanged: () => { wb.queue.load(); wb.kpis.load(); }});
  wb.intake = createIntake({
    api, config, mapView,
    els: {form: byId("wb-intake"), search: byId("wb-search"), searchGo: byId("wb-search-go"),
          places: byId("wb-places"), coordsGo: byId("wb-coords-go"), preview: byId("wb-preview"),
          save: byId("wb-save"), msg: byId("wb-intake-msg")},
    onSaved: (id) => { wb.queue.load().then(() => wb.queue.select(id, true)); wb.kpis.load(); },
    onOpen: (id) => wb.queue.select(id, true),
  });
  wb.kpis = createKpis({api, element: byId("wb-kpis"), chip: byId("wb-kpi-chip")});
}

/** Start the workbench from the page's configuration. */
export async function start(config) {
  const api = makeApi(config, signedOut);
  const wb = {config, api, ready: false, busy: () => api.busy()};
  window.gridmapDispatch = wb;
  byId("wb-user").textContent = `${config.user.name} · ${config.user.roles_zh}`;
  byId("wb-save").textContent = config.canRegister ? "保存并立案 (save and register)" : "保存上报 (save)";
  parts(config, api, wb);
  for (const b of document.querySelectorAll("[data-show]")) b.addEventListener("click", () => show(b.dataset.show));
  show(window.matchMedia("(min-width: 900px)").matches ? "intake" : "queue");
  await wb.queue.load();
  wb.poller = wb.queue.start();
  wb.ready = true;
  wb.readyAt = performance.now();
  wb.kpis.load();
}

const page = document.body.dataset.config;
if (page) {
  start(JSON.parse(page)).catch((err) => {
    document.body.insertAdjacentHTML("afterbegin", `<p class="wb-error">工作台未能启动 (did not start)：${esc(String(err))}</p>`);
  });
}
