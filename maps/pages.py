"""The four maps: public facilities, planners' grids, dispatchers' incidents, service coverage.

Each builder takes the data as GeoDataFrames/dicts (read by ``layers.map_data``) and a :class:`MapContext`,
and returns a Folium map. Big layers are not passed as data but as a feature count: above the context's
threshold they are drawn from the vector tile endpoint instead of being embedded in the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from gis.domain import FACILITY_TYPES, LIFE_CIRCLE_MINUTES, AreaLevel, IncidentState, walk_metres
from maps.common import (
    Call,
    DataLayer,
    MapContext,
    PageModule,
    feature_collection,
    finish,
    legend_html,
    new_map,
    shift_lonlat,
)

TYPE_ZH = {code: zh for code, _g, zh, _en in FACILITY_TYPES}
GROUP_ZH = {
    "seven_ones": "七个一设施", "service_circle": "15分钟生活圈设施", "function_room": "功能室",
    "public_toilet": "对外开放厕所",
}
ICONS = {
    "activity_venue": "people-group", "fitness_square": "person-running", "village_clinic": "house-medical",
    "culture_centre": "masks-theater", "reading_room": "book-open", "small_shop": "store",
    "elderly_home": "person-cane", "supermarket": "cart-shopping", "fitness": "dumbbell", "park": "tree",
    "elderly_care": "hand-holding-heart", "clinic": "stethoscope", "pharmacy": "prescription-bottle-medical",
    "kindergarten": "children", "school": "school", "library": "book", "community_centre": "building-user",
    "post_bank": "building-columns", "bus_stop": "bus", "talk_room": "comments", "council_hall": "landmark",
    "counselling_room": "heart", "police_room": "shield-halved", "open_toilet": "restroom",
}


def _sources(*frames) -> set[str]:
    out: set[str] = set()
    for f in frames:
        if f is not None and len(f) and "source" in f:
            out |= {s for s in f["source"].dropna().unique()}
    return out


def _colour(code: str) -> str:
    # the same hash as gridmap.js colorFor, so legend and map agree
    palette = ["#e53935", "#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#6d4c41", "#d81b60",
               "#3949ab", "#7cb342", "#f4511e", "#546e7a"]
    h = 0
    for ch in code:
        h = (h * 31 + ord(ch)) & 0xFFFFFFFF
    return palette[h % len(palette)]


# ------------------------------------------------------------------------------------------ public
@dataclass
class PublicData:
    """What the public map shows — nothing about residents or reporters."""

    facilities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    circles: gpd.GeoDataFrame
    boards: dict[str, list] = field(default_factory=dict)
    bounds: tuple[float, float, float, float] | None = None
    minutes: float = LIFE_CIRCLE_MINUTES
    forms: dict | None = None  # the residents' forms' choices (usecases.residents.form_choices); served pages only


PUBLIC_FACILITY_COLUMNS = ["id", "type_code", "type_zh", "name", "address", "source", "icon"]


def public_map(data: PublicData, ctx: MapContext) -> folium.Map:
    """公众设施地图: facilities by type, 15-minute circles per type, boundaries, 公示牌, 七个一, search, reach."""
    m = new_map("便民服务设施地图 · 15分钟生活圈", ctx, data.bounds)
    fac = data.facilities.copy()
    fac["icon"] = fac["type_code"].map(ICONS).fillna("location-dot")

    DataLayer({"kind": "geojson", "style": "community", "popup": "community",
               "data": feature_collection(data.communities.assign(level_zh=data.communities["level"].map(AreaLevel.labels())),
                                          ["code", "name", "level_zh", "source"], shift=ctx.shift)},
              name="社区/村界 communities").add_to(m)
    # a click anywhere answers "what can I reach" and shows the 公示牌 of the grid clicked in (gridmap.reach);
    # served pages fetch a board when it is needed, exported ones carry them all
    grid_layer = "网格与公示牌 grids"
    board_spec = ({"boards": data.boards} if ctx.tile_base is None else
                  {"boards": {}, "boardsUrl": f"{ctx.tile_base}/maps/public/boards/{{code}}.json"})
    DataLayer({"kind": "geojson", "style": "grid_outline", "tooltip": "name", **board_spec,
               "data": feature_collection(data.grids, ["code", "name", "source"], shift=ctx.shift)},
              name=grid_layer).add_to(m)
    if len(data.villages):
        DataLayer({"kind": "geojson", "style": "seven_ones", "popup": "village",
                   "data": feature_collection(data.villages, ["code", "name", "have", "of", "items", "source"],
                                              shift=ctx.shift)},
                  name="村“七个一”配置 seven-ones", show=False).add_to(m)
    # circles follow real streets and can be detailed: a served page fetches a type's circles when its layer is
    # switched on; an exported page carries them
    for code, circle in data.circles.groupby("type_code", sort=True):
        name = f"{circle['type_zh'].iloc[0]} {int(data.minutes)}分钟圈"
        if ctx.tile_base is not None:
            src = {"url": f"{ctx.tile_base}/maps/public/circles/{code}.json", "lazy": True}
        else:
            src = {"data": feature_collection(circle, ["type_code", "type_zh", "minutes", "source"],
                                              shift=ctx.shift)}
        DataLayer({"kind": "geojson", "style": "circle", "tooltip": "type_zh", **src}, name=name,
                  show=False).add_to(m)
    facility_layers = []
    groups = fac.groupby("group_code", sort=False) if len(fac) else []
    for group, part in groups:
        name = f"{GROUP_ZH.get(group, group)} ({len(part)})"
        facility_layers.append(name)
        DataLayer({"kind": "geojson", "style": "facility", "popup": "facility", "cluster": 16,
                   "data": feature_collection(part, PUBLIC_FACILITY_COLUMNS, shift=ctx.shift)},
                  name=name).add_to(m)

    # search and reach read the facilities and grids from the layers above (nothing embedded twice)
    Call("search", {"layers": [*facility_layers, grid_layer]}).add_to(m)
    # "from here": the server walks the streets (the same answer as /api/v1/circles/reachable); an exported page
    # shows the boards only
    types = sorted({c for c in fac["type_code"]}, key=list(TYPE_ZH).index) if len(fac) else []
    Call("reach", {
        "gridLayer": grid_layer, "types": [[t, TYPE_ZH.get(t, t)] for t in types],
        **({"url": f"{ctx.tile_base}/maps/public/reach" + ("?crs=gcj02" if ctx.shift else "")}
           if ctx.tile_base is not None else {}),
    }).add_to(m)

    if data.forms and ctx.tile_base is not None:  # 居民办事: a server takes the forms (an exported page has none)
        PageModule("residents", {"choices": data.forms, "honeypot": data.forms["honeypot"],
                                 "crs": "gcj02" if ctx.shift else "wgs84"}).add_to(m)
    items = [("sw", "#ef6c00", "社区/村界"), ("sw", "#6a1b9a", "网格（点击查看公示牌与可达设施）")]
    items += [("dot", _colour(t), TYPE_ZH.get(t, t)) for t in types]
    items += [("sw", "#2e7d32", "七个一 齐全"), ("sw", "#c62828", "七个一 缺项多")]
    sources = _sources(data.facilities, data.grids, data.communities, data.circles)
    legend = legend_html("图例 legend", items, sources=sources,
                         notes=["点击地图任意位置：步行5/10/15分钟能到哪里", "可在左上角搜索设施/地址/网格"])
    return finish(m, ctx, sources=sources, legend=legend)


# ------------------------------------------------------------------------------------------ grids
@dataclass
class GridData:
    """What the planners' grid map shows."""

    grids: gpd.GeoDataFrame
    problems: dict[str, Any] = field(default_factory=lambda: {"type": "FeatureCollection", "features": []})
    buildings: gpd.GeoDataFrame | None = None  # embedded when small; None → vector tiles
    building_count: int = 0
    bounds: tuple[float, float, float, float] | None = None
    building_sources: set[str] = field(default_factory=set)
    problems_url: str | None = None  # served pages fetch the validation after load (it can take seconds)
    roster_grids: gpd.GeoDataFrame | None = None  # grids with a vacancy (layers.map_data.roster_gaps)
    roster_buildings: gpd.GeoDataFrame | None = None  # buildings without a 楼栋长 / 楼口长; None → tiles
    roster_building_count: int = 0
    visit_coverage: pd.DataFrame | None = None  # per grid code: visited_households, visit_share, visit_month
    stale_buildings: gpd.GeoDataFrame | None = None  # buildings not visited for ``stale_days`` (points)
    stale_days: int = 90


