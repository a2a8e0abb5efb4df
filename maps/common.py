"""What every gridmap page shares: the basemap, GCJ-02 shifting, compact embedded GeoJSON, data layers that
are either embedded or PostGIS vector tiles, legend, layer control, scale bar, attribution, local assets.

Pages are Folium maps. Our data layers are :class:`DataLayer` (a Folium ``Layer``, so the layer control lists
them) drawn by the map toolkit in ``maps/static/js/map/`` (ES modules, loaded as ``gridmap/map/main.js`` through
the page's import map); a page with logic of its own starts its module ``maps/static/js/pages/<page>.js`` with
:class:`PageModule`. Folium's page script runs as a module too, after ours. The JS/CSS links are rewritten to
local copies (:mod:`maps.assets`). See ``maps/static/README.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Figure
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from gis.coords import wgs84_to_gcj02
from maps import assets
from maps.settings import MapSettings

OSM_ATTRIBUTION = "© OpenStreetMap contributors"
SYNTHETIC_NOTE = "演示数据含生成要素 (synthetic)"
PRECISION = 5  # decimal degrees kept in embedded GeoJSON (≈1 m)


@dataclass
class MapContext:
    """Where a page gets its assets and big layers from.

    ``asset_base``/``own_base``: URL prefixes of the vendor files and of our own (``maps/static``) files.
    ``tile_base``: prefix of the vector tile endpoint (``""`` = same server, ``None`` = no server: embed).
    ``query``: extra query string for tile URLs (the dispatch filters).
    ``inline_modules``: put our ES modules into the page (a page opened from disk cannot load module files).
    """

    settings: MapSettings = field(default_factory=MapSettings)
    asset_base: str = "/static/vendor/node_modules"
    own_base: str = "/static/maps"
    tile_base: str | None = ""
    query: str = ""
    inline_modules: bool = False

    @property
    def shift(self) -> bool:
        """True when overlays must be shifted to GCJ-02 (the Amap basemap)."""
        return self.settings.basemap == "amap"

    def tiles_url(self, layer: str) -> str | None:
        """The vector tile URL template of ``layer`` (None when embedding)."""
        if self.tile_base is None:
            return None
        params = [p for p in (self.query, "crs=gcj02" if self.shift else "") if p]
        qs = ("?" + "&".join(params)) if params else ""
        return f"{self.tile_base}/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt{qs}"

    def use_tiles(self, count: int) -> bool:
        """Serve a layer of ``count`` features as vector tiles rather than embedding it."""
        return self.tile_base is not None and count > self.settings.tile_threshold


# ------------------------------------------------------------------------------------------ basemaps
def basemap(settings: MapSettings) -> dict[str, Any] | None:
    """The basemap tile layer options (None for the offline 'none' basemap)."""
    kind = settings.basemap
    if kind == "osm":
        return {"tiles": settings.osm_tile_url, "attr": OSM_ATTRIBUTION, "name": "OpenStreetMap 底图",
                "max_zoom": 19}
    if kind == "tianditu":
        tk = settings.tianditu_key
        return {
            "tiles": "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
            "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
            f"&tk={tk}",
            "labels": "https://t{s}.tianditu.gov.cn/cva_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
            "&LAYER=cva&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
            f"&tk={tk}",
            "subdomains": "01234567", "attr": "© 天地图 Tianditu", "name": "天地图底图", "max_zoom": 18,
        }
    if kind == "amap":
        return {
            "tiles": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
            "&x={x}&y={y}&z={z}",
            "subdomains": "1234", "attr": "© 高德地图 AutoNavi (GCJ-02)", "name": "高德底图", "max_zoom": 18,
        }
    return None


def basemap_origins(settings: MapSettings) -> list[str]:
    """Where the basemap's tiles come from, as Content-Security-Policy sources (``https://*.tianditu.gov.cn``):
    a ``{s}`` subdomain becomes ``*``. Empty for the offline ``none`` basemap."""
    from urllib.parse import urlsplit

    base = basemap(settings)
    origins = []
    for url in ([base["tiles"], base.get("labels")] if base else []):
        if not url:
            continue
        parts = urlsplit(url.replace("{s}", "a"))
        host = parts.hostname or ""
        if "{s}" in url.split("//", 1)[-1].split("/", 1)[0]:
            host = "*." + host.split(".", 1)[-1]
        origin = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
        if origin not in origins:
            origins.append(origin)
    return origins


def to_display(gdf: gpd.GeoDataFrame, *, shift: bool) -> gpd.GeoDataFrame:
    """Copy of ``gdf`` (WGS84) ready to embed: shifted to GCJ-02 if asked, coordinates rounded."""
    out = gdf.copy()
    geoms = np.asarray(out.geometry.values, dtype=object)
    if len(geoms):
        def move(coords: np.ndarray) -> np.ndarray:
            if shift:
                lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
                coords = np.column_stack([lon, lat])
            return np.round(coords, PRECISION)

        out = out.set_geometry(gpd.GeoSeries(shapely.transform(geoms, move), index=out.index, crs=4326))
    return out


def shift_lonlat(lon, lat, *, shift: bool):
    """Point arrays moved to GCJ-02 if the basemap needs it, rounded."""
    if shift:
        lon, lat = wgs84_to_gcj02(lon, lat)
    return np.round(np.asarray(lon, float), PRECISION), np.round(np.asarray(lat, float), PRECISION)


def _clean(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float | np.floating):
        return None if np.isnan(v) else round(float(v), 3)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if hasattr(v, "isoformat"):
        return v.isoformat(timespec="minutes") if hasattr(v, "hour") else v.isoformat()
    return v


def feature_collection(gdf: gpd.GeoDataFrame, columns: list[str], *, shift: bool) -> dict[str, Any]:
    """A compact FeatureCollection of ``gdf`` with only ``columns`` as properties."""
    shown = to_display(gdf, shift=shift) if len(gdf) else gdf
    geo = shapely.to_geojson(np.asarray(shown.geometry.values, dtype=object)) if len(shown) else []
    cols = [c for c in columns if c in shown.columns]
    records = shown[cols].to_dict("records") if cols else [{} for _ in range(len(shown))]
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": json.loads(g), "properties": {k: _clean(v) for k, v in r.items()}}
            for g, r in zip(geo, records, strict=True)
        ],
    }


def script_json(value: Any) -> str:
    """JSON safe to put inside a <script> element: no ``<`` at all (so no ``</script>``, ``<script`` or
    ``<!--`` can come from data), nor ``>``/``&``, nor U+2028/U+2029 (line ends to older JavaScript), as
    ``\\u003c``… escapes that JavaScript and JSON read back as the same text."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in SCRIPT_ESCAPES:
        text = text.replace(char, escaped)
    return text


