"""Offline map assets: every JS/CSS file a page uses is installed from npm into ``var/vendor`` and served by us.

Folium elements carry ``default_js``/``default_css`` lists of CDN URLs. :func:`localize` rewrites them (for a
whole map, element by element) to local URLs under a base (``/static/vendor`` when served, ``vendor`` next to an
exported file), and drops what our pages do not need (jQuery, Bootstrap, glyphicons). An unknown asset is an
error, so a new plugin can never quietly pull from a CDN.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

from gis.errors import ServiceUnavailable

PACKAGE_JSON = Path(__file__).with_name("package.json")
STATIC_DIR = Path(__file__).with_name("static")

# Folium/plugin asset name -> file under node_modules (None: not needed by our pages, dropped).
ASSETS: dict[str, str | None] = {
    "leaflet": "leaflet/dist/leaflet.js",
    "leaflet_css": "leaflet/dist/leaflet.css",
    "awesome_markers": "leaflet.awesome-markers/dist/leaflet.awesome-markers.js",
    "awesome_markers_css": "leaflet.awesome-markers/dist/leaflet.awesome-markers.css",
    "awesome_markers_font_css": "@fortawesome/fontawesome-free/css/all.min.css",
    "markerclusterjs": "leaflet.markercluster/dist/leaflet.markercluster.js",
    "markerclustercss": "leaflet.markercluster/dist/MarkerCluster.css",
    "markerclusterdefaultcss": "leaflet.markercluster/dist/MarkerCluster.Default.css",
    "leaflet-heat.js": "leaflet.heat/dist/leaflet-heat.js",
    "vectorgrid": "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js",
    "leaflet_draw_js": "leaflet-draw/dist/leaflet.draw.js",
    "leaflet_draw_css": "leaflet-draw/dist/leaflet.draw.css",
    "jquery": None,
    "bootstrap": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_rotate_css": None,
}
# Our own files (maps/static) are named "gridmap:<path under maps/static>" and served under the page's own base.
OWN_PREFIX = "gridmap:"
MODULES_DIR = STATIC_DIR / "js"
MODULE_PREFIX = "gridmap/"  # modules import each other as "gridmap/<path under maps/static/js>"


def pinned() -> dict[str, str]:
    """The npm packages and pinned versions (``maps/package.json``)."""
    return json.loads(PACKAGE_JSON.read_text())["dependencies"]


def node_modules(vendor_dir: Path) -> Path:
    """Where npm put the packages."""
    return Path(vendor_dir) / "node_modules"


def missing(vendor_dir: Path) -> list[str]:
    """Asset files not installed yet (empty when ``gridmap assets install`` has run)."""
    nm = node_modules(vendor_dir)
    return [rel for rel in ASSETS.values() if rel and not (nm / rel).is_file()]


def check_installed(vendor_dir: Path) -> None:
    """Raise ServiceUnavailable if the assets are not installed."""
    gone = missing(vendor_dir)
    if gone:
        raise ServiceUnavailable(
            "地图离线资源未安装，请运行 gridmap assets install (map assets not installed; run `gridmap assets install`)",
            detail={"missing": gone},
        )


def asset_url(name: str, base: str) -> str | None:
    """Local URL of a Folium asset name under ``base`` (None if the asset is dropped)."""
    if name not in ASSETS:
        raise KeyError(f"unknown map asset {name!r}: add it to maps/assets.py and maps/package.json")
    rel = ASSETS[name]
    return None if rel is None else f"{base.rstrip('/')}/{rel}"


def own_url(name: str, own_base: str) -> str:
    """URL of one of our own files (``gridmap:css/gridmap.css``) under ``own_base``; it must exist."""
    rel = name.removeprefix(OWN_PREFIX)
    if not (STATIC_DIR / rel).is_file():
        raise KeyError(f"no file maps/static/{rel}")
    return f"{own_base.rstrip('/')}/{rel}"


def modules() -> list[Path]:
    """Every ES module of ours (``maps/static/js/**/*.js``)."""
    return sorted(MODULES_DIR.rglob("*.js"))


def import_map(own_base: str, *, inline: bool = False) -> dict[str, dict[str, str]]:
    """The page's import map: ``gridmap/…`` → our modules under ``own_base``, or (``inline``, for a page opened
    from disk, where a browser refuses to load modules from files) every module as a ``data:`` URL."""
    if not inline:
        return {"imports": {MODULE_PREFIX: f"{own_base.rstrip('/')}/js/"}}
    found = {}
    for path in modules():
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        found[MODULE_PREFIX + path.relative_to(MODULES_DIR).as_posix()] = f"data:text/javascript;base64,{encoded}"
    return {"imports": found}


def _walk(element):
    yield element
    for child in list(getattr(element, "_children", {}).values()):
        yield from _walk(child)


def localize(fmap, base: str, own_base: str) -> None:
    """Point every JS/CSS link of ``fmap`` (a folium Map and its children) at local copies under ``base``."""
    for el in _walk(fmap):
        for attr in ("default_js", "default_css"):
            items = getattr(el, attr, None)
            if not items:
                continue
            local = []
            for name, _url in items:
                url = own_url(name, own_base) if name.startswith(OWN_PREFIX) else asset_url(name, base)
                if url:
                    local.append((name, url))
            setattr(el, attr, local)


def copy_for_export(vendor_dir: Path, out_dir: Path) -> None:
    """Copy the installed assets (with the fonts/images they reference) to ``out_dir/vendor/<package>/…`` and
    our own files (maps/static) to ``out_dir/maps`` — everything an exported page needs, beside it (its modules
    are inlined in its import map, see :func:`import_map`)."""
    check_installed(vendor_dir)
    nm = node_modules(vendor_dir)
    packages = {rel.split("/dist/")[0].split("/css/")[0] for rel in ASSETS.values() if rel}
    for pkg in packages:
        src = nm / pkg
        for sub in ("dist", "css", "webfonts"):
            if (src / sub).is_dir():
                shutil.copytree(src / sub, out_dir / "vendor" / pkg / sub, dirs_exist_ok=True)
    shutil.copytree(STATIC_DIR, out_dir / "maps", dirs_exist_ok=True)