def grid_map(data: GridData, ctx: MapContext) -> folium.Map:
    """规划员网格图: grids coloured by households against 300–500, codes, validation problems, buildings on zoom."""
    m = new_map("网格划分图 · 户数与校验", ctx, data.bounds)
    grids = data.grids.copy()
    per_grid: dict[str, int] = {}
    for f in data.problems.get("features", []):
        code = f["properties"].get("grid")
        if code:
            per_grid[code] = per_grid.get(code, 0) + 1
    grids["problems"] = grids["code"].map(per_grid).fillna(0).astype(int)
    from gis.domain import GridKind

    grids["kind_zh"] = grids["kind"].map(GridKind.labels())
    roster_cols = []
    if data.roster_grids is not None:  # the roster audit shows in each grid's popup too
        roster_cols = ["vacant_roles", "buildings_without_head", "stairwells_without_head", "vacancies"]
        by_code = data.roster_grids.set_index("code")
        for col in roster_cols:
            grids[col] = grids["code"].map(by_code[col]).fillna("" if col == "vacant_roles" else 0)
    visit_cols = []
    if data.visit_coverage is not None:  # 入户走访: the month's share of households visited, per grid
        visit_cols = ["visited_households", "visit_share", "visit_month", "visit_scope"]
        by_code = data.visit_coverage.set_index("grid_code")
        for col in visit_cols[:3]:
            grids[col] = grids["code"].map(by_code[col])
        # the grids whose coverage this map's viewer may see (their own area's grids with households)
        grids["visit_scope"] = (grids["code"].isin(by_code.index) & (grids["households"].fillna(0) > 0)).astype(int)
    _buildings(m, ctx, data.buildings, data.building_count, style="buildings", popup="building",
               name="楼栋 buildings (放大显示)", min_zoom=15)
    grid_layer = f"网格 grids ({len(grids)})"
    DataLayer({"kind": "geojson", "style": "grid_households", "popup": "grid_planner", "labels": "code",
               "labelMinZoom": 15, "tooltip": "name",
               "data": feature_collection(grids, ["code", "name", "kind_zh", "households", "residents", "problems",
                                                  *roster_cols, *visit_cols, "source"], shift=ctx.shift)},
              name=grid_layer).add_to(m)
    if data.problems_url:
        DataLayer({"kind": "geojson", "style": "problem", "popup": "problem", "url": data.problems_url},
                  name="校验问题 problems").add_to(m)
    else:
        problems = problems_geojson(data.problems, ctx)
        DataLayer({"kind": "geojson", "style": "problem", "popup": "problem", "data": problems},
                  name=f"校验问题 problems ({len(problems['features'])})").add_to(m)
    _roster_layers(m, ctx, data, grid_layer)
    _visit_layers(m, ctx, data, grid_layer)
    if ctx.tile_base is not None:  # served pages only: the tree reads the areas API level by level
        PageModule("area_tree", {"api": f"{ctx.tile_base}/api/v1/layers/areas"}).add_to(m)
    hh = grids["households"]
    items = [("sw", "#42a5f5", f"少于300户 ({int((hh < 300).sum())})"),
             ("sw", "#43a047", f"300–500户 ({int(hh.between(300, 500).sum())})"),
             ("sw", "#e53935", f"超过500户 ({int((hh > 500).sum())})"),
             ("sw", "#9e9e9e", f"未统计 ({int(hh.isna().sum())})"),
             ("sw", "#ff1744", "校验问题（重叠/空隙/越界/切楼…）"), ("sw", "#a1887f", "楼栋（15级以上）")]
    if data.roster_grids is not None:
        items += [("sw", "#ff8f00", f"人员空缺网格 roster gaps ({len(data.roster_grids)})"),
                  ("dot", "#ff8f00", f"缺楼栋长/楼口长的楼栋 ({data.roster_building_count})")]
    if data.visit_coverage is not None:
        items += [("sw", "#c62828", "本月入户 <30%"), ("sw", "#f9a825", "30–70%"), ("sw", "#2e7d32", "≥70%"),
                  ("dot", "#6a1b9a", f"超过{data.stale_days}天未走访楼栋 ({0 if data.stale_buildings is None else len(data.stale_buildings)})")]
    sources = _sources(data.grids) | set(data.building_sources)
    legend = legend_html("网格户数 households", items, sources=sources, notes=["放大到15级显示网格编码与楼栋"])
    return finish(m, ctx, sources=sources, legend=legend)