SCRIPT_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                  ("\u2029", "\\u2029"))


def nonce_attr(nonce: str | None) -> str:
    """`` nonce="…"`` for a script element this service writes (empty without a nonce: a page saved to disk)."""
    if not nonce:
        return ""
    if not nonce.replace("-", "").replace("_", "").isalnum():
        raise ValueError("a CSP nonce is URL-safe base64")
    return f' nonce="{nonce}"'


def import_map_element(own_base: str, nonce: str | None) -> str:
    """The ``<script type="importmap">`` of a page that is not a Folium map (sign-in, tracking, workbench)."""
    return f'<script type="importmap"{nonce_attr(nonce)}>{script_json(assets.import_map(own_base))}</script>'


# ------------------------------------------------------------------------------------------ elements
class DataLayer(Layer):
    """A data layer drawn by gridmap.js from a spec (embedded GeoJSON, vector tiles, cluster or heat)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
var {{ this.get_name() }} = gridmap.layer({{ this.spec_js }});
{% endmacro %}"""
    )

    def __init__(self, spec: dict[str, Any], *, name: str, show: bool = True, control: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "DataLayer"
        self.spec = {**spec, "name": spec.get("name", name)}

    @property
    def spec_js(self) -> str:
        """The spec as JSON for the page script."""
        return script_json(self.spec)

    @property
    def feature_count(self) -> int:
        """Number of embedded features."""
        data = self.spec.get("data") or {}
        return len(data.get("features", [])) if isinstance(data, dict) else 0


class Call(JSCSSMixin, folium.MacroElement):
    """One ``gridmap.<fn>(map, arg)`` call after the map is built (legend, search, reach, filters…)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
gridmap.{{ this.fn }}({{ this._parent.get_name() }}{% if this.has_arg %}, {{ this.arg_js }}{% endif %});
{% endmacro %}"""
    )
    default_js: list = []
    default_css: list = []

    def __init__(self, fn: str, arg: Any = None, *, has_arg: bool = True) -> None:
        super().__init__()
        self._name = "GridmapCall"
        self.fn = fn
        self.has_arg = has_arg
        self.arg_js = script_json(arg)


class Assets(JSCSSMixin, folium.MacroElement):
    """The page's JS/CSS beyond Leaflet (plugins, gridmap.js), as Folium asset names made local later."""

    _template = Template("")

    def __init__(self, js: list, css: list) -> None:
        super().__init__()
        self._name = "GridmapAssets"
        self.default_js = js
        self.default_css = css


