"""An existing GeoReport v2 client (the ``georeport`` package from PyPI) against a live uvicorn server: it finds
the endpoint by discovery, lists services, reads a definition and reads requests, in JSON and XML, with and
without a jurisdiction_id. (The client has no POST; requests are posted with ``requests`` in the spec's form
encoding and with raw ``curl`` bodies, as clients and scripts send them.)"""

from __future__ import annotations

import json
import subprocess

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


def test_a_client_finds_the_endpoint_by_discovery_and_names_the_jurisdiction(root):
    """Discovery names the address the client reached (host and port of this live server), and the client
    library, configured with our jurisdiction_id, reads through it; another jurisdiction is the spec's 404."""
    d = requests.get(f"{root}/discovery.json", timeout=10).json()
    url = d["endpoints"][0]["url"]
    assert url == root
    client = georeport.GeoReport(url, jurisdiction="jc.gov.cn")
    assert len(client.get_service_list()) == 16
    assert client.get_service_definition("sanitation")["service_code"] == "sanitation"
    other = georeport.GeoReport(url, jurisdiction="sfgov.org", output_format="xml")
    with pytest.raises(requests.HTTPError) as caught:
        other.get_service_list()
    assert caught.value.response.status_code == 404
    assert b"jurisdiction_id provided was not found" in caught.value.response.content


CURL_BODIES = {
    # what `curl -d` sends: the bytes as given, Content-Type application/x-www-form-urlencoded, no charset
    "raw": ["--data-binary", "@-"],
    # the same bytes with the charset declared
    "raw-charset": ["--data-binary", "@-", "-H", "Content-Type: application/x-www-form-urlencoded; charset=UTF-8"],
}


@pytest.mark.parametrize("how", [*CURL_BODIES, "urlencode"])
def test_curl_bodies_keep_chinese_text(root, how):
    """Raw curl requests, as a shell script or a hotline system would send them; the description reads back
    exactly through the GeoReport client."""
    text = f"楼道口蜘蛛网线（{how}）"
    common = f"api_key={KEY}&service_code=cable_mess&lat={F.IN_G1[1]}&long={F.IN_G1[0]}"
    if how == "urlencode":
        args = ["-d", common, "--data-urlencode", f"description={text}"]
        stdin = None
    else:
        args = CURL_BODIES[how]
        stdin = f"{common}&description={text}&address_string=金水里3号楼".encode()
    out = subprocess.run(["curl", "-sS", "-X", "POST", *args, f"{root}/requests.json"], input=stdin,
                         capture_output=True, timeout=30, check=True)
    [created] = json.loads(out.stdout)
    one = georeport.GeoReport(root).get_service_request(created["service_request_id"])
    assert one["description"] == text
    if stdin:
        assert one["address"] == "金水里3号楼"
