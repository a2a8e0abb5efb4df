// 区/街道/社区/网格 tree on the planners' grid map (maps/pages.py grid_map): each level is read on demand from
// GET /api/v1/layers/areas?level=&parent= (the same API a client would use); a click on a name zooms to it.
//
// State for the browser tests: `window.gridmapTree` (loaded levels, the last area shown).

import {esc} from "gridmap/shared/html.js";
import {getJson} from "gridmap/shared/http.js";

// the levels under each level (a street holds urban communities and villages)
const CHILDREN = {county: ["township"], township: ["community", "village"], community: ["grid"], village: ["grid"]};
const LEVEL_ZH = {county: "区县", township: "街道/乡镇", community: "社区", village: "村", grid: "网格"};

function areasUrl(api, level, parent) {
  const query = new URLSearchParams({level, limit: "1000"});
  if (parent) query.set("parent", parent);
  return api + "?" + query.toString();
}

function nodeHtml(feature) {
  const p = feature.properties;
  const leaf = !CHILDREN[p.level];
  const extra = p.level === "grid" && p.households !== null && p.households !== undefined ? ` · ${p.households} 户` : "";
  return `<li data-code="${esc(p.code)}" data-level="${esc(p.level)}">`
    + (leaf ? "<span class=\"gm-tree-leaf\">·</span>"
      : `<button type="button" class="gm-tree-toggle" aria-expanded="false" title="展开 (expand)">+</button>`)
    + `<a href="#" class="gm-tree-name">${esc(p.name || p.code)}</a>`
    + `<span class="gm-muted"> ${esc(LEVEL_ZH[p.level] || p.level)}${extra}</span>`
    + (leaf ? "" : "<ul hidden></ul>") + "</li>";
}

/** The tree panel: its state, loading children, zooming to an area. */
class AreaTree {
  constructor(map, options) {
    Object.assign(this, {map, options, features: {}, loaded: 0, shown: null, busy: 0});
    this.highlight = L.geoJSON(null, {style: () => ({color: "#6a1b9a", weight: 3, fill: false, dashArray: "4 3"}),
      interactive: false}).addTo(map);
  }

  async children(level, parent) {
    const found = [];
    for (const child of CHILDREN[level] || []) {
      const body = await getJson(areasUrl(this.options.api, child, parent));
      found.push(...body.features);
    }
    return found;
  }

  async fill(list, features) {
    for (const feature of features) this.features[feature.properties.code] = feature;
    list.innerHTML = features.length ? features.map(nodeHtml).join("")
      : "<li class=\"gm-muted\">（无下级 none）</li>";
    this.loaded += 1;
  }

  async toggle(item) {
    const list = item.querySelector(":scope > ul");
    const button = item.querySelector(":scope > .gm-tree-toggle");
    const open = list.hidden;
    list.hidden = !open;
    button.textContent = open ? "−" : "+";
    button.setAttribute("aria-expanded", String(open));
    if (open && !list.dataset.loaded) {
      list.dataset.loaded = "1";
      list.innerHTML = "<li class=\"gm-muted\">加载中… (loading)</li>";
      this.busy += 1;
      try {
        await this.fill(list, await this.children(item.dataset.level, item.dataset.code));
      } catch (err) {
        list.innerHTML = `<li class="gm-error">加载失败 (failed): ${esc(String(err))}</li>`;
      } finally {
        this.busy -= 1;
      }
    }
  }

  show(code) {
    const feature = this.features[code];
    this.shown = code;
    this.highlight.clearLayers();
    if (!feature || !feature.geometry) return;
    this.highlight.addData(feature);
    this.map.fitBounds(this.highlight.getBounds(), {animate: false, padding: [20, 20]});
  }

  listen(box) {
    box.addEventListener("click", (event) => {
      const item = event.target.closest("li[data-code]");
      if (!item) return;
      if (event.target.classList.contains("gm-tree-toggle")) this.toggle(item);
      if (event.target.classList.contains("gm-tree-name")) {
        event.preventDefault();
        this.show(item.dataset.code);
      }
    });
  }
}

function addPanel(map, tree) {
  const panel = L.control({position: "topright"});
  panel.onAdd = () => {
    const box = L.DomUtil.create("div", "gm-tree");
    box.id = "gm-tree";
    box.innerHTML = "<details open><summary>行政区划与网格 (区/街道/社区/网格)</summary><ul id=\"gm-tree-root\">"
      + "<li class=\"gm-muted\">加载中… (loading)</li></ul></details>";
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    tree.listen(box);
    return box;
  };
  panel.addTo(map);
}

/** Start the tree on ``map``; ``options.api`` is the areas endpoint. */
export function start(map, options) {
  const tree = new AreaTree(map, options);
  window.gridmapTree = tree;
  addPanel(map, tree);
  tree.busy += 1;
  getJson(areasUrl(options.api, "county"))
    .then((body) => tree.fill(document.getElementById("gm-tree-root"), body.features))
    .catch((err) => {
      document.getElementById("gm-tree-root").innerHTML = `<li class="gm-error">加载失败 (failed): ${esc(String(err))}</li>`;
    })
    .finally(() => {
      tree.busy -= 1;
    });
  return tree;
}
