"""An existing GeoReport v2 client (the ``georeport`` package from PyPI) against a live uvicorn server: it lists
services, reads a definition and reads requests, in JSON and XML. (The client has no POST; requests are posted
with ``requests`` in the spec's form encoding, as a client would.)"""

from __future__ import annotations

import georeport
import pytest
import requests

from api.app import create_app
from api.settings import ApiSettings, Settings
from tests import incident_fixtures as IF
from tests import locate_fixtures as F
from tests.live_server import serve_in_thread

KEY = "client-test-key"


@pytest.fixture(scope="module")
def root(module_db, module_sessionmaker):
    IF.load(module_sessionmaker)
    app = create_app(Settings(api=ApiSettings(environment="test", secret_key=IF.SECRET, public_rate_per_min=0),
                              db=module_db))
    app.state.open311_api_keys = [KEY]
    with serve_in_thread(app) as base:
        yield f"{base}/open311/v2"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_georeport_client_can_use_the_endpoint(root, fmt):
    r = requests.post(f"{root}/requests.{fmt}", data={"api_key": KEY, "service_code": "road_damage",
                                                      "lat": F.IN_G2[1], "long": F.IN_G2[0],
                                                      "description": f"路面坑洞 {fmt}"}, timeout=10)
    assert r.status_code == 200, r.text
    client = georeport.GeoReport(root, output_format=fmt)
    services = client.get_service_list()
    assert len(services) == 16 and {"road_damage", "sanitation"} <= {s["service_code"] for s in services}
    definition = client.get_service_definition("road_damage")
    assert definition["service_code"] == "road_damage"
    reqs = client.get_service_requests(service_code="road_damage", status="open")
    reqs = reqs if isinstance(reqs, list) else [reqs]  # xmltodict gives one request as a dict
    mine = [x for x in reqs if x["description"] == f"路面坑洞 {fmt}"]
    assert len(mine) == 1 and mine[0]["status"] == "open"
    one = client.get_service_request(mine[0]["service_request_id"])
    assert float(one["lat"]) == F.IN_G2[1] and float(one["long"]) == F.IN_G2[0]
    assert one["agency_responsible"] == "金水里二网格（网格）"
    with pytest.raises(requests.HTTPError):
        client.get_service_definition("no_such_service")
