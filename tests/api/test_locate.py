"""GET /api/v1/locate and POST /api/v1/locate/batch on the hand-made plan, through the app's lifespan."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings, Settings
from gis.coords import wgs84_to_gcj02
from tests import locate_fixtures as F

locate_db = F.locate_db  # the fixture, from the shared module


@pytest.fixture(scope="module")
def client(locate_db):
    settings = Settings(api=ApiSettings(environment="test", max_batch_points=1000, max_body_bytes=200_000),
                        db=locate_db["settings"])
    with TestClient(create_app(settings)) as c:
        yield c


def test_locate_point(client):
    r = client.get("/api/v1/locate", params={"lon": F.ON_SHARED_BORDER[0], "lat": F.ON_SHARED_BORDER[1]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grid"]["code"] == F.G1
    assert body["assignment"]["on_boundary"] is True
    assert body["assignment"]["tied_codes"] == [F.G1, F.G2]
    assert body["plan"]["generation"] == 1
    assert body["responsible"]["people"][0]["public_phone"] == "0935-8000001"
    assert "13900000001" not in r.text


def test_locate_gcj02_with_accuracy(client):
    glon, glat = wgs84_to_gcj02(*F.IN_G2)
    r = client.get("/api/v1/locate", params={"lon": float(glon), "lat": float(glat), "crs": "gcj02",
                                             "accuracy_m": 600})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["input"]["crs"] == "gcj02" and body["grid"]["code"] == F.G2
    assert {c["code"] for c in body["assignment"]["candidates"]} >= {F.G1, F.G2}


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"lon": 38.5015, "lat": 102.1855}, "写反"),
        ({"lon": 102.1855, "lat": 95.0}, "超出范围"),
        ({"lon": 102.1855, "lat": 38.5, "crs": "epsg:3857"}, "未知坐标系"),
        ({"lon": 102.1855, "lat": 38.5, "accuracy_m": 0}, "accuracy_m"),
        ({"lon": "east", "lat": 38.5}, "lon"),
    ],
)
def test_locate_refuses_bad_input(client, params, needle):
    r = client.get("/api/v1/locate", params=params)
    assert r.status_code == 422
    assert needle in r.json()["error"]["message"]


def test_batch_geojson_agrees_with_single_calls(client):
    names = ["IN_G1", "ON_SHARED_BORDER", "IN_EXCL", "ON_STREET", "IN_HOLE", "NEAR_G1", "FAR", "IN_G3_SECOND_PART"]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(getattr(F, n))},
         "properties": {"name": n}} for n in names]}
    r = client.post("/api/v1/locate/batch", json=fc)
    assert r.status_code == 200, r.text
    feats = r.json()["features"]
    assert [f["properties"]["name"] for f in feats] == names
    for f in feats:
        one = client.get("/api/v1/locate", params=dict(zip(("lon", "lat"), getattr(F, f["properties"]["name"]),
                                                           strict=True))).json()
        assert f["properties"]["method"] == one["assignment"]["method"]
        assert f["properties"]["grid_code"] == (one["grid"] or {}).get("code")
        assert f["properties"]["on_boundary"] == one["assignment"]["on_boundary"]


def test_batch_csv_with_per_row_crs(client):
    glon, glat = wgs84_to_gcj02(*F.IN_G2)
    text = f"id,lon,lat,crs\na,{F.IN_G1[0]},{F.IN_G1[1]},wgs84\nb,{float(glon)!r},{float(glat)!r},gcj02\n"
    r = client.post("/api/v1/locate/batch", content=text, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["id"], x["grid_code"], x["input_crs"]) for x in rows] == [("a", F.G1, "wgs84"), ("b", F.G2, "gcj02")]
    r = client.post("/api/v1/locate/batch", content=text, headers={"content-type": "text/csv",
                                                                   "accept": "application/geo+json"})
    assert r.json()["features"][1]["properties"]["grid_code"] == F.G2


@pytest.mark.parametrize(
    ("body", "ctype", "status", "needle"),
    [
        ("x,y\n1,2\n", "text/csv", 422, "不在"),
        ("a,b\n1,2\n", "text/csv", 422, "lon"),
        ("lon,lat\n102.18,abc\n", "text/csv", 422, "非数字"),
        ("lon,lat\n38.5015,102.1855\n", "text/csv", 422, "写反"),
        ('{"type": "Feature"}', "application/json", 422, "FeatureCollection"),
        ('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "LineString", '
         '"coordinates": [[1, 2], [3, 4]]}}]}', "application/geo+json", 422, "不是点"),
        ("not json", "application/json", 422, "JSON"),
        ("lon,lat\n" + "102.18,38.5\n" * 1001, "text/csv", 413, "1000"),
        ("lon,lat\n" + "102.18,38.5\n" * 20000, "text/csv", 413, "字节"),
    ],
)
def test_batch_refuses_bad_bodies(client, body, ctype, status, needle):
    r = client.post("/api/v1/locate/batch", content=body, headers={"content-type": ctype})
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"]
