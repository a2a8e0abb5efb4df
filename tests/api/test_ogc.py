"""OGC API – Features: the endpoints, and GDAL's OAPIF driver reading them from a live uvicorn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyogrio
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings, Settings
from tests.layers.plan_db_fixtures import plan_database
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ogc_settings():
    with plan_database(publish=True) as (db, world):
        yield Settings(api=ApiSettings(environment="test"), db=db), world


def test_endpoints_follow_the_standard(ogc_settings):
    settings, world = ogc_settings
    with TestClient(create_app(settings)) as c:
        landing = c.get("/ogc").json()
        rels = {link["rel"] for link in landing["links"]}
        assert {"self", "service-desc", "conformance", "data"} <= rels
        assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in c.get(
            "/ogc/conformance").json()["conformsTo"]
        cols = {x["id"]: x for x in c.get("/ogc/collections").json()["collections"]}
        assert {"grids", "buildings", "facilities", "areas"} <= set(cols)
        assert cols["grids"]["extent"]["spatial"]["bbox"][0][0] == pytest.approx(102.18, abs=0.01)
        r = c.get("/ogc/collections/grids/items", params={"limit": 5})
        assert r.headers["content-type"].startswith("application/geo+json")
        page = r.json()
        assert page["numberMatched"] == 12 and page["numberReturned"] == 5
        nxt = next(link for link in page["links"] if link["rel"] == "next")["href"]
        assert "offset=5" in nxt
        fid = page["features"][0]["id"]
        one = c.get(f"/ogc/collections/grids/items/{fid}").json()
        assert one["id"] == fid and one["properties"]["code"] == page["features"][0]["properties"]["code"]
        assert c.get("/ogc/collections/nope/items").status_code == 404
        assert c.get("/ogc/collections/grids/items/999999").status_code == 404
        far = c.get("/ogc/collections/grids/items", params={"bbox": "100,30,100.1,30.1"}).json()
        assert far["numberMatched"] == 0


def test_gdal_oapif_driver_reads_every_layer(ogc_settings):
    # The server runs in its own process: pyogrio holds the GIL while GDAL reads, so a server thread in this
    # process could never answer.
    settings, world = ogc_settings
    port = free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": settings.db.url, "GRIDMAP_ENVIRONMENT": "test"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.1)
        pyogrio.set_gdal_config_options({"GDAL_HTTP_TIMEOUT": "30"})
        url = f"OAPIF:http://127.0.0.1:{port}/ogc"
        layers = {name for name, _ in pyogrio.list_layers(url)}
        assert {"grids", "buildings", "facilities"} <= layers
        grids = pyogrio.read_dataframe(url, layer="grids")
        assert len(grids) == 12 and grids.crs.to_epsg() == 4326
        assert set(grids["code"]) == set(world["plan"]["codes"])
        buildings = pyogrio.read_dataframe(url, layer="buildings")
        assert len(buildings) == len(world["buildings"])
        assert buildings["households"].sum() == sum(b.households for b in world["buildings"])
    finally:
        server.terminate()
        server.wait(timeout=10)
