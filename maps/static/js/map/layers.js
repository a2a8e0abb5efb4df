// Data layers from a spec written by maps/common.py `DataLayer`: embedded or fetched GeoJSON, PostGIS vector
// tiles, marker clusters and heat. `makeLayer(spec)` returns the Leaflet layer the layer control lists.

import {esc} from "gridmap/shared/html.js";
import {getJson} from "gridmap/shared/http.js";
import {POPUPS} from "gridmap/map/popups.js";
import {countDrawn, noteError, state} from "gridmap/map/state.js";
import {STYLES, styleNamed} from "gridmap/map/styles.js";
import {colourFor} from "gridmap/shared/colours.js";

const EMPTY = () => ({type: "FeatureCollection", features: []});

function facilityIcon(props) {
  return L.divIcon({
    className: "gm-fac", iconSize: [22, 22], iconAnchor: [11, 11],
    html: `<span style="background:${colourFor(props.type_code)}"><i class="fa-solid fa-${esc(props.icon || "location-dot")}`
      + "\"></i></span>",
  });
}

function siteIcon(props) {
  return L.divIcon({className: "gm-site", iconSize: [26, 26], html: `<span>${esc(props.rank)}</span>`});
}

/** The features of a spec that is a view on another embedded layer (its geometry is not sent twice). */
function viewOf(spec) {
  const source = state.specs[spec.from];
  const features = (source && source.data && source.data.features) || [];
  return {type: "FeatureCollection", features: features.filter((f) => Number(f.properties[spec.where]) > 0)};
}

function canvasFor(count) {
  // big layers draw on a canvas (thousands of SVG nodes make a slow page); small ones stay SVG
  if (count <= state.canvasAbove) return undefined;
  state.canvas = state.canvas || L.canvas({padding: 0.3});
  return state.canvas;
}

function pointLayer(spec, styleFn, renderer) {
  return (feature, latlng) => {
    const props = feature.properties;
    if (spec.style === "facility") return L.marker(latlng, {icon: facilityIcon(props), title: props.name});
    if (spec.style === "site") return L.marker(latlng, {icon: siteIcon(props)});
    const style = styleFn(props);
    if (renderer) style.renderer = renderer;
    return L.circleMarker(latlng, style);
  };
}

function bindFeature(spec) {
  const popupFn = POPUPS[spec.popup];
  return (feature, layer) => {
    if (popupFn) layer.bindPopup(() => popupFn(feature.properties, spec), {maxWidth: 320});
    const tip = spec.tooltip ? feature.properties[spec.tooltip] : null;
    if (tip !== null && tip !== undefined) layer.bindTooltip(esc(tip), {sticky: true});
  };
}

function fetchInto(layer, spec) {
  // slow or big answers (a plan's validation, detailed service circles) come after the page is usable;
  // lazy ones only when the layer is first switched on
  const load = () => {
    state.fetching += 1;
    getJson(spec.url)
      .then((collection) => {
        spec.data = collection;
        layer.addData(collection);
        countDrawn(spec.name, (collection.features || []).length);
      })
      .catch((err) => noteError(spec.name + ": " + err.message))
      .finally(() => { state.fetching -= 1; });
  };
  if (spec.lazy) layer.once("add", load); else load();
}

function labelLayer(layer, spec) {
  // permanent code labels, only at close zoom and only for what is in view (keeps big layers light)
  let shown = [];
  const clear = () => {
    shown.forEach((label) => label.remove());
    shown = [];
  };
  const refresh = (map) => {
    clear();
    if (!map.hasLayer(layer) || map.getZoom() < (spec.labelMinZoom || 15)) return;
    const bounds = map.getBounds();
    layer.eachLayer((feature) => {
      const centre = feature.getBounds ? feature.getBounds().getCenter() : feature.getLatLng();
      if (bounds.contains(centre) && shown.length < 400) {
        const label = L.tooltip({permanent: true, direction: "center", className: "gm-label", interactive: false})
          .setLatLng(centre).setContent(esc(feature.feature.properties[spec.labels]));
        label.addTo(map);
        shown.push(label);
      }
    });
  };
  layer.on("add", (event) => {
    const map = event.target._map;
    refresh(map);
    map.on("moveend zoomend", () => refresh(map));
  });
  layer.on("remove", clear);
}

function geojsonLayer(spec) {
  const styleFn = styleNamed(spec.style);
  if (spec.from) spec.data = viewOf(spec);
  const remote = !spec.data && spec.url;
  if (remote) spec.data = EMPTY();
  const renderer = canvasFor((spec.data.features || []).length);
  const layer = L.geoJSON(spec.data, {
    renderer,
    style: (feature) => {
      const style = styleFn(feature.properties);
      if (renderer) style.renderer = renderer;
      return style;
    },
    pointToLayer: pointLayer(spec, styleFn, renderer),
    onEachFeature: bindFeature(spec),
  });
  countDrawn(spec.name, (spec.data.features || []).length);
  if (remote) fetchInto(layer, spec);
  if (spec.labels) labelLayer(layer, spec);
  if (spec.cluster && L.markerClusterGroup) {
    // many point markers: cluster them until close zoom, so a city-wide view stays readable and light
    const group = L.markerClusterGroup({maxClusterRadius: 40, disableClusteringAtZoom: spec.cluster});
    group.addLayer(layer);
    return group;
  }
  return layer;
}

