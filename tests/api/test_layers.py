"""Layer read endpoints: GeoJSON FeatureCollections with bbox and limit, on a small hand-made dataset."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app

# A tiny area far from the demo (in Jiuquan, Gansu) so that bbox filters see only these rows.
BOX = (98.50, 39.70, 98.52, 39.72)


@pytest.fixture(scope="module")
def layer_client(app_settings, sessionmaker_):
    with sessionmaker_() as s:
        s.execute(text("DELETE FROM facilities WHERE source = 'test:layers'"))
        for i in range(5):
            s.execute(
                text(
                    "INSERT INTO facilities (type_code, name, geom, source, properties) VALUES "
                    "('clinic', :name, ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'test:layers', '{}')"
                ),
                {"name": f"测试诊所{i}", "x": 98.501 + i * 0.004, "y": 39.705},
            )
        s.commit()
    with TestClient(create_app(app_settings)) as c:
        yield c
    with sessionmaker_() as s:
        s.execute(text("DELETE FROM facilities WHERE source = 'test:layers'"))
        s.commit()


def test_list_of_layers(layer_client):
    names = {lyr["name"] for lyr in layer_client.get("/api/v1/layers").json()["layers"]}
    assert {"areas", "grids", "buildings", "facilities", "streets", "service-circles",
            "street-responsibilities"} <= names


def test_facilities_in_bbox_as_geojson(layer_client):
    r = layer_client.get("/api/v1/layers/facilities", params={"bbox": ",".join(map(str, BOX))})
    assert r.status_code == 200
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert fc["numberMatched"] == 5 and fc["numberReturned"] == 5
    f = fc["features"][0]
    assert f["geometry"]["type"] == "Point"
    assert f["properties"]["name"].startswith("测试诊所")
    assert f["properties"]["source"] == "test:layers"


def test_limit_and_offset_page_through(layer_client):
    bbox = ",".join(map(str, BOX))
    first = layer_client.get("/api/v1/layers/facilities", params={"bbox": bbox, "limit": 2}).json()
    second = layer_client.get("/api/v1/layers/facilities", params={"bbox": bbox, "limit": 2, "offset": 2}).json()
    assert first["numberReturned"] == 2 and first["numberMatched"] == 5
    assert {f["id"] for f in first["features"]}.isdisjoint({f["id"] for f in second["features"]})


def test_bbox_elsewhere_is_empty(layer_client):
    r = layer_client.get("/api/v1/layers/facilities", params={"bbox": "98.6,39.8,98.7,39.9"})
    assert r.json()["numberMatched"] == 0


@pytest.mark.parametrize(
    "bbox,word",
    [("98.5,39.7,98.52", "4"), ("98.52,39.7,98.5,39.72", "min"), ("39.7,98.5,39.72,98.52", "swap"), ("a,b,c,d", "bbox")],
)
def test_bad_bbox_is_a_clear_422(layer_client, bbox, word):
    r = layer_client.get("/api/v1/layers/facilities", params={"bbox": bbox})
    assert r.status_code == 422
    assert word in r.json()["error"]["message"]


def test_bad_limit_is_422(layer_client):
    assert layer_client.get("/api/v1/layers/facilities", params={"limit": 0}).status_code == 422
    assert layer_client.get("/api/v1/layers/facilities", params={"limit": "many"}).status_code == 422


def test_unknown_layer_is_404(layer_client):
    assert layer_client.get("/api/v1/layers/ledgers").status_code == 404


def test_no_layer_exposes_personal_fields(layer_client):
    from layers.features import LAYERS

    private = {"reporter_name", "reporter_phone", "phone", "idempotency_key"}
    for spec in LAYERS.values():
        assert not private & set(spec.columns), spec.name
