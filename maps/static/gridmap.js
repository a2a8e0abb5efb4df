/* gridmap page helpers: data layers (embedded GeoJSON or PostGIS vector tiles), styles, popups, legend,
   search, "what can I reach from here", the dispatch filter form. Loaded from our own server, no CDN. */
(function () {
  "use strict";
  var G = {layers: {}, pending: 0, fetching: 0, tileLayers: [], ready: false, errors: [], canvasAbove: 1000};
  // pages without a basemap have no tile layer to lend the map a maxZoom; clustering needs one
  L.Map.addInitHook(function () {
    if (this.options.maxZoom === undefined) this.options.maxZoom = 20;
  });

  function esc(v) {
    if (v === null || v === undefined) return "";
    return String(v).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  G.esc = esc;

  function synth(p) {
    return p && p.source === "synthetic" ? ' <span class="gm-synthetic">演示数据 synthetic</span>' : "";
  }

  /* ---------------------------------------------------------------- colours and styles */
  var STATE_COLORS = {
    reported: "#1e88e5", registered: "#3949ab", dispatched: "#8e24aa", handling: "#fb8c00",
    feedback: "#00897b", verified: "#7cb342", closed: "#9e9e9e", returned: "#6d4c41", postponed: "#fdd835"
  };
  G.STATE_COLORS = STATE_COLORS;
  var PALETTE = ["#e53935", "#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#6d4c41", "#d81b60",
    "#3949ab", "#7cb342", "#f4511e", "#546e7a"];
  function colorFor(key) {
    var h = 0;
    key = String(key || "");
    for (var i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) >>> 0;
    return PALETTE[h % PALETTE.length];
  }
  G.colorFor = colorFor;
  function hhColor(h) {
    if (h === null || h === undefined) return "#9e9e9e";
    if (h < 300) return "#42a5f5";
    if (h > 500) return "#e53935";
    return "#43a047";
  }
  G.hhColor = hhColor;

  var STYLES = {
    grid_households: function (p) {
      return {color: "#37474f", weight: 1, fill: true, fillColor: hhColor(p.households), fillOpacity: 0.4};
    },
    grid_outline: function () {
      return {color: "#6a1b9a", weight: 1.2, fill: true, fillColor: "#6a1b9a", fillOpacity: 0.03};
    },
    community: function () {
      return {color: "#ef6c00", weight: 2.5, dashArray: "6 4", fill: false};
    },
    seven_ones: function (p) {
      var r = (p.have || 0) / (p.of || 7);
      var c = r >= 1 ? "#2e7d32" : r >= 0.7 ? "#9e9d24" : r >= 0.4 ? "#f9a825" : "#c62828";
      return {color: c, weight: 2, fill: true, fillColor: c, fillOpacity: 0.25};
    },
    circle: function (p) {
      var c = colorFor(p.type_code);
      return {color: c, weight: 1, fill: true, fillColor: c, fillOpacity: 0.15};
    },
    buildings: function () {
      return {color: "#5d4037", weight: 0.5, fill: true, fillColor: "#a1887f", fillOpacity: 0.6};
    },
    uncovered: function (p) {
      var n = p.count || 1;
      return {color: "#b71c1c", weight: 0.8, fill: true, fillColor: "#ff5252", fillOpacity: 0.7,
        radius: n > 1 ? Math.min(18, 3 + 2.2 * Math.log2(n)) : 3};
    },
    roster_gap: function (p) {
      // outline only: the households colour underneath stays readable and its popup carries the audit too
      var roles = p.vacant_roles ? 1 : 0;
      return {color: "#ff8f00", weight: roles ? 3 : 2, dashArray: roles ? null : "5 4", fill: false};
    },
    roster_building: function () {
      return {radius: 5, color: "#e65100", weight: 2, fill: true, fillColor: "#ff8f00", fillOpacity: 0.9};
    },
    problem: function () {
      return {color: "#d50000", weight: 3, dashArray: "4 3", fill: true, fillColor: "#ff1744", fillOpacity: 0.3,
        radius: 7};
    },
    incident: function (p) {
      var c = STATE_COLORS[p.state] || "#455a64";
      var o = p.overdue === true || p.overdue === 1 || p.overdue === "true";
      var n = p.count || 1;
      if (n > 1) {  // a cluster from the tiles: size by count, red edge if any of it is overdue
        return {radius: Math.min(13, 3 + 1.4 * Math.log2(n)), color: o ? "#d50000" : "#ffffff",
          weight: o ? 1.5 : 1, fill: true, fillColor: c, fillOpacity: 0.55};
      }
      return {radius: o ? 6 : 4, color: o ? "#d50000" : c, weight: o ? 3 : 1, fill: true, fillColor: c,
        fillOpacity: 0.85};
    }
  };
  G.STYLES = STYLES;

  /* ---------------------------------------------------------------- popups */
  function rows(pairs) {
    var h = '<table class="gm-table">';
    pairs.forEach(function (kv) {
      if (kv[1] !== null && kv[1] !== undefined && kv[1] !== "") h += "<tr><th>" + esc(kv[0]) + "</th><td>" +
        esc(kv[1]) + "</td></tr>";
    });
    return h + "</table>";
  }
  var POPUPS = {
    grid_board: function (p, spec) {
      var b = (spec.boards || {})[p.code];
      var h = '<div class="gm-board"><b>' + esc(p.name) + "</b>" + synth(p) + "<br><small>网格编码 " +
        esc(p.code) + "</small>";
      if (b && b.length) {
        h += '<table class="gm-table">';
        b.forEach(function (r) {
          h += "<tr><th>" + esc(r[0]) + "</th><td>" + (r[1].length ? r[1].map(esc).join("<br>") :
            '<span class="gm-muted">待配备 (vacant)</span>') + "</td></tr>";
        });
        h += "</table>";
      } else {
        h += '<p class="gm-muted">公示牌未配置 (no contact board configured)</p>';
      }
      return h + "</div>";
    },
    grid_planner: function (p) {
      var band = p.households == null ? "未统计" : p.households < 300 ? "低于300户" : p.households > 500 ?
        "超过500户" : "300–500户";
      return "<b>" + esc(p.name) + "</b>" + synth(p) + rows([["网格编码", p.code], ["类型", p.kind_zh],
        ["户数 households", p.households], ["人口 residents", p.residents], ["户数区间", band],
        ["问题 problems", p.problems], ["缺配岗位 vacant roles", p.vacant_roles],
        ["缺楼栋长的楼栋", p.buildings_without_head || null], ["缺楼口长的楼口", p.stairwells_without_head || null]]);
    },
    roster_gap: function (p) {
      return "<b>" + esc(p.name) + " · 人员空缺 " + esc(p.vacancies) + "</b>" + synth(p) + rows([
        ["网格编码", p.code], ["缺配岗位 vacant roles", p.vacant_roles || "无 none"],
        ["缺楼栋长的楼栋", p.buildings_without_head], ["缺楼口长的楼口", p.stairwells_without_head]]);
    },
    roster_building: function (p) {
      var d = p.details;
      if (typeof d === "string") { try { d = JSON.parse(d); } catch (e) { d = [d]; } }
      if (!d) {  // from the vector tiles: flags and counts instead of the lines
        d = [];
        if (p.no_building_head) d.push("缺楼栋长 (building without a building head)");
        if (p.stairwells_without_head) d.push(p.stairwells_without_head + " 个单元缺楼口长 (stairwells without a head)");
      }
      var h = "<b>" + esc(p.name || "楼栋") + "</b>" + synth(p) + "<ul>";
      (d || []).forEach(function (line) { h += "<li>" + esc(line) + "</li>"; });
      return h + "</ul>";
    },
    community: function (p) {
      return "<b>" + esc(p.name) + "</b>" + synth(p) + rows([["区划代码", p.code], ["层级", p.level_zh]]);
    },
    village: function (p) {
      var h = "<b>" + esc(p.name) + " · 七个一 " + esc(p.have) + "/" + esc(p.of) + "</b>" + synth(p) + "<ul>";
      (p.items || []).forEach(function (it) {
        h += "<li>" + (it[1] ? "✓ " : "✗ ") + esc(it[0]) + "</li>";
      });
      return h + "</ul>";
    },
    facility: function (p) {
      return "<b>" + esc(p.name) + "</b>" + synth(p) + rows([["类型", p.type_zh], ["地址", p.address]]);
    },
    building: function (p) {
      return "<b>" + esc(p.name || "楼栋") + "</b>" + synth(p) + rows([["户数", p.households],
        ["层数", p.floors]]);
    },
    incident: function (p) {
      if (p.count > 1) {
        return "<b>此处聚合 " + esc(p.count) + " 件事件</b>" + synth(p) + rows([["未结案", p.open],
          ["含超期", p.overdue ? "是" : "否"]]) + '<small class="gm-muted">放大查看单个事件</small>';
      }
      return "<b>事件 #" + esc(p.id) + "</b>" + synth(p) + rows([["类别", p.category_zh || p.category],
        ["状态", p.state_zh || p.state], ["网格", p.grid_code], ["上报时间", p.created],
        ["办结时限", p.due], ["超期", (p.overdue === true || p.overdue === 1) ? "是 overdue" : "否"]]);
    },
    problem: function (p) {
      return '<b class="gm-bad">' + esc(p.kind_zh) + "</b><br>" + esc(p.message);
    },
    uncovered: function (p) {
      if (p.count > 1) {
        return "<b>此处 " + esc(p.count) + " 栋未覆盖楼栋</b>" + synth(p) + rows([["户数", p.households]]);
      }
      return "<b>未覆盖楼栋 uncovered</b>" + synth(p) + rows([["名称", p.name], ["户数", p.households],
        ["最近设施距离(米)", p.nearest_m]]);
    },
    site: function (p) {
      return "<b>建议选址 #" + esc(p.rank) + "</b>" + rows([["新增覆盖户数", p.households],
        ["新增覆盖楼栋", p.buildings], ["方法", p.method]]);
    },
    circle: function (p) {
      return "<b>" + esc(p.type_zh) + " · " + esc(p.minutes) + "分钟服务圈</b>" + synth(p);
    }
  };
  G.POPUPS = POPUPS;

  /* ---------------------------------------------------------------- layers */
  function countDrawn(name, n) {
    G.layers[name] = (G.layers[name] || 0) + n;
  }

  function facilityIcon(p) {
    var c = colorFor(p.type_code);
    return L.divIcon({
      className: "gm-fac", iconSize: [22, 22], iconAnchor: [11, 11],
      html: '<span style="background:' + c + '"><i class="fa-solid fa-' + esc(p.icon || "location-dot") +
        '"></i></span>'
    });
  }

  function geojsonLayer(spec) {
    var styleFn = STYLES[spec.style] || function () { return {}; };
    var popupFn = POPUPS[spec.popup];
    // big layers draw on a canvas (thousands of SVG nodes make a slow page); small ones stay SVG
    if (spec.from) {
      // a view on another embedded layer (the grids with a vacancy): its geometry is not sent twice
      var src = G.specs[spec.from];
      spec.data = {type: "FeatureCollection", features: ((src && src.data && src.data.features) || [])
        .filter(function (f) { return Number(f.properties[spec.where]) > 0; })};
    }
    var remote = !spec.data && spec.url;
    if (remote) spec.data = {type: "FeatureCollection", features: []};
    var n = (spec.data.features || []).length;
    var renderer = n > G.canvasAbove ? (G.canvas = G.canvas || L.canvas({padding: 0.3})) : undefined;
    var layer = L.geoJSON(spec.data, {
      renderer: renderer,
      style: function (f) { var st = styleFn(f.properties); if (renderer) st.renderer = renderer; return st; },
      pointToLayer: function (f, latlng) {
        if (spec.style === "facility") return L.marker(latlng, {icon: facilityIcon(f.properties),
          title: f.properties.name});
        if (spec.style === "site") return L.marker(latlng, {icon: L.divIcon({className: "gm-site",
          iconSize: [26, 26], html: '<span>' + esc(f.properties.rank) + "</span>"})});
        var st = styleFn(f.properties);
        if (renderer) st.renderer = renderer;
        return L.circleMarker(latlng, st);
      },
      onEachFeature: function (f, l) {
        if (popupFn) l.bindPopup(function () { return popupFn(f.properties, spec); }, {maxWidth: 320});
        if (spec.tooltip && f.properties[spec.tooltip] != null) {
          l.bindTooltip(esc(f.properties[spec.tooltip]), {sticky: true});
        }
      }
    });
    countDrawn(spec.name, (spec.data.features || []).length);
    if (remote) {
      // slow or big answers (a plan's validation, detailed service circles) come after the page is usable;
      // lazy ones only when the layer is first switched on
      var load = function () {
        G.fetching += 1;
        fetch(spec.url, {credentials: "same-origin"})
          .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
          .then(function (fc) {
            spec.data = fc;
            layer.addData(fc);
            countDrawn(spec.name, (fc.features || []).length);
          })
          .catch(function (err) { G.errors.push(spec.name + ": " + err.message); })
          .then(function () { G.fetching -= 1; });
      };
      if (spec.lazy) layer.once("add", load); else load();
    }
    if (spec.labels) labelLayer(layer, spec);
    if (spec.cluster && L.markerClusterGroup) {
      // many point markers: cluster them until close zoom, so a city-wide view stays readable and light
      var group = L.markerClusterGroup({maxClusterRadius: 40, disableClusteringAtZoom: spec.cluster});
      group.addLayer(layer);
      return group;
    }
    return layer;
  }

  function labelLayer(layer, spec) {
    // permanent code labels, only at close zoom and only for what is in view (keeps big layers light)
    var shown = [];
    function refresh(map) {
      shown.forEach(function (t) { map.removeLayer(t); });
      shown = [];
      if (!map.hasLayer(layer) || map.getZoom() < (spec.labelMinZoom || 15)) return;
      var b = map.getBounds();
      layer.eachLayer(function (l) {
        var c = l.getBounds ? l.getBounds().getCenter() : l.getLatLng();
        if (b.contains(c) && shown.length < 400) {
          var t = L.tooltip({permanent: true, direction: "center", className: "gm-label", interactive: false})
            .setLatLng(c).setContent(esc(l.feature.properties[spec.labels]));
          t.addTo(map);
          shown.push(t);
        }
      });
    }
    layer.on("add", function (e) {
      var map = e.target._map;
      refresh(map);
      map.on("moveend zoomend", function () { refresh(map); });
    });
    layer.on("remove", function () {
      shown.forEach(function (t) { t.remove(); });
      shown = [];
    });
  }

  function tileLayer(spec) {
    var styleFn = STYLES[spec.style] || function () { return {}; };
    var popupFn = POPUPS[spec.popup];
    var styles = {};
    styles[spec.tileLayer || spec.name] = function (p, z) { return styleFn(p, z); };
    // 512-pixel tiles of one zoom lower: a quarter of the requests for the same screen. A 512-px grid at zoom z
    // has the x/y of the 256-px grid at z-1, so the URL asks for zoom {zz} = z-1.
    var layer = L.vectorGrid.protobuf(spec.url.replace("{z}", "{zz}"), {
      zz: function (d) { return d.z - 1; },
      vectorTileLayerStyles: styles, interactive: true, tileSize: 512, maxNativeZoom: 19,
      maxZoom: 20, rendererFactory: L.svg.tile, getFeatureId: function (f) { return f.properties.id; }
    });
    layer.on("tileloadstart", function () { G.pending += 1; });
    layer.on("tileload tileerror", function (e) {
      G.pending = Math.max(0, G.pending - 1);
      if (e.type === "tileerror") G.errors.push("tile " + spec.name);
    });
    layer.on("tileload", function (e) {
      var n = e.tile && e.tile.querySelectorAll ? e.tile.querySelectorAll("path").length : 0;
      countDrawn(spec.name, n);
    });
    if (popupFn) {
      layer.on("click", function (e) {
        L.popup({maxWidth: 320}).setLatLng(e.latlng).setContent(popupFn(e.layer.properties, spec))
          .openOn(layer._map);
        L.DomEvent.stop(e);
      });
    }
    G.tileLayers.push(layer);
    if (!spec.minZoom) return layer;
    // below its first zoom the layer is taken off the map (a GridLayer's own minZoom would still fetch
    // tiles of that zoom for the whole view)
    var group = L.layerGroup();
    group.on("add", function (e) {
      var map = e.target._map;
      function gate() {
        if (!group._map) return;
        var on = map.getZoom() >= spec.minZoom;
        if (on && !group.hasLayer(layer)) group.addLayer(layer);
        if (!on && group.hasLayer(layer)) group.removeLayer(layer);
      }
      gate();
      map.on("zoomend", gate);
    });
    group.on("remove", function () { group.clearLayers(); });
    return group;
  }

  function clusterLayer(spec) {
    var styleFn = STYLES[spec.style];
    var popupFn = POPUPS[spec.popup];
    var group = L.markerClusterGroup({chunkedLoading: true, maxClusterRadius: 50});
    var markers = [];
    (spec.data.features || []).forEach(function (f) {
      var c = f.geometry.coordinates;
      var m = L.circleMarker([c[1], c[0]], styleFn(f.properties));
      if (popupFn) m.bindPopup(function () { return popupFn(f.properties, spec); });
      markers.push(m);
    });
    group.addLayers(markers);
    countDrawn(spec.name, markers.length);
    return group;
  }

  function heatLayer(spec) {
    countDrawn(spec.name, spec.points.length);
    return L.heatLayer(spec.points, {radius: spec.radius || 18, blur: 15, maxZoom: 16,
      max: spec.max || 1.0});
  }

  G.specs = {};
  G.layer = function (spec) {
    var kind = spec.kind;
    G.specs[spec.name] = spec;
    var l = kind === "tiles" ? tileLayer(spec) : kind === "cluster" ? clusterLayer(spec) :
      kind === "heat" ? heatLayer(spec) : geojsonLayer(spec);
    if (spec.minZoom && kind !== "tiles") zoomGate(l, spec.minZoom);
    l.gmName = spec.name;
    return l;
  };

  function zoomGate(layer, minZoom) {
    // embedded layers that should only show from a zoom on (buildings): hide below it
    layer.on("add", function (e) {
      var map = e.target._map;
      function gate() {
        var el = map.getZoom() >= minZoom;
        layer.eachLayer && layer.eachLayer(function (l) {
          if (l.setStyle) l.setStyle({opacity: el ? 1 : 0, fillOpacity: el ? 0.6 : 0});
        });
      }
      gate();
      map.on("zoomend", gate);
    });
  }

  /* ---------------------------------------------------------------- controls */
  G.legend = function (map, html) {
    var c = L.control({position: "bottomright"});
    c.onAdd = function () {
      var d = L.DomUtil.create("div", "gm-legend");
      d.innerHTML = html;
      L.DomEvent.disableClickPropagation(d);
      return d;
    };
    c.addTo(map);
  };

  G.attribution = function (map, text) {
    if (map.attributionControl) map.attributionControl.addAttribution(text);
  };

  function featurePoint(f) {
    var g = f.geometry;
    if (g.type === "Point") return g.coordinates;
    var ring = g.type === "Polygon" ? g.coordinates[0] : g.coordinates[0][0];
    var x = 0, y = 0;
    ring.forEach(function (c) { x += c[0]; y += c[1]; });
    return [x / ring.length, y / ring.length];
  }
  function searchIndex(cfg) {
    // [label, detail, lon, lat] for every facility and grid, read from the layers already on the page
    var out = [];
    (cfg.layers || []).forEach(function (name) {
      var sp = G.specs[name];
      (sp && sp.data ? sp.data.features : []).forEach(function (f) {
        var p = f.properties, c = featurePoint(f);
        out.push([p.name, p.address || p.type_zh || (p.code ? "网格 " + p.code : ""), c[0], c[1]]);
      });
    });
    return out;
  }
  G.search = function (map, cfg) {
    var index = Array.isArray(cfg) ? cfg : null;
    var c = L.control({position: "topleft"});
    c.onAdd = function () {
      var d = L.DomUtil.create("div", "gm-search");
      d.innerHTML = '<input type="search" placeholder="搜索设施、地址、网格 (search)" aria-label="搜索">' +
        '<ul class="gm-results"></ul>';
      var input = d.querySelector("input"), list = d.querySelector("ul");
      L.DomEvent.disableClickPropagation(d);
      L.DomEvent.disableScrollPropagation(d);
      input.addEventListener("input", function () {
        var q = input.value.trim().toLowerCase();
        if (!index) index = searchIndex(cfg);
        list.innerHTML = "";
        if (!q) return;
        var n = 0;
        for (var i = 0; i < index.length && n < 12; i++) {
          var it = index[i];
          if ((it[0] + " " + (it[1] || "")).toLowerCase().indexOf(q) >= 0) {
            var li = document.createElement("li");
            li.innerHTML = "<b>" + esc(it[0]) + "</b> <small>" + esc(it[1] || "") + "</small>";
            (function (it) {
              li.addEventListener("click", function () {
                map.setView([it[3], it[2]], Math.max(map.getZoom(), 17));
                L.popup().setLatLng([it[3], it[2]]).setContent("<b>" + esc(it[0]) + "</b><br>" +
                  esc(it[1] || "")).openOn(map);
                list.innerHTML = "";
              });
            })(it);
            list.appendChild(li);
            n++;
          }
        }
        if (!n) list.innerHTML = '<li class="gm-muted">无结果 (no match)</li>';
      });
      return d;
    };
    c.addTo(map);
  };

  /* "what can I reach from here": per type, the nearest facility, reachable if inside that type's service
     circle (when circles are known) or within the walking budget as the crow flies. */
  function haversine(lat1, lon1, lat2, lon2) {
    var R = 6371008.8, toR = Math.PI / 180;
    var dLat = (lat2 - lat1) * toR, dLon = (lon2 - lon1) * toR;
    var a = Math.sin(dLat / 2) * Math.sin(dLat / 2) + Math.cos(lat1 * toR) * Math.cos(lat2 * toR) *
      Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 2 * R * Math.asin(Math.sqrt(a));
  }
  function inRing(x, y, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if (((yi > y) !== (yj > y)) && (x < (xj - xi) * (y - yi) / (yj - yi) + xi)) inside = !inside;
    }
    return inside;
  }
  function inGeom(x, y, g) {
    if (!g) return false;
    var polys = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
    for (var i = 0; i < polys.length; i++) {
      if (inRing(x, y, polys[i][0])) {
        var hole = false;
        for (var k = 1; k < polys[i].length; k++) if (inRing(x, y, polys[i][k])) hole = true;
        if (!hole) return true;
      }
    }
    return false;
  }
  function reachFacilities(cfg) {
    if (cfg.facilities) return;
    cfg.facilities = [];
    var zh = {};
    (cfg.facilityLayers || []).forEach(function (name) {
      var sp = G.specs[name];
      (sp && sp.data ? sp.data.features : []).forEach(function (f) {
        var p = f.properties, c = f.geometry.coordinates;
        cfg.facilities.push([p.type_code, c[0], c[1], p.name]);
        zh[p.type_code] = p.type_zh || p.type_code;
      });
    });
    if (cfg.circleLayers && !cfg.circles) {
      cfg.circles = {};
      Object.keys(cfg.circleLayers).forEach(function (t) {
        var sp = G.specs[cfg.circleLayers[t]];
        var f = sp && sp.data && sp.data.features[0];
        if (f) cfg.circles[t] = f.geometry;
      });
    }
    if (!cfg.types) {
      cfg.types = (cfg.typeOrder || Object.keys(zh)).filter(function (t) { return zh[t]; })
        .map(function (t) { return [t, zh[t]]; });
    }
  }
  G.reachFrom = function (cfg, lat, lon) {
    reachFacilities(cfg);
    var best = {};
    cfg.facilities.forEach(function (f) {
      var d = haversine(lat, lon, f[2], f[1]);
      if (!best[f[0]] || d < best[f[0]].d) best[f[0]] = {d: d, name: f[3]};
    });
    var out = [];
    cfg.types.forEach(function (t) {
      var b = best[t[0]];
      if (!b) return;
      var circle = (cfg.circles || {})[t[0]];
      var ok = circle ? inGeom(lon, lat, circle) : b.d <= cfg.budget_m;
      out.push({type: t[0], zh: t[1], nearest: b.name, metres: Math.round(b.d), reachable: ok,
        how: circle ? "服务圈" : "直线"});
    });
    out.sort(function (a, b) { return (b.reachable - a.reachable) || (a.metres - b.metres); });
    return out;
  };
  function reachHtml(res, cfg) {
    var yes = res.filter(function (r) { return r.reachable; });
    var h = '<div class="gm-reach"><b>从这里' + esc(cfg.minutes) + "分钟内可达 (" + yes.length + "/" +
      res.length + " 类)</b><ul>";
    res.forEach(function (r) {
      h += '<li class="' + (r.reachable ? "gm-ok" : "gm-no") + '">' + (r.reachable ? "✓ " : "✗ ") +
        esc(r.zh) + "：" + esc(r.nearest) + " · " + r.metres + " 米</li>";
    });
    return h + '</ul><small class="gm-muted">步行' + esc(cfg.minutes) + "分钟≈" + esc(cfg.budget_m) +
      " 米；有服务圈的按服务圈判断，否则按直线距离估算</small></div>";
  }
  function boardHtml(gs, lat, lng) {
    // the 公示牌 of the grid clicked in: embedded (exported pages) or fetched (published names and phones only)
    if (!gs || !gs.data) return Promise.resolve("");
    var hit = (gs.data.features || []).filter(function (f) { return inGeom(lng, lat, f.geometry); })[0];
    if (!hit) return Promise.resolve("");
    var code = hit.properties.code;
    gs.boards = gs.boards || {};
    if (gs.boards[code] || !gs.boardsUrl) return Promise.resolve(POPUPS.grid_board(hit.properties, gs));
    return fetch(gs.boardsUrl.replace("{code}", encodeURIComponent(code)), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        gs.boards[code] = j ? j.roles : [];
        return POPUPS.grid_board(hit.properties, gs);
      });
  }
  G.reach = function (map, cfg) {
    map.on("click", function (e) {
      var lat = e.latlng.lat, lng = e.latlng.lng;
      var popup = L.popup({maxWidth: 340}).setLatLng(e.latlng)
        .setContent('<div class="gm-reach-pending">计算中… (working)</div>').openOn(map);
      // served pages ask PostGIS (every circle, exact distances); exported ones compute from the page's data
      var answer = cfg.url ?
        fetch(cfg.url + (cfg.url.indexOf("?") < 0 ? "?" : "&") + "lon=" + lng + "&lat=" + lat,
              {credentials: "same-origin"})
          .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
          .then(function (j) { return j.results; }) :
        Promise.resolve(G.reachFrom(cfg, lat, lng));
      Promise.all([answer, boardHtml(G.specs[cfg.gridLayer], lat, lng)]).then(function (parts) {
        G.lastReach = parts[0];
        G.lastReachAt = [lat, lng];
        popup.setContent(reachHtml(parts[0], cfg) + (parts[1] ? "<hr>" + parts[1] : ""));
      }).catch(function (err) {
        G.errors.push("reach: " + err.message);
        popup.setContent('<div class="gm-bad">暂时无法计算 (could not compute): ' + esc(err.message) + "</div>");
      });
    });
  };

  G.filters = function (map, cfg) {
    var c = L.control({position: "topleft"});
    c.onAdd = function () {
      var d = L.DomUtil.create("form", "gm-filters");
      var v = cfg.values || {};
      var cats = '<option value="">全部类别</option>' + (cfg.categories || []).map(function (k) {
        return '<option value="' + esc(k[0]) + '"' + (v.category === k[0] ? " selected" : "") + ">" +
          esc(k[1]) + "</option>";
      }).join("");
      d.innerHTML = '<label>自 <input type="date" name="since" value="' + esc(v.since) + '"></label>' +
        '<label>至 <input type="date" name="until" value="' + esc(v.until) + '"></label>' +
        '<label>网格 <input name="grid" size="15" placeholder="网格编码" value="' + esc(v.grid) + '"></label>' +
        '<label>类别 <select name="category">' + cats + "</select></label>" +
        '<button type="submit">筛选</button>';
      d.method = "get";
      L.DomEvent.disableClickPropagation(d);
      return d;
    };
    c.addTo(map);
  };

  G.finish = function (map) {
    G.map = map;
    G.ready = true;
    G.readyAt = window.performance ? performance.now() : 0;
  };
  G.isIdle = function () {
    // idle: the page script ran and no vector tile layer on the map is still loading tiles
    return G.ready && !(G.map && G.map._animatingZoom) &&
      G.tileLayers.every(function (l) { return !l._map || !l.isLoading(); });
  };
  G.isSettled = function () {
    // idle, and every layer fetched after load has arrived
    return G.isIdle() && G.fetching === 0;
  };
  window.addEventListener("error", function (e) { G.errors.push(String(e.message)); });
  window.gridmap = G;
})();
