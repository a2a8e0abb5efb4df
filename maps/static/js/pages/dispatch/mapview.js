// The workbench's map: basemap (or none, offline), the grids as vector tiles, the queue's incidents as dots
// (red: 待人工派遣, orange: overdue, blue: the rest) and the point being reported.

import {esc} from "gridmap/shared/html.js";

const COLOURS = {manual: "#c62828", overdue: "#ef6c00", open: "#1565c0", closed: "#2e7d32"};
// Grid outlines from this zoom on: below it a city's thousands of grids are no help to read (and cost tiles)
const GRID_MIN_ZOOM = 13;

function colourOf(item) {
  if (item.manual) return COLOURS.manual;
  if (item.overdue) return COLOURS.overdue;
  return item.state === "closed" ? COLOURS.closed : COLOURS.open;
}

function addBasemap(map, basemap) {
  if (!basemap) return;
  const options = {attribution: basemap.attribution, subdomains: basemap.subdomains, maxZoom: basemap.maxZoom};
  L.tileLayer(basemap.url, options).addTo(map);
  if (basemap.labels) L.tileLayer(basemap.labels, options).addTo(map);
}

function addGrids(map, url) {
  if (!url || !L.vectorGrid) return null;
  const style = {weight: 1, color: "#546e7a", fill: true, fillOpacity: 0.03, fillColor: "#90a4ae"};
  // 512-pixel tiles of one zoom lower (as the other maps do): a quarter of the requests for the same screen
  const layer = L.vectorGrid.protobuf(url.replace("{z}", "{zz}"), {
    zz: (data) => data.z - 1, tileSize: 512, vectorTileLayerStyles: {grids: () => style}, interactive: false,
    minZoom: GRID_MIN_ZOOM, maxNativeZoom: 19, maxZoom: 20, rendererFactory: L.svg.tile,
  });
  return layer.addTo(map);
}

/**
 * The map in ``element``: ``onPick(lon, lat)`` when the map is clicked (coordinates in config.crs),
 * ``onSelect(id)`` when an incident's dot is.
 */
export function createMap(element, config, {onPick, onSelect}) {
  const map = L.map(element, {minZoom: 5, maxZoom: 20, preferCanvas: false});
  addBasemap(map, config.basemap);
  const grids = addGrids(map, config.gridTiles);
  let tilesPending = false;
  if (grids) {
    grids.on("loading", () => { tilesPending = true; });
    grids.on("load", () => { tilesPending = false; });
  }
  if (config.attribution) map.attributionControl.addAttribution(config.attribution);
  if (config.bounds) map.fitBounds(config.bounds, {animate: false});
  else map.setView([38.52, 102.19], 13, {animate: false});
  const dots = L.layerGroup().addTo(map);
  let pick = null;
  map.on("click", (event) => onPick(event.latlng.lng, event.latlng.lat));

  function showQueue(items, selectedId) {
    dots.clearLayers();
    for (const item of items) {
      const selected = item.id === selectedId;
      const dot = L.circleMarker([item.point.lat, item.point.lon], {
        radius: selected ? 10 : 6, color: "#fff", weight: 2, fillColor: colourOf(item), fillOpacity: 0.95,
        bubblingMouseEvents: false,
      });
      dot.incidentId = item.id;
      dot.bindTooltip(`#${item.id} ${esc(item.category_zh)} · ${esc(item.state_zh)}`);
      dot.on("click", () => onSelect(item.id));
      dots.addLayer(dot);
    }
  }

  function showPick(lon, lat) {
    if (pick) pick.setLatLng([lat, lon]);
    else pick = L.marker([lat, lon], {title: "上报位置 (reported point)", keyboard: false}).addTo(map);
  }

  function clearPick() {
    if (pick) map.removeLayer(pick);
    pick = null;
  }

  function focus(lon, lat) {
    map.setView([lat, lon], Math.max(map.getZoom(), 16), {animate: false});
  }

  return {map, grids, dots, showQueue, showPick, clearPick, focus, tilesIdle: () => !tilesPending};
}