function watchTiles(layer, spec) {
  layer.on("tileloadstart", () => { state.pending += 1; });
  layer.on("tileload tileerror", (event) => {
    state.pending = Math.max(0, state.pending - 1);
    if (event.type === "tileerror") noteError("tile " + spec.name);
  });
  layer.on("tileload", (event) => {
    const paths = event.tile && event.tile.querySelectorAll ? event.tile.querySelectorAll("path").length : 0;
    countDrawn(spec.name, paths);
  });
}

function gateByZoom(layer, minZoom) {
  // below its first zoom the layer is taken off the map (a GridLayer's own minZoom would still fetch
  // tiles of that zoom for the whole view)
  const group = L.layerGroup();
  group.on("add", (event) => {
    const map = event.target._map;
    const gate = () => {
      if (!group._map) return;
      const on = map.getZoom() >= minZoom;
      if (on && !group.hasLayer(layer)) group.addLayer(layer);
      if (!on && group.hasLayer(layer)) group.removeLayer(layer);
    };
    gate();
    map.on("zoomend", gate);
  });
  group.on("remove", () => group.clearLayers());
  return group;
}

function tileLayer(spec) {
  const styleFn = styleNamed(spec.style);
  const popupFn = POPUPS[spec.popup];
  const styles = {[spec.tileLayer || spec.name]: (props, zoom) => styleFn(props, zoom)};
  // 512-pixel tiles of one zoom lower: a quarter of the requests for the same screen. A 512-px grid at zoom z
  // has the x/y of the 256-px grid at z-1, so the URL asks for zoom {zz} = z-1.
  const layer = L.vectorGrid.protobuf(spec.url.replace("{z}", "{zz}"), {
    zz: (data) => data.z - 1,
    vectorTileLayerStyles: styles, interactive: true, tileSize: 512, maxNativeZoom: 19,
    maxZoom: 20, rendererFactory: L.svg.tile, getFeatureId: (feature) => feature.properties.id,
  });
  watchTiles(layer, spec);
  if (popupFn) {
    layer.on("click", (event) => {
      L.popup({maxWidth: 320}).setLatLng(event.latlng).setContent(popupFn(event.layer.properties, spec))
        .openOn(layer._map);
      L.DomEvent.stop(event);
    });
  }
  state.tileLayers.push(layer);
  return spec.minZoom ? gateByZoom(layer, spec.minZoom) : layer;
}

function clusterLayer(spec) {
  const styleFn = STYLES[spec.style];
  const popupFn = POPUPS[spec.popup];
  const group = L.markerClusterGroup({chunkedLoading: true, maxClusterRadius: 50});
  const markers = (spec.data.features || []).map((feature) => {
    const [lon, lat] = feature.geometry.coordinates;
    const marker = L.circleMarker([lat, lon], styleFn(feature.properties));
    if (popupFn) marker.bindPopup(() => popupFn(feature.properties, spec));
    return marker;
  });
  group.addLayers(markers);
  countDrawn(spec.name, markers.length);
  return group;
}

function heatLayer(spec) {
  countDrawn(spec.name, spec.points.length);
  return L.heatLayer(spec.points, {radius: spec.radius || 18, blur: 15, maxZoom: 16, max: spec.max || 1.0});
}

function hideBelowZoom(layer, minZoom) {
  // embedded layers that should only show from a zoom on (buildings): hide below it
  layer.on("add", (event) => {
    const map = event.target._map;
    const gate = () => {
      const visible = map.getZoom() >= minZoom;
      if (!layer.eachLayer) return;
      layer.eachLayer((feature) => {
        if (feature.setStyle) feature.setStyle({opacity: visible ? 1 : 0, fillOpacity: visible ? 0.6 : 0});
      });
    };
    gate();
    map.on("zoomend", gate);
  });
}

const BUILDERS = {tiles: tileLayer, cluster: clusterLayer, heat: heatLayer, geojson: geojsonLayer};

/** The Leaflet layer of a DataLayer spec ({kind, name, style, popup, data | url, …}). */
export function makeLayer(spec) {
  state.specs[spec.name] = spec;
  const build = BUILDERS[spec.kind] || geojsonLayer;
  const layer = build(spec);
  state.built[spec.name] = layer;
  if (spec.minZoom && spec.kind !== "tiles") hideBelowZoom(layer, spec.minZoom);
  layer.gmName = spec.name;
  return layer;
}
