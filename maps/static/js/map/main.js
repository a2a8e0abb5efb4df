// The map toolkit every Folium page loads (maps/common.py puts `import "gridmap/map/main.js"` in its head).
// The page script Folium writes calls it through `window.gridmap`: `gridmap.layer(spec)`,
// `gridmap.legend(map, html)`, … (maps/common.py `DataLayer` and `Call`); the browser tests read the same
// object (`gridmap.isIdle()`, `gridmap.layers`, `gridmap.errors`).

import {esc} from "gridmap/shared/html.js";
import {colourFor, householdColour} from "gridmap/shared/colours.js";
import {attribution, filters, legend, search, title} from "gridmap/map/controls.js";
import {makeLayer} from "gridmap/map/layers.js";
import {POPUPS} from "gridmap/map/popups.js";
import {reach} from "gridmap/map/reach.js";
import {noteError, state} from "gridmap/map/state.js";
import {STYLES} from "gridmap/map/styles.js";

// pages without a basemap have no tile layer to lend the map a maxZoom; clustering needs one
L.Map.addInitHook(function setDefaultMaxZoom() {
  if (this.options.maxZoom === undefined) this.options.maxZoom = 20;
});

function finish(map) {
  state.map = map;
  state.ready = true;
  state.readyAt = window.performance ? window.performance.now() : 0;
}

/** Idle: the page script ran and no vector tile layer on the map is still loading tiles. */
function isIdle() {
  return state.ready && !(state.map && state.map._animatingZoom)
    && state.tileLayers.every((layer) => !layer._map || !layer.isLoading());
}

/** Idle, and every layer fetched after load has arrived. */
function isSettled() {
  return isIdle() && state.fetching === 0;
}

/** Features of the overlay whose name starts with ``prefix`` that are on the map now (SVG or canvas alike). */
function shown(prefix) {
  const name = Object.keys(state.built).find((n) => n.startsWith(prefix));
  const layer = name && state.built[name];
  if (!layer || !state.map || !state.map.hasLayer(layer) || !layer.getLayers) return 0;
  return layer.getLayers().filter((feature) => Boolean(feature._map)).length;
}

window.addEventListener("error", (event) => noteError(String(event.message)));

window.gridmap = Object.assign(state, {
  layer: makeLayer, title, legend, attribution, search, filters, reach, finish, isIdle, isSettled, shown,
  esc, colorFor: colourFor, hhColor: householdColour, STYLES, POPUPS,
});