def _visit_layers(m, ctx: MapContext, data: GridData, grid_layer: str) -> None:
    """入户走访 on the grid map (off until ticked): grids coloured by the month's share of households visited,
    and the buildings not visited for ``stale_days`` days."""
    if data.visit_coverage is None:
        return
    month = data.visit_coverage["visit_month"].iloc[0] if len(data.visit_coverage) else ""
    DataLayer({"kind": "geojson", "style": "visit_share", "popup": "visit_share", "tooltip": "name",
               "from": grid_layer, "where": "visit_scope"}, name=f"入户走访覆盖 visits {month}", show=False).add_to(m)
    stale = data.stale_buildings
    if stale is not None:
        DataLayer({"kind": "geojson", "style": "stale_building", "popup": "stale_building",
                   "data": feature_collection(stale, ["name", "households", "grid_code", "last_visited",
                                                      "days_since", "source"], shift=ctx.shift)},
                  name=f"超过{data.stale_days}天未走访 not visited ({len(stale)})", show=False).add_to(m)


def _roster_layers(m, ctx: MapContext, data: GridData, grid_layer: str) -> None:
    """The roster audit on the grid map: grids with vacant required roles (the grid layer's own features with
    ``vacancies`` > 0, outlined), buildings lacking heads (embedded, or vector tiles when many)."""
    if data.roster_grids is None:
        return
    DataLayer({"kind": "geojson", "style": "roster_gap", "popup": "roster_gap", "tooltip": "name",
               "from": grid_layer, "where": "vacancies"},
              name=f"人员空缺 roster gaps ({len(data.roster_grids)})").add_to(m)
    n = data.roster_building_count
    name = f"缺楼栋长/楼口长 buildings without heads ({n})"
    if n and (data.roster_buildings is None or ctx.use_tiles(n)):
        DataLayer({"kind": "tiles", "url": ctx.tiles_url("roster"), "tileLayer": "roster",
                   "style": "roster_building", "popup": "roster_building", "minZoom": 14}, name=name).add_to(m)
    elif n:
        DataLayer({"kind": "geojson", "style": "roster_building", "popup": "roster_building", "minZoom": 14,
                   "data": feature_collection(data.roster_buildings, ["id", "name", "details", "source"],
                                              shift=ctx.shift)}, name=name).add_to(m)


