// 社区工作台 (/maps/civic): the staff page of 入户走访, 六步议事, 活动与积分 and 事项准入. Its settings come in the body's
// data-config (token, user, the grids of the user's area, the lists the forms choose from); every action is a
// call of the JSON API. The browser tests read `window.civicStaff` (ready, busy()).

import {api, busy, useToken} from "gridmap/pages/civic/api.js";
import {byId} from "gridmap/pages/civic/dom.js";
import {startMatters} from "gridmap/pages/civic/matters.js";
import {startPoints} from "gridmap/pages/civic/points.js";
import {startTopics} from "gridmap/pages/civic/topics.js";
import {startVisits} from "gridmap/pages/civic/visits.js";

const status = {ready: false, loading: 0};
const loaders = {};

async function show(tab) {
  for (const button of byId("tabs").querySelectorAll("button")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === tab));
  }
  for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== "tab-" + tab;
  const load = loaders[tab];
  if (load) {
    delete loaders[tab];
    status.loading += 1;
    try {
      await load();
    } finally {
      status.loading -= 1;
    }
  }
}

async function start() {
  const config = JSON.parse(document.body.dataset.config);
  useToken(config.token, config.tokenUrl);
  byId("who").textContent = `${config.user.name} · ${config.user.roles_zh}${config.unit ? " · " + config.unit : ""}`;
  byId("tabs").addEventListener("click", (event) => {
    const tab = event.target.closest("button[data-tab]");
    if (tab) show(tab.dataset.tab);
  });
  byId("signout").addEventListener("click", async () => {
    await api("/maps/signout", {method: "POST"});
    window.location.replace("/maps/signin?next=/maps/civic");
  });
  loaders.topics = startTopics(config);
  loaders.points = startPoints(config);
  loaders.matters = startMatters(config);
  await startVisits(config);
  status.ready = true;
}

window.civicStaff = {status, busy: () => busy() + status.loading, isIdle: () => status.ready && busy() + status.loading === 0};
start();
