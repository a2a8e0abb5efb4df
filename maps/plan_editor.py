"""规划员绘图页 (the planners' drawing page): a draft plan's grids on a Folium map with Leaflet.draw.

The page shows the draft's grids coloured by households against the 300–500 band (grids with a problem outlined
in red), the validation problems and the buildings; its logic is the module ``maps/static/js/pages/plan_editor.js``. A planner draws a new grid or reshapes/deletes existing ones
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

from gis.coords import wgs84_to_gcj02
from gis.domain import PlanStatus
from gis.plan_validation import ProblemKind
from maps.common import DataLayer, MapContext, PageModule, feature_collection, finish, legend_html, new_map

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
    PageModule("plan_editor", cfg, refs={"group": group}).add_to(m)
    items = [("sw", "#42a5f5", "少于300户"), ("sw", "#43a047", "300–500户"), ("sw", "#e53935", "超过500户"),
             ("sw", "#9e9e9e", "未统计"), ("sw", "#ff1744", "校验问题（重叠/空隙/越界/切楼…）"),
             ("sw", "#a1887f", "楼栋（15级以上）")]
    sources = set(data.sources) | {f["properties"].get("source") for f in data.grids.get("features", [])} - {None}
    legend = legend_html("网格户数 households", items, sources=sources,
                         notes=["红框网格有校验问题 (red outline: grid with a problem)"])
    return finish(m, ctx, sources=sources, legend=legend)