BUILDING_COLUMNS = ["id", "name", "households", "floors", "source"]
UNCOVERED = ["id", "name", "households", "nearest_m", "source"]


def _buildings(m, ctx: MapContext, buildings, count: int, *, style: str, popup: str, name: str,
               min_zoom: int, layer: str = "buildings", query: str = "", columns: list[str] = BUILDING_COLUMNS) -> None:
    if ctx.use_tiles(count) or (buildings is None and ctx.tile_base is not None):
        url = ctx.tiles_url(layer)
        if query:
            url += ("&" if "?" in url else "?") + query
        DataLayer({"kind": "tiles", "url": url, "tileLayer": layer, "style": style, "popup": popup,
                   "minZoom": min_zoom}, name=name).add_to(m)
    elif buildings is not None and len(buildings):
        DataLayer({"kind": "geojson", "style": style, "popup": popup, "minZoom": min_zoom,
                   "data": feature_collection(buildings, columns, shift=ctx.shift)},
                  name=name).add_to(m)


def problems_geojson(fc: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    """A validation report's GeoJSON ready for the page (shifted like the basemap, trimmed)."""
    return _shift_fc(fc, ctx)


def _shift_fc(fc: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    """A FeatureCollection (WGS84) shifted/rounded like the rest, geometry-less features dropped."""
    feats = [f for f in fc.get("features", []) if f.get("geometry")]
    if not feats:
        return {"type": "FeatureCollection", "features": []}
    gdf = gpd.GeoDataFrame.from_features(feats, crs=4326)
    keep = [c for c in ("kind", "kind_zh", "message", "grid") if c in gdf.columns]
    return feature_collection(gdf, keep, shift=ctx.shift)


def _grid_overlay(m, ctx: MapContext, grids: gpd.GeoDataFrame, *, show: bool) -> None:
    """Grid outlines as a context layer: vector tiles on a served page with many grids, else embedded."""
    if ctx.tile_base is not None and len(grids) > GRID_OVERLAY_TILES_ABOVE:
        DataLayer({"kind": "tiles", "url": ctx.tiles_url("grids"), "tileLayer": "grids", "style": "grid_outline"},
                  name=f"网格 grids ({len(grids)})", show=show).add_to(m)
    else:
        DataLayer({"kind": "geojson", "style": "grid_outline", "tooltip": "name",
                   "data": feature_collection(grids, ["code", "name", "source"], shift=ctx.shift)},
                  name=f"网格 grids ({len(grids)})", show=show).add_to(m)


GRID_OVERLAY_TILES_ABOVE = 500


# ------------------------------------------------------------------------------------------ incidents
@dataclass
class IncidentData:
    """What the dispatch map shows (staff only). ``incidents`` is None when they come as vector tiles."""

    grids: gpd.GeoDataFrame
    incidents: gpd.GeoDataFrame | None
    incident_count: int
    heat: list[list[float]]
    categories: list[str] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)
    bounds: tuple[float, float, float, float] | None = None
    sources: set[str] = field(default_factory=set)
    overdue: int = 0


def incident_map(data: IncidentData, ctx: MapContext) -> folium.Map:
    """指挥调度图: incidents by state and category, overdue highlighted, clusters, heat map, grids, filters."""
    m = new_map("事件调度图 · 指挥中心", ctx, data.bounds)
    _grid_overlay(m, ctx, data.grids, show=True)
    heat = data.heat
    if heat:
        hlon, hlat = shift_lonlat([h[1] for h in heat], [h[0] for h in heat], shift=ctx.shift)
        top = float(np.percentile([h[2] for h in heat], 95)) or 1.0
        heat = [[float(a), float(b), h[2]] for a, b, h in zip(hlat, hlon, data.heat, strict=True)]
        DataLayer({"kind": "heat", "points": heat, "max": top}, name="热力图 heat map", show=False).add_to(m)
    if data.incidents is not None:
        inc = data.incidents.copy()
        inc["category_zh"] = inc["category"]
        DataLayer({"kind": "cluster", "style": "incident", "popup": "incident",
                   "data": feature_collection(inc, ["id", "category", "category_zh", "state", "state_zh",
                                                    "grid_code", "created", "due", "overdue", "source"],
                                              shift=ctx.shift)},
                  name=f"事件（聚合）incidents ({len(inc)})").add_to(m)
        overdue = inc[inc["overdue"].astype(bool)]
        if len(overdue):
            DataLayer({"kind": "geojson", "style": "incident", "popup": "incident",
                       "data": feature_collection(overdue, ["id", "category", "state", "state_zh", "grid_code",
                                                            "created", "due", "overdue", "source"],
                                                  shift=ctx.shift)},
                      name=f"超期事件 overdue ({len(overdue)})").add_to(m)
    else:
        url = ctx.tiles_url("incidents")
        DataLayer({"kind": "tiles", "url": url, "tileLayer": "incidents", "style": "incident",
                   "popup": "incident"}, name=f"事件（矢量瓦片，低级别聚合）incidents ({data.incident_count})").add_to(m)
    if ctx.tile_base is not None:
        Call("filters", {"values": data.filters, "categories": [[c, c] for c in data.categories]}).add_to(m)
    items = [("dot", colour, f"{IncidentState(s).zh}") for s, colour in _STATE_COLOURS.items()]
    items.append(("dot", "#d50000", f"超期（红圈）overdue {data.overdue}"))
    f = {k: v for k, v in data.filters.items() if v}
    notes = [f"共 {data.incident_count} 件" + (f"（筛选：{', '.join(f'{k}={v}' for k, v in f.items())}）" if f else "")]
    sources = _sources(data.grids) | set(data.sources)
    legend = legend_html("事件状态 state", items, sources=sources, notes=notes)
    return finish(m, ctx, sources=sources, legend=legend)


_STATE_COLOURS = {
    "reported": "#1e88e5", "registered": "#3949ab", "dispatched": "#8e24aa", "handling": "#fb8c00",
    "feedback": "#00897b", "verified": "#7cb342", "closed": "#9e9e9e", "returned": "#6d4c41",
    "postponed": "#fdd835",
}


# ------------------------------------------------------------------------------------------ coverage
@dataclass
class CoverageData:
    """What the coverage map shows for one service type."""

    type_code: str
    facilities: gpd.GeoDataFrame
    circles: gpd.GeoDataFrame
    uncovered: gpd.GeoDataFrame | None
    uncovered_count: int
    uncovered_households: int
    sites: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    bounds: tuple[float, float, float, float] | None = None
    minutes: float = LIFE_CIRCLE_MINUTES
    sources: set[str] = field(default_factory=set)
    budget_m: float = walk_metres(LIFE_CIRCLE_MINUTES)  # the walk the uncovered buildings are beyond


def coverage_map(data: CoverageData, ctx: MapContext) -> folium.Map:
    """服务覆盖图: one type's circles and facilities, uncovered buildings, suggested sites."""
    zh = TYPE_ZH.get(data.type_code, data.type_code)
    m = new_map(f"{zh} · {int(data.minutes)}分钟服务覆盖", ctx, data.bounds)
    _grid_overlay(m, ctx, data.grids, show=False)
    DataLayer({"kind": "geojson", "style": "circle", "popup": "circle",
               "data": feature_collection(data.circles, ["type_code", "type_zh", "minutes", "source"],
                                          shift=ctx.shift)},
              name=f"{zh}服务圈 circles").add_to(m)
    _buildings(m, ctx, data.uncovered, data.uncovered_count, style="uncovered", popup="uncovered", columns=UNCOVERED,
               name=f"未覆盖楼栋 uncovered ({data.uncovered_count})", min_zoom=0, layer="uncovered",
               query=f"type={data.type_code}")
    fac = data.facilities.copy()
    fac["icon"] = fac["type_code"].map(ICONS).fillna("location-dot")
    DataLayer({"kind": "geojson", "style": "facility", "popup": "facility",
               "data": feature_collection(fac, PUBLIC_FACILITY_COLUMNS, shift=ctx.shift)},
              name=f"{zh} ({len(fac)})").add_to(m)
    DataLayer({"kind": "geojson", "style": "site", "popup": "site",
               "data": feature_collection(data.sites, ["rank", "households", "buildings", "method"],
                                          shift=ctx.shift)},
              name=f"建议选址 suggested sites ({len(data.sites)})").add_to(m)
    items = [("sw", _colour(data.type_code), f"{zh}服务圈"), ("dot", _colour(data.type_code), zh),
             ("dot", "#ff5252", f"未覆盖楼栋 {data.uncovered_count} 栋 / {data.uncovered_households} 户"),
             ("sw", "#ffd600", "建议选址（数字为优先顺序）")]
    sources = _sources(data.facilities, data.circles, data.grids) | set(data.sources)
    notes = [f"未覆盖：沿街道步行到最近的{zh}超过 {data.budget_m:.0f} 米（{int(data.minutes)}分钟），与 "
             "/api/v1/coverage/uncovered 一致；服务圈为所达街道两侧 50 米，边缘处以楼栋的步行距离为准"]
    legend = legend_html("服务覆盖 coverage", items, sources=sources, notes=notes)
    return finish(m, ctx, sources=sources, legend=legend)
