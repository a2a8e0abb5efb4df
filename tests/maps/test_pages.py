"""Map builders on hand-made data (no database): local assets only, basemaps, GCJ-02 shifting, attribution."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pytest
import shapely

from gis.coords import wgs84_to_gcj02
from maps import assets
from maps.common import MapContext, render
from maps.pages import PublicData, public_map
from maps.settings import MapSettings

URL = re.compile(r"https?://[^\s\"'<>)]+")


def _data() -> PublicData:
    fac = gpd.GeoDataFrame(
        {"id": [1, 2], "type_code": ["clinic", "small_shop"], "group_code": ["service_circle", "seven_ones"],
         "name": ["金川卫生站", "村小超市"], "address": ["北京路1号", None], "community_code": ["620302001001"] * 2,
         "source": ["osm:test", "synthetic"], "type_zh": ["卫生服务站/诊所", "小超市"]},
        geometry=[shapely.Point(102.19, 38.52), shapely.Point(102.2, 38.53)], crs=4326)
    grid = gpd.GeoDataFrame({"id": [1], "code": ["620302001001001"], "name": ["第一网格"], "source": ["synthetic"]},
                            geometry=[shapely.box(102.18, 38.51, 102.21, 38.54)], crs=4326)
    empty = gpd.GeoDataFrame({"code": [], "name": [], "level": [], "source": []}, geometry=[], crs=4326)
    circles = gpd.GeoDataFrame({"type_code": ["clinic"], "minutes": [15.0], "source": ["synthetic"],
                                "type_zh": ["卫生服务站/诊所"]},
                               geometry=[shapely.Point(102.19, 38.52).buffer(0.01)], crs=4326)
    return PublicData(facilities=fac, grids=grid, communities=empty, villages=empty.assign(have=[], of=[], items=[]),
                      circles=circles, boards={"620302001001001": [["网格长", ["张三　0935-1234567"]]]},
                      bounds=(102.18, 38.51, 102.21, 38.54))


def _spec(html: str, name_part: str) -> dict:
    for m in re.finditer(r"gridmap\.layer\((\{.*?\})\);\n", html):
        spec = json.loads(m.group(1))
        if name_part in spec["name"]:
            return spec
    raise AssertionError(f"no layer {name_part}")


@pytest.mark.parametrize("basemap", ["osm", "none", "tianditu", "amap"])
def test_page_links_only_local_assets(basemap):
    html = render(public_map(_data(), MapContext(settings=MapSettings(basemap=basemap, tianditu_key="k"))))
    urls = set(URL.findall(html))
    tile_hosts = {"osm": "tile.openstreetmap.org", "tianditu": "tianditu.gov.cn", "amap": "autonavi.com"}
    if basemap == "none":
        assert urls == set()
    else:
        assert urls and all(tile_hosts[basemap] in u for u in urls), urls
    srcs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert "/static/vendor/node_modules/leaflet/dist/leaflet.js" in srcs
    assert "/static/maps/css/gridmap.css" in srcs
    assert all(s.startswith("/static/") or s == "data:," for s in srcs), srcs
    # leaflet first; our modules (through the import map, from our own server) after every vendor script,
    # and the page script Folium writes runs as a module after them
    scripts = [s for s in srcs if s.endswith(".js")]
    assert scripts[0].endswith("leaflet.js")
    loader = html.index('import "gridmap/map/main.js"')
    assert html.index('<script type="importmap">{"imports":{"gridmap/":"/static/maps/js/"}}') < loader
    assert all(html.index(f'src="{s}"') < loader for s in scripts)
    assert html.index('<script type="module">', loader) > html.index("</head>")


def test_attribution_and_synthetic_marking():
    html = render(public_map(_data(), MapContext(settings=MapSettings(basemap="none"))))
    assert "© OpenStreetMap contributors" in html  # an osm: source is on the page
    assert "synthetic" in html and "演示数据" in html
    assert "L.control.scale" in html and "L.control.layers" in html


def test_amap_shifts_every_overlay_to_gcj02():
    wgs = render(public_map(_data(), MapContext(settings=MapSettings(basemap="none"))))
    gcj = render(public_map(_data(), MapContext(settings=MapSettings(basemap="amap"))))
    p0 = _spec(wgs, "15分钟生活圈设施")["data"]["features"][0]["geometry"]["coordinates"]
    p1 = _spec(gcj, "15分钟生活圈设施")["data"]["features"][0]["geometry"]["coordinates"]
    exp = wgs84_to_gcj02(102.19, 38.52)
    assert p0 == [102.19, 38.52]
    assert p1 == pytest.approx([float(exp[0]), float(exp[1])], abs=1e-5)
    assert abs(p1[0] - p0[0]) > 0.001  # a few hundred metres, not nothing
    g0 = _spec(wgs, "网格")["data"]["features"][0]["geometry"]["coordinates"][0][0]
    g1 = _spec(gcj, "网格")["data"]["features"][0]["geometry"]["coordinates"][0][0]
    assert g1[0] - g0[0] == pytest.approx(float(wgs84_to_gcj02(g0[0], g0[1])[0]) - g0[0], abs=1e-5)


def test_unknown_asset_is_refused():
    with pytest.raises(KeyError):
        assets.asset_url("some_cdn_plugin", "/static/vendor")


def test_exported_public_page_embeds_the_boards():
    html = render(public_map(_data(), MapContext(settings=MapSettings(basemap="none"), tile_base=None)))
    assert "0935-1234567" in html and "网格长" in html
