"""规划员绘图页 (the planners' drawing page): a draft plan's grids on a Folium map with Leaflet.draw.

The page shows the draft's grids coloured by households against the 300–500 band (grids with a problem outlined
in red), the validation problems and the buildings. A planner draws a new grid or reshapes/deletes existing ones
with the Leaflet.draw toolbar (``folium.plugins.Draw``); each change goes to the plan API with ``fetch()`` —
``POST …/grids``, ``PUT …/grids/{code}`` with ``If-Match`` (the version the page showed), ``DELETE`` with the
version — then the page reloads the plan's state (grids, versions and the validation report) and shows the
result. A stale edit (someone else changed the grid) gets 409 from the API, is reported and the grid reloaded.

Data comes in as plain dicts/GeoDataFrames (read by ``layers``); every JS/CSS file is served locally
(:mod:`maps.assets`). The sign-in cookie is HttpOnly, so the page carries its own short-lived bearer token for
the plan API (``EditorData.api_token``, issued by the route for the signed-in planner; the page is ``no-store``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import shapely
from folium.plugins import Draw
from folium.template import Template

from gis.coords import wgs84_to_gcj02
from gis.domain import PlanStatus
from gis.plan_validation import ProblemKind
from maps.common import DataLayer, MapContext, _js, feature_collection, finish, legend_html, new_map

TITLE = "网格绘制与校验 (draw and check grids)"


@dataclass
class EditorData:
    """What the drawing page shows: the plan summary, its grids (WGS84 FeatureCollection, full precision, with
    ``code``/``version``/``households`` properties), the validation report (``as_dict()`` plus ``geojson``),
    buildings (embedded GeoDataFrame, or None to draw them from vector tiles) and URLs."""

    plan: dict[str, Any]
    grids: dict[str, Any]
    report: dict[str, Any]
    buildings: gpd.GeoDataFrame | None
    building_count: int
    api_url: str
    state_url: str
    community: str | None = None
    sources: set[str] = field(default_factory=set)
    api_token: str | None = None
    """A short-lived bearer token the page sends to the plan API (the sign-in cookie is HttpOnly)."""


def _shift_geometry(geometry: dict[str, Any] | None) -> dict[str, Any] | None:
    """A GeoJSON geometry moved to GCJ-02 (for the Amap basemap), full precision."""
    if not geometry:
        return geometry
    geom = shapely.geometry.shape(geometry)
    moved = shapely.transform(geom, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    return shapely.geometry.mapping(moved)


def display_collection(fc: dict[str, Any], *, shift: bool) -> dict[str, Any]:
    """A FeatureCollection ready for the page: geometry-less features dropped, shifted to GCJ-02 if the basemap
    needs it. Coordinates keep their precision so that untouched vertices go back to the API unchanged."""
    feats = [f for f in fc.get("features", []) if f.get("geometry")]
    if shift:
        feats = [{**f, "geometry": _shift_geometry(f["geometry"])} for f in feats]
    return {"type": "FeatureCollection", "features": feats}


def editor_state(plan: dict[str, Any], grids: dict[str, Any], report: dict[str, Any], *, shift: bool) -> dict:
    """The JSON the page (re)draws from: plan summary, grids and validation report in display coordinates."""
    rep = {k: v for k, v in report.items() if k != "geojson"}
    rep["problems"] = [{k: v for k, v in p.items() if k not in ("geometry", "detail")} for p in report["problems"]]
    if shift:
        for p in rep["problems"]:
            if p.get("location"):
                x, y = wgs84_to_gcj02(np.array([p["location"][0]]), np.array([p["location"][1]]))
                p["location"] = [float(x[0]), float(y[0])]
    geo = report.get("geojson") or {"type": "FeatureCollection", "features": []}
    slim = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": f["geometry"],
         "properties": {k: f["properties"].get(k) for k in ("kind", "kind_zh", "message", "grid", "area_m2")}}
        for f in geo.get("features", [])]}
    rep["geojson"] = display_collection(slim, shift=shift)
    keep = ("code", "name", "kind", "exclusive_type", "community_code", "households", "residents", "version")
    grid_fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": f.get("id"), "geometry": f["geometry"],
         "properties": {k: f["properties"].get(k) for k in keep}} for f in grids.get("features", [])]}
    return {"plan": plan, "grids": display_collection(grid_fc, shift=shift), "report": rep}


class EditorScript(folium.MacroElement):
    """The page logic: draws the grids into the editable group, talks to the plan API after each edit."""

    _template = Template(
        """{% macro header(this, kwargs) %}<style>
