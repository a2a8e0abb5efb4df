// Controls on a map page: title, legend, attribution, search box, the dispatch filter form.

import {esc} from "gridmap/shared/html.js";
import {featurePoint} from "gridmap/shared/geometry.js";
import {state} from "gridmap/map/state.js";

const MAX_HITS = 12;

/** A control at ``position`` whose element is built by ``build()`` (clicks and scrolls stay inside it). */
function control(map, position, build) {
  const ctl = L.control({position});
  ctl.onAdd = () => {
    const element = build();
    L.DomEvent.disableClickPropagation(element);
    L.DomEvent.disableScrollPropagation(element);
    return element;
  };
  ctl.addTo(map);
  return ctl;
}

/** The page's title box (top right). */
export function title(map, text) {
  control(map, "topright", () => {
    const box = L.DomUtil.create("div", "gm-title");
    box.textContent = text;
    return box;
  });
}

/** The legend (bottom right), from HTML built by maps/common.py `legend_html`. */
export function legend(map, html) {
  control(map, "bottomright", () => {
    const box = L.DomUtil.create("div", "gm-legend");
    box.innerHTML = html;
    return box;
  });
}

/** The data attribution line (OSM, synthetic marking). */
export function attribution(map, text) {
  if (map.attributionControl) map.attributionControl.addAttribution(text);
}

/** [label, detail, lon, lat] of every feature of the named layers already on the page. */
function searchIndex(layerNames) {
  const index = [];
  for (const name of layerNames || []) {
    const spec = state.specs[name];
    for (const feature of spec && spec.data ? spec.data.features : []) {
      const p = feature.properties;
      const [lon, lat] = featurePoint(feature);
      index.push([p.name, p.address || p.type_zh || (p.code ? "网格 " + p.code : ""), lon, lat]);
    }
  }
  return index;
}

function showHit(map, list, [label, detail, lon, lat]) {
  map.setView([lat, lon], Math.max(map.getZoom(), 17));
  L.popup().setLatLng([lat, lon]).setContent(`<b>${esc(label)}</b><br>${esc(detail || "")}`).openOn(map);
  list.innerHTML = "";
}

function listHits(map, list, index, query) {
  list.innerHTML = "";
  if (!query) return;
  const hits = index.filter(([label, detail]) => (label + " " + (detail || "")).toLowerCase().includes(query))
    .slice(0, MAX_HITS);
  for (const hit of hits) {
    const item = document.createElement("li");
    item.innerHTML = `<b>${esc(hit[0])}</b> <small>${esc(hit[1] || "")}</small>`;
    item.addEventListener("click", () => showHit(map, list, hit));
    list.appendChild(item);
  }
  if (!hits.length) list.innerHTML = "<li class=\"gm-muted\">无结果 (no match)</li>";
}

/** A search box over facilities, addresses and grids: ``cfg`` is an index or {layers: [names]}. */
export function search(map, cfg) {
  let index = Array.isArray(cfg) ? cfg : null;
  control(map, "topleft", () => {
    const box = L.DomUtil.create("div", "gm-search");
    box.innerHTML = "<input type=\"search\" placeholder=\"搜索设施、地址、网格 (search)\" aria-label=\"搜索\">"
      + "<ul class=\"gm-results\"></ul>";
    const input = box.querySelector("input");
    const list = box.querySelector("ul");
    input.addEventListener("input", () => {
      index = index || searchIndex(cfg.layers);
      listHits(map, list, index, input.value.trim().toLowerCase());
    });
    return box;
  });
}

/** The dispatch map's filter form (date range, grid, category); submitting reloads the page with them. */
export function filters(map, cfg) {
  const values = cfg.values || {};
  const options = (cfg.categories || []).map(([code, label]) =>
    `<option value="${esc(code)}"${values.category === code ? " selected" : ""}>${esc(label)}</option>`).join("");
  const ctl = L.control({position: "topleft"});
  ctl.onAdd = () => {
    const form = L.DomUtil.create("form", "gm-filters");
    form.innerHTML = `<label>自 <input type="date" name="since" value="${esc(values.since)}"></label>`
      + `<label>至 <input type="date" name="until" value="${esc(values.until)}"></label>`
      + `<label>网格 <input name="grid" size="15" placeholder="网格编码" value="${esc(values.grid)}"></label>`
      + `<label>类别 <select name="category"><option value="">全部类别</option>${options}</select></label>`
      + "<button type=\"submit\">筛选</button>";
    form.method = "get";
    L.DomEvent.disableClickPropagation(form);
    return form;
  };
  ctl.addTo(map);
}