class PageModule(folium.MacroElement):
    """Start a page's own module ``maps/static/js/pages/<page>.js``: ``start(map, options, refs)``.

    ``options`` is JSON for the page; ``refs`` names other Folium elements the module needs (``{"group": g}``
    arrives as ``{group: <that Leaflet layer>}``). The page's CSS, ``maps/static/css/<page>.css``, is linked
    when it exists.
    """

    _template = Template(
        """{% macro script(this, kwargs) %}
import {start as start_{{ this.page }}} from "gridmap/pages/{{ this.page }}.js";
const {{ this.page }}_options = {{ this.options_js }};
start_{{ this.page }}({{ this._parent.get_name() }}, {{ this.page }}_options, {
{%- for key, element in this.refs.items() %}{{ key }}: {{ element.get_name() }}, {% endfor -%}
});
{% endmacro %}"""
    )

    def __init__(self, page: str, options: dict[str, Any], *, refs: dict[str, Any] | None = None) -> None:
        super().__init__()
        if not (assets.MODULES_DIR / "pages" / f"{page}.js").is_file() or not page.isidentifier():
            raise KeyError(f"no page module maps/static/js/pages/{page}.js")
        self._name = "GridmapPageModule"
        self.page = page
        self.options_js = script_json(options)
        self.refs = refs or {}

    @property
    def css(self) -> str | None:
        """The page's own stylesheet as an asset name (None when it has none)."""
        rel = f"css/{self.page}.css"
        return assets.OWN_PREFIX + rel if (assets.STATIC_DIR / rel).is_file() else None


class ModuleLoader(folium.MacroElement):
    """The head of every page: the import map (``gridmap/…`` → our modules) and the map toolkit's module."""

    _template = Template(
        """{% macro header(this, kwargs) %}
<script type="importmap"{{ kwargs.nonce_attr }}>{{ this.import_map_js }}</script>
<script type="module"{{ kwargs.nonce_attr }}>import "gridmap/map/main.js";</script>
{% endmacro %}"""
    )

    def __init__(self, import_map: dict[str, Any]) -> None:
        super().__init__()
        self._name = "GridmapModules"
        self.import_map_js = script_json(import_map)


# Folium's own page template with the page script as a module, so that it runs after our modules (module
# scripts run in document order once the page is parsed) and may import a page module.
_MODULE_FIGURE = Template(
    "<!DOCTYPE html>\n<html>\n<head>\n{% if this.title %}<title>{{this.title}}</title>{% endif %}"
    "    {{this.header.render(**kwargs)}}\n</head>\n<body>\n    {{this.html.render(**kwargs)}}\n</body>\n"
    "<script type=\"module\"{{ kwargs.nonce_attr }}>\n    {{this.script.render(**kwargs)}}\n</script>\n</html>\n"
)

# Folium's map header less its inline script, which only set Leaflet's global switches to their defaults
# (no touch off, 3D on: what Leaflet does when they are unset). Every inline script of a page is ours and
# carries the response's nonce; none is Folium's.
_MAP_HEADER = Template(
    """{% macro header(this, kwargs) %}
<meta name="viewport" content="width=device-width, initial-scale=1.0, maximum-scale=1.0, user-scalable=no" />
<style>#{{ this.get_name() }} {position: {{this.position}}; width: {{this.width[0]}}{{this.width[1]}};
height: {{this.height[0]}}{{this.height[1]}}; left: {{this.left[0]}}{{this.left[1]}};
top: {{this.top[0]}}{{this.top[1]}};} .leaflet-container { font-size: {{this.font_size}}; }</style>
<style>html, body {width: 100%; height: 100%; margin: 0; padding: 0;}</style>
<style>#map {position:absolute; top:0; bottom:0; right:0; left:0;}</style>
{% endmacro %}"""
)


class GridMap(folium.Map):
    """A Folium map whose page has no inline script of Folium's: its header is :data:`_MAP_HEADER`."""

    def render(self, **kwargs) -> None:
        """Folium's rendering, then the map's header replaced by ours (same styles, no script)."""
        super().render(**kwargs)
        header = _MAP_HEADER.module.__dict__["header"]
        self.get_root().header.add_child(folium.Element(header(self, kwargs)), name=self.get_name())