.gm-editor { background: rgba(255,255,255,.95); padding: 6px 9px; border-radius: 5px; font-size: 12px;
  max-width: 330px; max-height: 42vh; overflow: auto; box-shadow: 0 1px 4px rgba(0,0,0,.3); }
.gm-editor h4 { margin: 0 0 4px; font-size: 13px; }
.gm-editor ol { margin: 4px 0; padding-left: 18px; }
.gm-editor li.gm-link { cursor: pointer; } .gm-editor li.gm-link:hover { background: #fff3e0; }
.gm-editor .gm-ok { color: #1b5e20; } .gm-editor .gm-error { color: #d50000; } .gm-editor .gm-info { color: #555; }
@media (max-width: 600px) { .gm-editor { max-width: 200px; font-size: 11px; } }
</style>{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var group = {{ this.group.get_name() }};
  var cfg = {{ this.cfg_js }};
  var esc = gridmap.esc;
  var E = {map: map, group: group, cfg: cfg, report: null, busy: 0, edits: 0, done: 0, log: [], byCode: {}};
  window.gridmapEditor = E;

  function token() {
    if (cfg.token) return cfg.token;
    var m = document.cookie.match(/(?:^|;\\s*)gridmap_token=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    try { return window.sessionStorage.getItem("gridmap_token") || ""; } catch (e) { return ""; }
  }
  function headers(extra) {
    var h = {"Content-Type": "application/json", "Accept": "application/json"};
    var t = token();
    if (t) h.Authorization = "Bearer " + t;
    for (var k in (extra || {})) h[k] = extra[k];
    return h;
  }
  function say(text, kind) {
    var el = document.getElementById("gm-editor-status");
    if (el) { el.textContent = text; el.className = "gm-" + (kind || "info"); }
    E.log.push(text);
  }
  function errorText(res) {
    return (res.body && res.body.error && res.body.error.message) || ("HTTP " + res.status);
  }
  function call(method, path, body, extra) {
    var q = (cfg.crs && body) ? "?crs=" + cfg.crs : "";
    var url = path.charAt(0) === "/" && path.indexOf("/api/") === 0 ? path : cfg.api + path + q;
    E.busy += 1;
    return fetch(url, {method: method, headers: headers(extra), credentials: "same-origin",
                                      body: body ? JSON.stringify(body) : undefined})
      .then(function (r) {
        return r.text().then(function (t) {
          var j = null;
          try { j = t ? JSON.parse(t) : null; } catch (e) { j = null; }
          return {status: r.status, ok: r.ok, body: j};
        });
      })
      .catch(function (e) { return {status: 0, ok: false, body: {error: {message: String(e)}}}; })
      .finally(function () { E.busy -= 1; });
  }

  function gridStyle(p) {
    var bad = p.problems > 0;
    return {color: bad ? "#d50000" : "#263238", weight: bad ? 2.5 : 1.2, fill: true,
            fillColor: gridmap.hhColor(p.households), fillOpacity: 0.35};
  }
  // Leaflet.draw edits polygons, not multi-polygons: each part of a grid is its own layer, and an edit sends
  // the grid's parts back together as one (Multi)Polygon
  function parts(g) {
    return g.type === "MultiPolygon" ? g.coordinates : [g.coordinates];
  }
  function gridGeometry(code, without) {
    var polys = (E.parts[code] || []).filter(function (l) { return l !== without && group.hasLayer(l); })
      .map(function (l) { return l.toGeoJSON(false).geometry.coordinates; });
    if (!polys.length) return null;
    return polys.length === 1 ? {type: "Polygon", coordinates: polys[0]} : {type: "MultiPolygon", coordinates: polys};
  }
  // problems lie in a pane under the grids, so a click on a grid (to edit or delete it) reaches the grid
  map.createPane("gmProblems").style.zIndex = 390;
  var problems = L.geoJSON(null, {
    pane: "gmProblems",
    style: function () {
      return {color: "#ff1744", weight: 3, fill: true, fillColor: "#ff1744", fillOpacity: 0.5};
    },
    pointToLayer: function (f, ll) {
      return L.circleMarker(ll, {pane: "gmProblems", radius: 7, color: "#ff1744", weight: 2, fillOpacity: 0.7});
    },
    onEachFeature: function (f, l) {
      l.bindPopup("<b>" + esc(f.properties.kind_zh) + "</b><br>" + esc(f.properties.message), {maxWidth: 320});
    }
  }).addTo(map);
  E.problems = problems;

  function showReport(rep) {
    E.report = rep;
    problems.clearLayers();
    problems.addData(rep.geojson);
    var parts = [];
    Object.keys(rep.counts).forEach(function (k) {
      if (rep.counts[k]) parts.push((cfg.kinds[k] || k) + " " + rep.counts[k]);
    });
    var s = document.getElementById("gm-editor-summary");
    s.dataset.problems = String(rep.problems.length);
    s.dataset.publishable = String(rep.publishable);
    s.innerHTML = rep.ok ? '<span class="gm-ok">校验通过，没有问题 (no problems)</span>'
      : '<span class="' + (rep.publishable ? "gm-info" : "gm-error") + '">校验发现 ' + rep.problems.length +
        " 个问题 (problems)：" + esc(parts.join("，")) + (rep.publishable ? "" : "；须修正后才能发布 (blocking)") +
        "</span>";
    var ol = document.getElementById("gm-editor-problems");
    ol.innerHTML = rep.problems.slice(0, 50).map(function (p, k) {
      return '<li data-k="' + k + '" data-kind="' + esc(p.kind) + '" data-grid="' + esc(p.grid || "") + '"' +
        (p.location ? ' class="gm-link" title="定位 (zoom to it)"' : "") + ">" + esc(p.message) + "</li>";
    }).join("") + (rep.problems.length > 50 ? "<li>…</li>" : "");
    Array.prototype.forEach.call(ol.querySelectorAll("li.gm-link"), function (li) {
      li.onclick = function () {
        var loc = E.report.problems[+li.dataset.k].location;
        map.setView([loc[1], loc[0]], Math.max(map.getZoom(), 16), {animate: false});
      };
    });
  }

  function draw(state) {
    group.clearLayers();
    E.byCode = {};
    E.parts = {};
    var perGrid = {};
    state.report.problems.forEach(function (p) { if (p.grid) perGrid[p.grid] = (perGrid[p.grid] || 0) + 1; });
    state.grids.features.forEach(function (f) {
      var p = f.properties;
      p.problems = perGrid[p.code] || 0;
      var ps = parts(f.geometry);
      E.parts[p.code] = ps.map(function (poly, k) {
        var layer = L.GeoJSON.geometryToLayer({type: "Feature", geometry: {type: "Polygon", coordinates: poly},
                                               properties: p});
        layer.feature = {type: "Feature", geometry: f.geometry, properties: p};
        layer.setStyle(gridStyle(p));
        layer.bindTooltip(esc(p.code) + " " + esc(p.name || "") + (ps.length > 1 ? "（第 " + (k + 1) + "/" +
          ps.length + " 块 part）" : "") + "<br>" +
          (p.households === null || p.households === undefined ? "未统计 (no count)" : p.households + " 户") +
          " · 版本 v" + p.version + (p.problems ? ' · <span class="gm-bad">' + p.problems + " 个问题</span>" : ""),
          {sticky: true});
        group.addLayer(layer);
        return layer;
      });
      E.byCode[p.code] = E.parts[p.code][0];
    });
    E.plan = state.plan;
    document.getElementById("gm-editor-plan").textContent =
      state.plan.name + " · " + state.plan.status_zh + " · " + state.plan.grid_count + " 个网格";
    showReport(state.report);
  }

  function refresh() {
    E.busy += 1;
    return fetch(cfg.state, {headers: headers(), credentials: "same-origin"})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(draw)
      .catch(function (e) { say("刷新失败 (reload failed): " + e, "error"); })
      .finally(function () { E.busy -= 1; E.done += 1; });
  }
  E.refresh = refresh;

  function props(p) {
    return {name: p.name, kind: p.kind, exclusive_type: p.exclusive_type, households: p.households,
            residents: p.residents};
  }

  map.on("draw:created", function (e) {
    E.edits += 1;
    var f = {type: "Feature", geometry: e.layer.toGeoJSON(false).geometry, properties: {name: "新网格 (new grid)"}};
    if (cfg.community) f.properties.community_code = cfg.community;
    say("正在保存新网格… (saving)", "info");
    call("POST", "/grids", f).then(function (res) {
      group.removeLayer(e.layer);
      if (res.ok) say("已新增网格 " + res.body.id + "，版本 1 (grid added)", "ok");
      else say("新增网格失败 (not added)：" + errorText(res), "error");
      return refresh();
    });
  });

  function save(p, geometry) {
    var f = {type: "Feature", geometry: geometry, properties: props(p)};
    return call("PUT", "/grids/" + encodeURIComponent(p.code), f, {"If-Match": '"' + p.version + '"'})
      .then(function (res) {
        if (res.ok) return {ok: true, text: "网格 " + p.code + " 已保存，版本 " + res.body.properties.version};
        if (res.status === 409) return {ok: false, text: "网格 " + p.code + " 已被他人修改，本次修改未保存，已重新载入 " +
          "(changed by someone else since version " + p.version + "; not saved, reloaded)"};
        return {ok: false, text: "网格 " + p.code + " 保存失败 (not saved)：" + errorText(res)};
      });
  }

  map.on("draw:edited", function (e) {
    E.edits += 1;
    var jobs = [], seen = {};
    e.layers.eachLayer(function (layer) {
      var p = layer.feature.properties;
      if (seen[p.code]) return;
      seen[p.code] = true;
      jobs.push(save(p, gridGeometry(p.code, null)));
    });
    if (!jobs.length) { say("没有改动 (nothing changed)", "info"); E.done += 1; return; }
    say("正在保存… (saving)", "info");
    Promise.all(jobs).then(function (out) {
      say(out.map(function (o) { return o.text; }).join("；"), out.every(function (o) { return o.ok; }) ? "ok" : "error");
      return refresh();
    });
  });

  map.on("draw:deleted", function (e) {
    E.edits += 1;
    var jobs = [], seen = {};
    e.layers.eachLayer(function (layer) {
      var p = layer.feature.properties;
      if (seen[p.code]) return;
      seen[p.code] = true;
      var rest = gridGeometry(p.code, null);  // the deleted parts are off the group already
      if (rest) { jobs.push(save(p, rest)); return; }
      jobs.push(call("DELETE", "/grids/" + encodeURIComponent(p.code) + "?version=" + p.version, null)
        .then(function (res) {
          return res.ok ? {ok: true, text: "已删除网格 " + p.code}
            : {ok: false, text: "网格 " + p.code + " 未删除 (not deleted)：" + errorText(res)};
        }));
    });
    Promise.all(jobs).then(function (out) {
      say(out.map(function (o) { return o.text; }).join("；"), out.every(function (o) { return o.ok; }) ? "ok" : "error");
      return refresh();
    });
  });

  var panel = L.control({position: "bottomleft"});
  panel.onAdd = function () {
    var d = L.DomUtil.create("div", "gm-editor");
    d.id = "gm-editor";
    d.innerHTML = "<h4>校验结果 (validation)</h4>" + '<div id="gm-editor-plan" class="gm-muted"></div>' +
      '<div id="gm-editor-status" class="gm-info">' + esc(cfg.hint) + "</div>" +
      '<div id="gm-editor-summary"></div><ol id="gm-editor-problems"></ol>' +
      '<button type="button" id="gm-editor-refresh">重新校验 (validate again)</button>' +
      (cfg.editable ? ' <button type="button" id="gm-editor-impact">影响预览 (impact)</button>' +
        ' <button type="button" id="gm-editor-publish">发布 (publish)</button>' : "") +
      '<div id="gm-editor-impact-out"></div>' +
      (cfg.community ? '<button type="button" id="gm-editor-propose">为本社区自动划分，生成新草案 (propose a draft ' +
        "for this community from the plan in force)</button>" : "");
    L.DomEvent.disableClickPropagation(d);
    L.DomEvent.disableScrollPropagation(d);
    return d;
  };
  panel.addTo(map);
  document.getElementById("gm-editor-refresh").onclick = function () { say("正在校验… (validating)", "info"); refresh(); };

  // a proposal for the community shown: a new draft (the plan in force with this community's grids replaced)
  if (cfg.community) {
    document.getElementById("gm-editor-propose").onclick = function () {
      say("正在自动划分… (proposing)", "info");
      call("POST", "/api/v1/plans/proposals", {community_code: cfg.community, create_draft: true}).then(function (res) {
        if (!res.ok) { say("自动划分失败 (no proposal)：" + errorText(res), "error"); return; }
        var m = res.body.metrics;
        E.proposal = m;
        say("已生成草案 " + res.body.plan.id + "：" + m.grids + " 个网格，" + Math.round(m.within_bounds_share * 100) +
            "% 在户数范围内 (draft created)", "ok");
        window.location.href = cfg.editPage.replace("{id}", res.body.plan.id) + "?community=" + cfg.community;
      });
    };
  }

  // impact against the plan in force, and publishing (the API refuses a plan with blocking problems)
  E.impact = null;
  E.published = null;
  function showImpact(imp) {
    var g = imp.grids, b = imp.buildings;
    document.getElementById("gm-editor-impact-out").innerHTML =
      "<b>与现行方案相比 (against the plan in force)：</b>新增 " + g["new"].length + "、撤销 " + g.removed.length +
      "、调整 " + g.changed.length + " 个网格；楼栋 " + b.count + " 栋（" + b.households + " 户）、未结事件 " +
      imp.incidents.count + " 件、人员 " + imp.staff.count + " 人将改变所属网格 (would move)；" +
      "蓝色虚线为新增或调整的网格 (new or changed grids: blue dashes)";
    g["new"].concat(g.changed).forEach(function (c) {
      (E.parts[c.code] || []).forEach(function (l) { l.setStyle({color: "#1565c0", weight: 3, dashArray: "6 4"}); });
    });
  }
  if (cfg.editable) {
    document.getElementById("gm-editor-impact").onclick = function () {
      say("正在计算影响… (computing the impact)", "info");
      call("GET", "/impact", null).then(function (res) {
        if (res.ok) { E.impact = res.body; showImpact(res.body); say("影响预览已更新 (impact shown)", "ok"); }
        else say("影响预览失败：" + errorText(res), "error");
      });
    };
    document.getElementById("gm-editor-publish").onclick = function () {
      if (!window.confirm("发布后本方案成为现行方案，原方案废止。确定发布？ (publish this draft?)")) return;
      call("POST", "/publish", null).then(function (res) {
        if (res.ok) {
          E.published = res.body;
          say("方案已发布为第 " + res.body.generation + " 代，" + res.body.effective_from + " 起生效 (published)", "ok");
          cfg.editable = false;
          setTimeout(function () { window.location.reload(); }, 1500);
        } else {
          say("未发布 (not published)：" + errorText(res), "error");
        }
      });
    };
  }
  draw(cfg.initial);
  // the page opens on the plan's grids (see plan_editor: no animation)
  if (group.getLayers().length) map.fitBounds(group.getBounds(), {animate: false, padding: [10, 10]});
  if (!cfg.editable) say(cfg.hint, "error");
})();
{% endmacro %}"""
    )

    def __init__(self, group: folium.FeatureGroup, cfg: dict[str, Any]) -> None:
        super().__init__()
        self._name = "GridmapPlanEditor"
        self.group = group
        self.cfg_js = _js(cfg)


def plan_editor(data: EditorData, ctx: MapContext) -> folium.Map:
    """The drawing page of one plan (editable when it is a draft)."""
    state = editor_state(data.plan, data.grids, data.report, shift=ctx.shift)
    feats = state["grids"]["features"]
    # The page script fits the view to the grids itself, without animation: a zoom animation started by
    # folium's fitBounds at load lands after later view changes and can leave the centre at the default.
    m = new_map(f"{TITLE} · {data.plan['name']}", ctx, None)
    # An explicit minimum zoom: otherwise Leaflet raises the map's minimum to the buildings tile layer's
    # minZoom (15) and zooms the whole map in around its default centre when that layer is added.
    m.options["minZoom"] = 5
    if ctx.use_tiles(data.building_count) or (data.buildings is None and ctx.tile_base is not None):
        DataLayer({"kind": "tiles", "url": ctx.tiles_url("buildings"), "tileLayer": "buildings",
                   "style": "buildings", "popup": "building", "minZoom": 15},
                  name="楼栋 buildings (放大显示)").add_to(m)
    elif data.buildings is not None and len(data.buildings):
        DataLayer({"kind": "geojson", "style": "buildings", "popup": "building", "minZoom": 15,
                   "data": feature_collection(data.buildings, ["id", "name", "households", "floors", "source"],
                                              shift=ctx.shift)},
                  name="楼栋 buildings (放大显示)").add_to(m)
    editable = data.plan["status"] == PlanStatus.DRAFT.value
    group = folium.FeatureGroup(name=f"网格 grids ({len(feats)})", overlay=True, control=True)
    group.add_to(m)
    if editable:
        Draw(
            feature_group=group,
            position="topleft",
            show_geometry_on_click=False,
            draw_options={"polyline": False, "circle": False, "marker": False, "circlemarker": False,
                          "polygon": {"allowIntersection": False, "showArea": False},
                          "rectangle": {"showArea": False}},
            edit_options={"poly": {"allowIntersection": False}},
        ).add_to(m)
    hint = ("用左上角工具绘制新网格或修改/删除网格，保存后自动校验 (draw, reshape or delete grids with the toolbar; "
            "each change is saved and validated)") if editable else (
        f"方案状态为{data.plan['status_zh']}，只能查看；请复制为草案后编辑 (only a draft can be edited)")
    cfg = {
        "api": data.api_url, "state": data.state_url, "crs": "gcj02" if ctx.shift else None,
        "editPage": "/maps/plans/{id}/edit", "token": data.api_token,
        "community": data.community, "editable": editable, "hint": hint,
        "kinds": {k.value: k.zh for k in ProblemKind}, "initial": state,
    }
    EditorScript(group, cfg).add_to(m)
    items = [("sw", "#42a5f5", "少于300户"), ("sw", "#43a047", "300–500户"), ("sw", "#e53935", "超过500户"),
             ("sw", "#9e9e9e", "未统计"), ("sw", "#ff1744", "校验问题（重叠/空隙/越界/切楼…）"),
             ("sw", "#a1887f", "楼栋（15级以上）")]
    sources = set(data.sources) | {f["properties"].get("source") for f in data.grids.get("features", [])} - {None}
    legend = legend_html("网格户数 households", items, sources=sources,
                         notes=["红框网格有校验问题 (red outline: grid with a problem)"])
    return finish(m, ctx, sources=sources, legend=legend)
