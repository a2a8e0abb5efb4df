"""LeanRoute answers exactly as FastAPI's own handler does: the same status, headers and body for plain and for
broken requests; it takes the short way only for routes it fully understands."""

from __future__ import annotations

import json
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.dependencies.utils import _get_param_aliases
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from api import lean_route
from api.lean_route import LeanRoute, plan_for

bearer = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)
key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
strict_bearer = OAuth2PasswordBearer(tokenUrl="/token")  # auto_error: 401 without a token


class Report(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)
    category: str
    lon: float
    lat: float
    description: str | None = None


def _echo(**values) -> Response:
    shown = {k: (v.model_dump() if isinstance(v, BaseModel) else v) for k, v in values.items() if k != "request"}
    return Response(json.dumps(shown, sort_keys=True), status_code=201, headers={"X-Echo": "1"},
                    media_type="application/json")


def _app(route_class) -> FastAPI:
    router = APIRouter(prefix="/v1", route_class=route_class or APIRoute)

    @router.get("/locate", response_class=Response)
    async def locate(request: Request, lon: Annotated[float, Query()], lat: Annotated[float, Query()],
                     crs: str = "wgs84", accuracy_m: float | None = None,
                     plan_id: Annotated[int | None, Query(ge=1)] = None) -> Response:
        assert request.url.path == "/v1/locate"
        return _echo(lon=lon, lat=lat, crs=crs, accuracy_m=accuracy_m, plan_id=plan_id)

    @router.post("/reports", status_code=201)
    async def report(request: Request, body: Report, token: Annotated[str | None, Depends(bearer)],
                     api_key: Annotated[str | None, Depends(key_header)] = None,
                     idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> Response:
        return _echo(body=body, token=token, api_key=api_key, idempotency_key=idempotency_key)

    @router.get("/strict")
    async def strict(token: Annotated[str, Depends(strict_bearer)]) -> Response:
        return _echo(token=token)

    app = FastAPI()
    app.include_router(router)
    return app


GOOD = {"category": "sanitation", "lon": 102.1855, "lat": 38.5015, "description": "测试"}
REQUESTS = [
    ("GET", "/v1/locate?lon=102.1855&lat=38.5015", {}, None),
    ("GET", "/v1/locate?lon=102.1855&lat=38.5015&crs=gcj02&accuracy_m=30&plan_id=2", {}, None),
    ("GET", "/v1/locate?lon=1&lon=2&lat=3", {}, None),  # the last of repeated keys
    ("GET", "/v1/locate?lon=abc&lat=38.5", {}, None),
    ("GET", "/v1/locate?lat=38.5", {}, None),
    ("GET", "/v1/locate?lon=nan&lat=38.5", {}, None),
    ("GET", "/v1/locate?lon=1&lat=2&plan_id=0", {}, None),
    ("GET", "/v1/locate?lon=1&lat=2&accuracy_m=", {}, None),
    ("GET", "/v1/locate?lon=%20+1.5%20&lat=2", {}, None),
    ("POST", "/v1/locate?lon=1&lat=2", {}, None),
    ("POST", "/v1/reports", {"content-type": "application/json"}, json.dumps(GOOD)),
    ("POST", "/v1/reports", {"content-type": "application/json", "authorization": "Bearer abc",
                             "x-api-key": "k1", "idempotency-key": "r-1"}, json.dumps(GOOD)),
    ("POST", "/v1/reports", {"content-type": "application/json", "authorization": "Basic abc"}, json.dumps(GOOD)),
    ("POST", "/v1/reports", {"content-type": "application/json"}, json.dumps({**GOOD, "lon": "x"})),
    ("POST", "/v1/reports", {"content-type": "application/json"}, json.dumps({"lon": 1})),
    ("POST", "/v1/reports", {"content-type": "application/json"}, '{"category": "a", "lon": NaN, "lat": 1}'),
    ("POST", "/v1/reports", {"content-type": "application/json"}, "{not json"),
    ("POST", "/v1/reports", {"content-type": "application/json"}, "[" * 5000 + "]" * 5000),
    ("POST", "/v1/reports", {"content-type": "application/json"}, "[1, 2]"),
    ("POST", "/v1/reports", {"content-type": "application/json"}, ""),
    ("POST", "/v1/reports", {"content-type": "application/json"}, b"\xff\xfe{}"),
    ("POST", "/v1/reports", {"content-type": "application/json; charset=utf-8"}, json.dumps(GOOD)),
    ("POST", "/v1/reports", {"content-type": "application/merge-patch+json"}, json.dumps(GOOD)),
    ("POST", "/v1/reports", {"content-type": "text/plain"}, json.dumps(GOOD)),
    ("POST", "/v1/reports", {}, json.dumps(GOOD)),
    ("GET", "/v1/strict", {}, None),
    ("GET", "/v1/strict", {"authorization": "Bearer t"}, None),
]


@pytest.fixture(scope="module")
def clients():
    with TestClient(_app(LeanRoute), raise_server_exceptions=False) as lean, \
            TestClient(_app(None), raise_server_exceptions=False) as plain:
        yield lean, plain


@pytest.mark.parametrize(("method", "url", "headers", "body"), REQUESTS)
def test_same_answer_as_fastapi(clients, method, url, headers, body):
    lean, plain = clients
    got = lean.request(method, url, headers=headers, content=body)
    want = plain.request(method, url, headers=headers, content=body)
    assert (got.status_code, got.headers.items(), got.content) == (want.status_code, want.headers.items(),
                                                                    want.content)


def test_short_way_is_taken_for_plain_requests(clients, monkeypatch):
    """A plain request never reaches FastAPI's parameter walk."""
    import fastapi.routing

    def refuse(*args, **kwargs):
        raise AssertionError("solve_dependencies called")

    lean, plain = clients
    monkeypatch.setattr(fastapi.routing, "solve_dependencies", refuse)
    assert lean.get("/v1/locate?lon=1&lat=2").status_code == 201
    assert lean.post("/v1/reports", json=GOOD, headers={"authorization": "Bearer x"}).status_code == 201
    assert lean.get("/v1/locate?lon=x&lat=2").status_code == 500  # not plain: FastAPI's walk (refused here)


def test_dependency_overrides_are_honoured():
    app = _app(LeanRoute)
    app.dependency_overrides[bearer] = lambda: "overridden"
    with TestClient(app) as client:
        answer = client.post("/v1/reports", json=GOOD)
    assert answer.json()["token"] == "overridden"


def test_plans_only_for_what_it_understands():
    router = APIRouter(route_class=LeanRoute)

    def dep() -> int:
        return 1

    @router.get("/sync")
    def sync_endpoint(x: int) -> Response:
        return Response()

    @router.get("/dict")
    async def dict_endpoint(x: int) -> dict:
        return {}

    @router.get("/dep")
    async def dep_endpoint(x: Annotated[int, Depends(dep)]) -> Response:
        return Response()

    @router.get("/list")
    async def list_endpoint(x: Annotated[list[int], Query()]) -> Response:
        return Response()

    @router.get("/path/{x}")
    async def path_endpoint(x: int) -> Response:
        return Response()

    @router.get("/ok")
    async def ok_endpoint(x: int, y: str | None = None) -> Response:
        return Response()

    planned = {route.path: plan_for(route) is not None for route in router.routes}
    assert planned == {"/sync": False, "/dict": False, "/dep": False, "/list": False, "/path/{x}": False,
                       "/ok": True}


def test_the_busiest_routes_are_planned_with_fastapis_keys():
    """GET /api/v1/locate and POST /api/v1/incidents take the short way, reading each parameter under the key
    FastAPI itself reads it by."""
    from api.routes import incidents, locate

    for router, name in ((locate.router, "locate_point"), (incidents.router, "report_incident")):
        route = next(r for r in router.routes if r.name == name)
        plan = plan_for(route)
        assert plan is not None, name
        for param in plan.params:
            assert [(param.key, param.key)] == _get_param_aliases(param.field)
    assert lean_route.SCALARS  # the whitelist of parameter types is not empty
