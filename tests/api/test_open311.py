"""Open311 GeoReport v2 at /open311/v2/ on the hand-made plan: discovery, services, POST/GET requests, tokens,
JSON and XML, the spec's errors, no personal data."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.settings import ApiSettings, Settings
from layers import models as m
from tests import incident_fixtures as IF
from tests import locate_fixtures as F
from tests.accounts_fixtures import accounts_in

KEY = "open311-test-key"
BASE = "/open311/v2"
W3C_SHANGHAI = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00")
DISPATCH = IF.auth("dispatcher")
HOTLINE = IF.token("system", sub="12345热线")


@pytest.fixture(scope="module")
def client(module_db, module_sessionmaker):
    IF.load(module_sessionmaker)
    settings = Settings(api=ApiSettings(environment="test", secret_key=IF.SECRET, public_rate_per_min=0), db=module_db)
    app = create_app(settings)
    app.state.open311_api_keys = [KEY]
    with accounts_in(module_sessionmaker), TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def count(module_sessionmaker):
    def n() -> int:
        with module_sessionmaker() as s:
            return s.scalar(select(func.count()).select_from(m.Incident))
    return n


def form(pt, code="sanitation", **kw):
    return {"api_key": KEY, "service_code": code, "lat": str(pt[1]), "long": str(pt[0]), **kw}


def test_discovery_and_services(client):
    d = client.get(f"{BASE}/discovery.json").json()
    assert d["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert d["endpoints"][0]["formats"] == ["application/json", "text/xml"]
    x = ET.fromstring(client.get(f"{BASE}/discovery.xml").content)
    assert x.tag == "discovery" and x.find("endpoints/endpoint/formats/format").text == "application/json"
    r = client.get(f"{BASE}/services.json")
    assert r.headers["content-type"].startswith("application/json")
    services = {s["service_code"]: s for s in r.json()}
    assert len(services) == 16
    s = services["sanitation"]
    assert (s["service_name"], s["metadata"], s["type"], s["group"]) == ("环境卫生 (sanitation)", False, "realtime",
                                                                          "市容环境")
    r = client.get(f"{BASE}/services.xml")
    assert r.headers["content-type"].startswith("text/xml") and r.content.startswith(b'<?xml version="1.0"')
    root = ET.fromstring(r.content)
    assert root.tag == "services" and len(root.findall("service")) == 16
    assert root.find("service/service_code").text == "sanitation"
    assert client.get(f"{BASE}/services/dispute.json").json() == {"service_code": "dispute", "attributes": []}
    r = client.get(f"{BASE}/services/nope.json")
    assert r.status_code == 404 and r.json()[0]["code"] == 404


def test_post_request_form_encoded_then_get_it(client, count):
    before = count()
    r = client.post(f"{BASE}/requests.json", data=form(F.IN_G1, description="垃圾桶满溢", first_name="明",
                                                       last_name="王", phone="13500000000", email="w@example.cn",
                                                       address_string="金水里 3 号楼"))
    assert r.status_code == 200, r.text
    [created] = r.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    assert "金水里一网格" in created["service_notice"]
    assert count() == before + 1
    rid = created["service_request_id"]
    [req] = client.get(f"{BASE}/requests/{rid}.json").json()
    assert (req["service_request_id"], req["status"], req["service_code"]) == (rid, "open", "sanitation")
    assert req["status_notes"].startswith("上报（网格层级处置）")
    assert (req["lat"], req["long"]) == (F.IN_G1[1], F.IN_G1[0])
    assert req["agency_responsible"] == "金水里一网格（网格）" and req["address"] == "金水里 3 号楼"
    assert req["description"] == "垃圾桶满溢"
    requested = dt.datetime.fromisoformat(req["requested_datetime"].replace("Z", "+00:00"))
    expected = dt.datetime.fromisoformat(req["expected_datetime"].replace("Z", "+00:00"))
    assert expected - requested == dt.timedelta(hours=24)
    whole = client.get(f"{BASE}/requests/{rid}.json").text
    for private in ("13500000000", "w@example.cn", "王 明", "明"):
        assert private not in whole
    # XML, one request
    root = ET.fromstring(client.get(f"{BASE}/requests/{rid}.xml").content)
    assert root.tag == "service_requests" and root.find("request/service_request_id").text == rid
    assert root.find("request/status").text == "open"
    # the token of the request resolves to its id
    tok = client.get(f"/api/v1/incidents/{rid}", headers=DISPATCH).json()["token"]
    assert client.get(f"{BASE}/tokens/{tok}.json").json() == [{"service_request_id": rid, "token": tok}]
    assert client.get(f"{BASE}/tokens/unknown.json").status_code == 404


def test_post_with_signed_token_json_body_and_crs_extension(client):
    from gis.coords import from_wgs84

    glon, glat = (float(v) for v in from_wgs84(*F.IN_G2, "gcj02"))
    key = HOTLINE
    r = client.post(f"{BASE}/requests.json", json={"api_key": key, "service_code": "market", "lat": glat,
                                                   "long": glon, "crs": "gcj02"})
    assert r.status_code == 200, r.text
    rid = r.json()[0]["service_request_id"]
    staff = client.get(f"/api/v1/incidents/{rid}", headers=DISPATCH).json()
    assert staff["grid"]["code"] == F.G2 and staff["original"]["crs"] == "gcj02" and staff["channel"] == "open311"
    ev = client.get(f"/api/v1/incidents/{rid}/events", headers=DISPATCH).json()
    assert ev[0]["actor"] == "open311:12345热线"


@pytest.mark.parametrize(("data", "status", "needle"), [
    ({"api_key": ""}, 403, "api_key"),
    ({"api_key": "wrong"}, 403, "api_key"),
    ({"api_key": IF.token("grid_staff")}, 403, "api_key"),
    ({"service_code": "ufo"}, 404, "ufo"),
    ({"lat": ""}, 400, "lat"),
    ({"lat": "38.5015", "long": "north"}, 400, "lat"),
    ({"lat": "102.1855", "long": "38.5015"}, 400, "写反"),
    ({"crs": "mars"}, 400, "未知坐标系"),
])
def test_post_errors_in_the_spec_form(client, count, data, status, needle):
    before = count()
    r = client.post(f"{BASE}/requests.json", data={**form(F.IN_G1), **data})
    assert r.status_code == status, r.text
    [err] = r.json()
    assert err["code"] == status and needle in err["description"]
    assert count() == before
    x = client.post(f"{BASE}/requests.xml", data={**form(F.IN_G1), **data})
    root = ET.fromstring(x.content)
    assert root.tag == "errors" and root.find("error/code").text == str(status)


def test_sensitive_requests_are_snapped_and_hidden(client):
    r = client.post(f"{BASE}/requests.json", data=form(F.IN_G2, "dispute", description="邻居漏水纠纷",
                                                       address_string="金水里 5 号楼 2 单元"))
    rid = r.json()[0]["service_request_id"]
    [req] = client.get(f"{BASE}/requests/{rid}.json").json()
    assert (req["long"], req["lat"]) == (102.195, 38.5025)  # G2's centroid, not the point
    assert req["description"] is None and req["address"] is None
    assert "邻居漏水" not in client.get(f"{BASE}/requests.json").text


def test_get_requests_filters(client, module_sessionmaker):
    client.post(f"{BASE}/requests.json", data=form(F.IN_COMMUNITY_B, "traffic"))
    rid = client.post(f"{BASE}/requests.json", data=form(F.IN_G3_SECOND_PART, "road_damage")).json()[0][
        "service_request_id"]
    with module_sessionmaker() as s:  # an old one, outside the default 90 days
        s.execute(m.Incident.__table__.update().where(m.Incident.id == int(rid)).values(
            created_at=dt.datetime(2025, 1, 10, tzinfo=dt.timezone.utc)))
        s.commit()
    every = client.get(f"{BASE}/requests.json").json()
    assert rid not in [x["service_request_id"] for x in every]
    codes = {x["service_code"] for x in client.get(f"{BASE}/requests.json", params={"service_code": "traffic"}).json()}
    assert codes == {"traffic"}
    old = client.get(f"{BASE}/requests.json", params={"start_date": "2025-01-01T00:00:00Z",
                                                      "end_date": "2025-02-01T00:00:00Z"}).json()
    assert [x["service_request_id"] for x in old] == [rid]
    by_id = client.get(f"{BASE}/requests.json", params={"service_request_id": f"{rid},999999"}).json()
    assert [x["service_request_id"] for x in by_id] == [rid]
    assert client.get(f"{BASE}/requests.json", params={"status": "closed"}).json() == []
    assert len(client.get(f"{BASE}/requests.json", params={"status": "open"}).json()) == len(every)
    bad = client.get(f"{BASE}/requests.json", params={"status": "pending"})
    assert bad.status_code == 400 and bad.json()[0]["code"] == 400
    bad = client.get(f"{BASE}/requests.json", params={"start_date": "yesterday"})
    assert bad.status_code == 400
    bad = client.get(f"{BASE}/requests.json", params={"start_date": "2025-01-01T00:00:00Z",
                                                      "end_date": "2025-06-01T00:00:00Z"})
    assert bad.status_code == 400 and "90" in bad.json()[0]["description"]
    only_start = client.get(f"{BASE}/requests.json", params={"start_date": "2025-01-01T00:00:00+08:00"}).json()
    assert [x["service_request_id"] for x in only_start] == [rid]
    assert client.get(f"{BASE}/requests/424242.json").status_code == 404
    assert client.get(f"{BASE}/requests.csv").status_code == 404


def test_closed_request_maps_to_closed_with_notes(client):
    rid = client.post(f"{BASE}/requests.json", data=form(F.IN_EXCL, "advertising")).json()[0]["service_request_id"]
    h = DISPATCH
    for action in ("register", "dispatch", "handle", "feedback", "verify", "close"):
        body = {"action": action}
        r = client.post(f"/api/v1/incidents/{rid}/transitions", json=body, headers=h)
        assert r.status_code == 200, (action, r.text)
    [req] = client.get(f"{BASE}/requests/{rid}.json").json()
    assert req["status"] == "closed" and req["status_notes"].startswith("结案")
    closed = [x["service_request_id"] for x in client.get(f"{BASE}/requests.json", params={"status": "closed"}).json()]
    assert closed == [rid]


def test_idempotency_key_on_open311_post(client, count):
    before = count()
    h = {"Idempotency-Key": "o311-retry-1"}
    a = client.post(f"{BASE}/requests.json", data=form(F.IN_G1, "cable_mess"), headers=h)
    b = client.post(f"{BASE}/requests.json", data=form(F.IN_G1, "cable_mess"), headers=h)
    assert a.json() == b.json() and count() == before + 1


def test_post_with_an_account_api_key(client, module_sessionmaker):
    from layers.accounts import create_api_key, create_user

    with module_sessionmaker() as s:
        create_user(s, "hotline12345", "a-long-password-1", roles=["system"])
        create_user(s, "partymember01", "a-long-password-2", roles=["party_member"], scope=F.G1)
        key = create_api_key(s, "hotline12345", "open311")
        weak = create_api_key(s, "partymember01", "phone")
        s.commit()
    r = client.post(f"{BASE}/requests.json", data={**form(F.IN_G1), "api_key": key})
    assert r.status_code == 200, r.text
    rid = r.json()[0]["service_request_id"]
    ev = client.get(f"/api/v1/incidents/{rid}/events", headers=DISPATCH).json()
    assert ev[0]["actor"] == "open311:hotline12345"
    r = client.post(f"{BASE}/requests.json", data={**form(F.IN_G1), "api_key": weak})
    assert r.status_code == 403 and r.json()[0]["code"] == 403


def test_a_json_body_that_is_not_an_object_is_400(client):
    r = client.post(f"{BASE}/requests.json", json=[1, 2])
    assert r.status_code == 400 and r.json()[0]["code"] == 400


# ---------------------------------------------------------------------------------- real clients' bodies
RAW = "楼道口蜘蛛网线"
FORM = "application/x-www-form-urlencoded"


def _description(client, rid) -> str:
    return client.get(f"{BASE}/requests/{rid}.json").json()[0]["description"]


def _raw_body(text: str, code="cable_mess", encoding="utf-8") -> bytes:
    return (f"api_key={KEY}&service_code={code}&lat={F.IN_G1[1]}&long={F.IN_G1[0]}&description=".encode()
            + text.encode(encoding))


@pytest.mark.parametrize("ctype", [FORM, f"{FORM}; charset=utf-8", f"{FORM}; charset=UTF-8", f'{FORM};charset="utf-8"'])
def test_raw_utf8_form_bodies_are_stored_as_sent(client, ctype):
    """Many clients put raw UTF-8 in a form body, with or without a charset: it is text, not Latin-1."""
    r = client.post(f"{BASE}/requests.json", content=_raw_body(RAW + ctype[-5:]), headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text
    assert _description(client, r.json()[0]["service_request_id"]) == RAW + ctype[-5:]


def test_percent_encoded_and_declared_gbk_bodies(client):
    r = client.post(f"{BASE}/requests.json", data=form(F.IN_G1, "cable_mess", description=RAW + "%"))
    assert _description(client, r.json()[0]["service_request_id"]) == RAW + "%"
    r = client.post(f"{BASE}/requests.json", content=_raw_body(RAW + "gbk", encoding="gbk"),
                    headers={"Content-Type": f"{FORM}; charset=gbk"})
    assert r.status_code == 200, r.text
    assert _description(client, r.json()[0]["service_request_id"]) == RAW + "gbk"


@pytest.mark.parametrize(("body", "ctype", "needle"), [
    (_raw_body(RAW, encoding="gbk"), FORM, "UTF-8"),  # GBK bytes sent without saying so
    (_raw_body("%E6%A5"), FORM, "UTF-8"),  # a cut percent-escaped character
    (_raw_body(RAW), f"{FORM}; charset=klingon", "字符集"),
    (b"{not json", "application/json", "JSON"),
])
def test_bodies_that_are_not_text_are_400_and_store_nothing(client, count, body, ctype, needle):
    before = count()
    r = client.post(f"{BASE}/requests.json", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 400, r.text
    [err] = r.json()
    assert err["code"] == 400 and needle in err["description"]
    assert count() == before


# ---------------------------------------------------------------------------------- discovery, times
def test_discovery_names_the_address_the_request_came_to(client):
    assert client.get(f"{BASE}/discovery.json").json()["endpoints"][0]["url"] == "http://testserver/open311/v2"
    r = client.get(f"{BASE}/discovery.xml", headers={"Host": "grid.example.cn:8443"})
    assert ET.fromstring(r.content).find("endpoints/endpoint/url").text == "http://grid.example.cn:8443/open311/v2"


def test_discovery_uses_the_configured_public_url(module_db):
    settings = Settings(api=ApiSettings(environment="test", secret_key=IF.SECRET, public_rate_per_min=0,
                                        public_base_url="https://grid.jc.gov.cn/gridmap/"), db=module_db)
    with TestClient(create_app(settings)) as c:
        url = c.get(f"{BASE}/discovery.json").json()["endpoints"][0]["url"]
    assert url == "https://grid.jc.gov.cn/gridmap/open311/v2"


def test_times_are_in_the_configured_zone_in_whole_seconds(client):
    r = client.post(f"{BASE}/requests.json", data=form(F.IN_G2, "road_damage"))
    notice, rid = r.json()[0]["service_notice"], r.json()[0]["service_request_id"]
    [req] = client.get(f"{BASE}/requests/{rid}.json").json()
    for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert W3C_SHANGHAI.fullmatch(req[key]), req[key]
    due = dt.datetime.fromisoformat(req["expected_datetime"])
    assert f"时限 {due:%Y-%m-%d %H:%M}" in notice and f"due {req['expected_datetime']}" in notice
    assert "." not in notice.split("时限")[1]  # no microseconds anywhere in the deadline


def test_a_start_date_without_an_offset_is_read_in_the_configured_zone(client, module_sessionmaker):
    rid = client.post(f"{BASE}/requests.json", data=form(F.IN_G2, "traffic")).json()[0]["service_request_id"]
    with module_sessionmaker() as s:  # reported at 2025-03-01 00:30 Beijing time = 2025-02-28 16:30 UTC
        s.execute(m.Incident.__table__.update().where(m.Incident.id == int(rid)).values(
            created_at=dt.datetime(2025, 2, 28, 16, 30, tzinfo=dt.timezone.utc)))
        s.commit()
    local = client.get(f"{BASE}/requests.json", params={"start_date": "2025-03-01T00:00:00",
                                                        "end_date": "2025-03-02T00:00:00"}).json()
    assert [x["service_request_id"] for x in local] == [rid]
    assert local[0]["requested_datetime"] == "2025-03-01T00:30:00+08:00"


# ---------------------------------------------------------------------------------- jurisdiction_id
JURISDICTION = "jc.gov.cn"
GETS = ["services.{f}", "services/sanitation.{f}", "requests.{f}", "requests/1.{f}", "tokens/unknown.{f}"]


@pytest.mark.parametrize("path", GETS)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_jurisdiction_id_is_optional_and_checked_on_every_read(client, path, fmt):
    url = f"{BASE}/{path.format(f=fmt)}"
    plain = client.get(url)
    for same in (JURISDICTION, "JC.GOV.CN", ""):
        assert client.get(url, params={"jurisdiction_id": same}).status_code == plain.status_code
    r = client.get(url, params={"jurisdiction_id": "sfgov.org"})
    assert r.status_code == 404
    text = r.json()[0]["description"] if fmt == "json" else ET.fromstring(r.content).find("error/description").text
    assert "jurisdiction_id provided was not found" in text and JURISDICTION in text


def test_jurisdiction_id_on_post(client, count):
    before = count()
    r = client.post(f"{BASE}/requests.json", data=form(F.IN_G1, jurisdiction_id="sfgov.org"))
    assert r.status_code == 404 and "jurisdiction_id" in r.json()[0]["description"] and count() == before
    r = client.post(f"{BASE}/requests.json", data=form(F.IN_G1, jurisdiction_id=JURISDICTION))
    assert r.status_code == 200 and count() == before + 1
