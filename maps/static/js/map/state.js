// The state of one map page, shared by the map modules and read by the browser tests as `window.gridmap`:
// features drawn per layer, tile and fetch counters, errors, and whether the page script has finished.

export const state = {
  layers: {},       // layer name -> features drawn so far
  specs: {},        // layer name -> its spec (embedded data included), for search and reach
  built: {},        // layer name -> the Leaflet layer made from its spec
  pending: 0,       // vector tiles requested and not yet loaded
  fetching: 0,      // layers fetched after load that have not arrived
  tileLayers: [],
  canvasAbove: 1000, // embedded layers with more features draw on a canvas
  canvas: null,
  ready: false,
  readyAt: 0,
  map: null,
  errors: [],
  lastReach: null,
  lastReachAt: null,
  picking: false,   // a form is choosing a place: map clicks are its, not the reach popup's
};

/** Count ``n`` more features drawn in layer ``name``. */
export function countDrawn(name, n) {
  state.layers[name] = (state.layers[name] || 0) + n;
}

/** Note an error for the page and its tests (`gridmap.errors`). */
export function noteError(text) {
  state.errors.push(text);
}
