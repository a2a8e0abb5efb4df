"""调度工作台 (the dispatcher's workbench, ``/maps/dispatch``): ``maps/templates/dispatch.html`` with its module
``maps/static/js/pages/dispatch.js``.

Not a Folium map: a queue beside a Leaflet map, a call-taking form, the incident card and a KPI panel, all
drawn by the page's ES modules from the JSON API. The page carries its settings in one ``data-config``
attribute (no inline script); Leaflet and Leaflet.VectorGrid come from the local vendor copies.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from maps import assets
from maps.common import MapContext, basemap, import_map_element

TEMPLATE = Path(__file__).with_name("templates") / "dispatch.html"
TITLE = "调度工作台 (dispatch workbench)"
VENDOR = ("leaflet_css", "leaflet", "vectorgrid")
PRELOAD = ("pages/dispatch", "shared/html.js", "shared/http.js")
"""The page's modules, fetched at once (``modulepreload``) rather than one import level after another."""


def _preloads(own_base: str) -> str:
    base = own_base.rstrip("/") + "/js/"
    found = [p.relative_to(assets.MODULES_DIR).as_posix() for p in assets.modules()]
    wanted = [f for f in found if f.startswith(PRELOAD)]
    return "".join(f'<link rel="modulepreload" href="{escape(base + f)}">' for f in wanted)


def basemap_options(ctx: MapContext) -> dict[str, Any] | None:
    """The basemap tile layer as the page's Leaflet wants it (None: no basemap, offline)."""
    found = basemap(ctx.settings)
    if found is None:
        return None
    return {"url": found["tiles"], "labels": found.get("labels"), "attribution": found["attr"],
            "subdomains": found.get("subdomains", "abc"), "maxZoom": found.get("max_zoom", 18)}


def workbench_html(config: dict[str, Any], ctx: MapContext, nonce: str | None = None) -> str:
    """The workbench page for ``config`` (token, user, setup from :func:`usecases.dispatch.workbench_setup`, poll
    interval …) with the basemap, the grid tiles and the display coordinate system of ``ctx`` added."""
    full = {
        **config,
        "crs": "gcj02" if ctx.shift else "wgs84",
        "basemap": basemap_options(ctx),
        "gridTiles": ctx.tiles_url("grids"),
        "attribution": "© OpenStreetMap contributors" if ctx.settings.basemap == "osm" else "",
    }
    links = {name: assets.asset_url(name, ctx.asset_base) for name in VENDOR}
    return (TEMPLATE.read_text(encoding="utf-8")
            .replace("__TITLE__", escape(TITLE))
            .replace("__LEAFLET_CSS__", links["leaflet_css"])
            .replace("__LEAFLET_JS__", links["leaflet"])
            .replace("__VECTORGRID_JS__", links["vectorgrid"])
            .replace("__IMPORT_MAP__", import_map_element(ctx.own_base, nonce) + _preloads(ctx.own_base))
            .replace("__OWN_BASE__", ctx.own_base.rstrip("/"))
            .replace("__CONFIG__", escape(json.dumps(full, ensure_ascii=False, separators=(",", ":")), quote=True)))