# ------------------------------------------------------------------------------------------ building pages
def new_map(title: str, ctx: MapContext, bounds: tuple[float, float, float, float] | None) -> folium.Map:
    """An empty page: basemap (or none), scale bar, title; zoomed to ``bounds`` (WGS84 minx,miny,maxx,maxy)."""
    m = GridMap(location=[38.5, 102.19], zoom_start=12, tiles=None, control_scale=True, max_zoom=20,
                prefer_canvas=False)
    if m.global_switches.no_touch or m.global_switches.disable_3d:
        raise RuntimeError("Leaflet's global switches are not their defaults: they would need a script")
    figure: Figure = m.get_root()
    figure._template = _MODULE_FIGURE
    figure.title = title
    # no favicon request (it would 404 and show as a console error)
    m.get_root().header.add_child(folium.Element('<link rel="icon" href="data:,">'), name="favicon")
    base = basemap(ctx.settings)
    if base is not None:
        folium.TileLayer(tiles=base["tiles"], attr=base["attr"], name=base["name"], max_zoom=20,
                         max_native_zoom=base["max_zoom"], subdomains=base.get("subdomains", "abc"),
                         overlay=False, control=True).add_to(m)
        if base.get("labels"):
            folium.TileLayer(tiles=base["labels"], attr=base["attr"], name="天地图注记", overlay=True,
                             max_native_zoom=base["max_zoom"], max_zoom=20,
                             subdomains=base["subdomains"]).add_to(m)
    else:
        m.get_root().header.add_child(
            folium.Element("<style>.leaflet-container{background:#eef1f4}</style>"), name="nobase"
        )
    if bounds is not None and np.all(np.isfinite(bounds)):
        minx, miny, maxx, maxy = bounds
        (minx, maxx), (miny, maxy) = shift_lonlat([minx, maxx], [miny, maxy], shift=ctx.shift)
        m.fit_bounds([[float(miny), float(minx)], [float(maxy), float(maxx)]])
    Call("title", title).add_to(m)
    return m


def attribution_text(sources: set[str]) -> str:
    """The data attribution line: OSM's wherever OSM data shows, and the synthetic marking."""
    parts = []
    if any(s and s.startswith("osm") for s in sources):
        parts.append(OSM_ATTRIBUTION)
    if "synthetic" in sources:
        parts.append(SYNTHETIC_NOTE)
    others = sorted(s for s in sources if s and not s.startswith("osm") and s != "synthetic")
    if others:
        parts.append("数据 data: " + ", ".join(others[:4]))
    return " · ".join(parts)


def legend_html(title: str, items: list[tuple[str, str, str]], *, sources: set[str], notes: list[str] = ()) -> str:
    """Legend markup: items are (kind 'sw'|'dot', colour, label)."""
    from html import escape

    rows = [f"<h4>{escape(title)}</h4>"]
    for kind, colour, label in items:
        rows.append(f'<div><i class="{kind}" style="background:{colour}"></i>{escape(label)}</div>')
    for n in notes:
        rows.append(f'<div class="gm-muted">{escape(n)}</div>')
    if "synthetic" in sources:
        rows.append('<div><span class="gm-synthetic">演示数据 synthetic</span> 生成数据，非真实信息</div>')
    return "".join(rows)


def finish(m: folium.Map, ctx: MapContext, *, sources: set[str], legend: str) -> folium.Map:
    """Legend, attribution, layer control, local assets, and the ready flag the browser tests wait for."""
    Call("legend", legend).add_to(m)
    text = attribution_text(sources)
    if text:
        Call("attribution", text).add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    Call("finish", has_arg=False).add_to(m)
    needs = [("awesome_markers_font_css", "")]
    if _uses(m, "tiles"):
        needs.append(("vectorgrid", ""))
    if _uses(m, "cluster") or any(isinstance(c, DataLayer) and c.spec.get("cluster") for c in m._children.values()):
        needs += [("markerclusterjs", ""), ("markerclustercss", ""), ("markerclusterdefaultcss", "")]
    if _uses(m, "heat"):
        needs.append(("leaflet-heat.js", ""))
    own_css = [(assets.OWN_PREFIX + "css/gridmap.css", "")]
    own_css += [(c.css, "") for c in m._children.values() if isinstance(c, PageModule) and c.css]
    page_assets = Assets(js=[n for n in needs if not n[0].endswith("css")],
                         css=[n for n in needs if n[0].endswith("css")] + own_css)
    loader = ModuleLoader(assets.import_map(ctx.own_base, inline=ctx.inline_modules))
    # The assets go first among the children so their scripts load right after Leaflet's, then our modules.
    m._children = {page_assets.get_name(): page_assets, loader.get_name(): loader, **m._children}
    page_assets._parent = loader._parent = m
    assets.localize(m, ctx.asset_base, ctx.own_base)
    return m


def _uses(m: folium.Map, kind: str) -> bool:
    return any(isinstance(c, DataLayer) and c.spec.get("kind") == kind for c in m._children.values())


def render(m: folium.Map, nonce: str | None = None) -> str:
    """The page's HTML; its script elements (all written by our templates: data reaches them only through
    :func:`script_json`) carry ``nonce``, the response's Content-Security-Policy nonce (:mod:`api.csp`)."""
    return m.get_root().render(nonce_attr=nonce_attr(nonce))
